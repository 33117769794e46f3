// Ascend C kernel of every op of the package (one template, one entry per op):
//
//   grad ops (a family with a multiplier input m):  y = m * f(a - b) * s
//   loss ops (a family without one, kMul < 0):      e = f(a - b); y = e * s ("none"),
//                                                   y = s * sum(e) ("sum": s = 1, "mean": s = 1/N)
//
// where a, b, m are inputs and f is the elementwise function of the op's family
// (op_kernel/families/<family>.h: its input roles, UB needs and compute hooks;
// each kernel entry includes its own), s the host's scale. The op's declared
// float attributes arrive in the tiling data (attrs) and reach the family's hooks.
//
// Reductions (loss ops, "mean"/"sum"): each core sums f over its slice in fp32 (a lane-wise
// accumulator tile, folded by halves, then the remaining lanes in order on the scalar unit),
// writes its partial to its own 32-byte slot of the workspace, and all cores meet in the
// hard SyncAll<true>() that CANN documents for pure vector kernels on A2/A3 (Ascend C API
// reference, "SyncAll", atlasascendc_api_07_0204). Core 0 then adds the partials in core
// order and stores s * total. The result is deterministic for a given core count and tile
// length (that is, platform); another core count sums in another order.
//
// Design (what improves on the CANN seeds, see docs/SPEC.md):
//  * every vector core gets a balanced, 32-byte aligned slice of the N elements
//    (LossGradCoreSlice, the same formula the host tiling checks), N 64-bit;
//  * each core streams its slice through the unified buffer in tiles of
//    tileLength elements (sized on the host from the UB size and the dtype),
//    with double-buffered queues, so MTE2 copy-in, vector compute and MTE3
//    copy-out of consecutive tiles overlap;
//  * whole tiles move with DataCopy; an unaligned tail moves with DataCopyPad
//    (padded to 32 bytes in the UB, exact bytes in GM): no scalar loops;
//  * float16/bfloat16 are widened to fp32, all arithmetic is fp32, and the
//    result is rounded once, to nearest even (Cast CAST_RINT), on store, with
//    the hardware's float saturation switched off so Inf/NaN propagate;
//  * the scale s arrives from the host as a float computed in double;
//  * broadcasting: inputs with the output's element count stream like the
//    output; one-element inputs are read once into a scalar (Adds/Muls);
//    any other shape is first materialized by this core, for its own slice,
//    into the workspace (an explicit broadcast), then streamed;
//  * f runs on fp32 tiles (FamilyCompute<Family>::OnTile), or on the scalar
//    difference when both operands are one-element inputs (OnScalar).
//
// The file compiles against the real kernel_operator.h (CANN) and against the
// host stand-in in framework/ascend/sim/include (CPU verification).
#ifndef LOSSGRAD_KERNEL_H_
#define LOSSGRAD_KERNEL_H_

#ifdef LOSSGRAD_FAMILY_H_
#error "families/family.h was included without its compute part: include lossgrad_kernel.h first"
#endif
#define LOSSGRAD_KERNEL_COMPUTE 1

#include "kernel_operator.h"
#include "lossgrad_tiling_data.h"
#include "families/family.h"

namespace lossgrad_kernel {

constexpr int32_t kNumIn = 3;
constexpr uint32_t kBufferNum = 2;         // double buffering (must match the host plan)
constexpr uint32_t kBlockBytes = 32;       // DMA / UB data block
constexpr uint32_t kCompareElems = 64;     // fp32 elements per 256 bytes (Compares count unit)
constexpr uint32_t kMaxRank = 8;
constexpr uint32_t kAttrSlots = LOSSGRAD_TILING_ATTR_SLOTS;

template <typename T>
struct IsF32 {
  static constexpr bool value = false;
};
template <>
struct IsF32<float> {
  static constexpr bool value = true;
};

//! A scalar of the input dtype, widened exactly to fp32 on the scalar unit.
template <typename T>
__aicore__ inline float ScalarToF32(T v);
template <>
__aicore__ inline float ScalarToF32<float>(float v)
{
  return v;
}
template <>
__aicore__ inline float ScalarToF32<half>(half v)
{
  return static_cast<float>(v);
}
template <>
__aicore__ inline float ScalarToF32<bfloat16_t>(bfloat16_t v)
{
  return AscendC::ToFloat(v);
}

template <typename T, class Family>
class LossGradKernel {
  static_assert(Family::kF32Scratch <= 2, "a family gets at most two fp32 scratch tiles (bufB_, bufZ_)");
  using F = FamilyCompute<Family>;
  //! A loss (forward) family has no multiplier input.
  static constexpr bool kForward = Family::kMul < 0;

