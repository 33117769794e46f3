// State and bookkeeping of the CPU stand-in for the Ascend C API (see
// kernel_operator.h next to this file). One simulated AI core runs at a time;
// this header holds what the stand-in knows about it and about "global memory":
//
//  * GM allocations are registered by handle (the pointer the kernel receives).
//    Every access is bounds-checked against the allocation and the size the
//    kernel gave SetGlobalBuffer, and logged as byte intervals, so the runner can
//    prove that every output byte is written exactly once and every streamed
//    input byte read exactly once. In "dry" mode allocations have no memory at
//    all: the kernel's index and data-movement logic runs for sizes far beyond
//    what the machine could hold (2^32+ elements), only the bookkeeping happens.
//  * The unified buffer is a real byte arena of the platform's UB size; queue
//    and TBuf buffers are carved from it as TPipe::InitBuffer does, so an
//    over-budget layout fails like it would on the NPU.
//  * Pipe synchronization: every UB buffer remembers the pipe (MTE2, V, MTE3)
//    that touched it last and whether a synchronization (queue EnQue/DeQue,
//    AllocTensor after FreeTensor, PipeBarrier<PIPE_ALL>) happened since. A
//    pipe touching a buffer another pipe used without synchronization is a
//    violation (a race on the NPU). GM written by MTE3 and read back by MTE2
//    (the broadcast workspace) needs a PipeBarrier<PIPE_ALL> in between.
//  * Cores meeting in SyncAll (the reductions of the loss ops): the runner runs every core on
//    its own thread, one at a time; SyncAll hands over to the next core, and a round ends when
//    every core waits there. Workspace bytes one core wrote and another core reads need a
//    SyncAll in between (a cross-core race otherwise); a core that returns while others wait
//    in SyncAll is a violation (the NPU would hang).
//
// Violations never abort: they are collected and reported to the test.
#ifndef LGSIM_STATE_H_
#define LGSIM_STATE_H_

#include <algorithm>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace lgsim {

enum class Pipe : int { kNone = 0, kS, kV, kMte2, kMte3 };

inline const char* PipeName(Pipe p)
{
  switch (p) {
    case Pipe::kS: return "S";
    case Pipe::kV: return "V";
    case Pipe::kMte2: return "MTE2";
    case Pipe::kMte3: return "MTE3";
    default: return "none";
  }
}

//! Kinds of GM allocations (for the runner's coverage checks).
enum class GmKind : int { kInput = 0, kOutput, kWorkspace, kSystem, kTiling };

//! Half-open byte interval.
struct Interval {
  uint64_t begin;
  uint64_t end;
};

//! Append-only interval log; an interval that starts exactly where the last
//! one ended extends it (sequential streams stay one entry).
struct IntervalLog {
  std::vector<Interval> items;
  void Add(uint64_t begin, uint64_t end)
  {
    if (begin == end) {
      return;
    }
    if (!items.empty() && items.back().end == begin) {
      items.back().end = end;
    } else {
      items.push_back({begin, end});
    }
  }
};

struct GmAlloc {
  const uint8_t* handle = nullptr;  //!< the address the kernel receives
  uint8_t* data = nullptr;          //!< backing memory; nullptr in dry mode
  uint64_t bytes = 0;
  GmKind kind = GmKind::kInput;
  int index = 0;                    //!< input index for kInput
  std::string name;
  IntervalLog reads;                //!< MTE2 reads
  IntervalLog writes;               //!< MTE3 writes
  std::vector<Interval> dirty;      //!< MTE3 writes since the last PIPE_ALL (tracked for the workspace)
  struct CoreWrite {
    uint64_t begin, end, core, epoch;
  };
  std::vector<CoreWrite> coreWrites;  //!< workspace writes by core and SyncAll round (merged when contiguous)
  uint64_t scalarReads = 0;         //!< GetValue calls
  uint64_t unaligned32 = 0;         //!< DMA transfers whose GM address is not 32-byte aligned
};

enum class BufState : int { kFree = 0, kAllocated, kEnqueued, kDequeued, kCalc };

//! One UB buffer (a queue slot or a TBuf).
struct UbBuf {
  uint32_t offset = 0;
  uint32_t bytes = 0;
  BufState state = BufState::kCalc;
  Pipe lastPipe = Pipe::kNone;
  bool synced = true;
  std::string name;
};

//! Counters the tests look at.
struct Stats {
  uint64_t dataCopyIn = 0;       //!< DataCopy GM -> UB
  uint64_t dataCopyOut = 0;      //!< DataCopy UB -> GM
  uint64_t dataCopyPadIn = 0;    //!< DataCopyPad GM -> UB
  uint64_t dataCopyPadOut = 0;   //!< DataCopyPad UB -> GM
  uint64_t truncatedCopies = 0;  //!< DataCopy whose byte count was not a multiple of 32 (hardware truncates)
  uint64_t partialCompares = 0;  //!< Compares whose count was not a multiple of 256 bytes (hardware skips the rest)
  uint64_t vectorOps = 0;
  uint64_t barriers = 0;
  uint64_t ubBytesUsedMax = 0;
  uint64_t maxCopyBytes = 0;
};

