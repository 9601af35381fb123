#include "cli/status_line_sink.hpp"

namespace onnxquant::cli {
namespace {

// Carriage return, then ANSI "erase to the end of the line" (ECMA-48 EL).
constexpr const char* kEraseLine = "\r\x1b[K";

}  // namespace

StatusLineSink::StatusLineSink(std::shared_ptr<spdlog::sinks::sink> inner, std::FILE* terminal)
    : inner_(std::move(inner)), terminal_(terminal) {}

void StatusLineSink::set_status(const std::string& line) {
  std::lock_guard<std::mutex> lock(mutex_);
  status_ = line;
  draw_status();
}

void StatusLineSink::end_status(bool keep) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (status_.empty()) return;
  std::fputs(keep ? "\n" : kEraseLine, terminal_);
  std::fflush(terminal_);
  status_.clear();
}

void StatusLineSink::sink_it_(const spdlog::details::log_msg& message) {
  erase_status();
  inner_->log(message);
  inner_->flush();
  draw_status();
}

void StatusLineSink::flush_() { inner_->flush(); }

void StatusLineSink::set_pattern_(const std::string& pattern) { inner_->set_pattern(pattern); }

void StatusLineSink::set_formatter_(std::unique_ptr<spdlog::formatter> formatter) {
  inner_->set_formatter(std::move(formatter));
}

void StatusLineSink::erase_status() {
  if (status_.empty()) return;
  std::fputs(kEraseLine, terminal_);
  std::fflush(terminal_);
}

void StatusLineSink::draw_status() {
  if (status_.empty()) return;
  std::fputs(kEraseLine, terminal_);
  std::fputs(status_.c_str(), terminal_);
  std::fflush(terminal_);
}

}  // namespace onnxquant::cli
