#include "lossgrad/convert.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define LOSSGRAD_X86 1
#endif

namespace lossgrad {

namespace {

void HalfToFloatPortable(const Half* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = HalfToFloat(src[i]);
}
void FloatToHalfPortable(const float* src, Half* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = FloatToHalf(src[i]);
}

#ifdef LOSSGRAD_X86
__attribute__((target("avx,f16c"))) void HalfToFloatF16C(const Half* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
  }
  HalfToFloatPortable(src + i, dst + i, n - i);
}
__attribute__((target("avx,f16c"))) void FloatToHalfF16C(const float* src, Half* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), h);
  }
  FloatToHalfPortable(src + i, dst + i, n - i);
}
#endif

}  // namespace

bool HasF16C() {
#ifdef LOSSGRAD_X86
  static const bool has = __builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c");
  return has;
#else
  return false;
#endif
}

void HalfToFloatN(const Half* src, float* dst, int64_t n) {
#ifdef LOSSGRAD_X86
  if (HasF16C()) return HalfToFloatF16C(src, dst, n);
#endif
  HalfToFloatPortable(src, dst, n);
}

void FloatToHalfN(const float* src, Half* dst, int64_t n) {
#ifdef LOSSGRAD_X86
  if (HasF16C()) return FloatToHalfF16C(src, dst, n);
#endif
  FloatToHalfPortable(src, dst, n);
}

}  // namespace lossgrad
