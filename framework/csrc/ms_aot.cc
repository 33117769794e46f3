// MindSpore aot face of the kernel core: the entry points that
// mindspore.ops.Custom(func="<lib>:<Op>", func_type="aot") calls on CPU.
//
// For each op of framework/definitions.py (LOSSGRAD_FOR_EACH_OP) this file exports
//   int  <Op>Init(int* ndims, int64_t** shapes, const char** dtypes, AotExtra* extra)
//   int  <Op>(int nparam, void** params, int* ndims, int64_t** shapes, const char** dtypes, void* stream, void* extra)
//   std::vector<int64_t> <Op>InferShape(int* ndims, int64_t** shapes, AotExtra* extra)
// Init reads every declared attribute (lossgrad/generated_defs.h: kOpAttrNames, kOpAttrTypes) from
// the primitive's attributes once per kernel; InferShape lets
// graph mode handle dynamic shapes without calling back into Python.
// Inputs and outputs arrive dense and row-major (MindSpore makes them so).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "lossgrad/core.h"
#include "lossgrad/generated_defs.h"
#include "op_host/lossgrad_shape.h"  // the one shape module (framework/ascend/op_host, see there)
#include "lossgrad/thread_pool.h"

#define LOSSGRAD_EXPORT extern "C" __attribute__((visibility("default")))

namespace mindspore {

// Our declaration of the object MindSpore passes as `extra`: the same virtual
// methods in the same order as MindSpore 2.x's AotExtra (kernel/cpu custom aot),
// so that calls through the vtable land on MindSpore's implementation. Only the
// members we use are named; the layout is pinned by the static_assert below.
class AotKernelData {
 public:
  virtual ~AotKernelData() = default;
};

class AotExtra {
 public:
  virtual ~AotExtra() = default;
  virtual bool HasAttr(std::string name) = 0;

  void SetKernelData(AotKernelData* data) { kernel_data_ = data; }
  AotKernelData* KernelData() const { return kernel_data_; }
  std::string AttrString(const std::string& name) { return GetAttrStr(name); }
  int64_t AttrInt(const std::string& name) { return GetAttrInt(name); }
  // MindSpore hands float attributes as float32 (its AotExtra has no double getter).
  double AttrFloat(const std::string& name) { return GetAttrFloat(name); }
  bool AttrBool(const std::string& name) { return GetAttrBool(name); }

 protected:
  virtual bool GetAttrBool(std::string name) = 0;
  virtual int64_t GetAttrInt(std::string name) = 0;
  virtual float GetAttrFloat(std::string name) = 0;
  virtual std::string GetAttrStr(std::string name) = 0;
  virtual std::vector<int64_t> GetAttrIntVec(std::string name) = 0;
  virtual std::vector<float> GetAttrFloatVec(std::string name) = 0;
  virtual std::vector<std::vector<int64_t>> GetAttrInt2DVec(std::string name) = 0;
  virtual std::vector<std::vector<float>> GetAttrFloat2DVec(std::string name) = 0;

 private:
  std::vector<size_t> workspace_;
  AotKernelData* kernel_data_ = nullptr;
};
static_assert(sizeof(AotExtra) == 40, "AotExtra layout must match MindSpore's (vptr, vector, pointer)");

}  // namespace mindspore

