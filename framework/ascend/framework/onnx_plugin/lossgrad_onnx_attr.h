// The attributes of an ONNX node as CANN's ONNX parser hands them to a parser
// plugin, in plain C++17 (no CANN, no third-party JSON library), so the ATC
// plugin and the CPU tests share it.
//
// What ATC hands over (hicann/ge, parser/parser/onnx/onnx_parser.cc,
// OnnxModelParser::ParseOpParam): for an op registered with
// ParseParamsByOperatorFn, the NodeProto is turned into the source ge::Operator
// by Message2Operator::ParseOperatorAttrs (parser/common/convert/message2operator.cc).
// Scalar NodeProto fields become operator attributes of their own, but the
// repeated message field `attribute` becomes ONE string attribute "attribute":
// the JSON {"attribute": [...]} that Pb2Json::RepeatedMessage2Json writes
// (parser/common/convert/pb2json.cc, enums as numbers). There is no per-attribute
// getter on that route (AutoMappingByOpFn only copies that string; the protobuf
// route, ParseParamsFn, needs CANN's protobuf build of ge_onnx.proto), so the JSON
// is read here. Pb2Json writes, per AttributeProto (proto3: a field equal to its
// default is left out):
//   "name": the name; "type": the AttributeType number;
//   "i": a JSON number (int64); "f": the float printed with "%g", as a JSON string
//   ("0.01"; a JSON number if that does not fit in 9 characters). "%g" keeps 6
//   significant digits: a float attribute reaches the op rounded to 6 digits
//   (beta = 0.1234567 arrives as 0.123457; 1e-7 stays 1e-07). Export values that
//   need more precision with 6 digits or fewer, or use the protobuf route;
//   "s": the bytes C-escaped (protobuf's CEscape: \n \r \t \" \' \\ and \ooo).
// protobuf's canonical JSON mapping (its json_format, also a test input) is read
// as well: "type" as a name ("STRING"), "i" as a string, "f" as a number (or
// "NaN"/"Infinity"), "s" as base64 (the dialect is told by "type": a name there means
// json_format).
//
// ONNX has no BOOL attribute: bools are INT attributes 0 / 1.
#ifndef LOSSGRAD_ONNX_ATTR_H_
#define LOSSGRAD_ONNX_ATTR_H_

#include <algorithm>
#include <cstdint>
#include <cctype>
#include <functional>
#include <cstring>
#include <limits>
#include <locale>
#include <sstream>
#include <string>
#include <vector>

#include "../../op_host/lossgrad_defs.h"

namespace lossgrad {
namespace onnx_attr {

//! ONNX AttributeProto.AttributeType (onnx.proto and ge_onnx.proto number them alike).
enum AttrType : int { kUndefined = 0, kFloat = 1, kInt = 2, kString = 3, kNumAttrTypes = 15 };
constexpr const char* kAttrTypeNames[kNumAttrTypes] = {
    "UNDEFINED", "FLOAT", "INT", "STRING", "TENSOR", "GRAPH", "FLOATS", "INTS", "STRINGS", "TENSORS", "GRAPHS",
    "SPARSE_TENSOR", "SPARSE_TENSORS", "TYPE_PROTO", "TYPE_PROTOS"};

inline const char* AttrTypeName(int type)
{
  return type >= 0 && type < kNumAttrTypes ? kAttrTypeNames[type] : "UNDEFINED";
}

//! The value of the hex digits s[at, at + n), or -1.
inline long HexValue(const std::string& s, size_t at, size_t n)
{
  long v = 0;
  for (size_t k = at; k < at + n; ++k) {
    if (k >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[k]))) {
      return -1;
    }
    v = v * 16 + (std::isdigit(static_cast<unsigned char>(s[k])) ? s[k] - '0' : (s[k] | 0x20) - 'a' + 10);
  }
  return v;
}

//! One attribute: its type and the JSON text of its scalar value, if any ("i", "f"
//! or "s", already JSON-unescaped; `isString` tells a JSON string from a number).
struct Attr {
  std::string name;
  int type = kUndefined;
  bool hasValue = false;
  bool isString = false;
  bool typeNamed = false;  //!< "type" was a name ("STRING"): protobuf's json_format, bytes in base64
  std::string value;
};

//! Reads ATC's attribute JSON into `*attrs` ("" is a node without attributes);
//! false with `*error` set on malformed input.
class AttrReader {
 public:
  static bool Read(const std::string& json, std::vector<Attr>* attrs, std::string* error)
  {
    attrs->clear();
    if (json.empty()) {
      return true;
    }
    AttrReader r(json);
    const bool ok = r.Object([&](const std::string& key) {
      return key == "attribute" ? r.Array([&] { return r.ReadAttr(attrs); }) : r.Skip(0);
    });
    r.Space();
    if (!ok || r.pos_ != json.size()) {
      *error = "the ONNX attributes are not valid JSON, or not an object whose \"attribute\" is a list";
      return false;
    }
    return true;
  }

