// The plain C face of the kernel core, loaded with ctypes by framework/cpu.py.
#include <algorithm>
#include <cstring>
#include <string>

#include "lossgrad/core.h"
#include "lossgrad/generated_defs.h"
#include "lossgrad/isa.h"
#include "lossgrad/thread_pool.h"

#define LOSSGRAD_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

// Bumped whenever a signature below or TensorRef's layout changes; cpu.py checks it.
// 3: lossgrad_num_ops / lossgrad_op_name (the op table the library was built with).
// 4: lossgrad_run[_named] take the op's declared attribute values (lossgrad::AttrValue[]) instead of
//    the reduction alone; lossgrad_num_attrs / lossgrad_attr_name / lossgrad_attr_type.
// 5: lossgrad_run_direct (the small-call path of cpu.py: cached geometry, data pointers as arguments).
// 6: lossgrad_isa / lossgrad_isa_name / lossgrad_isa_available / lossgrad_isa_note (lossgrad/isa.h).
constexpr int kAbiVersion = 6;

// Error kind of a resource failure (a thread that could not be started): a RuntimeError.
constexpr int kRuntimeError = 3;

int Report(const lossgrad::Error& e, char* err, int64_t errlen) {
  if (e && err != nullptr && errlen > 0) {
    const size_t n = std::min(static_cast<size_t>(errlen - 1), e.message.size());
    std::memcpy(err, e.message.data(), n);
    err[n] = '\0';
  }
  return e.kind;
}

}  // namespace

LOSSGRAD_EXPORT int lossgrad_abi_version() { return kAbiVersion; }

// The ops the library was built with (framework/definitions.py at build time), by native id:
// cpu.py compares them with the Python declarations, so a library built before an op was
// declared or renumbered is reported as stale instead of running the wrong kernel.
LOSSGRAD_EXPORT int32_t lossgrad_num_ops() { return lossgrad::gen::kNumOps; }
LOSSGRAD_EXPORT const char* lossgrad_op_name(int32_t op) {
  return op >= 0 && op < lossgrad::gen::kNumOps ? lossgrad::gen::kOpNames[op] : nullptr;
}

// The declared attributes the library was built with (cpu.py compares them too), in order.
LOSSGRAD_EXPORT int32_t lossgrad_num_attrs(int32_t op) {
  return op >= 0 && op < lossgrad::gen::kNumOps ? lossgrad::gen::kOpNumAttrs[op] : 0;
}
LOSSGRAD_EXPORT const char* lossgrad_attr_name(int32_t op, int32_t i) {
  return i >= 0 && i < lossgrad_num_attrs(op) ? lossgrad::gen::kOpAttrNames[op][i] : nullptr;
}
LOSSGRAD_EXPORT int32_t lossgrad_attr_type(int32_t op, int32_t i) {
  return i >= 0 && i < lossgrad_num_attrs(op) ? lossgrad::gen::kOpAttrTypes[op][i] : -1;
}

// Validates and computes one op. `attrs` holds the op's lossgrad_num_attrs(op) values in declared
// order (the reduction first, as its index among the reductions). Returns 0, or 1 (ValueError) / 2 (TypeError)
// with a message in `err`.
LOSSGRAD_EXPORT int lossgrad_run(int32_t op, const lossgrad::AttrValue* attrs, int32_t ninputs,
                                 const lossgrad::TensorRef* inputs, lossgrad::TensorRef* out, char* err, int64_t errlen) {
  if (attrs == nullptr) return Report({lossgrad::kValueError, "lossgrad_run: attrs must not be null"}, err, errlen);
  try {
    return Report(lossgrad::Run(op, attrs, ninputs, inputs, out, &lossgrad::DefaultPool()), err, errlen);
  } catch (const std::exception& ex) {  // e.g. std::bad_alloc: never let it cross the C boundary
    return Report({lossgrad::kValueError, ex.what()}, err, errlen);
  }
}

