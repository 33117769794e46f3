// Kernel entry of the MseLossGrad op type: y = dout * (predict - label) * s.
// CANN calls it with the inputs in OpDef order, the output, the workspace and
// the tiling data; DTYPE_Y is the output's C++ type, set by the CANN build per
// supported dtype (float16 -> half, bfloat16 -> bfloat16_t, float32 -> float).
#include "kernel_operator.h"
#include "lossgrad_kernel.h"
#include "families/mse_loss.h"

extern "C" __global__ __aicore__ void mse_loss_grad(GM_ADDR predict, GM_ADDR label, GM_ADDR dout, GM_ADDR y,
                                                    GM_ADDR workspace, GM_ADDR tiling)
{
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);  // a pure vector kernel: one block per AIV core
  GET_TILING_DATA(tilingData, tiling);
  lossgrad_kernel::LossGradKernel<DTYPE_Y, lossgrad_kernel::MseLossFamily> op;
  op.Init(predict, label, dout, y, workspace, tilingData);
  op.Process();
}