namespace {

using mindspore::AotExtra;

struct OpData final : mindspore::AotKernelData {
  lossgrad::AttrValue attrs[lossgrad::gen::kMaxAttrs];
};

int32_t DTypeFromString(const char* s) {
  for (int d = 0; d < lossgrad::gen::kNumDTypes; ++d)
    if (std::strcmp(s, lossgrad::gen::kDTypeNames[d]) == 0) return d;
  return -1;
}

// Every declared attribute of the op, in declared order (an absent one takes its declared
// default). Invalid values were rejected in Python before the graph was built, so a failure
// here means the op was built by hand. A string attribute is the reduction (the only string
// attribute the code generator lets the native faces take), parsed to its index.
void ReadAttrs(AotExtra* extra, int32_t op, lossgrad::AttrValue* attrs, std::string* error) {
  lossgrad::DefaultAttrs(op, lossgrad::gen::kDefaultReduction, attrs);
  if (extra == nullptr) return;
  for (int a = 0; a < lossgrad::gen::kOpNumAttrs[op]; ++a) {
    const std::string name = lossgrad::gen::kOpAttrNames[op][a];
    if (!extra->HasAttr(name)) continue;
    switch (lossgrad::gen::kOpAttrTypes[op][a]) {
      case lossgrad::gen::kAttrString: {
        int32_t r = lossgrad::gen::kDefaultReduction;
        if (lossgrad::Error e = lossgrad::ParseReduction(op, extra->AttrString(name), &r)) *error = e.message;
        attrs[a] = {r, 0.0};
        break;
      }
      case lossgrad::gen::kAttrInt: attrs[a] = {extra->AttrInt(name), 0.0}; break;
      case lossgrad::gen::kAttrFloat: {
        // ms_ops also passes the exact double as "<name>_hex" (float.hex): MindSpore's float
        // attribute is a float32
        attrs[a] = {0, extra->AttrFloat(name)};
        const std::string exact = name + "_hex";
        if (extra->HasAttr(exact)) {
          const std::string text = extra->AttrString(exact);
          char* end = nullptr;
          const double v = std::strtod(text.c_str(), &end);
          if (end != nullptr && end != text.c_str() && *end == '\0') attrs[a].f = v;
          else *error = "lossgrad: the attribute " + exact + " is not a hexadecimal float: " + text;
        }
        break;
      }
      case lossgrad::gen::kAttrBool: attrs[a] = {extra->AttrBool(name) ? 1 : 0, 0.0}; break;
    }
  }
}

// The caller's names of the inputs: the string attribute "arg_names" (comma-separated,
// in the op's input order), which ms_ops sets for APIs whose argument names are not
// the op's (the aclnn-order functions' input/target/grad_output, the Cells' logits/labels).
// Empty when absent or malformed: errors then use the op's input names.
std::vector<std::string> ReadArgNames(AotExtra* extra, int arity) {
  std::vector<std::string> names;
  if (extra == nullptr || !extra->HasAttr("arg_names")) return names;
  const std::string all = extra->AttrString("arg_names");
  size_t start = 0;
  while (start <= all.size()) {
    const size_t comma = std::min(all.find(',', start), all.size());
    names.push_back(all.substr(start, comma - start));
    start = comma + 1;
  }
  if (static_cast<int>(names.size()) != arity) names.clear();
  return names;
}

lossgrad::TensorRef Dense(void* data, int ndim, const int64_t* shape, const char* dtype) {
  lossgrad::TensorRef t{};
  t.data = data;
  t.dtype = DTypeFromString(dtype);
  t.ndim = ndim;
  const int kept = std::max(0, std::min(ndim, static_cast<int>(lossgrad::kMaxRank)));  // more: rejected by the core
  std::copy(shape, shape + kept, t.shape);
  lossgrad::shape::ContiguousStrides(t.shape, kept, t.strides);
  return t;
}

int InitOp(int32_t op, AotExtra* extra) {
  std::string error;
  auto* data = new OpData();
  ReadAttrs(extra, op, data->attrs, &error);
  if (!error.empty()) {
    delete data;
    std::fprintf(stderr, "lossgrad-ops: %s\n", error.c_str());
    return 1;
  }
  extra->SetKernelData(data);  // MindSpore deletes it through the virtual destructor
  return 0;
}

int RunOp(int32_t op, int nparam, void** params, int* ndims, int64_t** shapes, const char** dtypes, void* extra) {
  const int arity = lossgrad::gen::kOpArity[op];
  if (nparam != arity + 1) {
    const std::string msg = lossgrad::FormatMessage(
        lossgrad::gen::kMsgAotArity,
        {{"op", lossgrad::OpName(op)}, {"expected", std::to_string(arity)}, {"got", std::to_string(nparam)}});
    std::fprintf(stderr, "lossgrad-ops: %s\n", msg.c_str());
    return 1;
  }
  lossgrad::AttrValue defaults[lossgrad::gen::kMaxAttrs];
  lossgrad::DefaultAttrs(op, lossgrad::gen::kDefaultReduction, defaults);
  const lossgrad::AttrValue* attrs = defaults;
  auto* ext = static_cast<AotExtra*>(extra);
  if (ext != nullptr && ext->KernelData() != nullptr) {
    attrs = static_cast<const OpData*>(ext->KernelData())->attrs;
  }
  lossgrad::TensorRef in[lossgrad::kMaxInputs];
  for (int i = 0; i < arity; ++i) in[i] = Dense(params[i], ndims[i], shapes[i], dtypes[i]);
  lossgrad::TensorRef out = Dense(params[arity], ndims[arity], shapes[arity], dtypes[arity]);
  try {
    if (lossgrad::Error e = lossgrad::Run(op, attrs, arity, in, &out, &lossgrad::DefaultPool())) {
      std::fprintf(stderr, "lossgrad-ops: %s\n", e.message.c_str());
      return 2;
    }
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "lossgrad-ops: %s: %s\n", lossgrad::OpName(op), ex.what());
    return 3;
  }
  return 0;
}

