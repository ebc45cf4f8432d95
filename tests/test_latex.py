"""The report's tables as LaTeX and CSV: the HTML report's rounding, intervals and bold best values, escaping, and
a real pdflatex compile of every table (no errors, nothing wider than the text). `make test` installs TeX Live
(texlive-latex-recommended) where it can; elsewhere the compile tests skip with the reason."""

import csv
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from mathcodebench.report.html import render_html
from mathcodebench.report.latex import escape, render, write_latex
from mathcodebench.report.tables import Cell, Column, Kind, build_tables, report_input, table
from mathcodebench.report.tidy import write_csv
from reportruns import GPT, MAMBA, make_runs

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
PDFLATEX = shutil.which("pdflatex")


def _booktabs() -> bool:
    kpsewhich = shutil.which("kpsewhich")
    return kpsewhich is not None and subprocess.run([kpsewhich, "booktabs.sty"], capture_output=True).returncode == 0


NO_TEX = PDFLATEX is None or not _booktabs()
WHY = "no pdflatex with booktabs here (make test installs texlive-latex-recommended with apt-get where it is root)"
DOCUMENT = r"""\documentclass{article}
\usepackage{booktabs}
%s
\begin{document}
%s
\end{document}
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return report_input(make_runs(tmp_path_factory.mktemp("latex")))


@pytest.fixture(scope="module")
def tables(built):
    return build_tables(built)


def _named(tables, name):
    return next(t for t in tables if t.name == name)


def test_every_report_table_is_written_and_tables_tex_inputs_each(tables, tmp_path):
    names = {t.name for t in tables}
    assert names >= {
        "setup",
        "accuracy",
        "paper",
        "subjects",
        "levels",
        "paired",
        "capped",
        "attempts",
        "statuses",
        "safety",
        "timing",
        "graders",
        "ablation",
    }
    written = write_latex(tables, tmp_path)
    assert written[-1].name == "tables.tex" and len(written) == len(tables) + 1
    index = written[-1].read_text()
    for t in tables:
        text = (tmp_path / f"{t.name}.tex").read_text()
        assert "\\documentclass" not in text and "\\begin{document}" not in text  # \input-able
        assert "\\toprule" in text and "\\midrule" in text and "\\bottomrule" in text
        assert text.count("\\caption{") == 1 and f"\\label{{tab:mcb-{t.name}}}" in text
        assert f"{t.name}.tex}}" in index


def test_numbers_have_the_html_reports_rounding_and_intervals_in_scriptsize(built, tables):
    accuracy = render(_named(tables, "accuracy"))
    mamba = next(s for s in built.summaries if s.model == MAMBA)
    low, high = (f"{100 * v:.1f}" for v in mamba.overall.interval)
    assert f"{MAMBA} & 14 & 5 & 35.7 {{\\scriptsize [{low}, {high}]}}" in accuracy
    html = render_html(built.runs)
    assert f"<td>35.7</td><td>{low}–{high}</td>" in html  # the same numbers, as the HTML shows them


def test_the_best_value_of_a_column_is_bold_only_where_it_means_something(tables):
    accuracy = render(_named(tables, "accuracy"))
    # the best accuracy, and the lowest unsolved rate (gpt and mamba both left nothing unsolved); nothing else
    assert accuracy.count("\\textbf{") == 3
    assert f"{GPT} & 14 & 14 & \\textbf{{100.0}} {{\\scriptsize" in accuracy
    assert f"{MAMBA} & 14 & 5 & 35.7" in accuracy and "\\textbf{0.0}" in accuracy
    assert "\\textbf" not in render(_named(tables, "statuses"))  # counts of statuses have no "best"
    one = table("x", [Column("run", "l"), Column("acc", best="max")], [[Cell("a"), Cell(0.5, Kind.PERCENT)]], [])
    assert not one.best  # a single row has no best


def test_text_is_escaped_and_minus_signs_are_minus_signs():
    assert escape("a_b & 50% #1 {x} ~ ^ \\") == (
        "a\\_b \\& 50\\% \\#1 \\{x\\} \\textasciitilde{} \\textasciicircum{} \\textbackslash{}"
    )
    assert escape("-36.7 vs gpt-4o-mini") == "$-$36.7 vs gpt-4o-mini"
    assert escape("\u0394 \u03ba \u2212 \u2192") == "$\\Delta$ $\\kappa$ $-$ $\\to$"
    row = table("x", [Column("d")], [[Cell(-0.25, Kind.POINTS, (-0.5, 0.125))]], [])
    assert "$-$25.0 {\\scriptsize [$-$50.0, +12.5]}" in render(row)


def test_csv_is_tidy_one_row_per_run_and_cell_unrounded(built, tables, tmp_path):
    paths = write_csv(tables, tmp_path)
    assert {p.stem for p in paths} == {t.name for t in tables}
    with (tmp_path / "subjects.csv").open() as f:
        rows = list(csv.DictReader(f))
    cells = sum(len(s.by_subject) for s in built.summaries)
    assert len(rows) == cells and len({(r["model"], r["regeneration"], r["subject"]) for r in rows}) == cells
    mamba_algebra = next(r for r in rows if r["model"] == MAMBA and r["subject"] == "Algebra")
    tally = next(s for s in built.summaries if s.model == MAMBA).by_subject["Algebra"]
    assert float(mamba_algebra["accuracy"]) == pytest.approx(tally.accuracy, abs=1e-9)  # not rounded to 0.1 %
    assert int(mamba_algebra["n"]) == tally.n
    with (tmp_path / "paper.csv").open() as f:
        paper = list(csv.DictReader(f))
    assert {r["statistic"] for r in paper} >= {"accuracy", "gap", "unsafe", "unsolved"}


def _input(path: Path) -> str:
    return f"\\input{{{path}}}"


def _compile(directory: Path, document: str) -> str:
    (directory / "doc.tex").write_text(document)
    out = subprocess.run(
        [PDFLATEX, "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "max_print_line": "10000"},
    )
    log = (directory / "doc.log").read_text(errors="replace")
    assert out.returncode == 0, log[-3000:]
    return log


def _problems(log: str) -> list[str]:
    """LaTeX errors, and boxes wider than the text (an overfull \\hbox of any width sticks out of the column)."""
    return re.findall(r"^! .*$|^Overfull \\hbox.*$|^LaTeX Error.*$", log, flags=re.M)


@pytest.mark.skipif(NO_TEX, reason=WHY)
def test_every_table_compiles_and_fits_the_text(tables, tmp_path):
    tex = tmp_path / "out" / "tables"
    write_latex(tables, tex)
    build = tmp_path / "paper"  # compiled from elsewhere: tables.tex finds its tables beside itself
    build.mkdir()
    log = _compile(build, DOCUMENT % ("\\usepackage{graphicx}", _input(tex / "tables.tex")))
    assert _problems(log) == []
    assert _pages(log) >= 3
    for t in tables:
        assert f"{t.name}.tex" in log  # every table was read
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(build / "doc.pdf", ARTIFACTS / "latex-tables.pdf")
    if shutil.which("pdftoppm"):  # a page for the eye: accuracy, the paper's figures and the ablation together
        page = tmp_path / "page"
        page.mkdir()
        inputs = "\n".join(_input(tex / f"{name}.tex") for name in ("accuracy", "paper", "ablation"))
        together = (
            "\\usepackage{graphicx}\\setcounter{topnumber}{3}\\setcounter{totalnumber}{3}"
            "\\renewcommand{\\topfraction}{.95}\\renewcommand{\\textfraction}{.02}"
        )
        _compile(page, DOCUMENT % (together, "Three tables of the test report.\n" + inputs))
        subprocess.run(
            [
                "pdftoppm",
                "-png",
                "-r",
                "110",
                "-f",
                "1",
                "-l",
                "1",
                "-singlefile",
                str(page / "doc.pdf"),
                str(ARTIFACTS / "latex-table-page"),
            ],
            check=True,
            timeout=120,
        )


@pytest.mark.skipif(NO_TEX, reason=WHY)
def test_the_overfull_check_can_fail_and_a_wide_table_is_scaled_to_the_column(tmp_path):
    wide = table("wide", [Column(f"column {i}") for i in range(14)], [[Cell(123456.0, Kind.NUMBER)] * 14], [])
    write_latex([wide], tmp_path / "t")
    without = _compile(tmp_path, DOCUMENT % ("", _input(tmp_path / "t" / "tables.tex")))
    assert any("Overfull" in p for p in _problems(without))  # without graphicx nothing can shrink it: caught
    scaled = _compile(tmp_path, DOCUMENT % ("\\usepackage{graphicx}", _input(tmp_path / "t" / "tables.tex")))
    assert _problems(scaled) == []


def _pages(log: str) -> int:
    found = re.search(r"Output written on doc\.pdf \((\d+) page", log)
    assert found, "no PDF written"
    return int(found.group(1))


def test_the_setup_table_lists_every_run(built, tables):
    setup = render(_named(tables, "setup"))
    for s in built.summaries:
        assert f"{escape(s.label)} & {s.overall.n} & {s.max_attempts} &" in setup
