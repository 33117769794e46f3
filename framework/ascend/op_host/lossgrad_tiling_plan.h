// Host-side planning of one launch of a lossgrad op, in plain C++17
// with no CANN dependency: validation (reduction, declared attributes, dtype, ranks, broadcasting),
// the broadcast shape, input modes and coalesced strides, the balanced split
// over the AI cores, the unified-buffer tile size, the workspace layout and the
// scale factor. Broadcasting, dimension coalescing, element counts and shape
// reprs come from the project's one C++ shape module, lossgrad_shape.h (next to
// this file; the CPU core, MindSpore and onnxruntime faces include it too).
// op_host/lossgrad_ops.cpp's TilingFunc and InferShape are thin
// CANN adapters around these functions; the CPU simulation library links the
// very same code, so what the tests check is what the NPU build runs.
//
// Rules that make the kernel fast and safe on the NPU, and that the CPU tests
// verify for every dtype and sizes from 0 to beyond 2^32 elements:
//   * all 64-bit: the element count N, offsets, per-core counts;
//   * every core starts on a 32-byte boundary and gets ceil or floor of
//     ceil(N / alignElems) / cores blocks (see LossGradCoreSlice);
//   * the tile length is derived from the unified-buffer size and the dtype:
//     double-buffered queues for every non-scalar input and the output, fp32
//     work buffers for half types, the compare mask and the 8 KB that Select
//     needs (families that Select), all within the UB; a multiple of 256 elements so that
//     every buffer and every compare count are 256-byte aligned;
//   * the scale is computed in double from the 64-bit N and rounded once.
#ifndef LOSSGRAD_TILING_PLAN_H_
#define LOSSGRAD_TILING_PLAN_H_

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

#include "lossgrad_defs.h"
#include "lossgrad_ops_table.h"
#include "lossgrad_shape.h"
#include "../op_kernel/lossgrad_tiling_data.h"

