// Reading the `reduction` attribute of an ai.lossgrad ONNX node, in plain C++17
// (no CANN, no third-party JSON library), so the ATC parser plugin and the CPU
// tests share it.
//
// ATC hands an ONNX parser plugin the node's attributes as one JSON string (the
// operator attribute "attribute", a serialized list of ONNX AttributeProto).
// A string attribute's value is the protobuf `bytes` field "s"; protobuf's JSON
// mapping writes bytes as base64, so both forms are accepted: the plain name
// ("sum") and its base64 ("c3Vt"). The attribute type may be written as the
// enum number (3) or name ("STRING"). A missing attribute means the schema
// default "mean"; any other value is an error naming the allowed ones.
#ifndef LOSSGRAD_ONNX_ATTR_H_
#define LOSSGRAD_ONNX_ATTR_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "../../op_host/lossgrad_defs.h"

namespace lossgrad {
namespace onnx_attr {

//! A minimal JSON value (what the attribute list needs).
struct Json {
  enum Kind { kNull, kBool, kNumber, kString, kArray, kObject } kind = kNull;
  bool boolean = false;
  double number = 0.0;
  std::string text;  //!< string value, or the number's spelling
  std::vector<Json> items;
  std::map<std::string, Json> fields;

  const Json* Get(const std::string& key) const
  {
    auto it = fields.find(key);
    return kind == kObject && it != fields.end() ? &it->second : nullptr;
  }
};

//! Recursive-descent JSON parser; false on malformed input.
class JsonParser {
 public:
  explicit JsonParser(const std::string& s) : s_(s) {}
  bool Parse(Json* out)
  {
    if (!Value(out, 0)) {
      return false;
    }
    Space();
    return pos_ == s_.size();
  }

