// Host stand-in for the subset of the Ascend C API that the lossgrad kernel
// uses, so that framework/ascend/op_kernel/*.cpp compiles unchanged with a host
// C++17 compiler and runs on the CPU, one simulated AI core after another (the
// same idea as CANN's CPU debug mode, written from the public API documentation
// for this project; no CANN code).
//
// What it models, because the kernel's correctness depends on it:
//  * GlobalTensor / LocalTensor / TPipe / TQue / TBuf with the documented
//    protocol: AllocTensor -> (MTE2 or V writes) -> EnQue -> DeQue -> use ->
//    FreeTensor, queue depth, at most 8 queue buffers per position, InitBuffer
//    lengths rounded to 32 bytes inside the UB size;
//  * DataCopy: the UB address must be 32-byte aligned and the byte count is
//    truncated to a multiple of 32 bytes (as the hardware does);
//  * DataCopyPad GM->UB / UB->GM with DataCopyExtParams/DataCopyPadExtParams:
//    exact GM bytes, UB blocks padded to 32 bytes (padding value, or the first
//    element as dummy), the documented limits on blockLen/blockCount/padding;
//  * SyncAll<true>() (hard all-core sync): the runner switches cores there (lgsim_state.h);
//  * vector ops (Add, Sub, Mul, Div, Abs, Adds, Muls, Duplicate, Cast, Compares, Select) with
//    their address-overlap rules (full overlap or none; none for Cast and
//    Compares), Compares' 256-byte count unit, Select's 8 KB of free UB, and the
//    A2/A3 data types and round modes of Cast; Sub/Mul/Div/Abs/Adds/Muls/Compares/
//    Select accept float only here, because this project computes in fp32;
//  * the float saturation switch (CTRL[48], SetCtrlSpr<48, 48>): by default a
//    float -> half/bfloat16 Cast turns Inf into +-MAX and NaN into 0;
//  * pipe synchronization (see lgsim_state.h) and GM bounds and coverage.
// What it does not model: timing, bank conflicts, the real instruction
// encodings, denormal handling and NaN payloads of the vector unit.
#ifndef LGSIM_KERNEL_OPERATOR_H_
#define LGSIM_KERNEL_OPERATOR_H_

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "lgsim_state.h"
#include "lossgrad/half.h"

// ---- language extensions of the kernel compiler ---------------------------
#define __aicore__
#define __global__
#define __gm__
#define GM_ADDR uint8_t*
#define KERNEL_TASK_TYPE_DEFAULT(type) ((void)0)

namespace lgsim {
//! Copies the tiling blob into the kernel's tiling struct (GET_TILING_DATA).
void LoadTiling(void* dst, uint64_t bytes, const uint8_t* src);
}  // namespace lgsim

#define GET_TILING_DATA(name, ptr) \
  LossGradTilingPlain name;        \
  lgsim::LoadTiling(&name, sizeof(name), (ptr))

enum KernelType { KERNEL_TYPE_AIV_ONLY = 0, KERNEL_TYPE_AIC_ONLY, KERNEL_TYPE_MIX_AIC_1_2 };
enum pipe_t { PIPE_S = 0, PIPE_V, PIPE_M, PIPE_MTE1, PIPE_MTE2, PIPE_MTE3, PIPE_ALL };

// ---- the 16-bit float types --------------------------------------------------
//! IEEE binary16; conversions from float round to nearest even.
struct half {
  uint16_t bits;
  half() = default;
  half(float f) : bits(lossgrad::FloatToHalf(f).bits) {}  // NOLINT(google-explicit-constructor)
  operator float() const { return lossgrad::HalfToFloat(lossgrad::Half{bits}); }  // NOLINT
};
//! bfloat16 (upper half of a binary32).
struct bfloat16_t {
  uint16_t bits;
  bfloat16_t() = default;
  bfloat16_t(float f) : bits(lossgrad::FloatToBFloat16(f).bits) {}  // NOLINT(google-explicit-constructor)
  operator float() const { return lossgrad::BFloat16ToFloat(lossgrad::BFloat16{bits}); }  // NOLINT
};