// Output shape for graph-mode shape inference, including unknown (-1) dims and
// unknown rank (-2).
//
// Errors are thrown, as std::invalid_argument carrying the message of
// framework/definitions.py. This is the error channel of this entry: MindSpore
// (CustomInferShapeByCPP) calls <Op>InferShape from C++ inside
// `try { ... } catch (const std::exception& e)` and raises the Python RuntimeError
// "For <op>, operator failed when executing user defined file ...! Error message
// is <e.what()>"; the entry returns the shape by value and has no status. With
// dynamic shapes it runs with the concrete shapes before every launch, so shapes
// that do not broadcast are refused before the kernel runs (a kernel's nonzero
// return would instead abort the graph and leave the network unusable for the
// following calls). Unknown dims are checked when they become known.
std::vector<int64_t> InferOp(int32_t op, int* ndims, int64_t** shapes, AotExtra* extra) {
  const int arity = lossgrad::gen::kOpArity[op];
  std::string error;
  lossgrad::AttrValue attrs[lossgrad::gen::kMaxAttrs];
  ReadAttrs(extra, op, attrs, &error);
  if (!error.empty()) throw std::invalid_argument(error);
  const bool reduced = lossgrad::gen::kOpIsLoss[op] && attrs[0].i != lossgrad::kNone;
  for (int i = 0; i < arity; ++i) {
    if (ndims[i] == 1 && shapes[i][0] == -2) {  // unknown rank: checked once known
      if (reduced) return {};
      return {-2};
    }
  }
  // The core's own validation and output shape; unknown (-1) dims broadcast as in
  // framework.definitions.broadcast_shapes and are checked again once known.
  lossgrad::TensorRef in[lossgrad::kMaxInputs];
  for (int i = 0; i < arity; ++i) {
    in[i] = lossgrad::TensorRef{};
    in[i].dtype = lossgrad::kFloat32;  // the shape does not depend on the dtype
    in[i].ndim = ndims[i];
    for (int k = 0; k < ndims[i] && k < lossgrad::kMaxRank; ++k) in[i].shape[k] = shapes[i][k];
  }
  const std::vector<std::string> names = ReadArgNames(extra, arity);
  const char* name_ptrs[lossgrad::kMaxInputs] = {};
  for (size_t i = 0; i < names.size(); ++i) name_ptrs[i] = names[i].c_str();
  lossgrad::OutInfo info{};
  if (lossgrad::Error e = lossgrad::Infer(op, attrs, arity, in, &info, names.empty() ? nullptr : name_ptrs,
                                          nullptr, /*allow_unknown=*/true))
    throw std::invalid_argument(e.message);
  return std::vector<int64_t>(info.shape, info.shape + info.ndim);
}

}  // namespace

// The three entries of one declared op, named after it (ms_ops builds "<lib>:<Name>").
#define LOSSGRAD_MS_ENTRIES(Name, OP, arity, is_loss)                                                        \
  LOSSGRAD_EXPORT int Name##Init(int*, int64_t**, const char**, AotExtra* extra) { return InitOp(OP, extra); } \
  LOSSGRAD_EXPORT int Name(int nparam, void** params, int* ndims, int64_t** shapes, const char** dtypes,    \
                           void* /*stream*/, void* extra) {                                                 \
    return RunOp(OP, nparam, params, ndims, shapes, dtypes, extra);                                         \
  }                                                                                                         \
  LOSSGRAD_EXPORT std::vector<int64_t> Name##InferShape(int* ndims, int64_t** shapes, AotExtra* extra) {    \
    return InferOp(OP, ndims, shapes, extra);                                                               \
  }

// ReduceTo(t, like): the reduce_to of the gradient formulas, as one primitive
// without control flow (graph mode cannot differentiate branches in a bprop).
namespace {
int RunReduceTo(int nparam, void** params, int* ndims, int64_t** shapes, const char** dtypes, double scale) {
  if (nparam != 3) return 1;
  lossgrad::TensorRef in = Dense(params[0], ndims[0], shapes[0], dtypes[0]);
  lossgrad::TensorRef out = Dense(params[2], ndims[2], shapes[2], dtypes[2]);
  try {
    if (lossgrad::Error e = lossgrad::ReduceTo(in, &out, &lossgrad::DefaultPool(), scale)) {
      std::fprintf(stderr, "lossgrad-ops: %s\n", e.message.c_str());
      return 2;
    }
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "lossgrad-ops: ReduceTo: %s\n", ex.what());
    return 3;
  }
  return 0;
}
}  // namespace

LOSSGRAD_EXPORT int ReduceTo(int nparam, void** params, int* ndims, int64_t** shapes, const char** dtypes,
                             void* /*stream*/, void* /*extra*/) {
  return RunReduceTo(nparam, params, ndims, shapes, dtypes, 1.0);
}

// NegReduceTo(t, like) = -ReduceTo(t, like), in the same single pass.
LOSSGRAD_EXPORT int NegReduceTo(int nparam, void** params, int* ndims, int64_t** shapes, const char** dtypes,
                                void* /*stream*/, void* /*extra*/) {
  return RunReduceTo(nparam, params, ndims, shapes, dtypes, -1.0);
}

LOSSGRAD_EXPORT std::vector<int64_t> NegReduceToInferShape(int* ndims, int64_t** shapes, AotExtra*) {
  return std::vector<int64_t>(shapes[1], shapes[1] + ndims[1]);
}

LOSSGRAD_EXPORT std::vector<int64_t> ReduceToInferShape(int* ndims, int64_t** shapes, AotExtra*) {
  return std::vector<int64_t>(shapes[1], shapes[1] + ndims[1]);
}

LOSSGRAD_FOR_EACH_OP(LOSSGRAD_MS_ENTRIES)
