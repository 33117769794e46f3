// The tiling data shared by the host (op_host tiling) and the kernel, defined
// once as an X-macro field list:
//
//  * op_host/lossgrad_tiling.h expands it into CANN's BEGIN_TILING_DATA_DEF
//    (the struct the kernel gets from GET_TILING_DATA);
//  * this header expands it into LossGradTilingPlain, a plain struct with the
//    same fields in the same order, used by the CANN-free tiling planner
//    (op_host/lossgrad_tiling_plan.h) and by the CPU simulation.
//
// It also holds the one formula both sides use to split the elements over the
// AI cores (LossGradCoreSlice), so the host checks and the kernel cannot
// disagree about which core owns which elements. This header must compile in
// the Ascend C kernel compiler as well as in a host C++17 compiler: integer
// arithmetic only, no standard-library includes in kernel builds.
#ifndef LOSSGRAD_TILING_DATA_H_
#define LOSSGRAD_TILING_DATA_H_

#if defined(__aicore__)
// Kernel build (kernel_operator.h defines __aicore__ and the fixed-width types).
#define LOSSGRAD_SHARED_INLINE __aicore__ inline
#else
#include <cstdint>
#define LOSSGRAD_SHARED_INLINE inline
#endif

// Scalar fields: X(type, name). All 64-bit first, then the two floats, then the
// arrays (64-bit, then float), so the layout has no padding whoever lays it out.
//   totalLength   N, element count of the broadcast shape (64-bit)
//   alignElems    elements per 32-byte block of the dtype (16 for 2-byte types, 8 for float)
//   blocksPerCore q: every core gets q or q+1 blocks of alignElems elements
//   bigCores      r: cores 0..r-1 get q+1 blocks (balanced split of ceil(N/alignElems) blocks)
//   usedCores     number of cores launched (the kernel's block dim)
//   tileLength    elements per unified-buffer tile (multiple of 256)
//   inputModes    2 bits per input k at bit 2k: 0 full, 1 scalar, 2 broadcast via workspace
//   bcastRank     rank of the coalesced broadcast shape (used when an input is mode 2)
//   wsOffsetK     byte offset of input k's broadcast copy in the user workspace
//   reduceOutput  1: a loss op's "mean"/"sum" (one output element), 0: elementwise output
//   partialOffset byte offset of the per-core partial sums (32 bytes per core) in the user workspace
//   scale         s of docs/SPEC.md, computed on the host in double, rounded once to float
#define LOSSGRAD_TILING_SCALAR_FIELDS(X) \
  X(uint64_t, totalLength)               \
  X(uint64_t, alignElems)                \
  X(uint64_t, blocksPerCore)             \
  X(uint64_t, bigCores)                  \
  X(uint64_t, usedCores)                 \
  X(uint64_t, tileLength)                \
  X(uint64_t, inputModes)                \
  X(uint64_t, bcastRank)                 \
  X(uint64_t, wsOffset0)                 \
  X(uint64_t, wsOffset1)                 \
  X(uint64_t, wsOffset2)                 \
  X(uint64_t, reduceOutput)              \
  X(uint64_t, partialOffset)             \
  X(float, scale)                        \
  X(float, reserved)

//! Float slots for the op's declared float attributes (op_host/lossgrad_ops_table.h
//! kOpAttrSlot maps a declared attribute to its slot; the generator checks they fit).
#define LOSSGRAD_TILING_ATTR_SLOTS 4

// Array fields: A(type, count, name). Coalesced broadcast dims (outer to inner)
// and, per input, its element stride along each of them (0 on broadcast axes);
// then the values of the op's declared float attributes (fp32, checked on the
// host), one slot each, unused slots 0.
#define LOSSGRAD_TILING_ARRAY_FIELDS(A)              \
  A(int64_t, 8, outDims)                             \
  A(int64_t, 8, strides0)                            \
  A(int64_t, 8, strides1)                            \
  A(int64_t, 8, strides2)                            \
  A(float, LOSSGRAD_TILING_ATTR_SLOTS, attrs)

#define LOSSGRAD_PLAIN_SCALAR(type, name) type name;
#define LOSSGRAD_PLAIN_ARRAY(type, count, name) type name[count];
//! The tiling data as a plain struct (host planner and CPU simulation).
struct LossGradTilingPlain {
  LOSSGRAD_TILING_SCALAR_FIELDS(LOSSGRAD_PLAIN_SCALAR)
  LOSSGRAD_TILING_ARRAY_FIELDS(LOSSGRAD_PLAIN_ARRAY)
};
#undef LOSSGRAD_PLAIN_SCALAR
#undef LOSSGRAD_PLAIN_ARRAY

//! Input modes (2 bits each in inputModes).
enum LossGradInputMode : uint32_t {
  kLossGradFull = 0,    //!< numel == N: read tile by tile like the output
  kLossGradScalar = 1,  //!< numel == 1 < N: one value, read once per core
  kLossGradBcast = 2,   //!< anything else: materialized into the workspace first
  kLossGradAbsent = 3,  //!< no such input (a loss op's third): never read
};

template <class TilingT>
LOSSGRAD_SHARED_INLINE uint32_t LossGradInputModeOf(const TilingT& t, uint32_t input)
{
  return static_cast<uint32_t>((t.inputModes >> (2u * input)) & 3u);
}

//! Elements [start, start + count) of the broadcast output owned by `core`.
//!
//! The N elements are cut into ceil(N / alignElems) blocks of 32 bytes; core i
//! gets blocksPerCore blocks, plus one if i < bigCores, in core order. So every
//! core starts on a 32-byte boundary, per-core counts differ by at most one
//! block, and only the last core can end on a partial block (the global tail).
template <class TilingT>
LOSSGRAD_SHARED_INLINE void LossGradCoreSlice(const TilingT& t, uint64_t core, uint64_t& start,
                                              uint64_t& count)
{
  const uint64_t q = t.blocksPerCore;
  const uint64_t r = t.bigCores;
  const uint64_t firstBlock = core * q + (core < r ? core : r);
  const uint64_t blocks = q + (core < r ? 1u : 0u);
  uint64_t begin = firstBlock * t.alignElems;
  uint64_t end = begin + blocks * t.alignElems;
  if (end > t.totalLength) {
    end = t.totalLength;
  }
  if (begin > end) {
    begin = end;
  }
  start = begin;
  count = end - begin;
}

#endif  // LOSSGRAD_TILING_DATA_H_
