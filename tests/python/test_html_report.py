"""The HTML report (`--report FILE.html`), rendered by headless Chromium.

A real model (PP-OCRv4 recognition, from the rapidocr wheel) gets two hostile weight names, one
quantized and one kept float. Two runs with the same options write a JSON report and an HTML report.
Chromium loads the page from a file inside an empty network namespace and dumps its DOM. The DOM must
show the JSON report's figures, one chart bar per quantized tensor, every skipped reason and both
names as text. A screenshot is kept under $ONNXQUANT_ARTIFACTS (default build/test-artifacts) for
people to look at.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import onnx
import pytest
from PIL import Image

import realmodels

TIMEOUT_SECONDS = 180
REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("ONNXQUANT_ARTIFACTS", REPO_ROOT / "build" / "test-artifacts"))

QUANTIZED_NAME = "<script>alert(\"q\")</script> & 'w' <b>"
SKIPPED_NAME = "<img src=x onerror=\"s()\"> & \"k\""
# The SQNR below which an INT8 tensor counts as low, as in docs/report-schema.md and the log warning.
LOW_SQNR_DB_INT8 = 20.0
# Colors of the stylesheet (src/report/report_html_style.hpp): bars at or above the threshold, bars below it.
OK_BAR_RGB = (0x3A, 0x6E, 0xA5)
LOW_BAR_RGB = (0xC8, 0x41, 0x4B)

# Chromium flags. Its sandbox does not start as root, hence --no-sandbox, and the page has no scripts.
# The rest switch off background services (updates, sync, network time) and make every host name
# fail to resolve, so that the net log shows any request that Chromium still starts.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
    "--no-first-run", "--no-default-browser-check", "--disable-default-apps", "--disable-extensions",
    "--disable-sync", "--disable-background-networking", "--disable-component-update",
    "--disable-features=NetworkTimeServiceQuerying", "--no-proxy-server",
    "--host-resolver-rules=MAP * ~NOTFOUND",
)


# ---------------------------------------------------------------------------------------------
# A small DOM built from Chromium's --dump-dom output
# ---------------------------------------------------------------------------------------------

VOID_ELEMENTS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Element:
    def __init__(self, tag: str, attributes: dict[str, str], parent: Element | None):
        self.tag = tag
        self.attributes = attributes
        self.parent = parent
        self.children: list[Element | str] = []

    def classes(self) -> set[str]:
        return set(self.attributes.get("class", "").split())

    def text(self) -> str:
        return "".join(child if isinstance(child, str) else child.text() for child in self.children)

    def own_text(self) -> str:
        """The text of this element without that of its child elements."""
        return "".join(child for child in self.children if isinstance(child, str))

    def iter(self):
        yield self
        for child in self.children:
            if isinstance(child, Element):
                yield from child.iter()

    def find_all(self, tag: str | None = None, css_class: str | None = None) -> list[Element]:
        return [element for element in self.iter()
                if (tag is None or element.tag == tag) and (css_class is None or css_class in element.classes())]

    def by_id(self, element_id: str) -> Element:
        found = [element for element in self.iter() if element.attributes.get("id") == element_id]
        assert len(found) == 1, f"expected one element with id {element_id!r}, found {len(found)}"
        return found[0]


class DomBuilder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {}, None)
        self.current = self.root

    def handle_starttag(self, tag, attrs):
        element = Element(tag, {name: value or "" for name, value in attrs}, self.current)
        self.current.children.append(element)
        if tag not in VOID_ELEMENTS:
            self.current = element

    def handle_startendtag(self, tag, attrs):
        self.current.children.append(Element(tag, {name: value or "" for name, value in attrs}, self.current))

    def handle_endtag(self, tag):
        element = self.current
        while element is not None and element.tag != tag:
            element = element.parent
        if element is not None and element.parent is not None:
            self.current = element.parent

    def handle_data(self, data):
        self.current.children.append(data)


def parse_dom(text: str) -> Element:
    builder = DomBuilder()
    builder.feed(text)
    builder.close()
    return builder.root


# ---------------------------------------------------------------------------------------------
# Fixtures: the model, the two reports, and Chromium's view of the page
# ---------------------------------------------------------------------------------------------


def chromium_command(profile: Path, net_log: Path, *arguments: str) -> list[str]:
    """Chromium in a network namespace of its own, which has no interface but a loopback that is down."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium not found: scripts/install-deps.sh installs Debian's chromium package")
    isolation = ["unshare", "--net"] if os.geteuid() == 0 else ["unshare", "--map-root-user", "--net"]
    return [*isolation, chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--log-net-log={net_log}",
            *arguments]


def run_chromium(command: list[str]) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False)
    assert result.returncode == 0, f"Chromium failed ({result.returncode}): {result.stderr[-3000:]}"
    return result