// The small-call path of cpu.py: as lossgrad_run, but the caller passes the geometry it validated
// once and cached (`geometry`: `ninputs` TensorRefs whose data pointers are ignored, then the
// output's), and the data pointers of this call as plain arguments (`in0`..`in2`, unused ones
// null; `out_data`), so that a call builds no ctypes structure. The geometry is only read (callers
// share it between threads); the data pointers go into copies on this stack. Below the parallel
// threshold Run() computes inline on the calling thread, never touching the pool. `err` may be
// null (the caller then redoes the call on the full path to get the message).
LOSSGRAD_EXPORT int lossgrad_run_direct(int32_t op, const lossgrad::AttrValue* attrs, int32_t ninputs,
                                        const lossgrad::TensorRef* geometry, const void* in0, const void* in1,
                                        const void* in2, void* out_data, char* err, int64_t errlen) {
  if (attrs == nullptr || geometry == nullptr)
    return Report({lossgrad::kValueError, "lossgrad_run_direct: attrs and geometry must not be null"}, err, errlen);
  if (ninputs < 0 || ninputs > lossgrad::kMaxInputs)
    return Report({lossgrad::kValueError, "lossgrad_run_direct: at most " + std::to_string(lossgrad::kMaxInputs) +
                                              " inputs"}, err, errlen);
  try {
    static_assert(lossgrad::kMaxInputs == 3, "lossgrad_run_direct takes one data pointer per possible input");
    lossgrad::TensorRef in[lossgrad::kMaxInputs];
    const void* data[lossgrad::kMaxInputs] = {in0, in1, in2};
    for (int32_t i = 0; i < ninputs; ++i) {
      in[i] = geometry[i];
      in[i].data = const_cast<void*>(data[i]);  // the core only reads inputs
    }
    lossgrad::TensorRef out = geometry[ninputs];
    out.data = out_data;
    return Report(lossgrad::Run(op, attrs, ninputs, in, &out, &lossgrad::DefaultPool()), err, errlen);
  } catch (const std::exception& ex) {
    return Report({lossgrad::kValueError, ex.what()}, err, errlen);
  }
}

// As lossgrad_run, with the caller's own name of each input's dtype (`dtype_names`:
// `ninputs` entries, each may be null), which the dtype error names when an input's
// dtype is not a supported DType (-1: a dtype the caller could not map).
LOSSGRAD_EXPORT int lossgrad_run_named(int32_t op, const lossgrad::AttrValue* attrs, int32_t ninputs,
                                       const lossgrad::TensorRef* inputs, const char* const* dtype_names,
                                       lossgrad::TensorRef* out, char* err, int64_t errlen) {
  if (attrs == nullptr) return Report({lossgrad::kValueError, "lossgrad_run: attrs must not be null"}, err, errlen);
  try {
    return Report(lossgrad::Run(op, attrs, ninputs, inputs, out, &lossgrad::DefaultPool(), dtype_names), err,
                  errlen);
  } catch (const std::exception& ex) {
    return Report({lossgrad::kValueError, ex.what()}, err, errlen);
  }
}

// Threads of the default pool, the caller included. Never throws (nor do the two below).
LOSSGRAD_EXPORT int64_t lossgrad_num_threads() { return lossgrad::DefaultPool().num_threads(); }

LOSSGRAD_EXPORT int64_t lossgrad_max_threads() { return lossgrad::kMaxThreads; }

// Resizes the default pool to `n` threads. Returns 0, or 1 (ValueError: `n` is not in
// 1..lossgrad_max_threads()) / 3 (RuntimeError: the system would not start that many
// threads; the pool keeps its previous size) with a message in `err`.
LOSSGRAD_EXPORT int lossgrad_set_num_threads(int64_t n, char* err, int64_t errlen) {
  std::string error;
  if (lossgrad::DefaultPool().set_num_threads(n, &error)) return 0;
  const int kind = n < 1 || n > lossgrad::kMaxThreads ? lossgrad::kValueError : kRuntimeError;
  lossgrad::Error e;
  e.kind = kind;
  e.message.swap(error);  // no copy: nothing here can throw
  return Report(e, err, errlen);
}

// Copies into `note` what went wrong when the default pool started (an invalid
// LOSSGRAD_NUM_THREADS, fewer threads than asked for) and returns its length; 0 if
// nothing did. Starts the pool if it was not running yet.
LOSSGRAD_EXPORT int64_t lossgrad_pool_note(char* note, int64_t len) {
  const char* text = lossgrad::DefaultPoolNote();
  const size_t n = std::strlen(text);
  if (note != nullptr && len > 0) {
    const size_t k = std::min(static_cast<size_t>(len - 1), n);
    std::memcpy(note, text, k);
    note[k] = '\0';
  }
  return static_cast<int64_t>(n);
}

LOSSGRAD_EXPORT int64_t lossgrad_parallel_threshold() { return lossgrad::ParallelThreshold(); }

