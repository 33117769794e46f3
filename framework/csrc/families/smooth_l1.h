// The SmoothL1 family (docs/SPEC.md): the elementwise functors of SmoothL1Loss and
// SmoothL1LossGrad, which take the declared attribute beta (attrs[1], a float >= 0 the
// core has checked). See families/mse.h for what a family header defines.
#pragma once

#include "lossgrad/generated_defs.h"
#include "lossgrad/math.h"

namespace lossgrad {
namespace ops {

//! e = 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = predict - label; beta = 0: |d|)
struct SmoothL1Loss {
  Divisor beta;
  explicit SmoothL1Loss(const gen::AttrValue* attrs) : beta(attrs[1].f) {}
  template <class C> C Apply(C predict, C label) const {
    const C d = predict - label;
    const C a = Abs(d);
    const C b = Splat<C>(beta.value()), half = Splat<C>(0.5);
    return a < b ? beta.Over(half * d * d) : a - half * b;
  }
};

//! y = dout * g(d) * s, g(d) = d / beta where |d| < beta, else sign(d)
struct SmoothL1LossGrad {
  Divisor beta;
  explicit SmoothL1LossGrad(const gen::AttrValue* attrs) : beta(attrs[1].f) {}
  template <class C> C Apply(C predict, C label, C dout, C s) const {
    const C d = predict - label;
    const C b = Splat<C>(beta.value());
    return dout * (Abs(d) < b ? beta.Over(d) : Sign(d)) * s;
  }
};

}  // namespace ops
}  // namespace lossgrad
