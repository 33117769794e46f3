// float16 / bfloat16 <-> float32 conversions, round-to-nearest-even on the way
// down, exact on the way up. Written with selects rather than branches so that
// the compiler can vectorize loops that call them.
#pragma once

#include <cstdint>
#include <cstring>

namespace lossgrad {

struct Half { uint16_t bits; };      // IEEE 754 binary16
struct BFloat16 { uint16_t bits; };  // bfloat16 (upper half of a binary32)

inline uint32_t FloatBits(float f) { uint32_t u; std::memcpy(&u, &f, sizeof u); return u; }
inline float BitsFloat(uint32_t u) { float f; std::memcpy(&f, &u, sizeof f); return f; }

// binary16 -> binary32, exact (normals, subnormals, infinities, NaN payloads).
inline float HalfToFloat(Half h) {
  const uint32_t sign = static_cast<uint32_t>(h.bits & 0x8000u) << 16;
  const uint32_t body = static_cast<uint32_t>(h.bits & 0x7fffu) << 13;  // exponent+mantissa in place
  const uint32_t exp = body & 0x0f800000u;
  // Normal numbers: rebias the exponent by 127 - 15 = 112.
  const uint32_t normal = body + (112u << 23);
  // Inf/NaN: exponent all ones in binary32 too.
  const uint32_t infnan = body | 0x7f800000u;
  // Subnormals (and zero): value = mantissa * 2^-24, exact in float arithmetic.
  const float sub = BitsFloat(body + (113u << 23)) - BitsFloat(113u << 23);
  uint32_t out = exp == 0x0f800000u ? infnan : normal;
  out = exp == 0 ? FloatBits(sub) : out;
  return BitsFloat(out | sign);
}

// binary32 -> binary16 with round-to-nearest-even; overflow gives +-inf, NaN stays NaN (quiet).
inline Half FloatToHalf(float f) {
  const uint32_t x = FloatBits(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t a = x & 0x7fffffffu;
  // |f| >= 2^16 rounds to inf whatever the mantissa; NaN becomes the quiet NaN 0x7e00.
  const uint32_t big = a > 0x7f800000u ? 0x7e00u : 0x7c00u;
  // |f| < 2^-14: the result is subnormal or zero. Adding 0.5 (2^-1) aligns the
  // mantissa so that the float adder performs the round-to-nearest-even for us.
  const uint32_t sub = FloatBits(BitsFloat(a) + 0.5f) - FloatBits(0.5f);
  // Normal range: rebias exponent (15 - 127), add the rounding bias 0xfff plus
  // the lowest kept mantissa bit (ties to even), then drop 13 bits.
  const uint32_t odd = (a >> 13) & 1u;
  const uint32_t norm = (a - (112u << 23) + 0xfffu + odd) >> 13;
  uint32_t out = a >= 0x47800000u ? big : norm;
  out = a < 0x38800000u ? sub : out;
  return Half{static_cast<uint16_t>(out | sign)};
}

inline float BFloat16ToFloat(BFloat16 b) { return BitsFloat(static_cast<uint32_t>(b.bits) << 16); }

// binary32 -> bfloat16 with round-to-nearest-even; NaN stays NaN (quiet bit set).
inline BFloat16 FloatToBFloat16(float f) {
  const uint32_t x = FloatBits(f);
  const uint32_t rounded = (x + 0x7fffu + ((x >> 16) & 1u)) >> 16;
  const uint32_t nan = (x >> 16) | 0x40u;
  const bool is_nan = (x & 0x7fffffffu) > 0x7f800000u;
  return BFloat16{static_cast<uint16_t>(is_nan ? nan : rounded)};
}

}  // namespace lossgrad
