// The op table of the lossgrad Ascend op package: op types, input names and
// order, output, attribute and its default, reduction names, scale numerators,
// supported dtypes, error-message templates, vendor and ONNX names.
//
// Plain C++17 with no CANN dependency. It is the Ascend-side copy of
// framework/definitions.py: op_host (OpDef, InferShape, tiling), the ONNX parser
// plugin and the CPU simulation library all read their names from here, and the
// simulation library static_asserts every entry against the generated C++ view
// of framework/definitions.py (framework/csrc/lossgrad/generated_defs.h), while
// tests/test_ascend_defs.py checks the compiled values against the Python module.
// So the Python and NPU sides cannot drift apart silently.
#ifndef LOSSGRAD_ASCEND_DEFS_H_
#define LOSSGRAD_ASCEND_DEFS_H_

#include <cstdint>
#include <string>

namespace lossgrad {
namespace ascend {

//! Ops of the package, in the order of framework.definitions.OPS (native ids 0, 1).
enum OpId : int { kMseLossGrad = 0, kL1LossGrad = 1, kNumOps = 2 };

//! CANN op types (also the ONNX op types of the ai.lossgrad domain).
constexpr const char* kOpTypes[kNumOps] = {"MseLossGrad", "L1LossGrad"};
//! Kernel entry names: CANN derives them from the op type (snake case).
constexpr const char* kKernelNames[kNumOps] = {"mse_loss_grad", "l1_loss_grad"};

constexpr int kNumInputs = 3;
//! Input names in the CANN order of docs/SPEC.md (the incoming gradient of L1LossGrad comes first).
constexpr const char* kInputNames[kNumOps][kNumInputs] = {
    {"predict", "label", "dout"},
    {"grads", "predict", "label"},
};
constexpr const char* kOutputName = "y";

//! s = numerator / N for "mean", numerator for "none" and "sum".
constexpr double kScaleNumerator[kNumOps] = {2.0, 1.0};

constexpr const char* kAttrName = "reduction";
constexpr int kNumReductions = 3;
//! Reduction names; the position is the aclnn integer (0 none, 1 mean, 2 sum).
constexpr const char* kReductionNames[kNumReductions] = {"none", "mean", "sum"};
constexpr int kReductionMean = 1;
constexpr const char* kDefaultReduction = "mean";

//! dtypes of the Ascend kernel; the index equals the position in
//! framework.definitions.DTYPES (float64 is not supported on the NPU).
enum DType : int { kFloat16 = 0, kBFloat16 = 1, kFloat32 = 2, kNumDTypes = 3 };
constexpr const char* kDTypeNames[kNumDTypes] = {"float16", "bfloat16", "float32"};
constexpr uint64_t kDTypeSize[kNumDTypes] = {2, 2, 4};

constexpr int kMaxRank = 8;

//! Error-message templates ("{field}" placeholders, as str.format in Python).
//! The first four are framework.definitions.MESSAGES verbatim: the CPU stand-in static_asserts
//! them against the generated table (framework/csrc/lossgrad/generated_defs.h), tests check them.
constexpr const char* kMsgBadReduction =
    "{op}: reduction must be one of 'none', 'mean', 'sum' (or the aclnn integers 0, 1, 2); got {value}";
constexpr const char* kMsgBadRank = "{op}: {arg} has rank {rank}; at most 8 dimensions are supported";
constexpr const char* kMsgNotBroadcastable = "{op}: shapes are not broadcastable: {shapes}";
constexpr const char* kMsgUnknownOp = "lossgrad: unknown op id {id}";
//! An ONNX node whose reduction attribute has another type; {kind} is e.g.
//! "an INT", "a FLOATS" (same wording as the onnx_ops checks).
constexpr const char* kMsgBadReductionType =
    "{op}: the reduction attribute must be a STRING (one of 'none', 'mean', 'sum'); got {kind} attribute";
//! Ascend-only message (the NPU kernel has no float64).
constexpr const char* kMsgBadAscendDtype =
    "{op}: {arg} has dtype {dtype}; the Ascend kernel supports float16, bfloat16, float32";
//! Ascend-only messages of the tiling plan (a launch needs known shapes, 2^62 elements at most
//! and a unified buffer that holds one tile).
constexpr const char* kMsgTilingUnknownShape = "{op}: tiling needs known shapes; got {shape}";
constexpr const char* kMsgTilingTooManyElements = "{op}: {shape} has more than 2^62 elements";
constexpr const char* kMsgTilingUbTooSmall = "{op}: unified buffer of {bytes} bytes is too small for one tile";

//! Vendor name of the op package: it installs into <opp>/vendors/lossgrad.
constexpr const char* kVendorName = "lossgrad";
//! ONNX custom domain and opset of the nodes the ATC parser plugin maps.
constexpr const char* kOnnxDomain = "ai.lossgrad";
constexpr int kOnnxOpset = 1;

//! Python's repr() of a str (quotes and escapes), for messages that must read
//! exactly like framework/definitions.py's.
inline std::string PyStrRepr(const std::string& s)
{
  const bool dq = s.find('\'') != std::string::npos && s.find('"') == std::string::npos;
  const char quote = dq ? '"' : '\'';
  std::string out(1, quote);
  static const char* hex = "0123456789abcdef";
  for (unsigned char c : s) {
    if (c == '\\' || c == static_cast<unsigned char>(quote)) {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);  // printable ASCII; UTF-8 bytes pass through as Python prints them
    }
  }
  return out + quote;
}

//! kMsgBadReduction filled in for op type `op` and the offending value.
inline std::string BadReductionMessage(const char* op, const std::string& value)
{
  std::string msg = kMsgBadReduction;
  const std::string fields[2][2] = {{"{op}", op}, {"{value}", PyStrRepr(value)}};
  for (const auto& f : fields) {
    const size_t at = msg.find(f[0]);
    if (at != std::string::npos) {
      msg.replace(at, f[0].size(), f[1]);
    }
  }
  return msg;
}

//! kMsgBadReductionType filled in; `typeName` is the AttributeProto type name ("INT").
inline std::string BadReductionTypeMessage(const char* op, const std::string& typeName)
{
  const bool vowel = !typeName.empty() && std::string("AEIOU").find(typeName[0]) != std::string::npos;
  std::string msg = kMsgBadReductionType;
  const std::string fields[2][2] = {{"{op}", op}, {"{kind}", (vowel ? "an " : "a ") + typeName}};
  for (const auto& f : fields) {
    const size_t at = msg.find(f[0]);
    if (at != std::string::npos) {
      msg.replace(at, f[0].size(), f[1]);
    }
  }
  return msg;
}

}  // namespace ascend
}  // namespace lossgrad

#endif  // LOSSGRAD_ASCEND_DEFS_H_