def conv_weight_names(model: onnx.ModelProto) -> tuple[str, str]:
    """Return a Conv weight with at least 1024 elements (quantized) and one with fewer (kept float)."""
    sizes = {}
    for node in model.graph.node:
        if node.op_type == "Constant":
            dims = node.attribute[0].t.dims
            sizes[node.output[0]] = int(np.prod(dims)) if dims else 1
    conv_weights = [node.input[1] for node in model.graph.node if node.op_type == "Conv" and node.input[1] in sizes]
    large = next(name for name in conv_weights if sizes[name] >= 1024)
    small = next(name for name in conv_weights if sizes[name] < 1024)
    return large, small


def rename_value(graph: onnx.GraphProto, old: str, new: str) -> None:
    for node in graph.node:
        for index, name in enumerate(node.input):
            if name == old:
                node.input[index] = new
        for index, name in enumerate(node.output):
            if name == old:
                node.output[index] = new


@pytest.fixture(scope="module")
def hostile_model(tmp_path_factory) -> Path:
    source = realmodels.get("rapidocr-rec")
    if source.skip_reason():
        pytest.skip(source.skip_reason())
    model = onnx.load(str(source.path()))
    quantized, skipped = conv_weight_names(model)
    rename_value(model.graph, quantized, QUANTIZED_NAME)
    rename_value(model.graph, skipped, SKIPPED_NAME)
    path = tmp_path_factory.mktemp("hostile") / "rec.onnx"
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def reports(onnxquant_bin, hostile_model) -> dict:
    """One run with a JSON report and one with an HTML report (upper-case extension), same options."""
    folder = hostile_model.parent
    paths = {"json": folder / "report.json", "html": folder / "report.HTML"}
    for kind, report in paths.items():
        result = subprocess.run([str(onnxquant_bin), "quantize", str(hostile_model), "-p", "int8", "--no-table",
                                 "-o", str(folder / f"out_{kind}.onnx"), "--report", str(report)],
                                capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False)
        assert result.returncode == 0, result.stderr
    return {"json": json.loads(paths["json"].read_text()), "html_path": paths["html"],
            "html": paths["html"].read_text(encoding="utf-8")}


@pytest.fixture(scope="module")
def rendered(reports, tmp_path_factory) -> dict:
    """Chromium's DOM of the page, its net log, and a screenshot kept as a test artifact."""
    folder = tmp_path_factory.mktemp("chromium")
    page = reports["html_path"].resolve().as_uri()
    dump_log = folder / "dump-net-log.json"
    dump = run_chromium(chromium_command(folder / "profile-dump", dump_log, "--dump-dom", page))

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "report.png"
    screenshot.unlink(missing_ok=True)
    shutil.copyfile(reports["html_path"], ARTIFACTS / "report.html")
    rows = len(reports["json"]["tensors"]) + len(reports["json"]["skipped"])
    height = 1900 + 30 * rows
    shot_log = folder / "screenshot-net-log.json"
    run_chromium(chromium_command(folder / "profile-shot", shot_log, f"--window-size=1280,{height}",
                                  f"--screenshot={screenshot}", page))
    return {"dom": parse_dom(dump.stdout), "net_logs": [dump_log, shot_log], "screenshot": screenshot}


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------


def test_summary_figures_equal_json(reports, rendered):
    summary = reports["json"]["summary"]
    figures = {element.attributes["data-key"]: element
               for element in rendered["dom"].by_id("summary").iter() if "data-key" in element.attributes}
    expected_keys = {"model_bytes_before", "model_bytes_after", "compression_ratio", "bits_per_weight", "min_sqnr_db",
                     "mean_sqnr_db", "quantized_tensors", "skipped_tensors", "weight_bytes_before",
                     "weight_bytes_after", "wall_time_seconds"}
    assert expected_keys <= set(figures)
    for key, element in figures.items():
        value = json.loads(element.attributes["data-value"])
        if key == "wall_time_seconds":
            assert value > 0
            continue
        assert value == summary[key], key
    assert figures["compression_ratio"].text() == f"{summary['compression_ratio']:.2f}×"
    assert figures["bits_per_weight"].text() == f"{summary['bits_per_weight']:.2f}"
    assert figures["min_sqnr_db"].text() == f"{summary['min_sqnr_db']:.1f} dB"
    assert figures["mean_sqnr_db"].text() == f"{summary['mean_sqnr_db']:.1f} dB"
    assert figures["quantized_tensors"].text() == str(summary["quantized_tensors"])
    assert figures["skipped_tensors"].text() == str(summary["skipped_tensors"])


