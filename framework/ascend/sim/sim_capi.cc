// C API of the Ascend CPU simulation library (framework/_lossgrad_ascend_sim*.so),
// called from the tests through ctypes:
//
//  * lgsim_plan:       the host tiling (op_host/lossgrad_tiling_plan.h) for given shapes/dtype/platform;
//  * lgsim_core_slice: the kernel's core split formula (op_kernel/lossgrad_tiling_data.h);
//  * lgsim_run:        plan + run the real kernel source on simulated AI cores
//                      (sim/include/kernel_operator.h), with data or "dry" (no
//                      memory: index and data-movement logic only, any size),
//                      then check coverage and report counters and violations;
//  * lgsim_broadcast:  the InferShape broadcast rule;
//  * lgsim_onnx_reduction, lgsim_onnx_attributes: the ATC plugin's attribute parsing;
//  * lgsim_defs_json:  the op table, for the drift test against framework/definitions.py.
//
// The op table is also checked at compile time against the generated C++ view
// of framework/definitions.py (static_asserts below).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <cstdio>
#include <limits>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "kernel_operator.h"
#include "lossgrad/generated_defs.h"
#include "sim_kernels.h"

#include "../framework/onnx_plugin/lossgrad_onnx_attr.h"
#include "../op_host/lossgrad_defs.h"
#include "../op_host/lossgrad_tiling_plan.h"

#define LGSIM_API extern "C" __attribute__((visibility("default")))

namespace la = lossgrad::ascend;
namespace gen = lossgrad::gen;