 private:
  explicit AttrReader(const std::string& s) : s_(s) {}

  void Space()
  {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\r' || s_[pos_] == '\t')) {
      ++pos_;
    }
  }
  bool Eat(char c)
  {
    Space();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  //! {"key": value, ...}; `member(key)` reads the value.
  bool Object(const std::function<bool(const std::string&)>& member)
  {
    if (!Eat('{')) {
      return false;
    }
    if (Eat('}')) {
      return true;
    }
    do {
      std::string key;
      if (!String(&key) || !Eat(':') || !member(key)) {
        return false;
      }
    } while (Eat(','));
    return Eat('}');
  }
  bool Array(const std::function<bool()>& item)
  {
    if (!Eat('[')) {
      return false;
    }
    if (Eat(']')) {
      return true;
    }
    do {
      if (!item()) {
        return false;
      }
    } while (Eat(','));
    return Eat(']');
  }
  //! A JSON string; \uXXXX becomes UTF-8 (surrogate pairs are not combined).
  bool String(std::string* out)
  {
    if (!Eat('"')) {
      return false;
    }
    while (pos_ < s_.size()) {
      const char c = s_[pos_++];
      if (c == '"') {
        return true;
      }
      if (c != '\\') {
        out->push_back(c);
        continue;
      }
      const char e = pos_ < s_.size() ? s_[pos_++] : '\0';
      const char* from = "\"\\/bfnrt";
      const char* to = "\"\\/\b\f\n\r\t";
      const char* at = e == '\0' ? nullptr : std::strchr(from, e);
      if (at != nullptr) {
        out->push_back(to[at - from]);
      } else if (e == 'u' && HexValue(s_, pos_, 4) >= 0) {
        const long code = HexValue(s_, pos_, 4);
        pos_ += 4;
        if (code < 0x80) {
          out->push_back(static_cast<char>(code));
        } else {
          out->push_back(static_cast<char>((code < 0x800 ? 0xC0 : 0xE0) | (code >> (code < 0x800 ? 6 : 12))));
          if (code >= 0x800) {
            out->push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
          }
          out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
        }
      } else {
        return false;
      }
    }
    return false;
  }
  //! A string, or a number / true / false / null as its spelling.
  bool Scalar(std::string* text, bool* isString)
  {
    Space();
    *isString = pos_ < s_.size() && s_[pos_] == '"';
    if (*isString) {
      return String(text);
    }
    const size_t end = s_.find_first_not_of("+-0123456789.eEtruefalsn", pos_);
    *text = s_.substr(pos_, (end == std::string::npos ? s_.size() : end) - pos_);
    pos_ += text->size();
    const bool number = !text->empty() && ((*text)[0] == '-' || std::isdigit(static_cast<unsigned char>((*text)[0])));
    return number ? text->find_first_of("trufals") == std::string::npos
                  : *text == "true" || *text == "false" || *text == "null";
  }
  //! Any JSON value, discarded (tensors, graphs, lists).
  bool Skip(int depth)
  {
    Space();
    if (depth > 64 || pos_ >= s_.size()) {
      return false;
    }
    if (s_[pos_] == '{') {
      return Object([&](const std::string&) { return Skip(depth + 1); });
    }
    if (s_[pos_] == '[') {
      return Array([&] { return Skip(depth + 1); });
    }
    std::string text;
    bool isString = false;
    return Scalar(&text, &isString);
  }
  bool ReadAttr(std::vector<Attr>* attrs)
  {
    Attr a;
    std::string typeText;
    bool typeIsString = false;
    bool hasType = false;
    int valueType = kUndefined;
    const bool ok = Object([&](const std::string& key) {
      if (key == "name") {
        return String(&a.name);
      }
      if (key == "type") {
        hasType = true;
        return Scalar(&typeText, &typeIsString);
      }
      const char* keys[] = {"f", "i", "s"};
      for (int k = 0; k < 3; ++k) {
        if (key == keys[k]) {
          a.hasValue = true;
          valueType = kFloat + k;
          return Scalar(&a.value, &a.isString);
        }
      }
      return Skip(1);
    });
    // A type left out is UNDEFINED (proto3); ONNX files of IR version 1 had none and
    // were read by the value field that is present.
    a.type = hasType ? kUndefined : valueType;
    a.typeNamed = hasType && typeIsString;
    for (int t = 0; hasType && t < kNumAttrTypes; ++t) {
      if (typeText == (typeIsString ? kAttrTypeNames[t] : std::to_string(t))) {
        a.type = t;
      }
    }
    attrs->push_back(a);
    return ok;
  }

  const std::string& s_;
  size_t pos_ = 0;
};

