// Kernel family of SmoothL1Loss, both ops:
//   SmoothL1LossGrad(predict, label, dout) = dout * g(predict - label) * s with g(d) = d / beta where
//   |d| < beta, else sign(d) (sign(0) = 0, sign(NaN) = NaN; beta == 0 is L1: g = sign);
//   SmoothL1Loss(predict, label): e = 0.5 * d^2 / beta where |d| < beta, else |d| - 0.5 * beta
//   (beta == 0: |d|), then the reduction. beta is the op's first declared float attribute (attrs[0]), checked on the host
// (>= 0, not NaN) and carried in fp32 by the tiling data.
#ifndef LOSSGRAD_FAMILY_SMOOTH_L1_LOSS_H_
#define LOSSGRAD_FAMILY_SMOOTH_L1_LOSS_H_

#include "family.h"

namespace lossgrad_kernel {

struct SmoothL1LossFamily {
  static constexpr const char* kOpType = "SmoothL1LossGrad";
  static constexpr int kLhs = 0;  // predict
  static constexpr int kRhs = 1;  // label
  static constexpr int kMul = 2;  // dout
  static constexpr unsigned kF32Scratch = 2;  // the constants (+-1, then d / beta) and the result
  static constexpr bool kCompareMask = true;
  static constexpr unsigned long long kUbReserveBytes = 8192;  // Select (modes 1, 2) on A2/A3
  static constexpr int kBetaSlot = 0;  // tiling attrs slot of beta
};

struct SmoothL1LossForwardFamily : LossForwardRoles {
  static constexpr const char* kOpType = "SmoothL1Loss";
  static constexpr unsigned kF32Scratch = 2;  // the quadratic branch (and beta), the linear one
  static constexpr bool kCompareMask = true;
  static constexpr unsigned long long kUbReserveBytes = 8192;  // Select (modes 1, 2) on A2/A3
  static constexpr int kBetaSlot = 0;  // tiling attrs slot of beta
};

}  // namespace lossgrad_kernel

#endif  // LOSSGRAD_FAMILY_SMOOTH_L1_LOSS_H_

#if defined(LOSSGRAD_KERNEL_COMPUTE) && !defined(LOSSGRAD_FAMILY_SMOOTH_L1_LOSS_COMPUTE_)
#define LOSSGRAD_FAMILY_SMOOTH_L1_LOSS_COMPUTE_
namespace lossgrad_kernel {

template <>
struct FamilyCompute<SmoothL1LossFamily> {
  //! g(x); NaN fails |x| < beta and keeps its NaN through sign (x * 0).
  __aicore__ static inline float OnScalar(float x, const float* attrs)
  {
    const float beta = attrs[SmoothL1LossFamily::kBetaSlot];
    const float a = x < 0.0f ? -x : x;
    return a < beta ? x / beta : SignScalar(x);  // a < beta is false for beta == 0 and for NaN
  }

  //! g(d) over n elements into scratch tile 1, with scratch tile 0 for the constants and
  //! d / beta; d itself is overwritten with |d| for the compare.
  __aicore__ static inline AscendC::LocalTensor<float> OnTile(const AscendC::LocalTensor<float>& d,
                                                              const TileScratch& s, uint32_t n)
  {
    const float beta = s.attrs[SmoothL1LossFamily::kBetaSlot];
    const AscendC::LocalTensor<float>& c = s.f32[0];
    const AscendC::LocalTensor<float>& z = s.f32[1];
    const int32_t count = static_cast<int32_t>(n);
    SignTile(z, c, d, s.mask, n);
    if (!(beta > 0.0f)) {
      return z;  // beta == 0: L1 (no element has |d| < 0)
    }
    // z = d / beta where |d| < beta (NaN compares false and keeps sign(NaN) = NaN).
    AscendC::Duplicate(c, beta, count);
    AscendC::Div(c, d, c, count);
    AscendC::Abs(d, d, count);
    AscendC::Compares(s.mask, d, beta, AscendC::CMPMODE::LT, n);
    AscendC::Select(z, s.mask, c, z, AscendC::SELMODE::VSEL_TENSOR_TENSOR_MODE, n);
    return z;
  }
};

template <>
struct FamilyCompute<SmoothL1LossForwardFamily> {
  //! e(x); NaN fails |x| < beta and gives |NaN| - 0.5 * beta = NaN.
  __aicore__ static inline float OnScalar(float x, const float* attrs)
  {
    const float beta = attrs[SmoothL1LossForwardFamily::kBetaSlot];
    const float a = x < 0.0f ? -x : x;
    if (!(beta > 0.0f)) {
      return a;
    }
    return a < beta ? a * a * 0.5f / beta : a - 0.5f * beta;
  }

  //! e(d) over n elements into scratch tile 1 (the linear branch, then the quadratic one
  //! selected where |d| < beta); scratch tile 0 holds beta, then the quadratic branch; d itself
  //! becomes |d|.
  __aicore__ static inline AscendC::LocalTensor<float> OnTile(const AscendC::LocalTensor<float>& d,
                                                              const TileScratch& s, uint32_t n)
  {
    const float beta = s.attrs[SmoothL1LossForwardFamily::kBetaSlot];
    const AscendC::LocalTensor<float>& q = s.f32[0];
    const AscendC::LocalTensor<float>& z = s.f32[1];
    const int32_t count = static_cast<int32_t>(n);
    AscendC::Abs(d, d, count);
    if (!(beta > 0.0f)) {
      return d;  // beta == 0: L1 (no element has |d| < 0)
    }
    AscendC::Adds(z, d, -0.5f * beta, count);  // linear branch |d| - beta / 2
    AscendC::Duplicate(q, beta, count);
    AscendC::Div(q, d, q, count);               // |d| / beta
    AscendC::Mul(q, q, d, count);               // d^2 / beta
    AscendC::Muls(q, q, 0.5f, count);           // quadratic branch
    AscendC::Compares(s.mask, d, beta, AscendC::CMPMODE::LT, n);
    AscendC::Select(z, s.mask, q, z, AscendC::SELMODE::VSEL_TENSOR_TENSOR_MODE, n);
    return z;
  }
};

}  // namespace lossgrad_kernel
#endif
