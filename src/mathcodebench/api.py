"""The Python API behind the CLI: start or resume a run, solve and grade its problems, and store every step.

A `Run` is an open run database whose process is its only writer (the store holds the run's lock). Everything
that can fail before the first problem (the settings, the data, the models, the judge, the sandbox) is checked
before anything is written; on `--resume` nothing is changed until the new session is accepted.
"""

from __future__ import annotations

import platform
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from .data import Loaded, Problem, load, select, selection_hash
from .errors import Incomplete, UserError
from .executors import Executor, Plan, create_executor
from .grading import FINAL, JUDGE_PROMPT_VERSION, Grade, Grading, GradingSettings
from .grading.judge import RUBRIC
from .models import ChatModel, FatalModelError, Message, ModelError, create_model
from .sandbox import Sandbox
from .settings import RESUMABLE, Settings, build, flag
from .solve import Attempt, Prompt, load_prompt, require_prefix
from .store import DatasetInfo, Recorded, RunRecord, RunStatus, RunStore, Unit
from .work import Done, Outcome, regrade_problem

OnProblem = Callable[[Done], None]
# This many infrastructure failures in a row (model backend, sandbox, judge), with nothing working in between,
# mean the machinery is down, not flaky: the run stops, resumable, instead of failing every remaining problem.
OUTAGE_FAILURES = 5
ENDPOINTS_EVERY_S = 10.0  # how often a run's per-endpoint counts are written while it runs (and at its end)


def slug(spec: str) -> str:
    """A model spec as a file-name part: `ollama/llama3.1:8b` -> `ollama-llama3.1-8b`."""
    return re.sub(r"[^A-Za-z0-9.]+", "-", spec).strip("-")