namespace AscendC {

enum class TPosition : int { GM = 0, VECIN, VECOUT, VECCALC };
enum class RoundMode : int { CAST_NONE = 0, CAST_RINT, CAST_FLOOR, CAST_CEIL, CAST_ROUND, CAST_TRUNC, CAST_ODD };
enum class CMPMODE : int { LT = 0, GT, EQ, LE, GE, NE };
enum class SELMODE : uint8_t { VSEL_CMPMASK_SPR = 0, VSEL_TENSOR_SCALAR_MODE, VSEL_TENSOR_TENSOR_MODE };

inline float ToFloat(const bfloat16_t& v) { return static_cast<float>(v); }

inline int64_t GetBlockIdx() { return static_cast<int64_t>(lgsim::S().blockIdx); }

//! The user part of the workspace (the runner registers it separately).
GM_ADDR GetUserWorkspace(GM_ADDR workspace);

template <pipe_t P>
inline void PipeBarrier()
{
  if (P == PIPE_ALL) {
    lgsim::SyncAll();
  }
}

//! Hard all-core synchronization of a pure vector kernel (A2/A3). Like the hardware's, it
//! waits for this core's pipes first; then every other core runs until it reaches it too.
template <bool isAIVOnly = true>
inline void SyncAll()
{
  static_assert(isAIVOnly, "the lossgrad kernels are vector-only");
  lgsim::SyncAll();
  if (lgsim::S().coreBarrier == nullptr) {
    lgsim::Violation("SyncAll outside a multi-core launch");
    return;
  }
  lgsim::S().coreBarrier();
}

//! Only CTRL[48] (float saturation: 0 saturating, 1 not) is modeled.
template <int8_t startBit, int8_t endBit>
inline void SetCtrlSpr(int64_t value)
{
  static_assert(startBit == 48 && endBit == 48, "stand-in models CTRL[48] only");
  lgsim::S().floatSaturation = value == 0;
}

// ---- tensors -------------------------------------------------------------------
template <typename T>
class LocalTensor {
 public:
  LocalTensor() = default;
  LocalTensor(int id, uint32_t offset, uint32_t bytes) : id_(id), offset_(offset), bytes_(bytes) {}
  uint32_t GetSize() const { return bytes_ / static_cast<uint32_t>(sizeof(T)); }
  template <typename U>
  LocalTensor<U> ReinterpretCast() const { return LocalTensor<U>(id_, offset_, bytes_); }
  //! The tensor from element `i` on (same UB buffer, so the same pipe bookkeeping).
  LocalTensor operator[](uint32_t i) const
  {
    const uint64_t skip = static_cast<uint64_t>(i) * sizeof(T);
    return skip > bytes_ ? LocalTensor(id_, offset_ + bytes_, 0)
                         : LocalTensor(id_, offset_ + static_cast<uint32_t>(skip), bytes_ - static_cast<uint32_t>(skip));
  }
  T GetValue(uint32_t i) const
  {
    T v{};
    if (Check(i + 1, "LocalTensor::GetValue")) {
      std::memcpy(&v, Data() + static_cast<size_t>(i) * sizeof(T), sizeof(T));
    }
    return v;
  }
  // stand-in internals
  int Id() const { return id_; }
  uint32_t Offset() const { return offset_; }
  uint32_t Bytes() const { return bytes_; }
  uint8_t* Data() const { return lgsim::S().ub.data() + offset_; }
  T* Ptr() const { return reinterpret_cast<T*>(Data()); }
  //! `count` elements fit in the tensor, which sits 32-byte aligned in this core's UB.
  bool Check(uint64_t count, const char* what) const
  {
    if (id_ < 0 || static_cast<size_t>(id_) >= lgsim::S().bufs.size()) {
      lgsim::Violation("%s: LocalTensor is not a UB buffer of this core", what);
      return false;
    }
    if (offset_ % 32 != 0) {
      lgsim::Violation("%s: LocalTensor at UB offset %u is not 32-byte aligned", what, offset_);
      return false;
    }
    if (count * sizeof(T) > bytes_) {
      lgsim::Violation("%s: %llu elements exceed the tensor (%u bytes)", what,
                       static_cast<unsigned long long>(count), bytes_);
      return false;
    }
    return true;
  }

 private:
  int id_ = -1;
  uint32_t offset_ = 0;
  uint32_t bytes_ = 0;
};

template <typename T>
class GlobalTensor {
 public:
  void SetGlobalBuffer(T* buffer, uint64_t bufferSize)
  {
    handle_ = reinterpret_cast<const uint8_t*>(buffer);
    offset_ = 0;
    size_ = bufferSize;
  }
  //! A view starting `offset` elements further (no pointer arithmetic: the
  //! stand-in keeps handle + element offset, so dry runs need no memory).
  GlobalTensor operator[](uint64_t offset) const
  {
    GlobalTensor g = *this;
    g.offset_ += offset;
    return g;
  }
  T GetValue(uint64_t i) const
  {
    T v{};
    const uint8_t* p = lgsim::GmAccess(handle_, (offset_ + i) * sizeof(T), sizeof(T), size_ * sizeof(T), false,
                                       lgsim::Pipe::kS, "GlobalTensor::GetValue");
    if (p != nullptr) {
      std::memcpy(&v, p, sizeof(T));
    } else if (lgsim::S().dry) {
      v = T(1.0f);
    }
    return v;
  }
  // stand-in internals
  const uint8_t* Handle() const { return handle_; }
  uint64_t ByteOffset() const { return offset_ * sizeof(T); }
  uint64_t LimitBytes() const { return size_ * sizeof(T); }

