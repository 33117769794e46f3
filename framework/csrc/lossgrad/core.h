// The lossgrad kernel core: one implementation of the ops of docs/SPEC.md,
// shared by every ABI face (ctypes C API, MindSpore aot entries, onnxruntime
// custom ops). Faces translate their tensors into TensorRef and call Run().
// An op is its native id (framework/definitions.py); the faces iterate over the
// declared ops with LOSSGRAD_FOR_EACH_OP (lossgrad/generated_defs.h); each op's
// element formula is its family's functor (framework/csrc/families/*.h).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>

#include "lossgrad/generated_defs.h"
#include "lossgrad/math.h"  // LOSSGRAD_INLINE

namespace lossgrad {

// Values match framework/definitions.py (checked by generated static_asserts).
enum DType : int32_t { kFloat16 = 0, kBFloat16 = 1, kFloat32 = 2, kFloat64 = 3 };
enum Reduction : int32_t { kNone = 0, kMean = 1, kSum = 2 };
constexpr int kMaxRank = 8;
constexpr int kMaxInputs = 3;

// A strided view of a tensor. Strides are in elements (not bytes) and may be
// zero or negative. The output of Run() must be contiguous (strides ignored).
struct TensorRef {
  void* data;
  int32_t dtype;   // DType, or -1 for a dtype the face could not map
  int32_t ndim;
  int64_t shape[kMaxRank];
  int64_t strides[kMaxRank];
};

// Error categories: the faces map them to ValueError/TypeError or ORT statuses.
enum ErrorKind : int { kOk = 0, kValueError = 1, kTypeError = 2 };

struct Error {
  int kind = kOk;
  std::string message;
  explicit operator bool() const { return kind != kOk; }
};

// Runs fn(arg, task) for every task in [0, ntasks), possibly in parallel.
// Task boundaries are chosen by the core from the data size only, so results
// do not depend on the executor.
class Executor {
 public:
  virtual ~Executor() = default;
  virtual void ParallelFor(int64_t ntasks, void (*fn)(void*, int64_t), void* arg) = 0;
};

// Runs tasks inline, in order.
class SerialExecutor final : public Executor {
 public:
  void ParallelFor(int64_t ntasks, void (*fn)(void*, int64_t), void* arg) override {
    for (int64_t t = 0; t < ntasks; ++t) fn(arg, t);
  }
};

// Output geometry of a validated call.
struct OutInfo {
  int32_t dtype;
  int32_t ndim;
  int64_t shape[kMaxRank];
  int32_t bcast_ndim;              // the broadcast shape B of all inputs
  int64_t bcast_shape[kMaxRank];
  int64_t numel;                   // numel(B), 64-bit; -1 if B has unknown dims
};

// One declared attribute value (lossgrad/generated_defs.h): an int, a bool or the index of a
// string among its declared values (the reduction) in `i`, a float in `f`. Run() and Infer()
// take the op's gen::kOpNumAttrs[op] values in declared order (gen::kOpAttrNames), the
// reduction first; the op's family functor receives them all (framework/csrc/families/).
using AttrValue = gen::AttrValue;

// The op's declared defaults with `reduction` first (attrs has room for gen::kMaxAttrs).
void DefaultAttrs(int32_t op, int32_t reduction, AttrValue* attrs);

// Validates an op call (arity, reduction, dtypes, ranks, broadcast) with the
// messages of framework/definitions.py and returns the output geometry.
// `arg_names` may be null (the op's input names are used). `dtype_names` may be
// null, or hold per input the face's own name of its dtype (entries may be
// null): the dtype error names it when the face could not map it to a DType.
// With `allow_unknown`, dims of -1 (not known yet: graph shape inference) follow
// the broadcasting rule of framework.definitions.broadcast_shapes (op_host/lossgrad_shape.h).
Error Infer(int32_t op, const AttrValue* attrs, int32_t ninputs, const TensorRef* inputs,
            OutInfo* info, const char* const* arg_names = nullptr, const char* const* dtype_names = nullptr,
            bool allow_unknown = false);

// Validates and computes. `out` must have the dtype and shape that Infer()
// reports and be contiguous. `exec` may be null (serial). `dtype_names` as in Infer().
Error Run(int32_t op, const AttrValue* attrs, int32_t ninputs, const TensorRef* inputs,
          TensorRef* out, Executor* exec, const char* const* dtype_names = nullptr);

// Sums `in` over the axes that broadcasting added or expanded to reach it from
// `out`'s shape (out dims are 1 or equal to in's right-aligned dims), writing
// out's dtype, times `scale` (1 or -1: the `reduce_to` and `-reduce_to` of docs/SPEC.md's
// gradient table). Accumulates in double, in a fixed order; when no axis is
// reduced it is a parallel (converting) copy.
Error ReduceTo(const TensorRef& in, TensorRef* out, Executor* exec, double scale = 1.0);

// Parses a reduction name ("none", "mean", "sum"); kValueError otherwise.
Error ParseReduction(int32_t op, const std::string& name, int32_t* reduction);

// Formats one of the message templates of framework/definitions.py.
std::string FormatMessage(const char* tmpl, std::initializer_list<std::pair<const char*, std::string>> fields);

// `word` with its indefinite article, for the messages: "an INT", "a FLOATS".
std::string WithArticle(const std::string& word);

// The op's name and input names (from the generated definitions).
const char* OpName(int32_t op);
int32_t OpArity(int32_t op);
const char* DTypeName(int32_t dtype);

// Work size (elements) below which Run() never asks the executor for parallelism,
// and the fixed task size used above it (results never depend on either being used).
int64_t ParallelThreshold();
constexpr int64_t kTaskElements = int64_t{1} << 16;
constexpr int64_t kReduceBlock = int64_t{1} << 15;
// Inside a reduction block, sub-blocks of kSubBlock elements accumulate in the compute type over
// kLanes lanes (element i of the sub-block into lane i % kLanes), then fold into kLanes
// accumulators of the accumulation type; the lanes are combined by a fixed pairwise tree
// (CombineLanes). 32 lanes: two 16-float vectors per 32 elements, so the additions of a fused
// loop form independent chains instead of waiting on one accumulator.
constexpr int kLanes = 32;
constexpr int64_t kSubBlock = 256;
static_assert((kLanes & (kLanes - 1)) == 0 && kSubBlock % kLanes == 0, "whole lane rows per sub-block");
// Reduction tasks: consecutive blocks, about kTaskBytes of each input, so that a task streams
// long runs of memory whatever the dtype (the blocks, and so the result, do not change).
constexpr int64_t kTaskBytes = int64_t{1} << 19;
constexpr int64_t ReduceBlocksPerTask(int64_t itemsize) {
  return kTaskBytes / (kReduceBlock * itemsize) > 1 ? kTaskBytes / (kReduceBlock * itemsize) : 1;
}

// The fixed pairwise tree over the kLanes accumulators: ((l0 + l1) + (l2 + l3)) + ..., in A,
// then widened to double. Shared by both reduction paths (and every instruction-set level).
template <class A> LOSSGRAD_INLINE double CombineLanes(const A* lanes) {
  A v[kLanes];
  for (int k = 0; k < kLanes; ++k) v[k] = lanes[k];
  for (int width = 1; width < kLanes; width *= 2)
    for (int k = 0; k + width < kLanes; k += 2 * width) v[k] += v[k + width];
  return static_cast<double>(v[0]);
}

}  // namespace lossgrad
