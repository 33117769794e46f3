// Element helpers shared by the family functors (framework/csrc/families/*.h).
#pragma once

namespace lossgrad {

//! sign(x) in the compute type: -1, 0 or 1, and NaN for NaN (as numpy.sign).
template <class C> inline C Sign(C x) {
  C r = x > C(0) ? C(1) : C(0);
  r = x < C(0) ? C(-1) : r;
  return x != x ? x : r;
}

}  // namespace lossgrad
