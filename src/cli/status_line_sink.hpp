// A log sink for a terminal that keeps one status line, such as a progress bar, below the log.
#pragma once

#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

#include <spdlog/sinks/base_sink.h>

namespace onnxquant::cli {

// Forwards every log message to `inner`, which must write to `terminal`. While a status line is
// shown, each message erases it first and draws it again below the message.
class StatusLineSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  StatusLineSink(std::shared_ptr<spdlog::sinks::sink> inner, std::FILE* terminal);

  // Draws `line` in place of the current status line. `line` must fit the terminal's width and
  // contain no line break.
  void set_status(const std::string& line);
  // Ends the status line: `keep` leaves its last text as an ordinary line, otherwise it is erased.
  void end_status(bool keep);

 protected:
  void sink_it_(const spdlog::details::log_msg& message) override;
  void flush_() override;
  void set_pattern_(const std::string& pattern) override;
  void set_formatter_(std::unique_ptr<spdlog::formatter> formatter) override;

 private:
  void erase_status();
  void draw_status();

  std::shared_ptr<spdlog::sinks::sink> inner_;
  std::FILE* terminal_;
  std::string status_;  // empty while no status line is shown
};

}  // namespace onnxquant::cli
