// skein/skein.h — everything a program needs, in one include.
//
//   #include <skein/skein.h>
//   int main() {
//     auto inc = skein::delayed([](int64_t x) { return x + 1; }, "inc");
//     std::cout << inc(41).compute() << "\n";   // 42
//   }
#pragma once

#include "skein/api/client.h"
#include "skein/api/coordination.h"
#include "skein/deploy/local_cluster.h"
#include "skein/distributed/session.h"
#include "skein/array/array.h"
#include "skein/array/blockwise.h"
#include "skein/array/creation.h"
#include "skein/array/linalg.h"
#include "skein/array/ufunc.h"
#include "skein/dataframe/arrow_c.h"
#include "skein/dataframe/dataframe.h"
#include "skein/dataframe/expr.h"
#include "skein/dataframe/table.h"
#include "skein/io/csv.h"
#include "skein/io/hdf5.h"
#include "skein/io/npy.h"
#include "skein/io/store.h"
#include "skein/io/zarr.h"
#include "skein/api/delayed.h"
#include "skein/api/diagnostics.h"
#include "skein/core/config.h"
#include "skein/core/error.h"
#include "skein/core/graph.h"
#include "skein/core/key.h"
#include "skein/core/op.h"
#include "skein/core/optimize.h"
#include "skein/core/reduction.h"
#include "skein/core/serialize.h"
#include "skein/core/task.h"
#include "skein/core/value.h"
#include "skein/local/observer.h"
#include "skein/local/scheduler.h"
