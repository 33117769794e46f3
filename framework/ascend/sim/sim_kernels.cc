// Compiles the real kernel entry files (op_kernel/*.cpp) against the host
// stand-in of the Ascend C API, once per dtype, as the CANN build does with
// DTYPE_Y. The entries are renamed per dtype so all six live in one library.
#include "sim_kernels.h"

#include "kernel_operator.h"

#define DTYPE_Y half
#define mse_loss_grad lgsim_mse_loss_grad_float16
#define l1_loss_grad lgsim_l1_loss_grad_float16
#include "../op_kernel/l1_loss_grad.cpp"
#include "../op_kernel/mse_loss_grad.cpp"
#undef mse_loss_grad
#undef l1_loss_grad
#undef DTYPE_Y

#define DTYPE_Y bfloat16_t
#define mse_loss_grad lgsim_mse_loss_grad_bfloat16
#define l1_loss_grad lgsim_l1_loss_grad_bfloat16
#include "../op_kernel/l1_loss_grad.cpp"
#include "../op_kernel/mse_loss_grad.cpp"
#undef mse_loss_grad
#undef l1_loss_grad
#undef DTYPE_Y

#define DTYPE_Y float
#define mse_loss_grad lgsim_mse_loss_grad_float32
#define l1_loss_grad lgsim_l1_loss_grad_float32
#include "../op_kernel/l1_loss_grad.cpp"
#include "../op_kernel/mse_loss_grad.cpp"
#undef mse_loss_grad
#undef l1_loss_grad
#undef DTYPE_Y

namespace lgsim {

KernelEntry GetKernel(int op, int dtype)
{
  static const KernelEntry table[2][3] = {
      {lgsim_mse_loss_grad_float16, lgsim_mse_loss_grad_bfloat16, lgsim_mse_loss_grad_float32},
      {lgsim_l1_loss_grad_float16, lgsim_l1_loss_grad_bfloat16, lgsim_l1_loss_grad_float32},
  };
  if (op < 0 || op > 1 || dtype < 0 || dtype > 2) {
    return nullptr;
  }
  return table[op][dtype];
}

}  // namespace lgsim
