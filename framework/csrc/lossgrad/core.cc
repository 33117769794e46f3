// The lossgrad kernel core. See core.h for the contract and docs/SPEC.md for the math.
//
// Structure of a call:
//   1. Infer(): validate and compute the broadcast shape B and the output dtype.
//   2. Broadcast every input to B with zero strides, then coalesce dimensions
//      that are contiguous for every operand (a (4,5,6) contiguous tensor with a
//      scalar dout becomes one dimension of 120 with strides 1, 1, 0).
//   3. If the result is one dimension, every input already has the output dtype
//      and each inner stride is 1 or 0, run the fused fast loop of the active
//      instruction-set level (lossgrad/isa.h, lossgrad/kernels_isa.cc: vectors
//      one register wide, half types converted in registers); otherwise run the tiled
//      general loop, which gathers up to kTile elements of each operand (any
//      dtype, any stride) into compute-type buffers, applies the op and stores or
//      accumulates. Both add a reduction's values in the same order (core.h) and
//      store NaN results as the default quiet NaN, so they give the same bits.
//   4. Work above ParallelThreshold() is cut into fixed tasks (kTaskElements for
//      elementwise outputs, ReduceBlocksPerTask blocks of kReduceBlock for
//      reductions) that the executor may run in parallel. Reductions keep one
//      partial per block, summed in block order, so results are bitwise
//      independent of the thread count.
#include "lossgrad/core.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "lossgrad/formula.h"
#include "lossgrad/generated_defs.h"
#include "lossgrad/generated_families.h"
#include "lossgrad/half.h"
#include "lossgrad/isa.h"
#include "op_host/lossgrad_shape.h"  // the one shape module (framework/ascend/op_host, see there)

