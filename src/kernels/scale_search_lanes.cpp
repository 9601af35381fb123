// The fast scale search. A lane computes one block's ranking sums, refit and error exactly as the
// reference does. The lanes hold either eight blocks (search_scale_lanes) or eight candidates of
// one block (search_scale). The best-ranked candidate is chosen in the reference's order.
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

// Candidate arrays for lane_rank_sums, candidate c of lane l at c * kLanes + l: at most the coarse
// steps of both bases, rounded up to whole groups of eight.
struct CandidateArrays {
  static constexpr int kCapacity = (2 * search_steps::kCoarseCount + kLanes - 1) / kLanes * kLanes * kLanes;
  float inverse[kCapacity];
  float low[kCapacity];
  float high[kCapacity];
  bool rankable[kCapacity];
  int count;

  // Every candidate of every lane starts as not rankable, with an inverse of 0.
  explicit CandidateArrays(int candidate_count) : count(candidate_count) {
    const size_t used = static_cast<size_t>(count) * kLanes;
    std::fill_n(inverse, used, 0.0f);
    std::fill_n(low, used, 0.0f);
    std::fill_n(high, used, 0.0f);
    std::fill_n(rankable, used, false);
  }

  void set(int index, double inverse_base, int step, int32_t zero_point, bool fixed_zero_point, float block_min,
           CodeRange range) {
    const search_steps::RankCandidate candidate = search_steps::rank_candidate(
        inverse_base, step, zero_point, fixed_zero_point, block_min, range, rankable[index]);
    inverse[index] = candidate.inverse;
    low[index] = candidate.low;
    high[index] = candidate.high;
  }

  simd::LaneRankCandidates view(int first, int group_count) const {
    const int offset = first * kLanes;
    return {group_count, inverse + offset, low + offset, high + offset};
  }
};

// The best-ranked candidate of a block so far.
struct Ranked {
  search_steps::RankScore score;
  int base = -1;
  int step = 0;

  void consider(const search_steps::RankScore& candidate_score, int candidate_base, int candidate_step) {
    if (!search_steps::ranks_above(candidate_score, score)) return;
    *this = {candidate_score, candidate_base, candidate_step};
  }
};

inline search_steps::RankScore lane_score(const simd::LaneRankSums& sums, int lane, double n, double sum_x,
                                   bool fixed_zero_point) {
  return search_steps::rank_score({sums.sum_q[lane], sums.sum_qq[lane], sums.sum_qx[lane]}, {n, sum_x},
                                  fixed_zero_point);
}

}  // namespace

