// The progress callback of quantize_model, and the progress text of the command line.
#include <spdlog/sinks/null_sink.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cli/progress_display.hpp"
#include "cli/status_line_sink.hpp"
#include "onnxquant/quantize.hpp"
#include "test_models.hpp"

namespace onnxquant {
namespace {

using testing::add_weight;
using testing::parse_model;

// Three MatMul weights of different sizes, and one that only an Add reads (not a candidate).
onnx::ModelProto three_matmul_model() {
  onnx::ModelProto model = parse_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 17]>
g (float[B, 64] x) => (float[B, 16] y) {
  h1 = MatMul (x, w1)
  h2 = MatMul (h1, w2)
  h3 = MatMul (h2, w3)
  y = Add (h3, bias)
}
)ONNX");
  auto& graph = *model.mutable_graph();
  add_weight(graph, "w1", {64, 128}, 1);
  add_weight(graph, "w2", {128, 32}, 2);
  add_weight(graph, "w3", {32, 16}, 3);
  add_weight(graph, "bias", {16}, 4);
  return model;
}

constexpr uint64_t kCandidateBytes = (64 * 128 + 128 * 32 + 32 * 16) * sizeof(float);

std::vector<QuantizeProgress> record_progress(onnx::ModelProto& model, const QuantizeOptions& options) {
  std::vector<QuantizeProgress> calls;
  Report report;
  quantize_model(model, options, report, [&](const QuantizeProgress& progress) { calls.push_back(progress); });
  return calls;
}

void expect_monotonic_to_totals(const std::vector<QuantizeProgress>& calls, uint64_t tensors, uint64_t bytes) {
  ASSERT_FALSE(calls.empty());
  for (size_t i = 0; i < calls.size(); ++i) {
    SCOPED_TRACE(::testing::Message() << "call " << i);
    EXPECT_EQ(calls[i].tensors_total, tensors);
    EXPECT_EQ(calls[i].bytes_total, bytes);
    EXPECT_LE(calls[i].tensors_done, calls[i].tensors_total);
    EXPECT_LE(calls[i].bytes_done, calls[i].bytes_total);
    if (i == 0) continue;
    EXPECT_GT(calls[i].tensors_done, calls[i - 1].tensors_done);
    EXPECT_GE(calls[i].bytes_done, calls[i - 1].bytes_done);
  }
  EXPECT_EQ(calls.back().tensors_done, tensors);
  EXPECT_EQ(calls.back().bytes_done, bytes);
}

TEST(QuantizeProgress, Int8ReportsEachWeight) {
  onnx::ModelProto model = three_matmul_model();
  QuantizeOptions options;
  options.min_elements = 0;
  const std::vector<QuantizeProgress> calls = record_progress(model, options);

  ASSERT_EQ(calls.size(), 4u);
  EXPECT_EQ(calls.front().tensors_done, 0u);
  EXPECT_EQ(calls.front().bytes_done, 0u);
  expect_monotonic_to_totals(calls, 3, kCandidateBytes);
}

TEST(QuantizeProgress, Int4CountsWeightsKeptFloat) {
  onnx::ModelProto model = three_matmul_model();
  QuantizeOptions options;
  options.precision = Precision::kInt4;
  options.min_elements = 0;
  // w3 is a candidate, but its pass keeps it float because it has NaN.
  auto* w3 = model.mutable_graph()->mutable_initializer(2);
  std::vector<float> values = io::read_float_values(*w3);
  values[7] = std::numeric_limits<float>::quiet_NaN();
  *w3 = io::make_float_tensor("w3", {32, 16}, values);

  const std::vector<QuantizeProgress> calls = record_progress(model, options);

  ASSERT_EQ(calls.size(), 4u);
  expect_monotonic_to_totals(calls, 3, kCandidateBytes);
}

