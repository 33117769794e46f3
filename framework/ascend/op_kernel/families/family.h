// What a kernel family declares, and the compute hook the generic kernel calls.
//
// The kernel (op_kernel/lossgrad_kernel.h) computes y = m * f(a - b) * s for every
// op of the package: a, b and m are inputs (their indices are the family's roles),
// s the host's scale, f the family's elementwise function. A family header
// (op_kernel/families/<family>.h) declares, as a struct of plain constants that
// the host tiling plan reads too:
//   kOpType          the CANN op type (checked against op_host/lossgrad_ops_table.h);
//   kLhs, kRhs, kMul input indices of a, b and m (CANN order);
//   kF32Scratch      fp32 tiles f needs as scratch (at most 2; on half types the
//                    kernel lends its second widening buffer as the first one);
//   kCompareMask     f needs a compare mask of one bit per element;
//   kUbReserveBytes  UB that must stay unallocated while f runs (e.g. for Select);
// and, in its compute part (compiled in kernel TUs only, where lossgrad_kernel.h
// defines LOSSGRAD_KERNEL_COMPUTE), a specialization of FamilyCompute with
//   float OnScalar(float d, const float* attrs)  f of a scalar difference;
//   LocalTensor<float> OnTile(d, scratch, n)     f over a tile (d itself or a scratch tile;
//                                                OnTile may overwrite d).
// `attrs` (also scratch.attrs) are the op's declared float attributes, checked on the
// host, in their tiling slots (op_host/lossgrad_ops_table.h kOpAttrSlot: the first
// float attribute is attrs[0]).
#ifndef LOSSGRAD_FAMILY_H_
#define LOSSGRAD_FAMILY_H_

namespace lossgrad_kernel {

//! What every forward loss family shares: a = predict, b = label (CANN order), no multiplier, and
//! no scratch, mask or UB reserve unless the family declares its own (which hides these).
struct LossForwardRoles {
  static constexpr int kLhs = 0;   // predict
  static constexpr int kRhs = 1;   // label
  static constexpr int kMul = -1;  // a loss: no multiplier
  static constexpr unsigned kF32Scratch = 0;
  static constexpr bool kCompareMask = false;
  static constexpr unsigned long long kUbReserveBytes = 0;
};

//! The ordered list of families (Families in op_host/lossgrad_ops_table.h, generated);
//! position = op id.
template <class... F>
struct FamilyList {
  static constexpr int kSize = sizeof...(F);
};

#ifdef LOSSGRAD_KERNEL_COMPUTE
//! The scratch tiles the kernel hands OnTile (only those the family declared are set).
struct TileScratch {
  AscendC::LocalTensor<float> f32[2];
  AscendC::LocalTensor<uint8_t> mask;
  const float* attrs = nullptr;  //!< the declared float attributes (tiling slots)
};

//! sign(x) with sign(0) = 0 and sign(NaN) = NaN (x * 0 keeps the NaN; the comparisons are
//! false for NaN).
__aicore__ inline float SignScalar(float x) { return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : x * 0.0f); }

//! z = sign(d) over n elements (z and c are scratch tiles, c is clobbered with the constants
//! +-1): z = d * 0 (+-0, or NaN where d is NaN or infinite), then +1 where d > 0 and -1 where
//! d < 0, so sign(0) = 0 and sign(NaN) = NaN as SignScalar.
__aicore__ inline void SignTile(const AscendC::LocalTensor<float>& z, const AscendC::LocalTensor<float>& c,
                                const AscendC::LocalTensor<float>& d, const AscendC::LocalTensor<uint8_t>& mask,
                                uint32_t n)
{
  const int32_t count = static_cast<int32_t>(n);
  AscendC::Muls(z, d, 0.0f, count);
  AscendC::Duplicate(c, 1.0f, count);
  AscendC::Compares(mask, d, 0.0f, AscendC::CMPMODE::GT, n);
  AscendC::Select(z, mask, c, z, AscendC::SELMODE::VSEL_TENSOR_TENSOR_MODE, n);
  AscendC::Duplicate(c, -1.0f, count);
  AscendC::Compares(mask, d, 0.0f, AscendC::CMPMODE::LT, n);
  AscendC::Select(z, mask, c, z, AscendC::SELMODE::VSEL_TENSOR_TENSOR_MODE, n);
}

//! Specialized in each family's header; a family without one fails to build here.
template <class Family>
struct FamilyCompute {
  static_assert(sizeof(Family) == 0,
                "this kernel family has no compute part: specialize FamilyCompute<Family> in its "
                "op_kernel/families/<family>.h (OnScalar, OnTile)");
};
#endif

}  // namespace lossgrad_kernel

#endif  // LOSSGRAD_FAMILY_H_
