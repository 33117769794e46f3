// Stand-in of CANN's op definition registry (OpDef, OP_ADD) and of the gert
// contexts (see ../lgsim_cann_common.h). OP_ADD records a factory so tests can
// read back every op definition and call its tiling / inference functions.
#ifndef LGSIM_OP_DEF_REGISTRY_H_
#define LGSIM_OP_DEF_REGISTRY_H_

#include "../lgsim_cann_common.h"

namespace ops {

enum Option { REQUIRED = 0, OPTIONAL = 1, DYNAMIC = 2 };

using TilingFn = ge::graphStatus (*)(gert::TilingContext*);
using InferShapeFn = ge::graphStatus (*)(gert::InferShapeContext*);
using InferDataTypeFn = ge::graphStatus (*)(gert::InferDataTypeContext*);

class OpParamDef {
 public:
  explicit OpParamDef(const char* paramName) : name(paramName) {}
  OpParamDef& ParamType(Option o)
  {
    param = o;
    return *this;
  }
  OpParamDef& DataType(std::vector<ge::DataType> t)
  {
    types = std::move(t);
    return *this;
  }
  OpParamDef& Format(std::vector<ge::Format> f)
  {
    formats = std::move(f);
    return *this;
  }
  std::string name;
  Option param = REQUIRED;
  std::vector<ge::DataType> types;
  std::vector<ge::Format> formats;
};

class OpAttrDef {
 public:
  explicit OpAttrDef(const char* attrName) : name(attrName) {}
  OpAttrDef& AttrType(Option o)
  {
    param = o;
    return *this;
  }
  OpAttrDef& String(const char* value)
  {
    type = "string";
    defaultValue = value == nullptr ? "" : value;
    return *this;
  }
  //! Numbers are kept as text: a float as "%.9g" (exact), an int in decimal, a bool as true/false.
  OpAttrDef& Float(float value)
  {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(value));
    type = "float";
    defaultValue = buf;
    return *this;
  }
  OpAttrDef& Int(int64_t value)
  {
    type = "int";
    defaultValue = std::to_string(value);
    return *this;
  }
  OpAttrDef& Bool(bool value)
  {
    type = "bool";
    defaultValue = value ? "true" : "false";
    return *this;
  }
  std::string name;
  Option param = REQUIRED;
  std::string type;
  std::string defaultValue;
};

class OpAICoreDef {
 public:
  OpAICoreDef& SetTiling(TilingFn fn)
  {
    tiling = fn;
    return *this;
  }
  OpAICoreDef& AddConfig(const char* soc)
  {
    configs.emplace_back(soc);
    return *this;
  }
  TilingFn tiling = nullptr;
  std::vector<std::string> configs;
};

class OpDef {
 public:
  explicit OpDef(const char* name) : name_(name) {}
  virtual ~OpDef() = default;
  OpParamDef& Input(const char* name)
  {
    inputs_.emplace_back(name);
    return inputs_.back();
  }
  OpParamDef& Output(const char* name)
  {
    outputs_.emplace_back(name);
    return outputs_.back();
  }
  OpAttrDef& Attr(const char* name)
  {
    attrs_.emplace_back(name);
    return attrs_.back();
  }
  OpDef& SetInferShape(InferShapeFn fn)
  {
    inferShape_ = fn;
    return *this;
  }
  OpDef& SetInferDataType(InferDataTypeFn fn)
  {
    inferDataType_ = fn;
    return *this;
  }
  OpAICoreDef& AICore() { return aicore_; }

  // stand-in accessors
  const std::string& Name() const { return name_; }
  const std::deque<OpParamDef>& Inputs() const { return inputs_; }
  const std::deque<OpParamDef>& Outputs() const { return outputs_; }
  const std::deque<OpAttrDef>& Attrs() const { return attrs_; }
  InferShapeFn InferShape() const { return inferShape_; }
  InferDataTypeFn InferDataType() const { return inferDataType_; }
  const OpAICoreDef& AICoreDef() const { return aicore_; }

 private:
  std::string name_;
  std::deque<OpParamDef> inputs_;
  std::deque<OpParamDef> outputs_;
  std::deque<OpAttrDef> attrs_;
  InferShapeFn inferShape_ = nullptr;
  InferDataTypeFn inferDataType_ = nullptr;
  OpAICoreDef aicore_;
};

using OpFactory = std::function<std::unique_ptr<OpDef>()>;
inline std::map<std::string, OpFactory>& OpRegistry()
{
  static std::map<std::string, OpFactory> registry;
  return registry;
}
inline bool AddOp(const char* name, OpFactory factory)
{
  OpRegistry()[name] = std::move(factory);
  return true;
}

}  // namespace ops

#define OP_ADD(cls) \
  static const bool lgsim_op_added_##cls = ::ops::AddOp(#cls, [] { return std::unique_ptr<::ops::OpDef>(new cls(#cls)); })

#endif  // LGSIM_OP_DEF_REGISTRY_H_
