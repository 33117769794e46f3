// The element formulas of docs/SPEC.md (the family functors, framework/csrc/families/*.h) as the
// core's loops see them: every op ternary with a scale; a loss ignores the scale, an op of two
// inputs its third operand. Shared by the general path (lossgrad/core.cc, scalar compute types)
// and the fused fast path (lossgrad/kernels_isa.cc, vector compute types).
#pragma once

#include <type_traits>

#include "lossgrad/generated_defs.h"
#include "lossgrad/generated_families.h"
#include "lossgrad/half.h"
#include "lossgrad/math.h"

namespace lossgrad {

// The compute type C of each storage type and the accumulation type A of a reduction's lanes
// (docs/SPEC.md "Precision"): half types compute and accumulate in float32, float32 computes in
// float32 and accumulates in float64, float64 does both in float64. Both paths of the core take
// them from here (lossgrad/core.cc, lossgrad/kernels_isa.cc).
template <class T> struct ComputeTypes;
template <> struct ComputeTypes<Half> { using C = float; using A = float; };
template <> struct ComputeTypes<BFloat16> { using C = float; using A = float; };
template <> struct ComputeTypes<float> { using C = float; using A = double; };
template <> struct ComputeTypes<double> { using C = double; using A = double; };

// A functor with attributes other than `reduction` has a constructor taking the op's attribute
// values (`const gen::AttrValue*`, in declared order, the reduction first); the core builds it
// once per call. A functor without one is default-constructed.
template <class F>
LOSSGRAD_INLINE F MakeFunctor(const gen::AttrValue* attrs) {
  if constexpr (std::is_constructible_v<F, const gen::AttrValue*>) {
    return F(attrs);
  } else {
    static_cast<void>(attrs);
    return F{};
  }
}

template <class F, int kArity, bool kIsLoss>
struct Formula {
  static_assert(kArity == 2 || kArity == 3, "the core's loops handle ops of 2 or 3 inputs");
  F f;
  explicit Formula(const gen::AttrValue* attrs) : f(MakeFunctor<F>(attrs)) {}
  template <class C> LOSSGRAD_INLINE C Apply(C a, C b, C c, C s) const {
    if constexpr (kIsLoss && kArity == 2) {
      return f.Apply(a, b);
    } else if constexpr (kIsLoss) {
      return f.Apply(a, b, c);
    } else if constexpr (kArity == 2) {
      return f.Apply(a, b, s);
    } else {
      return f.Apply(a, b, c, s);
    }
  }
};

}  // namespace lossgrad
