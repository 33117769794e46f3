// ATC (CANN's model converter) parser plugin for the ai.lossgrad ONNX domain:
// maps every op of the package (lossgrad_defs.h), as the ONNX node
// ai.lossgrad::<op type> of opset kOnnxOpset with its string attribute
// `reduction` (default "mean"), 1:1 onto the CANN op of the same type. The ONNX
// input order equals the CANN one (docs/SPEC.md), so inputs map by position.
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

//! ATC puts the node's attribute list, as JSON, into the source operator's
//! attribute "attribute" (see lossgrad_onnx_attr.h); no such attribute: none set.
Status ParseLossGrad(const std::string& opType, const ge::Operator& src, ge::Operator& dst)
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

//! One registration per op; OriginOpType is "<domain>::<opset>::<op type>" (the
//! ONNX domain and opset version of the node). What REGISTER_CUSTOM_OP expands to
//! (a static OpReceiver of the OpRegistrationData), for each op in turn.
const bool kRegistered = [] {
  namespace la = lossgrad::ascend;
  for (const char* type : la::kOpTypes) {
    const std::string origin = std::string(la::kOnnxDomain) + "::" + std::to_string(la::kOnnxOpset) + "::" + type;
    const std::string opType(type);
    OpRegistrationData data(type);
    data.FrameworkType(ONNX)
        .OriginOpType({ge::AscendString(origin.c_str())})
        .ParseParamsByOperatorFn(
            [opType](const ge::Operator& src, ge::Operator& dst) { return ParseLossGrad(opType, src, dst); })
        .ImplyType(ImplyType::TVM);
    OpReceiver receiver(data);
  }
  return true;
}();

}  // namespace
}  // namespace domi
