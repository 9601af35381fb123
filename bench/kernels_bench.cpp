// Throughput of the numeric kernels: the scalar reference against the fast kernels on 1 and 2
// threads, on one float32 weight of --rows x --columns (default 3072 x 8192, the shape of a
// Phi-3-mini MLP weight). Throughput is GB/s of float32 input: rows * columns * 4 bytes divided by
// the time of one call. Each fast result is compared with the reference's, and the program exits
// with 1 when one differs.
//
// --clock wall (the default) times calls by the wall clock. --clock cpu divides by the CPU time
// of the process (all its threads) instead. That keeps single-thread figures meaningful on a
// machine that other jobs load. For 2 threads it gives the throughput per CPU-second of both
// threads together.
//
//   kernels_bench [--rows K] [--columns N] [--min-seconds S] [--filter TEXT] [--clock wall|cpu]
#include <time.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kernels/axis_block_quantization.hpp"
#include "kernels/block_quantization.hpp"
#include "kernels/dequantize.hpp"
#include "kernels/error_metrics.hpp"
#include "kernels/float16.hpp"
#include "kernels/linear_quantization.hpp"
#include "kernels/simd.hpp"

namespace {

using namespace onnxquant::kernels;

struct Settings {
  int64_t rows = 3072;
  int64_t columns = 8192;
  double min_seconds = 0.5;
  std::string filter;
  bool cpu_clock = false;
};

// One kernel: `reference` and `fast(threads)` each run it once and return whether its output
// equals the reference output that the first reference run stored.
struct Kernel {
  std::string name;
  std::function<void()> reference;
  std::function<bool(int)> fast;
};

double now_seconds(bool cpu_clock) {
  if (!cpu_clock) return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  timespec time{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time);
  return static_cast<double>(time.tv_sec) + static_cast<double>(time.tv_nsec) * 1.0e-9;
}

// Seconds per call: the calls repeat until they take `min_seconds` together (at least one call).
double seconds_per_call(const std::function<void()>& call, const Settings& settings) {
  int calls = 0;
  const double start = now_seconds(settings.cpu_clock);
  double elapsed = 0.0;
  do {
    call();
    ++calls;
    elapsed = now_seconds(settings.cpu_clock) - start;
  } while (elapsed < settings.min_seconds);
  return elapsed / calls;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

bool same_blocks(const BlockQuantized& a, const BlockQuantized& b) {
  return a.packed == b.packed && same_bits(a.scales, b.scales) && a.zero_points == b.zero_points;
}

bool same_axis_blocks(const AxisBlockQuantized& a, const AxisBlockQuantized& b) {
  return a.codes == b.codes && same_bits(a.scales, b.scales) && a.zero_points == b.zero_points;
}

bool same_params(const std::vector<LinearQuantParams>& a, const std::vector<LinearQuantParams>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::memcmp(&a[i].scale, &b[i].scale, sizeof(float)) != 0 || a[i].zero_point != b[i].zero_point) return false;
  }
  return true;
}

// Error metrics add in another order than the reference; they agree to this relative bound.
bool close_metrics(const ErrorMetrics& a, const ErrorMetrics& b) {
  constexpr double kTolerance = 1.0e-9;
  auto close = [](double x, double y) { return x == y || std::fabs(x - y) <= kTolerance * std::fabs(y); };
  return close(a.mse, b.mse) && a.max_abs_error == b.max_abs_error && close(a.sqnr_db, b.sqnr_db) &&
         close(a.cosine_similarity, b.cosine_similarity);
}

// A weight with the spread of a trained projection: N(0, 0.02) with one value in 1000 ten times larger.
std::vector<float> make_weight(int64_t count) {
  std::mt19937 generator(7);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::uniform_int_distribution<int> one_in_thousand(0, 999);
  std::vector<float> weight(static_cast<size_t>(count));
  for (float& x : weight) x = normal(generator) * (one_in_thousand(generator) == 0 ? 10.0f : 1.0f);
  return weight;
}