 private:
  void Space()
  {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\r' || s_[pos_] == '\t')) {
      ++pos_;
    }
  }
  bool Literal(const char* word)
  {
    const std::string w(word);
    if (s_.compare(pos_, w.size(), w) != 0) {
      return false;
    }
    pos_ += w.size();
    return true;
  }
  static int Hex(char c)
  {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  bool String(std::string* out)
  {
    if (pos_ >= s_.size() || s_[pos_] != '"') {
      return false;
    }
    ++pos_;
    while (pos_ < s_.size()) {
      const char c = s_[pos_++];
      if (c == '"') {
        return true;
      }
      if (c != '\\') {
        out->push_back(c);
        continue;
      }
      if (pos_ >= s_.size()) {
        return false;
      }
      const char e = s_[pos_++];
      switch (e) {
        case '"': out->push_back('"'); break;
        case '\\': out->push_back('\\'); break;
        case '/': out->push_back('/'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'u': {
          if (pos_ + 4 > s_.size()) {
            return false;
          }
          uint32_t code = 0;
          for (int i = 0; i < 4; ++i) {
            const int h = Hex(s_[pos_++]);
            if (h < 0) {
              return false;
            }
            code = code * 16 + static_cast<uint32_t>(h);
          }
          // UTF-8 encode (surrogate pairs are kept as two 3-byte sequences; names are ASCII anyway).
          if (code < 0x80) {
            out->push_back(static_cast<char>(code));
          } else if (code < 0x800) {
            out->push_back(static_cast<char>(0xC0 | (code >> 6)));
            out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
          } else {
            out->push_back(static_cast<char>(0xE0 | (code >> 12)));
            out->push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
            out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
          }
          break;
        }
        default: return false;
      }
    }
    return false;
  }
  bool Value(Json* out, int depth)
  {
    if (depth > 64) {
      return false;
    }
    Space();
    if (pos_ >= s_.size()) {
      return false;
    }
    const char c = s_[pos_];
    if (c == '{') {
      ++pos_;
      out->kind = Json::kObject;
      Space();
      if (pos_ < s_.size() && s_[pos_] == '}') {
        ++pos_;
        return true;
      }
      for (;;) {
        Space();
        std::string key;
        if (!String(&key)) {
          return false;
        }
        Space();
        if (pos_ >= s_.size() || s_[pos_] != ':') {
          return false;
        }
        ++pos_;
        Json v;
        if (!Value(&v, depth + 1)) {
          return false;
        }
        out->fields[key] = std::move(v);
        Space();
        if (pos_ < s_.size() && s_[pos_] == ',') {
          ++pos_;
          continue;
        }
        if (pos_ < s_.size() && s_[pos_] == '}') {
          ++pos_;
          return true;
        }
        return false;
      }
    }
    if (c == '[') {
      ++pos_;
      out->kind = Json::kArray;
      Space();
      if (pos_ < s_.size() && s_[pos_] == ']') {
        ++pos_;
        return true;
      }
      for (;;) {
        Json v;
        if (!Value(&v, depth + 1)) {
          return false;
        }
        out->items.push_back(std::move(v));
        Space();
        if (pos_ < s_.size() && s_[pos_] == ',') {
          ++pos_;
          continue;
        }
        if (pos_ < s_.size() && s_[pos_] == ']') {
          ++pos_;
          return true;
        }
        return false;
      }
    }
    if (c == '"') {
      out->kind = Json::kString;
      return String(&out->text);
    }
    if (Literal("true")) {
      out->kind = Json::kBool;
      out->boolean = true;
      return true;
    }
    if (Literal("false")) {
      out->kind = Json::kBool;
      return true;
    }
    if (Literal("null")) {
      out->kind = Json::kNull;
      return true;
    }
    const size_t begin = pos_;
    while (pos_ < s_.size() && std::string("+-0123456789.eE").find(s_[pos_]) != std::string::npos) {
      ++pos_;
    }
    if (pos_ == begin) {
      return false;
    }
    out->kind = Json::kNumber;
    out->text = s_.substr(begin, pos_ - begin);
    try {
      out->number = std::stod(out->text);
    } catch (...) {
      return false;
    }
    return true;
  }

  const std::string& s_;
  size_t pos_ = 0;
};

//! Standard base64 (with or without padding); false if `in` is not base64.
inline bool Base64Decode(const std::string& in, std::string* out)
{
  uint32_t acc = 0;
  int bits = 0;
  size_t padding = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '+' || c == '-') v = 62;
    else if (c == '/' || c == '_') v = 63;
    else if (c == '=') { ++padding; continue; }
    else return false;
    if (padding) {
      return false;  // data after padding
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return padding <= 2;
}

inline bool IsPrintable(const std::string& s)
{
  for (unsigned char c : s) {
    if (c < 0x20 || c > 0x7e) {
      return false;
    }
  }
  return true;
}

inline bool IsReductionName(const std::string& s)
{
  for (const char* name : ascend::kReductionNames) {
    if (s == name) {
      return true;
    }
  }
  return false;
}

//! ONNX AttributeProto.AttributeType name of a JSON "type" (enum number or name).
inline std::string AttributeTypeName(const Json& type)
{
  static const char* names[] = {"UNDEFINED", "FLOAT",  "INT",           "STRING",         "TENSOR",
                                "GRAPH",     "FLOATS", "INTS",          "STRINGS",        "TENSORS",
                                "GRAPHS",    "SPARSE_TENSOR", "SPARSE_TENSORS", "TYPE_PROTO", "TYPE_PROTOS"};
  if (type.kind == Json::kString) {
    return type.text;
  }
  if (type.kind == Json::kNumber && type.number >= 0 && type.number < 15 &&
      type.number == static_cast<double>(static_cast<int>(type.number))) {
    return names[static_cast<int>(type.number)];
  }
  return "UNDEFINED";
}

enum ParseStatus : int { kFound = 0, kDefaulted = 1, kError = -1 };

//! The reduction of an ai.lossgrad node of type `opType` from ATC's attribute
//! JSON. On kFound / kDefaulted `*reduction` is a valid name; on kError
//! `*error` says why (malformed JSON, wrong attribute type, unknown value).
inline ParseStatus ParseReduction(const std::string& opType, const std::string& json, std::string* reduction,
                                  std::string* error)
{
  *reduction = ascend::kDefaultReduction;
  if (json.empty()) {
    return kDefaulted;
  }
  Json root;
  if (!JsonParser(json).Parse(&root)) {
    *error = opType + ": the ONNX attributes are not valid JSON";
    return kError;
  }
  const Json* list = root.Get("attribute");
  if (list == nullptr) {
    return kDefaulted;
  }
  if (list->kind != Json::kArray) {
    *error = opType + ": the ONNX attribute list is not a JSON array";
    return kError;
  }
  for (const Json& attr : list->items) {
    const Json* name = attr.Get("name");
    if (name == nullptr || name->kind != Json::kString || name->text != ascend::kAttrName) {
      continue;
    }
    const Json* type = attr.Get("type");
    const std::string typeName = type == nullptr ? "STRING" : AttributeTypeName(*type);
    if (typeName != "STRING") {
      *error = ascend::BadReductionTypeMessage(opType.c_str(), typeName);
      return kError;
    }
    const Json* s = attr.Get("s");
    if (s == nullptr || s->kind != Json::kString) {
      *error = opType + ": attribute 'reduction' has no string value";
      return kError;
    }
    // protobuf's JSON writes bytes as base64 (whole 4-character groups); a
    // plain name is accepted as well. Decoded text is used when it is printable.
    std::string value = s->text;
    std::string decoded;
    if (!IsReductionName(value) && value.size() % 4 == 0 && Base64Decode(value, &decoded) &&
        IsPrintable(decoded)) {
      value = decoded;
    }
    if (!IsReductionName(value)) {
      *error = ascend::BadReductionMessage(opType.c_str(), value);
      return kError;
    }
    *reduction = value;
    return kFound;
  }
  return kDefaulted;
}

}  // namespace onnx_attr
}  // namespace lossgrad

#endif  // LOSSGRAD_ONNX_ATTR_H_