inline const Attr* Find(const std::vector<Attr>& attrs, const std::string& name)
{
  for (const Attr& a : attrs) {
    if (a.name == name) {
      return &a;
    }
  }
  return nullptr;
}

//! Reverses protobuf's CEscape; false on a malformed escape.
inline bool CUnescape(const std::string& in, std::string* out)
{
  for (size_t k = 0; k < in.size(); ++k) {
    if (in[k] != '\\') {
      out->push_back(in[k]);
      continue;
    }
    if (++k == in.size()) {
      return false;
    }
    const char* from = "nrtabfv\\'\"?";
    const char* to = "\n\r\t\a\b\f\v\\'\"?";
    const char* at = std::strchr(from, in[k]);
    if (at != nullptr && in[k] != '\0') {
      out->push_back(to[at - from]);
    } else if (in[k] >= '0' && in[k] <= '7') {
      int digits = 0;
      unsigned code = 0;
      for (; digits < 3 && k < in.size() && in[k] >= '0' && in[k] <= '7'; ++digits, ++k) {
        code = code * 8 + static_cast<unsigned>(in[k] - '0');
      }
      out->push_back(static_cast<char>(code & 0xFF));
      --k;
    } else if (in[k] == 'x' && HexValue(in, k + 1, 2) >= 0) {
      out->push_back(static_cast<char>(HexValue(in, k + 1, 2)));
      k += 2;
    } else {
      return false;
    }
  }
  return true;
}