void search_scale_lanes(const LaneValues& values, int lanes, CodeRange range, const ScaleChoice* initial,
                        bool fixed_zero_point, StoreScale store, bool allow_sign_flip, ScaleChoice* best,
                        double* initial_error) {
  const simd::Primitives& primitives = simd::primitives();
  LaneChoices initial_choices;
  for (int lane = 0; lane < kLanes; ++lane) set_lane(initial_choices, lane, lane < lanes ? initial[lane] : kIdleChoice);
  double best_error[kLanes];
  primitives.lane_squared_error(values, initial_choices, range, best_error);
  if (initial_error != nullptr) std::copy_n(best_error, kLanes, initial_error);

  // bases[0] is the min/max scale; bases[1] its opposite-sign variant where the search tries one.
  float bases[2][kLanes] = {};
  double inverse_bases[2][kLanes] = {};
  bool searched[2][kLanes] = {};
  for (int lane = 0; lane < kLanes; ++lane) {
    if (lane < lanes) best[lane] = initial[lane];
    if (lane >= lanes || best_error[lane] == 0.0) continue;
    bases[0][lane] = initial[lane].scale;
    searched[0][lane] = true;
    searched[1][lane] =
        search_steps::sign_flip_base(initial[lane], range, fixed_zero_point, allow_sign_flip, bases[1][lane]);
    for (int base = 0; base < 2; ++base) inverse_bases[base][lane] = 1.0 / static_cast<double>(bases[base][lane]);
  }
  if (!any_of(searched[0])) return;

  float block_min[kLanes] = {};
  if (!fixed_zero_point) {
    float block_max[kLanes];
    primitives.lane_range(values, block_min, block_max);
  }

  // The coarse steps of each base, in the reference's order.
  const int base_count = any_of(searched[1]) ? 2 : 1;
  CandidateArrays coarse(base_count * search_steps::kCoarseCount);
  for (int c = 0; c < coarse.count; ++c) {
    const int base = c / search_steps::kCoarseCount;
    const int step = search_steps::kFirstStep + c % search_steps::kCoarseCount * search_steps::kCoarseStride;
    for (int lane = 0; lane < kLanes; ++lane) {
      if (!searched[base][lane]) continue;
      coarse.set(c * kLanes + lane, inverse_bases[base][lane], step, initial[lane].zero_point, fixed_zero_point,
                 block_min[lane], range);
    }
  }
  simd::LaneRankSums sums[2 * search_steps::kCoarseCount];
  double n[kLanes];
  double sum_x[kLanes];
  primitives.lane_rank_sums(values, coarse.view(0, coarse.count), sums, n, sum_x);
  // The lanes are independent, so the candidate loop is the outer one and the lane loop has no
  // branches.
  double best_numerator[kLanes] = {};
  double best_denominator[kLanes];
  int best_index[kLanes];
  std::fill_n(best_denominator, kLanes, 1.0);
  std::fill_n(best_index, kLanes, -1);
  for (int c = 0; c < coarse.count; ++c) {
    for (int lane = 0; lane < kLanes; ++lane) {
      const search_steps::RankScore score = lane_score(sums[c], lane, n[lane], sum_x[lane], fixed_zero_point);
      const bool above = coarse.rankable[c * kLanes + lane] &&
                         score.numerator * best_denominator[lane] > best_numerator[lane] * score.denominator;
      best_numerator[lane] = above ? score.numerator : best_numerator[lane];
      best_denominator[lane] = above ? score.denominator : best_denominator[lane];
      best_index[lane] = above ? c : best_index[lane];
    }
  }
  Ranked ranked[kLanes];
  for (int lane = 0; lane < kLanes; ++lane) {
    const int c = best_index[lane];
    if (c < 0) continue;
    ranked[lane] = {{best_numerator[lane], best_denominator[lane]},
                    c / search_steps::kCoarseCount,
                    search_steps::kFirstStep + c % search_steps::kCoarseCount * search_steps::kCoarseStride};
  }

  // The steps next to each lane's best coarse step.
  CandidateArrays fine(2);
  for (int lane = 0; lane < kLanes; ++lane) {
    const Ranked& lane_best = ranked[lane];
    if (lane_best.base < 0) continue;
    for (int side = 0; side < 2; ++side) {
      const int step = lane_best.step + (side == 0 ? -1 : 1);
      if (step < search_steps::kFirstStep || step > search_steps::kLastStep) continue;
      fine.set(side * kLanes + lane, inverse_bases[lane_best.base][lane], step, initial[lane].zero_point,
               fixed_zero_point, block_min[lane], range);
    }
  }
  primitives.lane_rank_sums(values, fine.view(0, fine.count), sums, n, sum_x);
  const Ranked coarse_best[kLanes] = {ranked[0], ranked[1], ranked[2], ranked[3],
                                      ranked[4], ranked[5], ranked[6], ranked[7]};
  for (int side = 0; side < 2; ++side) {
    for (int lane = 0; lane < kLanes; ++lane) {
      if (!fine.rankable[side * kLanes + lane]) continue;
      const int step = coarse_best[lane].step + (side == 0 ? -1 : 1);
      ranked[lane].consider(lane_score(sums[side], lane, n[lane], sum_x[lane], fixed_zero_point),
                            coarse_best[lane].base, step);
    }
  }

  // The refit and exact error of each lane's best-ranked candidate.
  ScaleChoice chosen[kLanes];
  bool found[kLanes] = {};
  for (int lane = 0; lane < kLanes; ++lane) {
    if (ranked[lane].base < 0) continue;
    chosen[lane] = {search_steps::candidate_scale(bases[ranked[lane].base][lane], ranked[lane].step),
                    initial[lane].zero_point};
    found[lane] = true;
  }
  if (!any_of(found)) return;
  CandidateResults results;
  evaluate_candidates(values, block_min, range, fixed_zero_point, store, chosen, found, results);
  for (int lane = 0; lane < kLanes; ++lane) {
    if (found[lane] && results.refitted[lane] && results.error[lane] < best_error[lane]) best[lane] = results.fitted[lane];
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

  std::vector<float> bases = {initial.scale};
  float flipped = 0.0f;
  if (search_steps::sign_flip_base(initial, range, fixed_zero_point, allow_sign_flip, flipped)) {
    bases.push_back(flipped);
  }
  float block_min[kLanes] = {};
  if (!fixed_zero_point) {
    float max = 0.0f;
    primitives.range(values.data(), static_cast<int64_t>(values.size()), block_min[0], max);
    std::fill_n(block_min + 1, kLanes - 1, block_min[0]);
  }
  const auto inverse_base = [&](int base) { return 1.0 / static_cast<double>(bases[static_cast<size_t>(base)]); };

  // The coarse steps in the reference's order, eight candidates to a group, one per lane.
  const int total = static_cast<int>(bases.size()) * search_steps::kCoarseCount;
  CandidateArrays coarse(static_cast<int>(tasks_for(total, kLanes)));
  for (int index = 0; index < total; ++index) {
    coarse.set(index, inverse_base(index / search_steps::kCoarseCount),
               search_steps::kFirstStep + index % search_steps::kCoarseCount * search_steps::kCoarseStride,
               initial.zero_point, fixed_zero_point, block_min[0], range);
  }
  std::vector<simd::LaneRankSums> sums(static_cast<size_t>(coarse.count));
  std::vector<double> n(static_cast<size_t>(coarse.count) * kLanes);
  std::vector<double> sum_x(n.size());
  parallel_for(coarse.count, threads, [&](int64_t group) {
    const auto g = static_cast<size_t>(group);
    primitives.lane_rank_sums(block, coarse.view(static_cast<int>(group), 1), &sums[g], &n[g * kLanes],
                              &sum_x[g * kLanes]);
  });
  Ranked ranked;
  for (int index = 0; index < total; ++index) {
    if (!coarse.rankable[index]) continue;
    const auto at = static_cast<size_t>(index);
    ranked.consider(lane_score(sums[at / kLanes], index % kLanes, n[at], sum_x[at], fixed_zero_point),
                    index / search_steps::kCoarseCount,
                    search_steps::kFirstStep + index % search_steps::kCoarseCount * search_steps::kCoarseStride);
  }
  if (ranked.base < 0) return initial;

  // The two steps next to the best coarse step, in lanes 0 and 1.
  const Ranked coarse_best = ranked;
  CandidateArrays fine(1);
  for (int side = 0; side < 2; ++side) {
    const int step = coarse_best.step + (side == 0 ? -1 : 1);
    if (step < search_steps::kFirstStep || step > search_steps::kLastStep) continue;
    fine.set(side, inverse_base(coarse_best.base), step, initial.zero_point, fixed_zero_point, block_min[0], range);
  }
  primitives.lane_rank_sums(block, fine.view(0, 1), sums.data(), n.data(), sum_x.data());
  for (int side = 0; side < 2; ++side) {
    if (!fine.rankable[side]) continue;
    ranked.consider(lane_score(sums[0], side, n[static_cast<size_t>(side)], sum_x[static_cast<size_t>(side)],
                               fixed_zero_point),
                    coarse_best.base, coarse_best.step + (side == 0 ? -1 : 1));
  }

  ScaleChoice chosen[kLanes] = {};
  bool found[kLanes] = {};
  chosen[0] = {search_steps::candidate_scale(bases[static_cast<size_t>(ranked.base)], ranked.step), initial.zero_point};
  found[0] = true;
  CandidateResults results;
  evaluate_candidates(block, block_min, range, fixed_zero_point, store, chosen, found, results);
  if (results.refitted[0] && results.error[0] < initial_error[0]) return results.fitted[0];
  return initial;
}

}  // namespace onnxquant::kernels
