// Runtime instruction-set dispatch of the core's fused loops.
//
// lossgrad/kernels_isa.cc is compiled once per level below, each copy with its own compiler
// flags and in its own namespace, and fills a KernelTable. The level is chosen once, when the
// library loads: the best the CPU and OS support, or LOSSGRAD_ISA (baseline, avx2, avx512;
// a level the machine lacks falls back to the best it has, with a note). Every level computes
// the same IEEE operations in the same order (no FMA contraction, no reassociation; the half
// conversions are exact or round-to-nearest-even on every level), so results are bitwise equal
// across levels; tests/test_isa.py checks it on every level the machine has.
#pragma once

#include <cstdint>

#include "lossgrad/generated_defs.h"
#include "lossgrad/half.h"

namespace lossgrad {
namespace isa {

enum Level : int32_t {
  kBaseline = 0,  // the target's baseline (x86-64: SSE2; aarch64: NEON, the only level there)
  kAvx2 = 1,      // AVX2 + FMA + F16C (FMA is never contracted into the formulas: bitwise equality)
  kAvx512 = 2,    // AVX-512 F/BW/VL/DQ + F16C
  kNumLevels = 3,
};

// The fused elementwise loop of one op and dtype over [lo, hi): every operand has the output's
// dtype and is contiguous or (bit i of `scalar_mask`) a broadcast scalar; `in` has the op's
// inputs (unused slots may repeat in[0]); `scale` is s.
using ElementwiseFn = void (*)(const gen::AttrValue* attrs, const void* const* in, void* out, int64_t lo, int64_t hi,
                               int scalar_mask, double scale);
// One reduction block [lo, hi) of a loss, as its fixed-order sum (docs/SPEC.md "Determinism").
using ReduceBlockFn = double (*)(const gen::AttrValue* attrs, const void* const* in, int64_t lo, int64_t hi,
                                 int scalar_mask);

struct KernelTable {
  ElementwiseFn elementwise[gen::kNumOps][gen::kNumDTypes];
  ReduceBlockFn reduce_block[gen::kNumOps][gen::kNumDTypes];
  void (*half_to_float)(const Half* src, float* dst, int64_t n);
  void (*float_to_half)(const float* src, Half* dst, int64_t n);
};

// The tables of the levels built into this library (null for a level not built on this target).
namespace baseline { const KernelTable* Table(); }
namespace avx2 { const KernelTable* Table(); }
namespace avx512 { const KernelTable* Table(); }

// The chosen level's table, level and name ("baseline", "avx2", "avx512").
const KernelTable& Kernels();
Level Active();
const char* Name(int32_t level);
// Whether this library has the level and the machine runs it.
bool Available(int32_t level);
// Why the active level is not the one LOSSGRAD_ISA asked for, or "".
const char* Note();

}  // namespace isa
}  // namespace lossgrad