// The block kernels on MatMulNBits and DequantizeLinear layouts.
void add_block_kernels(std::vector<Kernel>& kernels, const std::vector<float>& weight, int64_t k, int64_t n) {
  struct BlockRun {
    const char* name;
    int64_t bits;
    bool symmetric;
    bool search;
  };
  for (const BlockRun run : {BlockRun{"int4 blocks 32 symmetric, min/max", 4, true, false},
                             BlockRun{"int4 blocks 32 symmetric, MSE search", 4, true, true},
                             BlockRun{"int4 blocks 32 asymmetric, MSE search", 4, false, true},
                             BlockRun{"int8 blocks 32 asymmetric, min/max", 8, false, false}}) {
    auto expected = std::make_shared<BlockQuantized>();
    kernels.push_back({run.name,
                       [=, &weight] {
                         *expected = reference::quantize_blockwise(weight, k, n, 32, run.bits, run.symmetric,
                                                                   ScaleType::kFloat32, run.search);
                       },
                       [=, &weight](int threads) {
                         return same_blocks(quantize_blockwise(weight, k, n, 32, run.bits, run.symmetric,
                                                               ScaleType::kFloat32, run.search, threads),
                                            *expected);
                       }});
  }

  auto quantized = std::make_shared<BlockQuantized>(quantize_blockwise(weight, k, n, 32, 4, true, ScaleType::kFloat32));
  auto restored = std::make_shared<std::vector<float>>();
  kernels.push_back({"int4 blocks 32 dequantize", [=] { *restored = reference::dequantize_blockwise(*quantized); },
                     [=](int threads) { return same_bits(dequantize_blockwise(*quantized, threads), *restored); }});

  for (bool search : {false, true}) {
    auto expected = std::make_shared<AxisBlockQuantized>();
    kernels.push_back(
        {search ? "int4 QDQ blocks 32 symmetric, MSE search" : "int4 QDQ blocks 32 symmetric, min/max",
         [=, &weight] {
           *expected = reference::quantize_axis_blocks_4bit(weight, k, n, 32, true, ScaleType::kFloat32, search);
         },
         [=, &weight](int threads) {
           return same_axis_blocks(quantize_axis_blocks_4bit(weight, k, n, 32, true, ScaleType::kFloat32, search,
                                                             threads),
                                   *expected);
         }});
  }
  auto axis =
      std::make_shared<AxisBlockQuantized>(quantize_axis_blocks_4bit(weight, k, n, 32, true, ScaleType::kFloat32));
  auto packed = std::make_shared<std::vector<uint8_t>>();
  kernels.push_back({"int4 nibble packing", [=] { *packed = reference::pack_4bit(axis->codes); },
                     [=](int threads) { return pack_4bit(axis->codes, threads) == *packed; }});
}

// Per-tensor and per-channel INT8 (MatMul B [K, N] quantized along N).
void add_linear_kernels(std::vector<Kernel>& kernels, const std::vector<float>& weight, int64_t k, int64_t n) {
  struct LinearRun {
    const char* name;
    AxisLayout layout;
    bool search;
  };
  for (const LinearRun run : {LinearRun{"int8 per-tensor scale (min/max)", {1, 1, k * n}, false},
                              LinearRun{"int8 per-tensor scale, MSE search", {1, 1, k * n}, true},
                              LinearRun{"int8 per-channel scales (min/max)", {k, n, 1}, false},
                              LinearRun{"int8 per-channel scales, MSE search", {k, n, 1}, true}}) {
    auto expected = std::make_shared<std::vector<LinearQuantParams>>();
    kernels.push_back({run.name,
                       [=, &weight] {
                         *expected = reference::choose_linear_params(weight, run.layout, true, kInt8SymmetricRange,
                                                                     run.search);
                       },
                       [=, &weight](int threads) {
                         return same_params(choose_linear_params(weight, run.layout, true, kInt8SymmetricRange,
                                                                 run.search, threads),
                                            *expected);
                       }});
  }

  const AxisLayout layout{k, n, 1};
  auto params = std::make_shared<std::vector<LinearQuantParams>>(
      choose_linear_params(weight, layout, true, kInt8SymmetricRange));
  auto codes = std::make_shared<std::vector<uint8_t>>(weight.size());
  auto expected_codes = std::make_shared<std::vector<uint8_t>>(weight.size());
  kernels.push_back({"int8 per-channel quantize",
                     [=, &weight] {
                       reference::quantize_linear(weight, layout, *params, kInt8SymmetricRange, *expected_codes);
                     },
                     [=, &weight](int threads) {
                       quantize_linear(weight, layout, *params, kInt8SymmetricRange, *codes, threads);
                       return *codes == *expected_codes;
                     }});
  auto restored = std::make_shared<std::vector<float>>(weight.size());
  auto expected_restored = std::make_shared<std::vector<float>>(weight.size());
  kernels.push_back({"int8 per-channel dequantize",
                     [=] { reference::dequantize_linear(*expected_codes, layout, *params, true, *expected_restored); },
                     [=](int threads) {
                       dequantize_linear(*expected_codes, layout, *params, true, *restored, threads);
                       return same_bits(*restored, *expected_restored);
                     }});
}

