// Stand-in of ge::Operator (see ../lgsim_cann_common.h).
#ifndef LGSIM_GRAPH_OPERATOR_H_
#define LGSIM_GRAPH_OPERATOR_H_

#include "../lgsim_cann_common.h"

#endif  // LGSIM_GRAPH_OPERATOR_H_