 private:
  const uint8_t* handle_ = nullptr;
  uint64_t offset_ = 0;
  uint64_t size_ = 0;
};

// ---- pipe, queues, buffers -------------------------------------------------------
class TPipe;

template <TPosition P, int32_t DEPTH>
class TQue {
 public:
  template <typename T>
  LocalTensor<T> AllocTensor()
  {
    if (num_ == 0) {
      lgsim::Violation("AllocTensor on a queue without InitBuffer");
      return LocalTensor<T>();
    }
    const int id = ids_[next_];
    next_ = (next_ + 1) % num_;
    lgsim::UbBuf& b = lgsim::S().bufs[static_cast<size_t>(id)];
    if (b.state != lgsim::BufState::kFree) {
      lgsim::Violation("AllocTensor: every buffer of queue %s is in use (the NPU would wait forever)",
                       b.name.c_str());
    }
    b.state = lgsim::BufState::kAllocated;
    b.synced = true;  // AllocTensor waits for the FreeTensor of the buffer's last user
    return LocalTensor<T>(id, b.offset, b.bytes);
  }
  template <typename T>
  void EnQue(const LocalTensor<T>& t)
  {
    lgsim::UbBuf* b = Slot(t.Id(), "EnQue");
    if (b == nullptr) {
      return;
    }
    if (b->state != lgsim::BufState::kAllocated) {
      lgsim::Violation("EnQue of %s, which is not freshly allocated", b->name.c_str());
    }
    if (queued_ >= DEPTH) {
      lgsim::Violation("EnQue on %s: more than depth %d tensors queued", b->name.c_str(), static_cast<int>(DEPTH));
    }
    b->state = lgsim::BufState::kEnqueued;
    fifo_[(head_ + queued_) % 8] = t.Id();
    ++queued_;
  }
  template <typename T>
  LocalTensor<T> DeQue()
  {
    if (queued_ == 0) {
      lgsim::Violation("DeQue on an empty queue (the NPU would wait forever)");
      return LocalTensor<T>();
    }
    const int id = fifo_[head_];
    head_ = (head_ + 1) % 8;
    --queued_;
    lgsim::UbBuf& b = lgsim::S().bufs[static_cast<size_t>(id)];
    b.state = lgsim::BufState::kDequeued;
    b.synced = true;  // EnQue/DeQue is the event hand-off between the two pipes
    return LocalTensor<T>(id, b.offset, b.bytes);
  }
  template <typename T>
  void FreeTensor(const LocalTensor<T>& t)
  {
    lgsim::UbBuf* b = Slot(t.Id(), "FreeTensor");
    if (b == nullptr) {
      return;
    }
    if (b->state == lgsim::BufState::kFree || b->state == lgsim::BufState::kEnqueued) {
      lgsim::Violation("FreeTensor of %s, which is not allocated or dequeued", b->name.c_str());
    }
    b->state = lgsim::BufState::kFree;
  }
  // stand-in internals
  void Setup(uint8_t num, uint32_t len)
  {
    if (num_ != 0) {
      lgsim::Violation("InitBuffer called twice on one queue");
      return;
    }
    if (num == 0 || num > 8) {
      lgsim::Violation("InitBuffer: %u buffers in one queue (1..8 allowed)", static_cast<unsigned>(num));
      return;
    }
    int& perPosition = lgsim::S().queueBuffers[static_cast<int>(P) & 3];
    if (perPosition + num > 8) {
      lgsim::Violation("InitBuffer: more than 8 queue buffers on one TPosition (hardware event ids)");
    }
    perPosition += num;
    for (uint8_t i = 0; i < num; ++i) {
      const std::string name = std::string(P == TPosition::VECIN ? "VECIN" : "VECOUT") + " queue buffer #" +
                               std::to_string(lgsim::S().bufs.size());
      const int id = lgsim::NewUbBuf(len, lgsim::BufState::kFree, name);
      if (id < 0) {
        return;
      }
      ids_[num_++] = id;
    }
  }

