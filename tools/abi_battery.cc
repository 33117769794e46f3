// A deterministic battery over the plain C ABI of the native library (_lossgrad_native.so), for
// comparing result bits across machines (tools/check_aarch64.sh: x86_64 vs aarch64 under qemu),
// instruction-set levels (LOSSGRAD_ISA) and thread counts (LOSSGRAD_NUM_THREADS).
//
//   abi_battery LIBRARY            one line per case on stdout: the case, the return code, an
//                                  FNV-1a 64 digest of the output bytes; a summary line last
//   abi_battery LIBRARY --dump K   the output of case K, one element per line (bits in hex)
//
// Every input is made from integer operations only (a splitmix64 stream seeded by the case
// number), so the battery's inputs do not depend on the host's floating point. What the library
// reports (ISA level, threads) goes to stderr, so stdout is comparable between runs as it is.
// Exit status: 0, or 1 if a call failed, a NaN result was not the canonical quiet NaN of
// docs/SPEC.md ("Determinism"), or lossgrad_run_direct disagreed with lossgrad_run.
//
// The ops, their arities, kinds and attributes come from the generated op table (the battery is
// built against the same checkout as the library: -I framework/csrc -I <build>/generated); every
// float attribute takes each of kFloatAttrValues in turn, every other attribute its default.
#include <dlfcn.h>

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "lossgrad/core.h"