def test_one_bar_per_quantized_tensor(reports, rendered):
    tensors = reports["json"]["tensors"]
    dom = rendered["dom"]
    for section in ("error-chart", "size-chart"):
        bars = dom.by_id(section).find_all("rect", "bar")
        assert [int(bar.attributes["data-index"]) for bar in bars] == list(range(len(tensors))), section
    error_bars = dom.by_id("error-chart").find_all("rect", "bar")
    low = [index for index, entry in enumerate(tensors)
           if entry["sqnr_db"] is not None and entry["sqnr_db"] < LOW_SQNR_DB_INT8]
    assert low, "the model should have tensors below the threshold, so that the test sees red bars"
    assert [int(bar.attributes["data-index"]) for bar in error_bars if "low" in bar.classes()] == low


def test_tables_list_tensors_and_reasons(reports, rendered):
    report = reports["json"]
    dom = rendered["dom"]
    tensor_rows = dom.by_id("tensors").find_all("tbody")[0].find_all("tr")
    names = [row.find_all("td", "name")[0].own_text() for row in tensor_rows]
    assert names == [entry["name"] for entry in report["tensors"]]

    skipped_rows = dom.by_id("skipped").find_all("tbody")[0].find_all("tr")
    assert len(skipped_rows) == len(report["skipped"]) > 0
    for row, entry in zip(skipped_rows, report["skipped"]):
        assert row.find_all("td", "name")[0].own_text() == entry["name"]
        assert row.find_all("td", "reason")[0].own_text() == entry["reason"]


def test_hostile_names_shown_as_text(reports, rendered):
    page = reports["html"]
    for name in (QUANTIZED_NAME, SKIPPED_NAME):
        assert name not in page
    assert "&lt;script&gt;alert(&quot;q&quot;)&lt;/script&gt; &amp; &#39;w&#39; &lt;b&gt;" in page
    dom = rendered["dom"]
    assert dom.find_all("script") == []
    assert dom.find_all("img") == []
    assert dom.find_all("b") == []
    assert QUANTIZED_NAME in {row.own_text() for row in dom.by_id("tensors").find_all("td", "name")}
    assert SKIPPED_NAME in {row.own_text() for row in dom.by_id("skipped").find_all("td", "name")}
    tooltips = [title.text() for title in dom.by_id("error-chart").find_all("title")]
    assert any(QUANTIZED_NAME in tooltip for tooltip in tooltips)


def test_page_references_nothing_outside(rendered):
    dom = rendered["dom"]
    for tag in ("script", "link", "img", "iframe", "object", "embed", "image", "use"):
        assert dom.find_all(tag) == [], tag
    for element in dom.iter():
        for attribute in ("src", "srcset", "xlink:href", "action"):
            assert attribute not in element.attributes, (element.tag, attribute)
        assert element.attributes.get("href", "#").startswith("#"), element.attributes
    styles = "".join(style.text() for style in dom.find_all("style"))
    assert "url(" not in styles
    assert "@import" not in styles
    policy = [meta.attributes["content"] for meta in dom.find_all("meta")
              if meta.attributes.get("http-equiv") == "Content-Security-Policy"]
    assert policy and policy[0].startswith("default-src 'none'")


def test_chromium_opened_no_connection(rendered):
    for net_log in rendered["net_logs"]:
        log = json.loads(net_log.read_text())
        types = {number: name for name, number in log["constants"]["logEventTypes"].items()}
        connects = [event for event in log["events"]
                    if types[event["type"]] in ("TCP_CONNECT", "UDP_CONNECT", "SOCKET_CONNECT")
                    and event.get("phase") != 1]
        succeeded = [event for event in connects if "net_error" not in event.get("params", {})]
        assert succeeded == [], f"{net_log.name}: connections that did not fail: {succeeded}"
        opened = [types[event["type"]] for event in log["events"]
                  if types[event["type"]] in ("SSL_CONNECT", "HTTP_TRANSACTION_READ_RESPONSE_HEADERS")]
        assert opened == [], f"{net_log.name}: {opened}"


def test_screenshot_shows_page(rendered):
    screenshot = rendered["screenshot"]
    assert screenshot.is_file()
    with Image.open(screenshot) as image:
        pixels = image.convert("RGB")
        assert pixels.width == 1280
        colors = pixels.getcolors(maxcolors=1 << 20)
    assert colors is not None and len(colors) > 100, "the screenshot is nearly uniform"
    counts = {color: count for count, color in colors}
    assert counts.get(OK_BAR_RGB, 0) > 2000, "no blue chart bars in the screenshot"
    assert counts.get(LOW_BAR_RGB, 0) > 200, "no red chart bars in the screenshot"


def test_report_path_folder_leaves_no_model(onnxquant_bin, hostile_model, tmp_path):
    report = tmp_path / "page.html"
    report.mkdir()
    output = tmp_path / "out.onnx"
    result = subprocess.run([str(onnxquant_bin), "quantize", str(hostile_model), "-p", "int8", "-o", str(output),
                             "--report", str(report)], capture_output=True, text=True, timeout=TIMEOUT_SECONDS,
                            check=False)
    assert result.returncode == 2, result.stderr
    assert "is a folder" in result.stderr
    assert not output.exists()
