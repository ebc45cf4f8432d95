"""Every setting of a run, declared once: its type, default, help, where it may be set and whether `--resume`
may change it. The CLI options (`cli_options`), the study-file schema (`study.py`), validation messages
(`describe`) and the stored configuration (`Settings.model_dump`) are all derived from `Settings`; the stages get
the slice they need (`selection()`, `policy()`, `grading_settings()`), never the whole.

Defaults that a stage also needs on its own (the sandbox's limits, the grader's tolerance) live in that stage
and are referenced here, so each default exists in exactly one place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .data import SAMPLE, Selection, parse_levels, parse_subjects
from .errors import UserError
from .grading import GRADERS, GradingMode, GradingSettings
from .models import DEFAULT_MODEL, GenerationParams
from .sandbox import DEFAULT_MODE, MODES, Limits
from .solve import METHOD_PROMPTS, Prompt, SolvePolicy


class Scope(StrEnum):
    STUDY = "study"  # one value for every run of a study: the design the runs are compared under
    MODEL = "model"  # may differ per [[models]] entry of a study


@dataclass(frozen=True)
class Meta:
    """How a setting is offered and treated. `resume=True`: it cannot change results (how fast, where from),
    so `--resume` applies a new value and records it; every other setting is fixed once a run exists."""

    help: str
    panel: str
    scope: Scope = Scope.STUDY
    resume: bool = False
    flag: str | None = None  # the CLI flag; default --<name-with-dashes>
    parse: Callable[[str], Any] | None = None  # CLI text -> value, where the text is not the value itself
    metavar: str | None = None


def _ids_file(path: str) -> list[str]:
    try:
        return [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"--ids {path}: {exc}") from None


_LIMITS, _POLICY, _PARAMS, _GRADING = Limits(), SolvePolicy(), GenerationParams(), GradingSettings()
MODEL, DATA, ATTEMPTS, SANDBOX, GRADING = "Model", "Dataset and selection", "Attempts", "Sandbox", "Grading"
EXECUTION = "Execution"


class Settings(BaseModel):
    """What defines a run. Stored with the run, so it can be reproduced and resumed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: Annotated[
        str,
        Meta(
            "Model spec, e.g. 'embedded' (offline), 'ollama/llama3.1:8b', "
            "'openai/gpt-4o-mini-2024-07-18' (see 'mathcodebench models').",
            MODEL,
            Scope.MODEL,
        ),
    ] = DEFAULT_MODEL
    base_url: Annotated[
        list[str],
        Meta(
            "Server address for openai-compatible/ and ollama/ models; give it "
            "several times to spread requests over several servers.",
            MODEL,
            Scope.MODEL,
            resume=True,
            metavar="URL",
        ),
    ] = []
    concurrency: Annotated[
        int | None,
        Meta(
            "Problems (and model requests) in flight at once (with --executor "
            "ray: per node); default 1 for embedded, 8 for APIs, 4 for Ollama.",
            MODEL,
            Scope.MODEL,
            resume=True,
        ),
    ] = Field(default=None, ge=1, le=512)
    request_timeout: Annotated[
        float | None,
        Meta(
            "Seconds one model request may take (default: the backend's own, 120 for APIs, 600 for Ollama).",
            MODEL,
            Scope.MODEL,
            resume=True,
        ),
    ] = Field(default=None, gt=0)
    chat_template: Annotated[
        str | None,
        Meta(
            "For --regeneration tbt on a server model: its chat template, 'chatml', 'llama3' or a Jinja file.",
            MODEL,
            Scope.MODEL,
        ),
    ] = None
    temperature: Annotated[float, Meta("Temperature of attempt 1 (0 = greedy).", MODEL, Scope.MODEL)] = Field(
        default=_PARAMS.temperature, ge=0.0, le=2.0
    )
    retry_temperature: Annotated[float, Meta("Temperature of retries (so they can differ).", MODEL, Scope.MODEL)] = (
        Field(default=_POLICY.retry_temperature, ge=0.0, le=2.0)
    )
    max_tokens: Annotated[int, Meta("Maximum tokens per response.", MODEL, Scope.MODEL)] = Field(
        default=_PARAMS.max_tokens, ge=16
    )
    method: Annotated[
        Literal["pot", "tir"],
        Meta(
            "pot: one program prints the answer (the paper's); tir: reasoning with code blocks run as they are "
            "written, outputs fed back, the answer in \\boxed{}.",
            ATTEMPTS,
            Scope.MODEL,
        ),
    ] = _POLICY.method
    tool_calls: Annotated[int, Meta("tir: code executions allowed per attempt.", ATTEMPTS, Scope.MODEL)] = Field(
        default=_POLICY.tool_calls, ge=1, le=50
    )
    prompt: Annotated[
        str | None,
        Meta(
            "The prompt: a built-in (" + ", ".join(f"{p} for {m}" for m, p in METHOD_PROMPTS.items()) + ", the "
            "default) or a Jinja file with the blocks system, user and retry (see solve/templates/); its text is "
            "stored with the run.",
            ATTEMPTS,
            Scope.MODEL,
            metavar="NAME|FILE",
        ),
    ] = None
    shots: Annotated[
        str | None,
        Meta(
            'Few-shot examples: a JSONL file of {"problem", "program"}, shown before the problem; stored with the run.',
            ATTEMPTS,
            Scope.MODEL,
            metavar="FILE",
        ),
    ] = None
    samples: Annotated[
        int,
        Meta(
            "Solve each problem N independent times (pass@k, maj@k); with N > 1 first "
            "attempts sample at --sample-temperature.",
            ATTEMPTS,
            Scope.MODEL,
        ),
    ] = Field(default=_POLICY.samples, ge=1, le=100)
    sample_temperature: Annotated[
        float,
        Meta(
            "Temperature of first attempts when --samples > 1 (the retries' "
            "temperature by default, so every attempt of a sample is drawn "
            "the same way).",
            ATTEMPTS,
            Scope.MODEL,
        ),
    ] = Field(default=_POLICY.sample_temperature, ge=0.0, le=2.0)
    regeneration: Annotated[
        Literal["full", "tbt"],
        Meta(
            "Retries: 'full' (a whole new response) or 'tbt' (keep the failed response up to the failing line, "
            "regenerate from there token by token).",
            ATTEMPTS,
            Scope.MODEL,
        ),
    ] = _POLICY.regeneration

    dataset: Annotated[
        str,
        Meta(
            "Dataset: 'sample' (bundled), 'math' / 'math:test' / 'math:train' / 'math500' "
            "(Hugging Face hub, cached), a MATH-layout directory, or a .jsonl / .parquet "
            "file.",
            DATA,
        ),
    ] = SAMPLE
    per_cell: Annotated[
        int | None, Meta("Stratified: K problems from every subject x level cell (the paper: 27 -> 945).", DATA)
    ] = Field(default=None, ge=1)
    seed: Annotated[int, Meta("Seed for sampling and decoding; attempt k uses seed + k - 1.", DATA)] = 0
    subjects: Annotated[list[str] | None, Meta("Only these subjects, comma-separated.", DATA, parse=parse_subjects)] = (
        None
    )
    levels: Annotated[list[int] | None, Meta("Only these levels, e.g. '1,2' or '3-5'.", DATA, parse=parse_levels)] = (
        None
    )
    ids: Annotated[
        list[str] | None,
        Meta("Only the problem ids listed in this file, one per line.", DATA, parse=_ids_file, metavar="FILE"),
    ] = None
    limit: Annotated[int | None, Meta("Use only the first N problems (after sampling).", DATA)] = Field(
        default=None, ge=1
    )
    allow_short_cells: Annotated[bool, Meta("With --per-cell, take all problems of a cell smaller than K.", DATA)] = (
        False
    )

    attempts: Annotated[int, Meta("Attempts per problem; only failures (no answer) are retried.", ATTEMPTS)] = Field(
        default=_POLICY.attempts, ge=1, le=100
    )
    feedback: Annotated[
        Literal["error", "none"], Meta("'error': tell the model what failed; 'none': resample.", ATTEMPTS)
    ] = _POLICY.feedback
    unsafe: Annotated[
        Literal["report", "block"],
        Meta(
            "report: count unsafe-looking code (the sandbox protects); block: do not run it (a failed attempt, "
            "'unsafe_blocked').",
            ATTEMPTS,
        ),
    ] = _POLICY.unsafe

    timeout_s: Annotated[float, Meta("Wall-clock limit per program, seconds.", SANDBOX, flag="--timeout")] = Field(
        default=_LIMITS.timeout_s, gt=0
    )
    memory_mb: Annotated[int, Meta("Memory limit per program, MB.", SANDBOX, flag="--memory")] = Field(
        default=_LIMITS.memory_mb, ge=64
    )
    sandbox: Annotated[str, Meta(f"Sandbox mode: {' | '.join(MODES)}.", SANDBOX)] = DEFAULT_MODE

    grading: Annotated[
        GradingMode,
        Meta(
            "symbolic | judge | cascade (judge where symbolic says no) | both (judge counts; agreement reported).",
            GRADING,
        ),
    ] = _GRADING.mode
    judge: Annotated[str | None, Meta("Judge model spec for judge, cascade and both, e.g. 'embedded'.", GRADING)] = None
    decisive: Annotated[
        str | None,
        Meta(
            f"The grader whose verdict counts when several run ({' | '.join(GRADERS)}); "
            "default: the mode's own (both: the judge). With a judge that is not "
            "reliable, make the symbolic grader decisive and keep the judge as a "
            "cross-check.",
            GRADING,
        ),
    ] = None
    rel_tol: Annotated[float, Meta("Relative tolerance for a decimal against an exact reference.", GRADING)] = Field(
        default=_GRADING.rel_tol, gt=0
    )
    grade_timeout: Annotated[float, Meta("Seconds the symbolic grader may spend on one answer.", GRADING)] = Field(
        default=_GRADING.deadline_s, gt=0
    )

    executor: Annotated[
        Literal["local", "ray"],
        Meta(
            "Where problems are solved: 'local' (threads in this process) or 'ray' (actors on every node of a Ray "
            "cluster, each with its own sandbox; needs pip install 'mathcodebench[ray]').",
            EXECUTION,
            resume=True,
        ),
    ] = "local"
    ray_address: Annotated[
        str | None,
        Meta(
            "With --executor ray: the cluster to join (default: RAY_ADDRESS, "
            "else a local Ray instance started for the run).",
            EXECUTION,
            resume=True,
            metavar="ADDR",
        ),
    ] = None

    @field_validator("base_url", mode="before")
    @classmethod
    def _one_or_more(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("subjects", mode="before")
    @classmethod
    def _canonical_subjects(cls, value: object) -> object:
        return parse_subjects(",".join(value)) if isinstance(value, list) and value else value

    @field_validator("sandbox")
    @classmethod
    def _known_sandbox(cls, value: str) -> str:
        if value not in MODES:
            raise ValueError(f"unknown sandbox mode {value!r} (available: {', '.join(MODES)})")
        return value

    @model_validator(mode="after")
    def _tbt_is_for_pot(self) -> Settings:
        if self.regeneration == "tbt" and self.method != "pot":
            raise ValueError("--regeneration tbt continues a failed program, so it applies to --method pot only")
        return self

    @model_validator(mode="after")
    def _grading_consistent(self) -> Settings:
        try:
            self.grading_settings()
        except ValidationError as exc:  # e.g. a mode that needs a judge, and no judge
            raise ValueError(str(exc.errors()[0]["msg"]).removeprefix("Value error, ")) from None
        return self

    # -- the slices the stages get ------------------------------------------------------------------
    def selection(self) -> Selection:
        return Selection(
            per_cell=self.per_cell,
            seed=self.seed,
            subjects=self.subjects,
            levels=self.levels,
            ids=self.ids,
            limit=self.limit,
            allow_short_cells=self.allow_short_cells,
        )

    def prompt_spec(self) -> str:
        return self.prompt or METHOD_PROMPTS[self.method]

    def limits(self) -> Limits:
        return Limits(timeout_s=self.timeout_s, memory_mb=self.memory_mb)

    def policy(self, prompt: Prompt) -> SolvePolicy:
        """The attempt loop's slice; `prompt` is the run's stored prompt (the text, not today's file)."""
        return SolvePolicy(
            prompt=prompt,
            attempts=self.attempts,
            feedback=self.feedback,
            retry_temperature=self.retry_temperature,
            unsafe=self.unsafe,
            regeneration=self.regeneration,
            limits=self.limits(),
            samples=self.samples,
            sample_temperature=self.sample_temperature,
            method=self.method,
            tool_calls=self.tool_calls,
            params=GenerationParams(temperature=self.temperature, max_tokens=self.max_tokens, seed=self.seed),
        )

    def grading_settings(self) -> GradingSettings:
        return GradingSettings(
            mode=self.grading,
            judge=self.judge,
            decisive=self.decisive,
            rel_tol=self.rel_tol,
            deadline_s=self.grade_timeout,
        )


def meta(name: str) -> Meta:
    for item in Settings.model_fields[name].metadata:
        if isinstance(item, Meta):
            return item
    raise KeyError(name)


def flag(name: str) -> str:
    return meta(name).flag or "--" + name.replace("_", "-")


NAMES: tuple[str, ...] = tuple(Settings.model_fields)
MODEL_SCOPE = frozenset(n for n in NAMES if meta(n).scope == Scope.MODEL)
RESUMABLE = frozenset(n for n in NAMES if meta(n).resume)
SELECTION = ("dataset", "per_cell", "seed", "subjects", "levels", "ids", "limit", "allow_short_cells")
GRADING_SETTINGS = ("grading", "judge", "decisive", "rel_tol", "grade_timeout")


def describe(exc: ValidationError, where: Callable[[tuple[int | str, ...]], str]) -> UserError:
    """The one formatter of validation errors: the first problem, named the way the user wrote it."""
    err = exc.errors()[0]
    message = str(err["msg"]).removeprefix("Value error, ")
    place = where(tuple(err["loc"]))
    return UserError(f"{place}: {message}" if place else message)


def cli_where(loc: tuple[int | str, ...]) -> str:
    return flag(str(loc[0])) if loc and str(loc[0]) in Settings.model_fields else ".".join(map(str, loc))


def build(values: dict[str, Any], where: Callable[[tuple[int | str, ...]], str] = cli_where) -> Settings:
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise describe(exc, where) from None


# -- the CLI, derived ---------------------------------------------------------------------------------
def _cli_type(annotation: Any) -> Any:
    """The type Typer parses a setting's flag as: text where the value has a parser or a fixed set of choices."""
    args = [a for a in get_args(annotation) if a is not type(None)]
    optional = get_origin(annotation) in (Union, UnionType) and len(args) == 1  # X | None -> X; list[X] stays
    base = args[0] if optional else annotation
    if get_origin(base) is Literal:
        return str
    if get_origin(base) is list:
        return list[str] if get_args(base) == (str,) else str
    return base


def cli_parameters(names: Iterable[str]) -> list[tuple[str, Any]]:
    """(name, annotation) of one Typer option per setting; every option defaults to None = "not given"."""
    import typer

    out = []
    for name in names:
        field = Settings.model_fields[name]
        m = meta(name)
        kind = _cli_type(field.annotation) if m.parse is None else str
        default = field.get_default(call_default_factory=True)
        shown = "" if default is None or default is False or default == [] else f" (default: {default})"
        option = typer.Option(
            flag(name) if kind is not bool else f"{flag(name)}/--no-{flag(name)[2:]}",
            help=m.help + shown,
            rich_help_panel=m.panel,
            metavar=m.metavar,
            show_default=False,
        )
        out.append((name, Annotated[kind | None, option]))
    return out


def given(values: dict[str, Any]) -> dict[str, Any]:
    """The settings a user actually passed on the command line, parsed (not yet validated)."""
    out = {}
    for name, value in values.items():
        if value is None:
            continue
        parse = meta(name).parse
        out[name] = parse(value) if parse is not None and isinstance(value, str) else value
    return out
