// onnxruntime face of the kernel core: a custom-op library for
// SessionOptions.register_custom_ops_library(path).
//
// It registers the domain "ai.lossgrad" (gen::kDomain) with every op of
// framework/definitions.py. Each op is registered once per element type
// (float16, bfloat16, float, double) with all inputs and the output of that
// type, as the ONNX schemas of onnx_ops say (type constraint T), so
// onnxruntime rejects other or mixed element types when the model is loaded.
// Inputs are required, so a node with missing inputs is rejected at load time
// too. Everything else (reduction, ranks, broadcasting) is validated by the
// core with the shared messages and returned as an ORT_INVALID_ARGUMENT status;
// nothing here aborts the process.
//
// Only onnxruntime's C API (onnxruntime_c_api.h) is used and the library does
// not link against libonnxruntime: the OrtApi table comes from
// RegisterCustomOps. We ask for API version 17 (onnxruntime 1.17), the first
// with KernelContext_ParallelFor, through which the core's tasks run on the
// session's intra-op thread pool.
#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "lossgrad/core.h"
#include "lossgrad/generated_defs.h"
#include "op_host/lossgrad_shape.h"  // the one shape module (framework/ascend/op_host, see there)
#include "onnxruntime_c_api.h"

#ifndef LOSSGRAD_ORT_MIN_API_VERSION
#define LOSSGRAD_ORT_MIN_API_VERSION 17
#endif

#define LOSSGRAD_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

constexpr uint32_t kApiVersion = LOSSGRAD_ORT_MIN_API_VERSION;
static_assert(ORT_API_VERSION >= kApiVersion, "onnxruntime headers older than API 17 (onnxruntime 1.17)");
static_assert(kApiVersion >= 17, "KernelContext_ParallelFor needs API 17 (CreateKernelV2/KernelComputeV2: 16)");

// Statistics read by the tests through ctypes (the same handle ORT opened).
std::atomic<uint64_t> g_compute_calls{0};
std::atomic<uint64_t> g_parallel_calls{0};

// ---------------------------------------------------------------------------
// Element types: ONNX <-> core.
constexpr ONNXTensorElementDataType kOnnxTypes[lossgrad::gen::kNumDTypes] = {
    ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16, ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16,
    ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE};
static_assert(lossgrad::kFloat16 == 0 && lossgrad::kBFloat16 == 1 && lossgrad::kFloat32 == 2 &&
                  lossgrad::kFloat64 == 3,
              "kOnnxTypes follows the core's DType order");

int32_t CoreDType(ONNXTensorElementDataType t) {
  for (int32_t d = 0; d < lossgrad::gen::kNumDTypes; ++d)
    if (kOnnxTypes[d] == t) return d;
  return -1;
}

// ---------------------------------------------------------------------------
// Small RAII helpers around the C API.
class StatusError : public std::exception {
 public:
  explicit StatusError(OrtStatus* s) : status_(s) {}
  OrtStatus* release() const { return status_; }
  const char* what() const noexcept override { return "onnxruntime call failed"; }

 private:
  OrtStatus* status_;
};

void Check(OrtStatus* s) {
  if (s != nullptr) throw StatusError(s);
}

struct TypeShapeInfo {
  const OrtApi* api;
  OrtTensorTypeAndShapeInfo* p = nullptr;
  ~TypeShapeInfo() {
    if (p != nullptr) api->ReleaseTensorTypeAndShapeInfo(p);
  }
};

OrtStatus* MakeStatus(const OrtApi* api, OrtErrorCode code, const std::string& message) {
  return api->CreateStatus(code, message.c_str());
}

// ---------------------------------------------------------------------------
// The core's Executor over onnxruntime's intra-op pool.
class OrtExecutor final : public lossgrad::Executor {
 public:
  OrtExecutor(const OrtApi* api, OrtKernelContext* ctx) : api_(api), ctx_(ctx) {}

  void ParallelFor(int64_t ntasks, void (*fn)(void*, int64_t), void* arg) override {
    if (ntasks <= 0) return;
    Closure closure{fn, arg};
    g_parallel_calls.fetch_add(1, std::memory_order_relaxed);
    // num_batch 0: onnxruntime schedules every task on its own; the core's
    // tasks are already large (kTaskElements / kReduceBlock elements).
    OrtStatus* s = api_->KernelContext_ParallelFor(ctx_, &Trampoline, static_cast<size_t>(ntasks), 0, &closure);
    if (s != nullptr) {
      // Only reported before any task ran (null context or function): run inline.
      api_->ReleaseStatus(s);
      for (int64_t t = 0; t < ntasks; ++t) fn(arg, t);
    }
  }

