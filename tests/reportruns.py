"""Scripted runs that exercise every table and figure of a report: three of the paper's models (one of them as a
full-vs-tbt pair), one graded by both graders, one with unsafe-looking code (a file write) and a retry that
repairs a program."""

from __future__ import annotations

from pathlib import Path

from conftest import BROKEN, ScriptedModel, fenced, run_to_end
from mathcodebench.data import load
from mathcodebench.settings import Settings
from mathcodebench.store import RunData
from test_ablation import PrefixScripted

LIMIT = 14
GPT, MAMBA, LLAMA = "openai/gpt-4o-mini-2024-07-18", "mistral/open-codestral-mamba", "ollama/llama3.1:8b"


def _right(answer: str) -> str:
    return fenced(f"print({answer!r})")


def _scripts() -> dict[str, tuple[dict[str, list[str | BaseException]], dict[str, str]]]:
    gpt: dict[str, list[str | BaseException]] = {}
    mamba: dict[str, list[str | BaseException]] = {}
    llama: dict[str, list[str | BaseException]] = {}
    continuations: dict[str, str] = {}
    for i, p in enumerate(load("sample").problems[:LIMIT]):
        key = p.problem
        gpt[key] = (
            [fenced(f"with open('notes.txt', 'w') as f:\n    f.write('x')\nprint({p.answer!r})")]
            if i == 0
            else ([fenced(BROKEN), _right(p.answer)] if i % 4 == 3 else [_right(p.answer)])
        )
        mamba[key] = [_right(p.answer)] if i % 3 == 0 else [fenced("print('no idea')")]
        llama[key] = [_right(p.answer)] if i % 2 == 0 else [fenced(BROKEN)]
        continuations[key] = f"print({p.answer!r})\n```" if i % 4 == 1 else "print(1 / 0)\n```"
    return {GPT: (gpt, {}), MAMBA: (mamba, {}), LLAMA: (llama, continuations)}


def make_runs(directory: Path) -> list[RunData]:
    """gpt-4o-mini (graded both ways), open-codestral-mamba, and llama3.1:8b with full and tbt retries."""
    runs = []
    judge = ScriptedModel({}, default='{"score": 5, "reason": "same"}')
    judge.spec = "judge"
    for spec, regeneration in ((GPT, "full"), (MAMBA, "full"), (LLAMA, "full"), (LLAMA, "tbt")):
        script, continuations = _scripts()[spec]
        model = PrefixScripted(script, continuations)
        model.spec = spec
        both = spec == GPT
        settings = Settings(
            model=spec,
            limit=LIMIT,
            attempts=2,
            regeneration=regeneration,
            grading="both" if both else "symbolic",
            judge="judge" if both else None,
        )
        db = directory / f"{spec.replace('/', '-')}-{regeneration}.sqlite"
        runs.append(run_to_end(settings, db, model, judge=judge if both else None))
    return runs
