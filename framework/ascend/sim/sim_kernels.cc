// Compiles the real kernel entry files (op_kernel/<kernel>.cpp) against the host
// stand-in of the Ascend C API, once per dtype, as the CANN build does with
// DTYPE_Y. The entries are renamed per dtype so all of them live in one library.
// The list is generated at build time from the op declarations
// (framework/_codegen.py --ascend-sim-kernels, into the CMake build directory).
#include "sim_kernels.h"

#include "kernel_operator.h"

#include "lossgrad_ascend_sim_kernels.inc"

namespace lgsim {

KernelEntry GetKernel(int op, int dtype)
{
  constexpr int kOps = static_cast<int>(sizeof(kSimKernels) / sizeof(kSimKernels[0]));
  constexpr int kDTypes = static_cast<int>(sizeof(kSimKernels[0]) / sizeof(kSimKernels[0][0]));
  if (op < 0 || op >= kOps || dtype < 0 || dtype >= kDTypes) {
    return nullptr;
  }
  return kSimKernels[op][dtype];
}

}  // namespace lgsim
