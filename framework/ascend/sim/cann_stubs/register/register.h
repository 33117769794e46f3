// Stand-in of CANN's framework-plugin registration (REGISTER_CUSTOM_OP and the
// OpRegistrationData chain; see ../lgsim_cann_common.h). Registrations are kept
// so tests can read them back and call the parse functions.
#ifndef LGSIM_REGISTER_H_
#define LGSIM_REGISTER_H_

#include "../lgsim_cann_common.h"

namespace domi {

using Status = uint32_t;
constexpr Status SUCCESS = 0;
constexpr Status FAILED = 1;

enum FrameworkType { CAFFE = 0, MINDSPORE = 1, TENSORFLOW = 3, ANDROID_NN = 4, ONNX = 5 };
enum class ImplyType : unsigned int { BUILDIN = 0, TVM, CUSTOM, AI_CPU, INVALID = 0xFFFFFFFF };

using ParseParamByOpFunc = std::function<Status(const ge::Operator&, ge::Operator&)>;

class OpRegistrationData {
 public:
  OpRegistrationData(const char* type) : opType(type) {}  // NOLINT(google-explicit-constructor)
  OpRegistrationData& FrameworkType(const ::domi::FrameworkType& type)
  {
    framework = type;
    return *this;
  }
  OpRegistrationData& OriginOpType(const std::vector<ge::AscendString>& types)
  {
    for (const ge::AscendString& t : types) {
      originTypes.emplace_back(t.GetString());
    }
    return *this;
  }
  OpRegistrationData& ParseParamsByOperatorFn(const ParseParamByOpFunc& fn)
  {
    parse = fn;
    return *this;
  }
  OpRegistrationData& ImplyType(const ::domi::ImplyType& type)
  {
    imply = type;
    return *this;
  }
  std::string opType;
  ::domi::FrameworkType framework = CAFFE;
  std::vector<std::string> originTypes;
  ParseParamByOpFunc parse = nullptr;
  ::domi::ImplyType imply = ::domi::ImplyType::INVALID;
};

inline std::vector<OpRegistrationData>& PluginRegistry()
{
  static std::vector<OpRegistrationData> registry;
  return registry;
}

class OpReceiver {
 public:
  OpReceiver(OpRegistrationData& data) { PluginRegistry().push_back(data); }  // NOLINT
};

}  // namespace domi

#define LGSIM_CONCAT_IMPL(a, b) a##b
#define LGSIM_CONCAT(a, b) LGSIM_CONCAT_IMPL(a, b)
#define REGISTER_CUSTOM_OP(name) \
  static ::domi::OpReceiver LGSIM_CONCAT(lgsim_op_receiver_, __COUNTER__) = ::domi::OpRegistrationData(name)

#endif  // LGSIM_REGISTER_H_