 public:
  __aicore__ inline LossGradKernel() {}

  //! x0..x2 are the op's inputs in CANN order (a loss op passes nullptr for x2), y the output.
  template <class TilingT>
  __aicore__ inline void Init(GM_ADDR x0, GM_ADDR x1, GM_ADDR x2, GM_ADDR y, GM_ADDR workspace,
                              const TilingT& t)
  {
    uint64_t start = 0;
    uint64_t count = 0;
    LossGradCoreSlice(t, static_cast<uint64_t>(AscendC::GetBlockIdx()), start, count);
    start_ = start;
    count_ = count;
    total_ = t.totalLength;
    tile_ = t.tileLength;
    scale_ = t.scale;
    reduce_ = kForward && t.reduceOutput != 0;
    cores_ = t.usedCores;
    for (uint32_t i = 0; i < kAttrSlots; ++i) {
      attrs_[i] = t.attrs[i];
    }
    rank_ = static_cast<uint32_t>(t.bcastRank);
    for (uint32_t i = 0; i < kMaxRank; ++i) {
      dims_[i] = t.outDims[i];
      strides_[0][i] = t.strides0[i];
      strides_[1][i] = t.strides1[i];
      strides_[2][i] = t.strides2[i];
    }
    const uint64_t wsOffsets[kNumIn] = {t.wsOffset0, t.wsOffset1, t.wsOffset2};
    GM_ADDR inputs[kNumIn] = {x0, x1, x2};
    bool anyBcast = false;
    for (int32_t k = 0; k < kNumIn; ++k) {
      mode_[k] = LossGradInputModeOf(t, static_cast<uint32_t>(k));
      anyBcast = anyBcast || mode_[k] == kLossGradBcast;
    }
    // The workspace holds the broadcast copies (none for an empty output) and the partial sums.
    GM_ADDR userWs = ((anyBcast && total_ != 0) || reduce_) ? AscendC::GetUserWorkspace(workspace) : nullptr;
    for (int32_t k = 0; k < kNumIn; ++k) {
      inBase_[k] = 0;
      scalar_[k] = 0.0f;
      if (mode_[k] == kLossGradAbsent) {
        continue;  // a loss op's unused third input
      }
      if (mode_[k] == kLossGradFull) {
        inGm_[k].SetGlobalBuffer(reinterpret_cast<__gm__ T*>(inputs[k]), total_);
      } else if (mode_[k] == kLossGradScalar) {
        srcGm_[k].SetGlobalBuffer(reinterpret_cast<__gm__ T*>(inputs[k]), 1);
        scalar_[k] = ScalarToF32<T>(srcGm_[k].GetValue(0));
      } else {
        // Broadcast input: its compact source, and its full-size copy in the workspace.
        srcGm_[k].SetGlobalBuffer(reinterpret_cast<__gm__ T*>(inputs[k]), SourceElems(k));
        inBase_[k] = wsOffsets[k] / sizeof(T);
        inGm_[k].SetGlobalBuffer(reinterpret_cast<__gm__ T*>(userWs), inBase_[k] + total_);
      }
    }
    yGm_.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(y), reduce_ ? 1 : total_);
    if (reduce_) {
      // (an element offset into the workspace, like the broadcast copies' inBase_)
      partialBase_ = t.partialOffset / sizeof(float);
      partialGm_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(userWs), partialBase_ + cores_ * kSlotFloats);
    }
    // Both operands of the difference scalar: f of the difference is a scalar too.
    diffScalar_ = F::OnScalar(scalar_[Lhs()] - scalar_[Rhs()], attrs_);
    if (count_ == 0 && !reduce_) {
      return;  // a reducing core always takes part in the combine (its partial is 0)
    }
    // Unified-buffer layout; the host plan (UbBytesForTile) counts exactly these bytes.
    const uint32_t tileBytes = static_cast<uint32_t>(tile_ * sizeof(T));
    const uint32_t f32Bytes = static_cast<uint32_t>(tile_ * sizeof(float));
    for (int32_t k = 0; k < kNumIn; ++k) {
      if (Streamed(k)) {
        pipe_.InitBuffer(Queue(k), kBufferNum, tileBytes);
      }
    }
    if (!reduce_) {
      pipe_.InitBuffer(outQ_, kBufferNum, tileBytes);
    }
    // A and B widen half inputs; B is also the family's first scratch tile, Z its second.
    if (!IsF32<T>::value) {
      pipe_.InitBuffer(bufA_, f32Bytes);
    }
    if (!IsF32<T>::value || Family::kF32Scratch >= 1) {
      pipe_.InitBuffer(bufB_, f32Bytes);
    }
    if (Family::kF32Scratch >= 2) {
      pipe_.InitBuffer(bufZ_, f32Bytes);
    }
    if (Family::kCompareMask) {
      pipe_.InitBuffer(maskBuf_, static_cast<uint32_t>(tile_ / 8));
    }
    if (reduce_) {
      // the accumulator tile, one slot for the partial / the result, one for the stored
      // element, and (core 0) the partials of all cores
      pipe_.InitBuffer(accBuf_, f32Bytes);
      pipe_.InitBuffer(slotBuf_, kBlockBytes);
      pipe_.InitBuffer(storeBuf_, kBlockBytes);
      pipe_.InitBuffer(combineBuf_, static_cast<uint32_t>(cores_ * kBlockBytes));
    }
  }

  __aicore__ inline void Process()
  {
    if (reduce_) {
      ProcessReduce();
      return;
    }
    if (count_ == 0) {
      return;
    }
    // Inf and NaN must survive the fp32 -> half/bfloat16 store (CTRL[48] = 1:
    // non-saturating); the default would clamp Inf to +-MAX and NaN to 0.
    AscendC::SetCtrlSpr<48, 48>(1);
    if (AnyBroadcast()) {
      Materialize();
    }
    RunTiles(true);
    AscendC::SetCtrlSpr<48, 48>(0);
  }

 private:
  static constexpr uint32_t kSlotFloats = kBlockBytes / sizeof(float);  // one 32-byte slot per partial

  //! Whether an input is a general broadcast (Materialize() expands it first).
  __aicore__ inline bool AnyBroadcast() const
  {
    return mode_[0] == kLossGradBcast || mode_[1] == kLossGradBcast || mode_[2] == kLossGradBcast;
  }

  //! This core's range, tile by tile: copy in, compute, and copy out unless the op reduces.
  __aicore__ inline void RunTiles(bool copy_out)
  {
    const uint64_t tiles = (count_ + tile_ - 1) / tile_;
    for (uint64_t i = 0; i < tiles; ++i) {
      const uint64_t offset = start_ + i * tile_;
      const uint64_t left = count_ - i * tile_;
      const uint32_t n = static_cast<uint32_t>(left < tile_ ? left : tile_);
      CopyIn(offset, n);
      Compute(n);
      if (copy_out) {
        CopyOut(offset, n);
      }
    }
  }

  //! "mean"/"sum" of a loss op: partial sums per core, then core 0 combines them in core order.
  __aicore__ inline void ProcessReduce()
  {
    AscendC::SetCtrlSpr<48, 48>(1);  // Inf/NaN survive the final narrowing store
    if (count_ != 0 && AnyBroadcast()) {
      Materialize();
    }
    AscendC::LocalTensor<float> acc = accBuf_.template Get<float>();
    AscendC::Duplicate(acc, 0.0f, static_cast<int32_t>(tile_));
    RunTiles(false);  // Compute() adds each tile into acc
    const float partial = FoldAccumulator(acc);
    // This core's partial into its own 32-byte slot of the workspace.
    AscendC::LocalTensor<float> slot = slotBuf_.template Get<float>();
    AscendC::Duplicate(slot, partial, static_cast<int32_t>(kSlotFloats));
    AscendC::PipeBarrier<PIPE_ALL>();
    const uint64_t core = static_cast<uint64_t>(AscendC::GetBlockIdx());
    AscendC::DataCopy(partialGm_[partialBase_ + core * kSlotFloats], slot, kSlotFloats);
    // Every core's partial is in GM once all cores have passed this point.
    AscendC::SyncAll<true>();
    if (core == 0) {
      Combine(slot);
    }
    AscendC::SetCtrlSpr<48, 48>(0);
  }

  //! Sum of the accumulator's lanes: halves added on the vector unit while the length stays
  //! a multiple of 128, then the remaining lanes in order on the scalar unit.
  __aicore__ inline float FoldAccumulator(const AscendC::LocalTensor<float>& acc)
  {
    uint32_t len = static_cast<uint32_t>(tile_);
    while (len > kCompareElems && len % (2 * kCompareElems) == 0) {
      const uint32_t upper = len / 2;
      AscendC::Add(acc, acc, acc[upper], static_cast<int32_t>(upper));
      len = upper;
    }
    AscendC::PipeBarrier<PIPE_ALL>();  // V -> S
    float sum = 0.0f;
    for (uint32_t i = 0; i < len; ++i) {
      sum += acc.GetValue(i);
    }
    return sum;
  }

  //! Core 0: the partials of all cores, added in core order, times s, stored as one element.
  __aicore__ inline void Combine(const AscendC::LocalTensor<float>& slot)
  {
    AscendC::LocalTensor<float> all = combineBuf_.template Get<float>();
    AscendC::DataCopy(all, partialGm_[partialBase_], static_cast<uint32_t>(cores_ * kSlotFloats));
    AscendC::PipeBarrier<PIPE_ALL>();  // MTE2 -> S
    float total = 0.0f;
    for (uint64_t c = 0; c < cores_; ++c) {
      total += all.GetValue(static_cast<uint32_t>(c * kSlotFloats));
    }
    AscendC::Duplicate(slot, total * scale_, static_cast<int32_t>(kSlotFloats));
    AscendC::LocalTensor<T> out;
    if constexpr (IsF32<T>::value) {
      out = slot;
    } else {
      out = storeBuf_.template Get<T>();
      AscendC::Cast(out, slot, AscendC::RoundMode::CAST_RINT, kSlotFloats);  // round once
    }
    AscendC::PipeBarrier<PIPE_ALL>();  // V -> MTE3
    AscendC::DataCopyPad(yGm_, out, OneBlockCopy(static_cast<uint32_t>(sizeof(T))));
    AscendC::PipeBarrier<PIPE_ALL>();
  }

  //! Input k moves through a queue (not a one-element or absent input).
  __aicore__ inline bool Streamed(int32_t k) const
  {
    return mode_[k] != kLossGradScalar && mode_[k] != kLossGradAbsent;
  }

  static constexpr int32_t Lhs() { return Family::kLhs; }
  static constexpr int32_t Rhs() { return Family::kRhs; }
  static constexpr int32_t Mul() { return kForward ? 0 : Family::kMul; }

  __aicore__ inline AscendC::TQue<AscendC::TPosition::VECIN, 1>& Queue(int32_t k)
  {
    return k == 0 ? inQ0_ : (k == 1 ? inQ1_ : inQ2_);
  }

  //! Elements of a broadcast input's compact source: 1 + sum (dim - 1) * stride.
  __aicore__ inline uint64_t SourceElems(int32_t k) const
  {
    uint64_t elems = 1;
    for (uint32_t i = 0; i < rank_; ++i) {
      elems += static_cast<uint64_t>(dims_[i] - 1) * static_cast<uint64_t>(strides_[k][i]);
    }
    return elems;
  }

  //! DataCopyPad parameters for one contiguous run of `bytes` bytes.
  __aicore__ static inline AscendC::DataCopyExtParams OneBlockCopy(uint32_t bytes)
  {
    AscendC::DataCopyExtParams copy;
    copy.blockCount = 1;
    copy.blockLen = bytes;
    copy.srcStride = 0;
    copy.dstStride = 0;
    copy.rsv = 0;
    return copy;
  }

  //! GM -> UB: DataCopy when the bytes are a whole number of 32-byte blocks,
  //! otherwise DataCopyPad (the UB side is padded up to the next 32 bytes).
  __aicore__ inline void CopyGmToUb(const AscendC::LocalTensor<T>& dst, const AscendC::GlobalTensor<T>& src,
                                    uint32_t n)
  {
    const uint32_t bytes = n * static_cast<uint32_t>(sizeof(T));
    if (bytes % kBlockBytes == 0) {
      AscendC::DataCopy(dst, src, n);
    } else {
      const AscendC::DataCopyExtParams copy = OneBlockCopy(bytes);
      AscendC::DataCopyPadExtParams<T> pad;
      pad.isPad = false;  // the hardware pads with the block's first element
      pad.leftPadding = 0;
      pad.rightPadding = 0;
      AscendC::DataCopyPad(dst, src, copy, pad);
    }
  }

  //! UB -> GM: exact bytes (DataCopyPad drops the padding for unaligned tails).
  __aicore__ inline void CopyUbToGm(const AscendC::GlobalTensor<T>& dst, const AscendC::LocalTensor<T>& src,
                                    uint32_t n)
  {
    const uint32_t bytes = n * static_cast<uint32_t>(sizeof(T));
    if (bytes % kBlockBytes == 0) {
      AscendC::DataCopy(dst, src, n);
    } else {
      AscendC::DataCopyPad(dst, src, OneBlockCopy(bytes));
    }
  }

  //! Explicit broadcast: write this core's slice [start_, start_ + count_) of
  //! every broadcast input, expanded to the output's shape, into its workspace
  //! region. Walks the coalesced output row by row; a row of an input that is
  //! contiguous along the innermost axis is one copy, a row broadcast along it
  //! is one Duplicate. MTE2 -> MTE3 -> MTE2 ordering through PipeBarrier. The staging tile is
  //! an output queue buffer, or (reductions, which have no output queue) the accumulator tile,
  //! which is set to 0 only afterwards.
  __aicore__ inline void Materialize()
  {
    const uint32_t last = rank_ - 1;
    for (int32_t k = 0; k < kNumIn; ++k) {
      if (mode_[k] != kLossGradBcast) {
        continue;
      }
      AscendC::LocalTensor<T> stage =
          reduce_ ? accBuf_.template Get<T>() : outQ_.template AllocTensor<T>();
      uint64_t coords[kMaxRank];
      uint64_t rest = start_;
      for (int32_t i = static_cast<int32_t>(last); i >= 0; --i) {
        coords[i] = rest % static_cast<uint64_t>(dims_[i]);
        rest /= static_cast<uint64_t>(dims_[i]);
      }
      const uint64_t end = start_ + count_;
      for (uint64_t f = start_; f < end;) {
        uint64_t src = 0;
        for (uint32_t i = 0; i <= last; ++i) {
          src += coords[i] * static_cast<uint64_t>(strides_[k][i]);
        }
        const uint64_t rowLeft = static_cast<uint64_t>(dims_[last]) - coords[last];
        const uint64_t seg = rowLeft < end - f ? rowLeft : end - f;
        for (uint64_t pos = 0; pos < seg; pos += tile_) {
          const uint64_t chunkLeft = seg - pos;
          const uint32_t c = static_cast<uint32_t>(chunkLeft < tile_ ? chunkLeft : tile_);
          if (strides_[k][last] != 0) {
            CopyGmToUb(stage, srcGm_[k][src + pos], c);
          } else {
            AscendC::Duplicate(stage, srcGm_[k].GetValue(src), static_cast<int32_t>(c));
          }
          AscendC::PipeBarrier<PIPE_ALL>();
          CopyUbToGm(inGm_[k][inBase_[k] + f + pos], stage, c);
          AscendC::PipeBarrier<PIPE_ALL>();
        }
        f += seg;
        // Advance the odometer by seg elements (seg ends the row or the slice).
        coords[last] += seg;
        for (uint32_t i = last; i > 0 && coords[i] >= static_cast<uint64_t>(dims_[i]); --i) {
          coords[i] = 0;
          coords[i - 1] += 1;
        }
      }
      if (!reduce_) {
        outQ_.FreeTensor(stage);
      }
    }
  }

  __aicore__ inline void CopyIn(uint64_t offset, uint32_t n)
  {
    for (int32_t k = 0; k < kNumIn; ++k) {
      if (!Streamed(k)) {
        continue;
      }
      AscendC::LocalTensor<T> x = Queue(k).template AllocTensor<T>();
      CopyGmToUb(x, inGm_[k][inBase_[k] + offset], n);
      Queue(k).EnQue(x);
    }
  }

  //! fp32 view of a tile: the tile itself for float, else widened into `buf`.
  __aicore__ inline AscendC::LocalTensor<float> ToF32(const AscendC::LocalTensor<T>& x,
                                                      AscendC::TBuf<AscendC::TPosition::VECCALC>& buf,
                                                      uint32_t n)
  {
    if constexpr (IsF32<T>::value) {
      return x;
    } else {
      AscendC::LocalTensor<float> w = buf.template Get<float>();
      AscendC::Cast(w, x, AscendC::RoundMode::CAST_NONE, n);  // exact widening
      return w;
    }
  }

  __aicore__ inline void Compute(uint32_t n)
  {
    // Vector ops run over n rounded up to 64 fp32 elements (256 bytes, the unit
    // Compares needs); the extra lanes hold padding or stale data and are never stored.
    const uint32_t nc = (n + kCompareElems - 1) / kCompareElems * kCompareElems;
    AscendC::LocalTensor<T> x[kNumIn];
    for (int32_t k = 0; k < kNumIn; ++k) {
      if (Streamed(k)) {
        x[k] = Queue(k).template DeQue<T>();
      }
    }
    const bool lhsScalar = mode_[Lhs()] == kLossGradScalar;
    const bool rhsScalar = mode_[Rhs()] == kLossGradScalar;

    // 1. d = a - b in fp32 (a tensor unless both operands are scalars).
    AscendC::LocalTensor<float> d;
    const bool dTensor = !(lhsScalar && rhsScalar);
    if (!lhsScalar && !rhsScalar) {
      d = ToF32(x[Lhs()], bufA_, nc);
      AscendC::LocalTensor<float> b = ToF32(x[Rhs()], bufB_, nc);
      AscendC::Sub(d, d, b, static_cast<int32_t>(nc));
    } else if (!lhsScalar) {
      d = ToF32(x[Lhs()], bufA_, nc);
      AscendC::Adds(d, d, -scalar_[Rhs()], static_cast<int32_t>(nc));
    } else if (!rhsScalar) {
      d = ToF32(x[Rhs()], bufA_, nc);
      AscendC::Muls(d, d, -1.0f, static_cast<int32_t>(nc));  // exact negation: a + (-b) == a - b
      AscendC::Adds(d, d, scalar_[Lhs()], static_cast<int32_t>(nc));
    }

    // 2. d = f(d), the family's function (the scalar case was done in Init).
    if (dTensor) {
      TileScratch scratch;
      scratch.attrs = attrs_;
      if constexpr (Family::kF32Scratch >= 1) {
        scratch.f32[0] = bufB_.template Get<float>();
      }
      if constexpr (Family::kF32Scratch >= 2) {
        scratch.f32[1] = bufZ_.template Get<float>();
      }
      if constexpr (Family::kCompareMask) {
        scratch.mask = maskBuf_.template Get<uint8_t>();
      }
      d = F::OnTile(d, scratch, nc);
    }

    if constexpr (kForward) {
      StoreOrAccumulate(d, n, nc);
    } else {
      ScaleAndStore(x, d, dTensor, nc);
    }
    for (int32_t k = 0; k < kNumIn; ++k) {
      if (Streamed(k)) {
        Queue(k).FreeTensor(x[k]);
      }
    }
  }

  //! Loss ops: e = f(d) (in d), accumulated ("mean"/"sum": exactly the n valid lanes) or
  //! stored as e * s ("none", s = 1).
  //! d is always a tile here: with two inputs, a one-element operand next to another one-element
  //! operand means N = 1, and then both stream (the host plan's modes).
  __aicore__ inline void StoreOrAccumulate(const AscendC::LocalTensor<float>& d, uint32_t n, uint32_t nc)
  {
    if (reduce_) {
      AscendC::LocalTensor<float> acc = accBuf_.template Get<float>();
      AscendC::Add(acc, acc, d, static_cast<int32_t>(n));
      return;
    }
    AscendC::LocalTensor<T> y = outQ_.template AllocTensor<T>();
    if constexpr (IsF32<T>::value) {
      AscendC::Muls(y, d, scale_, static_cast<int32_t>(nc));
    } else {
      AscendC::Muls(d, d, scale_, static_cast<int32_t>(nc));
      AscendC::Cast(y, d, AscendC::RoundMode::CAST_RINT, nc);  // round to nearest even, once
    }
    outQ_.EnQue(y);
  }

  //! Grad ops: r = m * d * s in fp32, then store (rounded once for half types).
  __aicore__ inline void ScaleAndStore(AscendC::LocalTensor<T>* x, const AscendC::LocalTensor<float>& d,
                                       bool dTensor, uint32_t nc)
  {
    AscendC::LocalTensor<T> y = outQ_.template AllocTensor<T>();
    AscendC::LocalTensor<float> r;
    if constexpr (IsF32<T>::value) {
      r = y;
    } else {
      r = bufA_.template Get<float>();
    }
    if (mode_[Mul()] != kLossGradScalar) {
      AscendC::LocalTensor<float> m = ToF32(x[Mul()], bufB_, nc);
      if (dTensor) {
        AscendC::Mul(r, d, m, static_cast<int32_t>(nc));
      } else {
        AscendC::Muls(r, m, diffScalar_, static_cast<int32_t>(nc));
      }
    } else {
      AscendC::Muls(r, d, scalar_[Mul()], static_cast<int32_t>(nc));
    }
    AscendC::Muls(r, r, scale_, static_cast<int32_t>(nc));
    if constexpr (!IsF32<T>::value) {
      AscendC::Cast(y, r, AscendC::RoundMode::CAST_RINT, nc);  // round to nearest even, once
    }
    outQ_.EnQue(y);
  }

  __aicore__ inline void CopyOut(uint64_t offset, uint32_t n)
  {
    AscendC::LocalTensor<T> y = outQ_.template DeQue<T>();
    CopyUbToGm(yGm_[offset], y, n);
    outQ_.FreeTensor(y);
  }

  AscendC::TPipe pipe_;
  AscendC::TQue<AscendC::TPosition::VECIN, 1> inQ0_;
  AscendC::TQue<AscendC::TPosition::VECIN, 1> inQ1_;
  AscendC::TQue<AscendC::TPosition::VECIN, 1> inQ2_;
  AscendC::TQue<AscendC::TPosition::VECOUT, 1> outQ_;
  AscendC::TBuf<AscendC::TPosition::VECCALC> bufA_;
  AscendC::TBuf<AscendC::TPosition::VECCALC> bufB_;
  AscendC::TBuf<AscendC::TPosition::VECCALC> bufZ_;
  AscendC::TBuf<AscendC::TPosition::VECCALC> maskBuf_;
  AscendC::TBuf<AscendC::TPosition::VECCALC> accBuf_;
  AscendC::TBuf<AscendC::TPosition::VECCALC> slotBuf_;
  AscendC::TBuf<AscendC::TPosition::VECCALC> storeBuf_;
  AscendC::TBuf<AscendC::TPosition::VECCALC> combineBuf_;
  AscendC::GlobalTensor<float> partialGm_;
  AscendC::GlobalTensor<T> inGm_[kNumIn];
  AscendC::GlobalTensor<T> srcGm_[kNumIn];
  AscendC::GlobalTensor<T> yGm_;
  uint64_t start_ = 0;
  uint64_t count_ = 0;
  uint64_t total_ = 0;
  uint64_t tile_ = 0;
  uint64_t inBase_[kNumIn] = {0, 0, 0};
  uint32_t mode_[kNumIn] = {0, 0, 0};
  float scalar_[kNumIn] = {0.0f, 0.0f, 0.0f};
  float diffScalar_ = 0.0f;
  float scale_ = 0.0f;
  bool reduce_ = false;
  uint64_t cores_ = 1;
  uint64_t partialBase_ = 0;
  float attrs_[kAttrSlots] = {};
  uint32_t rank_ = 0;
  int64_t dims_[kMaxRank] = {1, 1, 1, 1, 1, 1, 1, 1};
  int64_t strides_[kNumIn][kMaxRank] = {};
};

}  // namespace lossgrad_kernel

#endif  // LOSSGRAD_KERNEL_H_
