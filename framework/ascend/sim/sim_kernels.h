// The kernel entries compiled for the CPU (see sim_kernels.cc).
#ifndef LGSIM_SIM_KERNELS_H_
#define LGSIM_SIM_KERNELS_H_

#include <cstdint>

namespace lgsim {

//! (inputs x3 in CANN order, output, workspace, tiling), as CANN launches the kernel.
using KernelEntry = void (*)(uint8_t*, uint8_t*, uint8_t*, uint8_t*, uint8_t*, uint8_t*);

//! Entry of op (its id in op_host/lossgrad_ops_table.h) for dtype (0 float16, 1 bfloat16, 2 float32);
//! nullptr for an unknown one.
KernelEntry GetKernel(int op, int dtype);

}  // namespace lgsim

#endif  // LGSIM_SIM_KERNELS_H_