//! Everything about the current run and the simulated core.
struct State {
  bool dry = false;
  uint64_t ubBytes = 0;
  uint64_t blockIdx = 0;
  bool floatSaturation = true;  //!< CTRL[48] == 0, the hardware default
  std::vector<uint8_t> ub;
  uint32_t ubUsed = 0;
  std::vector<UbBuf> bufs;
  int queueBuffers[4] = {0, 0, 0, 0};  //!< queue buffers per TPosition (at most 8: hardware event ids)
  std::vector<GmAlloc> gm;
  uint64_t coreOutputBytes = 0;  //!< bytes the current core wrote to the output
  uint64_t syncEpoch = 0;        //!< SyncAll rounds completed by all cores
  void (*coreBarrier)() = nullptr;  //!< the runner's SyncAll (hands over to the other cores)
  Stats stats;
  uint64_t violationCount = 0;
  std::vector<std::string> violations;  //!< the first few, with the core they happened on
};

inline State& S()
{
  static State state;
  return state;
}

inline void Violation(const char* fmt, ...)
{
  State& st = S();
  ++st.violationCount;
  if (st.violations.size() >= 16) {
    return;
  }
  char buf[512];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, args);
  va_end(args);
  st.violations.push_back("core " + std::to_string(st.blockIdx) + ": " + buf);
}

//! Fresh core: empty UB (filled with a NaN byte pattern, like stale data), default CTRL.
inline void BeginCore(uint64_t idx)
{
  State& st = S();
  st.blockIdx = idx;
  st.floatSaturation = true;
  st.ub.assign(st.ubBytes, 0xFF);
  st.ubUsed = 0;
  st.bufs.clear();
  st.coreOutputBytes = 0;
}

inline void EndCore()
{
  State& st = S();
  for (const UbBuf& b : st.bufs) {
    if (b.state == BufState::kAllocated || b.state == BufState::kEnqueued || b.state == BufState::kDequeued) {
      Violation("UB buffer %s still in use when the kernel returned (missing FreeTensor/DeQue)", b.name.c_str());
    }
  }
}

//! Reserve UB like TPipe::InitBuffer: 32-byte rounded, in order; false if over budget.
inline int NewUbBuf(uint32_t bytes, BufState state, const std::string& name)
{
  State& st = S();
  const uint32_t rounded = (bytes + 31u) / 32u * 32u;
  if (static_cast<uint64_t>(st.ubUsed) + rounded > st.ubBytes) {
    Violation("InitBuffer %s: %u bytes do not fit in the unified buffer (%u of %llu used)", name.c_str(),
              rounded, st.ubUsed, static_cast<unsigned long long>(st.ubBytes));
    return -1;
  }
  UbBuf b;
  b.offset = st.ubUsed;
  b.bytes = rounded;
  b.state = state;
  b.name = name;
  st.ubUsed += rounded;
  st.stats.ubBytesUsedMax = std::max<uint64_t>(st.stats.ubBytesUsedMax, st.ubUsed);
  st.bufs.push_back(b);
  return static_cast<int>(st.bufs.size() - 1);
}

//! Record that pipe `p` uses UB buffer `id`; check the synchronization rule.
inline bool Touch(int id, Pipe p, const char* what)
{
  State& st = S();
  if (id < 0 || static_cast<size_t>(id) >= st.bufs.size()) {
    Violation("%s: operand is not a UB tensor of this core (uninitialized LocalTensor?)", what);
    return false;
  }
  UbBuf& b = st.bufs[static_cast<size_t>(id)];
  if (b.state == BufState::kFree) {
    Violation("%s: UB buffer %s used after FreeTensor", what, b.name.c_str());
  } else if (b.state == BufState::kEnqueued) {
    Violation("%s: UB buffer %s used while it sits in its queue (between EnQue and DeQue)", what,
              b.name.c_str());
  }
  if (b.lastPipe != Pipe::kNone && b.lastPipe != p) {
    if (!b.synced) {
      Violation("%s: pipe %s uses UB buffer %s last used by pipe %s with no synchronization in between", what,
                PipeName(p), b.name.c_str(), PipeName(b.lastPipe));
    }
    b.lastPipe = p;
    b.synced = false;
  } else if (b.lastPipe == Pipe::kNone) {
    b.lastPipe = p;
    b.synced = false;
  }
  return true;
}

inline void SyncAll()
{
  State& st = S();
  for (UbBuf& b : st.bufs) {
    b.synced = true;
  }
  for (GmAlloc& a : st.gm) {
    a.dirty.clear();
  }
  ++st.stats.barriers;
}

