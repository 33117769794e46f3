// Kernel family of MseLoss, both ops:
//   MseLossGrad(predict, label, dout) = dout * (predict - label) * s: f is the identity (the
//   factor 2 of the gradient is in the scale's numerator);
//   MseLoss(predict, label): e = (predict - label)^2, then the reduction.
#ifndef LOSSGRAD_FAMILY_MSE_LOSS_H_
#define LOSSGRAD_FAMILY_MSE_LOSS_H_

#include "family.h"

namespace lossgrad_kernel {

struct MseLossFamily {
  static constexpr const char* kOpType = "MseLossGrad";
  static constexpr int kLhs = 0;  // predict
  static constexpr int kRhs = 1;  // label
  static constexpr int kMul = 2;  // dout
  static constexpr unsigned kF32Scratch = 0;
  static constexpr bool kCompareMask = false;
  static constexpr unsigned long long kUbReserveBytes = 0;
};

struct MseLossForwardFamily : LossForwardRoles {
  static constexpr const char* kOpType = "MseLoss";
};

}  // namespace lossgrad_kernel

#endif  // LOSSGRAD_FAMILY_MSE_LOSS_H_

#if defined(LOSSGRAD_KERNEL_COMPUTE) && !defined(LOSSGRAD_FAMILY_MSE_LOSS_COMPUTE_)
#define LOSSGRAD_FAMILY_MSE_LOSS_COMPUTE_
namespace lossgrad_kernel {

template <>
struct FamilyCompute<MseLossFamily> {
  __aicore__ static inline float OnScalar(float d, const float*) { return d; }
  __aicore__ static inline AscendC::LocalTensor<float> OnTile(const AscendC::LocalTensor<float>& d,
                                                              const TileScratch&, uint32_t)
  {
    return d;
  }
};

template <>
struct FamilyCompute<MseLossForwardFamily> {
  __aicore__ static inline float OnScalar(float d, const float*) { return d * d; }
  //! e = d * d, in d.
  __aicore__ static inline AscendC::LocalTensor<float> OnTile(const AscendC::LocalTensor<float>& d,
                                                              const TileScratch&, uint32_t n)
  {
    AscendC::Mul(d, d, d, static_cast<int32_t>(n));
    return d;
  }
};

}  // namespace lossgrad_kernel
#endif