 private:
  lgsim::UbBuf* Slot(int id, const char* what)
  {
    for (int i = 0; i < num_; ++i) {
      if (ids_[i] == id) {
        return &lgsim::S().bufs[static_cast<size_t>(id)];
      }
    }
    lgsim::Violation("%s: tensor does not belong to this queue", what);
    return nullptr;
  }

  friend class TPipe;
  int ids_[8] = {-1, -1, -1, -1, -1, -1, -1, -1};
  int fifo_[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int num_ = 0;
  int next_ = 0;
  int head_ = 0;
  int queued_ = 0;
};

template <TPosition P>
class TBuf {
 public:
  template <typename T>
  LocalTensor<T> Get() const
  {
    if (id_ < 0) {
      lgsim::Violation("TBuf::Get before InitBuffer");
      return LocalTensor<T>();
    }
    const lgsim::UbBuf& b = lgsim::S().bufs[static_cast<size_t>(id_)];
    return LocalTensor<T>(id_, b.offset, b.bytes);
  }
  void Setup(uint32_t len)
  {
    if (id_ >= 0) {
      lgsim::Violation("InitBuffer called twice on one TBuf");
      return;
    }
    id_ = lgsim::NewUbBuf(len, lgsim::BufState::kCalc, "TBuf #" + std::to_string(lgsim::S().bufs.size()));
  }