void add_float_kernels(std::vector<Kernel>& kernels, const std::vector<float>& weight) {
  auto halves = std::make_shared<std::vector<uint16_t>>(weight.size());
  auto expected_halves = std::make_shared<std::vector<uint16_t>>(weight.size());
  kernels.push_back({"float32 -> float16",
                     [=, &weight] {
                       for (size_t i = 0; i < weight.size(); ++i) (*expected_halves)[i] = float_to_half(weight[i]);
                     },
                     [=, &weight](int threads) {
                       convert_float_to_half(weight, *halves, threads);
                       return *halves == *expected_halves;
                     }});
  auto floats = std::make_shared<std::vector<float>>(weight.size());
  auto expected_floats = std::make_shared<std::vector<float>>(weight.size());
  kernels.push_back({"float16 -> float32",
                     [=] {
                       for (size_t i = 0; i < floats->size(); ++i) {
                         (*expected_floats)[i] = half_to_float((*expected_halves)[i]);
                       }
                     },
                     [=](int threads) {
                       convert_half_to_float(*expected_halves, *floats, threads);
                       return same_bits(*floats, *expected_floats);
                     }});
  auto brains = std::make_shared<std::vector<uint16_t>>(weight.size());
  auto expected_brains = std::make_shared<std::vector<uint16_t>>(weight.size());
  kernels.push_back({"float32 -> bfloat16",
                     [=, &weight] {
                       for (size_t i = 0; i < weight.size(); ++i) (*expected_brains)[i] = float_to_bfloat16(weight[i]);
                     },
                     [=, &weight](int threads) {
                       convert_float_to_bfloat16(weight, *brains, threads);
                       return *brains == *expected_brains;
                     }});
  kernels.push_back({"bfloat16 -> float32",
                     [=] {
                       for (size_t i = 0; i < floats->size(); ++i) {
                         (*expected_floats)[i] = bfloat16_to_float((*expected_brains)[i]);
                       }
                     },
                     [=](int threads) {
                       convert_bfloat16_to_float(*expected_brains, *floats, threads);
                       return same_bits(*floats, *expected_floats);
                     }});
}

