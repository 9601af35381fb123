// Quantizes a model to INT4 through the library API and prints the report summary.
//
//   quantize_file MODEL.onnx OUTPUT.onnx
#include <iostream>

#include "onnxquant/errors.hpp"
#include "onnxquant/quantize.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: " << argv[0] << " MODEL.onnx OUTPUT.onnx\n";
    return 2;
  }
  onnxquant::QuantizeFileOptions options;
  options.quantize.precision = onnxquant::Precision::kInt4;
  options.quantize.block_size = 32;
  try {
    const onnxquant::Report report = onnxquant::quantize_file(argv[1], argv[2], options);
    const onnxquant::ReportSummary summary = onnxquant::summarize(report);
    std::cout << summary.quantized_tensors << " tensors quantized, " << summary.skipped_tensors
              << " kept float, compression " << summary.compression_ratio << "x, min SQNR " << summary.min_sqnr_db
              << " dB\n";
  } catch (const onnxquant::Error& error) {
    std::cerr << "error: " << error.what() << "\n";
    return static_cast<int>(error.code());
  }
  return 0;
}
