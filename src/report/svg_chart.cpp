#include "report/svg_chart.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>

#include "report/html_escape.hpp"

namespace onnxquant::report {
namespace {

// The drawing in viewBox units. The plot is the area inside the margins.
constexpr double kWidth = 960.0;
constexpr double kHeight = 280.0;
constexpr double kMarginLeft = 64.0;
constexpr double kMarginRight = 16.0;
constexpr double kMarginTop = 22.0;
constexpr double kMarginBottom = 44.0;
constexpr double kPlotWidth = kWidth - kMarginLeft - kMarginRight;
constexpr double kPlotHeight = kHeight - kMarginTop - kMarginBottom;
constexpr int kTargetYTicks = 5;
constexpr int kTargetXTicks = 10;
// Bars of a few tensors stay this narrow instead of filling the plot.
constexpr double kMaxBarWidth = 48.0;

// The smallest of 1, 2 or 5 times a power of ten that splits `range` into at most `ticks` steps.
double nice_step(double range, int ticks) {
  const double raw = range / ticks;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  for (double factor : {1.0, 2.0, 5.0}) {
    if (raw <= factor * magnitude) return factor * magnitude;
  }
  return 10.0 * magnitude;
}

// The value range of the plot, in axis units (values divided by BarChart::unit), with round ends.
struct ValueAxis {
  double min = 0.0;
  double max = 1.0;
  double step = 1.0;

