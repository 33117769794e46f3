// ATC (CANN's model converter) parser plugin for the ai.lossgrad ONNX domain:
// maps every op of the package (the generated lossgrad_ops_table.h), as the ONNX
// node ai.lossgrad::<op type> of opset kOnnxOpset with its declared attributes
// (the string `reduction`, default "mean", and any others with their declared
// types and defaults), 1:1 onto the CANN op of the same type. The ONNX input
// order equals the CANN one (docs/SPEC.md), so inputs map by position. Float
// attributes arrive through ATC's "%g" text: 6 significant digits (see
// lossgrad_onnx_attr.h).
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
//! The reduction is always set (its default when absent); another declared
//! attribute is set when the node has it (CANN applies the OpDef default otherwise).
Status ParseLossGrad(int op, const ge::Operator& src, ge::Operator& dst)
{
  namespace la = lossgrad::ascend;
  namespace oa = lossgrad::onnx_attr;
  std::string json;
  ge::AscendString attrs;
  if (src.GetAttr("attribute", attrs) == ge::GRAPH_SUCCESS && attrs.GetString() != nullptr) {
    json = attrs.GetString();
  }
  std::string reduction;
  std::string error;
  bool given[la::kMaxAttrs];
  double numbers[la::kMaxAttrs];
  if (oa::ParseReduction(la::kOpTypes[op], json, &reduction, &error) == oa::kError ||
      oa::ParseDeclaredAttributes(op, json, given, numbers, &error) == oa::kError) {
    std::fprintf(stderr, "[lossgrad onnx plugin] %s\n", error.c_str());
    return FAILED;
  }
  dst.SetAttr(la::kAttrName, ge::AscendString(reduction.c_str()));
  for (int a = 1; a < la::kOpNumAttrs[op]; ++a) {
    if (!given[a]) {
      continue;
    }
    const char* name = la::kOpAttrNames[op][a];
    switch (la::kOpAttrKinds[op][a]) {
      case la::kAttrFloat: dst.SetAttr(name, static_cast<float>(numbers[a])); break;
      case la::kAttrInt: dst.SetAttr(name, static_cast<int64_t>(numbers[a])); break;
      case la::kAttrBool: dst.SetAttr(name, numbers[a] != 0.0); break;
      case la::kAttrString: break;  // only the reduction (set above)
    }
  }
  return SUCCESS;
}

//! One registration per op; OriginOpType is "<domain>::<opset>::<op type>" (the
//! ONNX domain and opset version of the node). What REGISTER_CUSTOM_OP expands to
//! (a static OpReceiver of the OpRegistrationData), for each op in turn.
const bool kRegistered = [] {
  namespace la = lossgrad::ascend;
  for (int op = 0; op < la::kNumOps; ++op) {
    const char* type = la::kOpTypes[op];
    const std::string origin = std::string(la::kOnnxDomain) + "::" + std::to_string(la::kOnnxOpset) + "::" + type;
    OpRegistrationData data(type);
    data.FrameworkType(ONNX)
        .OriginOpType({ge::AscendString(origin.c_str())})
        .ParseParamsByOperatorFn([op](const ge::Operator& src, ge::Operator& dst) { return ParseLossGrad(op, src, dst); })
        .ImplyType(ImplyType::TVM);
    OpReceiver receiver(data);
  }
  return true;
}();

}  // namespace
}  // namespace domi
