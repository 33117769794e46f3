// Compiles the package's op_host source (OpDef, InferShape, InferDataType,
// TilingFunc) against the CANN stand-ins in cann_stubs/, and exposes what it
// registers to the tests: the op definitions as JSON, and calls into the
// registered tiling and inference functions through stand-in contexts. This
// runs our adapter code; it is no proof of compatibility with CANN's headers.
#include "../op_host/lossgrad_ops.cpp"

#include <string>

#define LGSIM_API extern "C" __attribute__((visibility("default")))

namespace {

const char* DTypeName(ge::DataType t)
{
  switch (t) {
    case ge::DT_FLOAT16: return "DT_FLOAT16";
    case ge::DT_BF16: return "DT_BF16";
    case ge::DT_FLOAT: return "DT_FLOAT";
    default: return "DT_OTHER";
  }
}

const char* FormatName(ge::Format f) { return f == ge::FORMAT_ND ? "FORMAT_ND" : "FORMAT_OTHER"; }
const char* OptionName(ops::Option o) { return o == ops::REQUIRED ? "required" : (o == ops::OPTIONAL ? "optional" : "dynamic"); }

std::string Q(const std::string& s) { return "\"" + s + "\""; }

std::string ParamsJson(const std::deque<ops::OpParamDef>& params)
{
  std::string j = "[";
  for (size_t i = 0; i < params.size(); ++i) {
    const ops::OpParamDef& p = params[i];
    j += (i ? ", " : "") + std::string("{\"name\": ") + Q(p.name) + ", \"param\": " + Q(OptionName(p.param)) +
         ", \"types\": [";
    for (size_t t = 0; t < p.types.size(); ++t) {
      j += (t ? ", " : "") + Q(DTypeName(p.types[t]));
    }
    j += "], \"formats\": [";
    for (size_t f = 0; f < p.formats.size(); ++f) {
      j += (f ? ", " : "") + Q(FormatName(p.formats[f]));
    }
    j += "]}";
  }
  return j + "]";
}

std::string OpsJson()
{
  std::string j = "[";
  bool first = true;
  for (const auto& entry : ops::OpRegistry()) {
    std::unique_ptr<ops::OpDef> def = entry.second();
    j += (first ? "" : ", ") + std::string("{\"name\": ") + Q(def->Name()) + ", \"inputs\": " +
         ParamsJson(def->Inputs()) + ", \"outputs\": " + ParamsJson(def->Outputs()) + ", \"attrs\": [";
    first = false;
    for (size_t i = 0; i < def->Attrs().size(); ++i) {
      const ops::OpAttrDef& a = def->Attrs()[i];
      j += (i ? ", " : "") + std::string("{\"name\": ") + Q(a.name) + ", \"param\": " + Q(OptionName(a.param)) +
           ", \"type\": " + Q(a.type) + ", \"default\": " + Q(a.defaultValue) + "}";
    }
    j += "], \"configs\": [";
    for (size_t i = 0; i < def->AICoreDef().configs.size(); ++i) {
      j += (i ? ", " : "") + Q(def->AICoreDef().configs[i]);
    }
    auto cls = lgsim_stub::TilingClasses().find(def->Name());
    j += std::string("], \"has_tiling\": ") + (def->AICoreDef().tiling ? "true" : "false") +
         ", \"has_infer_shape\": " + (def->InferShape() ? "true" : "false") +
         ", \"has_infer_dtype\": " + (def->InferDataType() ? "true" : "false") + ", \"tiling_class\": " +
         Q(cls == lgsim_stub::TilingClasses().end() ? "" : cls->second) + "}";
  }
  return j + "]";
}

std::unique_ptr<ops::OpDef> Find(const char* opType)
{
  auto it = ops::OpRegistry().find(opType);
  return it == ops::OpRegistry().end() ? nullptr : it->second();
}

}  // namespace

LGSIM_API const char* lgsim_cann_ops_json()
{
  static const std::string json = OpsJson();
  return json.c_str();
}

