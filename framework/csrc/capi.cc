// The plain C face of the kernel core, loaded with ctypes by framework/cpu.py.
#include <algorithm>
#include <cstring>

#include "lossgrad/core.h"
#include "lossgrad/thread_pool.h"

#define LOSSGRAD_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

// Bumped whenever a signature below or TensorRef's layout changes; cpu.py checks it.
constexpr int kAbiVersion = 1;

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

// Validates and computes one op. Returns 0, or 1 (ValueError) / 2 (TypeError)
// with a message in `err`.
LOSSGRAD_EXPORT int lossgrad_run(int32_t op, int32_t reduction, int32_t ninputs, const lossgrad::TensorRef* inputs,
                                 lossgrad::TensorRef* out, char* err, int64_t errlen) {
  try {
    return Report(lossgrad::Run(op, reduction, ninputs, inputs, out, &lossgrad::DefaultPool()), err, errlen);
  } catch (const std::exception& ex) {  // e.g. std::bad_alloc: never let it cross the C boundary
    return Report({lossgrad::kValueError, ex.what()}, err, errlen);
  }
}

LOSSGRAD_EXPORT int lossgrad_num_threads() { return lossgrad::DefaultPool().num_threads(); }

LOSSGRAD_EXPORT void lossgrad_set_num_threads(int n) { lossgrad::DefaultPool().set_num_threads(n); }

LOSSGRAD_EXPORT int64_t lossgrad_parallel_threshold() { return lossgrad::ParallelThreshold(); }

// The memory-bandwidth floor for the benchmarks: one pass that reads `ninputs`
// buffers of `in_bytes` each and writes `out_bytes`, doing no arithmetic beyond
// an XOR of 64-bit words, split over the same pool and task size as the kernels.
LOSSGRAD_EXPORT void lossgrad_stream_floor(int32_t ninputs, const void* const* inputs, int64_t in_bytes, void* out,
                                           int64_t out_bytes) {
  struct Ctx {
    int32_t n;
    const uint64_t* in[lossgrad::kMaxInputs];
    uint64_t* out;
    int64_t in_words, out_words, grain;
  } ctx{std::min<int32_t>(ninputs, lossgrad::kMaxInputs), {}, static_cast<uint64_t*>(out), in_bytes / 8,
        out_bytes / 8, lossgrad::kTaskElements};
  for (int i = 0; i < ctx.n; ++i) ctx.in[i] = static_cast<const uint64_t*>(inputs[i]);
  const int64_t words = ctx.out_words == 0 ? ctx.in_words : ctx.out_words;
  const int64_t ntasks = (words + ctx.grain - 1) / ctx.grain;
  auto body = [](void* arg, int64_t t) {
    const Ctx& c = *static_cast<const Ctx*>(arg);
    const int64_t lo = t * c.grain;
    if (c.out_words == 0) {  // a reduction: read only
      const int64_t hi = std::min(c.in_words, lo + c.grain);
      uint64_t acc = 0;
      for (int i = 0; i < c.n; ++i)
        for (int64_t j = lo; j < hi; ++j) acc ^= c.in[i][j];
      static_cast<volatile uint64_t*>(c.out)[0] = acc;  // out holds at least one word
      return;
    }
    // Output word j takes input words j * ratio .. (ratio = in/out words, 1 when equal sizes).
    const int64_t ratio = std::max<int64_t>(1, c.in_words / c.out_words);
    const int64_t hi = std::min(c.out_words, lo + c.grain);
    for (int64_t j = lo; j < hi; ++j) {
      uint64_t acc = 0;
      for (int i = 0; i < c.n; ++i)
        for (int64_t r = 0; r < ratio; ++r) acc ^= c.in[i][j * ratio + r];
      c.out[j] = acc;
    }
  };
  if (words >= lossgrad::ParallelThreshold() / 2) {
    lossgrad::DefaultPool().ParallelFor(ntasks, body, &ctx);
  } else {
    for (int64_t t = 0; t < ntasks; ++t) body(&ctx, t);
  }
}
