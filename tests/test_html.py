"""The HTML report: its content from scripted runs, and how it renders in a real headless Chromium (every
section present, every figure decoded, no console errors); a screenshot is kept as a test artifact."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import BROKEN, ScriptedModel, fenced, run_to_end
from mathcodebench.data import load
from mathcodebench.report.html import render_html, write_html
from mathcodebench.settings import Settings
from test_ablation import PrefixScripted

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
SECTIONS = [
    "runs",
    "accuracy",
    "paper",
    "subjects",
    "levels",
    "paired",
    "attempts",
    "failures",
    "safety",
    "timing",
    "graders",
    "ablation",
    "unsolved",
]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _runs(tmp_path):
    """A full and a tbt run on all 41 sample problems: a third right, a third wrong, a third broken first."""
    script, continuations = {}, {}
    for i, p in enumerate(load("sample").problems):
        if i % 3 == 0:
            script[p.problem] = [fenced(f"print({p.answer!r})")]
        elif i % 3 == 1:
            script[p.problem] = [fenced("print('no idea')")]
        else:
            script[p.problem] = [fenced(BROKEN)]
            continuations[p.problem] = f"print({p.answer!r})\n```" if i % 2 else "print(1 / 0)\n```"
    judge = ScriptedModel({}, default='{"score": 5, "reason": "same"}')
    judge.spec = "judge"
    runs = []
    for strategy in ("full", "tbt"):
        settings = Settings(model="scripted", attempts=2, regeneration=strategy, grading="both", judge="judge")
        runs.append(
            run_to_end(settings, tmp_path / f"{strategy}.sqlite", PrefixScripted(script, continuations), judge=judge)
        )
    return runs


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("html")
    stores = _runs(tmp_path)
    return write_html(stores, tmp_path / "report.html"), stores


def test_the_report_is_one_self_contained_file_with_every_section(report):
    path, _ = report
    html = path.read_text()
    for section in SECTIONS:
        assert f'id="{section}"' in html, section
    assert not re.search(r'(src|href)="(?!data:|#)', html)  # nothing fetched from outside the file
    assert html.count('src="data:image/png;base64,') == 5
    assert "full vs" not in html and "Token-by-token regeneration vs full resampling" in html
    assert "Cohen" in html and "disagreements" in html


def test_report_numbers_are_the_summaries(report):
    path, _ = report
    html = path.read_text()
    # 41 problems: 14 printed the reference, 14 a wrong answer (the scripted judge says 5 to everything, and the
    # judge counts in 'both'), 13 broke on line 3; tbt repaired the 6 with an odd index, full repaired none.
    broke = [i for i in range(41) if i % 3 == 2]
    repaired = sum(i % 2 for i in broke)
    assert (len(broke), repaired) == (13, 6)
    assert re.search(r"scripted</td><td>41</td><td>28</td>\s*<td>68.3</td><td>53.0–80.4</td>\s*<td>13 ", html)
    assert re.search(r"scripted \(tbt\)</td><td>41</td><td>34</td>\s*<td>82.9</td><td>68.7–91.5</td>\s*<td>7 ", html)
    assert "Best to worst: <b>14.6 points</b>" in html


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here (make test installs it with apt-get)")
def test_the_report_renders_in_headless_chromium(report):
    path, _ = report
    dom, errors = _chromium(path, "--dump-dom")
    assert errors == [], errors
    assert 'data-figures="5/5"' in dom  # every figure decoded
    for section in SECTIONS:
        assert f'id="{section}"' in dom
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report-screenshot.png"
    shot.unlink(missing_ok=True)
    _chromium(path, f"--screenshot={shot}", "--window-size=1366,2400")
    assert shot.stat().st_size > 50_000


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here (make test installs it with apt-get)")
def test_the_console_error_check_can_fail(report, tmp_path):
    path, _ = report
    broken = tmp_path / "broken.html"
    broken.write_text(path.read_text().replace("</body>", "<script>undefinedFunction();</script></body>"))
    _, errors = _chromium(broken, "--dump-dom")
    assert errors and "undefinedFunction" in errors[0]


def _chromium(page: Path, *args: str) -> tuple[str, list[str]]:
    """Run headless Chromium on a local file; return the output and the page's console errors."""
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=5000",
        *args,
        page.resolve().as_uri(),
    ]
    out = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    errors = [
        line for line in out.stderr.splitlines() if ("CONSOLE" in line and "Uncaught" in line) or "Uncaught" in line
    ]
    return out.stdout, errors


def test_render_html_needs_no_browser(report):
    _, stores = report
    # no paired and no ablation section for one run; the paper's unsafe and unsolved rates are beside every run's
    assert render_html(stores[:1]).count("<section") == 11
