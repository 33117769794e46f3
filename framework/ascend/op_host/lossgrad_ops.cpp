// Host side of the MseLossGrad and L1LossGrad ops (CANN op_host): the op
// definitions (OpDef), shape and dtype inference for graph mode, and the
// tiling function. All decisions are made by the CANN-free code in
// lossgrad_tiling_plan.h (shared with the CPU tests); this file only converts
// between CANN's context objects and that code.
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

  const gert::RuntimeAttrs* attrs = context->GetAttrs();
  const char* reduction = attrs == nullptr ? nullptr : attrs->GetAttrPointer<char>(0);

  la::Shape shapes[la::kNumInputs];
  int dtype = -1;
  for (int k = 0; k < la::kNumInputs; ++k) {
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
  // The reduction is checked first inside the plan; an unknown value fails here,
  // at tiling time, with the message of framework/definitions.py.
  const la::Plan plan = la::PlanLossGrad(op, dtype, reduction, shapes, pf);
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

ge::graphStatus TilingMseLossGrad(gert::TilingContext* context) { return LossGradTiling(context, la::kMseLossGrad); }
ge::graphStatus TilingL1LossGrad(gert::TilingContext* context) { return LossGradTiling(context, la::kL1LossGrad); }

//! Output shape: the NumPy broadcast of the three inputs (unknown dims allowed).
ge::graphStatus LossGradInferShape(gert::InferShapeContext* context, int op)
{
  gert::Shape* out = context->GetOutputShape(0);
  la::Shape shapes[la::kNumInputs];
  for (int k = 0; k < la::kNumInputs; ++k) {
    const gert::Shape* s = context->GetInputShape(k);
    if (s == nullptr || out == nullptr) {
      return ge::GRAPH_FAILED;
    }
    if (IsUnknownRank(*s)) {
      out->SetDimNum(1);
      out->SetDim(0, -2);
      return ge::GRAPH_SUCCESS;
    }
    shapes[k] = ToShape(*s);
    shapes[k].rank = static_cast<int>(s->GetDimNum());  // a rank above 8 is reported by BroadcastShapes
  }
  la::Shape result;
  std::string error;
  if (!la::BroadcastShapes(op, shapes, &result, &error)) {
    ReportError(error);
    return ge::GRAPH_FAILED;
  }
  out->SetDimNum(static_cast<size_t>(result.rank));
  for (int i = 0; i < result.rank; ++i) {
    out->SetDim(static_cast<size_t>(i), result.dims[i]);
  }
  return ge::GRAPH_SUCCESS;
}

ge::graphStatus InferShapeMseLossGrad(gert::InferShapeContext* c) { return LossGradInferShape(c, la::kMseLossGrad); }
ge::graphStatus InferShapeL1LossGrad(gert::InferShapeContext* c) { return LossGradInferShape(c, la::kL1LossGrad); }

//! Output dtype: the inputs' common dtype (the kernel takes one dtype for all three).
ge::graphStatus LossGradInferDataType(gert::InferDataTypeContext* context)
{
  const ge::DataType dt = context->GetInputDataType(0);
  for (int k = 1; k < la::kNumInputs; ++k) {
    if (context->GetInputDataType(k) != dt) {
      ReportError("lossgrad: the Ascend kernel needs one dtype for all inputs (cast to the promoted dtype first)");
      return ge::GRAPH_FAILED;
    }
  }
  context->SetOutputDataType(0, dt);
  return ge::GRAPH_SUCCESS;
}

}  // namespace

namespace ops {

//! The definition shared by both ops: three required inputs with the names and
//! order of lossgrad_defs.h, one output y, float16/bfloat16/float32 in ND, and
//! the string attribute reduction (default "mean").
template <class Def>
void DefineLossGradOp(Def& def, int op)
{
  for (int k = 0; k < la::kNumInputs; ++k) {
    def.Input(la::kInputNames[op][k])
        .ParamType(REQUIRED)
        .DataType({ge::DT_FLOAT16, ge::DT_BF16, ge::DT_FLOAT})
        .Format({ge::FORMAT_ND, ge::FORMAT_ND, ge::FORMAT_ND});
  }
  def.Output(la::kOutputName)
      .ParamType(REQUIRED)
      .DataType({ge::DT_FLOAT16, ge::DT_BF16, ge::DT_FLOAT})
      .Format({ge::FORMAT_ND, ge::FORMAT_ND, ge::FORMAT_ND});
  def.Attr(la::kAttrName).AttrType(OPTIONAL).String(la::kDefaultReduction);
  // DataCopyPad (GM <-> UB without mode) and the Select/Compares used here are
  // the A2/A3 forms: build for those AI processors.
  def.AICore().AddConfig("ascend910b");
  def.AICore().AddConfig("ascend910_93");
}

class MseLossGrad : public OpDef {
 public:
  explicit MseLossGrad(const char* name) : OpDef(name)
  {
    DefineLossGradOp(*this, la::kMseLossGrad);
    this->SetInferShape(InferShapeMseLossGrad).SetInferDataType(LossGradInferDataType);
    this->AICore().SetTiling(TilingMseLossGrad);
  }
};

class L1LossGrad : public OpDef {
 public:
  explicit L1LossGrad(const char* name) : OpDef(name)
  {
    DefineLossGradOp(*this, la::kL1LossGrad);
    this->SetInferShape(InferShapeL1LossGrad).SetInferDataType(LossGradInferDataType);
    this->AICore().SetTiling(TilingL1LossGrad);
  }
};

OP_ADD(MseLossGrad);
OP_ADD(L1LossGrad);

}  // namespace ops
