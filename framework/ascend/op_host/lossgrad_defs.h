// The definitions of the lossgrad Ascend op package: the generated op table
// (lossgrad_ops_table.h: op types, input names and order, declared attributes,
// scale numerators, reductions, dtypes, message templates), the output and vendor
// names, and the helpers that fill in the messages.
//
// Plain C++17 with no CANN dependency. It is the Ascend-side view of
// framework/definitions.py: op_host (OpDef, InferShape, tiling), the ONNX parser
// plugin and the CPU simulation library all read their names from here, and the
// simulation library static_asserts every entry against the generated C++ view
// of framework/definitions.py (framework/csrc/lossgrad/generated_defs.h), while
// tests/test_ascend_defs.py checks the compiled values against the Python module.
// So the Python and NPU sides cannot drift apart silently.
#ifndef LOSSGRAD_ASCEND_DEFS_H_
#define LOSSGRAD_ASCEND_DEFS_H_

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "lossgrad_ops_table.h"

namespace lossgrad {
namespace ascend {

// The ops themselves (kNumOps, kOpTypes, kKernelNames, kInputNames, kScaleNumerator, the
// declared attributes, LOSSGRAD_ASCEND_FOR_EACH_OP) are in the generated lossgrad_ops_table.h.
//! The OpDef's output name of every op (CANN's DTYPE_Y in the kernels); ONNX maps outputs by
//! position, so a loss op's ONNX output "loss" is this output too.
constexpr const char* kOutputName = "y";

// The reduction names, the rank bound, the NPU dtypes, the ONNX domain and every message template
// (framework/rules.py MESSAGES) are generated into lossgrad_ops_table.h too.

//! Vendor name of the op package: it installs into <opp>/vendors/lossgrad.
constexpr const char* kVendorName = "lossgrad";

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

//! Python's repr() of a float value: the fewest %g digits that read back exactly, ".0" added
//! to an integral mantissa ("1.0", "-0.5", "1e-05", "nan", "inf").
inline std::string PyFloatRepr(double v)
{
  if (std::isnan(v)) {
    return "nan";
  }
  if (std::isinf(v)) {
    return v < 0 ? "-inf" : "inf";
  }
  char buf[40];
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*g", digits, v);
    if (std::strtod(buf, nullptr) == v) {
      break;
    }
  }
  std::string text(buf);
  if (text.find_first_of(".en") == std::string::npos) {
    text += ".0";
  }
  return text;
}

//! Replace every "{key}" of `msg` by its value.
inline std::string FillFields(std::string msg, const std::string (*fields)[2], int count)
{
  for (int i = 0; i < count; ++i) {
    const std::string key = fields[i][0];
    for (size_t at = msg.find(key); at != std::string::npos; at = msg.find(key, at + fields[i][1].size())) {
      msg.replace(at, key.size(), fields[i][1]);
    }
  }
  return msg;
}

//! kMsgBadAttributeValue for declared attribute `attr` of op `op` (a float attribute that is
//! NaN or below its minimum); the requirement is the declared one (kOpAttrRequirement).
inline std::string BadAttributeValueMessage(int op, int attr, double value)
{
  const char* req = kOpAttrRequirement[op][attr];
  const std::string fields[4][2] = {{"{op}", kOpTypes[op]},
                                    {"{attr}", kOpAttrNames[op][attr]},
                                    {"{requirement}", req == nullptr ? "a number (not NaN)" : req},
                                    {"{value}", PyFloatRepr(value)}};
  return FillFields(kMsgBadAttributeValue, fields, 4);
}

//! kMsgBadAttributeType for declared attribute `attr` of op `op`: `expected` and `typeName`
//! are ONNX type names ("a FLOAT", "STRING").
inline std::string BadAttributeTypeMessage(int op, int attr, const std::string& expected, const std::string& typeName)
{
  const bool vowel = !typeName.empty() && std::string("AEIOU").find(typeName[0]) != std::string::npos;
  const std::string fields[4][2] = {{"{op}", kOpTypes[op]},
                                    {"{attr}", kOpAttrNames[op][attr]},
                                    {"{expected}", expected},
                                    {"{kind}", (vowel ? "an " : "a ") + typeName}};
  return FillFields(kMsgBadAttributeType, fields, 4);
}

//! True when `value` is acceptable for float attribute `attr` of op `op` (not NaN, >= minimum).
inline bool FloatAttributeOk(int op, int attr, double value) { return value >= kOpAttrMinimum[op][attr]; }

}  // namespace ascend
}  // namespace lossgrad

#endif  // LOSSGRAD_ASCEND_DEFS_H_
