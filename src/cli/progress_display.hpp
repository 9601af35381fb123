// The progress of `onnxquant quantize` on standard error: a bar on a terminal, log lines otherwise.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "cli/status_line_sink.hpp"
#include "onnxquant/quantize.hpp"

namespace onnxquant::cli {

// A terminal bar is redrawn at most this often, besides its first and last state.
inline constexpr std::chrono::milliseconds kRedrawInterval{100};
// Without a terminal, a progress line is logged at most this often.
inline constexpr std::chrono::seconds kLogInterval{5};

// A duration as M:SS, or H:MM:SS from one hour.
std::string format_duration(double seconds);

// A progress state as text, such as "12/40 tensors, 120.5/480.0 MB, 35.2 MB/s, 0:03 elapsed,
// 0:10 left". The rate and time left are estimated from the bytes done since the passes started,
// and shown as "--" while nothing is done. MB are 10^6 bytes, and from 10^9 total bytes on the counts
// are in GB.
std::string describe_progress(const QuantizeProgress& progress, double elapsed_seconds);

// A bar of `width` characters including its brackets, such as "[=====>    ]" for 0.5.
std::string progress_bar(double fraction, size_t width);

// Receives the progress of one run. With a status line, it draws a bar there that it keeps when
// the passes finish and erases when the run fails. Without one, it logs a line at info level
// once every `log_interval`.
class ProgressDisplay {
 public:
  explicit ProgressDisplay(std::shared_ptr<StatusLineSink> status,
                           std::chrono::milliseconds log_interval = kLogInterval);
  ~ProgressDisplay();
  ProgressDisplay(const ProgressDisplay&) = delete;
  ProgressDisplay& operator=(const ProgressDisplay&) = delete;

  void update(const QuantizeProgress& progress);

 private:
  using Clock = std::chrono::steady_clock;

  void draw(const QuantizeProgress& progress, double elapsed_seconds);

  std::shared_ptr<StatusLineSink> status_;
  std::chrono::milliseconds log_interval_;
  bool started_ = false;
  Clock::time_point start_;
  Clock::time_point last_output_;
};

}  // namespace onnxquant::cli