namespace {

using lossgrad::TensorRef;
using lossgrad::gen::AttrValue;
namespace gen = lossgrad::gen;

using RunFn = int (*)(int32_t, const AttrValue*, int32_t, const TensorRef*, TensorRef*, char*, int64_t);
using RunDirectFn = int (*)(int32_t, const AttrValue*, int32_t, const TensorRef*, const void*, const void*,
                            const void*, void*, char*, int64_t);

struct Lib {
  RunFn run;
  RunDirectFn run_direct;
};

// The binary formats of the dtypes, in lossgrad::DType order (float16, bfloat16, float32, float64).
struct Format {
  int bytes, exp_bits, mant_bits;
};
static_assert(gen::kNumDTypes == 4, "a format per dtype");
constexpr Format kFormats[gen::kNumDTypes] = {{2, 5, 10}, {2, 8, 7}, {4, 8, 23}, {8, 11, 52}};

// The values every float attribute takes in turn: the minimum of a nonnegative attribute, a value
// with an inexact reciprocal (a true division), one (a multiplication), infinity.
const double kFloatAttrValues[] = {0.0, 0.375, 1.0, std::numeric_limits<double>::infinity()};
const char* const kFloatAttrNames[] = {"0", "0.375", "1", "inf"};
constexpr int kNumFloatSettings = sizeof kFloatAttrValues / sizeof kFloatAttrValues[0];

bool HasFloatAttr(int op) {
  for (int a = 1; a < gen::kOpNumAttrs[op]; ++a)
    if (gen::kOpAttrTypes[op][a] == gen::kAttrFloat) return true;
  return false;
}

// plain/special: contiguous (the fused path); scalar: one input a 0-d scalar (fused, broadcast);
// strided: input 0 with stride 2, the last with stride -1; rows: (r, c) with input 1 of shape (c,);
// mixed: inputs of different dtypes (promotion): these three take the general (tiled) path.
// sparse: contiguous, inputs equal but at every 32nd element, so that a loss's sum is the one
// reduction lane that has them: the lanes' rounding shows in the result (an FMA contraction does).
enum Variant { kPlain, kSpecial, kScalar, kStrided, kRows, kMixed, kSparse, kNumVariants };
constexpr const char* kVariantNames[kNumVariants] = {"plain",  "special", "scalar", "strided",
                                                     "rows",   "mixed",   "sparse"};
// 64 and 255: a few additions per reduction lane and a small total, where a fused multiply-add (an FMA
// contraction of d * d + acc) shows in the result; 300000: above the parallel threshold.
constexpr int64_t kSizes[] = {1, 7, 33, 64, 255, 1000, 70000, 300000};

uint64_t SplitMix(uint64_t* s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// A random element's bits: mostly moderate normal numbers, with `special` (of 256) edge values.
uint64_t RandomBits(const Format& f, uint64_t* rng, int special) {
  const uint64_t r = SplitMix(rng), pick = SplitMix(rng);  // the bits; the kind and exponent
  const int bias = (1 << (f.exp_bits - 1)) - 1, max_exp = (1 << f.exp_bits) - 1;
  const uint64_t mant_mask = (uint64_t{1} << f.mant_bits) - 1;
  const uint64_t sign = (r >> 63) << (f.exp_bits + f.mant_bits);
  const uint64_t mant = r & mant_mask;
  auto make = [&](uint64_t e, uint64_t m) { return sign | (e << f.mant_bits) | (m & mant_mask); };
  const uint64_t quiet = uint64_t{1} << (f.mant_bits - 1);
  const uint64_t low = pick >> 16;
  if (static_cast<int>(pick & 255) < special) {
    switch ((pick >> 8) % 10) {
      case 0: return sign;                                     // +-0
      case 1: return make(max_exp, 0);                         // +-inf
      case 2: return make(max_exp, quiet | mant);              // quiet NaN with a payload
      case 3: return make(max_exp, (mant & (quiet - 1)) | 1);  // signalling NaN
      case 4: return make(0, mant | 1);                        // subnormal
      case 5: return make(max_exp - 1, mant);                  // near the largest finite
      case 6: return make(1 + low % 3, mant);                  // smallest normals
      case 7: return make(bias + 1 + low % (bias - 1), mant);  // large
      case 8: return make(bias - 1, 0);                        // +-0.5
      default: return make(bias, mant & 1);                    // +-1 and its neighbour
    }
  }
  return make(static_cast<uint64_t>(bias - 6) + low % 9, mant);  // [2^-6, 8)
}

void Put(std::vector<uint8_t>& buf, int64_t i, int bytes, uint64_t bits) {
  std::memcpy(buf.data() + i * bytes, &bits, static_cast<size_t>(bytes));  // little-endian hosts
}
uint64_t Get(const uint8_t* p, int bytes) {
  uint64_t bits = 0;
  std::memcpy(&bits, p, static_cast<size_t>(bytes));
  return bits;
}

bool IsNaN(const Format& f, uint64_t bits) {
  const uint64_t exp = (bits >> f.mant_bits) & ((uint64_t{1} << f.exp_bits) - 1);
  return exp == (uint64_t{1} << f.exp_bits) - 1 && (bits & ((uint64_t{1} << f.mant_bits) - 1)) != 0;
}
uint64_t CanonicalNaN(const Format& f) {
  return ((uint64_t{1} << f.exp_bits) - 1) << f.mant_bits | uint64_t{1} << (f.mant_bits - 1);
}

uint64_t Fnv1a(const uint8_t* p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

// Runs case number `index`; prints its line (or, with `dump`, its output elements).
bool RunCase(const Lib& lib, int index, int op, int dtype, int red, int setting, int variant, int64_t n, bool dump,
             uint64_t* total) {
  const int arity = gen::kOpArity[op];
  const bool floats = HasFloatAttr(op);
  uint64_t rng = 0x6c6f737367726164ull ^ (static_cast<uint64_t>(index) * 0x9e3779b97f4a7c15ull);
  const int special = variant == kPlain || variant == kSparse ? 0 : 64;
  int in_dtype[3] = {dtype, dtype, dtype};
  if (variant == kMixed) {
    const int f32[3] = {0, 1, 2}, f64[3] = {2, 3, 0};
    for (int k = 0; k < 3; ++k) in_dtype[k] = dtype == 2 ? f32[k] : f64[k];
  }
  int64_t rows = 1, cols = n;  // kRows: the largest divisor of n not above sqrt(n) as the column count
  if (variant == kRows) {
    for (int64_t c = 1; c * c <= n; ++c)
      if (n % c == 0) cols = c;
    rows = n / cols;
  }
  std::vector<std::vector<uint8_t>> store(3);
  TensorRef in[3] = {};
  for (int k = 0; k < arity; ++k) {
    const Format& f = kFormats[in_dtype[k]];
    TensorRef& t = in[k];
    t.dtype = in_dtype[k];
    int64_t count = n, offset = 0;
    if (variant == kScalar && k == index % arity) {
      t.ndim = 0;
      count = 1;
    } else if (variant == kRows) {
      t.ndim = k == 1 ? 1 : 2;
      if (k == 1) {
        t.shape[0] = cols;
        t.strides[0] = 1;
        count = cols;
      } else {
        t.shape[0] = rows, t.shape[1] = cols;
        t.strides[0] = cols, t.strides[1] = 1;
      }
    } else {
      t.ndim = 1;
      t.shape[0] = n;
      t.strides[0] = 1;
      if (variant == kStrided && k == 0) {
        t.strides[0] = 2;
        count = 2 * n;
      } else if (variant == kStrided && k == arity - 1) {
        t.strides[0] = -1;
        offset = n - 1;
      }
    }
    // Element i of an input is often that of the previous input (d = 0) or one unit away (a tiny d);
    // in the sparse variant, at every element but each 32nd.
    const std::vector<uint8_t>* prev = k > 0 && in_dtype[k] == in_dtype[k - 1] ? &store[k - 1] : nullptr;
    const int64_t prev_count = prev != nullptr ? static_cast<int64_t>(prev->size()) / f.bytes : 0;
    std::vector<uint8_t>& buf = store[static_cast<size_t>(k)];
    buf.assign(static_cast<size_t>(count * f.bytes), 0);
    for (int64_t i = 0; i < count; ++i) {
      uint64_t bits = RandomBits(f, &rng, special);
      const uint64_t r = SplitMix(&rng) & 7;
      if (i < prev_count && (variant == kSparse ? i % 32 != 0 : r < 3))
        bits = Get(prev->data() + i * f.bytes, f.bytes) ^ (variant != kSparse && r == 2 ? 1 : 0);
      Put(buf, i, f.bytes, bits);
    }
    t.data = buf.data() + offset * f.bytes;
  }
  const int out_dtype = dtype;
  const Format& fo = kFormats[out_dtype];
  const bool reduced = gen::kOpIsLoss[op] && red != 0;
  TensorRef out = {};
  out.dtype = out_dtype;
  out.ndim = reduced ? 0 : (variant == kRows ? 2 : 1);
  if (!reduced && variant == kRows) {
    out.shape[0] = rows, out.shape[1] = cols, out.strides[0] = cols, out.strides[1] = 1;
  } else if (!reduced) {
    out.shape[0] = n, out.strides[0] = 1;
  }
  const int64_t out_n = reduced ? 1 : n;
  const size_t out_bytes = static_cast<size_t>(out_n * fo.bytes);
  std::vector<uint8_t> result(out_bytes, 0xa5);
  out.data = result.data();
  AttrValue attrs[gen::kMaxAttrs] = {};
  attrs[0].i = red;
  for (int a = 1; a < gen::kOpNumAttrs[op]; ++a) {
    attrs[a] = gen::kOpAttrDefaults[op][a];
    if (gen::kOpAttrTypes[op][a] == gen::kAttrFloat) attrs[a].f = kFloatAttrValues[setting];
  }
  char err[512] = "";
  const int rc = lib.run(op, attrs, arity, in, &out, err, sizeof err);
  bool ok = rc == 0;
  const char* note = "";
  if (ok && (variant == kPlain || variant == kScalar)) {  // the small-call path must give the same bits
    TensorRef geometry[4];
    for (int k = 0; k < arity; ++k) geometry[k] = in[k], geometry[k].data = nullptr;
    geometry[arity] = out, geometry[arity].data = nullptr;
    std::vector<uint8_t> again(out_bytes, 0x5a);
    const int rc2 = lib.run_direct(op, attrs, arity, geometry, in[0].data, in[1].data,
                                   arity > 2 ? in[2].data : nullptr, again.data(), nullptr, 0);
    if (rc2 != 0 || again != result) ok = false, note = " DIRECT-MISMATCH";
  }
  int64_t noncanonical = 0;
  for (int64_t i = 0; rc == 0 && i < out_n; ++i) {
    const uint64_t bits = Get(result.data() + i * fo.bytes, fo.bytes);
    if (IsNaN(fo, bits) && bits != CanonicalNaN(fo)) ++noncanonical;
  }
  if (noncanonical != 0) ok = false;
  const uint64_t digest = Fnv1a(result.data(), out_bytes);
  *total = (*total ^ digest) * 0x100000001b3ull;
  if (dump) {
    for (int64_t i = 0; i < out_n; ++i)
      std::printf("%" PRId64 " %0*" PRIx64 "\n", i, 2 * fo.bytes, Get(result.data() + i * fo.bytes, fo.bytes));
    return ok;
  }
  std::printf("%05d %s %s %s float-attrs=%s %s n=%" PRId64 " rc=%d fnv=%016" PRIx64, index, gen::kOpNames[op],
              gen::kDTypeNames[out_dtype], gen::kReductionNames[red], floats ? kFloatAttrNames[setting] : "-",
              kVariantNames[variant], n, rc, digest);
  if (noncanonical != 0) std::printf(" NONCANONICAL-NAN=%" PRId64, noncanonical);
  if (rc != 0) std::printf(" ERROR: %s", err);
  std::printf("%s\n", note);
  return ok;
}

template <class F> F Sym(void* h, const char* name) {
  void* p = dlsym(h, name);
  if (p == nullptr) {
    std::fprintf(stderr, "abi_battery: %s lacks %s\n", "the library", name);
    std::exit(2);
  }
  return reinterpret_cast<F>(p);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 && !(argc == 4 && std::strcmp(argv[2], "--dump") == 0)) {
    std::fprintf(stderr, "usage: %s LIBRARY [--dump CASE]\n", argv[0]);
    return 2;
  }
  const int dump = argc == 4 ? std::atoi(argv[3]) : -1;
  void* h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (h == nullptr) {
    std::fprintf(stderr, "abi_battery: %s\n", dlerror());
    return 2;
  }
  Lib lib;
  lib.run = Sym<RunFn>(h, "lossgrad_run");
  lib.run_direct = Sym<RunDirectFn>(h, "lossgrad_run_direct");
  if (Sym<int32_t (*)()>(h, "lossgrad_num_ops")() != gen::kNumOps) {
    std::fprintf(stderr, "abi_battery: the library was built from another op table than this battery\n");
    return 2;
  }
  const auto isa_name = Sym<const char* (*)(int32_t)>(h, "lossgrad_isa_name");
  const int32_t isa = Sym<int32_t (*)()>(h, "lossgrad_isa")();
  const int64_t threads = Sym<int64_t (*)()>(h, "lossgrad_num_threads")();
  const int64_t threshold = Sym<int64_t (*)()>(h, "lossgrad_parallel_threshold")();
  std::fprintf(stderr, "abi_battery: %s: isa %s, %" PRId64 " threads, parallel threshold %" PRId64 "\n", argv[1],
               isa_name(isa), threads, threshold);

  int index = 0, failed = 0;
  uint64_t total = 0xcbf29ce484222325ull;
  for (int op = 0; op < gen::kNumOps; ++op)
    for (int setting = 0; setting < (HasFloatAttr(op) ? kNumFloatSettings : 1); ++setting)
      for (int dtype = 0; dtype < gen::kNumDTypes; ++dtype)
        for (int red = 0; red < gen::kNumReductions; ++red)
          for (int variant = 0; variant < kNumVariants; ++variant)
            for (int64_t n : kSizes) {
              if (variant == kMixed && dtype < 2) continue;  // promotion yields float32 or float64
              if (n > 100000 && variant != kPlain && variant != kSpecial) continue;
              const int k = index++;
              if (dump >= 0 && k != dump) continue;
              if (!RunCase(lib, k, op, dtype, red, setting, variant, n, k == dump, &total)) ++failed;
            }
  if (dump < 0) std::printf("cases=%d failed=%d digest=%016" PRIx64 "\n", index, failed, total);
  return failed != 0 ? 1 : 0;
}
