// CANN tiling-data definition of the lossgrad ops: the field list of
// op_kernel/lossgrad_tiling_data.h expanded into BEGIN_TILING_DATA_DEF, so the
// struct the kernel reads with GET_TILING_DATA has exactly the fields (names,
// types, order) of LossGradTilingPlain, which the CPU tests exercise.
#ifndef LOSSGRAD_TILING_H_
#define LOSSGRAD_TILING_H_

#include "register/tilingdata_base.h"

#include "../op_kernel/lossgrad_tiling_data.h"
#include "lossgrad_ops_table.h"

namespace optiling {

#define LOSSGRAD_CANN_SCALAR_FIELD(type, name) TILING_DATA_FIELD_DEF(type, name);
#define LOSSGRAD_CANN_ARRAY_FIELD(type, count, name) TILING_DATA_FIELD_DEF_ARR(type, count, name);

BEGIN_TILING_DATA_DEF(LossGradTilingData)
LOSSGRAD_TILING_SCALAR_FIELDS(LOSSGRAD_CANN_SCALAR_FIELD)
LOSSGRAD_TILING_ARRAY_FIELDS(LOSSGRAD_CANN_ARRAY_FIELD)
END_TILING_DATA_DEF;

#undef LOSSGRAD_CANN_SCALAR_FIELD
#undef LOSSGRAD_CANN_ARRAY_FIELD

// One tiling-data registration per op of the generated table.
#define LOSSGRAD_REGISTER_TILING(Op, id, kernel) REGISTER_TILING_DATA_CLASS(Op, LossGradTilingData)
LOSSGRAD_ASCEND_FOR_EACH_OP(LOSSGRAD_REGISTER_TILING)
#undef LOSSGRAD_REGISTER_TILING

//! Copy every field of the plain struct into the CANN tiling data (same list).
inline void CopyToTilingData(const LossGradTilingPlain& plain, LossGradTilingData& tiling)
{
#define LOSSGRAD_SET_SCALAR(type, name) tiling.set_##name(plain.name);
#define LOSSGRAD_SET_ARRAY(type, count, name) tiling.set_##name(const_cast<type*>(plain.name));
  LOSSGRAD_TILING_SCALAR_FIELDS(LOSSGRAD_SET_SCALAR)
  LOSSGRAD_TILING_ARRAY_FIELDS(LOSSGRAD_SET_ARRAY)
#undef LOSSGRAD_SET_SCALAR
#undef LOSSGRAD_SET_ARRAY
}

}  // namespace optiling

#endif  // LOSSGRAD_TILING_H_
