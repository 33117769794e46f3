// The kernel families of the package, in op order (op_host/lossgrad_defs.h's OpId):
// adding a family is its header here plus its kernel entry file (op_kernel/<op>.cpp).
// Read by the kernel (compute) and by the host tiling plan (UB needs); the host
// checks the list against the op table at compile time.
#ifndef LOSSGRAD_FAMILIES_H_
#define LOSSGRAD_FAMILIES_H_

#include "l1_loss.h"
#include "mse_loss.h"

namespace lossgrad_kernel {

using Families = FamilyList<MseLossFamily, L1LossFamily>;

}  // namespace lossgrad_kernel

#endif  // LOSSGRAD_FAMILIES_H_