// ---- the op table must equal framework/definitions.py (via generated_defs.h) ----
namespace {

constexpr bool StrEq(const char* a, const char* b)
{
  while (*a != '\0' && *a == *b) {
    ++a;
    ++b;
  }
  return *a == *b;
}

//! The generated view's op id of Ascend op `op` (same name), or -1.
constexpr int GenOpOf(int op)
{
  for (int g = 0; g < gen::kNumOps; ++g) {
    if (StrEq(la::kOpTypes[op], gen::kOpNames[g])) {
      return g;
    }
  }
  return -1;
}

constexpr bool AttrsMatch(int op, int g)
{
  if (la::kOpNumAttrs[op] != gen::kOpNumAttrs[g]) {
    return false;
  }
  for (int a = 0; a < la::kOpNumAttrs[op]; ++a) {
    const bool isFloat = la::kOpAttrKinds[op][a] == la::kAttrFloat;
    if (!StrEq(la::kOpAttrNames[op][a], gen::kOpAttrNames[g][a]) ||
        static_cast<int>(la::kOpAttrKinds[op][a]) != static_cast<int>(gen::kOpAttrTypes[g][a]) ||
        (isFloat && (la::kOpAttrDefaultNumber[op][a] != gen::kOpAttrDefaults[g][a].f ||
                     la::kOpAttrMinimum[op][a] != gen::kOpAttrMinimum[g][a] ||
                     !StrEq(la::kOpAttrRequirement[op][a], gen::kOpAttrRequirement[g][a])))) {
      return false;
    }
  }
  return true;
}

//! Every op of the generated view is in the Ascend table: the grad ops, then the loss ops,
//! each in native-id order, alike (a grad op's output is y; every OpDef names its output y).
constexpr bool OpsMatch()
{
  if (gen::kNumOps != la::kNumOps) {
    return false;
  }
  int last = -1;
  for (int op = 0; op < la::kNumOps; ++op) {
    const int g = GenOpOf(op);
    if (g < 0) {
      return false;
    }
    if (op > 0 && la::kOpIsLoss[op] != la::kOpIsLoss[op - 1]) {
      if (la::kOpIsLoss[op - 1]) {
        return false;  // a grad op after a loss op
      }
      last = -1;  // the loss ops start over in native-id order
    }
    if (g <= last || gen::kOpArity[g] != la::kOpNumInputs[op] || gen::kOpIsLoss[g] != la::kOpIsLoss[op] ||
        (!gen::kOpIsLoss[g] && !StrEq(la::kOutputName, gen::kOpOutput[g])) ||
        la::kScaleNumerator[op] != gen::kOpScaleNumerator[g] || !AttrsMatch(op, g)) {
      return false;
    }
    last = g;
    for (int k = 0; k < la::kOpNumInputs[op]; ++k) {
      if (!StrEq(la::kInputNames[op][k], gen::kOpInputs[g][k])) {
        return false;
      }
    }
  }
  return true;
}

constexpr bool ReductionsMatch()
{
  if (la::kNumReductions != gen::kNumReductions || la::kReductionMean != 1 ||
      !StrEq(la::kDefaultReduction, gen::kReductionNames[gen::kDefaultReduction])) {
    return false;
  }
  for (int i = 0; i < la::kNumReductions; ++i) {
    if (!StrEq(la::kReductionNames[i], gen::kReductionNames[i])) {
      return false;
    }
  }
  return true;
}

constexpr bool DTypesMatch()
{
  for (int i = 0; i < la::kNumDTypes; ++i) {
    if (!StrEq(la::kDTypeNames[i], gen::kDTypeNames[i])) {
      return false;
    }
  }
  return true;
}

static_assert(OpsMatch(), "Ascend op table (op types, input names/order, output, scale, attributes) differs from "
              "definitions.py: regenerate op_host/lossgrad_ops_table.h (make ascend-table)");
static_assert(ReductionsMatch(), "Ascend reduction names/default differ from definitions.py");
static_assert(DTypesMatch(), "Ascend dtype names/order differ from definitions.py");
static_assert(la::kMaxRank == gen::kMaxRank, "max rank differs from definitions.py");
static_assert(StrEq(la::kOnnxDomain, gen::kDomain) && la::kOnnxOpset == gen::kOpsetVersion,
              "ONNX domain/opset differ from definitions.py");
static_assert(StrEq(la::kMsgBadReduction, gen::kMsgBadReduction) && StrEq(la::kMsgBadRank, gen::kMsgBadRank) &&
                  StrEq(la::kMsgNotBroadcastable, gen::kMsgNotBroadcastable) &&
                  StrEq(la::kMsgNegativeDim, gen::kMsgNegativeDim) &&
                  StrEq(la::kMsgUnknownOp, gen::kMsgUnknownOp) &&
                  StrEq(la::kMsgBadAttributeValue, gen::kMsgBadAttributeValue) &&
                  StrEq(la::kMsgBadAttributeType, gen::kMsgBadAttributeType),
              "error-message templates differ from definitions.py");

std::mutex g_mutex;

void CopyString(char* dst, uint64_t cap, const std::string& s)
{
  if (cap == 0) {
    return;
  }
  const size_t n = s.size() < cap - 1 ? s.size() : static_cast<size_t>(cap - 1);
  std::memcpy(dst, s.data(), n);
  dst[n] = '\0';
}

std::string JsonStr(const char* s)
{
  std::string out = "\"";
  for (const char* p = s; *p != '\0'; ++p) {
    if (*p == '"' || *p == '\\') {
      out += '\\';
    }
    out += *p;
  }
  return out + "\"";
}

template <class T, size_t N>
std::string JsonStrList(const T (&items)[N])
{
  std::string out = "[";
  for (size_t i = 0; i < N; ++i) {
    out += (i ? ", " : "") + JsonStr(items[i]);
  }
  return out + "]";
}

std::string JsonNumber(double v)
{
  if (v != v) {
    return "NaN";
  }
  if (v == -std::numeric_limits<double>::infinity()) {
    return "-Infinity";
  }
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

const char* AttrKindName(la::AttrKind k)
{
  switch (k) {
    case la::kAttrString: return "string";
    case la::kAttrInt: return "int";
    case la::kAttrFloat: return "float";
    case la::kAttrBool: return "bool";
  }
  return "?";
}

std::string BuildDefsJson()
{
  std::string j = "{";
  j += "\"op_types\": " + JsonStrList(la::kOpTypes);
  j += ", \"kernel_names\": " + JsonStrList(la::kKernelNames);
  j += ", \"inputs\": [";
  for (int op = 0; op < la::kNumOps; ++op) {
    j += op ? ", [" : "[";
    for (int k = 0; k < la::kOpNumInputs[op]; ++k) {
      j += (k ? ", " : "") + JsonStr(la::kInputNames[op][k]);
    }
    j += "]";
  }
  j += "], \"loss\": [";
  for (int op = 0; op < la::kNumOps; ++op) {
    j += (op ? ", " : "") + std::string(la::kOpIsLoss[op] ? "true" : "false");
  }
  j += "], \"output\": " + JsonStr(la::kOutputName);
  j += ", \"scale_numerators\": [";
  for (int op = 0; op < la::kNumOps; ++op) {
    j += (op ? ", " : "") + JsonNumber(la::kScaleNumerator[op]);
  }
  j += "], \"attributes\": [";
  for (int op = 0; op < la::kNumOps; ++op) {
    j += op ? ", [" : "[";
    for (int a = 0; a < la::kOpNumAttrs[op]; ++a) {
      const la::AttrKind kind = la::kOpAttrKinds[op][a];
      const char* req = la::kOpAttrRequirement[op][a];
      j += (a ? ", " : "") + std::string("{\"name\": ") + JsonStr(la::kOpAttrNames[op][a]) + ", \"type\": " +
           JsonStr(AttrKindName(kind)) + ", \"default\": " +
           (kind == la::kAttrString ? JsonStr(la::kOpAttrDefaultText[op][a]) : JsonNumber(la::kOpAttrDefaultNumber[op][a])) +
           ", \"minimum\": " + JsonNumber(la::kOpAttrMinimum[op][a]) + ", \"requirement\": " +
           (req == nullptr ? std::string("null") : JsonStr(req)) + ", \"slot\": " + std::to_string(la::kOpAttrSlot[op][a]) +
           "}";
    }
    j += "]";
  }
  j += "]";
  j += ", \"attr\": " + JsonStr(la::kAttrName);
  j += ", \"default_reduction\": " + JsonStr(la::kDefaultReduction);
  j += ", \"reductions\": " + JsonStrList(la::kReductionNames);
  j += ", \"dtypes\": " + JsonStrList(la::kDTypeNames);
  j += ", \"max_rank\": " + std::to_string(la::kMaxRank);
  j += ", \"vendor\": " + JsonStr(la::kVendorName);
  j += ", \"onnx_domain\": " + JsonStr(la::kOnnxDomain);
  j += ", \"onnx_opset\": " + std::to_string(la::kOnnxOpset);
  j += ", \"messages\": {\"bad_reduction\": " + JsonStr(la::kMsgBadReduction) +
       ", \"bad_rank\": " + JsonStr(la::kMsgBadRank) + ", \"not_broadcastable\": " + JsonStr(la::kMsgNotBroadcastable) +
       ", \"negative_dim\": " + JsonStr(la::kMsgNegativeDim) +
       ", \"unknown_op\": " + JsonStr(la::kMsgUnknownOp) +
       ", \"bad_reduction_type\": " + JsonStr(la::kMsgBadReductionType) +
       ", \"bad_attribute_value\": " + JsonStr(la::kMsgBadAttributeValue) +
       ", \"bad_attribute_type\": " + JsonStr(la::kMsgBadAttributeType) + "}";
  return j + "}";
}

//! Declared attribute values from the C API (`values`/`given`, kMaxAttrs entries, nullable).
la::AttrValues ToAttrValues(const double* values, const int32_t* given)
{
  la::AttrValues out;
  for (int a = 0; a < la::kMaxAttrs && values != nullptr && given != nullptr; ++a) {
    out.given[a] = given[a] != 0;
    out.number[a] = values[a];
  }
  return out;
}

void ToShapes(const int32_t* ranks, const int64_t* dims, la::Shape* shapes)
{
  for (int k = 0; k < la::kNumInputs; ++k) {
    shapes[k].rank = ranks[k];
    for (int i = 0; i < la::kMaxRank; ++i) {
      shapes[k].dims[i] = dims[k * la::kMaxRank + i];
    }
  }
}

}  // namespace

// ---- structures shared with Python (ctypes mirrors them; sizes are checked) ----
extern "C" {

struct LgPlanOut {
  LossGradTilingPlain tiling;
  uint64_t blockDim;
  uint64_t userWorkspaceBytes;
  uint64_t ubBytesNeeded;
  double scale;
  int64_t outDims[8];
  int32_t ok;
  int32_t reduction;
  int32_t outRank;
  int32_t modes[3];
  char message[1024];
};

struct LgRunArgs {
  const void* inputs[3];  //!< host data in CANN order (ignored when dry)
  void* output;           //!< host buffer of numel(broadcast) elements (ignored when dry)
  const char* reduction;  //!< nullptr: the default
  uint64_t coreNum;
  uint64_t ubBytes;
  int64_t dims[3][8];
  int32_t ranks[3];
  int32_t op;
  int32_t dtype;
  int32_t dry;
  int32_t attrGiven[8];  //!< declared attribute a given (else its default), by declared index
  double attrValues[8];  //!< its value (int, bool 0 / 1, float)
};
static_assert(la::kMaxAttrs <= 8, "LgRunArgs holds 8 declared attributes");

struct LgRunReport {
  uint64_t blockDim;
  uint64_t tileLength;
  uint64_t ubBytesNeeded;
  uint64_t ubBytesUsedMax;
  uint64_t userWorkspaceBytes;
  uint64_t dataCopyIn;
  uint64_t dataCopyOut;
  uint64_t dataCopyPadIn;
  uint64_t dataCopyPadOut;
  uint64_t truncatedCopies;
  uint64_t partialCompares;
  uint64_t vectorOps;
  uint64_t barriers;
  uint64_t maxCopyBytes;
  uint64_t outputUnaligned32;  //!< output DMA transfers not starting on 32 bytes
  uint64_t inputUnaligned32;   //!< streamed-input DMA transfers not starting on 32 bytes
  uint64_t violationCount;
  uint64_t coreOutputElems[64];
  double scale;
  int32_t status;  //!< 0 ok, 1 the plan refused (message), 2 violations or coverage errors
  int32_t modes[3];
  char message[4096];
};

}  // extern "C"

// ---- stand-in hooks that need the runner --------------------------------------
namespace lgsim {

void LoadTiling(void* dst, uint64_t bytes, const uint8_t* src)
{
  GmAlloc* a = FindGm(src);
  if (a == nullptr || a->kind != GmKind::kTiling || a->bytes < bytes || a->data == nullptr) {
    Violation("GET_TILING_DATA: the tiling argument is not the tiling buffer");
    std::memset(dst, 0, bytes);
    return;
  }
  std::memcpy(dst, a->data, bytes);
}

}  // namespace lgsim

namespace AscendC {

GM_ADDR GetUserWorkspace(GM_ADDR workspace)
{
  lgsim::State& st = lgsim::S();
  lgsim::GmAlloc* sys = lgsim::FindGm(workspace);
  if (sys == nullptr || sys->kind != lgsim::GmKind::kSystem) {
    lgsim::Violation("GetUserWorkspace: argument is not the kernel's workspace");
    return nullptr;
  }
  for (lgsim::GmAlloc& a : st.gm) {
    if (a.kind == lgsim::GmKind::kWorkspace) {
      return const_cast<GM_ADDR>(a.handle);
    }
  }
  lgsim::Violation("GetUserWorkspace: the plan asked for no user workspace");
  return nullptr;
}

}  // namespace AscendC

// ---- the C API -------------------------------------------------------------------
LGSIM_API int lgsim_abi_version() { return 2; }

LGSIM_API uint64_t lgsim_sizeof_tiling() { return sizeof(LossGradTilingPlain); }
LGSIM_API uint64_t lgsim_sizeof_plan_out() { return sizeof(LgPlanOut); }
LGSIM_API uint64_t lgsim_sizeof_run_args() { return sizeof(LgRunArgs); }
LGSIM_API uint64_t lgsim_sizeof_run_report() { return sizeof(LgRunReport); }

//! Field table of the tiling struct: name, byte offset, element size, element
//! count (1 for scalars) and kind (0 unsigned, 1 signed, 2 float). Returns the
//! number of fields; fills entry `index` when it exists.
LGSIM_API int lgsim_tiling_field(int index, const char** name, uint64_t* offset, uint64_t* size, uint64_t* count,
                                 int* kind)
{
  struct Field {
    const char* name;
    uint64_t offset;
    uint64_t size;
    uint64_t count;
    int kind;
  };
  static const Field fields[] = {
#define LGSIM_KIND(type) (std::is_floating_point<type>::value ? 2 : (std::is_signed<type>::value ? 1 : 0))
#define LGSIM_SCALAR_FIELD(type, fname) {#fname, offsetof(LossGradTilingPlain, fname), sizeof(type), 1, LGSIM_KIND(type)},
#define LGSIM_ARRAY_FIELD(type, n, fname) {#fname, offsetof(LossGradTilingPlain, fname), sizeof(type), n, LGSIM_KIND(type)},
      LOSSGRAD_TILING_SCALAR_FIELDS(LGSIM_SCALAR_FIELD) LOSSGRAD_TILING_ARRAY_FIELDS(LGSIM_ARRAY_FIELD)
#undef LGSIM_SCALAR_FIELD
#undef LGSIM_ARRAY_FIELD
#undef LGSIM_KIND
  };
  const int total = static_cast<int>(sizeof(fields) / sizeof(fields[0]));
  if (index >= 0 && index < total) {
    *name = fields[index].name;
    *offset = fields[index].offset;
    *size = fields[index].size;
    *count = fields[index].count;
    *kind = fields[index].kind;
  }
  return total;
}

//! Constants of the plan the tests check against.
LGSIM_API uint64_t lgsim_constant(const char* name)
{
  const std::string n(name);
  if (n == "buffer_num") return la::kBufferNum;
  if (n == "tile_align_elems") return la::kTileAlignElems;
  if (n == "compare_align_elems") return la::kCompareAlignElems;
  if (n == "select_reserve_bytes") return la::kSelectReserveBytes;
  if (n == "min_blocks_per_core") return la::kMinBlocksPerCore;
  if (n == "max_copy_bytes") return la::kMaxCopyBytes;
  if (n == "workspace_align") return la::kWorkspaceAlign;
  if (n == "max_elements") return la::kMaxElements;
  return 0;
}

LGSIM_API uint64_t lgsim_ub_bytes_for_tile(int op, int dtype, uint64_t queueInputs, uint64_t tileLength,
                                           uint64_t reduceCores)
{
  if (op < 0 || op >= la::kNumOps || dtype < 0 || dtype >= la::kNumDTypes) {
    return 0;
  }
  return la::UbBytesForTile(op, dtype, queueInputs, tileLength, reduceCores);
}

LGSIM_API int lgsim_plan(int op, int dtype, const char* reduction, const int32_t* ranks, const int64_t* dims,
                         uint64_t coreNum, uint64_t ubBytes, const double* attrValues, const int32_t* attrGiven,
                         LgPlanOut* out)
{
  std::memset(out, 0, sizeof *out);
  la::Shape shapes[la::kNumInputs];
  ToShapes(ranks, dims, shapes);
  la::Platform pf;
  pf.coreNum = coreNum;
  pf.ubBytes = ubBytes;
  const la::AttrValues attrs = ToAttrValues(attrValues, attrGiven);
  const la::Plan plan = la::PlanLossGrad(op, dtype, reduction, shapes, pf, &attrs);
  out->ok = plan.ok ? 1 : 0;
  CopyString(out->message, sizeof out->message, plan.message);
  out->reduction = plan.reduction;
  if (!plan.ok) {
    return 0;
  }
  out->tiling = plan.tiling;
  out->blockDim = plan.blockDim;
  out->userWorkspaceBytes = plan.userWorkspaceBytes;
  out->ubBytesNeeded = plan.ubBytesNeeded;
  out->scale = plan.scale;
  out->outRank = plan.outShape.rank;
  for (int i = 0; i < 8; ++i) {
    out->outDims[i] = i < plan.outShape.rank ? plan.outShape.dims[i] : 0;
  }
  for (int k = 0; k < 3; ++k) {
    out->modes[k] = static_cast<int32_t>(plan.modes[k]);
  }
  return 1;
}

LGSIM_API void lgsim_core_slice(const LossGradTilingPlain* tiling, uint64_t core, uint64_t* start, uint64_t* count)
{
  LossGradCoreSlice(*tiling, core, *start, *count);
}

LGSIM_API int lgsim_broadcast(int op, const int32_t* ranks, const int64_t* dims, int32_t* outRank, int64_t* outDims,
                              char* message, uint64_t messageLen)
{
  la::Shape shapes[la::kNumInputs];
  ToShapes(ranks, dims, shapes);
  la::Shape out;
  std::string error;
  if (op < 0 || op >= la::kNumOps || !la::BroadcastShapes(op, shapes, &out, &error)) {
    CopyString(message, messageLen, error);
    return 0;
  }
  *outRank = out.rank;
  for (int i = 0; i < 8; ++i) {
    outDims[i] = i < out.rank ? out.dims[i] : 0;
  }
  return 1;
}

LGSIM_API int lgsim_onnx_reduction(const char* opType, const char* json, char* reduction, uint64_t reductionLen,
                                   char* error, uint64_t errorLen)
{
  std::string r;
  std::string e;
  const int status = lossgrad::onnx_attr::ParseReduction(opType, json, &r, &e);
  CopyString(reduction, reductionLen, r);
  CopyString(error, errorLen, e);
  return status;
}

//! Attribute `name` of ATC's attribute JSON read as `kind` (the ONNX type numbers
//! 1 FLOAT, 2 INT, 3 STRING (taken as written), or 0 for a bool: an INT 0 / 1) with
//! the plugin's typed reads. 1 read (into `text`, `i` or `f`), 0 no such attribute,
//! -1 another type or an unreadable value (`text`: the type name), -2 malformed JSON.
LGSIM_API int lgsim_onnx_attr(const char* json, const char* name, int kind, char* text, uint64_t textLen, int64_t* i,
                              double* f)
{
  namespace oa = lossgrad::onnx_attr;
  std::vector<oa::Attr> attrs;
  std::string value;
  if (!oa::AttrReader::Read(json, &attrs, &value)) {
    CopyString(text, textLen, value);
    return -2;
  }
  const oa::Attr* attr = oa::Find(attrs, name);
  if (attr == nullptr) {
    return 0;
  }
  std::string typeName;
  bool ok = false;
  bool flag = false;
  switch (kind) {
    case oa::kFloat: ok = oa::GetFloat(*attr, f, &typeName); break;
    case oa::kInt: ok = oa::GetInt(*attr, i, &typeName); break;
    case oa::kString: ok = oa::GetString(*attr, &value, &typeName); break;
    case 0: ok = oa::GetBool(*attr, &flag, &typeName); *i = flag; break;
    default: break;
  }
  CopyString(text, textLen, ok ? value : typeName);
  return ok ? 1 : -1;
}

//! The plugin's parse of every declared attribute but the reduction of op `op` from ATC's
//! attribute JSON: 1 found, 0 none given (defaults), -1 error (`error`); `given`/`values` by
//! declared index (kMaxAttrs entries, at most 8).
LGSIM_API int lgsim_onnx_attributes(int op, const char* json, int32_t* given, double* values, char* error,
                                    uint64_t errorLen)
{
  if (op < 0 || op >= la::kNumOps) {
    return -2;
  }
  bool g[la::kMaxAttrs];
  double v[la::kMaxAttrs];
  std::string e;
  const int status = lossgrad::onnx_attr::ParseDeclaredAttributes(op, json, g, v, &e);
  for (int a = 0; a < la::kMaxAttrs; ++a) {
    given[a] = g[a] ? 1 : 0;
    values[a] = v[a];
  }
  CopyString(error, errorLen, e);
  return status == lossgrad::onnx_attr::kError ? -1 : (status == lossgrad::onnx_attr::kFound ? 1 : 0);
}

LGSIM_API int lgsim_max_attrs() { return la::kMaxAttrs; }

LGSIM_API const char* lgsim_defs_json()
{
  static const std::string json = BuildDefsJson();
  return json.c_str();
}

namespace {

//! The parts of `items` inside [lo, hi) cover it exactly once. (Logs merge
//! adjacent intervals, so one interval may span two neighbouring regions: clip.)
std::string CheckRegion(const std::vector<lgsim::Interval>& items, uint64_t lo, uint64_t hi)
{
  std::vector<lgsim::Interval> inside;
  for (const lgsim::Interval& it : items) {
    if (it.begin < hi && lo < it.end) {
      inside.push_back({it.begin < lo ? lo : it.begin, it.end > hi ? hi : it.end});
    }
  }
  return lgsim::CheckExactlyOnce(inside, lo, hi);
}

uint64_t TotalBytes(const std::vector<lgsim::Interval>& items)
{
  uint64_t total = 0;
  for (const lgsim::Interval& it : items) {
    total += it.end - it.begin;
  }
  return total;
}

}  // namespace

namespace {

//! Runs the cores of one launch, each on its own thread and one at a time (the stand-in's state
//! is the running core's): core 0 to its end or its SyncAll, then core 1, ...; a round ends when
//! every core has ended or waits in SyncAll, then the waiting cores go on, in core order.
class CoreScheduler {
 public:
  //! What a core owns and the stand-in keeps in lgsim::S() while it runs.
  struct CoreState {
    uint64_t blockIdx = 0;
    bool floatSaturation = true;
    std::vector<uint8_t> ub;
    uint32_t ubUsed = 0;
    std::vector<lgsim::UbBuf> bufs;
    int queueBuffers[4] = {0, 0, 0, 0};
    uint64_t coreOutputBytes = 0;
  };

