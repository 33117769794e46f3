// The one C++ implementation of the shape rules of docs/SPEC.md: NumPy broadcasting (with the
// unknown-dimension rule of framework.definitions.broadcast_shapes), broadcast strides, dimension
// coalescing, element counts and the Python repr of a shape.
//
// Why a header of the CPU core lives in the Ascend tree: every C++ face includes it (the CPU
// core, the MindSpore aot InferShape, the onnxruntime kernels through the core, and the Ascend
// tiling plan next to it), and the Ascend op package is built by CANN (msOpGen, op_build, the
// real-header check) from framework/ascend/{op_host,op_kernel,framework} alone, without the rest
// of the repository. Living here, it is part of that self-contained tree; the other faces reach
// it through the top-level CMakeLists.txt, which puts framework/ascend on their include path
// ("op_host/lossgrad_shape.h"). One file, no copy.
//
// Header-only, plain C++17, no allocation, no exceptions, no std::string, no CANN dependency.
// Arrays are the caller's; ranks are at most the caller's bound.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>

namespace lossgrad {
namespace shape {

//! A dimension not known yet (dynamic-shape graphs).
constexpr int64_t kUnknownDim = -1;

//! A shape seen by the functions below: `ndim` dims at `dims` (row-major, outermost first).
struct View {
  const int64_t* dims;
  int32_t ndim;
};

enum class Status : int {
  kOk = 0,
  kNotBroadcastable = 1,  //!< two known sizes > 1 differ on one axis
  kNegativeDim = 2,       //!< a dimension < 0 where unknown ones are not allowed (or < -1)
};

//! NumPy broadcast of `n` shapes into `out` (room for the largest rank); `*out_ndim` is that rank.
//! With `allow_unknown`, a dim of kUnknownDim broadcasts with anything and stays unknown unless
//! another input fixes it to a size > 1; without it, any negative dim is kNegativeDim. On an
//! error `*culprit` (if not null) is the input at fault (kNegativeDim) or the first input whose
//! dim disagrees (kNotBroadcastable).
inline Status Broadcast(const View* in, int n, bool allow_unknown, int64_t* out, int32_t* out_ndim,
                        int* culprit = nullptr) {
  int32_t rank = 0;
  for (int i = 0; i < n; ++i) rank = in[i].ndim > rank ? in[i].ndim : rank;
  *out_ndim = rank;
  for (int32_t axis = 0; axis < rank; ++axis) {
    int64_t dim = 1;
    for (int i = 0; i < n; ++i) {
      const int32_t k = axis - (rank - in[i].ndim);
      if (k < 0) continue;
      const int64_t d = in[i].dims[k];
      if (d < 0 && (!allow_unknown || d != kUnknownDim)) {
        if (culprit != nullptr) *culprit = i;
        return Status::kNegativeDim;
      }
      if (d == 1 || d == dim) continue;
      if (dim == 1) {
        dim = d;
      } else if (d == kUnknownDim) {
        continue;  // unknown against a known size: the known one stands
      } else if (dim == kUnknownDim) {
        dim = d;
      } else {
        if (culprit != nullptr) *culprit = i;
        return Status::kNotBroadcastable;
      }
    }
    out[axis] = dim;
  }
  return Status::kOk;
}

//! Element strides of `in` (its own element strides `in_strides`) seen in the broadcast shape
//! of rank `out_ndim` >= in.ndim: 0 on the axes broadcasting adds or expands (size 1).
inline void BroadcastStrides(const View& in, const int64_t* in_strides, int32_t out_ndim, int64_t* out_strides) {
  const int32_t lead = out_ndim - in.ndim;
  for (int32_t k = 0; k < out_ndim; ++k) {
    const int32_t j = k - lead;
    out_strides[k] = (j < 0 || in.dims[j] == 1) ? 0 : in_strides[j];
  }
}

//! Row-major element strides of a dense tensor of shape `dims`.
inline void ContiguousStrides(const int64_t* dims, int32_t ndim, int64_t* strides) {
  int64_t stride = 1;
  for (int32_t k = ndim - 1; k >= 0; --k) {
    strides[k] = stride;
    stride *= dims[k] > 1 ? dims[k] : 1;
  }
}

//! Coalesces a shape walked by `nops` operands (strides[i][k]: element stride of operand i on
//! axis k), in place: drops size-1 axes (their strides never matter), then merges axis k into
//! the axis before it when every operand steps uniformly across both
//! (stride[k-1] == stride[k] * dims[k]). Returns the new rank: 0 when every axis had size 1.
inline int32_t Coalesce(int32_t ndim, int64_t* dims, int nops, int64_t* const* strides) {
  int32_t nd = 0;
  for (int32_t k = 0; k < ndim; ++k) {
    if (dims[k] == 1) continue;
    dims[nd] = dims[k];
    for (int i = 0; i < nops; ++i) strides[i][nd] = strides[i][k];
    ++nd;
  }
  if (nd == 0) return 0;
  int32_t out = 0;
  for (int32_t k = 1; k < nd; ++k) {
    bool mergeable = true;
    for (int i = 0; i < nops && mergeable; ++i) mergeable = strides[i][out] == strides[i][k] * dims[k];
    if (mergeable) {
      dims[out] *= dims[k];
    } else {
      ++out;
      dims[out] = dims[k];
    }
    for (int i = 0; i < nops; ++i) strides[i][out] = strides[i][k];
  }
  return out + 1;
}

//! Element count of a shape of known (>= 0) dims into `*n`; false if it exceeds int64_t.
inline bool Numel(const int64_t* dims, int32_t ndim, int64_t* n) {
  int64_t total = 1;
  for (int32_t k = 0; k < ndim; ++k) {
    if (dims[k] != 0 && total > std::numeric_limits<int64_t>::max() / dims[k]) return false;
    total *= dims[k];
  }
  *n = total;
  return true;
}

//! Writes the Python repr of a shape ("()", "(3,)", "(2, 3)") to `buf` (NUL-terminated,
//! truncated to `cap` bytes) and returns its full length.
inline size_t Repr(const int64_t* dims, int32_t ndim, char* buf, size_t cap) {
  size_t len = 0;
  auto put = [&](char ch) {
    if (len + 1 < cap) buf[len] = ch;
    ++len;
  };
  put('(');
  for (int32_t k = 0; k < ndim; ++k) {
    if (k > 0) {
      put(',');
      put(' ');
    }
    const int64_t d = dims[k];
    // Digits of |d| as an unsigned value (no overflow for INT64_MIN), most significant first.
    uint64_t v = d < 0 ? uint64_t{0} - static_cast<uint64_t>(d) : static_cast<uint64_t>(d);
    char digits[20];
    int nd = 0;
    do {
      digits[nd++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    if (d < 0) put('-');
    while (nd > 0) put(digits[--nd]);
  }
  if (ndim == 1) put(',');
  put(')');
  if (cap > 0) buf[len < cap ? len : cap - 1] = '\0';
  return len;
}

//! Longest Repr() of a shape of rank `ndim`, terminating NUL included.
constexpr size_t ReprCapacity(int32_t ndim) { return 3 + static_cast<size_t>(ndim) * 22; }

}  // namespace shape
}  // namespace lossgrad