 private:
  struct Closure {
    void (*fn)(void*, int64_t);
    void* arg;
  };
  static void Trampoline(void* p, size_t task) {
    const Closure* c = static_cast<const Closure*>(p);
    c->fn(c->arg, static_cast<int64_t>(task));
  }

  const OrtApi* api_;
  OrtKernelContext* ctx_;
};

// ---------------------------------------------------------------------------
// One registered (op, element type).
struct LossgradOp : OrtCustomOp {
  int32_t op = 0;
  ONNXTensorElementDataType type = ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
};

struct Kernel {
  const OrtApi* api;
  int32_t op;
  lossgrad::AttrValue attrs[lossgrad::gen::kMaxAttrs];  // the op's declared attributes, in order
};

// A STRING attribute's bytes, quoted, for a message: printable ASCII as is,
// \t \n \r, \' and \\ escaped, every other byte as \xNN (as
// onnx_ops.schemas.escape_attribute_bytes does). An ORT status is a C string
// that Python decodes as UTF-8, so a raw NUL would cut the message and a byte
// like 0xff would make it undecodable.
std::string EscapeAttribute(const std::string& raw) {
  static const char kHex[] = "0123456789abcdef";
  std::string out = "'";
  for (const char ch : raw) {
    const auto b = static_cast<unsigned char>(ch);
    switch (b) {
      case '\\': out += "\\\\"; break;
      case '\'': out += "\\'"; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      default:
        if (b >= 0x20 && b < 0x7f) {
          out += ch;
        } else {
          out += "\\x";
          out += kHex[b >> 4];
          out += kHex[b & 0xf];
        }
    }
  }
  out += '\'';
  return out;
}

// What the node holds under an attribute name: its type, probed with every getter (the
// scalar getters check the attribute type; the list getters of onnxruntime 1.17-1.31 do not:
// they succeed, maybe empty, for any attribute that exists, so a success means "present").
struct AttributeProbe {
  bool is_string = false, is_int = false, is_float = false, has_ints = false, has_floats = false;
  size_t ints = 0, floats = 0;
  std::string str;
  int64_t ival = 0;
  float fval = 0.0f;

  bool present() const { return is_string || is_int || is_float || has_ints || has_floats; }
  // "INT", "FLOAT", ... for the messages; `other` when only a list getter saw it.
  const char* kind(const char* other) const {
    return is_string ? "STRING"
           : is_int ? "INT"
           : is_float ? "FLOAT"
           : (has_ints && ints > 0) ? "INTS"
           : (has_floats && floats > 0) ? "FLOATS"
           : other;
  }
};

AttributeProbe ProbeAttribute(const OrtApi* api, const OrtKernelInfo* info, const char* name) {
  auto ok = [api](OrtStatus* st) {
    if (st == nullptr) return true;
    api->ReleaseStatus(st);
    return false;
  };
  AttributeProbe p;
  size_t size = 0;
  p.is_string = ok(api->KernelInfoGetAttribute_string(info, name, nullptr, &size));
  if (p.is_string) {
    p.str.assign(size, '\0');
    Check(api->KernelInfoGetAttribute_string(info, name, &p.str[0], &size));
    p.str.resize(size > 0 ? size - 1 : 0);  // size counts the terminating NUL
    return p;
  }
  p.is_int = ok(api->KernelInfoGetAttribute_int64(info, name, &p.ival));
  p.is_float = ok(api->KernelInfoGetAttribute_float(info, name, &p.fval));
  p.has_ints = ok(api->KernelInfoGetAttributeArray_int64(info, name, nullptr, &p.ints));
  p.has_floats = ok(api->KernelInfoGetAttributeArray_float(info, name, nullptr, &p.floats));
  return p;
}

