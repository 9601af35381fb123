// The stylesheet of the HTML report, inlined into every page.
#pragma once

namespace onnxquant::report {

// Fonts are the system's own: the page must not fetch any.
inline constexpr const char* kReportStylesheet = R"css(
:root {
  --ink: #1d2330; --muted: #5d6677; --line: #e2e6ed; --page: #f4f6f9; --panel: #ffffff;
  --low: #c8414b; --ok: #3a6ea5; --exact: #9aa3b2; --before: #d3dae5; --after: #3a6ea5;
}
* { box-sizing: border-box; }
body {
  margin: 0; background: var(--page); color: var(--ink);
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif;
}
main { max-width: 1180px; margin: 0 auto; padding: 24px 24px 40px; }
header h1 { font-size: 22px; margin: 0 0 6px; }
.paths { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 13px; word-break: break-all; margin: 0; }
.paths .arrow { color: var(--muted); padding: 0 6px; }
.meta { color: var(--muted); margin: 4px 0 0; }
section { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px; margin-top: 16px; }
h2 { font-size: 16px; margin: 0 0 10px; }
h3 { font-size: 13px; margin: 16px 0 6px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
.caption { color: var(--muted); margin: 0 0 8px; max-width: 80ch; }
.empty { color: var(--muted); font-style: italic; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 10px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; }
.card .label { color: var(--muted); font-size: 12px; }
.card .figure { font-size: 19px; font-weight: 600; font-variant-numeric: tabular-nums; white-space: nowrap; }
.card .detail { color: var(--muted); font-size: 12px; }
.card.wide { grid-column: span 2; }
.card.warning { border-color: var(--low); }
.card.warning .figure { color: var(--low); }
.options { display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap: 2px 24px; margin: 0; }
.options div { display: flex; justify-content: space-between; gap: 12px; border-bottom: 1px dotted var(--line); }
.options dt { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; color: var(--muted); }
.options dd { margin: 0; text-align: right; word-break: break-all; }
.notes { margin: 0; padding-left: 20px; }
.notes li { margin: 2px 0; word-break: break-word; }
svg.chart { width: 100%; height: auto; display: block; }
svg.chart text { font-size: 11px; fill: var(--muted); }
svg.chart .axis-label { font-size: 12px; fill: var(--ink); }
svg.chart .grid { stroke: var(--line); stroke-width: 1; }
svg.chart .axis { stroke: var(--muted); stroke-width: 1; }
svg.chart .reference { stroke: var(--low); stroke-width: 1.2; stroke-dasharray: 5 4; }
svg.chart .reference-label, svg.chart .bar-label {
  fill: var(--low); font-weight: 600; paint-order: stroke; stroke: var(--panel); stroke-width: 3px;
}
.bar.ok { fill: var(--ok); }
.bar.low { fill: var(--low); }
.bar.exact { fill: var(--exact); }
.bar.after { fill: var(--after); }
.bar-background { fill: var(--before); }
.legend { display: flex; flex-wrap: wrap; gap: 16px; color: var(--muted); font-size: 12px; margin: 6px 0 0; padding: 0; list-style: none; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; vertical-align: -1px; }
.swatch.ok { background: var(--ok); } .swatch.low { background: var(--low); } .swatch.exact { background: var(--exact); }
.swatch.before { background: var(--before); } .swatch.after { background: var(--after); }
.weakest { margin: 0; padding-left: 22px; columns: 2 360px; }
.weakest li { word-break: break-all; }
.weakest .value { font-weight: 600; font-variant-numeric: tabular-nums; }
.weakest .value.low { color: var(--low); }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 12.5px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #f8f9fb; font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.nowrap { white-space: nowrap; }
td.name { font-family: ui-monospace, "DejaVu Sans Mono", monospace; word-break: break-all; min-width: 16ch; }
.scope { color: var(--muted); font-size: 11px; display: block; }
tr.low td { background: #fcecee; }
tr.low td.sqnr { color: var(--low); font-weight: 600; }
td.reason { min-width: 30ch; }
a { color: inherit; }
footer { color: var(--muted); font-size: 12px; margin-top: 16px; text-align: center; }
)css";

}  // namespace onnxquant::report
