// The fast scale search. A lane computes one candidate of one block exactly as the reference's
// try_candidate and squared_error do. The lanes hold either eight blocks (search_scale_lanes) or
// eight candidates of one block (search_scale). The best candidate is then chosen in the
// reference's order.
#include "kernels/scale_search_lanes.hpp"

#include <algorithm>
#include <vector>

#include "kernels/parallel.hpp"
#include "kernels/scale_search_steps.hpp"

namespace onnxquant::kernels {
namespace {

using simd::kLanes;
using simd::LaneChoices;
using simd::LaneValues;

// The choice that idle lanes compute with: any finite value works, their results are dropped.
constexpr ScaleChoice kIdleChoice{1.0f, 0};

void set_lane(LaneChoices& choices, int lane, const ScaleChoice& choice) {
  choices.scale[lane] = choice.scale;
  choices.zero_point[lane] = choice.zero_point;
}

ScaleChoice get_lane(const LaneChoices& choices, int lane) { return {choices.scale[lane], choices.zero_point[lane]}; }

bool any_of(const bool* flags) { return std::any_of(flags, flags + kLanes, [](bool flag) { return flag; }); }

struct CandidateResults {
  ScaleChoice fitted[kLanes];
  bool refitted[kLanes];
  double error[kLanes];
};

// The refit rounds of try_candidate for every active lane, then squared_error of each fit.
void evaluate_candidates(const LaneValues& values, const float* block_min, CodeRange range, bool fixed_zero_point,
                         StoreScale store, const ScaleChoice* candidates, const bool* active,
                         CandidateResults& results) {
  const simd::Primitives& primitives = simd::primitives();
  LaneChoices choices;
  bool refitting[kLanes];
  for (int lane = 0; lane < kLanes; ++lane) {
    ScaleChoice candidate = active[lane] ? candidates[lane] : kIdleChoice;
    if (active[lane] && !fixed_zero_point && candidate.scale > 0.0f) {
      candidate.zero_point = search_steps::recenter_zero_point(block_min[lane], candidate.scale, range);
    }
    set_lane(choices, lane, candidate);
    refitting[lane] = active[lane];
    results.refitted[lane] = false;
  }

  for (int round = 0; round < search_steps::kRefitRounds && any_of(refitting); ++round) {
    double numerator[kLanes];
    double denominator[kLanes];
    simd::LaneAffineSums sums;
    if (fixed_zero_point) {
      primitives.lane_fixed_fit_sums(values, choices, range, numerator, denominator);
    } else {
      primitives.lane_affine_fit_sums(values, choices, range, sums);
    }
    for (int lane = 0; lane < kLanes; ++lane) {
      if (!refitting[lane]) continue;
      ScaleChoice next;
      const bool ok =
          fixed_zero_point
              ? search_steps::fit_fixed(numerator[lane], denominator[lane], choices.zero_point[lane], next)
              : search_steps::fit_affine({sums.n[lane], sums.sum_q[lane], sums.sum_x[lane], sums.sum_qq[lane],
                                          sums.sum_qx[lane]},
                                         range, next);
      if (!ok) {
        refitting[lane] = false;
        continue;
      }
      next.scale = store(next.scale);
      set_lane(choices, lane, next);
      results.refitted[lane] = true;
    }
  }

  for (int lane = 0; lane < kLanes; ++lane) results.fitted[lane] = get_lane(choices, lane);
  if (any_of(results.refitted)) primitives.lane_squared_error(values, choices, range, results.error);
}

}  // namespace

void search_scale_lanes(const LaneValues& values, int lanes, CodeRange range, const ScaleChoice* initial,
                        bool fixed_zero_point, StoreScale store, bool allow_sign_flip, ScaleChoice* best) {
  const simd::Primitives& primitives = simd::primitives();
  LaneChoices initial_choices;
  for (int lane = 0; lane < kLanes; ++lane) set_lane(initial_choices, lane, lane < lanes ? initial[lane] : kIdleChoice);
  double best_error[kLanes];
  primitives.lane_squared_error(values, initial_choices, range, best_error);

  // bases[0] is the min/max scale; bases[1] its opposite-sign variant where the search tries one.
  float bases[2][kLanes] = {};
  bool searched[2][kLanes] = {};
  for (int lane = 0; lane < kLanes; ++lane) {
    if (lane < lanes) best[lane] = initial[lane];
    if (lane >= lanes || best_error[lane] == 0.0) continue;
    bases[0][lane] = initial[lane].scale;
    searched[0][lane] = true;
    searched[1][lane] =
        search_steps::sign_flip_base(initial[lane], range, fixed_zero_point, allow_sign_flip, bases[1][lane]);
  }
  if (!any_of(searched[0])) return;

  float block_min[kLanes] = {};
  if (!fixed_zero_point) {
    float block_max[kLanes];
    primitives.lane_range(values, block_min, block_max);
  }

  for (int base = 0; base < 2; ++base) {
    if (!any_of(searched[base])) continue;
    for (int step = search_steps::kFirstStep; step <= search_steps::kLastStep; ++step) {
      ScaleChoice candidates[kLanes];
      for (int lane = 0; lane < kLanes; ++lane) {
        candidates[lane] = {search_steps::candidate_scale(bases[base][lane], step),
                            lane < lanes ? initial[lane].zero_point : 0};
      }
      CandidateResults results;
      evaluate_candidates(values, block_min, range, fixed_zero_point, store, candidates, searched[base], results);
      for (int lane = 0; lane < kLanes; ++lane) {
        if (searched[base][lane] && results.refitted[lane] && results.error[lane] < best_error[lane]) {
          best_error[lane] = results.error[lane];
          best[lane] = results.fitted[lane];
        }
      }
    }
  }
}

ScaleChoice search_scale(std::span<const float> values, CodeRange range, ScaleChoice initial, bool fixed_zero_point,
                         StoreScale store, bool allow_sign_flip, int threads) {
  const simd::Primitives& primitives = simd::primitives();
  // Every lane reads the same block; the lanes differ in their candidates.
  const LaneValues block{values.data(), static_cast<int64_t>(values.size()), 1, true};
  LaneChoices initial_choices;
  for (int lane = 0; lane < kLanes; ++lane) set_lane(initial_choices, lane, initial);
  double initial_error[kLanes];
  primitives.lane_squared_error(block, initial_choices, range, initial_error);
  if (initial_error[0] == 0.0) return initial;

  // The candidates in the reference's order: the bases in turn, each with every step.
  std::vector<float> bases = {initial.scale};
  float flipped = 0.0f;
  if (search_steps::sign_flip_base(initial, range, fixed_zero_point, allow_sign_flip, flipped)) {
    bases.push_back(flipped);
  }
  std::vector<ScaleChoice> candidates;
  for (float base : bases) {
    for (int step = search_steps::kFirstStep; step <= search_steps::kLastStep; ++step) {
      candidates.push_back({search_steps::candidate_scale(base, step), initial.zero_point});
    }
  }

  float block_min[kLanes] = {};
  if (!fixed_zero_point) {
    float max = 0.0f;
    primitives.range(values.data(), static_cast<int64_t>(values.size()), block_min[0], max);
    std::fill_n(block_min + 1, kLanes - 1, block_min[0]);
  }

  const int64_t groups = tasks_for(static_cast<int64_t>(candidates.size()), kLanes);
  std::vector<CandidateResults> results(static_cast<size_t>(groups));
  parallel_for(groups, threads, [&](int64_t group) {
    ScaleChoice lane_candidates[kLanes];
    bool active[kLanes];
    for (int lane = 0; lane < kLanes; ++lane) {
      const size_t index = static_cast<size_t>(group * kLanes + lane);
      active[lane] = index < candidates.size();
      lane_candidates[lane] = active[lane] ? candidates[index] : kIdleChoice;
    }
    evaluate_candidates(block, block_min, range, fixed_zero_point, store, lane_candidates, active,
                        results[static_cast<size_t>(group)]);
  });

  ScaleChoice best = initial;
  double best_error = initial_error[0];
  for (size_t index = 0; index < candidates.size(); ++index) {
    const CandidateResults& group = results[index / kLanes];
    const size_t lane = index % kLanes;
    if (group.refitted[lane] && group.error[lane] < best_error) {
      best_error = group.error[lane];
      best = group.fitted[lane];
    }
  }
  return best;
}

}  // namespace onnxquant::kernels
