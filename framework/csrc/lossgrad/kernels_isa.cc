// The fused fast path of the kernel core, compiled once per instruction-set level (lossgrad/isa.h):
// CMakeLists.txt builds this file with LOSSGRAD_ISA_NS = baseline, avx2 or avx512 and that level's
// compiler flags, and the core picks one table when the library loads.
//
// The loops work on one register of the level at a time, as GCC vector types: 16 bytes on the
// baseline (SSE2 xmm; NEON q registers on aarch64), 32 on avx2 (ymm), 64 on avx512 (zmm). Wider generic vectors than the
// hardware's are not an option: GCC lowers their selects (a family's `c ? a : b`, QuietNaN) lane
// by lane with scalar compares, which measured 3-7x slower than the floor on avx2. Half types are
// converted in registers inside the fused pass: with F16C (vcvtph2ps / vcvtps2ph) on the avx2 and
// avx512 levels, by the integer conversions of lossgrad/half.h on the baseline (the same bits:
// half.h follows F16C's NaN rules). bfloat16 uses half.h's integer round-to-nearest-even on every
// level. The family functors are applied to whole vectors (framework/csrc/families/*.h are written
// for scalar and vector compute types alike; lossgrad/math.h), so a family's select is
// computed branch-free on both sides. The tail of a range (< one step) goes through the same
// vector code on a padded copy, so no scalar formula is instantiated here.
//
// Bitwise equality across levels: the build never contracts a*b+c into an FMA
// (-ffp-contract=off), nothing is reassociated, and the reduction adds in the fixed order of
// docs/SPEC.md (kLanes lanes per kSubBlock-element sub-block, then per block; core.h), exactly as the general path's
// LaneAccumulator (lossgrad/core.cc) does.
//
// One-definition safety: everything here is in this level's own namespace with internal linkage;
// the shared templates it instantiates (family functors, half.h, math.h) are force-inlined into
// the `flatten` entry points, so no out-of-line copy built for one level can be linked into
// another's callers.
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "lossgrad/core.h"
#include "lossgrad/formula.h"
#include "lossgrad/half.h"
#include "lossgrad/isa.h"
#include "lossgrad/math.h"

#if defined(LOSSGRAD_ISA_F16C)
#include <immintrin.h>
#endif
#if defined(LOSSGRAD_ISA_AVX512) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
// GCC 12's _mm512_cvtph_ps / _mm512_cvtps_ph pass an _mm*_undefined_*() operand, which its own
// -Wmaybe-uninitialized reports at every use (GCC bug 105593, fixed in GCC 13).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#ifndef LOSSGRAD_ISA_NS
#error "compile kernels_isa.cc with -DLOSSGRAD_ISA_NS=<level> (see CMakeLists.txt)"
#endif

#define LOSSGRAD_ENTRY __attribute__((flatten, noinline))

