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
// For 0 < beta < inf, g(d) is also d / beta limited to [-1, 1], with the same bits: d / beta is
// correctly rounded and monotonic in d, so |d| >= beta gives |d / beta| >= 1 (clamped to sign(d),
// infinities included), |d| < beta gives |d / beta| <= 1 (unchanged), and ±0 and NaN pass through.
// The clamp is two selects where the case split takes five. beta = 0 (d = 0: 0/0) and
// beta = inf (d = ±inf: inf/inf) are not such betas, so they take the split.
struct SmoothL1LossGrad {
  Divisor beta;
  bool clamp;
  explicit SmoothL1LossGrad(const gen::AttrValue* attrs)
      : beta(attrs[1].f), clamp(attrs[1].f > 0.0 && attrs[1].f < HUGE_VAL) {}
  template <class C> C Apply(C predict, C label, C dout, C s) const {
    const C d = predict - label;
    if (clamp) return dout * ClampMagnitude(beta.Over(d), Splat<C>(1.0)) * s;
    const C b = Splat<C>(beta.value());
    return dout * (Abs(d) < b ? beta.Over(d) : Sign(d)) * s;
  }
};

}  // namespace ops
}  // namespace lossgrad