inline GmAlloc* FindGm(const void* handle)
{
  for (GmAlloc& a : S().gm) {
    if (a.handle == handle) {
      return &a;
    }
  }
  return nullptr;
}

//! Check and log one GM access of `bytes` at byte offset `offset` of the
//! allocation `handle`, limited to `limitBytes` by SetGlobalBuffer's size.
//! Returns the backing address, or nullptr (dry mode or a violation).
inline uint8_t* GmAccess(const void* handle, uint64_t offset, uint64_t bytes, uint64_t limitBytes, bool write,
                         Pipe pipe, const char* what)
{
  State& st = S();
  GmAlloc* a = FindGm(handle);
  if (a == nullptr) {
    Violation("%s: address is not a registered GM buffer", what);
    return nullptr;
  }
  const uint64_t limit = std::min(a->bytes, limitBytes);
  if (offset > limit || bytes > limit - offset) {
    Violation("%s: %s bytes [%llu, %llu) outside the buffer (%llu bytes, %llu given to SetGlobalBuffer)", what,
              a->name.c_str(), static_cast<unsigned long long>(offset),
              static_cast<unsigned long long>(offset + bytes), static_cast<unsigned long long>(a->bytes),
              static_cast<unsigned long long>(limitBytes));
    return nullptr;
  }
  if (pipe == Pipe::kMte2 || pipe == Pipe::kMte3) {
    if (offset % 32 != 0) {
      ++a->unaligned32;
    }
    st.stats.maxCopyBytes = std::max(st.stats.maxCopyBytes, bytes);
  }
  if (write) {
    if (a->kind == GmKind::kInput || a->kind == GmKind::kTiling) {
      Violation("%s: writes to the read-only %s", what, a->name.c_str());
      return nullptr;
    }
    a->writes.Add(offset, offset + bytes);
    if (a->kind == GmKind::kOutput) {
      st.coreOutputBytes += bytes;
    }
    if (a->kind == GmKind::kWorkspace) {
      a->dirty.push_back({offset, offset + bytes});
      std::vector<GmAlloc::CoreWrite>& log = a->coreWrites;
      if (!log.empty() && log.back().end == offset && log.back().core == st.blockIdx &&
          log.back().epoch == st.syncEpoch) {
        log.back().end = offset + bytes;  // a sequential stream stays one entry
      } else {
        log.push_back({offset, offset + bytes, st.blockIdx, st.syncEpoch});
      }
    }
  } else if (pipe == Pipe::kS) {
    ++a->scalarReads;
  }
  if (!write && a->kind == GmKind::kWorkspace) {
    for (const GmAlloc::CoreWrite& w : a->coreWrites) {
      if (offset < w.end && w.begin < offset + bytes && w.core != st.blockIdx && w.epoch == st.syncEpoch) {
        Violation("%s: reads %s bytes [%llu, %llu) that core %llu wrote with no SyncAll in between", what,
                  a->name.c_str(), static_cast<unsigned long long>(offset),
                  static_cast<unsigned long long>(offset + bytes), static_cast<unsigned long long>(w.core));
        break;
      }
    }
  }
  if (!write && pipe != Pipe::kS) {
    for (const Interval& d : a->dirty) {
      if (offset < d.end && d.begin < offset + bytes) {
        Violation("%s: MTE2 reads %s bytes [%llu, %llu) that MTE3 wrote with no PipeBarrier<PIPE_ALL> in between",
                  what, a->name.c_str(), static_cast<unsigned long long>(offset),
                  static_cast<unsigned long long>(offset + bytes));
        break;
      }
    }
    a->reads.Add(offset, offset + bytes);
  }
  return a->data == nullptr ? nullptr : a->data + offset;
}

//! Check that `log` covers [begin, end) exactly once; "" or what is wrong.
inline std::string CheckExactlyOnce(std::vector<Interval> items, uint64_t begin, uint64_t end)
{
  std::sort(items.begin(), items.end(), [](const Interval& a, const Interval& b) { return a.begin < b.begin; });
  uint64_t at = begin;
  for (const Interval& it : items) {
    if (it.begin < at) {
      return "bytes [" + std::to_string(it.begin) + ", " + std::to_string(std::min(at, it.end)) +
             ") accessed more than once";
    }
    if (it.begin > at) {
      return "bytes [" + std::to_string(at) + ", " + std::to_string(it.begin) + ") never accessed";
    }
    at = it.end;
  }
  if (at < end) {
    return "bytes [" + std::to_string(at) + ", " + std::to_string(end) + ") never accessed";
  }
  if (at > end) {
    return "bytes [" + std::to_string(end) + ", " + std::to_string(at) + ") beyond the range accessed";
  }
  return "";
}

}  // namespace lgsim

#endif  // LGSIM_STATE_H_