void add_error_kernels(std::vector<Kernel>& kernels, const std::vector<float>& weight, int64_t k, int64_t n) {
  auto restored = std::make_shared<std::vector<float>>(
      dequantize_blockwise(quantize_blockwise(weight, k, n, 32, 4, true, ScaleType::kFloat32)));
  auto expected = std::make_shared<ErrorMetrics>();
  kernels.push_back({"error metrics (SQNR, MSE, max, cosine)",
                     [=, &weight] { *expected = reference::measure_error(weight, *restored); },
                     [=, &weight](int threads) {
                       return close_metrics(measure_error(weight, *restored, threads), *expected);
                     }});

  // DequantizeLinear of int8 codes with one scale per column, as -p fp32 restores them.
  auto codes = std::make_shared<std::vector<uint8_t>>(weight.size());
  for (size_t i = 0; i < codes->size(); ++i) (*codes)[i] = static_cast<uint8_t>(i * 131);
  auto scales = std::make_shared<std::vector<float>>(static_cast<size_t>(n), 0.01f);
  const std::vector<int64_t> dims = {k, n};
  auto values = std::make_shared<std::vector<float>>();
  kernels.push_back({"DequantizeLinear int8 per-axis",
                     [=] {
                       *values = reference::dequantize_codes(*codes, CodeType::kInt8, k * n, *scales, {},
                                                             CodeType::kInt8, dims, 1, 0);
                     },
                     [=](int threads) {
                       return same_bits(dequantize_codes(*codes, CodeType::kInt8, k * n, *scales, {}, CodeType::kInt8,
                                                         dims, 1, 0, threads),
                                        *values);
                     }});
}

bool parse(int argc, char** argv, Settings& settings) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string option = argv[i];
    const std::string value = argv[i + 1];
    if (option == "--rows") {
      settings.rows = std::stoll(value);
    } else if (option == "--columns") {
      settings.columns = std::stoll(value);
    } else if (option == "--min-seconds") {
      settings.min_seconds = std::stod(value);
    } else if (option == "--filter") {
      settings.filter = value;
    } else if (option == "--clock" && (value == "wall" || value == "cpu")) {
      settings.cpu_clock = value == "cpu";
    } else {
      return false;
    }
  }
  return argc % 2 == 1 && settings.rows > 0 && settings.columns > 0;
}

}  // namespace

int main(int argc, char** argv) {
  Settings settings;
  if (!parse(argc, argv, settings)) {
    std::fprintf(stderr,
                 "usage: kernels_bench [--rows K] [--columns N] [--min-seconds S] [--filter TEXT] "
                 "[--clock wall|cpu]\n");
    return 2;
  }
  const int64_t k = settings.rows;
  const int64_t n = settings.columns;
  const std::vector<float> weight = make_weight(k * n);
  const double gigabytes = static_cast<double>(weight.size()) * sizeof(float) / 1.0e9;

  std::vector<Kernel> kernels;
  add_float_kernels(kernels, weight);
  add_block_kernels(kernels, weight, k, n);
  add_linear_kernels(kernels, weight, k, n);
  add_error_kernels(kernels, weight, k, n);

  std::printf("weight [%lld, %lld] float32 (%.1f MB), vector primitives: %s, hardware threads: %u\n",
              static_cast<long long>(k), static_cast<long long>(n), gigabytes * 1000.0, to_string(simd_level()),
              std::thread::hardware_concurrency());
  std::printf("GB/s of float32 input by %s time (higher is better); speed-up against the scalar reference\n\n",
              settings.cpu_clock ? "CPU" : "wall-clock");
  std::printf("%-42s %11s %11s %11s %9s %9s\n", "kernel", "reference", "fast 1 thr", "fast 2 thr", "x 1 thr",
              "x 2 thr");
  bool all_match = true;
  for (const Kernel& kernel : kernels) {
    if (!settings.filter.empty() && kernel.name.find(settings.filter) == std::string::npos) continue;
    const double reference_seconds = seconds_per_call(kernel.reference, settings);
    double fast_seconds[2] = {};
    for (int threads : {1, 2}) {
      bool match = true;
      fast_seconds[threads - 1] =
          seconds_per_call([&] { match = kernel.fast(threads) && match; }, settings);
      if (!match) {
        std::printf("%s: the fast result on %d thread(s) differs from the reference\n", kernel.name.c_str(), threads);
        all_match = false;
      }
    }
    std::printf("%-42s %11.3f %11.3f %11.3f %9.1f %9.1f\n", kernel.name.c_str(), gigabytes / reference_seconds,
                gigabytes / fast_seconds[0], gigabytes / fast_seconds[1], reference_seconds / fast_seconds[0],
                reference_seconds / fast_seconds[1]);
    std::fflush(stdout);
  }
  return all_match ? 0 : 1;
}
