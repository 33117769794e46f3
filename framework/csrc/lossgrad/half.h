// float16 / bfloat16 <-> float32 conversions: round-to-nearest-even on the way down, exact on the
// way up, by integer operations.
//
// Each conversion is written once, as a template on the 32-bit word type U (uint32_t, or a GCC
// vector of them) and the matching float type F: the scalar functions below and the vectorized
// fused loops of lossgrad/kernels_isa.cc share it, and selects (`cond ? a : b`, per lane on
// vectors) replace branches. NaNs behave as x86's F16C instructions (vcvtph2ps / vcvtps2ph), so
// that every instruction-set level of the core gives the same bits: a binary16 NaN widens to a
// quiet binary32 NaN with the same payload; a binary32 NaN narrows to a quiet binary16 NaN
// keeping the top payload bits; a bfloat16 NaN is the top half of the binary32 one, made quiet.
#pragma once

#include <cstdint>

#include "lossgrad/math.h"

namespace lossgrad {

struct Half { uint16_t bits; };      // IEEE 754 binary16
struct BFloat16 { uint16_t bits; };  // bfloat16 (upper half of a binary32)

//! binary16 bits (the low 16 bits of each lane of h) -> binary32, exact.
template <class U, class F> LOSSGRAD_INLINE F HalfBitsToFloat(U h) {
  const U sign = (h & 0x8000u) << 16;
  const U body = (h & 0x7fffu) << 13;  // exponent and mantissa in place
  const U exp = body & 0x0f800000u;
  // Normal numbers: rebias the exponent by 127 - 15 = 112.
  const U normal = body + (112u << 23);
  // Inf/NaN: exponent all ones in binary32 too; a NaN (mantissa != 0) gets the quiet bit 22.
  const U quiet = (((body & 0x007fffffu) + 0x007fffffu) & 0x00800000u) >> 1;
  const U infnan = body | 0x7f800000u | quiet;
  // Subnormals (and zero): value = mantissa * 2^-24, exact in float arithmetic (2^-14 is 113 << 23).
  const U sub = __builtin_bit_cast(U, __builtin_bit_cast(F, body + (113u << 23)) - Splat<F>(0x1p-14));
  U out = exp == 0x0f800000u ? infnan : normal;
  out = exp == 0u ? sub : out;
  return __builtin_bit_cast(F, out | sign);
}

//! binary32 -> binary16 bits (in the low 16 bits of each lane), round-to-nearest-even; overflow
//! gives +-inf.
template <class U, class F> LOSSGRAD_INLINE U FloatToHalfBits(F f) {
  const U x = __builtin_bit_cast(U, f);
  const U sign = (x >> 16) & 0x8000u;
  const U a = x & 0x7fffffffu;
  // |f| >= 2^16 rounds to inf whatever the mantissa; a NaN keeps its top 10 payload bits, made quiet.
  const U nan = ((a >> 13) & 0x3ffu) | 0x7e00u;
  const U inf = U{} + 0x7c00u;
  const U big = a > 0x7f800000u ? nan : inf;
  // |f| < 2^-14: the result is subnormal or zero. Adding 0.5 (2^-1) aligns the mantissa so
  // that the float adder performs the round-to-nearest-even for us.
  const U sub = __builtin_bit_cast(U, __builtin_bit_cast(F, a) + Splat<F>(0.5)) - 0x3f000000u;
  // Normal range: rebias the exponent (15 - 127), add the rounding bias 0xfff plus the lowest
  // kept mantissa bit (ties to even), then drop 13 bits.
  const U odd = (a >> 13) & 1u;
  const U norm = (a - (112u << 23) + 0xfffu + odd) >> 13;
  U out = a >= 0x47800000u ? big : norm;
  out = a < 0x38800000u ? sub : out;
  return out | sign;
}

//! bfloat16 bits (the low 16 bits of each lane of h) -> binary32, exact.
template <class U, class F> LOSSGRAD_INLINE F BFloat16BitsToFloat(U h) { return __builtin_bit_cast(F, h << 16); }

//! The top 16 bits of binary32 words x, rounded to nearest-even (right for every non-NaN x:
//! a carry out of the mantissa rounds up to the next binade or to infinity).
template <class U> LOSSGRAD_INLINE U RoundToBFloat16Bits(U x) { return (x + 0x7fffu + ((x >> 16) & 1u)) >> 16; }

//! binary32 -> bfloat16 bits (in the low 16 bits of each lane), round-to-nearest-even; a NaN
//! stays NaN with the quiet bit set. (Not AVX512-BF16's vcvtneps2bf16, which flushes binary32
//! subnormals to zero.)
template <class U, class F> LOSSGRAD_INLINE U FloatToBFloat16Bits(F f) {
  const U x = __builtin_bit_cast(U, f);
  const U nan = (x >> 16) | 0x40u;
  return (x & 0x7fffffffu) > 0x7f800000u ? nan : RoundToBFloat16Bits(x);
}

//! FloatToBFloat16Bits(QuietNaN(f)) in one select: every NaN becomes the positive quiet NaN of
//! payload zero (0x7fc0), the form in which the kernels store results (lossgrad/math.h).
template <class U, class F> LOSSGRAD_INLINE U FloatToBFloat16BitsQuiet(F f) {
  // a float compare: AVX2 has no unsigned one
  return f != f ? U{} + 0x7fc0u : RoundToBFloat16Bits(__builtin_bit_cast(U, f));
}

LOSSGRAD_INLINE float HalfToFloat(Half h) { return HalfBitsToFloat<uint32_t, float>(h.bits); }
LOSSGRAD_INLINE Half FloatToHalf(float f) { return Half{static_cast<uint16_t>(FloatToHalfBits<uint32_t>(f))}; }
LOSSGRAD_INLINE float BFloat16ToFloat(BFloat16 b) { return BFloat16BitsToFloat<uint32_t, float>(b.bits); }
LOSSGRAD_INLINE BFloat16 FloatToBFloat16(float f) {
  return BFloat16{static_cast<uint16_t>(FloatToBFloat16Bits<uint32_t>(f))};
}

}  // namespace lossgrad
