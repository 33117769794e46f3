// The MSE family (docs/SPEC.md): the elementwise functors of MseLoss and MseLossGrad.
//
// A family header defines, for each op declared in framework/definitions.py, the struct
// lossgrad::ops::<Name> with `template <class C> static C Apply(...)`: the element formula in
// the compute type C (float for half types and float32, double for float64) taking the op's
// inputs in their declared order, followed by the scale s for a gradient op. A loss's elements
// are reduced by the core; a gradient op's are its output. generated_families.h includes every
// family header; the core checks at compile time that each declared op has its functor.
#pragma once

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