namespace lossgrad {
namespace ascend {

//! A shape; dims of -1 mean "unknown" (dynamic shapes in InferShape only).
struct Shape {
  int rank = 0;
  int64_t dims[kMaxRank] = {0, 0, 0, 0, 0, 0, 0, 0};
};

//! What the tiling needs to know about the target core type.
struct Platform {
  uint64_t coreNum = 1;   //!< vector (AIV) cores available for the launch
  uint64_t ubBytes = 0;   //!< unified-buffer bytes per core
};

//! Tunables of the plan (constants of the kernel design).
constexpr uint64_t kBufferNum = 2;              //!< double buffering of every queue
constexpr uint64_t kBlockBytes = 32;            //!< UB / DMA data block
constexpr uint64_t kTileAlignElems = 256;       //!< tile granularity (256-byte fp32 compares, 32-byte masks)
constexpr uint64_t kCompareAlignElems = 64;     //!< fp32 elements per 256 bytes (Compares count unit)
constexpr uint64_t kSelectReserveBytes = 8192;  //!< UB that Select (modes 1, 2) needs free on A2/A3
constexpr uint64_t kMinBlocksPerCore = 64;      //!< at least 2 KB per launched core
constexpr uint64_t kMaxCopyBytes = 2097151;     //!< DataCopyPad blockLen limit
constexpr uint64_t kWorkspaceAlign = 512;       //!< alignment of workspace regions
constexpr uint64_t kMaxElements = uint64_t(1) << 62;  //!< keeps every byte offset in 64 bits

//! What the kernel family of an op needs in the unified buffer (op_kernel/families).
struct FamilyNeeds {
  uint64_t f32Scratch;   //!< fp32 scratch tiles of the family's f
  bool compareMask;      //!< a compare mask of one bit per element
  uint64_t reserveBytes; //!< UB left unallocated while f runs
};

namespace detail {
constexpr bool SameText(const char* a, const char* b)
{
  return *a == *b && (*a == '\0' || SameText(a + 1, b + 1));
}
template <class... F>
constexpr bool FamiliesMatchOps(lossgrad_kernel::FamilyList<F...>)
{
  int op = 0;
  bool same = sizeof...(F) == kNumOps;
  for (const char* type : {F::kOpType...}) {
    same = same && op < kNumOps && SameText(type, kOpTypes[op++]);
  }
  return same;
}
template <class... F>
const FamilyNeeds& NeedsOf(int op, lossgrad_kernel::FamilyList<F...>)
{
  static const FamilyNeeds table[] = {{F::kF32Scratch, F::kCompareMask, F::kUbReserveBytes}...};
  static const FamilyNeeds none = {0, false, 0};
  return op >= 0 && op < static_cast<int>(sizeof...(F)) ? table[op] : none;
}
}  // namespace detail

static_assert(detail::FamiliesMatchOps(lossgrad_kernel::Families{}),
              "lossgrad_ops_table.h must list one kernel family per op, in op order (regenerate it)");

inline const FamilyNeeds& FamilyNeedsOf(int op) { return detail::NeedsOf(op, lossgrad_kernel::Families{}); }

//! Number of fp32 work buffers the kernel allocates (see op_kernel/lossgrad_kernel.h):
//! half types widen into two (a: difference, result; b: second operand, multiplier),
//! b doubling as the family's first scratch tile; float needs only the scratch tiles.
inline uint64_t F32WorkBuffers(int op, int dtype)
{
  const uint64_t widening = dtype == kFloat32 ? 0 : 2;
  const uint64_t lent = dtype == kFloat32 ? 0 : 1;
  const uint64_t scratch = FamilyNeedsOf(op).f32Scratch;
  return widening + (scratch > lent ? scratch - lent : 0);
}

//! UB bytes of a reducing launch (a loss op's "mean"/"sum" on `reduceCores` cores) that do not
//! grow with the tile: the partial's slot, the stored element's slot, every core's partial.
inline uint64_t UbFixedBytes(uint64_t reduceCores)
{
  return reduceCores == 0 ? 0 : kBlockBytes + kBlockBytes + reduceCores * kBlockBytes;
}

//! Exact unified-buffer bytes the kernel's TPipe::InitBuffer calls take for a
//! tile of `tileLength` elements with `queueInputs` streamed inputs; `reduceCores` > 0: a
//! reducing launch on that many cores (no output queue; an fp32 accumulator tile and
//! UbFixedBytes instead).
inline uint64_t UbBytesForTile(int op, int dtype, uint64_t queueInputs, uint64_t tileLength, uint64_t reduceCores = 0)
{
  const uint64_t size = kDTypeSize[dtype];
  const uint64_t queues = queueInputs + (reduceCores == 0 ? 1 : 0);  // input queues (+ output queue)
  uint64_t bytes = queues * kBufferNum * tileLength * size;
  bytes += F32WorkBuffers(op, dtype) * tileLength * 4;
  if (FamilyNeedsOf(op).compareMask) {
    bytes += tileLength / 8;  // compare mask, one bit per element
  }
  if (reduceCores != 0) {
    bytes += tileLength * 4 + UbFixedBytes(reduceCores);  // the accumulator
  }
  return bytes;
}

//! UB that must stay unallocated (e.g. Select's temporary space).
inline uint64_t UbReserveBytes(int op) { return FamilyNeedsOf(op).reserveBytes; }

//! Replace "{name}" in `tmpl` by `value`.
inline std::string FillTemplate(std::string tmpl, const char* name, const std::string& value)
{
  const std::string key = std::string("{") + name + "}";
  for (size_t pos = tmpl.find(key); pos != std::string::npos; pos = tmpl.find(key, pos + value.size())) {
    tmpl.replace(pos, key.size(), value);
  }
  return tmpl;
}

//! Python repr of a shape: (), (3,), (2, 3) (shape::Repr as a std::string).
inline std::string ShapeRepr(const Shape& s)
{
  char buf[shape::ReprCapacity(kMaxRank)];
  shape::Repr(s.dims, s.rank < 0 ? 0 : (s.rank > kMaxRank ? kMaxRank : s.rank), buf, sizeof buf);
  return buf;
}

//! Index of a reduction name (nullptr means the default), or -1.
inline int ReductionIndex(const char* reduction)
{
  if (reduction == nullptr) {
    reduction = kDefaultReduction;
  }
  for (int i = 0; i < kNumReductions; ++i) {
    if (std::strcmp(reduction, kReductionNames[i]) == 0) {
      return i;
    }
  }
  return -1;
}

//! NumPy broadcast of the three input shapes, with the -1 rule of
//! framework.definitions.broadcast_shapes (unknown broadcasts with anything and
//! stays unknown unless another input fixes it to a size > 1). Returns false
//! with the message of docs/SPEC.md's error table when the ranks or shapes are bad.
inline bool BroadcastShapes(int op, const Shape* in, Shape* out, std::string* error)
{
  const int inputs = kOpNumInputs[op];
  shape::View views[kNumInputs];
  for (int k = 0; k < inputs; ++k) {
    if (in[k].rank < 0 || in[k].rank > kMaxRank) {
      std::string msg = FillTemplate(kMsgBadRank, "op", kOpTypes[op]);
      msg = FillTemplate(msg, "arg", kInputNames[op][k]);
      *error = FillTemplate(msg, "rank", std::to_string(in[k].rank));
      return false;
    }
    views[k] = {in[k].dims, in[k].rank};
  }
  int32_t rank = 0;
  int culprit = 0;
  const shape::Status status = shape::Broadcast(views, inputs, /*allow_unknown=*/true, out->dims, &rank, &culprit);
  out->rank = rank;
  if (status == shape::Status::kNegativeDim) {  // a dim below -1: neither a size nor "unknown"
    *error = FillTemplate(FillTemplate(kMsgNegativeDim, "op", kOpTypes[op]), "arg", kInputNames[op][culprit]);
    return false;
  }
  if (status != shape::Status::kOk) {
    std::string shapes;
    for (int m = 0; m < inputs; ++m) {
      shapes += std::string(m ? ", " : "") + kInputNames[op][m] + " " + ShapeRepr(in[m]);
    }
    *error = FillTemplate(FillTemplate(kMsgNotBroadcastable, "op", kOpTypes[op]), "shapes", shapes);
    return false;
  }
  return true;
}

//! The output shape of op `op` with reduction index `reduction` over the broadcast shape
//! `broadcast`: a loss op's "mean"/"sum" is one element of rank 0, anything else the broadcast.
inline Shape OutputShape(int op, int reduction, const Shape& broadcast)
{
  return kOpIsLoss[op] && reduction != kReductionNone ? Shape{} : broadcast;
}

//! The result of planning one launch.
struct Plan {
  bool ok = false;
  std::string message;             //!< why not, when !ok
  LossGradTilingPlain tiling{};    //!< what the kernel reads (GET_TILING_DATA)
  uint64_t blockDim = 1;           //!< cores to launch
  uint64_t userWorkspaceBytes = 0; //!< broadcast copies (on top of the system workspace)
  uint64_t ubBytesNeeded = 0;      //!< bytes the kernel allocates in the UB
  Shape outShape;                  //!< the broadcast shape (the output's, unless a loss op reduces)
  uint32_t modes[kNumInputs] = {0, 0, 0};
  int reduction = kReductionMean;
  double scale = 0.0;              //!< the double-precision scale before rounding to float
};

namespace detail {

inline uint64_t CeilDiv(uint64_t a, uint64_t b) { return a / b + (a % b != 0 ? 1 : 0); }
inline uint64_t RoundUp(uint64_t a, uint64_t b) { return CeilDiv(a, b) * b; }

inline int64_t* StridesOf(LossGradTilingPlain& t, int k)
{
  return k == 0 ? t.strides0 : (k == 1 ? t.strides1 : t.strides2);
}

inline uint64_t& WsOffsetOf(LossGradTilingPlain& t, int k)
{
  return k == 0 ? t.wsOffset0 : (k == 1 ? t.wsOffset1 : t.wsOffset2);
}

//! Coalesce the broadcast (shape::Coalesce): drop size-1 axes and merge
//! neighbouring axes along which every input is either contiguous or broadcast
//! alike. Fills outDims and the per-input element strides (0 on axes the input
//! is broadcast along).
inline void Coalesce(const Shape* in, const Shape& out, LossGradTilingPlain& t)
{
  int64_t dims[kMaxRank];
  int64_t strides[kNumInputs][kMaxRank];
  int64_t* stridesOf[kNumInputs];
  for (int k = 0; k < kNumInputs; ++k) {
    int64_t own[kMaxRank];
    shape::ContiguousStrides(in[k].dims, in[k].rank, own);
    shape::BroadcastStrides({in[k].dims, in[k].rank}, own, out.rank, strides[k]);
    stridesOf[k] = strides[k];
  }
  for (int axis = 0; axis < out.rank; ++axis) {
    dims[axis] = out.dims[axis];
  }
  const int32_t rank = shape::Coalesce(out.rank, dims, kNumInputs, stridesOf);
  t.bcastRank = static_cast<uint64_t>(rank);
  for (int i = 0; i < kMaxRank; ++i) {
    t.outDims[i] = i < rank ? dims[i] : 1;
    for (int k = 0; k < kNumInputs; ++k) {
      StridesOf(t, k)[i] = i < rank ? strides[k][i] : 0;
    }
  }
}

}  // namespace detail

//! The declared attributes of one launch beyond the reduction, by declared index
//! (lossgrad_ops_table.h); an attribute not `given` takes its declared default.
struct AttrValues {
  bool given[kMaxAttrs] = {};
  double number[kMaxAttrs] = {};  //!< int, bool (0 / 1) and float attributes
};

//! The value of declared attribute `attr` of `op`: given, or the default.
inline double AttrNumber(int op, int attr, const AttrValues* values)
{
  return values != nullptr && values->given[attr] ? values->number[attr] : kOpAttrDefaultNumber[op][attr];
}

//! Plan one launch of op `op` (an op id of lossgrad_ops_table.h) for inputs of dtype
//! `dtype` (all equal) and shapes `in` (CANN input order; kOpNumInputs[op] of them), with the
//! `reduction` attribute (nullptr: the default "mean") and the other declared
//! attributes `attrs` (nullptr: all defaults) on `platform`.
inline Plan PlanLossGrad(int op, int dtype, const char* reduction, const Shape* given, const Platform& platform,
                         const AttrValues* attrs = nullptr)
{
  Plan plan;
  if (op < 0 || op >= kNumOps) {
    plan.message = FillTemplate(kMsgUnknownOp, "id", std::to_string(op));
    return plan;
  }
  const int inputs = kOpNumInputs[op];
  Shape in[kNumInputs];  // the op's inputs; an absent one is a scalar nobody reads
  for (int k = 0; k < inputs; ++k) {
    in[k] = given[k];
  }
  // Checks in the order of docs/SPEC.md's error table: reduction, the other attributes,
  // dtype, ranks, broadcast.
  plan.reduction = ReductionIndex(reduction);
  if (plan.reduction < 0) {
    plan.message = BadReductionMessage(kOpTypes[op], reduction);
    return plan;
  }
  float attrSlots[LOSSGRAD_TILING_ATTR_SLOTS] = {};
  for (int a = 1; a < kOpNumAttrs[op]; ++a) {
    if (kOpAttrKinds[op][a] != kAttrFloat) {
      continue;  // no kernel reads int / bool attributes yet; OpDef declares them all
    }
    const double value = AttrNumber(op, a, attrs);
    if (!FloatAttributeOk(op, a, value)) {
      plan.message = BadAttributeValueMessage(op, a, value);
      return plan;
    }
    attrSlots[kOpAttrSlot[op][a]] = static_cast<float>(value);
  }
  if (dtype < 0 || dtype >= kNumDTypes) {
    std::string msg = FillTemplate(kMsgBadAscendDtype, "op", kOpTypes[op]);
    msg = FillTemplate(msg, "arg", kInputNames[op][0]);
    plan.message = FillTemplate(msg, "dtype", "#" + std::to_string(dtype));
    return plan;
  }
  if (!BroadcastShapes(op, in, &plan.outShape, &plan.message)) {
    return plan;
  }
  for (int axis = 0; axis < plan.outShape.rank; ++axis) {
    if (plan.outShape.dims[axis] < 0) {
      plan.message = FillTemplate(FillTemplate(kMsgTilingUnknownShape, "op", kOpTypes[op]), "shape", ShapeRepr(plan.outShape));
      return plan;
    }
  }
  int64_t count = 0;
  if (!shape::Numel(plan.outShape.dims, plan.outShape.rank, &count) || static_cast<uint64_t>(count) > kMaxElements) {
    plan.message = FillTemplate(FillTemplate(kMsgTilingTooManyElements, "op", kOpTypes[op]), "shape", ShapeRepr(plan.outShape));
    return plan;
  }
  const uint64_t n = static_cast<uint64_t>(count);
  for (int k = 0; k < inputs; ++k) {
    for (int j = 0; j < in[k].rank; ++j) {
      if (in[k].dims[j] < 0) {
        plan.message = FillTemplate(FillTemplate(kMsgTilingUnknownShape, "op", kOpTypes[op]), "shape",
                                    std::string(kInputNames[op][k]) + " " + ShapeRepr(in[k]));
        return plan;
      }
    }
  }

  LossGradTilingPlain& t = plan.tiling;
  std::memset(&t, 0, sizeof t);
  const uint64_t size = kDTypeSize[dtype];
  t.totalLength = n;
  t.alignElems = kBlockBytes / size;

  // Input modes: full (same element count as the output: same flat layout),
  // scalar (one element, N > 1) or broadcast through the workspace; absent past the op's inputs.
  uint64_t queueInputs = 0;
  bool anyBcast = false;
  for (int k = inputs; k < kNumInputs; ++k) {
    plan.modes[k] = kLossGradAbsent;
    t.inputModes |= static_cast<uint64_t>(kLossGradAbsent) << (2 * k);
  }
  for (int k = 0; k < inputs; ++k) {
    int64_t numel = 1;
    shape::Numel(in[k].dims, in[k].rank, &numel);  // <= n: in[k] broadcasts to the output
    uint32_t mode = kLossGradFull;
    if (static_cast<uint64_t>(numel) != n) {
      mode = numel == 1 ? kLossGradScalar : kLossGradBcast;
    }
    plan.modes[k] = mode;
    t.inputModes |= static_cast<uint64_t>(mode) << (2 * k);
    queueInputs += mode == kLossGradScalar ? 0 : 1;
    anyBcast = anyBcast || mode == kLossGradBcast;
  }

  // Balanced split over the cores, in 32-byte blocks.
  const uint64_t blocks = detail::CeilDiv(n, t.alignElems);
  uint64_t cores = detail::CeilDiv(blocks, kMinBlocksPerCore);
  cores = cores < 1 ? 1 : cores;
  const uint64_t coreNum = platform.coreNum < 1 ? 1 : platform.coreNum;
  cores = cores > coreNum ? coreNum : cores;
  t.usedCores = cores;
  t.blocksPerCore = blocks / cores;
  t.bigCores = blocks % cores;
  plan.blockDim = cores;
  const bool reduce = kOpIsLoss[op] && plan.reduction != kReductionNone;
  t.reduceOutput = reduce ? 1 : 0;

  // Workspace: the broadcast copies, then (reductions) one 32-byte slot per core for its partial.
  uint64_t offset = 0;
  if (anyBcast) {
    detail::Coalesce(in, plan.outShape, t);
    for (int k = 0; k < kNumInputs; ++k) {
      if (plan.modes[k] == kLossGradBcast) {
        detail::WsOffsetOf(t, k) = offset;
        offset += detail::RoundUp(n * size, kWorkspaceAlign);
      }
    }
  } else {
    for (int i = 0; i < kMaxRank; ++i) {
      t.outDims[i] = 1;
    }
  }
  if (reduce) {
    t.partialOffset = offset;
    offset += detail::RoundUp(cores * kBlockBytes, kWorkspaceAlign);
  }
  plan.userWorkspaceBytes = offset;

  // Tile length from the UB size: the largest multiple of 256 elements whose
  // buffers fit next to the reserve, but no longer than the largest core slice.
  const uint64_t reduceCores = reduce ? cores : 0;
  const uint64_t reserve = UbReserveBytes(op) + UbFixedBytes(reduceCores);
  const uint64_t perElem = UbBytesForTile(op, dtype, queueInputs, kTileAlignElems, reduceCores) -
                           UbFixedBytes(reduceCores);  // bytes per 256 elements
  if (platform.ubBytes <= reserve || (platform.ubBytes - reserve) / perElem == 0) {
    plan.message = FillTemplate(FillTemplate(kMsgTilingUbTooSmall, "op", kOpTypes[op]), "bytes",
                                std::to_string(platform.ubBytes));
    return plan;
  }
  uint64_t tile = (platform.ubBytes - reserve) / perElem * kTileAlignElems;
  const uint64_t copyCap = kMaxCopyBytes / size / kTileAlignElems * kTileAlignElems;
  tile = tile > copyCap ? copyCap : tile;
  const uint64_t largestSlice = (t.blocksPerCore + (t.bigCores ? 1 : 0)) * t.alignElems;
  const uint64_t needed = detail::RoundUp(largestSlice < 1 ? 1 : largestSlice, kTileAlignElems);
  t.tileLength = tile < needed ? tile : needed;
  plan.ubBytesNeeded = UbBytesForTile(op, dtype, queueInputs, t.tileLength, reduceCores);

  // The scale s, in double from the 64-bit N, rounded once to float. A loss op's mean of no
  // element is NaN (its sum 0); a grad op's mean over no element scales nothing (0).
  const double numer = kScaleNumerator[op];
  const double empty = kOpIsLoss[op] ? std::numeric_limits<double>::quiet_NaN() : 0.0;
  plan.scale = plan.reduction == kReductionMean ? (n ? numer / static_cast<double>(n) : empty) : numer;
  t.scale = static_cast<float>(plan.scale);
  for (int i = 0; i < LOSSGRAD_TILING_ATTR_SLOTS; ++i) {
    t.attrs[i] = attrSlots[i];
  }
  t.reserved = 0.0f;
  plan.ok = true;
  return plan;
}

}  // namespace ascend
}  // namespace lossgrad

#endif  // LOSSGRAD_TILING_PLAN_H_