  double to_y(double value) const {
    const double clamped = std::clamp(value, min, max);
    return kMarginTop + (max - clamped) / (max - min) * kPlotHeight;
  }
};

ValueAxis value_axis(const BarChart& chart) {
  double low = 0.0;
  double high = 0.0;
  const auto include = [&](double value) {
    if (!std::isfinite(value)) return;
    low = std::min(low, value / chart.unit);
    high = std::max(high, value / chart.unit);
  };
  for (const auto& bar : chart.bars) {
    include(bar.value);
    include(bar.background);
  }
  for (const auto& line : chart.lines) include(line.value);
  if (high - low <= 0.0) high = low + 1.0;

  ValueAxis axis;
  axis.step = nice_step(high - low, kTargetYTicks);
  axis.min = std::floor(low / axis.step) * axis.step;
  axis.max = std::ceil(high / axis.step) * axis.step;
  return axis;
}

std::string format_tick(double value) { return fmt::format("{:g}", value); }

void append_grid(std::string& svg, const ValueAxis& axis) {
  const int ticks = static_cast<int>(std::lround((axis.max - axis.min) / axis.step));
  for (int i = 0; i <= ticks; ++i) {
    const double value = axis.min + i * axis.step;
    const double y = axis.to_y(value);
    svg += fmt::format(R"(<line class="grid" x1="{:.1f}" x2="{:.1f}" y1="{:.1f}" y2="{:.1f}"/>)", kMarginLeft,
                       kWidth - kMarginRight, y, y);
    svg += fmt::format(R"(<text class="tick" x="{:.1f}" y="{:.1f}" text-anchor="end">{}</text>)", kMarginLeft - 6.0,
                       y + 4.0, format_tick(std::abs(value) < axis.step * 1e-9 ? 0.0 : value));
  }
}

// Numbers bars from 1 at round intervals, below the plot.
void append_bar_numbers(std::string& svg, size_t count, double slot) {
  const size_t step = std::max<size_t>(1, static_cast<size_t>(std::lround(nice_step(static_cast<double>(count),
                                                                                     kTargetXTicks))));
  const auto append_number = [&](size_t number) {
    const double x = kMarginLeft + (static_cast<double>(number) - 0.5) * slot;
    svg += fmt::format(R"(<text class="tick" x="{:.1f}" y="{:.1f}" text-anchor="middle">{}</text>)", x,
                       kHeight - kMarginBottom + 16.0, number);
  };
  if (step > 1) append_number(1);
  for (size_t number = step; number <= count; number += step) append_number(number);
}

void append_axis_labels(std::string& svg, const BarChart& chart) {
  svg += fmt::format(R"(<text class="axis-label" x="{:.1f}" y="{:.1f}" text-anchor="middle">{}</text>)",
                     kMarginLeft + kPlotWidth / 2.0, kHeight - 6.0, escape_html(chart.x_label));
  svg += fmt::format(
      R"svg(<text class="axis-label" transform="translate(14 {:.1f}) rotate(-90)" text-anchor="middle">{}</text>)svg",
      kMarginTop + kPlotHeight / 2.0, escape_html(chart.y_label));
}

// A rectangle from the zero line to `value`. Infinity reaches the top of the plot.
std::string bar_rect(const ValueAxis& axis, double value, double x, double width, const std::string& css_class,
                     const std::string& attributes) {
  const double zero = axis.to_y(0.0);
  const double top = axis.to_y(std::isinf(value) && value > 0 ? axis.max : value);
  const double y = std::min(zero, top);
  // A value too small to see still gets a sliver, so that no tensor looks missing.
  const double height = std::max(std::abs(zero - top), value != 0.0 ? 0.5 : 0.0);
  return fmt::format(R"(<rect class="{}" x="{:.2f}" y="{:.2f}" width="{:.2f}" height="{:.2f}"{}>)", css_class, x, y,
                     width, height, attributes);
}

void append_bars(std::string& svg, const BarChart& chart, const ValueAxis& axis, double slot) {
  const double wide = std::min(slot * (slot >= 3.0 ? 0.8 : 1.0), kMaxBarWidth);
  for (size_t i = 0; i < chart.bars.size(); ++i) {
    const ChartBar& bar = chart.bars[i];
    const double center = kMarginLeft + (static_cast<double>(i) + 0.5) * slot;
    const bool has_background = !std::isnan(bar.background);
    if (has_background) {
      svg += bar_rect(axis, bar.background / chart.unit, center - wide / 2.0, wide, "bar-background", "");
      svg += "</rect>";
    }
    if (std::isnan(bar.value)) continue;
    const double width = has_background ? wide * 0.55 : wide;
    const std::string css_class = bar.css_class.empty() ? "bar" : "bar " + bar.css_class;
    svg += bar_rect(axis, bar.value / chart.unit, center - width / 2.0, width, css_class,
                    fmt::format(R"( data-index="{}")", i));
    svg += fmt::format("<title>{}</title></rect>", escape_html(bar.tooltip));
    if (!bar.label.empty()) {
      const double top = axis.to_y(std::isinf(bar.value) ? axis.max : std::max(bar.value / chart.unit, 0.0));
      svg += fmt::format(R"(<text class="bar-label" x="{:.1f}" y="{:.1f}" text-anchor="middle">{}</text>)", center,
                         top - 4.0, escape_html(bar.label));
    }
  }
}

void append_lines(std::string& svg, const BarChart& chart, const ValueAxis& axis) {
  for (const auto& line : chart.lines) {
    const double y = axis.to_y(line.value / chart.unit);
    svg += fmt::format(R"(<line class="reference" x1="{:.1f}" x2="{:.1f}" y1="{:.1f}" y2="{:.1f}"/>)", kMarginLeft,
                       kWidth - kMarginRight, y, y);
    svg += fmt::format(R"(<text class="reference-label" x="{:.1f}" y="{:.1f}" text-anchor="end">{}</text>)",
                       kWidth - kMarginRight - 4.0, y - 4.0, escape_html(line.label));
  }
}

}  // namespace

std::string render_bar_chart(const BarChart& chart) {
  const ValueAxis axis = value_axis(chart);
  const double slot = kPlotWidth / static_cast<double>(std::max<size_t>(chart.bars.size(), 1));

  std::string svg = fmt::format(R"(<svg class="chart" viewBox="0 0 {} {}" role="img" aria-label="{}">)", kWidth,
                                kHeight, escape_html(chart.description));
  append_grid(svg, axis);
  append_bars(svg, chart, axis, slot);
  append_lines(svg, chart, axis);
  const double zero = axis.to_y(0.0);
  svg += fmt::format(R"(<line class="axis" x1="{:.1f}" x2="{:.1f}" y1="{:.1f}" y2="{:.1f}"/>)", kMarginLeft,
                     kWidth - kMarginRight, zero, zero);
  append_bar_numbers(svg, chart.bars.size(), slot);
  append_axis_labels(svg, chart);
  svg += "</svg>\n";
  return svg;
}

}  // namespace onnxquant::report
