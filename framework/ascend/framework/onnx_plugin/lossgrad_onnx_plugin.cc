// ATC (CANN's model converter) parser plugin for the ai.lossgrad ONNX domain:
// maps ai.lossgrad::MseLossGrad and ai.lossgrad::L1LossGrad nodes (opset 1),
// with their string attribute `reduction` (default "mean"), 1:1 onto the
// MseLossGrad / L1LossGrad ops of this package. The ONNX input order equals
// the CANN one (docs/SPEC.md), so inputs map by position.
//
// Build: framework/ascend/build.sh (compiled into the package's ONNX plugin
// library, installed under vendors/lossgrad/framework/onnx/). Use:
//   atc --framework=5 --model=model.onnx --soc_version=Ascend910B3 --output=model
#include <cstdio>
#include <string>

#include "graph/operator.h"
#include "register/register.h"

#include "lossgrad_onnx_attr.h"

namespace domi {
namespace {

Status ParseLossGrad(const char* opType, const ge::Operator& src, ge::Operator& dst)
{
  std::string json;
  ge::AscendString attrs;
  if (src.GetAttr("attribute", attrs) == ge::GRAPH_SUCCESS && attrs.GetString() != nullptr) {
    json = attrs.GetString();
  }
  std::string reduction;
  std::string error;
  if (lossgrad::onnx_attr::ParseReduction(opType, json, &reduction, &error) == lossgrad::onnx_attr::kError) {
    std::fprintf(stderr, "[lossgrad onnx plugin] %s\n", error.c_str());
    return FAILED;
  }
  dst.SetAttr(lossgrad::ascend::kAttrName, ge::AscendString(reduction.c_str()));
  return SUCCESS;
}

Status ParseMseLossGrad(const ge::Operator& src, ge::Operator& dst)
{
  return ParseLossGrad(lossgrad::ascend::kOpTypes[lossgrad::ascend::kMseLossGrad], src, dst);
}

Status ParseL1LossGrad(const ge::Operator& src, ge::Operator& dst)
{
  return ParseLossGrad(lossgrad::ascend::kOpTypes[lossgrad::ascend::kL1LossGrad], src, dst);
}

}  // namespace

// OriginOpType is "<domain>::<opset>::<op type>" (ONNX's domain and opset of the node).
REGISTER_CUSTOM_OP("MseLossGrad")
    .FrameworkType(ONNX)
    .OriginOpType({ge::AscendString("ai.lossgrad::1::MseLossGrad")})
    .ParseParamsByOperatorFn(ParseMseLossGrad)
    .ImplyType(ImplyType::TVM);

REGISTER_CUSTOM_OP("L1LossGrad")
    .FrameworkType(ONNX)
    .OriginOpType({ge::AscendString("ai.lossgrad::1::L1LossGrad")})
    .ParseParamsByOperatorFn(ParseL1LossGrad)
    .ImplyType(ImplyType::TVM);

}  // namespace domi