// One declared attribute (`a`-th of the op): absent means its declared default; a value of the
// declared type is taken; any other attribute type is an error (never a silent default). A string
// attribute is the reduction (the only one the code generator lets the native faces take): it
// must be one of the names. ONNX has no bool attribute: a bool is an INT 0 or 1.
OrtStatus* ReadAttribute(const OrtApi* api, const OrtKernelInfo* info, int32_t op, int a, lossgrad::AttrValue* value) {
  const char* name = lossgrad::gen::kOpAttrNames[op][a];
  const AttributeProbe p = ProbeAttribute(api, info, name);
  if (!p.present()) return nullptr;  // the default, already in *value
  auto wrong_type = [&](const char* expected) {
    return MakeStatus(api, ORT_INVALID_ARGUMENT,
                      lossgrad::FormatMessage(lossgrad::gen::kMsgBadAttributeType,
                                              {{"op", lossgrad::OpName(op)}, {"attr", name}, {"expected", expected},
                                               {"kind", lossgrad::WithArticle(p.kind("non-STRING"))}}));
  };
  switch (lossgrad::gen::kOpAttrTypes[op][a]) {
    case lossgrad::gen::kAttrString: {
      if (!p.is_string)
        return MakeStatus(api, ORT_INVALID_ARGUMENT,
                          lossgrad::FormatMessage(lossgrad::gen::kMsgBadReductionType,
                                                  {{"op", lossgrad::OpName(op)},
                                                   {"kind", lossgrad::WithArticle(p.kind("non-STRING"))}}));
      int32_t r = lossgrad::gen::kDefaultReduction;
      if (lossgrad::ParseReduction(op, p.str, &r)) {
        // The shared message, with the value escaped (it may hold any bytes).
        return MakeStatus(api, ORT_INVALID_ARGUMENT,
                          lossgrad::FormatMessage(lossgrad::gen::kMsgBadReduction,
                                                  {{"op", lossgrad::OpName(op)}, {"value", EscapeAttribute(p.str)}}));
      }
      *value = {r, 0.0};
      return nullptr;
    }
    case lossgrad::gen::kAttrInt:
      if (!p.is_int) return wrong_type("an INT");
      *value = {p.ival, 0.0};
      return nullptr;
    case lossgrad::gen::kAttrFloat:
      if (!p.is_float) return wrong_type("a FLOAT");
      *value = {0, static_cast<double>(p.fval)};
      return nullptr;
    case lossgrad::gen::kAttrBool:
      if (!p.is_int || (p.ival != 0 && p.ival != 1)) return wrong_type("an INT 0 or 1 (a bool)");
      *value = {p.ival, 0.0};
      return nullptr;
  }
  return wrong_type("of its declared type");  // not reached: every AttrType is handled above
}

OrtStatusPtr ORT_API_CALL CreateKernel(const OrtCustomOp* this_, const OrtApi* api, const OrtKernelInfo* info,
                                       void** kernel) {
  const auto* self = static_cast<const LossgradOp*>(this_);
  *kernel = nullptr;
  try {
    auto k = std::make_unique<Kernel>();
    k->api = api;
    k->op = self->op;
    lossgrad::DefaultAttrs(self->op, lossgrad::gen::kDefaultReduction, k->attrs);
    for (int a = 0; a < lossgrad::gen::kOpNumAttrs[self->op]; ++a)
      if (OrtStatus* s = ReadAttribute(api, info, self->op, a, &k->attrs[a])) return s;
    *kernel = k.release();
    return nullptr;
  } catch (const StatusError& e) {
    return e.release();
  } catch (const std::exception& e) {
    return MakeStatus(api, ORT_FAIL, std::string(lossgrad::OpName(self->op)) + ": " + e.what());
  }
}

// Describes ORT input `i` as a core TensorRef (dense, row-major).
void DescribeInput(const OrtApi* api, OrtKernelContext* ctx, size_t i, lossgrad::TensorRef* t) {
  const OrtValue* value = nullptr;
  Check(api->KernelContext_GetInput(ctx, i, &value));
  if (value == nullptr) throw std::invalid_argument("missing input");
  TypeShapeInfo info{api};
  Check(api->GetTensorTypeAndShape(value, &info.p));
  ONNXTensorElementDataType type = ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
  Check(api->GetTensorElementType(info.p, &type));
  size_t ndim = 0;
  Check(api->GetDimensionsCount(info.p, &ndim));
  std::vector<int64_t> dims(ndim);
  if (ndim > 0) Check(api->GetDimensions(info.p, dims.data(), ndim));
  void* data = nullptr;
  // Inputs are only read; the C API has no const accessor before API 23.
  Check(api->GetTensorMutableData(const_cast<OrtValue*>(value), &data));
  *t = lossgrad::TensorRef{};
  t->data = data;
  t->dtype = CoreDType(type);
  // A rank above kMaxRank is reported by the core (from ndim, so with the true
  // rank) before any shape is read; only kMaxRank dims are stored.
  t->ndim = static_cast<int32_t>(std::min<size_t>(ndim, static_cast<size_t>(INT32_MAX)));
  const int kept = static_cast<int>(std::min<size_t>(ndim, lossgrad::kMaxRank));
  std::copy(dims.begin(), dims.begin() + kept, t->shape);
  lossgrad::shape::ContiguousStrides(t->shape, kept, t->strides);
}