namespace lossgrad {
namespace isa {
namespace LOSSGRAD_ISA_NS {
namespace {

// A step is one register of the compute type: 4/8/16 floats or 2/4/8 doubles.
#if defined(LOSSGRAD_ISA_AVX512)
constexpr int kVectorBytes = 64;
#elif defined(LOSSGRAD_ISA_F16C)
constexpr int kVectorBytes = 32;
#else
constexpr int kVectorBytes = 16;
#endif
template <class L, int N = kVectorBytes / static_cast<int>(sizeof(L))> struct VecOf {
  typedef L type __attribute__((vector_size(N * sizeof(L))));
};
template <class L, int N = kVectorBytes / static_cast<int>(sizeof(L))> using Vec = typename VecOf<L, N>::type;
using VF = Vec<float>;
using VU32 = Vec<uint32_t>;
using VU16 = Vec<uint16_t, kVectorBytes / 4>;  // the 16-bit patterns of one float step


// 16 bit patterns widened to 32-bit lanes and back (the half-type loads and stores).
LOSSGRAD_INLINE VU32 Widen(const void* p) {
#if defined(LOSSGRAD_ISA_AVX512)
  return __builtin_bit_cast(VU32, _mm512_cvtepu16_epi32(_mm256_loadu_si256(static_cast<const __m256i*>(p))));
#elif defined(LOSSGRAD_ISA_F16C)
  return __builtin_bit_cast(VU32, _mm256_cvtepu16_epi32(_mm_loadu_si128(static_cast<const __m128i*>(p))));
#else
  VU16 raw;
  std::memcpy(&raw, p, sizeof raw);
  return __builtin_convertvector(raw, VU32);
#endif
}
LOSSGRAD_INLINE void Narrow(void* p, VU32 v) {  // every lane holds a value <= 0xffff
#if defined(LOSSGRAD_ISA_AVX512)
  _mm256_storeu_si256(static_cast<__m256i*>(p), _mm512_cvtepi32_epi16(__builtin_bit_cast(__m512i, v)));
#elif defined(LOSSGRAD_ISA_F16C)
  // Packing saturates (values <= 0xffff pass unchanged) within each 128-bit half: [w0-3 w0-3 | w4-7 w4-7];
  // quadwords 0 and 2 are w0-7 in order.
  const __m256i w = __builtin_bit_cast(__m256i, v);
  const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(w, w), 0x08);
  _mm_storeu_si128(static_cast<__m128i*>(p), _mm256_castsi256_si128(packed));
#else
  const VU16 raw = __builtin_convertvector(v, VU16);
  std::memcpy(p, &raw, sizeof raw);
#endif
}

// Storage type T <-> vector of its compute type C; A is the reduction's accumulator type.
template <class T> struct Elem;
template <> struct Elem<float> : ComputeTypes<float> {
  static LOSSGRAD_INLINE VF Load(const float* p) { VF v; std::memcpy(&v, p, sizeof v); return v; }
  static LOSSGRAD_INLINE void Store(float* p, VF v) { std::memcpy(p, &v, sizeof v); }
};
template <> struct Elem<double> : ComputeTypes<double> {
  using V = Vec<double>;
  static LOSSGRAD_INLINE V Load(const double* p) { V v; std::memcpy(&v, p, sizeof v); return v; }
  static LOSSGRAD_INLINE void Store(double* p, V v) { std::memcpy(p, &v, sizeof v); }
};
// bfloat16 is only ever stored as a result: StoreResult below.
template <> struct Elem<BFloat16> : ComputeTypes<BFloat16> {
  static LOSSGRAD_INLINE VF Load(const BFloat16* p) { return BFloat16BitsToFloat<VU32, VF>(Widen(p)); }
};
template <> struct Elem<Half> : ComputeTypes<Half> {
  static LOSSGRAD_INLINE VF Load(const Half* p) {
#if defined(LOSSGRAD_ISA_AVX512)
    return __builtin_bit_cast(VF, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))));
#elif defined(LOSSGRAD_ISA_F16C)
    return __builtin_bit_cast(VF, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
#else
    return HalfBitsToFloat<VU32, VF>(Widen(p));
#endif
  }
  static LOSSGRAD_INLINE void Store(Half* p, VF v) {
#if defined(LOSSGRAD_ISA_F16C)
    constexpr int kRound = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
#endif
#if defined(LOSSGRAD_ISA_AVX512)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm512_cvtps_ph(__builtin_bit_cast(__m512, v), kRound));
#elif defined(LOSSGRAD_ISA_F16C)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_cvtps_ph(__builtin_bit_cast(__m256, v), kRound));
#else
    Narrow(p, FloatToHalfBits<VU32>(v));
#endif
  }
};
template <class T> using VecC = Vec<typename Elem<T>::C>;
template <class T> constexpr int kStep = kVectorBytes / static_cast<int>(sizeof(typename Elem<T>::C));

// Stores a result of an op: every NaN as the positive quiet NaN of payload zero (QuietNaN,
// lossgrad/math.h). bfloat16's narrowing already tests for NaN, so it does both in one select.
template <class T> LOSSGRAD_INLINE void StoreResult(T* p, VecC<T> v) {
  if constexpr (std::is_same<T, BFloat16>::value) {
    Narrow(p, FloatToBFloat16BitsQuiet<VU32>(v));
  } else {
    Elem<T>::Store(p, QuietNaN(v));
  }
}

// Software prefetch a fixed distance ahead of a streamed input: the loops do enough work per
// byte (half conversions, selects) that the hardware prefetchers alone leave a single core
// short of memory bandwidth (measured: the float16 loss with the most work per element, at
// 5e7 elements on 2 threads, 9.7 -> 6.4 ms).
// Prefetching past the end of an array is harmless (a hint, never a fault).
constexpr int64_t kPrefetchBytes = 2048;
template <class T> LOSSGRAD_INLINE void Prefetch(const T* p) {
  __builtin_prefetch(reinterpret_cast<const char*>(p) + kPrefetchBytes);
}

// Operand access: a contiguous input at element i, a broadcast scalar, or a padded tail copy.
template <class T> LOSSGRAD_INLINE VecC<T> LoadScalar(const T* p) {
  T block[kStep<T>];
  for (int k = 0; k < kStep<T>; ++k) block[k] = p[0];
  return Elem<T>::Load(block);
}
template <class T> LOSSGRAD_INLINE VecC<T> LoadPartial(const T* p, int64_t n) {
  T block[kStep<T>] = {};
  std::memcpy(block, p, static_cast<size_t>(n) * sizeof(T));
  return Elem<T>::Load(block);
}

template <class T, class Fm, bool S0, bool S1, bool S2>
LOSSGRAD_INLINE void ElementwiseLoop(const Fm& f, const T* a, const T* b, const T* c, T* y, int64_t lo, int64_t hi,
                                     double scale) {
  using E = Elem<T>;
  using V = VecC<T>;
  const V s = Splat<V>(static_cast<typename E::C>(scale));
  const V a0 = S0 ? LoadScalar(a) : V{}, b0 = S1 ? LoadScalar(b) : V{}, c0 = S2 ? LoadScalar(c) : V{};
  constexpr int kW = kStep<T>;
  int64_t i = lo;
  for (; i + kW <= hi; i += kW) {
    if (!S0) Prefetch(a + i);
    if (!S1) Prefetch(b + i);
    if (!S2) Prefetch(c + i);
    StoreResult(y + i, f.Apply(S0 ? a0 : E::Load(a + i), S1 ? b0 : E::Load(b + i), S2 ? c0 : E::Load(c + i), s));
  }
  if (i < hi) {
    const int64_t n = hi - i;
    const V va = S0 ? a0 : LoadPartial(a + i, n), vb = S1 ? b0 : LoadPartial(b + i, n);
    const V vc = S2 ? c0 : LoadPartial(c + i, n);
    T block[kW];
    StoreResult(block, f.Apply(va, vb, vc, s));
    std::memcpy(y + i, block, static_cast<size_t>(n) * sizeof(T));
  }
}

template <class T, class Fm>
LOSSGRAD_ENTRY void ElementwiseEntry(const gen::AttrValue* attrs, const void* const* in, void* out, int64_t lo,
                                     int64_t hi, int mask, double scale) {
  const Fm f(attrs);
  const T* a = static_cast<const T*>(in[0]);
  const T* b = static_cast<const T*>(in[1]);
  const T* c = static_cast<const T*>(in[2]);
  T* y = static_cast<T*>(out);
  switch (mask & 7) {
    case 0: return ElementwiseLoop<T, Fm, false, false, false>(f, a, b, c, y, lo, hi, scale);
    case 1: return ElementwiseLoop<T, Fm, true, false, false>(f, a, b, c, y, lo, hi, scale);
    case 2: return ElementwiseLoop<T, Fm, false, true, false>(f, a, b, c, y, lo, hi, scale);
    case 3: return ElementwiseLoop<T, Fm, true, true, false>(f, a, b, c, y, lo, hi, scale);
    case 4: return ElementwiseLoop<T, Fm, false, false, true>(f, a, b, c, y, lo, hi, scale);
    case 5: return ElementwiseLoop<T, Fm, true, false, true>(f, a, b, c, y, lo, hi, scale);
    case 6: return ElementwiseLoop<T, Fm, false, true, true>(f, a, b, c, y, lo, hi, scale);
    default: return ElementwiseLoop<T, Fm, true, true, true>(f, a, b, c, y, lo, hi, scale);
  }
}

// Reduction of a loss over one block, in the order of core.h: element i of a sub-block into lane
// i % kLanes of the compute type, each sub-block's lanes folded into kLanes lanes of A, the
// lanes combined by CombineLanes (as LaneAccumulator in core.cc). A row of kLanes elements is
// kLanes / kW steps, each adding into its own vector of lanes: independent chains.
template <class T, class Fm, bool S0, bool S1>
LOSSGRAD_INLINE double ReduceLoop(const Fm& f, const T* a, const T* b, int64_t lo, int64_t hi) {
  using E = Elem<T>;
  using A = typename E::A;
  using V = VecC<T>;
  constexpr int kW = kStep<T>;
  constexpr int kRow = kLanes / kW;  // steps per row of lanes
  static_assert(kLanes % kW == 0, "a row of lanes is whole steps");
  using VA = Vec<A, kW>;  // one step's lanes in the accumulation type
  const V zero = Splat<V>(0.0);  // the unused third operand and the scale
  const V a0 = S0 ? LoadScalar(a) : V{}, b0 = S1 ? LoadScalar(b) : V{};
  auto value = [&](int64_t i) { return f.Apply(S0 ? a0 : E::Load(a + i), S1 ? b0 : E::Load(b + i), zero, zero); };
  VA total[kRow] = {};
  for (int64_t start = lo; start < hi; start += kSubBlock) {
    const int64_t end = hi - start < kSubBlock ? hi : start + kSubBlock;
    V acc[kRow] = {};
    int64_t i = start;
    for (; i + kLanes <= end; i += kLanes) {
      for (int g = 0; g < kRow; ++g) {
        if (!S0) Prefetch(a + i + g * kW);
        if (!S1) Prefetch(b + i + g * kW);
        acc[g] += value(i + g * kW);
      }
    }
    // The last partial row: lanes past the data add -0.0, which leaves every sum (even -0.0) as it is.
    using U = Bits<V>;
    U lane;
    for (int k = 0; k < kW; ++k) lane[k] = static_cast<Lane<U>>(k);
    for (int g = 0; g < kRow && i < end; ++g, i += kW) {
      const int64_t n = end - i;
      const V v = f.Apply(S0 ? a0 : LoadPartial(a + i, n < kW ? n : kW), S1 ? b0 : LoadPartial(b + i, n < kW ? n : kW),
                          zero, zero);
      acc[g] += lane < static_cast<Lane<U>>(n) ? v : Splat<V>(-0.0);
    }
    for (int g = 0; g < kRow; ++g) total[g] += __builtin_convertvector(acc[g], VA);
  }
  A lanes[kLanes];
  std::memcpy(lanes, total, sizeof lanes);
  return CombineLanes(lanes);
}

template <class T, class Fm>
LOSSGRAD_ENTRY double ReduceEntry(const gen::AttrValue* attrs, const void* const* in, int64_t lo, int64_t hi,
                                  int mask) {
  const Fm f(attrs);
  const T* a = static_cast<const T*>(in[0]);
  const T* b = static_cast<const T*>(in[1]);
  switch (mask & 3) {
    case 0: return ReduceLoop<T, Fm, false, false>(f, a, b, lo, hi);
    case 1: return ReduceLoop<T, Fm, true, false>(f, a, b, lo, hi);
    case 2: return ReduceLoop<T, Fm, false, true>(f, a, b, lo, hi);
    default: return ReduceLoop<T, Fm, true, true>(f, a, b, lo, hi);
  }
}

// Bulk conversions for the general path's gathers and stores (lossgrad/core.cc): From -> To, both
// of compute type float (float16 <-> float32).
template <class From, class To>
LOSSGRAD_INLINE void ConvertN(const From* src, To* dst, int64_t n) {
  static_assert(kStep<From> == kStep<To>, "both sides step alike");
  constexpr int kW = kStep<From>;
  int64_t i = 0;
  for (; i + kW <= n; i += kW) Elem<To>::Store(dst + i, Elem<From>::Load(src + i));
  if (i < n) {
    To block[kW];
    Elem<To>::Store(block, LoadPartial(src + i, n - i));
    std::memcpy(dst + i, block, static_cast<size_t>(n - i) * sizeof(To));
  }
}
LOSSGRAD_ENTRY void HalfToFloatN(const Half* src, float* dst, int64_t n) { ConvertN(src, dst, n); }
LOSSGRAD_ENTRY void FloatToHalfN(const float* src, Half* dst, int64_t n) { ConvertN(src, dst, n); }

template <class Fm, bool kIsLoss>
void FillOp(KernelTable& t, int id) {
  t.elementwise[id][kFloat16] = &ElementwiseEntry<Half, Fm>;
  t.elementwise[id][kBFloat16] = &ElementwiseEntry<BFloat16, Fm>;
  t.elementwise[id][kFloat32] = &ElementwiseEntry<float, Fm>;
  t.elementwise[id][kFloat64] = &ElementwiseEntry<double, Fm>;
  if constexpr (kIsLoss) {
    t.reduce_block[id][kFloat16] = &ReduceEntry<Half, Fm>;
    t.reduce_block[id][kBFloat16] = &ReduceEntry<BFloat16, Fm>;
    t.reduce_block[id][kFloat32] = &ReduceEntry<float, Fm>;
    t.reduce_block[id][kFloat64] = &ReduceEntry<double, Fm>;
  }
}

KernelTable MakeTable() {
  KernelTable t{};
#define LOSSGRAD_FILL_OP(Name, id, arity, is_loss) FillOp<Formula<ops::Name, arity, is_loss>, is_loss>(t, id);
  LOSSGRAD_FOR_EACH_OP(LOSSGRAD_FILL_OP)
#undef LOSSGRAD_FILL_OP
  t.half_to_float = &HalfToFloatN;
  t.float_to_half = &FloatToHalfN;
  return t;
}

}  // namespace

const KernelTable* Table() {
  static const KernelTable table = MakeTable();
  return &table;
}

}  // namespace LOSSGRAD_ISA_NS
}  // namespace isa
}  // namespace lossgrad
