// The MSE family (docs/SPEC.md): the elementwise functors of MseLoss and MseLossGrad.
//
// A family header defines, for each op declared in framework/definitions.py, the struct
// lossgrad::ops::<Name> with `template <class C> static C Apply(...)`: the element formula in
// the compute type C taking the op's inputs in their declared order, followed by the scale s for
// a gradient op. A loss's elements are reduced by the core; a gradient op's are its output.
// C is a scalar (float for half types and float32, double for float64) or a GCC vector of them,
// one register wide (the fused loops of lossgrad/kernels_isa.cc): write the formula with
// arithmetic, comparisons and `cond ? a : b`, and take constants, |x| and sign(x) from
// lossgrad/math.h (Splat<C>, Abs, Sign), never std::fabs or C(x). generated_families.h includes
// every family header; the core checks at compile time that each declared op has its functor.
#pragma once

#include "lossgrad/math.h"

namespace lossgrad {
namespace ops {

//! e = (predict - label)^2
struct MseLoss {
  template <class C> static C Apply(C predict, C label) {
    const C d = predict - label;
    return d * d;
  }
};

//! y = dout * (predict - label) * s
struct MseLossGrad {
  template <class C> static C Apply(C predict, C label, C dout, C s) { return dout * (predict - label) * s; }
};

}  // namespace ops
}  // namespace lossgrad
