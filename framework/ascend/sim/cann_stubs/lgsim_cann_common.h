// Host stand-ins for the few CANN host-side types the op package uses (ge, gert,
// platform, tiling data, op registration, framework plugins), declared from the
// public CANN documentation for this project. They exist so that the package's
// op_host and ONNX plugin sources compile into the CPU simulation library and
// their adapter logic can be executed by tests; they prove nothing about
// compatibility with the real CANN headers (that needs a toolkit, see README).
#ifndef LGSIM_CANN_COMMON_H_
#define LGSIM_CANN_COMMON_H_

#include <cstddef>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

namespace ge {

using graphStatus = uint32_t;
constexpr graphStatus GRAPH_SUCCESS = 0;
constexpr graphStatus GRAPH_FAILED = 0xFFFFFFFF;

enum DataType : int { DT_FLOAT = 0, DT_FLOAT16 = 1, DT_INT8 = 2, DT_INT32 = 3, DT_DOUBLE = 11, DT_BF16 = 27 };
enum Format : int { FORMAT_NCHW = 0, FORMAT_NHWC = 1, FORMAT_ND = 2 };

class AscendString {
 public:
  AscendString() = default;
  AscendString(const char* s) : s_(s == nullptr ? "" : s), null_(s == nullptr) {}  // NOLINT
  const char* GetString() const { return null_ ? nullptr : s_.c_str(); }

 private:
  std::string s_;
  bool null_ = true;
};

//! Framework-side operator: string, float, int and bool attributes (what the plugin uses),
//! kept as text ("%.9g" for a float: exact) with their type name.
class Operator {
 public:
  graphStatus GetAttr(const char* name, AscendString& value) const
  {
    auto it = attrs_.find(name);
    if (it == attrs_.end()) {
      return GRAPH_FAILED;
    }
    value = AscendString(it->second.c_str());
    return GRAPH_SUCCESS;
  }
  Operator& SetAttr(const char* name, const AscendString& value)
  {
    attrs_[name] = value.GetString() == nullptr ? "" : value.GetString();
    types_[name] = "string";
    return *this;
  }
  Operator& SetAttr(const char* name, float value)
  {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(value));
    attrs_[name] = buf;
    types_[name] = "float";
    return *this;
  }
  Operator& SetAttr(const char* name, int64_t value)
  {
    attrs_[name] = std::to_string(value);
    types_[name] = "int";
    return *this;
  }
  Operator& SetAttr(const char* name, bool value)
  {
    attrs_[name] = value ? "1" : "0";
    types_[name] = "bool";
    return *this;
  }
  const std::map<std::string, std::string>& Attrs() const { return attrs_; }
  const std::map<std::string, std::string>& AttrTypes() const { return types_; }

 private:
  std::map<std::string, std::string> attrs_;
  std::map<std::string, std::string> types_;
};

}  // namespace ge

namespace fe {
//! What the stand-in platform reports.
struct PlatFormInfos {
  uint32_t aivCores = 40;
  uint64_t ubBytes = 192 * 1024;
  uint32_t sysWorkspace = 16 * 1024 * 1024;
};
}  // namespace fe

namespace gert {

class Shape {
 public:
  size_t GetDimNum() const { return dims_.size(); }
  int64_t GetDim(size_t i) const { return i < dims_.size() ? dims_[i] : 0; }
  void SetDimNum(size_t n) { dims_.resize(n, 0); }
  void SetDim(size_t i, int64_t d)
  {
    if (i < dims_.size()) {
      dims_[i] = d;
    }
  }

 private:
  std::vector<int64_t> dims_;
};

class StorageShape {
 public:
  const Shape& GetStorageShape() const { return shape_; }
  const Shape& GetOriginShape() const { return shape_; }
  Shape& MutableStorageShape() { return shape_; }

 private:
  Shape shape_;
};

class CompileTimeTensorDesc {
 public:
  ge::DataType GetDataType() const { return dtype_; }
  void SetDataType(ge::DataType d) { dtype_ = d; }

