"""Study files: one TOML naming the design (dataset, selection, attempts, grading, ...) and several models; each
model gets its own run database in the study's directory, and a study can be re-run to resume where it stopped.

    [study]
    name = "paper"
    directory = "runs/paper"  # relative to the study file
    dataset = "math"          # every setting of `mathcodebench run`, by its name (see settings.py)
    per_cell = 27
    grading = "both"
    judge = "mistral/mistral-large-2411"

    [[models]]
    spec = "ollama/llama3.1:8b"
    concurrency = 4           # the settings that may differ per model: decoding, endpoints, regeneration

    [[models]]                # the same model again with token-by-token regeneration: an ablation pair
    spec = "ollama/llama3.1:8b"
    regeneration = "tbt"
    chat_template = "llama3"
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import api
from .errors import UserError
from .grading import FINAL
from .models import ChatModel
from .settings import MODEL_SCOPE, NAMES, Settings, build
from .store import RunStatus

STUDY_KEYS = {"name", "directory"}
ENTRY_KEYS = {"spec", "name"}  # a [[models]] entry's own keys besides its settings (name: its run's file name)


def run_name(settings: Settings) -> str:
    """A run's file name in its study, from what makes it differ: model, regeneration, method, samples, prompt."""
    parts = [
        api.slug(settings.model),
        "tbt" if settings.regeneration == "tbt" else "",
        "tir" if settings.method == "tir" else "",
        f"n{settings.samples}" if settings.samples > 1 else "",
        api.slug(Path(settings.prompt).stem) if settings.prompt else "",
        "shots" if settings.shots else "",
    ]
    return "-".join(p for p in parts if p)


def load_study(path: Path) -> tuple[list[tuple[Settings, Path]], str]:
    """Each model's settings and run database, and the study's text (stored with every run)."""
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except OSError as exc:
        raise UserError(f"cannot read study file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: not valid TOML ({exc})") from None
    study, models = data.pop("study", {}), data.pop("models", None)
    if data:
        raise UserError(f"{path}: unknown table {next(iter(data))!r} (a study has [study] and [[models]])")
    if not isinstance(study, dict) or not isinstance(models, list) or not models:
        raise UserError(f"{path}: needs a [study] table and at least one [[models]] entry")
    for key in study:
        if key not in NAMES and key not in STUDY_KEYS:
            raise UserError(f"{path}: [study].{key}: unknown setting")
    shared = {k: v for k, v in study.items() if k not in STUDY_KEYS}
    name = str(study.get("name", "study"))
    directory = Path(os.path.normpath(path.parent / str(study.get("directory", "runs"))))
    runs = []
    for i, entry in enumerate(models):
        if not isinstance(entry, dict):
            raise UserError(f"{path}: models[{i}]: expected a table")
        entry = dict(entry)
        own_name = entry.pop("name", None)
        own = {("model" if k == "spec" else k): v for k, v in entry.items()}
        for key in own:
            if key not in MODEL_SCOPE:
                raise UserError(
                    f"{path}: models[{i}].{key}: "
                    + ("set it in [study]: every run of a study shares it" if key in NAMES else "unknown setting")
                )
        if "model" not in own:
            raise UserError(f"{path}: models[{i}]: needs a spec")

        def where(loc: tuple[int | str, ...], own: dict[str, Any] = own, i: int = i) -> str:
            key = str(loc[0]) if loc else ""
            place = f"models[{i}].{'spec' if key == 'model' else key}" if key in own else f"[study].{key}"
            return f"{path}: {place.rstrip('.')}"

        settings = build(_files_beside(path, {**shared, **own}), where)
        runs.append(
            (settings, directory / f"{name}-{api.slug(str(own_name)) if own_name else run_name(settings)}.sqlite")
        )
    if len({db for _, db in runs}) < len(runs):
        raise UserError(
            f"{path}: two [[models]] entries would make the same run (same spec, regeneration, method, "
            'samples and prompt); give one a name = "..."'
        )
    return runs, text


FILE_SETTINGS = ("dataset", "prompt", "shots", "chat_template")  # may name a file, relative to the study file


def _files_beside(path: Path, values: dict[str, Any]) -> dict[str, Any]:
    """A relative file named by a study is beside the study file (like its directory), not the current one."""
    out = dict(values)
    for key in FILE_SETTINGS:
        if isinstance(out.get(key), str) and not Path(out[key]).is_absolute() and (path.parent / out[key]).exists():
            out[key] = str((path.parent / out[key]).resolve())
    return out


def run_study(
    path: Path,
    on_model: Callable[[str, Path, int, int, int], None] | None = None,
    on_problem: api.OnProblem | None = None,
    check: bool = True,
) -> list[tuple[Path, RunStatus]]:
    """Run (or resume) every model of the study in turn; return each run database and how it ended.

    Every model and judge still needed is checked before the first problem of the first model, so a study
    left overnight fails at once, not after hours. `on_model(run name, db, samples, already_finished, correct)`
    is called before each run that still has work.
    """
    runs, text = load_study(path)
    models: dict[str, ChatModel] = {}
    if check:
        for settings, db in runs:
            if not _finished(db):
                model = models.setdefault(settings.model, api.solver(settings))
                judge = api.judge_model(settings.grading_settings(), model)
                api.preflight(settings, model, judge)
                if judge is not None:
                    models.setdefault(judge.spec, judge)
    results = []
    for settings, db in runs:
        if _finished(db):
            results.append((db, RunStatus.FINISHED))
            continue
        solving = models.get(settings.model)
        judge = models.get(settings.judge) if settings.judge else None
        if db.exists():
            run = api.resume(db, model=solving, judge=judge, check=False, command="study", study=text)
        else:
            run = api.start(settings, db, model=solving, judge=judge, check=False, study=text, command="study")
        with run:
            finals = run.store.grades(FINAL)
            if on_model:
                on_model(
                    db.stem,
                    db,
                    len(run.store.problems()) * settings.samples,
                    len(finals),
                    sum(g.correct for g in finals.values()),
                )
            results.append((db, run.execute(on_problem)))
    return results


def _finished(db: Path) -> bool:
    if not db.exists():
        return False
    from .store import RunStore

    store = RunStore.read(db)
    try:
        return store.record().status == RunStatus.FINISHED
    finally:
        store.close()
