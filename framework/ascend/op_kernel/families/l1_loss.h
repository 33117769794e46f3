// Kernel family of L1Loss, both ops:
//   L1LossGrad(grads, predict, label) = grads * sign(predict - label) * s, with sign(0) = 0 and
//   sign(NaN) = NaN exactly as docs/SPEC.md says;
//   L1Loss(predict, label): e = |predict - label|, then the reduction.
#ifndef LOSSGRAD_FAMILY_L1_LOSS_H_
#define LOSSGRAD_FAMILY_L1_LOSS_H_

#include "family.h"

namespace lossgrad_kernel {

struct L1LossFamily {
  static constexpr const char* kOpType = "L1LossGrad";
  static constexpr int kLhs = 1;  // predict
  static constexpr int kRhs = 2;  // label
  static constexpr int kMul = 0;  // grads
  static constexpr unsigned kF32Scratch = 2;  // the constants +-1 and the sign
  static constexpr bool kCompareMask = true;
  static constexpr unsigned long long kUbReserveBytes = 8192;  // Select (modes 1, 2) on A2/A3
};

struct L1LossForwardFamily : LossForwardRoles {
  static constexpr const char* kOpType = "L1Loss";
};

}  // namespace lossgrad_kernel

#endif  // LOSSGRAD_FAMILY_L1_LOSS_H_

#if defined(LOSSGRAD_KERNEL_COMPUTE) && !defined(LOSSGRAD_FAMILY_L1_LOSS_COMPUTE_)
#define LOSSGRAD_FAMILY_L1_LOSS_COMPUTE_
namespace lossgrad_kernel {

template <>
struct FamilyCompute<L1LossFamily> {
  //! sign(x), with sign(0) = 0 and sign(NaN) = NaN.
  __aicore__ static inline float OnScalar(float x, const float*) { return SignScalar(x); }

  //! z = sign(d) over n elements into scratch tile 1; scratch tile 0 holds the constants +-1.
  __aicore__ static inline AscendC::LocalTensor<float> OnTile(const AscendC::LocalTensor<float>& d,
                                                              const TileScratch& s, uint32_t n)
  {
    SignTile(s.f32[1], s.f32[0], d, s.mask, n);
    return s.f32[1];
  }
};

template <>
struct FamilyCompute<L1LossForwardFamily> {
  __aicore__ static inline float OnScalar(float d, const float*) { return d < 0.0f ? -d : d; }
  //! e = |d|, in d (|NaN| is NaN).
  __aicore__ static inline AscendC::LocalTensor<float> OnTile(const AscendC::LocalTensor<float>& d,
                                                              const TileScratch&, uint32_t n)
  {
    AscendC::Abs(d, d, static_cast<int32_t>(n));
    return d;
  }
};

}  // namespace lossgrad_kernel
#endif
