// Kernel entry of the SmoothL1LossGrad op type: y = dout * g(predict - label) * s with
// g(d) = d / beta inside |d| < beta, sign(d) outside (beta from the tiling data).
// DTYPE_Y is the output's C++ type, set by the CANN build per supported dtype.
#include "kernel_operator.h"
#include "lossgrad_kernel.h"
#include "families/smooth_l1_loss.h"

extern "C" __global__ __aicore__ void smooth_l1_loss_grad(GM_ADDR predict, GM_ADDR label, GM_ADDR dout, GM_ADDR y,
                                                          GM_ADDR workspace, GM_ADDR tiling)
{
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);  // a pure vector kernel: one block per AIV core
  GET_TILING_DATA(tilingData, tiling);
  lossgrad_kernel::LossGradKernel<DTYPE_Y, lossgrad_kernel::SmoothL1LossFamily> op;
  op.Init(predict, label, dout, y, workspace, tilingData);
  op.Process();
}
