// Vertical bar charts written as inline SVG, for the HTML report.
#pragma once

#include <limits>
#include <string>
#include <vector>

namespace onnxquant::report {

struct ChartBar {
  // Height in axis units. Positive infinity draws a bar of full height, and NaN draws no bar.
  double value = 0.0;
  // Height of a wider bar drawn behind this one, such as a size before quantization. NaN draws none.
  double background = std::numeric_limits<double>::quiet_NaN();
  std::string css_class;  // added to the class "bar"; the page's stylesheet colors it
  std::string tooltip;    // plain text, shown on hover
  std::string label;      // short plain text above the bar, such as a rank; empty for none
};

// A dashed horizontal line across the plot, such as a warning threshold.
struct ChartLine {
  double value = 0.0;
  std::string label;
};

struct BarChart {
  std::string description;  // plain text for screen readers
  std::string x_label;
  std::string y_label;
  // Values are divided by this before they are plotted and their ticks labeled, so that bytes
  // can be plotted in MiB, for example.
  double unit = 1.0;
  std::vector<ChartBar> bars;
  std::vector<ChartLine> lines;
};

// Returns an <svg> element that scales to the width of its container. Bar i carries the attribute
// data-index="i" (0-based), and the x axis numbers bars from 1.
std::string render_bar_chart(const BarChart& chart);

}  // namespace onnxquant::report