  static CoreScheduler*& Current()
  {
    static CoreScheduler* current = nullptr;
    return current;
  }

  //! Runs body(core) for every core; `done(core)` runs on the core's thread after body returns.
  template <class Body, class Done>
  void Run(uint64_t cores, Body body, Done done)
  {
    states_.assign(cores, CoreState());
    waiting_.assign(cores, false);
    finished_.assign(cores, false);
    Current() = this;
    lgsim::S().coreBarrier = &CoreScheduler::Barrier;
    std::vector<std::thread> threads;
    threads.reserve(cores);
    for (uint64_t c = 0; c < cores; ++c) {
      threads.emplace_back([this, c, body, done] {
        WaitTurn(c);
        lgsim::BeginCore(c);
        body(c);
        lgsim::EndCore();
        done(c);
        finished_[c] = true;
        GiveBack();
      });
    }
    for (;;) {
      bool anyRan = false;
      for (uint64_t c = 0; c < cores; ++c) {
        if (!finished_[c] && !waiting_[c]) {
          Resume(c);
          anyRan = true;
        }
      }
      bool anyWaiting = false;
      bool anyFinished = false;
      for (uint64_t c = 0; c < cores; ++c) {
        anyWaiting = anyWaiting || waiting_[c];
        anyFinished = anyFinished || finished_[c];
      }
      if (!anyWaiting) {
        break;
      }
      if (anyFinished) {
        lgsim::Violation("SyncAll: a core returned while others wait there (the NPU would hang)");
      }
      ++lgsim::S().syncEpoch;  // every core passed the barrier
      for (uint64_t c = 0; c < cores; ++c) {
        waiting_[c] = false;
      }
      (void)anyRan;
    }
    for (std::thread& t : threads) {
      t.join();
    }
    lgsim::S().coreBarrier = nullptr;
    Current() = nullptr;
  }