// The memory-bandwidth floor for the benchmarks: one pass that reads `ninputs`
// contiguous buffers of `in_bytes` each and writes `out_bytes` (equal to
// `in_bytes`, or 0 for a read-only pass), doing nothing but an XOR of 64-bit
// words, split over the same pool and task size as the kernels.
namespace {
struct FloorCtx {
  int32_t n;
  const uint64_t* in[lossgrad::kMaxInputs];
  uint64_t* out;  // null: read only
  int64_t words;
  uint64_t sink[1024];
};

template <int N>
void FloorRange(const uint64_t* const* in, uint64_t* __restrict out, int64_t lo, int64_t hi, uint64_t* sink) {
  const uint64_t* __restrict a = in[0];
  const uint64_t* __restrict b = N > 1 ? in[1] : in[0];
  const uint64_t* __restrict c = N > 2 ? in[2] : in[0];
  // Cache lines of 8 words, each input prefetched 2 KB ahead as the kernels do (kernels_isa.cc):
  // the floor is the best pass over these bytes, not one the kernels can beat.
  constexpr int64_t kLine = 8, kAhead = 2048 / 8;
  uint64_t acc = 0;
  auto word = [&](int64_t k) {
    const uint64_t v = a[k] ^ (N > 1 ? b[k] : 0) ^ (N > 2 ? c[k] : 0);
    if (out != nullptr) out[k] = v; else acc ^= v;
  };
  int64_t j = lo;
  for (; j + kLine <= hi; j += kLine) {
    __builtin_prefetch(a + j + kAhead);
    if (N > 1) __builtin_prefetch(b + j + kAhead);
    if (N > 2) __builtin_prefetch(c + j + kAhead);
    for (int64_t k = j; k < j + kLine; ++k) word(k);
  }
  for (; j < hi; ++j) word(j);
  *sink ^= acc;
}

void FloorTask(void* arg, int64_t t) {
  FloorCtx& c = *static_cast<FloorCtx*>(arg);
  const int64_t grain = lossgrad::kTaskElements;
  const int64_t lo = t * grain, hi = std::min(c.words, lo + grain);
  uint64_t* sink = &c.sink[t % 1024];
  if (c.n == 1) FloorRange<1>(c.in, c.out, lo, hi, sink);
  else if (c.n == 2) FloorRange<2>(c.in, c.out, lo, hi, sink);
  else FloorRange<3>(c.in, c.out, lo, hi, sink);
}
}  // namespace

LOSSGRAD_EXPORT void lossgrad_stream_floor(int32_t ninputs, const void* const* inputs, int64_t in_bytes, void* out,
                                           int64_t out_bytes) {
  FloorCtx ctx{};
  ctx.n = std::max(1, std::min<int32_t>(ninputs, lossgrad::kMaxInputs));
  for (int i = 0; i < ctx.n; ++i) ctx.in[i] = static_cast<const uint64_t*>(inputs[i]);
  ctx.out = out_bytes >= in_bytes ? static_cast<uint64_t*>(out) : nullptr;  // else read only
  ctx.words = in_bytes / 8;
  const int64_t ntasks = (ctx.words + lossgrad::kTaskElements - 1) / lossgrad::kTaskElements;
  // Same threshold as the kernels, counted in elements of the narrowest dtype we report against.
  if (ctx.words * 2 >= lossgrad::ParallelThreshold()) {
    lossgrad::DefaultPool().ParallelFor(ntasks, FloorTask, &ctx);
  } else {
    for (int64_t t = 0; t < ntasks; ++t) FloorTask(&ctx, t);
  }
  if (ctx.out == nullptr && out != nullptr && out_bytes >= 8) {
    uint64_t acc = 0;
    for (uint64_t v : ctx.sink) acc ^= v;
    *static_cast<uint64_t*>(out) = acc;
  }
}

// The instruction-set level of the fused loops (lossgrad/isa.h): the active one, a level's name
// (null past the last), whether this machine and build run a level, and why the active level is
// not the one LOSSGRAD_ISA asked for ("" if it is).
LOSSGRAD_EXPORT int32_t lossgrad_isa() { return lossgrad::isa::Active(); }
LOSSGRAD_EXPORT const char* lossgrad_isa_name(int32_t level) {
  return level >= 0 && level < lossgrad::isa::kNumLevels ? lossgrad::isa::Name(level) : nullptr;
}
LOSSGRAD_EXPORT int32_t lossgrad_isa_available(int32_t level) { return lossgrad::isa::Available(level) ? 1 : 0; }
LOSSGRAD_EXPORT const char* lossgrad_isa_note() { return lossgrad::isa::Note(); }

// Sums `in` to `out`'s shape (the reduce_to of the gradient formulas). 0, or 1/2 with a message.
LOSSGRAD_EXPORT int lossgrad_reduce_to(const lossgrad::TensorRef* in, lossgrad::TensorRef* out, double scale,
                                       char* err, int64_t errlen) {
  try {
    return Report(lossgrad::ReduceTo(*in, out, &lossgrad::DefaultPool(), scale), err, errlen);
  } catch (const std::exception& ex) {
    return Report({lossgrad::kValueError, ex.what()}, err, errlen);
  }
}