namespace lossgrad {

static_assert(gen::kMaxRank == kMaxRank, "MAX_RANK differs between definitions.py and core.h");
static_assert(gen::kMaxInputs <= kMaxInputs, "an op of definitions.py has more inputs than core.h's kMaxInputs");
static_assert(gen::kNumDTypes == 4 && gen::kNumReductions == 3, "definitions.py grew: extend the native enums");

// Every op declared in framework/definitions.py has its functor lossgrad::ops::<Name> in a family
// header (framework/csrc/families/*.h, all included by generated_families.h).
namespace ops {
#define LOSSGRAD_DECLARE_FUNCTOR(Name, id, arity, is_loss) struct Name;
LOSSGRAD_FOR_EACH_OP(LOSSGRAD_DECLARE_FUNCTOR)
#undef LOSSGRAD_DECLARE_FUNCTOR
}  // namespace ops

namespace {

template <class T, class = void> struct IsComplete : std::false_type {};
template <class T> struct IsComplete<T, std::void_t<decltype(sizeof(T))>> : std::true_type {};

// Whether F::Apply<float> takes N float arguments.
template <class F, class Seq, class = void> struct TakesArgs : std::false_type {};
template <class F, size_t... I>
struct TakesArgs<F, std::index_sequence<I...>,
                 std::void_t<decltype(std::declval<const F&>().template Apply<float>((static_cast<void>(I), 0.0f)...))>>
    : std::true_type {};

#define LOSSGRAD_CHECK_FUNCTOR(Name, id, arity, is_loss)                                                          \
  static_assert(IsComplete<ops::Name>::value,                                                                     \
                "framework/definitions.py declares the op " #Name " but no C++ family header defines its "       \
                "functor: add struct lossgrad::ops::" #Name " to framework/csrc/families/<family>.h");            \
  static_assert(!IsComplete<ops::Name>::value ||                                                                  \
                    TakesArgs<ops::Name, std::make_index_sequence<(arity) + ((is_loss) ? 0 : 1)>>::value,         \
                "lossgrad::ops::" #Name "::Apply must take the op's " #arity " inputs in their declared order, "  \
                "then the scale s if it is a gradient op (see the headers in framework/csrc/families/)");
LOSSGRAD_FOR_EACH_OP(LOSSGRAD_CHECK_FUNCTOR)
#undef LOSSGRAD_CHECK_FUNCTOR

constexpr bool NativeIdsInOrder() {
  const int ids[] = {
#define LOSSGRAD_ID(Name, id, arity, is_loss) id,
      LOSSGRAD_FOR_EACH_OP(LOSSGRAD_ID)
#undef LOSSGRAD_ID
  };
  for (int i = 0; i < gen::kNumOps; ++i)
    if (ids[i] != i) return false;
  return sizeof(ids) / sizeof(ids[0]) == gen::kNumOps;
}
static_assert(NativeIdsInOrder(), "the native ids of definitions.py must be 0, 1, ... in declaration order");

// ---------------------------------------------------------------------------
// Element types: a storage type T, its compute and accumulation types (ComputeTypes, formula.h)
// and its scalar conversions.
template <class T> struct Elem;
template <> struct Elem<Half> : ComputeTypes<Half> {
  static float Load(Half v) { return HalfToFloat(v); }
  static Half Store(float v) { return FloatToHalf(v); }
};
template <> struct Elem<BFloat16> : ComputeTypes<BFloat16> {
  static float Load(BFloat16 v) { return BFloat16ToFloat(v); }
  static BFloat16 Store(float v) { return FloatToBFloat16(v); }
};
template <> struct Elem<float> : ComputeTypes<float> {
  static float Load(float v) { return v; }
  static float Store(float v) { return v; }
};
template <> struct Elem<double> : ComputeTypes<double> {
  static double Load(double v) { return v; }
  static double Store(double v) { return v; }
};

int64_t ItemSize(int32_t dtype) { return dtype == kFloat64 ? 8 : dtype == kFloat32 ? 4 : 2; }

struct ScaleF {  // ReduceTo's copy path: y = a * s (s = +-1)
  template <class C> static C Apply(C a, C, C, C s) { return a * s; }
};

// ---------------------------------------------------------------------------
// Running tasks on an executor with a typed closure.
template <class Fn> void ParallelTasks(Executor* exec, int64_t ntasks, Fn& fn) {
  auto trampoline = [](void* arg, int64_t task) { (*static_cast<Fn*>(arg))(task); };
  if (exec == nullptr || ntasks <= 1) {
    for (int64_t t = 0; t < ntasks; ++t) fn(t);
  } else {
    exec->ParallelFor(ntasks, trampoline, &fn);
  }
}

// ---------------------------------------------------------------------------
// Geometry after broadcasting and coalescing.
struct Operand {
  const char* base;
  int32_t dtype;
  int64_t itemsize;
  int64_t stride[kMaxRank];  // elements
};
struct Geometry {
  int ndim = 0;  // >= 1 after Coalesce()
  int64_t shape[kMaxRank] = {};
  int nops = 0;
  Operand op[kMaxInputs] = {};
};

// Coalesces the geometry (op_host/lossgrad_shape.h), together with `extra` strides walked alongside
// the operands if given; a single element stays one dimension of size 1.
void Coalesce(Geometry* g, int64_t* extra = nullptr) {
  int64_t* strides[kMaxInputs + 1];
  int n = 0;
  for (int i = 0; i < g->nops; ++i) strides[n++] = g->op[i].stride;
  if (extra != nullptr) strides[n++] = extra;
  g->ndim = shape::Coalesce(g->ndim, g->shape, n, strides);
  if (g->ndim == 0) {
    g->ndim = 1;
    g->shape[0] = 1;
    for (int i = 0; i < n; ++i) strides[i][0] = 0;
  }
}

// The reduction's accumulation (core.h: kLanes, kSubBlock) fed segment by segment (the tiled
// path): lane and sub-block positions are counted from the block start exactly as in the fused
// path (ReduceLoop in lossgrad/kernels_isa.cc), so both add the same values in the same order
// and a strided input reduces to the same bits as its contiguous copy.
template <class C, class A>
struct LaneAccumulator {
  C acc[kLanes] = {};
  A total[kLanes] = {};
  int64_t count = 0;  // elements in the current sub-block

  void Add(const C* v, int64_t n) {
    int64_t j = 0;
    while (j < n) {
      if (count % kLanes != 0 || n - j < kLanes) {
        acc[count % kLanes] += v[j++];
        ++count;
      } else {
        const int64_t take = std::min(kSubBlock - count, n - j) / kLanes * kLanes;
        for (int64_t i = 0; i < take; i += kLanes)
          for (int k = 0; k < kLanes; ++k) acc[k] += v[j + i + k];
        j += take;
        count += take;
      }
      if (count == kSubBlock) Flush();
    }
  }
  void Flush() {
    for (int k = 0; k < kLanes; ++k) {
      total[k] += static_cast<A>(acc[k]);
      acc[k] = C(0);
    }
    count = 0;
  }
  double Finish() {
    if (count != 0) Flush();
    return CombineLanes(total);
  }
};

// ---------------------------------------------------------------------------
// General path: gather segments of each operand into compute-type buffers.
constexpr int64_t kTile = 512;

template <class C, class T>
void GatherTyped(C* dst, const T* src, int64_t stride, int64_t n) {
  using E = Elem<T>;
  if (stride == 1) {
    for (int64_t j = 0; j < n; ++j) dst[j] = static_cast<C>(E::Load(src[j]));
  } else if (stride == 0) {
    const C v = static_cast<C>(E::Load(src[0]));
    for (int64_t j = 0; j < n; ++j) dst[j] = v;
  } else {
    for (int64_t j = 0; j < n; ++j) dst[j] = static_cast<C>(E::Load(src[j * stride]));
  }
}

template <class C>
void Gather(C* dst, const char* src, int32_t dtype, int64_t stride, int64_t n) {
  if constexpr (std::is_same<C, float>::value) {
    if (dtype == kFloat16 && stride == 1) return isa::Kernels().half_to_float(reinterpret_cast<const Half*>(src), dst, n);
  }
  switch (dtype) {
    case kFloat16: GatherTyped(dst, reinterpret_cast<const Half*>(src), stride, n); break;
    case kBFloat16: GatherTyped(dst, reinterpret_cast<const BFloat16*>(src), stride, n); break;
    case kFloat32: GatherTyped(dst, reinterpret_cast<const float*>(src), stride, n); break;
    default: GatherTyped(dst, reinterpret_cast<const double*>(src), stride, n); break;
  }
}

template <class T, class C>
void StoreTyped(T* dst, const C* src, int64_t n) {
  using E = Elem<T>;
  for (int64_t j = 0; j < n; ++j) dst[j] = E::Store(static_cast<typename E::C>(src[j]));
}

template <class C>
void Scatter(char* dst, int32_t dtype, const C* src, int64_t n) {
  if constexpr (std::is_same<C, float>::value) {
    if (dtype == kFloat16) return isa::Kernels().float_to_half(src, reinterpret_cast<Half*>(dst), n);
  }
  switch (dtype) {
    case kFloat16: StoreTyped(reinterpret_cast<Half*>(dst), src, n); break;
    case kBFloat16: StoreTyped(reinterpret_cast<BFloat16*>(dst), src, n); break;
    case kFloat32: StoreTyped(reinterpret_cast<float*>(dst), src, n); break;
    default: StoreTyped(reinterpret_cast<double*>(dst), src, n); break;
  }
}

// Walks the flat output range [lo, hi) of a coalesced geometry in row segments
// of at most kTile elements, calling visit(values, count, flat_position).
template <class C, class F, class Visit>
void WalkTiles(const F& f, const Geometry& g, int64_t lo, int64_t hi, C s, Visit&& visit) {
  const int nd = g.ndim;
  int64_t idx[kMaxRank];
  int64_t off[kMaxInputs] = {0, 0, 0};
  int64_t rem = lo;
  for (int k = nd - 1; k >= 0; --k) {
    idx[k] = rem % g.shape[k];
    rem /= g.shape[k];
    for (int i = 0; i < g.nops; ++i) off[i] += idx[k] * g.op[i].stride[k];
  }
  C buf[kMaxInputs][kTile];
  C res[kTile];
  // The operands F reads; the slots past g.nops (which F ignores) read operand 0, never an uninitialized buffer.
  const C* in[kMaxInputs];
  for (int i = 0; i < kMaxInputs; ++i) in[i] = buf[i < g.nops ? i : 0];
  const int64_t inner = g.shape[nd - 1];
  int64_t pos = lo;
  while (pos < hi) {
    const int64_t seg = std::min({inner - idx[nd - 1], hi - pos, kTile});
    for (int i = 0; i < g.nops; ++i) {
      const Operand& o = g.op[i];
      Gather(buf[i], o.base + off[i] * o.itemsize, o.dtype, o.stride[nd - 1], seg);
    }
    for (int64_t j = 0; j < seg; ++j) res[j] = QuietNaN(f.Apply(in[0][j], in[1][j], in[2][j], s));
    visit(static_cast<const C*>(res), seg, pos);
    pos += seg;
    idx[nd - 1] += seg;
    for (int i = 0; i < g.nops; ++i) off[i] += seg * g.op[i].stride[nd - 1];
    if (idx[nd - 1] == inner && pos < hi) {  // carry into the outer dimensions
      for (int i = 0; i < g.nops; ++i) off[i] -= inner * g.op[i].stride[nd - 1];
      idx[nd - 1] = 0;
      for (int k = nd - 2; k >= 0; --k) {
        ++idx[k];
        for (int i = 0; i < g.nops; ++i) off[i] += g.op[i].stride[k];
        if (idx[k] < g.shape[k]) break;
        for (int i = 0; i < g.nops; ++i) off[i] -= g.shape[k] * g.op[i].stride[k];
        idx[k] = 0;
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Dispatch helpers.
int64_t g_parallel_threshold = [] {
  const char* env = std::getenv("LOSSGRAD_PARALLEL_THRESHOLD");
  if (env != nullptr) {
    char* end = nullptr;
    const long long v = std::strtoll(env, &end, 10);
    if (end != env && v >= 0) return static_cast<int64_t>(v);
  }
  return int64_t{1} << 18;  // measured: below this the wake-up of a second thread costs more than it saves
}();

int64_t NumTasks(int64_t n, int64_t grain) { return n == 0 ? 0 : (n + grain - 1) / grain; }

struct Call {
  int32_t op;
  int32_t reduction;
  const gen::AttrValue* attrs;  // the op's declared attributes, in order (attrs[0] is the reduction)
  int32_t out_dtype;
  int64_t n;        // numel(B)
  double scale;     // s, double precision
  Geometry geo;
  char* out;
  Executor* exec;   // null below the parallel threshold
};

// The fused loops of the active instruction-set level (lossgrad/isa.h, lossgrad/kernels_isa.cc):
// every operand in the output's dtype, contiguous or a broadcast scalar (bit i of the mask).
int ScalarMask(const Geometry& g) {
  return (g.op[0].stride[0] == 0 ? 1 : 0) | (g.op[1].stride[0] == 0 ? 2 : 0) |
         (g.nops < 3 || g.op[2].stride[0] == 0 ? 4 : 0);
}

void ElementwiseFast(const Call& c) {
  const isa::ElementwiseFn kernel = isa::Kernels().elementwise[c.op][c.out_dtype];
  const void* in[kMaxInputs] = {c.geo.op[0].base, c.geo.op[1].base,
                                c.geo.nops > 2 ? c.geo.op[2].base : c.geo.op[0].base};
  const int mask = ScalarMask(c.geo);
  const int64_t n = c.n;
  auto task = [&](int64_t t) {
    const int64_t lo = t * kTaskElements;
    kernel(c.attrs, in, c.out, lo, std::min(n, lo + kTaskElements), mask, c.scale);
  };
  if (c.exec == nullptr) {
    kernel(c.attrs, in, c.out, 0, n, mask, c.scale);
  } else {
    ParallelTasks(c.exec, NumTasks(n, kTaskElements), task);
  }
}

template <class C, class F>
void ElementwiseGeneral(const Call& c, const F& f) {
  const int64_t isz = ItemSize(c.out_dtype);
  auto run = [&](int64_t lo, int64_t hi) {
    WalkTiles<C, F>(f, c.geo, lo, hi, static_cast<C>(c.scale), [&](const C* v, int64_t cnt, int64_t pos) {
      Scatter(c.out + pos * isz, c.out_dtype, v, cnt);
    });
  };
  auto task = [&](int64_t t) {
    const int64_t lo = t * kTaskElements;
    run(lo, std::min(c.n, lo + kTaskElements));
  };
  if (c.exec == nullptr) {
    run(0, c.n);
  } else {
    ParallelTasks(c.exec, NumTasks(c.n, kTaskElements), task);
  }
}

// Reductions: one double partial per kReduceBlock block (inside a block, kLanes accumulators
// of the accumulator type A), blocks summed in order. A task takes ReduceBlocksPerTask
// consecutive blocks (long runs of memory); each block keeps its own partial, so neither the
// task size nor the thread count changes the result.
template <class PerBlock>
double SumOfBlocks(const Call& c, PerBlock&& per_block) {
  const int64_t nblocks = NumTasks(c.n, kReduceBlock);
  const int64_t per_task = ReduceBlocksPerTask(ItemSize(c.out_dtype));
  std::vector<double> partial(static_cast<size_t>(nblocks));
  auto task = [&](int64_t t) {
    const int64_t last = std::min(nblocks, (t + 1) * per_task);
    for (int64_t b = t * per_task; b < last; ++b)
      partial[static_cast<size_t>(b)] = per_block(b * kReduceBlock, std::min(c.n, (b + 1) * kReduceBlock));
  };
  ParallelTasks(c.exec, NumTasks(nblocks, per_task), task);
  double total = 0.0;
  for (double p : partial) total += p;
  return total;
}

double ReduceFast(const Call& c) {
  const isa::ReduceBlockFn block = isa::Kernels().reduce_block[c.op][c.out_dtype];
  const void* in[kMaxInputs] = {c.geo.op[0].base, c.geo.op[1].base, c.geo.op[0].base};
  const int mask = ScalarMask(c.geo) & 3;
  return SumOfBlocks(c, [&](int64_t lo, int64_t hi) { return block(c.attrs, in, lo, hi, mask); });
}

template <class C, class A, class F>
double ReduceGeneral(const Call& c, const F& f) {
  return SumOfBlocks(c, [&](int64_t lo, int64_t hi) {
    LaneAccumulator<C, A> acc;
    WalkTiles<C, F>(f, c.geo, lo, hi, C(0), [&](const C* v, int64_t cnt, int64_t) { acc.Add(v, cnt); });
    return acc.Finish();
  });
}

bool IsFast(const Call& c) {
  if (c.geo.ndim != 1) return false;
  for (int i = 0; i < c.geo.nops; ++i) {
    const Operand& o = c.geo.op[i];
    if (o.dtype != c.out_dtype || (o.stride[0] != 0 && o.stride[0] != 1)) return false;
  }
  return true;
}

template <class T, class F>
void ElementwiseTyped(const Call& c, const F& f) {
  if (IsFast(c)) {
    ElementwiseFast(c);
  } else {
    ElementwiseGeneral<typename Elem<T>::C, F>(c, f);
  }
}

template <class T, class F>
void ReduceTyped(const Call& c, const F& f) {
  using E = Elem<T>;
  const double total = IsFast(c) ? ReduceFast(c) : ReduceGeneral<typename E::C, typename E::A, F>(c, f);
  const double value = QuietNaN(c.reduction == kMean ? total / static_cast<double>(c.n) : total);
  // Half types: the result is an fp32 value rounded once to the storage type.
  *reinterpret_cast<T*>(c.out) = E::Store(static_cast<typename E::C>(value));
}

template <class T, class F, bool kIsLoss>
void RunTyped(const Call& c, const F& f) {
  if constexpr (kIsLoss) {
    if (c.reduction != kNone) return ReduceTyped<T, F>(c, f);
  }
  ElementwiseTyped<T, F>(c, f);
}

template <class F, bool kIsLoss>
void Dispatch(const Call& c) {
  const F f(c.attrs);
  switch (c.out_dtype) {
    case kFloat16: RunTyped<Half, F, kIsLoss>(c, f); break;
    case kBFloat16: RunTyped<BFloat16, F, kIsLoss>(c, f); break;
    case kFloat32: RunTyped<float, F, kIsLoss>(c, f); break;
    case kFloat64: RunTyped<double, F, kIsLoss>(c, f); break;
  }
}

// The kernels of the declared ops, indexed by native id.
using OpKernel = void (*)(const Call&);
constexpr OpKernel kOpKernels[] = {
#define LOSSGRAD_OP_KERNEL(Name, id, arity, is_loss) &Dispatch<Formula<ops::Name, arity, is_loss>, is_loss>,
    LOSSGRAD_FOR_EACH_OP(LOSSGRAD_OP_KERNEL)
#undef LOSSGRAD_OP_KERNEL
};
static_assert(sizeof(kOpKernels) / sizeof(kOpKernels[0]) == gen::kNumOps, "one kernel per declared op");

int32_t Promote(int32_t a, int32_t b) {
  if (a == b) return a;
  const auto rank = [](int32_t d) { return d == kFloat64 ? 2 : d == kFloat32 ? 1 : 0; };
  if (rank(a) == rank(b)) return kFloat32;  // float16 with bfloat16
  return rank(a) > rank(b) ? a : b;
}

}  // namespace

// ---------------------------------------------------------------------------
const char* OpName(int32_t op) { return op >= 0 && op < gen::kNumOps ? gen::kOpNames[op] : "lossgrad"; }
int32_t OpArity(int32_t op) { return op >= 0 && op < gen::kNumOps ? gen::kOpArity[op] : 0; }
const char* DTypeName(int32_t dtype) {
  return dtype >= 0 && dtype < gen::kNumDTypes ? gen::kDTypeNames[dtype] : "unsupported";
}
int64_t ParallelThreshold() { return g_parallel_threshold; }

std::string FormatMessage(const char* tmpl, std::initializer_list<std::pair<const char*, std::string>> fields) {
  std::string out;
  for (const char* p = tmpl; *p != '\0';) {
    if (*p == '{') {
      const char* close = p + 1;
      while (*close != '\0' && *close != '}') ++close;
      if (*close == '}') {
        const std::string key(p + 1, close);
        bool found = false;
        for (const auto& kv : fields) {
          if (key == kv.first) { out += kv.second; found = true; break; }
        }
        if (found) { p = close + 1; continue; }
      }
    }
    out += *p++;
  }
  return out;
}

std::string WithArticle(const std::string& word) {
  const bool vowel = !word.empty() && std::strchr("AEIOUaeiou", word[0]) != nullptr;
  return (vowel ? "an " : "a ") + word;
}

Error ParseReduction(int32_t op, const std::string& name, int32_t* reduction) {
  for (int r = 0; r < gen::kNumReductions; ++r) {
    if (name == gen::kReductionNames[r]) { *reduction = r; return {}; }
  }
  return {kValueError, FormatMessage(gen::kMsgBadReduction, {{"op", OpName(op)}, {"value", "'" + name + "'"}})};
}

static std::string ShapeString(const int64_t* dims, int32_t ndim) {
  char buf[shape::ReprCapacity(kMaxRank)];
  shape::Repr(dims, std::max(0, std::min(ndim, static_cast<int32_t>(kMaxRank))), buf, sizeof(buf));
  return buf;
}

// A double as Python's repr() writes it (shortest round-trip digits; "1.0", "-0.5", "nan", "inf").
static std::string FloatRepr(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  char buf[32];
  for (int digits = 1; digits <= 17; ++digits) {  // the fewest digits that read back as v
    std::snprintf(buf, sizeof buf, "%.*g", digits, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  std::string text(buf);
  if (text.find_first_of(".e") == std::string::npos) text += ".0";
  return text;
}

// The dtype of input `i` as the dtype error names it: the core's name of a
// supported DType, else the face's name of it (`dtype_names`), else its code.
static std::string InputDTypeName(const TensorRef& t, const char* const* dtype_names, int i) {
  if (t.dtype >= 0 && t.dtype < gen::kNumDTypes) return gen::kDTypeNames[t.dtype];
  if (dtype_names != nullptr && dtype_names[i] != nullptr && dtype_names[i][0] != '\0') return dtype_names[i];
  return "unknown (code " + std::to_string(t.dtype) + ")";
}

Error Infer(int32_t op, const AttrValue* attrs, int32_t ninputs, const TensorRef* in, OutInfo* info,
            const char* const* arg_names, const char* const* dtype_names, bool allow_unknown) {
  if (op < 0 || op >= gen::kNumOps)
    return {kValueError, FormatMessage(gen::kMsgUnknownOp, {{"id", std::to_string(op)}})};
  static_assert(gen::kMaxAttrs >= 1, "every op declares reduction first");
  const int64_t reduction64 = attrs[0].i;
  const int32_t reduction = reduction64 < 0 || reduction64 >= gen::kNumReductions ? -1 : static_cast<int32_t>(reduction64);
  const char* name = gen::kOpNames[op];
  const int arity = gen::kOpArity[op];
  const char* const* names = arg_names != nullptr ? arg_names : gen::kOpInputs[op];
  if (ninputs != arity) {
    std::string list;
    for (int i = 0; i < arity; ++i) list += (i ? ", " : "") + std::string(gen::kOpInputs[op][i]);
    return {kTypeError, FormatMessage(gen::kMsgBadArity, {{"op", name}, {"expected", std::to_string(arity)},
                                                         {"names", list}, {"got", std::to_string(ninputs)}})};
  }
  if (reduction < 0)
    return {kValueError, FormatMessage(gen::kMsgBadReduction, {{"op", name}, {"value", std::to_string(reduction64)}})};
  for (int a = 1; a < gen::kOpNumAttrs[op]; ++a) {  // a float attribute: not NaN, not below its minimum
    if (gen::kOpAttrTypes[op][a] == gen::kAttrFloat && !(attrs[a].f >= gen::kOpAttrMinimum[op][a]))
      return {kValueError, FormatMessage(gen::kMsgBadAttributeValue,
                                         {{"op", name}, {"attr", gen::kOpAttrNames[op][a]},
                                          {"requirement", gen::kOpAttrRequirement[op][a]},
                                          {"value", FloatRepr(attrs[a].f)}})};
  }
  int32_t dtype = -1;
  for (int i = 0; i < arity; ++i) {
    if (in[i].dtype < 0 || in[i].dtype >= gen::kNumDTypes)
      return {kTypeError, FormatMessage(gen::kMsgBadDtype, {{"op", name}, {"arg", names[i]},
                                                           {"dtype", InputDTypeName(in[i], dtype_names, i)}})};
    dtype = i == 0 ? in[i].dtype : Promote(dtype, in[i].dtype);
  }
  for (int i = 0; i < arity; ++i) {
    if (in[i].ndim < 0 || in[i].ndim > kMaxRank)
      return {kValueError, FormatMessage(gen::kMsgBadRank, {{"op", name}, {"arg", names[i]}, {"rank", std::to_string(in[i].ndim)}})};
  }
  shape::View views[kMaxInputs];
  for (int i = 0; i < arity; ++i) views[i] = {in[i].shape, in[i].ndim};
  int culprit = 0;
  switch (shape::Broadcast(views, arity, allow_unknown, info->bcast_shape, &info->bcast_ndim, &culprit)) {
    case shape::Status::kOk:
      break;
    case shape::Status::kNegativeDim:
      return {kValueError, FormatMessage(gen::kMsgNegativeDim, {{"op", name}, {"arg", names[culprit]}})};
    case shape::Status::kNotBroadcastable: {
      std::string shapes;
      for (int j = 0; j < arity; ++j)
        shapes += (j ? ", " : "") + std::string(names[j]) + " " + ShapeString(in[j].shape, in[j].ndim);
      return {kValueError, FormatMessage(gen::kMsgNotBroadcastable, {{"op", name}, {"shapes", shapes}})};
    }
  }
  const int32_t nd = info->bcast_ndim;
  bool known = true;
  for (int k = 0; k < nd; ++k) known = known && info->bcast_shape[k] >= 0;
  info->numel = -1;
  if (known && !shape::Numel(info->bcast_shape, nd, &info->numel))
    return {kValueError, FormatMessage(gen::kMsgTooManyElements, {{"op", name}})};
  info->dtype = dtype;
  const bool reduced = gen::kOpIsLoss[op] && reduction != kNone;
  info->ndim = reduced ? 0 : nd;
  for (int k = 0; k < info->ndim; ++k) info->shape[k] = info->bcast_shape[k];
  return {};
}

Error Run(int32_t op, const AttrValue* attrs, int32_t ninputs, const TensorRef* in, TensorRef* out, Executor* exec,
          const char* const* dtype_names) {
  OutInfo info;
  if (Error e = Infer(op, attrs, ninputs, in, &info, nullptr, dtype_names)) return e;
  const auto reduction = static_cast<int32_t>(attrs[0].i);
  bool shape_ok = out->ndim == info.ndim && out->dtype == info.dtype;
  for (int k = 0; shape_ok && k < info.ndim; ++k) shape_ok = out->shape[k] == info.shape[k];
  if (!shape_ok)
    return {kValueError, FormatMessage(gen::kMsgBadOutBuffer, {{"op", OpName(op)}, {"dtype", DTypeName(info.dtype)},
                                                              {"shape", ShapeString(info.shape, info.ndim)}})};
  const bool is_loss = gen::kOpIsLoss[op];
  const bool reduce = is_loss && reduction != kNone;

  Call c;
  c.op = op;
  c.reduction = reduction;
  c.attrs = attrs;
  c.out_dtype = info.dtype;
  c.n = info.numel;
  c.out = static_cast<char*>(out->data);
  c.exec = info.numel >= g_parallel_threshold ? exec : nullptr;
  // s = numerator / N for mean (0.0 when N = 0, as on every face: the output is empty then).
  c.scale = is_loss ? 1.0
                    : (reduction != kMean ? gen::kOpScaleNumerator[op]
                       : info.numel == 0  ? 0.0
                                          : gen::kOpScaleNumerator[op] / static_cast<double>(info.numel));
  if (c.n == 0) {
    if (reduce) {  // sum of nothing is 0; mean of nothing is NaN (as numpy.mean)
      const double v = reduction == kSum ? 0.0 : std::numeric_limits<double>::quiet_NaN();
      Scatter(c.out, c.out_dtype, &v, 1);
    }
    return {};
  }
  // Broadcast every input to B (zero strides), then coalesce.
  Geometry& g = c.geo;
  g.ndim = info.bcast_ndim;
  for (int k = 0; k < g.ndim; ++k) g.shape[k] = info.bcast_shape[k];
  g.nops = ninputs;
  for (int i = 0; i < ninputs; ++i) {
    Operand& o = g.op[i];
    o.base = static_cast<const char*>(in[i].data);
    o.dtype = in[i].dtype;
    o.itemsize = ItemSize(in[i].dtype);
    shape::BroadcastStrides({in[i].shape, in[i].ndim}, in[i].strides, g.ndim, o.stride);
  }
  Coalesce(&g);
  kOpKernels[op](c);
  return {};
}

void DefaultAttrs(int32_t op, int32_t reduction, AttrValue* attrs) {
  for (int a = 0; a < gen::kMaxAttrs; ++a)
    attrs[a] = op >= 0 && op < gen::kNumOps ? gen::kOpAttrDefaults[op][a] : AttrValue{0, 0.0};
  attrs[0] = {reduction, 0.0};
}

// ---------------------------------------------------------------------------
// ReduceTo: one walk of the input in row-major order (WalkTiles), with the
// output's element strides (0 on the reduced axes) coalesced alongside.
namespace {

// No axis is reduced: a converting copy times `scale`, in parallel tasks.
void CopyScaled(const Geometry& g, int64_t n, char* dst, int32_t dtype, double scale, Executor* exec) {
  Call c;
  c.out_dtype = dtype;
  c.n = n;
  c.out = dst;
  c.scale = scale;
  c.attrs = nullptr;
  c.exec = n >= g_parallel_threshold ? exec : nullptr;
  c.geo = g;
  const Operand& src = g.op[0];
  if (scale == 1.0 && src.dtype == dtype && g.ndim == 1 && src.stride[0] == 1) {  // a plain copy
    auto task = [&](int64_t t) {
      const int64_t lo = t * kTaskElements, hi = std::min(n, lo + kTaskElements);
      std::memcpy(dst + lo * src.itemsize, src.base + lo * src.itemsize, static_cast<size_t>((hi - lo) * src.itemsize));
    };
    ParallelTasks(c.exec, NumTasks(n, kTaskElements), task);
  } else if (dtype == kFloat64) {
    ElementwiseGeneral<double, ScaleF>(c, ScaleF{});
  } else {
    ElementwiseGeneral<float, ScaleF>(c, ScaleF{});
  }
}

// Sums the walk into out_n double accumulators (serially: one fixed summation
// order), then stores them times `scale`. `ostride`: the output's element strides.
void SumScaled(const Geometry& g, const int64_t* ostride, int64_t n, int64_t out_n, char* dst, int32_t dtype,
               double scale) {
  std::vector<double> acc(static_cast<size_t>(out_n), 0.0);
  const int nd = g.ndim;
  const int64_t inner = ostride[nd - 1];
  WalkTiles<double, ScaleF>(ScaleF{}, g, 0, n, 1.0, [&](const double* v, int64_t cnt, int64_t pos) {
    int64_t rem = pos, off = 0;  // the output offset of the segment's first element
    for (int k = nd - 1; k >= 0; --k) {
      off += (rem % g.shape[k]) * ostride[k];
      rem /= g.shape[k];
    }
    double* dst_acc = acc.data() + off;
    for (int64_t j = 0; j < cnt; ++j) dst_acc[j * inner] += v[j];
  });
  if (scale != 1.0)
    for (double& v : acc) v *= scale;
  Scatter(dst, dtype, acc.data(), out_n);
}

}  // namespace

Error ReduceTo(const TensorRef& in, TensorRef* out, Executor* exec, double scale) {
  if (in.dtype < 0 || in.dtype >= gen::kNumDTypes || out->dtype < 0 || out->dtype >= gen::kNumDTypes)
    return {kTypeError, FormatMessage(gen::kMsgReduceToDtype, {{"op", "ReduceTo"}, {"dtype", InputDTypeName(in, nullptr, 0)},
                                                              {"target", InputDTypeName(*out, nullptr, 0)}})};
  // `out`'s shape must broadcast to exactly `in`'s.
  bool ok = in.ndim >= 0 && in.ndim <= kMaxRank && out->ndim >= 0 && out->ndim <= in.ndim;
  int64_t bshape[kMaxRank];
  int32_t bnd = 0;
  if (ok) {
    const shape::View views[2] = {{in.shape, in.ndim}, {out->shape, out->ndim}};
    ok = shape::Broadcast(views, 2, false, bshape, &bnd) == shape::Status::kOk && bnd == in.ndim &&
         std::equal(bshape, bshape + bnd, in.shape);
  }
  int64_t n = 0, out_n = 0;
  ok = ok && shape::Numel(in.shape, in.ndim, &n) && shape::Numel(out->shape, out->ndim, &out_n);
  if (!ok)
    return {kValueError, FormatMessage(gen::kMsgCannotReduce, {{"op", "ReduceTo"},
                                                              {"shape", ShapeString(in.shape, in.ndim)},
                                                              {"target", ShapeString(out->shape, out->ndim)}})};
  char* dst = static_cast<char*>(out->data);
  if (out_n == 0) return {};
  if (n == 0) {  // sums of nothing
    const double zero = 0.0;
    for (int64_t j = 0; j < out_n; ++j) Scatter(dst + j * ItemSize(out->dtype), out->dtype, &zero, 1);
    return {};
  }
  Geometry g;
  g.ndim = in.ndim;
  g.nops = 1;
  g.op[0] = {static_cast<const char*>(in.data), in.dtype, ItemSize(in.dtype), {}};
  std::copy(in.shape, in.shape + in.ndim, g.shape);
  std::copy(in.strides, in.strides + in.ndim, g.op[0].stride);
  int64_t dense[kMaxRank], ostride[kMaxRank];
  shape::ContiguousStrides(out->shape, out->ndim, dense);
  shape::BroadcastStrides({out->shape, out->ndim}, dense, in.ndim, ostride);
  Coalesce(&g, ostride);
  if (out_n == n) {
    CopyScaled(g, n, dst, out->dtype, scale, exec);
  } else {
    SumScaled(g, ostride, n, out_n, dst, out->dtype, scale);
  }
  return {};
}

}  // namespace lossgrad
