// Stand-in of CANN's tiling-data macros (see ../lgsim_cann_common.h): fields are
// serialized in declaration order at their natural alignment.
#ifndef LGSIM_TILINGDATA_BASE_H_
#define LGSIM_TILINGDATA_BASE_H_

#include "../lgsim_cann_common.h"

namespace optiling {

class TilingDef {
 public:
  struct Field {
    const void* data;
    size_t size;   //!< element size
    size_t count;  //!< elements
  };
  void SaveToBuffer(void* dst, size_t capacity) const
  {
    size_t at = 0;
    for (const Field& f : fields_) {
      at = (at + f.size - 1) / f.size * f.size;
      if (at + f.size * f.count <= capacity) {
        std::memcpy(static_cast<uint8_t*>(dst) + at, f.data, f.size * f.count);
      }
      at += f.size * f.count;
    }
  }
  size_t GetDataSize() const
  {
    size_t at = 0;
    size_t align = 1;
    for (const Field& f : fields_) {
      at = (at + f.size - 1) / f.size * f.size + f.size * f.count;
      align = f.size > align ? f.size : align;
    }
    return (at + align - 1) / align * align;
  }

 protected:
  TilingDef() = default;
  TilingDef(const TilingDef&) = delete;
  TilingDef& operator=(const TilingDef&) = delete;
  bool AddField(const void* data, size_t size, size_t count)
  {
    fields_.push_back({data, size, count});
    return true;
  }

 private:
  std::vector<Field> fields_;
};

}  // namespace optiling

#define BEGIN_TILING_DATA_DEF(cls) \
  class cls : public ::optiling::TilingDef { \
   public:
#define TILING_DATA_FIELD_DEF(type, name)                                  \
 private:                                                                   \
  type name##_{};                                                           \
  bool name##_added_ = AddField(&name##_, sizeof(type), 1);                 \
                                                                            \
 public:                                                                    \
  void set_##name(type v) { name##_ = v; }                                  \
  type get_##name() const { return name##_; }
#define TILING_DATA_FIELD_DEF_ARR(type, count, name)                       \
 private:                                                                   \
  type name##_[count] = {};                                                 \
  bool name##_added_ = AddField(name##_, sizeof(type), count);              \
                                                                            \
 public:                                                                    \
  void set_##name(type* v) { std::memcpy(name##_, v, sizeof(name##_)); }    \
  const type* get_##name() const { return name##_; }
#define END_TILING_DATA_DEF }
#define REGISTER_TILING_DATA_CLASS(op, cls) \
  static const bool lgsim_tiling_class_##op = ::lgsim_stub::RegisterTilingClass(#op, #cls);

namespace lgsim_stub {
inline std::map<std::string, std::string>& TilingClasses()
{
  static std::map<std::string, std::string> classes;
  return classes;
}
inline bool RegisterTilingClass(const char* op, const char* cls)
{
  TilingClasses()[op] = cls;
  return true;
}
}  // namespace lgsim_stub

#endif  // LGSIM_TILINGDATA_BASE_H_
