// Compiles the package's ATC ONNX parser plugin against the CANN stand-ins in
// cann_stubs/ and lets the tests read its registrations and call its parse
// functions (adapter logic only; see host_ops.cc).
#include "../framework/onnx_plugin/lossgrad_onnx_plugin.cc"

#include <string>

#define LGSIM_API extern "C" __attribute__((visibility("default")))

//! The registrations as JSON: [{"op": .., "framework": 5, "origin": [..], "tvm": true}, ..].
LGSIM_API const char* lgsim_plugin_json()
{
  static const std::string json = [] {
    std::string j = "[";
    for (size_t i = 0; i < domi::PluginRegistry().size(); ++i) {
      const domi::OpRegistrationData& r = domi::PluginRegistry()[i];
      j += (i ? ", " : "") + std::string("{\"op\": \"") + r.opType + "\", \"framework\": " +
           std::to_string(static_cast<int>(r.framework)) + ", \"origin\": [";
      for (size_t k = 0; k < r.originTypes.size(); ++k) {
        j += (k ? ", \"" : "\"") + r.originTypes[k] + "\"";
      }
      j += std::string("], \"tvm\": ") + (r.imply == domi::ImplyType::TVM ? "true" : "false") +
           ", \"has_parser\": " + (r.parse != nullptr ? "true" : "false") + "}";
    }
    return j + "]";
  }();
  return json.c_str();
}

//! Call the parse function registered for `opType` with the attribute JSON
//! (nullptr: the source operator has no "attribute"); 1 SUCCESS, 0 FAILED, -1 unknown.
//! `reduction` gets the reduction set on the CANN operator, `attrs` every attribute it
//! got as JSON {"name": {"type": "float", "value": "0.25"}, ...}.
LGSIM_API int lgsim_plugin_parse(const char* opType, const char* attributeJson, char* reduction, uint64_t len,
                                 char* attrs, uint64_t attrsLen)
{
  auto copy = [](char* dst, uint64_t cap, const std::string& value) {
    if (cap > 0) {
      const size_t n = value.size() < cap - 1 ? value.size() : static_cast<size_t>(cap - 1);
      std::memcpy(dst, value.data(), n);
      dst[n] = '\0';
    }
  };
  for (const domi::OpRegistrationData& r : domi::PluginRegistry()) {
    if (r.opType != opType || r.parse == nullptr) {
      continue;
    }
    ge::Operator src;
    ge::Operator dst;
    if (attributeJson != nullptr) {
      src.SetAttr("attribute", ge::AscendString(attributeJson));
    }
    const domi::Status status = r.parse(src, dst);
    auto it = dst.Attrs().find("reduction");
    copy(reduction, len, it == dst.Attrs().end() ? "" : it->second);
    std::string j = "{";
    for (const auto& kv : dst.Attrs()) {
      j += (j.size() > 1 ? ", \"" : "\"") + kv.first + "\": {\"type\": \"" + dst.AttrTypes().at(kv.first) +
           "\", \"value\": \"" + kv.second + "\"}";
    }
    copy(attrs, attrsLen, j + "}");
    return status == domi::SUCCESS ? 1 : 0;
  }
  return -1;
}