//! Run the registered TilingFunc of `opType` in a stand-in TilingContext.
//! `reduction` nullptr with hasAttrs = 1 means the attribute is unset; hasAttrs = 0
//! gives no attribute object at all. `floatAttrs`/`floatGiven` (8 entries by declared
//! index, nullable) set float attributes. Returns 1 on GRAPH_SUCCESS, 0 on failure, -1 unknown op.
LGSIM_API int lgsim_cann_tiling(const char* opType, const char* reduction, int hasAttrs, const double* floatAttrs,
                                const int32_t* floatGiven, const int32_t* dtypes,
                                const int32_t* ranks, const int64_t* dims, uint32_t cores, uint64_t ubBytes,
                                uint32_t sysWorkspace, uint8_t* tilingOut, uint64_t tilingCap, uint64_t* tilingSize,
                                uint32_t* blockDim, uint64_t* workspace)
{
  std::unique_ptr<ops::OpDef> def = Find(opType);
  if (def == nullptr || def->AICoreDef().tiling == nullptr) {
    return -1;
  }
  gert::TilingContext ctx;
  ctx.platform.aivCores = cores;
  ctx.platform.ubBytes = ubBytes;
  ctx.platform.sysWorkspace = sysWorkspace;
  ctx.attrsNull = hasAttrs == 0;
  ctx.attrs.SetString(0, reduction);
  // Float attributes by declared index (1..7): set when given (the others stay unset).
  for (size_t a = 1; a < 8 && floatAttrs != nullptr && floatGiven != nullptr; ++a) {
    if (floatGiven[a] != 0) {
      ctx.attrs.SetFloat(a, static_cast<float>(floatAttrs[a]));
    }
  }
  ctx.shapes.resize(3);
  ctx.descs.resize(3);
  for (int k = 0; k < 3; ++k) {
    gert::Shape& s = ctx.shapes[static_cast<size_t>(k)].MutableStorageShape();
    s.SetDimNum(static_cast<size_t>(ranks[k]));
    for (int i = 0; i < ranks[k] && i < 8; ++i) {
      s.SetDim(static_cast<size_t>(i), dims[k * 8 + i]);
    }
    ctx.descs[static_cast<size_t>(k)].SetDataType(static_cast<ge::DataType>(dtypes[k]));
  }
  const ge::graphStatus status = def->AICoreDef().tiling(&ctx);
  const uint64_t size = ctx.raw.GetDataSize();
  std::memcpy(tilingOut, ctx.raw.Bytes(), static_cast<size_t>(size < tilingCap ? size : tilingCap));
  *tilingSize = size;
  *blockDim = ctx.blockDim;
  *workspace = ctx.workspace.empty() ? 0 : ctx.workspace[0];
  return status == ge::GRAPH_SUCCESS ? 1 : 0;
}

//! Run the registered InferShape (up to 10 dims per input, to test rank errors) for
//! `ninputs` inputs, with the reduction attribute `reduction` (nullptr: unset).
LGSIM_API int lgsim_cann_infer_shape(const char* opType, int ninputs, const int32_t* ranks, const int64_t* dims,
                                     const char* reduction, int32_t* outRank, int64_t* outDims)
{
  std::unique_ptr<ops::OpDef> def = Find(opType);
  if (def == nullptr || def->InferShape() == nullptr || ninputs < 0 || ninputs > 3) {
    return -1;
  }
  gert::InferShapeContext ctx;
  ctx.attrs.SetString(0, reduction);
  ctx.inputs.resize(static_cast<size_t>(ninputs));
  for (int k = 0; k < ninputs; ++k) {
    ctx.inputs[static_cast<size_t>(k)].SetDimNum(static_cast<size_t>(ranks[k]));
    for (int i = 0; i < ranks[k] && i < 10; ++i) {
      ctx.inputs[static_cast<size_t>(k)].SetDim(static_cast<size_t>(i), dims[k * 10 + i]);
    }
  }
  if (def->InferShape()(&ctx) != ge::GRAPH_SUCCESS) {
    return 0;
  }
  *outRank = static_cast<int32_t>(ctx.output.GetDimNum());
  for (size_t i = 0; i < ctx.output.GetDimNum() && i < 10; ++i) {
    outDims[i] = ctx.output.GetDim(i);
  }
  return 1;
}

//! Run the registered InferDataType on `ninputs` input dtypes (ge enum values).
LGSIM_API int lgsim_cann_infer_dtype(const char* opType, int ninputs, const int32_t* dtypes, int32_t* out)
{
  std::unique_ptr<ops::OpDef> def = Find(opType);
  if (def == nullptr || def->InferDataType() == nullptr || ninputs < 0 || ninputs > 3) {
    return -1;
  }
  gert::InferDataTypeContext ctx;
  for (int k = 0; k < ninputs; ++k) {
    ctx.inputs.push_back(static_cast<ge::DataType>(dtypes[k]));
  }
  if (def->InferDataType()(&ctx) != ge::GRAPH_SUCCESS) {
    return 0;
  }
  *out = static_cast<int32_t>(ctx.output);
  return 1;
}

//! ge::DataType values of the stand-in (the real values are CANN's business).
LGSIM_API int lgsim_cann_dtype(const char* name)
{
  const std::string n(name);
  if (n == "float16") return ge::DT_FLOAT16;
  if (n == "bfloat16") return ge::DT_BF16;
  if (n == "float32") return ge::DT_FLOAT;
  if (n == "float64") return ge::DT_DOUBLE;
  return ge::DT_INT32;
}
