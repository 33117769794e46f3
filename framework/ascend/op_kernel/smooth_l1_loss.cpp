// Kernel entry of the SmoothL1Loss op type: e = 0.5 d^2 / beta inside |d| < beta, else |d| - beta / 2
// (d = predict - label), then the reduction: y = e ("none"), sum(e) or mean(e) (one element).
// CANN calls it with the inputs in OpDef order, the output, the workspace and the tiling data;
// DTYPE_Y is the output's C++ type (the output is named y in the OpDef of every op).
#include "kernel_operator.h"
#include "lossgrad_kernel.h"
#include "families/smooth_l1_loss.h"

extern "C" __global__ __aicore__ void smooth_l1_loss(GM_ADDR predict, GM_ADDR label, GM_ADDR y, GM_ADDR workspace,
                                          GM_ADDR tiling)
{
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);  // a pure vector kernel: one block per AIV core
  GET_TILING_DATA(tilingData, tiling);
  lossgrad_kernel::LossGradKernel<DTYPE_Y, lossgrad_kernel::SmoothL1LossForwardFamily> op;
  op.Init(predict, label, nullptr, y, workspace, tilingData);
  op.Process();
}
