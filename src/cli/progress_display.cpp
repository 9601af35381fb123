#include "cli/progress_display.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <unistd.h>

namespace onnxquant::cli {
namespace {

constexpr double kBytesPerMegabyte = 1e6;
constexpr double kBytesPerGigabyte = 1e9;
// The bar takes the columns that the text leaves, within these bounds.
constexpr size_t kMinBarWidth = 10;
constexpr size_t kMaxBarWidth = 30;
// Used when the terminal does not report its width.
constexpr size_t kDefaultTerminalColumns = 80;

size_t terminal_columns() {
  winsize size{};
  if (ioctl(fileno(stderr), TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  return kDefaultTerminalColumns;
}

double fraction_done(const QuantizeProgress& progress) {
  if (progress.bytes_total > 0) {
    return static_cast<double>(progress.bytes_done) / static_cast<double>(progress.bytes_total);
  }
  if (progress.tensors_total > 0) {
    return static_cast<double>(progress.tensors_done) / static_cast<double>(progress.tensors_total);
  }
  return 1.0;
}

bool is_finished(const QuantizeProgress& progress) { return progress.tensors_done >= progress.tensors_total; }

// "done/total MB", or GB from 1 GB on.
std::string format_byte_counts(uint64_t done, uint64_t total) {
  if (static_cast<double>(total) >= kBytesPerGigabyte) {
    return fmt::format("{:.2f}/{:.2f} GB", static_cast<double>(done) / kBytesPerGigabyte,
                       static_cast<double>(total) / kBytesPerGigabyte);
  }
  return fmt::format("{:.1f}/{:.1f} MB", static_cast<double>(done) / kBytesPerMegabyte,
                     static_cast<double>(total) / kBytesPerMegabyte);
}

}  // namespace

std::string format_duration(double seconds) {
  const auto total = static_cast<long long>(std::max(0.0, std::round(seconds)));
  if (total >= 3600) return fmt::format("{}:{:02}:{:02}", total / 3600, total / 60 % 60, total % 60);
  return fmt::format("{}:{:02}", total / 60, total % 60);
}

std::string describe_progress(const QuantizeProgress& progress, double elapsed_seconds) {
  std::string rate = "-- MB/s";
  std::string left = "--";
  if (progress.bytes_done > 0 && elapsed_seconds > 0.0) {
    const double bytes_per_second = static_cast<double>(progress.bytes_done) / elapsed_seconds;
    rate = fmt::format("{:.1f} MB/s", bytes_per_second / kBytesPerMegabyte);
    left = format_duration(static_cast<double>(progress.bytes_total - progress.bytes_done) / bytes_per_second);
  }
  return fmt::format("{}/{} tensors, {}, {}, {} elapsed, {} left", progress.tensors_done, progress.tensors_total,
                     format_byte_counts(progress.bytes_done, progress.bytes_total), rate,
                     format_duration(elapsed_seconds), left);
}

std::string progress_bar(double fraction, size_t width) {
  const size_t inner = width > 2 ? width - 2 : 0;
  const auto filled = static_cast<size_t>(std::clamp(fraction, 0.0, 1.0) * static_cast<double>(inner));
  std::string bar = "[";
  bar.append(filled, '=');
  if (filled < inner) {
    bar += '>';
    bar.append(inner - filled - 1, ' ');
  }
  bar += ']';
  return bar;
}

ProgressDisplay::ProgressDisplay(std::shared_ptr<StatusLineSink> status, std::chrono::milliseconds log_interval)
    : status_(std::move(status)), log_interval_(log_interval) {}

ProgressDisplay::~ProgressDisplay() {
  if (status_) status_->end_status(false);
}

void ProgressDisplay::update(const QuantizeProgress& progress) {
  if (progress.tensors_total == 0) return;
  const Clock::time_point now = Clock::now();
  const bool first = !started_;
  if (first) {
    started_ = true;
    start_ = now;
    last_output_ = now;
  }
  const double elapsed = std::chrono::duration<double>(now - start_).count();

  if (!status_) {
    if (first || now - last_output_ < log_interval_) return;
    last_output_ = now;
    spdlog::info("progress: {}", describe_progress(progress, elapsed));
    return;
  }
  const bool finished = is_finished(progress);
  if (!first && !finished && now - last_output_ < kRedrawInterval) return;
  last_output_ = now;
  draw(progress, elapsed);
  if (finished) status_->end_status(true);
}

void ProgressDisplay::draw(const QuantizeProgress& progress, double elapsed_seconds) {
  const std::string text = describe_progress(progress, elapsed_seconds);
  // A line as wide as the terminal would wrap, and the carriage return would then redraw only its
  // tail, so the line stays one column short of the width.
  const size_t columns = terminal_columns();
  const size_t room = columns > text.size() + 2 ? columns - text.size() - 2 : 0;
  std::string line = progress_bar(fraction_done(progress), std::clamp(room, kMinBarWidth, kMaxBarWidth)) + " " + text;
  if (line.size() >= columns) line.resize(columns > 1 ? columns - 1 : 0);
  status_->set_status(line);
}

}  // namespace onnxquant::cli