OrtStatusPtr ORT_API_CALL Compute(void* op_kernel, OrtKernelContext* ctx) {
  const auto* k = static_cast<const Kernel*>(op_kernel);
  const OrtApi* api = k->api;
  g_compute_calls.fetch_add(1, std::memory_order_relaxed);
  try {
    size_t ninputs = 0;
    Check(api->KernelContext_GetInputCount(ctx, &ninputs));
    const int arity = lossgrad::OpArity(k->op);
    lossgrad::TensorRef in[lossgrad::kMaxInputs];
    for (size_t i = 0; i < ninputs && i < static_cast<size_t>(lossgrad::kMaxInputs); ++i) {
      DescribeInput(api, ctx, i, &in[i]);
    }
    const int32_t n = static_cast<int32_t>(std::min<size_t>(ninputs, static_cast<size_t>(arity) + 1));
    lossgrad::OutInfo out_info;
    if (lossgrad::Error e = lossgrad::Infer(k->op, k->attrs, n, in, &out_info))
      return MakeStatus(api, ORT_INVALID_ARGUMENT, e.message);
    OrtValue* out_value = nullptr;
    Check(api->KernelContext_GetOutput(ctx, 0, out_info.shape, static_cast<size_t>(out_info.ndim), &out_value));
    lossgrad::TensorRef out{};
    Check(api->GetTensorMutableData(out_value, &out.data));
    out.dtype = out_info.dtype;
    out.ndim = out_info.ndim;
    std::copy(out_info.shape, out_info.shape + out_info.ndim, out.shape);
    OrtExecutor executor(api, ctx);
    if (lossgrad::Error e = lossgrad::Run(k->op, k->attrs, n, in, &out, &executor))
      return MakeStatus(api, ORT_INVALID_ARGUMENT, e.message);
    return nullptr;
  } catch (const StatusError& e) {
    return e.release();
  } catch (const std::bad_alloc&) {
    return MakeStatus(api, ORT_FAIL, std::string(lossgrad::OpName(k->op)) + ": out of memory");
  } catch (const std::exception& e) {
    return MakeStatus(api, ORT_INVALID_ARGUMENT, std::string(lossgrad::OpName(k->op)) + ": " + e.what());
  }
}

void ORT_API_CALL DestroyKernel(void* op_kernel) { delete static_cast<Kernel*>(op_kernel); }

const char* ORT_API_CALL GetName(const OrtCustomOp* this_) {
  return lossgrad::OpName(static_cast<const LossgradOp*>(this_)->op);
}
const char* ORT_API_CALL GetExecutionProviderType(const OrtCustomOp*) { return "CPUExecutionProvider"; }
ONNXTensorElementDataType ORT_API_CALL GetType(const OrtCustomOp* this_, size_t) {
  return static_cast<const LossgradOp*>(this_)->type;
}
size_t ORT_API_CALL GetInputTypeCount(const OrtCustomOp* this_) {
  return static_cast<size_t>(lossgrad::OpArity(static_cast<const LossgradOp*>(this_)->op));
}
size_t ORT_API_CALL GetOutputTypeCount(const OrtCustomOp*) { return 1; }
OrtCustomOpInputOutputCharacteristic ORT_API_CALL Required(const OrtCustomOp*, size_t) {
  return INPUT_OUTPUT_REQUIRED;
}
OrtMemType ORT_API_CALL GetInputMemoryType(const OrtCustomOp*, size_t) { return OrtMemTypeDefault; }
int ORT_API_CALL VariadicMinArity(const OrtCustomOp*) { return 1; }
int ORT_API_CALL VariadicHomogeneity(const OrtCustomOp*) { return 1; }
int ORT_API_CALL GetStartVersion(const OrtCustomOp*) { return lossgrad::gen::kOpsetVersion; }
int ORT_API_CALL GetEndVersion(const OrtCustomOp*) { return lossgrad::gen::kOpsetVersion; }
void* ORT_API_CALL CreateKernelV1(const OrtCustomOp*, const OrtApi*, const OrtKernelInfo*) { return nullptr; }
void ORT_API_CALL ComputeV1(void*, OrtKernelContext*) {}

