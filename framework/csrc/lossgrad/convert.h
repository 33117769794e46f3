// Bulk float16 <-> float32 conversions: F16C instructions when the CPU has them
// (checked once at run time), the portable conversions of half.h otherwise.
// Both round to nearest-even; results are identical except NaN payload bits.
#pragma once

#include <cstdint>

#include "lossgrad/half.h"

namespace lossgrad {

void HalfToFloatN(const Half* src, float* dst, int64_t n);
void FloatToHalfN(const float* src, Half* dst, int64_t n);
bool HasF16C();

}  // namespace lossgrad
