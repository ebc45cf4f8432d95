"""The report's figures as files for a paper: every figure in PDF, SVG and 300 dpi PNG at one- and two-column
width; the PDFs and SVGs parse and carry their fonts; every run keeps one colour (and one greyscale-safe
marker and hatch) in every figure."""

import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image
from pypdf import PdfReader

from mathcodebench.report.figures import FORMATS, SIZES, write_figures
from mathcodebench.report.plots import FIGURES, PALETTE, SERIES, looks
from mathcodebench.report.tables import report_input
from reportruns import make_runs

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    summaries = report_input(make_runs(tmp_path_factory.mktemp("runs"))).summaries
    directory = tmp_path_factory.mktemp("figures")
    return summaries, directory, write_figures(summaries, directory)


def test_every_figure_in_every_size_and_format(written):
    _, directory, paths = written
    assert sorted(p.name for p in paths) == sorted(
        f"{name}-{size}.{fmt}" for name in FIGURES for size in SIZES for fmt in FORMATS
    )
    assert all(p.parent == directory and p.stat().st_size > 1000 for p in paths)


@pytest.mark.parametrize("size", SIZES)
def test_pdfs_parse_have_the_column_width_and_embed_every_font(written, size):
    _, directory, _ = written
    for name in FIGURES:
        reader = PdfReader(directory / f"{name}-{size}.pdf")
        (page,) = reader.pages
        assert float(page.mediabox.width) == pytest.approx(72 * SIZES[size], abs=0.5)
        fonts = _fonts(page)
        assert fonts, f"{name}: no text?"
        for font in fonts:
            assert _embedded(font), f"{name}-{size}.pdf: font {font.get('/BaseFont')} is not embedded"


def _fonts(page) -> list:
    resources = page["/Resources"]
    found = []
    for holder in [
        resources,
        *[
            x.get_object()["/Resources"]
            for x in resources.get("/XObject", {}).values()
            if "/Resources" in x.get_object()
        ],
    ]:
        found += [f.get_object() for f in holder.get("/Font", {}).values()]
    return found


def _embedded(font) -> bool:
    """A Type 3 font is its own glyph programs; any other must carry a font file in its descriptor."""
    if font["/Subtype"] == "/Type3":
        return "/CharProcs" in font
    descriptor = (font["/DescendantFonts"][0].get_object() if font["/Subtype"] == "/Type0" else font)["/FontDescriptor"]
    return any(key in descriptor.get_object() for key in ("/FontFile", "/FontFile2", "/FontFile3"))


@pytest.mark.parametrize("size", SIZES)
def test_svgs_parse_have_the_column_width_and_draw_text_as_outlines(written, size):
    _, directory, _ = written
    for name in FIGURES:
        root = ET.parse(directory / f"{name}-{size}.svg").getroot()
        assert root.get("width") == f"{72 * SIZES[size]:g}pt"
        assert root.findall(f".//{SVG}text") == []  # no font needed to read it
        assert root.findall(f".//{SVG}defs/{SVG}path"), name  # the glyphs, as paths


@pytest.mark.parametrize("size", SIZES)
def test_pngs_are_300_dpi_at_the_column_width(written, size):
    _, directory, _ = written
    for name in FIGURES:
        with Image.open(directory / f"{name}-{size}.png") as image:
            assert image.size[0] == round(300 * SIZES[size])
            assert image.info["dpi"] == pytest.approx((300, 300), abs=0.01)
    ARTIFACTS.mkdir(exist_ok=True)  # one figure kept to look at
    shutil.copy(directory / f"levels-{size}.png", ARTIFACTS / f"figure-levels-{size}.png")


def _colours(element, root) -> set[str]:
    """Fill and stroke colours of an SVG element and everything under it; a hatched fill is a pattern whose
    background rectangle has the colour."""
    out = set()
    for node in element.iter():
        style = node.get("style", "")
        for prop in ("fill", "stroke"):
            out |= {c.upper() for c in re.findall(rf"(?<![-\w]){prop}: *(#[0-9a-fA-F]{{6}})", style)}
            if (value := node.get(prop, "")).startswith("#"):
                out.add(value.upper())
        for pattern in re.findall(r"fill: *url\(#([\w-]+)\)", style):
            out |= set().union(*(_colours(p, root) for p in root.iter(f"{SVG}pattern") if p.get("id") == pattern))
    return out


def _series(root, look) -> set[str]:
    """The palette colours of every element drawn for one run."""
    groups = [g for g in root.iter() if (g.get("id") or "").startswith(look.gid + "-")]
    assert groups, f"no element for {look.gid}"
    return set().union(*(_colours(g, root) for g in groups)) & {c.upper() for c in PALETTE}


def test_each_run_keeps_its_colour_in_every_figure_and_size(written):
    summaries, directory, _ = written
    styles = looks([s.label for s in summaries])
    assert len({look.colour for look in styles.values()}) == len(styles)
    seen = {label: set() for label in styles}
    for name in SERIES:
        for size in SIZES:
            root = ET.parse(directory / f"{name}-{size}.svg").getroot()
            for label, look in styles.items():
                colours = _series(root, look)
                assert colours == {look.colour.upper()}, f"{name}-{size}: {label} drawn in {colours}"
                seen[label] |= colours
    assert all(len(c) == 1 for c in seen.values())


def test_the_colour_check_can_fail(written, tmp_path):
    summaries, directory, _ = written
    styles = looks([s.label for s in summaries])
    first, second = list(styles.values())[:2]
    svg = (directory / "levels-twocol.svg").read_text()
    swapped = tmp_path / "swapped.svg"
    svg = re.sub(first.colour, "#123456", svg, flags=re.IGNORECASE)  # the second run now in the first's colour
    swapped.write_text(re.sub(second.colour, first.colour, svg, flags=re.IGNORECASE))
    assert _series(ET.parse(swapped).getroot(), second) == {first.colour.upper()}


def test_runs_stay_apart_in_greyscale_by_marker_and_hatch():
    styles = list(looks([f"model {i}" for i in range(len(PALETTE))]).values())
    assert [s.colour for s in styles] == list(PALETTE)  # Okabe-Ito, colour-blind safe
    for i, a in enumerate(styles):
        for b in styles[i + 1 :]:
            assert a.marker != b.marker and a.hatch != b.hatch
    more = list(looks([f"model {i}" for i in range(8 * len(PALETTE))]).values())
    assert len({(s.colour, s.marker) for s in more}) == len(more)  # colours repeat, never with the same marker


def test_the_paper_figure_is_marked_on_runs_of_a_model_it_reports(written):
    _, directory, _ = written
    root = ET.parse(directory / "accuracy-twocol.svg").getroot()
    assert [g for g in root.iter() if g.get("id") == "paper-figure"]
