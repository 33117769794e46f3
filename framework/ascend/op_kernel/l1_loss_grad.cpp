// Kernel entry of the L1LossGrad op type: y = grads * sign(predict - label) * s.
// Note the CANN input order: the incoming gradient comes first. DTYPE_Y is the
// output's C++ type, set by the CANN build per supported dtype.
#include "kernel_operator.h"
#include "lossgrad_kernel.h"
#include "families/l1_loss.h"

extern "C" __global__ __aicore__ void l1_loss_grad(GM_ADDR grads, GM_ADDR predict, GM_ADDR label, GM_ADDR y,
                                                   GM_ADDR workspace, GM_ADDR tiling)
{
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);  // a pure vector kernel: one block per AIV core
  GET_TILING_DATA(tilingData, tiling);
  lossgrad_kernel::LossGradKernel<DTYPE_Y, lossgrad_kernel::L1LossFamily> op;
  op.Init(grads, predict, label, y, workspace, tilingData);
  op.Process();
}
