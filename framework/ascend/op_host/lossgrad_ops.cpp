// Host side of the lossgrad ops (CANN op_host): the op definitions (OpDef),
// shape and dtype inference for graph mode, and the tiling function, for every
// op of the generated table lossgrad_ops_table.h (LOSSGRAD_ASCEND_FOR_EACH_OP).
// All decisions are made by the CANN-free code in lossgrad_tiling_plan.h (shared
// with the CPU tests); this file only converts between CANN's context objects
// and that code.
#include <cstdio>
#include <string>

#include "register/op_def_registry.h"
#include "tiling/platform/platform_ascendc.h"

#include "lossgrad_defs.h"
#include "lossgrad_tiling.h"
#include "lossgrad_tiling_plan.h"

namespace {

namespace la = lossgrad::ascend;

int DTypeIndex(ge::DataType dt)
{
  switch (dt) {
    case ge::DT_FLOAT16: return la::kFloat16;
    case ge::DT_BF16: return la::kBFloat16;
    case ge::DT_FLOAT: return la::kFloat32;
    default: return -1;
  }
}

la::Shape ToShape(const gert::Shape& s)
{
  la::Shape out;
  out.rank = static_cast<int>(s.GetDimNum());
  for (int i = 0; i < out.rank && i < la::kMaxRank; ++i) {
    out.dims[i] = s.GetDim(static_cast<size_t>(i));
  }
  return out;
}

bool IsUnknownRank(const gert::Shape& s) { return s.GetDimNum() == 1 && s.GetDim(0) == -2; }

void ReportError(const std::string& msg) { std::fprintf(stderr, "[lossgrad] %s\n", msg.c_str()); }

//! Tiling of op `op`: validate, plan (lossgrad_tiling_plan.h), write the tiling data.
ge::graphStatus LossGradTiling(gert::TilingContext* context, int op)
{
  auto platform = platform_ascendc::PlatformAscendC(context->GetPlatformInfo());
  la::Platform pf;
  pf.coreNum = platform.GetCoreNumAiv();
  uint64_t ubBytes = 0;
  platform.GetCoreMemSize(platform_ascendc::CoreMemType::UB, ubBytes);
  pf.ubBytes = ubBytes;

  // The declared attributes, by declared index (reduction first); an unset one takes its default.
  const gert::RuntimeAttrs* attrs = context->GetAttrs();
  const char* reduction = attrs == nullptr ? nullptr : attrs->GetAttrPointer<char>(0);
  la::AttrValues values;
  for (int a = 1; attrs != nullptr && a < la::kOpNumAttrs[op]; ++a) {
    const size_t index = static_cast<size_t>(a);
    if (la::kOpAttrKinds[op][a] == la::kAttrFloat) {
      const float* v = attrs->GetAttrPointer<float>(index);
      values.given[a] = v != nullptr;
      values.number[a] = v == nullptr ? 0.0 : static_cast<double>(*v);
    } else if (la::kOpAttrKinds[op][a] == la::kAttrInt) {
      const int64_t* v = attrs->GetAttrPointer<int64_t>(index);
      values.given[a] = v != nullptr;
      values.number[a] = v == nullptr ? 0.0 : static_cast<double>(*v);
    } else if (la::kOpAttrKinds[op][a] == la::kAttrBool) {
      const bool* v = attrs->GetAttrPointer<bool>(index);
      values.given[a] = v != nullptr;
      values.number[a] = v != nullptr && *v ? 1.0 : 0.0;
    }
  }

  la::Shape shapes[la::kNumInputs];
  int dtype = -1;
  for (int k = 0; k < la::kOpNumInputs[op]; ++k) {
    const gert::StorageShape* s = context->GetInputShape(k);
    const gert::CompileTimeTensorDesc* desc = context->GetInputDesc(k);
    if (s == nullptr || desc == nullptr) {
      ReportError(std::string(la::kOpTypes[op]) + ": missing input " + la::kInputNames[op][k]);
      return ge::GRAPH_FAILED;
    }
    shapes[k] = ToShape(s->GetStorageShape());
    const int dk = DTypeIndex(desc->GetDataType());
    if (k == 0) {
      dtype = dk;
    } else if (dk != dtype) {
      ReportError(std::string(la::kOpTypes[op]) + ": the Ascend kernel needs one dtype for all inputs");
      return ge::GRAPH_FAILED;
    }
  }
  // The reduction and the declared attributes are checked first inside the plan; an unknown
  // or out-of-range value fails here, at tiling time, with the message of framework/rules.py.
  const la::Plan plan = la::PlanLossGrad(op, dtype, reduction, shapes, pf, &values);
  if (!plan.ok) {
    ReportError(plan.message);
    return ge::GRAPH_FAILED;
  }

  optiling::LossGradTilingData tiling;
  optiling::CopyToTilingData(plan.tiling, tiling);
  tiling.SaveToBuffer(context->GetRawTilingData()->GetData(), context->GetRawTilingData()->GetCapacity());
  context->GetRawTilingData()->SetDataSize(tiling.GetDataSize());
  context->SetBlockDim(static_cast<uint32_t>(plan.blockDim));
  size_t* workspace = context->GetWorkspaceSizes(1);
  workspace[0] = static_cast<size_t>(platform.GetLibApiWorkSpaceSize() + plan.userWorkspaceBytes);
  return ge::GRAPH_SUCCESS;
}

//! Output shape: the NumPy broadcast of the inputs (unknown dims and ranks allowed), or, for a
//! loss op's "mean"/"sum", one element of rank 0 (la::OutputShape; an unknown reduction is left
//! to the tiling's message).
ge::graphStatus LossGradInferShape(gert::InferShapeContext* context, int op)
{
  gert::Shape* out = context->GetOutputShape(0);
  if (out == nullptr) {
    return ge::GRAPH_FAILED;
  }
  la::Shape shapes[la::kNumInputs];
  bool unknownRank = false;
  for (int k = 0; k < la::kOpNumInputs[op]; ++k) {
    const gert::Shape* s = context->GetInputShape(k);
    if (s == nullptr) {
      return ge::GRAPH_FAILED;
    }
    unknownRank = unknownRank || IsUnknownRank(*s);
    shapes[k] = ToShape(*s);
    shapes[k].rank = static_cast<int>(s->GetDimNum());  // a rank above 8 is reported by BroadcastShapes
  }
  la::Shape result;
  std::string error;
  if (unknownRank) {
    result.rank = 1;
    result.dims[0] = -2;  // unknown rank stays unknown
  } else if (!la::BroadcastShapes(op, shapes, &result, &error)) {
    ReportError(error);
    return ge::GRAPH_FAILED;
  }
  const gert::RuntimeAttrs* attrs = context->GetAttrs();
  result = la::OutputShape(op, la::ReductionIndex(attrs == nullptr ? nullptr : attrs->GetAttrPointer<char>(0)), result);
  out->SetDimNum(static_cast<size_t>(result.rank));
  for (int i = 0; i < result.rank; ++i) {
    out->SetDim(static_cast<size_t>(i), result.dims[i]);
  }
  return ge::GRAPH_SUCCESS;
}

//! Output dtype: the inputs' common dtype (the kernel takes one dtype for all inputs).
ge::graphStatus LossGradInferDataType(gert::InferDataTypeContext* context, int op)
{
  const ge::DataType dt = context->GetInputDataType(0);
  for (int k = 1; k < la::kOpNumInputs[op]; ++k) {
    if (context->GetInputDataType(k) != dt) {
      ReportError("lossgrad: the Ascend kernel needs one dtype for all inputs (cast to the promoted dtype first)");
      return ge::GRAPH_FAILED;
    }
  }
  context->SetOutputDataType(0, dt);
  return ge::GRAPH_SUCCESS;
}

//! Tiling##Op, InferShape##Op and InferDataType##Op: the op's id bound to the shared functions.
#define LOSSGRAD_OP_FUNCTIONS(Op, id, kernel)                                                                     \
  ge::graphStatus Tiling##Op(gert::TilingContext* context) { return LossGradTiling(context, id); }              \
  ge::graphStatus InferShape##Op(gert::InferShapeContext* context) { return LossGradInferShape(context, id); } \
  ge::graphStatus InferDataType##Op(gert::InferDataTypeContext* context) { return LossGradInferDataType(context, id); }
LOSSGRAD_ASCEND_FOR_EACH_OP(LOSSGRAD_OP_FUNCTIONS)
#undef LOSSGRAD_OP_FUNCTIONS

}  // namespace