 private:
  static constexpr uint64_t kScheduler = ~uint64_t{0};

  //! The running core reached SyncAll: park its state, let the scheduler go on, resume later.
  static void Barrier()
  {
    CoreScheduler* self = Current();
    const uint64_t c = lgsim::S().blockIdx;
    self->Save(c);
    self->waiting_[c] = true;
    self->GiveBack();
    self->WaitTurn(c);
    self->Restore(c);
  }

  //! Parks core c's state in its slot, and puts it back: the same fields both ways (the buffers
  //! by swap).
  void Save(uint64_t c) { Move(lgsim::S(), states_[c]); }
  void Restore(uint64_t c) { Move(states_[c], lgsim::S()); }

  template <class From, class To>
  static void Move(From& from, To& to)
  {
    to.blockIdx = from.blockIdx;
    to.floatSaturation = from.floatSaturation;
    to.ub.swap(from.ub);
    to.ubUsed = from.ubUsed;
    to.bufs.swap(from.bufs);
    std::copy(std::begin(from.queueBuffers), std::end(from.queueBuffers), std::begin(to.queueBuffers));
    to.coreOutputBytes = from.coreOutputBytes;
  }

  //! Scheduler: let core c run until it ends or waits in SyncAll.
  void Resume(uint64_t c)
  {
    std::unique_lock<std::mutex> lock(m_);
    turn_ = c;
    cv_.notify_all();
    cv_.wait(lock, [this] { return turn_ == kScheduler; });
  }

