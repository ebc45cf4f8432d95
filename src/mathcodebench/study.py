"""Study files: one TOML naming the dataset, the selection, the grading and several models; each model gets
its own run database in the study's directory, and a study can be re-run to resume where it stopped.

    [study]
    dataset = "math"          # any --dataset spec
    per_cell = 27             # and seed, subjects, levels, limit, allow_short_cells
    attempts = 10
    grading = "both"
    judge = "mistral/mistral-large-2411"
    directory = "runs/paper"  # relative to the study file

    [[models]]
    spec = "ollama/llama3.1:8b"
    concurrency = 4           # and base_url, temperature, retry_temperature, max_tokens

    [[models]]                # the same model again with token-by-token regeneration: an ablation pair
    spec = "ollama/llama3.1:8b"
    regeneration = "tbt"
    chat_template = "llama3"
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import api
from .data import Selection
from .errors import UserError
from .grading import FINAL, GradingSettings


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StudyModel(_Strict):
    spec: str
    base_url: str | None = None
    concurrency: int | None = Field(default=None, ge=1)
    temperature: float | None = None
    retry_temperature: float | None = None
    max_tokens: int | None = None
    regeneration: Literal["full", "tbt"] | None = None
    chat_template: str | None = None


class StudySettings(_Strict):
    name: str = "study"
    dataset: str = "sample"
    per_cell: int | None = None
    seed: int = 0
    subjects: list[str] | None = None
    levels: list[int] | None = None
    limit: int | None = None
    allow_short_cells: bool = False
    attempts: int = 10
    feedback: str = "error"
    timeout_s: float = 10.0
    sandbox: str = "default"
    grading: str = "symbolic"
    judge: str | None = None
    directory: str = "runs"


class StudyFile(_Strict):
    study: StudySettings = StudySettings()
    models: list[StudyModel] = Field(min_length=1)


def load_study(path: Path) -> tuple[StudyFile, str]:
    try:
        text = path.read_text(encoding="utf-8")
        study = StudyFile.model_validate(tomllib.loads(text))
    except OSError as exc:
        raise UserError(f"cannot read study file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: not valid TOML ({exc})") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise UserError(f"{path}: {where}: {err['msg']}") from None
    return study, text


def run_configs(study: StudyFile, text: str) -> list[api.RunConfig]:
    s = study.study
    selection = Selection(per_cell=s.per_cell, seed=s.seed, subjects=s.subjects, levels=s.levels, limit=s.limit,
                          allow_short_cells=s.allow_short_cells)
    try:
        grading = GradingSettings(mode=s.grading, judge=s.judge)
        configs = []
        for m in study.models:
            overrides: dict[str, Any] = {k: v for k, v in m.model_dump().items() if v is not None and k != "spec"}
            configs.append(api.RunConfig(model=m.spec, dataset=s.dataset, selection=selection, attempts=s.attempts,
                                         feedback=s.feedback, timeout_s=s.timeout_s, sandbox=s.sandbox, seed=s.seed,
                                         grading=grading, study=text, **overrides))
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UserError(f"study: {'.'.join(str(p) for p in err['loc'])}: {err['msg']}") from None
    return configs


def db_path(path: Path, study: StudyFile, config: api.RunConfig) -> Path:
    directory = path.parent / study.study.directory
    strategy = "-tbt" if config.regeneration == "tbt" else ""
    return directory / f"{study.study.name}-{api.slug(config.model)}{strategy}.sqlite"


def run_study(path: Path, on_model: Callable[[str, Path, int, int], None] | None = None,
              on_problem: api.OnProblem | None = None) -> list[Path]:
    """Run (or resume) every model of the study in turn; return the run databases.

    `on_model(spec, db, problems, already_finished)` is called before each model that still has work.
    """
    study, text = load_study(path)
    configs = run_configs(study, text)
    paths = [db_path(path, study, config) for config in configs]
    if len(set(paths)) < len(paths):
        raise UserError(f"{path}: two [[models]] entries have the same spec and regeneration")
    dbs = []
    for config in configs:
        db = db_path(path, study, config)
        if db.exists():
            store, model, stored = api.resume_run(db)
            if stored.study != text:
                raise UserError(f"{db} was made by a different version of {path}; move it away to start over")
        else:
            store, model, _ = api.start_run(config, db)
            stored = config
        total, done = len(store.problems()), len(store.grades(FINAL))
        if done == total:
            store.close()
            dbs.append(db)
            continue
        if on_model:
            on_model(config.model, db, total, done)
        api.execute(store, model, stored, on_problem)
        store.close()
        dbs.append(db)
    return dbs

