// Error types that the command line maps to exit codes.
#pragma once

#include <stdexcept>
#include <string>

namespace onnxquant {

// Process exit codes; docs/cli.md lists them for scripts.
enum class ExitCode : int {
  kSuccess = 0,
  kInternalError = 1,
  kUsageError = 2,
  kInvalidModel = 3,
  kIoError = 4,
  kNotImplemented = 5,  // reserved for options that are recognized but not built yet
  // compare, or quantize with evaluation: an accuracy gate (--max-kl, --min-cosine, --max-abs-error,
  // --min-top1) failed. The report and the output are written before the process exits with it.
  kAccuracyGateFailed = 6,
};

// An error the user can cause and fix: a bad option, a broken model, a file that cannot be read.
class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ExitCode code() const { return code_; }

 private:
  ExitCode code_;
};

class UsageError : public Error {
 public:
  explicit UsageError(const std::string& message) : Error(ExitCode::kUsageError, message) {}
};

class ModelError : public Error {
 public:
  explicit ModelError(const std::string& message) : Error(ExitCode::kInvalidModel, message) {}
};

class IoError : public Error {
 public:
  explicit IoError(const std::string& message) : Error(ExitCode::kIoError, message) {}
};

class NotImplementedError : public Error {
 public:
  explicit NotImplementedError(const std::string& message) : Error(ExitCode::kNotImplemented, message) {}
};

}  // namespace onnxquant
