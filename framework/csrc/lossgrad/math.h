// Element helpers shared by the family functors (framework/csrc/families/*.h) and the core.
//
// A family functor's Apply is a template on its compute type C, which the core instantiates
// twice: with a scalar (float or double: the general strided path and the Ascend stand-in) and
// with a GCC vector of that scalar (the fused fast path of lossgrad/kernels_isa.cc, one register
// of the instruction-set level wide).
// Arithmetic, comparisons and `cond ? a : b` mean the same on both (GCC's vector extensions
// evaluate both sides and select per lane); what does not, a family takes from here:
//   Splat<C>(v)  the constant v in every lane of C (a scalar: v itself)
//   Abs(x)       |x| with the sign bit cleared, as std::fabs (also for -0.0 and NaN)
//   Sign(x)      -1, 0 or 1, and NaN for NaN (as numpy.sign)
//   ClampMagnitude(x, m)  x limited to [-m, m], NaN kept
//   QuietNaN(x)  x, or the default quiet NaN where x is NaN (the core applies it to every result)
//   Divisor      an attribute a formula divides by: x / d as the formula says, without a division
//                where that gives the same bits
// Every helper is force-inlined: the ISA-specific copies of the core (lossgrad/kernels_isa.cc)
// instantiate them with the same types, and an out-of-line copy built for one instruction set
// must never be what another calls.
#pragma once

#include <cmath>
#include <type_traits>
#include <utility>

#define LOSSGRAD_INLINE inline __attribute__((always_inline))

namespace lossgrad {

//! The lane type of a compute type: C for a scalar, the element type of a GCC vector.
template <class C, class = void> struct LaneOf { using type = C; };
template <class C> struct LaneOf<C, std::void_t<decltype(std::declval<C&>()[0])>> {
  using type = std::decay_t<decltype(std::declval<C&>()[0])>;
};
template <class C> using Lane = typename LaneOf<C>::type;
template <class C> constexpr bool kIsVector = !std::is_same<Lane<C>, C>::value;

//! The unsigned integer vector (or scalar) with C's lanes: the bit pattern of each lane.
template <class C> struct BitsOf {
  using L = Lane<C>;
  using U = std::conditional_t<sizeof(L) == 8, unsigned long long, std::conditional_t<sizeof(L) == 4, unsigned, unsigned short>>;
  typedef U type __attribute__((vector_size(sizeof(C))));
};
template <class C> using Bits = typename BitsOf<C>::type;

//! v in every lane of C (a scalar: v converted to C). -0.0 stays -0.0, NaN stays NaN.
template <class C> LOSSGRAD_INLINE C Splat(double v) {
  if constexpr (kIsVector<C>) {
    return static_cast<Lane<C>>(v) - C{};
  } else {
    return static_cast<C>(v);
  }
}

//! |x|: the sign bit cleared (as std::fabs, for every lane).
template <class C> LOSSGRAD_INLINE C Abs(C x) {
  if constexpr (kIsVector<C>) {
    using U = Bits<C>;
    constexpr auto kMagnitude = static_cast<Lane<U>>(~(Lane<U>{1} << (8 * sizeof(Lane<U>) - 1)));
    return __builtin_bit_cast(C, __builtin_bit_cast(U, x) & kMagnitude);
  } else {
    return std::fabs(x);
  }
}

//! sign(x) in the compute type: -1, 0 or 1, and NaN for NaN (as numpy.sign). Branch-free.
template <class C> LOSSGRAD_INLINE C Sign(C x) {
  // x's sign bit on 1.0, masked to +0 where x == ±0: bit operations and one select (NaN), where
  // a select per case costs a blend each (two micro-ops apiece on AVX2). The same on scalars.
  using U = Bits<C>;
  const U sign = __builtin_bit_cast(U, x) & __builtin_bit_cast(U, Splat<C>(-0.0));
  const U nonzero = x != Splat<C>(0.0) ? ~U{} : U{};  // all ones where x != 0 (NaN included)
  const C r = __builtin_bit_cast(C, (sign | __builtin_bit_cast(U, Splat<C>(1.0))) & nonzero);
  return x != x ? x : r;
}

//! x limited to [-m, m] (m >= 0); NaN stays NaN. Branch-free: two selects.
template <class C> LOSSGRAD_INLINE C ClampMagnitude(C x, C m) {
  x = x < -m ? -m : x;
  return x > m ? m : x;
}

//! x, with every NaN replaced by the positive quiet NaN of payload zero. Which operand's NaN an
//! operation returns when several are NaN depends on the instruction order the compiler chose;
//! the core stores every result through this, so NaN results have the same bits on every
//! instruction-set level and path (docs/SPEC.md, "Determinism").
template <class C> LOSSGRAD_INLINE C QuietNaN(C x) {
  return x != x ? Splat<C>(__builtin_nan("")) : x;
}

//! A divisor fixed for a whole call (an attribute), in both lane types. Over(x) is x / d, rounded
//! once as the division is; when d is a power of two whose reciprocal is a normal number of the
//! lane type (beta = 1.0, 0.5, ...), that is exactly x * (1 / d), computed so: a vector division
//! costs many times a multiplication.
class Divisor {
 public:
  explicit Divisor(double d) : d_(d), inv_f_(ExactReciprocal<float>(d)), inv_d_(ExactReciprocal<double>(d)) {}
  double value() const { return d_; }
  template <class C> LOSSGRAD_INLINE C Over(C x) const {
    const Lane<C> inv = Inverse<Lane<C>>();
    return inv != 0 ? x * Splat<C>(inv) : x / Splat<C>(d_);
  }

 private:
  template <class L> static L ExactReciprocal(double d) {
    const L b = static_cast<L>(d);
    int exponent = 0;
    const L r = L(1) / b;
    return std::frexp(b, &exponent) == L(0.5) && std::isnormal(r) ? r : L(0);
  }
  template <class L> LOSSGRAD_INLINE L Inverse() const {
    if constexpr (sizeof(L) == sizeof(float)) {
      return inv_f_;
    } else {
      return inv_d_;
    }
  }
  double d_;
  float inv_f_;
  double inv_d_;
};

}  // namespace lossgrad