LossgradOp MakeOp(int32_t op, ONNXTensorElementDataType type) {
  LossgradOp o{};  // value-initialized: members of later API versions stay null
  o.version = kApiVersion;
  o.CreateKernel = CreateKernelV1;  // unused: ORT calls the V2 entries when they are set
  o.KernelCompute = ComputeV1;
  o.GetName = GetName;
  o.GetExecutionProviderType = GetExecutionProviderType;
  o.GetInputType = GetType;
  o.GetInputTypeCount = GetInputTypeCount;
  o.GetOutputType = GetType;
  o.GetOutputTypeCount = GetOutputTypeCount;
  o.KernelDestroy = DestroyKernel;
  o.GetInputCharacteristic = Required;
  o.GetOutputCharacteristic = Required;
  o.GetInputMemoryType = GetInputMemoryType;
  o.GetVariadicInputMinArity = VariadicMinArity;
  o.GetVariadicInputHomogeneity = VariadicHomogeneity;
  o.GetVariadicOutputMinArity = VariadicMinArity;
  o.GetVariadicOutputHomogeneity = VariadicHomogeneity;
  o.CreateKernelV2 = CreateKernel;
  o.KernelComputeV2 = Compute;
  o.InferOutputShapeFn = nullptr;  // output types come from the per-type registration
  o.GetStartVersion = GetStartVersion;
  o.GetEndVersion = GetEndVersion;
  o.op = op;
  o.type = type;
  return o;
}

// Process-lifetime registry: onnxruntime keeps raw pointers to the ops and
// the domain in every session, so they are built once and never freed.
struct Registry {
  std::vector<LossgradOp> ops;
  OrtCustomOpDomain* domain = nullptr;
};

Registry* BuildRegistry(const OrtApi* api) {
  std::unique_ptr<Registry> r(new Registry());
  r->ops.reserve(static_cast<size_t>(lossgrad::gen::kNumOps * lossgrad::gen::kNumDTypes));
  for (int32_t op = 0; op < lossgrad::gen::kNumOps; ++op)
    for (ONNXTensorElementDataType type : kOnnxTypes) r->ops.push_back(MakeOp(op, type));
  OrtCustomOpDomain* domain = nullptr;
  Check(api->CreateCustomOpDomain(lossgrad::gen::kDomain, &domain));
  r->domain = domain;
  for (const LossgradOp& o : r->ops) {
    if (OrtStatus* s = api->CustomOpDomain_Add(domain, &o)) {
      api->ReleaseCustomOpDomain(domain);
      throw StatusError(s);
    }
  }
  return r.release();
}

std::mutex g_registry_mu;
Registry* g_registry = nullptr;  // guarded by g_registry_mu; leaked on purpose

}  // namespace

// Entry point called by onnxruntime (SessionOptions.register_custom_ops_library).
LOSSGRAD_EXPORT OrtStatus* ORT_API_CALL RegisterCustomOps(OrtSessionOptions* options, const OrtApiBase* api_base) {
  if (api_base == nullptr) return nullptr;  // cannot even report: not called by onnxruntime
  const OrtApi* api = api_base->GetApi(kApiVersion);
  if (api == nullptr) {
    const OrtApi* api1 = api_base->GetApi(1);
    const std::string msg = std::string("lossgrad-ops: this onnxruntime (") + api_base->GetVersionString() +
                            ") is too old for the custom-op library, which needs onnxruntime >= 1.17 (API " +
                            std::to_string(kApiVersion) + ")";
    if (api1 == nullptr) {
      std::fprintf(stderr, "%s\n", msg.c_str());
      return nullptr;
    }
    return api1->CreateStatus(ORT_FAIL, msg.c_str());
  }
  try {
    std::lock_guard<std::mutex> lock(g_registry_mu);
    if (g_registry == nullptr) g_registry = BuildRegistry(api);
    Check(api->AddCustomOpDomain(options, g_registry->domain));
    return nullptr;
  } catch (const StatusError& e) {
    return e.release();
  } catch (const std::exception& e) {
    return MakeStatus(api, ORT_FAIL, std::string("lossgrad-ops: registering the custom ops failed: ") + e.what());
  }
}

// Diagnostics for the tests (read through ctypes on the same library handle).
LOSSGRAD_EXPORT uint64_t lossgrad_ort_compute_calls() { return g_compute_calls.load(); }
LOSSGRAD_EXPORT uint64_t lossgrad_ort_parallel_calls() { return g_parallel_calls.load(); }
LOSSGRAD_EXPORT int64_t lossgrad_ort_parallel_threshold() { return lossgrad::ParallelThreshold(); }
