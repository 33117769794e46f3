// Choosing the instruction-set level of the fused loops (lossgrad/isa.h), once, at load.
#include "lossgrad/isa.h"

#include <cstdlib>
#include <cstring>
#include <string>

namespace lossgrad {
namespace isa {

// A level this target does not build has no table.
#if !defined(LOSSGRAD_HAVE_AVX2)
namespace avx2 { const KernelTable* Table() { return nullptr; } }
#endif
#if !defined(LOSSGRAD_HAVE_AVX512)
namespace avx512 { const KernelTable* Table() { return nullptr; } }
#endif

namespace {

constexpr const char* kNames[kNumLevels] = {"baseline", "avx2", "avx512"};

const KernelTable* TableOf(int32_t level) {
  switch (level) {
    case kBaseline: return baseline::Table();
    case kAvx2: return avx2::Table();
    case kAvx512: return avx512::Table();
    default: return nullptr;
  }
}

// Whether the CPU and the OS (saved register state) run the level; libgcc's checks cover both.
bool MachineRuns(int32_t level) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  switch (level) {
    case kBaseline: return true;
    case kAvx2: return avx2;
    case kAvx512:
      return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    default: return false;
  }
#else
  return level == kBaseline;
#endif
}

struct Choice {
  Level level = kBaseline;
  std::string note;
};

Choice Choose() {
  Choice c;
  int32_t best = kBaseline;
  for (int32_t l = kBaseline; l < kNumLevels; ++l)
    if (Available(l)) best = l;
  int32_t want = best;
  const char* env = std::getenv("LOSSGRAD_ISA");
  if (env != nullptr && env[0] != '\0') {
    int32_t asked = -1;
    for (int32_t l = 0; l < kNumLevels; ++l)
      if (std::strcmp(env, kNames[l]) == 0) asked = l;
    if (asked < 0) {
      c.note = std::string("LOSSGRAD_ISA='") + env + "' is not one of baseline, avx2, avx512; using " + kNames[best];
    } else {
      want = asked;
      while (!Available(want)) --want;  // kBaseline is always available
      if (want != asked)
        c.note = std::string("LOSSGRAD_ISA=") + env + ": this machine or build lacks it; using " + kNames[want];
    }
  }
  c.level = static_cast<Level>(want);
  return c;
}

const Choice& Chosen() {
  static const Choice choice = Choose();
  return choice;
}

// Chosen when the library loads, before any call.
[[maybe_unused]] const bool g_chosen_at_load = (Chosen(), true);

}  // namespace

bool Available(int32_t level) { return level >= 0 && level < kNumLevels && TableOf(level) != nullptr && MachineRuns(level); }
const KernelTable& Kernels() {
  static const KernelTable* table = TableOf(Chosen().level);
  return *table;
}
Level Active() { return Chosen().level; }
const char* Name(int32_t level) { return level >= 0 && level < kNumLevels ? kNames[level] : "unknown"; }
const char* Note() { return Chosen().note.c_str(); }

}  // namespace isa
}  // namespace lossgrad