//! Standard base64 (whole 4-character groups, '=' padding): the bytes.
inline bool Base64Decode(const std::string& in, std::string* out)
{
  static const std::string digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  out->clear();
  const size_t pad = in.size() - std::min(in.size(), in.find_last_not_of('=') + 1);
  if (in.size() % 4 != 0 || pad > 2) {
    return false;
  }
  uint32_t acc = 0;
  int bits = 0;
  for (size_t k = 0; k + pad < in.size(); ++k) {
    const size_t v = digits.find(in[k]);
    if (v == std::string::npos) {
      return false;
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return true;
}

//! The typed reads. Each returns false when the attribute has another type or an
//! unreadable value; `*typeName` then names the type it has (for messages).
inline bool GetString(const Attr& a, std::string* out, std::string* typeName)
{
  *typeName = AttrTypeName(a.type);
  out->clear();
  if (a.type != kString || (a.hasValue && !a.isString)) {
    return false;
  }
  // json_format (the type spelled as a name) writes bytes as base64, Pb2Json C-escapes them
  return a.typeNamed ? Base64Decode(a.value, out) : CUnescape(a.value, out);
}

inline bool GetInt(const Attr& a, int64_t* out, std::string* typeName)
{
  *typeName = AttrTypeName(a.type);
  *out = 0;
  if (a.type != kInt) {
    return false;
  }
  if (!a.hasValue) {
    return true;
  }
  std::istringstream in(a.value);
  in.imbue(std::locale::classic());
  in >> *out;
  return !in.fail() && in.eof() && a.value.find_first_of(".eE") == std::string::npos;
}

inline bool GetBool(const Attr& a, bool* out, std::string* typeName)
{
  int64_t v = 0;
  const bool ok = GetInt(a, &v, typeName) && (v == 0 || v == 1);
  *out = v == 1;
  return ok;
}

inline bool GetFloat(const Attr& a, double* out, std::string* typeName)
{
  *typeName = AttrTypeName(a.type);
  *out = 0.0;
  if (a.type != kFloat) {
    return false;
  }
  if (!a.hasValue) {
    return true;
  }
  // "%g" of a non-finite float (C library spellings) and the JSON mapping's names.
  const char* names[] = {"nan", "-nan", "NaN", "inf", "Infinity", "-inf", "-Infinity"};
  for (int k = 0; k < 7; ++k) {
    if (a.value == names[k]) {
      const double inf = std::numeric_limits<double>::infinity();
      *out = k < 3 ? std::numeric_limits<double>::quiet_NaN() : (k < 5 ? inf : -inf);
      return true;
    }
  }
  std::istringstream in(a.value);
  in.imbue(std::locale::classic());
  in >> *out;
  return !in.fail() && in.eof();
}

// ---- the attributes of this package's ops ------------------------------------

enum ParseStatus : int { kFound = 0, kDefaulted = 1, kError = -1 };

inline bool IsReductionName(const std::string& s)
{
  for (const char* name : ascend::kReductionNames) {
    if (s == name) {
      return true;
    }
  }
  return false;
}

//! The reduction of an ai.lossgrad node of type `opType` from ATC's attribute
//! JSON. On kFound / kDefaulted `*reduction` is a valid name; on kError
//! `*error` says why (malformed JSON, wrong attribute type, unknown value).
inline ParseStatus ParseReduction(const std::string& opType, const std::string& json, std::string* reduction,
                                  std::string* error)
{
  *reduction = ascend::kDefaultReduction;
  std::vector<Attr> attrs;
  if (!AttrReader::Read(json, &attrs, error)) {
    *error = opType + ": " + *error;
    return kError;
  }
  const Attr* attr = Find(attrs, ascend::kAttrName);
  if (attr == nullptr) {
    return kDefaulted;
  }
  std::string value;
  std::string typeName;
  if (!GetString(*attr, &value, &typeName)) {
    *error = attr->type == kString ? opType + ": attribute '" + ascend::kAttrName + "' has an unreadable value"
                                   : ascend::BadReductionTypeMessage(opType.c_str(), typeName);
    return kError;
  }
  if (!IsReductionName(value)) {
    *error = ascend::BadReductionMessage(opType.c_str(), value);
    return kError;
  }
  *reduction = value;
  return kFound;
}

//! Every declared attribute of op id `op` (lossgrad_ops_table.h) other than the reduction,
//! from ATC's attribute JSON, by declared index: `given[a]` and `numbers[a]` (kMaxAttrs entries
//! each; an absent attribute is not given: its default applies). A present attribute of
//! another ONNX type fails with kMsgBadAttributeType, a float that is NaN or below its
//! declared minimum with kMsgBadAttributeValue (the messages of framework/rules.py).
inline ParseStatus ParseDeclaredAttributes(int op, const std::string& json, bool* given, double* numbers,
                                           std::string* error)
{
  const char* opType = ascend::kOpTypes[op];
  for (int a = 0; a < ascend::kMaxAttrs; ++a) {
    given[a] = false;
    numbers[a] = 0.0;
  }
  std::vector<Attr> attrs;
  if (!AttrReader::Read(json, &attrs, error)) {
    *error = std::string(opType) + ": " + *error;
    return kError;
  }
  bool found = false;
  for (int a = 1; a < ascend::kOpNumAttrs[op]; ++a) {
    const Attr* attr = Find(attrs, ascend::kOpAttrNames[op][a]);
    if (attr == nullptr) {
      continue;
    }
    std::string typeName;
    bool ok = false;
    const char* expected = "";
    switch (ascend::kOpAttrKinds[op][a]) {
      case ascend::kAttrFloat:
        expected = "a FLOAT";
        ok = GetFloat(*attr, &numbers[a], &typeName);
        break;
      case ascend::kAttrInt: {
        expected = "an INT";
        int64_t v = 0;
        ok = GetInt(*attr, &v, &typeName);
        numbers[a] = static_cast<double>(v);
        break;
      }
      case ascend::kAttrBool: {
        expected = "an INT 0 or 1 (a bool)";
        bool v = false;
        ok = GetBool(*attr, &v, &typeName);
        numbers[a] = v ? 1.0 : 0.0;
        break;
      }
      case ascend::kAttrString:
        expected = "a STRING";
        break;  // only the reduction is a string attribute (the generator enforces it)
    }
    if (!ok) {
      const bool unreadable = ascend::kOpAttrKinds[op][a] == ascend::kAttrFloat && attr->type == kFloat;
      *error = unreadable ? std::string(opType) + ": attribute '" + ascend::kOpAttrNames[op][a] +
                                "' has an unreadable value"
                          : ascend::BadAttributeTypeMessage(op, a, expected, typeName);
      return kError;
    }
    if (ascend::kOpAttrKinds[op][a] == ascend::kAttrFloat) {
      // The op computes in fp32: check the value it will get.
      numbers[a] = static_cast<double>(static_cast<float>(numbers[a]));
      if (!ascend::FloatAttributeOk(op, a, numbers[a])) {
        *error = ascend::BadAttributeValueMessage(op, a, numbers[a]);
        return kError;
      }
    }
    given[a] = true;
    found = true;
  }
  return found ? kFound : kDefaulted;
}

}  // namespace onnx_attr
}  // namespace lossgrad

#endif  // LOSSGRAD_ONNX_ATTR_H_