TEST(QuantizeProgress, Fp16ReportsOnceAtEnd) {
  onnx::ModelProto model = three_matmul_model();
  QuantizeOptions options;
  options.precision = Precision::kFp16;
  options.min_elements = 0;
  const std::vector<QuantizeProgress> calls = record_progress(model, options);

  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].tensors_done, calls[0].tensors_total);
  EXPECT_EQ(calls[0].bytes_done, calls[0].bytes_total);
  // The bias is converted too, because Add computes in float16.
  EXPECT_EQ(calls[0].tensors_total, 4u);
  EXPECT_EQ(calls[0].bytes_total, kCandidateBytes + 16 * sizeof(float));
}

TEST(QuantizeProgress, EmptyCallbackAccepted) {
  onnx::ModelProto model = three_matmul_model();
  QuantizeOptions options;
  options.min_elements = 0;
  Report report;
  EXPECT_NO_THROW(quantize_model(model, options, report, ProgressCallback{}));
  EXPECT_EQ(report.tensors.size(), 3u);
}

TEST(ProgressText, DurationFormats) {
  EXPECT_EQ(cli::format_duration(0.0), "0:00");
  EXPECT_EQ(cli::format_duration(7.4), "0:07");
  EXPECT_EQ(cli::format_duration(62.0), "1:02");
  EXPECT_EQ(cli::format_duration(3723.0), "1:02:03");
  EXPECT_EQ(cli::format_duration(-5.0), "0:00");
}

TEST(ProgressText, RateAndTimeLeftFromBytes) {
  QuantizeProgress progress{10, 40, 100'000'000, 400'000'000};
  EXPECT_EQ(cli::describe_progress(progress, 4.0),
            "10/40 tensors, 100.0/400.0 MB, 25.0 MB/s, 0:04 elapsed, 0:12 left");
}

TEST(ProgressText, UnknownRateBeforeFirstBytes) {
  QuantizeProgress progress{0, 3, 0, 1'500'000};
  EXPECT_EQ(cli::describe_progress(progress, 0.0), "0/3 tensors, 0.0/1.5 MB, -- MB/s, 0:00 elapsed, -- left");
}

TEST(ProgressText, GigabytesForLargeModels) {
  QuantizeProgress progress{1, 2, 1'250'000'000, 2'500'000'000};
  EXPECT_EQ(cli::describe_progress(progress, 10.0),
            "1/2 tensors, 1.25/2.50 GB, 125.0 MB/s, 0:10 elapsed, 0:10 left");
}

TEST(ProgressText, BarFillsWithFraction) {
  EXPECT_EQ(cli::progress_bar(0.0, 12), "[>         ]");
  EXPECT_EQ(cli::progress_bar(0.5, 12), "[=====>    ]");
  EXPECT_EQ(cli::progress_bar(1.0, 12), "[==========]");
  EXPECT_EQ(cli::progress_bar(2.0, 12), "[==========]");
  EXPECT_EQ(cli::progress_bar(0.5, 12).size(), 12u);
}

// Makes a logger that writes into `stream` the default logger while it exists.
class CapturedLog {
 public:
  explicit CapturedLog(std::ostringstream& stream)
      : previous_(spdlog::default_logger()),
        logger_(std::make_shared<spdlog::logger>("captured", std::make_shared<spdlog::sinks::ostream_sink_mt>(stream))) {
    logger_->set_pattern("[%l] %v");
    logger_->set_level(spdlog::level::info);
    spdlog::set_default_logger(logger_);
  }
  ~CapturedLog() { spdlog::set_default_logger(previous_); }

 private:
  std::shared_ptr<spdlog::logger> previous_;
  std::shared_ptr<spdlog::logger> logger_;
};

// A temporary file in place of a terminal, with a status line sink that writes to it and forwards
// log messages nowhere.
class FakeTerminal {
 public:
  FakeTerminal() : file_(std::tmpfile()) {
    EXPECT_NE(file_, nullptr);
    sink_ = std::make_shared<cli::StatusLineSink>(std::make_shared<spdlog::sinks::null_sink_mt>(), file_);
  }
  ~FakeTerminal() { std::fclose(file_); }
  FakeTerminal(const FakeTerminal&) = delete;
  FakeTerminal& operator=(const FakeTerminal&) = delete;

