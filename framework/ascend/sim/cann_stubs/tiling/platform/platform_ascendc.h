// Stand-in of platform_ascendc::PlatformAscendC (see ../../lgsim_cann_common.h).
#ifndef LGSIM_PLATFORM_ASCENDC_H_
#define LGSIM_PLATFORM_ASCENDC_H_

#include "../../lgsim_cann_common.h"

namespace platform_ascendc {

enum class CoreMemType { L0_A = 0, L0_B, L0_C, L1, L2, UB, HBM, RESERVED };

class PlatformAscendC {
 public:
  explicit PlatformAscendC(fe::PlatFormInfos* info) : info_(info) {}
  uint32_t GetCoreNumAiv() const { return info_->aivCores; }
  void GetCoreMemSize(const CoreMemType& type, uint64_t& size) const
  {
    size = type == CoreMemType::UB ? info_->ubBytes : 0;
  }
  uint32_t GetLibApiWorkSpaceSize() const { return info_->sysWorkspace; }

 private:
  fe::PlatFormInfos* info_;
};

}  // namespace platform_ascendc

#endif  // LGSIM_PLATFORM_ASCENDC_H_
