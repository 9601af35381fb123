// The scale search of several blocks at once, one block per vector lane.
#pragma once

#include "kernels/scale_search.hpp"
#include "kernels/simd.hpp"

namespace onnxquant::kernels {

// Searches the scales of up to simd::kLanes blocks: block l in lane l for l < `lanes`. `initial`
// and `best` have simd::kLanes entries; the lanes from `lanes` on must be readable in `values`
// and are otherwise ignored. best[l] is what reference::search_scale returns for block l. When
// `initial_error` is not null, initial_error[l] is squared_error of block l with initial[l].
void search_scale_lanes(const simd::LaneValues& values, int lanes, CodeRange range, const ScaleChoice* initial,
                        bool fixed_zero_point, StoreScale store, bool allow_sign_flip, ScaleChoice* best,
                        double* initial_error = nullptr);

}  // namespace onnxquant::kernels