 private:
  ge::DataType dtype_ = ge::DT_FLOAT;
};

//! The attributes of a tiling context by declared index: a string (GetAttrPointer<char>), a
//! float (<float>), an int (<int64_t>) or a bool (<bool>); asking for another type than the
//! one set gives nullptr (the real class reinterprets the bytes: the adapter must not do that).
class RuntimeAttrs {
 public:
  template <typename T>
  const T* GetAttrPointer(size_t index) const
  {
    if (index >= slots_.size() || !slots_[index].has) {
      return nullptr;
    }
    const Slot& s = slots_[index];
    if constexpr (std::is_same<T, char>::value) {
      return s.kind == 's' ? s.text.c_str() : nullptr;
    } else if constexpr (std::is_same<T, float>::value) {
      return s.kind == 'f' ? &s.f : nullptr;
    } else if constexpr (std::is_same<T, int64_t>::value) {
      return s.kind == 'i' ? &s.i : nullptr;
    } else if constexpr (std::is_same<T, bool>::value) {
      return s.kind == 'b' ? &s.b : nullptr;
    } else {
      return nullptr;
    }
  }
  void SetString(size_t index, const char* value)
  {
    Slot& s = At(index);
    s = Slot();
    s.has = value != nullptr;
    s.kind = 's';
    s.text = value == nullptr ? "" : value;
  }
  void SetFloat(size_t index, float value)
  {
    Slot& s = At(index);
    s = Slot();
    s.has = true;
    s.kind = 'f';
    s.f = value;
  }

 private:
  struct Slot {
    bool has = false;
    char kind = 0;
    std::string text;
    float f = 0.0f;
    int64_t i = 0;
    bool b = false;
  };
  Slot& At(size_t index)
  {
    if (slots_.size() <= index) {
      slots_.resize(index + 1);
    }
    return slots_[index];
  }
  std::vector<Slot> slots_;
};

class TilingData {
 public:
  explicit TilingData(size_t capacity) : bytes_(capacity, 0) {}
  void* GetData() { return bytes_.data(); }
  size_t GetCapacity() const { return bytes_.size(); }
  void SetDataSize(size_t size) { size_ = size; }
  size_t GetDataSize() const { return size_; }
  const uint8_t* Bytes() const { return bytes_.data(); }

 private:
  std::vector<uint8_t> bytes_;
  size_t size_ = 0;
};

class TilingContext {
 public:
  fe::PlatFormInfos* GetPlatformInfo() { return &platform; }
  const RuntimeAttrs* GetAttrs() const { return attrsNull ? nullptr : &attrs; }
  const StorageShape* GetInputShape(size_t i) const { return i < shapes.size() ? &shapes[i] : nullptr; }
  const CompileTimeTensorDesc* GetInputDesc(size_t i) const { return i < descs.size() ? &descs[i] : nullptr; }
  TilingData* GetRawTilingData() { return &raw; }
  ge::graphStatus SetBlockDim(uint32_t n)
  {
    blockDim = n;
    return ge::GRAPH_SUCCESS;
  }
  size_t* GetWorkspaceSizes(size_t n)
  {
    workspace.assign(n, 0);
    return workspace.data();
  }

  // stand-in state
  fe::PlatFormInfos platform;
  RuntimeAttrs attrs;
  bool attrsNull = false;
  std::vector<StorageShape> shapes;
  std::vector<CompileTimeTensorDesc> descs;
  TilingData raw{4096};
  uint32_t blockDim = 0;
  std::vector<size_t> workspace;
};

class InferShapeContext {
 public:
  const RuntimeAttrs* GetAttrs() const { return attrsNull ? nullptr : &attrs; }
  const Shape* GetInputShape(size_t i) const { return i < inputs.size() ? &inputs[i] : nullptr; }
  Shape* GetOutputShape(size_t i) { return i == 0 ? &output : nullptr; }
  RuntimeAttrs attrs;
  bool attrsNull = false;
  std::vector<Shape> inputs;
  Shape output;
};

class InferDataTypeContext {
 public:
  ge::DataType GetInputDataType(size_t i) const { return i < inputs.size() ? inputs[i] : ge::DT_FLOAT; }
  ge::graphStatus SetOutputDataType(size_t i, ge::DataType d)
  {
    if (i != 0) {
      return ge::GRAPH_FAILED;
    }
    output = d;
    return ge::GRAPH_SUCCESS;
  }
  std::vector<ge::DataType> inputs;
  ge::DataType output = ge::DT_FLOAT;
};

}  // namespace gert

#endif  // LGSIM_CANN_COMMON_H_
