"""The report's figures as files for a paper: each figure at one-column (3.3 in) and two-column (7 in) width, as
PDF and SVG (vector) and PNG at 300 dpi, named `<figure>-<onecol|twocol>.<ext>`.

Fonts travel with the files: PDFs embed their TrueType fonts (Type 42, which publishers accept, unlike Type 3)
and SVGs carry text as glyph outlines, so neither depends on the reader's fonts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.typing import RcKeyType

from .plots import FIGURES, ONE_COLUMN, TWO_COLUMN, draw
from .summary import Summary

SIZES = {"onecol": ONE_COLUMN, "twocol": TWO_COLUMN}
FORMATS = ("pdf", "svg", "png")
PRINT_DPI = 300
EMBEDDED: dict[RcKeyType, Any] = {
    "pdf.fonttype": 42,
    "svg.fonttype": "path",
    "svg.hashsalt": "mathcodebench",
    "pdf.compression": 6,
}


def write_figures(summaries: list[Summary], directory: Path) -> list[Path]:
    """Every figure in every size and format; the same run has the same look in all of them."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    with matplotlib.rc_context(EMBEDDED):
        for name in FIGURES:
            for size, width in SIZES.items():
                fig = draw(name, summaries, width)
                for fmt in FORMATS:
                    path = directory / f"{name}-{size}.{fmt}"
                    fig.savefig(path, format=fmt, dpi=PRINT_DPI, metadata=_metadata(fmt))
                    written.append(path)
    return written


def _metadata(fmt: str) -> dict[str, str | None]:
    """No creation date, so the same runs give byte-identical vector files."""
    if fmt == "pdf":
        return {"CreationDate": None, "Creator": "mathcodebench"}
    if fmt == "svg":
        return {"Date": None, "Creator": "mathcodebench"}
    return {"Software": "mathcodebench"}
