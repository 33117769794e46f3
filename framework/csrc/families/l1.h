// The L1 family (docs/SPEC.md): the elementwise functors of L1Loss and L1LossGrad.
// See families/mse.h for what a family header defines.
#pragma once

#include "lossgrad/math.h"

namespace lossgrad {
namespace ops {

//! e = |predict - label|
struct L1Loss {
  template <class C> static C Apply(C predict, C label) { return Abs(predict - label); }
};

//! y = grads * sign(predict - label) * s
struct L1LossGrad {
  template <class C> static C Apply(C grads, C predict, C label, C s) { return grads * Sign(predict - label) * s; }
};

}  // namespace ops
}  // namespace lossgrad