  const std::shared_ptr<cli::StatusLineSink>& sink() const { return sink_; }

  // The bytes written so far.
  std::string written() const {
    std::fflush(file_);
    std::rewind(file_);
    std::string text;
    for (int c = std::fgetc(file_); c != EOF; c = std::fgetc(file_)) text += static_cast<char>(c);
    return text;
  }

 private:
  std::FILE* file_;
  std::shared_ptr<cli::StatusLineSink> sink_;
};

TEST(ProgressDisplay, LogLinesWithoutTerminal) {
  std::ostringstream stream;
  {
    CapturedLog log(stream);
    cli::ProgressDisplay display(nullptr, std::chrono::milliseconds(0));
    display.update({0, 2, 0, 2'000'000});
    display.update({1, 2, 1'000'000, 2'000'000});
    display.update({2, 2, 2'000'000, 2'000'000});
  }
  const std::string text = stream.str();
  EXPECT_EQ(text.find("0/2 tensors"), std::string::npos);
  EXPECT_NE(text.find("[info] progress: 1/2 tensors, 1.0/2.0 MB"), std::string::npos);
  EXPECT_NE(text.find("[info] progress: 2/2 tensors, 2.0/2.0 MB"), std::string::npos);
  EXPECT_EQ(text.find('\r'), std::string::npos);
  EXPECT_EQ(text.find('\x1b'), std::string::npos);
}

TEST(ProgressDisplay, NoLogLinesWithinInterval) {
  std::ostringstream stream;
  {
    CapturedLog log(stream);
    cli::ProgressDisplay display(nullptr);
    display.update({0, 2, 0, 2'000'000});
    display.update({1, 2, 1'000'000, 2'000'000});
    display.update({2, 2, 2'000'000, 2'000'000});
  }
  EXPECT_EQ(stream.str(), "");
}

TEST(ProgressDisplay, TerminalBarKeptAfterLastWeight) {
  FakeTerminal terminal;
  {
    cli::ProgressDisplay display(terminal.sink());
    display.update({0, 2, 0, 2'000'000});
    display.update({2, 2, 2'000'000, 2'000'000});
  }
  const std::string text = terminal.written();
  EXPECT_EQ(text.rfind("\r\x1b[K[>", 0), 0u) << text;
  EXPECT_NE(text.find("0/2 tensors"), std::string::npos);
  EXPECT_NE(text.find("\r\x1b[K[="), std::string::npos);
  // The final state ends with a line break, and the display's destructor erases nothing after it.
  EXPECT_NE(text.find("2/2 tensors, 2.0/2.0 MB"), std::string::npos);
  EXPECT_EQ(text.back(), '\n');
}

TEST(ProgressDisplay, TerminalBarErasedWhenRunFails) {
  FakeTerminal terminal;
  {
    cli::ProgressDisplay display(terminal.sink());
    display.update({0, 2, 0, 2'000'000});
  }
  const std::string text = terminal.written();
  const std::string erase = "\r\x1b[K";
  ASSERT_GE(text.size(), erase.size());
  EXPECT_EQ(text.substr(text.size() - erase.size()), erase);
}

TEST(StatusLineSink, LogLineRedrawsStatus) {
  FakeTerminal terminal;
  spdlog::logger logger("status", terminal.sink());
  terminal.sink()->set_status("working");
  logger.info("message");
  terminal.sink()->end_status(false);
  // Drawn, erased for the log line, drawn again, erased at the end.
  EXPECT_EQ(terminal.written(), "\r\x1b[Kworking\r\x1b[K\r\x1b[Kworking\r\x1b[K");
}

}  // namespace
}  // namespace onnxquant