def default_db(model: str) -> Path:
    return Path("runs") / f"{datetime.now():%Y%m%d-%H%M%S}-{slug(model)}.sqlite"


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("mathcodebench", "math-verify", "sympy", "llama-cpp-python", "pydantic"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "absent"
    return out


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Chosen(BaseModel):
    """The problems a run uses and how they were found; stored with the run."""

    problems: list[Problem]
    info: DatasetInfo


def choose_problems(settings: Settings) -> Chosen:
    loaded: Loaded = load(settings.dataset)
    problems, short = select(loaded.problems, settings.selection())
    return Chosen(
        problems=problems,
        info=DatasetInfo(
            source=loaded.source,
            selection_hash=selection_hash(problems),
            skipped=[(s.id, s.reason) for s in loaded.skipped],
            short_cells=short,
        ),
    )


def solver(settings: Settings) -> ChatModel:
    return create_model(
        settings.model,
        settings.base_url or None,
        concurrency=settings.concurrency,
        chat_template=settings.chat_template,
        timeout_s=settings.request_timeout,
    )


def judge_model(settings: GradingSettings, solving: ChatModel | None) -> ChatModel | None:
    """The judge, sharing the solver's instance when it is the same model (one copy of the weights)."""
    if not settings.needs_judge or settings.judge is None:
        return None
    if solving is not None and solving.spec == settings.judge:
        return solving
    return create_model(settings.judge)


def preflight(settings: Settings, model: ChatModel, judge: ChatModel | None) -> None:
    """Seconds, not a night: every model the run needs is reachable, authorised, knows the model and generates;
    and it can do what the settings ask of it. Any failure is one line, before anything is written."""
    if settings.regeneration == "tbt":
        require_prefix(model, [Message(role="user", content="Solve the problem.")])
    # with several endpoints, each one: a mistyped address is caught now, not taken out for the whole night
    each = (
        [
            (solver(settings.model_copy(update={"base_url": [url]})), f"model (endpoint {url})")
            for url in settings.base_url
        ]
        if len(settings.base_url) > 1 and model.spec == settings.model
        else []
    )
    check_models(
        (each or [(model, "model")]) + ([(judge, "judge")] if judge is not None and judge is not model else [])
    )


def check_models(models: list[tuple[ChatModel, str]]) -> None:
    for checked, role in models:
        try:
            checked.check()
        except FatalModelError:
            raise
        except ModelError as exc:
            raise UserError(
                f"{role} {checked.spec} failed its preflight check: {exc} (--no-preflight skips the check)"
            ) from None


class Run:
    """An open run: solve and grade what is left, storing each step. Close it (or use `with`)."""

    def __init__(
        self,
        store: RunStore,
        settings: Settings,
        prompt: Prompt,
        model: ChatModel,
        judge: ChatModel | None,
        executor: Executor,
    ) -> None:
        self.store, self.settings, self.prompt = store, settings, prompt
        self.model, self.judge, self.executor = model, judge, executor
        self.outcome = RunStatus.RUNNING
        self.detail = ""

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def execute(self, on_problem: OnProblem | None = None) -> RunStatus:
        """Solve and grade every sample of every problem that has no final grade yet.

        The executor (`--executor`: threads here, or actors on a Ray cluster's nodes) decides where problems are
        solved; every step comes back through this process's sink, the one writer. On Ctrl-C, an outage or a
        fatal error, workers stop after the attempt they are in is stored; `--resume` continues from there.
        """
        store, settings = self.store, self.settings
        graded = store.grades(FINAL)
        todo = [p for p in store.problems() if any((p.id, s) not in graded for s in range(1, settings.samples + 1))]
        sink = _StoreSink(store, self.model.spec)
        outcomes: list[Outcome] = []
        written = time.monotonic()

        def finished(results: list[Done]) -> None:
            nonlocal written
            for done in results:
                outcomes.append(done.outcome)
                if on_problem:
                    on_problem(done)
            if time.monotonic() - written >= ENDPOINTS_EVERY_S:
                store.set_endpoints(self.executor.usage())
                written = time.monotonic()

        store.set_status(RunStatus.RUNNING)
        try:
            self.executor.run(Plan(todo, store.attempts(), graded, store), sink, finished)
        except BaseException as exc:
            sink.stop.set()
            self.outcome = RunStatus.INTERRUPTED
            self.detail = str(exc) if isinstance(exc, UserError) else type(exc).__name__
            store.set_status(RunStatus.INTERRUPTED, self.detail)
            raise
        finally:
            store.set_endpoints(self.executor.usage())
        missing = {kind: sum(o == kind for o in outcomes) for kind in (Outcome.NOT_ATTEMPTED, Outcome.UNGRADED)}
        if any(missing.values()):
            self.outcome = RunStatus.INCOMPLETE
            self.detail = incomplete_detail(missing[Outcome.NOT_ATTEMPTED], missing[Outcome.UNGRADED], settings.samples)
        else:
            self.outcome, self.detail = RunStatus.FINISHED, ""
        store.set_status(self.outcome, self.detail)
        return self.outcome

    def close(self) -> None:
        """Release the executor (its sandboxes) and the run; the session log says how this session ended."""
        self.executor.close()
        if self.outcome == RunStatus.RUNNING:  # closed without finishing its pass (an error before or during it)
            self.outcome = RunStatus.INTERRUPTED
            self.store.set_status(self.outcome, self.detail)
        self.store.close(self.outcome.value, self.detail)


def incomplete_detail(not_attempted: int, ungraded: int, samples: int = 1) -> str:
    what = "samples" if samples > 1 else "problems"
    parts = []
    if not_attempted:
        parts.append(f"{not_attempted} {what} not attempted (backend errors)")
    if ungraded:
        parts.append(f"{ungraded} {what} not graded (judge unavailable)")
    return "; ".join(parts)


class _Stopped(Exception):
    """Raised in a worker after its current attempt is stored, once the run is being stopped."""


class _StoreSink:
    """The run's store as a worker's sink, watching for outages: infrastructure failures in a row, across
    workers, nothing working in between; too many stop the run."""

    def __init__(self, store: RunStore, spec: str) -> None:
        self.store, self.spec = store, spec
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._failures = 0

    def _note(self, failed: bool, why: str, what: str) -> None:
        with self._lock:
            self._failures = self._failures + 1 if failed else 0
            outage = self._failures >= OUTAGE_FAILURES
        if outage:
            self.stop.set()
            raise Incomplete(
                f"{what} failed {OUTAGE_FAILURES} times in a row ({why[:160]}); the run is stopped: "
                f"when it is back, continue with mathcodebench run --resume {self.store.path}"
            )
        if self.stop.is_set():
            raise _Stopped

    def add_attempt(self, attempt: Attempt) -> None:
        self.store.add_attempt(attempt)
        self._note(attempt.status.infrastructure, attempt.stderr, self.spec)

    def add_grades(self, unit: Unit, attempt: int | None, grades: dict[str, Grade]) -> None:
        self.store.add_grades(unit, attempt, grades)
        self._note(False, "", "")

    def set_votes(self, problem_id: str, classes: dict[int, int]) -> None:
        self.store.set_votes(problem_id, classes)

    def grader_failed(self, why: str) -> None:
        self._note(True, why, "the judge")


def _recorded(prompt: Prompt, study: str | None) -> Recorded:
    return Recorded(
        prompt_version=prompt.version,
        judge_prompt_version=JUDGE_PROMPT_VERSION,
        judge_rubric=RUBRIC,
        study=study,
        prompt=prompt,
    )


def start(
    settings: Settings,
    db: Path,
    *,
    model: ChatModel | None = None,
    judge: ChatModel | None = None,
    sandbox: Sandbox | None = None,
    check: bool = True,
    study: str | None = None,
    command: str = "run",
) -> Run:
    """Validate everything and check every model, then create the run (nothing is written when any fails)."""
    if db.exists():  # checked again under the run's lock when the file is created
        raise UserError(f"{db} already exists; choose another --db, continue it with --resume, or remove it")
    chosen = choose_problems(settings)
    prompt = load_prompt(settings.prompt_spec(), settings.shots)
    model = model or solver(settings)
    judge = judge or judge_model(settings.grading_settings(), model)
    if check:
        preflight(settings, model, judge)
    executor = create_executor(settings, settings.policy(prompt), model, judge, sandbox)
    try:
        record = RunRecord(
            settings=settings,
            recorded=_recorded(prompt, study),
            model=model.spec,
            model_info=model.describe(),
            versions=versions(),
            dataset=chosen.info,
            isolation=executor.isolation(),
            started_at=_now(),
            status=RunStatus.RUNNING,
        )
        store = RunStore.create(db, record, chosen.problems, command)
    except BaseException:
        executor.close()
        raise
    return Run(store, settings, prompt, model, judge, executor)


def resume(
    db: Path,
    given: dict[str, Any] | None = None,
    *,
    model: ChatModel | None = None,
    judge: ChatModel | None = None,
    sandbox: Sandbox | None = None,
    check: bool = True,
    command: str = "resume",
    study: str | None = None,
) -> Run:
    """Continue a stored run with its own settings. `given`: settings passed again; those that cannot change
    results are applied and logged, any other that differs from the stored value is refused in one line."""
    store = RunStore.open(db, command)  # takes the run's lock: a second writer stops here
    try:
        record = store.record()
        if study is not None and record.recorded.study != study:
            raise UserError(f"{db} was made by a different version of the study file; move it away to start over")
        settings, applied = resumed_settings(record.settings, given or {})
        model = model or solver(settings)
        judge = judge or judge_model(settings.grading_settings(), model)
        if check and record.status != RunStatus.FINISHED:  # a finished run has nothing to ask any model
            preflight(settings, model, judge)
        prompt = record.recorded.solve_prompt()
        executor = create_executor(settings, settings.policy(prompt), model, judge, sandbox)
    except BaseException:
        store.close()
        raise
    try:
        isolation = executor.isolation()
    except BaseException:
        executor.close()
        store.close()
        raise
    if applied:
        store.set_record(record.model_copy(update={"settings": settings}))
    store.begin_session(command, applied, isolation)
    return Run(store, settings, prompt, model, judge, executor)


def resumed_settings(stored: Settings, given: dict[str, Any]) -> tuple[Settings, dict[str, Any]]:
    """The stored settings with the allowed changes applied, and what changed; refuses any other change."""
    wanted = build({**stored.model_dump(), **given})
    changed = {name: getattr(wanted, name) for name in given if getattr(wanted, name) != getattr(stored, name)}
    refused = [name for name in changed if name not in RESUMABLE]
    if refused:
        shown = "; ".join(f"{flag(n)} {_shown(changed[n])} (stored: {_shown(getattr(stored, n))})" for n in refused)
        raise UserError(
            f"--resume keeps the settings that decide results: {shown}; drop "
            f"{'it' if len(refused) == 1 else 'them'}, or start a new run"
        )
    return wanted, {name: _jsonable(value) for name, value in changed.items()}


def _shown(value: object) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def _jsonable(value: object) -> object:
    return list(value) if isinstance(value, list | tuple) else value


def regrade(
    db: Path,
    given: dict[str, Any],
    *,
    judge: ChatModel | None = None,
    check: bool = True,
    on_problem: OnProblem | None = None,
) -> RunStatus:
    """Grade a stored run again (another mode, judge or tolerance) without calling the solving model.

    Judge verdicts come from the run's cache where the same judge saw the same answer before. A problem the
    judge cannot be reached for stays ungraded; `run --resume` grades it later.
    """
    store = RunStore.open(db, "regrade")
    try:
        record = store.record()
        settings = build({**record.settings.model_dump(), **given})
        judge = judge or judge_model(settings.grading_settings(), None)
        if check and judge is not None:
            check_models([(judge, "judge")])
    except BaseException:
        store.close()
        raise
    store.begin_session("regrade", {k: _jsonable(getattr(settings, k)) for k in given}, None)
    attempts = store.attempts()
    finished = set(store.grades(FINAL))  # an interrupted run's unfinished samples stay open for --resume
    grading = Grading(settings.grading_settings(), judge, store)
    ungraded = 0

    class _Regrade(_StoreSink):
        def grader_failed(self, why: str) -> None:
            nonlocal ungraded
            ungraded += 1

    sink = _Regrade(store, "")
    try:
        store.clear_grades()
        store.set_record(record.model_copy(update={"settings": settings}))
        for problem in store.problems():
            units = [(problem.id, sample) for sample in range(1, settings.samples + 1)]
            done = regrade_problem(
                grading, problem, settings.samples, {u: attempts.get(u, []) for u in units if u in finished}, sink
            )
            for each in done:
                if on_problem:
                    on_problem(each)
        status = RunStatus.INCOMPLETE if ungraded else record.status
        store.set_status(status, incomplete_detail(0, ungraded, settings.samples) if ungraded else record.status_detail)
    except BaseException:
        grading.close()
        store.close("interrupted")
        raise
    grading.close()
    store.close(status.value)
    return status