namespace ops {

//! The definition shared by every op: its required inputs (three for a grad op, two for a
//! loss op) with the names and order of the table, one output y, float16/bfloat16/float32 in
//! ND, and every declared attribute, optional, with its type and default.
template <class Def>
void DefineLossGradOp(Def& def, int op)
{
  for (int k = 0; k < la::kOpNumInputs[op]; ++k) {
    def.Input(la::kInputNames[op][k])
        .ParamType(REQUIRED)
        .DataType({ge::DT_FLOAT16, ge::DT_BF16, ge::DT_FLOAT})
        .Format({ge::FORMAT_ND, ge::FORMAT_ND, ge::FORMAT_ND});
  }
  def.Output(la::kOutputName)
      .ParamType(REQUIRED)
      .DataType({ge::DT_FLOAT16, ge::DT_BF16, ge::DT_FLOAT})
      .Format({ge::FORMAT_ND, ge::FORMAT_ND, ge::FORMAT_ND});
  for (int a = 0; a < la::kOpNumAttrs[op]; ++a) {
    const double number = la::kOpAttrDefaultNumber[op][a];
    switch (la::kOpAttrKinds[op][a]) {
      case la::kAttrString:
        def.Attr(la::kOpAttrNames[op][a]).AttrType(OPTIONAL).String(la::kOpAttrDefaultText[op][a]);
        break;
      case la::kAttrFloat:
        def.Attr(la::kOpAttrNames[op][a]).AttrType(OPTIONAL).Float(static_cast<float>(number));
        break;
      case la::kAttrInt:
        def.Attr(la::kOpAttrNames[op][a]).AttrType(OPTIONAL).Int(static_cast<int64_t>(number));
        break;
      case la::kAttrBool:
        def.Attr(la::kOpAttrNames[op][a]).AttrType(OPTIONAL).Bool(number != 0.0);
        break;
    }
  }
  // DataCopyPad (GM <-> UB without mode) and the Select/Compares used here are
  // the A2/A3 forms: build for those AI processors.
  def.AICore().AddConfig("ascend910b");
  def.AICore().AddConfig("ascend910_93");
}

//! class Op : OpDef for every op of the table, registered with OP_ADD.
#define LOSSGRAD_OP_CLASS(Op, id, kernel)                                      \
  class Op : public OpDef {                                                   \
   public:                                                                    \
    explicit Op(const char* name) : OpDef(name)                               \
    {                                                                         \
      DefineLossGradOp(*this, id);                                            \
      this->SetInferShape(InferShape##Op).SetInferDataType(InferDataType##Op);  \
      this->AICore().SetTiling(Tiling##Op);                                   \
    }                                                                         \
  };                                                                          \
  OP_ADD(Op);
LOSSGRAD_ASCEND_FOR_EACH_OP(LOSSGRAD_OP_CLASS)
#undef LOSSGRAD_OP_CLASS

}  // namespace ops