 private:
  int id_ = -1;
};

class TPipe {
 public:
  TPipe()
  {
    lgsim::S().ubUsed = 0;
    lgsim::S().bufs.clear();
    for (int& n : lgsim::S().queueBuffers) {
      n = 0;
    }
  }
  template <TPosition P, int32_t D>
  bool InitBuffer(TQue<P, D>& que, uint8_t num, uint32_t len)
  {
    que.Setup(num, len);
    return true;
  }
  template <TPosition P>
  bool InitBuffer(TBuf<P>& buf, uint32_t len)
  {
    buf.Setup(len);
    return true;
  }
};

// ---- data movement ---------------------------------------------------------------
struct DataCopyExtParams {
  uint16_t blockCount = 1;
  uint32_t blockLen = 0;
  uint32_t srcStride = 0;
  uint32_t dstStride = 0;
  uint32_t rsv = 0;
};

template <typename T>
struct DataCopyPadExtParams {
  bool isPad = false;
  uint8_t leftPadding = 0;
  uint8_t rightPadding = 0;
  T paddingValue{};
};

namespace sim_detail {

constexpr uint32_t kBlock = 32;
inline uint64_t RoundUp32(uint64_t v) { return (v + kBlock - 1) / kBlock * kBlock; }

//! Ranges of two UB operands: identical start (full overlap) or disjoint.
inline bool SameOrDisjoint(uint32_t a, uint64_t aBytes, uint32_t b, uint64_t bBytes)
{
  return a == b || a + aBytes <= b || b + bBytes <= a;
}
inline bool Disjoint(uint32_t a, uint64_t aBytes, uint32_t b, uint64_t bBytes)
{
  return a + aBytes <= b || b + bBytes <= a;
}

}  // namespace sim_detail

namespace sim_detail {
//! Both directions of DataCopy: the whole 32-byte blocks of `count` elements between a UB tensor
//! and GM (the byte count is truncated to 32-byte blocks), `toGm` telling which way (MTE3 out,
//! MTE2 in) and `what` naming it in violations.
template <typename T>
void BlockCopy(const LocalTensor<T>& ub, const GlobalTensor<T>& gm, uint32_t count, bool toGm, const char* what)
{
  lgsim::State& st = lgsim::S();
  ++(toGm ? st.stats.dataCopyOut : st.stats.dataCopyIn);
  const uint64_t want = static_cast<uint64_t>(count) * sizeof(T);
  const uint64_t bytes = want / kBlock * kBlock;
  if (bytes != want) {
    ++st.stats.truncatedCopies;
  }
  const lgsim::Pipe pipe = toGm ? lgsim::Pipe::kMte3 : lgsim::Pipe::kMte2;
  if (!ub.Check(bytes / sizeof(T), what) || !lgsim::Touch(ub.Id(), pipe, "DataCopy")) {
    return;
  }
  uint8_t* g = lgsim::GmAccess(gm.Handle(), gm.ByteOffset(), bytes, gm.LimitBytes(), toGm, pipe, what);
  if (g == nullptr) {
    return;
  }
  if (toGm) {
    std::memcpy(g, ub.Data(), bytes);
  } else {
    std::memcpy(ub.Data(), g, bytes);
  }
}
}  // namespace sim_detail

//! GM -> UB, `count` elements; the byte count is truncated to 32-byte blocks.
template <typename T>
void DataCopy(const LocalTensor<T>& dst, const GlobalTensor<T>& src, uint32_t count)
{
  sim_detail::BlockCopy(dst, src, count, false, "DataCopy GM->UB");
}

//! UB -> GM, `count` elements; the byte count is truncated to 32-byte blocks.
template <typename T>
void DataCopy(const GlobalTensor<T>& dst, const LocalTensor<T>& src, uint32_t count)
{
  sim_detail::BlockCopy(src, dst, count, true, "DataCopy UB->GM");
}

namespace sim_detail {
inline bool CheckCopyParams(const DataCopyExtParams& p, uint64_t elemSize, const char* what)
{
  if (p.blockLen % elemSize != 0) {
    lgsim::Violation("%s: blockLen %u is not a multiple of the element size", what, p.blockLen);
    return false;
  }
  if (p.blockLen > 2097151u || p.blockCount > 4095u) {
    lgsim::Violation("%s: blockLen %u / blockCount %u beyond the documented limits", what, p.blockLen,
                     static_cast<unsigned>(p.blockCount));
    return false;
  }
  return true;
}
}  // namespace sim_detail

//! GM -> UB with padding: each block's UB image is padded to 32 bytes.
template <typename T>
void DataCopyPad(const LocalTensor<T>& dst, const GlobalTensor<T>& src, const DataCopyExtParams& params,
                 const DataCopyPadExtParams<T>& pad)
{
  lgsim::State& st = lgsim::S();
  ++st.stats.dataCopyPadIn;
  if (params.blockCount == 0 || params.blockLen == 0) {
    return;  // documented NOP
  }
  if (!sim_detail::CheckCopyParams(params, sizeof(T), "DataCopyPad GM->UB")) {
    return;
  }
  if (pad.leftPadding * sizeof(T) > sim_detail::kBlock || pad.rightPadding * sizeof(T) > sim_detail::kBlock) {
    lgsim::Violation("DataCopyPad GM->UB: padding of more than 32 bytes");
    return;
  }
  const uint64_t left = pad.leftPadding * sizeof(T);
  const uint64_t right = pad.rightPadding * sizeof(T);
  const uint64_t ubBlock = sim_detail::RoundUp32(left + params.blockLen + right);
  const uint64_t ubSpan = (params.blockCount - 1) * (ubBlock + params.dstStride * 32ull) + ubBlock;
  if (!dst.Check((ubSpan + sizeof(T) - 1) / sizeof(T), "DataCopyPad GM->UB") ||
      !lgsim::Touch(dst.Id(), lgsim::Pipe::kMte2, "DataCopyPad")) {
    return;
  }
  for (uint64_t b = 0; b < params.blockCount; ++b) {
    const uint64_t gmOff = src.ByteOffset() + b * (params.blockLen + static_cast<uint64_t>(params.srcStride));
    const uint64_t ubOff = b * (ubBlock + params.dstStride * 32ull);
    const uint8_t* p = lgsim::GmAccess(src.Handle(), gmOff, params.blockLen, src.LimitBytes(), false,
                                       lgsim::Pipe::kMte2, "DataCopyPad GM->UB");
    if (p == nullptr) {
      continue;
    }
    uint8_t* u = dst.Data() + ubOff;
    const uint8_t noise = 0xA5;  // "random" values of the documentation
    for (uint64_t i = 0; i < left; i += sizeof(T)) {
      if (pad.isPad) {
        std::memcpy(u + i, &pad.paddingValue, sizeof(T));
      } else {
        std::memset(u + i, noise, sizeof(T));
      }
    }
    std::memcpy(u + left, p, params.blockLen);
    for (uint64_t i = left + params.blockLen; i < ubBlock; i += sizeof(T)) {
      const bool userPad = i < left + params.blockLen + right;
      if (pad.isPad) {
        std::memcpy(u + i, &pad.paddingValue, sizeof(T));
      } else if (!userPad && left == 0 && right == 0) {
        std::memcpy(u + i, p, sizeof(T));  // dummy: the block's first element
      } else {
        std::memset(u + i, noise, sizeof(T));
      }
    }
  }
}

//! UB -> GM: exactly blockLen bytes per block (the UB side is 32-byte blocks).
template <typename T>
void DataCopyPad(const GlobalTensor<T>& dst, const LocalTensor<T>& src, const DataCopyExtParams& params)
{
  lgsim::State& st = lgsim::S();
  ++st.stats.dataCopyPadOut;
  if (params.blockCount == 0 || params.blockLen == 0) {
    return;
  }
  if (!sim_detail::CheckCopyParams(params, sizeof(T), "DataCopyPad UB->GM")) {
    return;
  }
  const uint64_t ubBlock = sim_detail::RoundUp32(params.blockLen);
  const uint64_t ubSpan = (params.blockCount - 1) * (ubBlock + params.srcStride * 32ull) + params.blockLen;
  if (!src.Check((ubSpan + sizeof(T) - 1) / sizeof(T), "DataCopyPad UB->GM") ||
      !lgsim::Touch(src.Id(), lgsim::Pipe::kMte3, "DataCopyPad")) {
    return;
  }
  for (uint64_t b = 0; b < params.blockCount; ++b) {
    const uint64_t gmOff = dst.ByteOffset() + b * (params.blockLen + static_cast<uint64_t>(params.dstStride));
    const uint64_t ubOff = b * (ubBlock + params.srcStride * 32ull);
    uint8_t* p = lgsim::GmAccess(dst.Handle(), gmOff, params.blockLen, dst.LimitBytes(), true, lgsim::Pipe::kMte3,
                                 "DataCopyPad UB->GM");
    if (p != nullptr) {
      std::memcpy(p, src.Data() + ubOff, params.blockLen);
    }
  }
}

// ---- vector computation -------------------------------------------------------------
namespace sim_detail {

template <typename T>
bool VectorOperand(const LocalTensor<T>& t, uint64_t count, const char* what)
{
  return t.Check(count, what) && lgsim::Touch(t.Id(), lgsim::Pipe::kV, what);
}

template <typename T>
void FloatOnly()
{
  static_assert(std::is_same<T, float>::value,
                "lossgrad computes in fp32: this vector op is only used (and only allowed here) on float");
}

inline bool Compute() { return !lgsim::S().dry; }

template <typename T, typename F>
void Binary(const LocalTensor<T>& dst, const LocalTensor<T>& a, const LocalTensor<T>& b, int32_t count,
            const char* what, F f)
{
  FloatOnly<T>();
  ++lgsim::S().stats.vectorOps;
  if (count < 0) {
    lgsim::Violation("%s: negative count", what);
    return;
  }
  const uint64_t n = static_cast<uint64_t>(count);
  if (!VectorOperand(a, n, what) || !VectorOperand(b, n, what) || !VectorOperand(dst, n, what)) {
    return;
  }
  const uint64_t bytes = n * sizeof(T);
  if (!SameOrDisjoint(dst.Offset(), bytes, a.Offset(), bytes) ||
      !SameOrDisjoint(dst.Offset(), bytes, b.Offset(), bytes)) {
    lgsim::Violation("%s: operands partially overlap", what);
    return;
  }
  if (Compute()) {
    T* d = dst.Ptr();
    const T* x = a.Ptr();
    const T* y = b.Ptr();
    for (uint64_t i = 0; i < n; ++i) {
      d[i] = f(x[i], y[i]);
    }
  }
}

template <typename T, typename F>
void Unary(const LocalTensor<T>& dst, const LocalTensor<T>& a, int32_t count, const char* what, F f)
{
  FloatOnly<T>();
  ++lgsim::S().stats.vectorOps;
  if (count < 0) {
    lgsim::Violation("%s: negative count", what);
    return;
  }
  const uint64_t n = static_cast<uint64_t>(count);
  if (!VectorOperand(a, n, what) || !VectorOperand(dst, n, what)) {
    return;
  }
  if (!SameOrDisjoint(dst.Offset(), n * sizeof(T), a.Offset(), n * sizeof(T))) {
    lgsim::Violation("%s: operands partially overlap", what);
    return;
  }
  if (Compute()) {
    T* d = dst.Ptr();
    const T* x = a.Ptr();
    for (uint64_t i = 0; i < n; ++i) {
      d[i] = f(x[i]);
    }
  }
}

}  // namespace sim_detail

template <typename T>
void Add(const LocalTensor<T>& dst, const LocalTensor<T>& a, const LocalTensor<T>& b, const int32_t& count)
{
  sim_detail::Binary(dst, a, b, count, "Add", [](T x, T y) { return x + y; });
}

template <typename T>
void Sub(const LocalTensor<T>& dst, const LocalTensor<T>& a, const LocalTensor<T>& b, const int32_t& count)
{
  sim_detail::Binary(dst, a, b, count, "Sub", [](T x, T y) { return x - y; });
}

template <typename T>
void Mul(const LocalTensor<T>& dst, const LocalTensor<T>& a, const LocalTensor<T>& b, const int32_t& count)
{
  sim_detail::Binary(dst, a, b, count, "Mul", [](T x, T y) { return x * y; });
}

template <typename T>
void Div(const LocalTensor<T>& dst, const LocalTensor<T>& a, const LocalTensor<T>& b, const int32_t& count)
{
  sim_detail::Binary(dst, a, b, count, "Div", [](T x, T y) { return x / y; });  // IEEE fp32 division
}

template <typename T>
void Abs(const LocalTensor<T>& dst, const LocalTensor<T>& src, const int32_t& count)
{
  sim_detail::Unary(dst, src, count, "Abs", [](T x) { return std::fabs(x); });
}

template <typename T>
void Adds(const LocalTensor<T>& dst, const LocalTensor<T>& src, const T& scalar, const int32_t& count)
{
  sim_detail::Unary(dst, src, count, "Adds", [scalar](T x) { return x + scalar; });
}

template <typename T>
void Muls(const LocalTensor<T>& dst, const LocalTensor<T>& src, const T& scalar, const int32_t& count)
{
  sim_detail::Unary(dst, src, count, "Muls", [scalar](T x) { return x * scalar; });
}

template <typename T>
void Duplicate(const LocalTensor<T>& dst, const T& scalar, const int32_t& count)
{
  ++lgsim::S().stats.vectorOps;
  if (count < 0) {
    lgsim::Violation("Duplicate: negative count");
    return;
  }
  const uint64_t n = static_cast<uint64_t>(count);
  if (!sim_detail::VectorOperand(dst, n, "Duplicate")) {
    return;
  }
  if (sim_detail::Compute()) {
    T* d = dst.Ptr();
    for (uint64_t i = 0; i < n; ++i) {
      d[i] = scalar;
    }
  }
}

namespace sim_detail {

//! float -> 16-bit float, round to nearest even, with the CTRL[48] rule:
//! saturating (the default) turns NaN into 0 and Inf/overflow into +-MAX.
template <typename D>
uint16_t NarrowBits(float v, bool saturate)
{
  constexpr uint16_t maxBits = std::is_same<D, half>::value ? 0x7BFF : 0x7F7F;  // largest finite
  if (saturate && std::isnan(v)) {
    return 0;
  }
  const D out(v);
  if (saturate && std::isinf(static_cast<float>(out))) {
    return static_cast<uint16_t>(maxBits | (std::signbit(v) ? 0x8000 : 0));
  }
  return out.bits;
}

}  // namespace sim_detail

//! Precision conversion; the pairs and round modes of the A2/A3 tables that
//! this project uses (widening with CAST_NONE, narrowing with CAST_RINT).
template <typename D, typename S>
void Cast(const LocalTensor<D>& dst, const LocalTensor<S>& src, const RoundMode& mode, const uint32_t count)
{
  constexpr bool widen = std::is_same<D, float>::value &&
                         (std::is_same<S, half>::value || std::is_same<S, bfloat16_t>::value);
  constexpr bool narrow = std::is_same<S, float>::value &&
                          (std::is_same<D, half>::value || std::is_same<D, bfloat16_t>::value);
  static_assert(widen || narrow, "Cast pair not modeled (the kernel only widens/narrows 16-bit floats)");
  lgsim::State& st = lgsim::S();
  ++st.stats.vectorOps;
  if (!sim_detail::VectorOperand(src, count, "Cast") || !sim_detail::VectorOperand(dst, count, "Cast")) {
    return;
  }
  if (!sim_detail::Disjoint(dst.Offset(), uint64_t(count) * sizeof(D), src.Offset(), uint64_t(count) * sizeof(S))) {
    lgsim::Violation("Cast: source and destination overlap (not allowed for a size-changing Cast)");
    return;
  }
  if (widen && mode != RoundMode::CAST_NONE) {
    lgsim::Violation("Cast half/bfloat16 -> float supports CAST_NONE only on A2/A3");
    return;
  }
  if (narrow) {
    const bool toHalf = std::is_same<D, half>::value;
    // A2/A3 also offer FLOOR/CEIL/ROUND/TRUNC (and ODD for half); only the
    // round-to-nearest-even modes are modeled (CAST_NONE means RINT for half).
    const bool ok = mode == RoundMode::CAST_RINT || (toHalf && mode == RoundMode::CAST_NONE);
    if (!ok) {
      lgsim::Violation("Cast float -> %s: round mode %d not supported on A2/A3 or not modeled",
                       toHalf ? "half" : "bfloat16_t", static_cast<int>(mode));
      return;
    }
  }
  if (!sim_detail::Compute()) {
    return;
  }
  D* d = dst.Ptr();
  const S* s = src.Ptr();
  for (uint32_t i = 0; i < count; ++i) {
    if constexpr (widen) {
      d[i] = static_cast<float>(s[i]);
    } else {
      D out;
      out.bits = sim_detail::NarrowBits<D>(s[i], st.floatSaturation);
      d[i] = out;
    }
  }
}

//! Bit i of dst (little-endian within bytes) = (src[i] cmp scalar); the count
//! must cover whole 256-byte blocks, the remainder is not computed.
template <typename T, typename U>
void Compares(const LocalTensor<U>& dst, const LocalTensor<T>& src, const T scalar, CMPMODE mode, uint32_t count)
{
  sim_detail::FloatOnly<T>();
  static_assert(std::is_same<U, uint8_t>::value, "Compares writes a uint8_t bit mask");
  lgsim::State& st = lgsim::S();
  ++st.stats.vectorOps;
  uint64_t n = count;
  if ((n * sizeof(T)) % 256 != 0) {
    ++st.stats.partialCompares;
    n = n * sizeof(T) / 256 * 256 / sizeof(T);
  }
  if (!sim_detail::VectorOperand(src, n, "Compares") || !sim_detail::VectorOperand(dst, (n + 7) / 8, "Compares")) {
    return;
  }
  if (!sim_detail::Disjoint(dst.Offset(), (n + 7) / 8, src.Offset(), n * sizeof(T))) {
    lgsim::Violation("Compares: mask and source overlap");
    return;
  }
  if (!sim_detail::Compute()) {
    return;
  }
  const T* s = src.Ptr();
  uint8_t* m = dst.Data();
  for (uint64_t i = 0; i < n; i += 8) {
    uint8_t byte = 0;
    for (uint64_t j = 0; j < 8 && i + j < n; ++j) {
      const T x = s[i + j];
      bool r = false;
      switch (mode) {
        case CMPMODE::LT: r = x < scalar; break;
        case CMPMODE::GT: r = x > scalar; break;
        case CMPMODE::EQ: r = x == scalar; break;
        case CMPMODE::LE: r = x <= scalar; break;
        case CMPMODE::GE: r = x >= scalar; break;
        case CMPMODE::NE: r = x != scalar; break;
      }
      byte = static_cast<uint8_t>(byte | (r ? 1u << j : 0u));
    }
    m[i / 8] = byte;
  }
}

namespace sim_detail {
inline bool SelectReserve()
{
  const lgsim::State& st = lgsim::S();
  if (st.ubBytes - st.ubUsed < 8192) {
    lgsim::Violation("Select: modes 1 and 2 need 8 KB of unallocated UB; only %llu bytes are free",
                     static_cast<unsigned long long>(st.ubBytes - st.ubUsed));
    return false;
  }
  return true;
}
}  // namespace sim_detail

//! dst[i] = bit i of mask ? src0[i] : src1[i] (mode 2, tensor-tensor).
template <typename T, typename U>
void Select(const LocalTensor<T>& dst, const LocalTensor<U>& mask, const LocalTensor<T>& src0,
            const LocalTensor<T>& src1, SELMODE mode, uint32_t count)
{
  sim_detail::FloatOnly<T>();
  ++lgsim::S().stats.vectorOps;
  if (mode != SELMODE::VSEL_TENSOR_TENSOR_MODE) {
    lgsim::Violation("Select(tensor, tensor): only VSEL_TENSOR_TENSOR_MODE is modeled");
    return;
  }
  const uint64_t bytes = uint64_t(count) * sizeof(T);
  if (!sim_detail::SelectReserve() || !sim_detail::VectorOperand(mask, (count + 7) / 8, "Select") ||
      !sim_detail::VectorOperand(src0, count, "Select") || !sim_detail::VectorOperand(src1, count, "Select") ||
      !sim_detail::VectorOperand(dst, count, "Select")) {
    return;
  }
  if (!sim_detail::SameOrDisjoint(dst.Offset(), bytes, src0.Offset(), bytes) ||
      !sim_detail::SameOrDisjoint(dst.Offset(), bytes, src1.Offset(), bytes) ||
      !sim_detail::Disjoint(dst.Offset(), bytes, mask.Offset(), (count + 7) / 8)) {
    lgsim::Violation("Select: operands partially overlap");
    return;
  }
  if (!sim_detail::Compute()) {
    return;
  }
  T* d = dst.Ptr();
  const T* a = src0.Ptr();
  const T* b = src1.Ptr();
  const uint8_t* m = mask.Data();
  for (uint32_t i = 0; i < count; ++i) {
    d[i] = ((m[i / 8] >> (i % 8)) & 1u) ? a[i] : b[i];
  }
}

}  // namespace AscendC

#endif  // LGSIM_KERNEL_OPERATOR_H_