  void WaitTurn(uint64_t c)
  {
    std::unique_lock<std::mutex> lock(m_);
    cv_.wait(lock, [this, c] { return turn_ == c; });
  }

  void GiveBack()
  {
    std::lock_guard<std::mutex> lock(m_);
    turn_ = kScheduler;
    cv_.notify_all();
  }

  std::mutex m_;
  std::condition_variable cv_;
  uint64_t turn_ = kScheduler;
  std::vector<CoreState> states_;
  std::vector<bool> waiting_;
  std::vector<bool> finished_;
};

}  // namespace

//! Plan and run one launch on simulated cores; see the file comment.
LGSIM_API int lgsim_run(const LgRunArgs* args, LgRunReport* report)
{
  std::lock_guard<std::mutex> lock(g_mutex);
  std::memset(report, 0, sizeof *report);
  la::Shape shapes[la::kNumInputs];
  ToShapes(args->ranks, &args->dims[0][0], shapes);
  la::Platform pf;
  pf.coreNum = args->coreNum;
  pf.ubBytes = args->ubBytes;
  const la::AttrValues attrs = ToAttrValues(args->attrValues, args->attrGiven);
  const la::Plan plan = la::PlanLossGrad(args->op, args->dtype, args->reduction, shapes, pf, &attrs);
  if (!plan.ok) {
    report->status = 1;
    CopyString(report->message, sizeof report->message, plan.message);
    return report->status;
  }
  const uint64_t size = la::kDTypeSize[args->dtype];
  const uint64_t n = plan.tiling.totalLength;
  report->blockDim = plan.blockDim;
  report->tileLength = plan.tiling.tileLength;
  report->ubBytesNeeded = plan.ubBytesNeeded;
  report->userWorkspaceBytes = plan.userWorkspaceBytes;
  report->scale = plan.scale;
  for (int k = 0; k < 3; ++k) {
    report->modes[k] = static_cast<int32_t>(plan.modes[k]);
  }

  lgsim::State& st = lgsim::S();
  st = lgsim::State();
  st.dry = args->dry != 0;
  st.ubBytes = args->ubBytes;

  // GM: inputs, output, system and user workspace, tiling. In dry mode the
  // allocations are handles without memory (sized virtually).
  std::vector<std::vector<uint8_t>> storage;
  storage.reserve(8);
  auto add = [&](lgsim::GmKind kind, int index, uint64_t bytes, const void* init, const char* name) {
    lgsim::GmAlloc a;
    a.kind = kind;
    a.index = index;
    a.bytes = bytes;
    a.name = name;
    const bool backed = !st.dry || kind == lgsim::GmKind::kTiling;
    storage.emplace_back(backed ? static_cast<size_t>(bytes) + 1 : 1, uint8_t{0});
    if (backed && init != nullptr && bytes != 0) {
      std::memcpy(storage.back().data(), init, static_cast<size_t>(bytes));
    }
    a.handle = storage.back().data();
    a.data = backed ? storage.back().data() : nullptr;
    st.gm.push_back(a);
  };
  static const char* kInputLabels[3] = {"input 0", "input 1", "input 2"};
  for (int k = 0; k < la::kOpNumInputs[args->op]; ++k) {
    uint64_t numel = 1;
    for (int i = 0; i < shapes[k].rank; ++i) {
      numel *= static_cast<uint64_t>(shapes[k].dims[i]);
    }
    add(lgsim::GmKind::kInput, k, numel * size, args->inputs[k], kInputLabels[k]);
  }
  const bool reduce = plan.tiling.reduceOutput != 0;
  const uint64_t outElems = reduce ? 1 : n;
  add(lgsim::GmKind::kOutput, 0, outElems * size, nullptr, "output");
  add(lgsim::GmKind::kSystem, 0, 64, nullptr, "system workspace");
  if (plan.userWorkspaceBytes != 0) {
    add(lgsim::GmKind::kWorkspace, 0, plan.userWorkspaceBytes, nullptr, "user workspace");
  }
  add(lgsim::GmKind::kTiling, 0, sizeof(LossGradTilingPlain), &plan.tiling, "tiling");
  auto handle = [&](lgsim::GmKind kind, int index) -> uint8_t* {
    for (lgsim::GmAlloc& a : st.gm) {
      if (a.kind == kind && a.index == index) {
        return const_cast<uint8_t*>(a.handle);
      }
    }
    return nullptr;
  };

  const lgsim::KernelEntry entry = lgsim::GetKernel(args->op, args->dtype);
  uint8_t* const in0 = handle(lgsim::GmKind::kInput, 0);
  uint8_t* const in1 = handle(lgsim::GmKind::kInput, 1);
  uint8_t* const in2 = handle(lgsim::GmKind::kInput, 2);  // nullptr for a loss op: no third input
  uint8_t* const out = handle(lgsim::GmKind::kOutput, 0);
  uint8_t* const sys = handle(lgsim::GmKind::kSystem, 0);
  uint8_t* const tiling = handle(lgsim::GmKind::kTiling, 0);
  CoreScheduler scheduler;
  scheduler.Run(
      plan.blockDim, [&](uint64_t) { entry(in0, in1, in2, out, sys, tiling); },
      [&](uint64_t core) {
        if (core < 64) {
          report->coreOutputElems[core] = lgsim::S().coreOutputBytes / size;
        }
      });

  // Coverage: every output byte written once; streamed inputs read once;
  // broadcast copies written and read once; nothing else touched.
  std::vector<std::string> problems;
  for (const lgsim::GmAlloc& a : st.gm) {
    std::string why;
    if (a.kind == lgsim::GmKind::kOutput) {
      why = lgsim::CheckExactlyOnce(a.writes.items, 0, outElems * size);
      report->outputUnaligned32 += a.unaligned32;
    } else if (a.kind == lgsim::GmKind::kInput) {
      const uint32_t mode = plan.modes[a.index];
      if (mode == kLossGradFull) {
        why = lgsim::CheckExactlyOnce(a.reads.items, 0, n * size);
        report->inputUnaligned32 += a.unaligned32;
      } else if (mode == kLossGradScalar && !a.reads.items.empty()) {
        why = "a scalar input was streamed";
      }
    } else if (a.kind == lgsim::GmKind::kWorkspace) {
      uint64_t expected = 0;
      for (int k = 0; k < 3 && why.empty(); ++k) {
        if (plan.modes[k] != kLossGradBcast) {
          continue;
        }
        const uint64_t lo = k == 0 ? plan.tiling.wsOffset0 : (k == 1 ? plan.tiling.wsOffset1 : plan.tiling.wsOffset2);
        why = CheckRegion(a.writes.items, lo, lo + n * size);
        if (why.empty()) {
          why = CheckRegion(a.reads.items, lo, lo + n * size);
        }
        expected += n * size;
      }
      if (reduce && why.empty()) {
        // every core's 32-byte partial slot written once, and all of them read once (core 0)
        const uint64_t lo = plan.tiling.partialOffset;
        const uint64_t hi = lo + plan.blockDim * 32;
        why = CheckRegion(a.writes.items, lo, hi);
        if (why.empty()) {
          why = CheckRegion(a.reads.items, lo, hi);
        }
        expected += hi - lo;
      }
      if (why.empty() && (TotalBytes(a.writes.items) != expected || TotalBytes(a.reads.items) != expected)) {
        why = "bytes outside the broadcast and partial-sum regions accessed";
      }
    } else if (a.kind == lgsim::GmKind::kSystem && (!a.reads.items.empty() || !a.writes.items.empty())) {
      why = "the system workspace was used";
    }
    if (!why.empty()) {
      problems.push_back(a.name + ": " + why);
    }
  }

  if (!st.dry && args->output != nullptr && outElems != 0) {
    std::memcpy(args->output, handle(lgsim::GmKind::kOutput, 0), static_cast<size_t>(outElems * size));
  }
  const lgsim::Stats& s = st.stats;
  report->ubBytesUsedMax = s.ubBytesUsedMax;
  report->dataCopyIn = s.dataCopyIn;
  report->dataCopyOut = s.dataCopyOut;
  report->dataCopyPadIn = s.dataCopyPadIn;
  report->dataCopyPadOut = s.dataCopyPadOut;
  report->truncatedCopies = s.truncatedCopies;
  report->partialCompares = s.partialCompares;
  report->vectorOps = s.vectorOps;
  report->barriers = s.barriers;
  report->maxCopyBytes = s.maxCopyBytes;
  report->violationCount = st.violationCount;
  std::string msg;
  for (const std::string& v : st.violations) {
    msg += v + "\n";
  }
  for (const std::string& p : problems) {
    msg += "coverage: " + p + "\n";
  }
  CopyString(report->message, sizeof report->message, msg);
  report->status = (st.violationCount != 0 || !problems.empty()) ? 2 : 0;
  st = lgsim::State();  // release the memory
  return report->status;
}
