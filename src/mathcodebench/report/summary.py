"""Everything a report shows, computed from the store alone (never from a model).

With repeated samples (`--samples N`) a problem's accuracy is its solve rate (correct samples / N); totals are
means over problems with intervals from a bootstrap over problems (report/samples.py); attempts, statuses,
capped-at-k, unsafe code, tbt and grader agreement are counted over every sample.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from pydantic import BaseModel, Field

from ..data import LEVELS, SUBJECTS, Problem
from ..grading import JUDGE, SYMBOLIC, Agreement, agreement, calibration
from ..grading.calibration import Calibration
from ..models.endpoints import EndpointStats
from ..solve import DEFAULT_PROMPT, METHOD_PROMPTS, Attempt, AttemptStatus
from ..store import EndpointRecord, RunData, RunStatus, Unit
from .samples import AtK, at_k, bootstrap_mean, ks, majority_correct, pass_at_k

Z95 = 1.959963984540054


def wilson(correct: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion; sound at 0 % and 100 % and for small cells."""
    if n == 0:
        return (0.0, 1.0)
    p = correct / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


class Tally(BaseModel):
    """Problems and correct samples in one cell. With one sample, the Wilson interval; with several, a
    bootstrap over the cell's problems of their solve rates."""

    n: int = 0  # problems
    correct: int = 0  # correct samples (= correct problems with one sample)
    samples: int = 1
    per_problem: list[int] = Field(default_factory=list, exclude=True)  # correct samples of each problem

    def add(self, correct: int) -> None:
        self.n += 1
        self.correct += correct
        self.per_problem.append(correct)

    @property
    def accuracy(self) -> float:
        return self.correct / (self.n * self.samples) if self.n else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        if self.samples == 1:
            return wilson(self.correct, self.n)
        return bootstrap_mean([c / self.samples for c in self.per_problem])


def unit_label(unit: Unit, samples: int) -> str:
    """How one sample of a problem is named: the problem id, with `#s` when there are several samples."""
    return unit[0] if samples == 1 else f"{unit[0]}#{unit[1]}"


class Disagreement(BaseModel):
    problem_id: str
    answer: str
    reference: str
    symbolic: bool
    judge: bool
    judge_score: int | None


class GraderComparison(BaseModel):
    """Symbolic grader (first) against the judge (second) on the answers both graded."""

    agreement: Agreement
    rate: float
    kappa: float | None
    symbolic_accuracy: float
    judge_accuracy: float
    disagreements: list[Disagreement]
    judge: str  # its spec
    decisive: str  # the grader whose verdict the accuracy is (cascade: the last that ran, per answer)
    calibration: Calibration | None  # the judge measured against labels, when it has been (grading/calibration.py)

    @property
    def roles(self) -> str:
        """Which verdict the accuracy is, and what the judge's measured calibration says of the judge."""
        role = (
            f"the accuracy is the {self.decisive} grader's"
            if self.decisive != "cascade"
            else "the accuracy is, per answer, the last grader's that ran (cascade)"
        )
        if self.decisive == SYMBOLIC:
            role += f"; the {JUDGE} is the cross-check"
        measured = (
            self.calibration.describe()
            if self.calibration is not None
            else "not measured against labelled answers (benchmarks/judge_calibration.py)"
        )
        return f"Graders: {role}. The {JUDGE} {self.judge} is {measured}."


class SafetyStats(BaseModel):
    """The static classifier's flags against what the sandbox refused at run time, for the same programs."""

    programs: int  # attempts that had code
    flagged_programs: int
    problems: int  # problems (samples, with several) with at least one program
    flagged_problems: int
    by_category: dict[str, int]  # programs with at least one finding of the category
    denied_programs: int  # programs the sandbox refused something to
    denied_and_flagged: int
    blocked: int  # not run under --unsafe block


class EndpointUse(BaseModel):
    """What one model endpoint did over every session of the run."""

    role: str  # model | judge
    url: str
    requests: int
    answered: int
    errors: int
    taken_out: int
    mean_latency_s: float | None  # over answered requests
    max_latency_s: float


class CappedAt(BaseModel):
    """The run as if it had allowed only k attempts: derived, since attempts stop at the first answer."""

    k: int
    accuracy: float
    unsolved_rate: float


def run_label(model: str, regeneration: str = "full", prompt_version: str = DEFAULT_PROMPT, method: str = "pot") -> str:
    """How a run is named in tables: its model, marked when its retries were regenerated token by token, when it
    reasoned with tools (tir), and when it was told something other than its method's built-in prompt (two
    prompts compare like two models)."""
    return (
        model
        + (" (tbt)" if regeneration == "tbt" else "")
        + (f" ({method})" if method != "pot" else "")
        + (f" (prompt {prompt_version})" if prompt_version != METHOD_PROMPTS[method] else "")
    )


class Summary(BaseModel):
    db: str
    model: str
    dataset: str
    selection_hash: str
    status: str
    status_detail: str
    max_attempts: int
    samples: int
    overall: Tally
    by_subject: dict[str, Tally]
    by_level: dict[int, Tally]
    attempts_used: dict[int, int]  # attempts used -> number of samples (problems, with one sample each)
    statuses: dict[str, int]  # attempt status -> count over all attempts
    unsolved: list[str]  # samples (problems) with no answered attempt
    not_attempted: list[str]  # their last attempt failed for infrastructure reasons (a backend, the sandbox)
    not_graded: list[str]  # answered, but a grader could not be reached (the judge)
    unfinished: int  # samples not reached yet (an interrupted run)
    solve_rates: dict[int, int]  # correct samples -> number of problems (repeated samples)
    pass_at: list[AtK]  # pass@k for k = 1, 2, 4, ... samples (repeated samples)
    maj_at: list[AtK]  # maj@k likewise
    generation_s: float
    execution_s: float
    completion_tokens: int
    grading_mode: str
    graders: GraderComparison | None  # when both the symbolic grader and the judge graded answers
    safety: SafetyStats
    capped: list[CappedAt]  # k = 1 .. max_attempts
    regeneration: str  # full | tbt
    prompt_version: str  # solve-v1, or a custom template's name@hash
    method: str  # pot | tir
    regenerated_attempts: int  # tbt retries that continued a kept prefix
    tokens_reused: int
    tool_calls: int  # tir: code blocks run, over all attempts
    sandbox: str  # the mode programs ran in
    missing_layers: list[str]  # isolation layers the sandbox could not have when the run started
    warnings: list[str]  # what makes the numbers above less than a full, clean result
    executor: str = "local"  # where the last session solved problems: local | ray
    nodes: list[str] = []  # the machines its programs ran on (with --executor ray, one per Ray node)
    endpoints: list[EndpointUse] = []  # per model endpoint, over every session

    @property
    def label(self) -> str:
        return run_label(self.model, self.regeneration, self.prompt_version, self.method)

    @property
    def unsolved_rate(self) -> float:
        graded = self.overall.n * self.samples
        return len(self.unsolved) / graded if graded else 0.0


def _why_ungraded(data: RunData) -> str:
    """Why answered samples have no grade: only the judge can be unavailable, and only a pass that ran to its end
    (an incomplete run) says it was; otherwise the run stopped between an answer and its grade."""
    judged = data.record.settings.grading_settings().needs_judge
    if judged and data.record.status == RunStatus.INCOMPLETE:
        return "judge unavailable"
    return "answered before the run stopped"


def summarize(data: RunData) -> Summary:
    record, settings, samples = data.record, data.record.settings, data.samples
    grades = data.final
    overall = Tally(samples=samples)
    by_subject = {s: Tally(samples=samples) for s in SUBJECTS}
    by_level = {lvl: Tally(samples=samples) for lvl in LEVELS}
    used: Counter[int] = Counter()
    statuses: Counter[str] = Counter()
    not_attempted: list[str] = []
    not_graded: list[str] = []
    finished = [p for p in data.problems if data.finished(p.id)]
    for p in data.problems:
        for unit in data.units(p.id):
            tried = data.tried(unit)
            statuses.update(a.status.value for a in tried)
            if unit not in grades:
                if tried and tried[-1].status.infrastructure:
                    not_attempted.append(unit_label(unit, samples))
                elif tried and tried[-1].status == AttemptStatus.ANSWERED:
                    not_graded.append(unit_label(unit, samples))
    for p in finished:
        for tally in (overall, by_subject[p.subject], by_level[p.level]):
            tally.add(data.correct(p.id))
        used.update(len(data.counted(unit)) for unit in data.units(p.id))
    unsolved = [unit_label(unit, samples) for unit in unsolved_units(data)]
    every = [a for tried in data.attempts.values() for a in tried]
    isolation = record.isolation or {}
    missing = [str(m) for m in isolation.get("missing", [])]
    what = "samples" if samples > 1 else "problems"
    unfinished = len(data.problems) * samples - len(grades) - len(not_attempted) - len(not_graded)
    warnings = [
        w
        for w in (
            f"{len(not_attempted)} {what} not attempted (backend errors); resume to attempt them"
            if not_attempted
            else "",
            f"{len(not_graded)} {what} not graded ({_why_ungraded(data)}); resume to grade them" if not_graded else "",
            f"{unfinished} {what} not finished ({record.status.value} run)" if unfinished else "",
            f"{statuses[AttemptStatus.SANDBOX_ERROR]} sandbox errors (programs not run; not counted as attempts)"
            if statuses[AttemptStatus.SANDBOX_ERROR]
            else "",
            "sandbox ran with isolation layers missing: " + "; ".join(missing) if missing else "",
            f"programs ran as uid 0 (sandbox mode {isolation.get('mode')})"
            if isolation.get("mode") == "unsafe-root"
            else "",
        )
        if w
    ]
    pass_at, maj_at = _repeated(data, finished) if samples > 1 else ([], [])
    return Summary(
        db=str(data.path),
        model=record.model,
        dataset=record.dataset.source,
        selection_hash=record.dataset.selection_hash,
        status=record.status.value,
        status_detail=record.status_detail,
        max_attempts=settings.attempts,
        samples=samples,
        overall=overall,
        by_subject={s: t for s, t in by_subject.items() if t.n},
        by_level={lvl: t for lvl, t in by_level.items() if t.n},
        attempts_used=dict(sorted(used.items())),
        statuses=dict(statuses.most_common()),
        unsolved=unsolved,
        not_attempted=not_attempted,
        not_graded=not_graded,
        unfinished=unfinished,
        solve_rates=dict(sorted(Counter(overall.per_problem).items())) if samples > 1 else {},
        pass_at=pass_at,
        maj_at=maj_at,
        generation_s=sum(a.gen_s for a in every),
        execution_s=sum(a.exec_s for a in every),
        completion_tokens=sum(a.completion_tokens for a in every),
        grading_mode=settings.grading,
        graders=compare_graders(data),
        safety=safety_stats(data.attempts),
        capped=capped_curve(data, [p.id for p in finished]),
        regeneration=settings.regeneration,
        prompt_version=record.recorded.prompt_version,
        method=settings.method,
        regenerated_attempts=sum(bool(a.regeneration) for a in every),
        tokens_reused=sum(a.tokens_reused or 0 for a in every),
        tool_calls=sum(t.code is not None for a in every for t in a.turns),
        sandbox=str(isolation.get("mode") or settings.sandbox),
        missing_layers=missing,
        warnings=warnings,
        executor=settings.executor,
        nodes=nodes(record.sessions[-1].isolation if record.sessions else record.isolation),
        endpoints=endpoint_use(data.endpoints),
    )


def nodes(isolation: dict[str, Any] | None) -> list[str]:
    """Where a session's programs ran: each Ray node (host and node id), or the one machine."""
    if not isolation:
        return []
    if "nodes" in isolation:
        return [f"{n.get('node')} ({str(n.get('ray_node', ''))[:8]})" for n in isolation["nodes"]]
    return [str(isolation["node"])] if "node" in isolation else []


def endpoint_use(records: list[EndpointRecord]) -> list[EndpointUse]:
    """Each endpoint's counts summed over the run's sessions."""
    by: dict[tuple[str, str], EndpointStats] = {}
    for r in records:
        key = (r.role, r.url)
        stats = EndpointStats.model_validate(r.model_dump(exclude={"session", "role"}))
        by[key] = by[key].plus(stats) if key in by else stats
    return [
        EndpointUse(
            role=role,
            url=url,
            requests=s.requests,
            answered=s.answered,
            errors=s.errors,
            taken_out=s.taken_out,
            mean_latency_s=s.latency_s / s.answered if s.answered else None,
            max_latency_s=s.latency_max_s,
        )
        for (role, url), s in by.items()
    ]


def unsolved_units(data: RunData) -> list[Unit]:
    """Samples of finished problems with no answered attempt after the budget (they count as incorrect)."""
    return [
        unit
        for p in data.problems
        if data.finished(p.id)
        for unit in data.units(p.id)
        if not any(a.status == AttemptStatus.ANSWERED for a in data.counted(unit))
    ]


def _repeated(data: RunData, finished: list[Problem]) -> tuple[list[AtK], list[AtK]]:
    """pass@k and maj@k over the finished problems."""
    n = data.samples
    correct = [data.correct(p.id) for p in finished]
    passes = [at_k([pass_at_k(n, c, k) for c in correct], k) for k in ks(n)]
    majorities = []
    for k in ks(n):
        per_problem = []
        for p in finished:
            units = data.units(p.id)
            classes = {u[1]: data.votes[u] for u in units if u in data.votes}
            per_problem.append(float(majority_correct(classes, {u[1]: data.final[u].correct for u in units}, k)))
        majorities.append(at_k(per_problem, k))
    return passes, majorities


def capped_curve(data: RunData, finished: list[str]) -> list[CappedAt]:
    """A sample counts as correct at cap k when its graded answer came at (counted) attempt <= k."""
    units = [u for pid in finished for u in data.units(pid)]
    if not units:
        return []
    answered_at: dict[Unit, int | None] = {}
    for unit in units:
        numbers = [i for i, a in enumerate(data.counted(unit), start=1) if a.status == AttemptStatus.ANSWERED]
        answered_at[unit] = min(numbers) if numbers else None
    curve = []
    for k in range(1, data.record.settings.attempts + 1):
        solved = [u for u in units if (at := answered_at[u]) is not None and at <= k]
        correct = sum(data.final[u].correct for u in solved)
        curve.append(CappedAt(k=k, accuracy=correct / len(units), unsolved_rate=1 - len(solved) / len(units)))
    return curve


def safety_stats(attempts: dict[Unit, list[Attempt]]) -> SafetyStats:
    programs = [a for tried in attempts.values() for a in tried if a.code is not None]
    categories: Counter[str] = Counter()
    for a in programs:
        categories.update({f.category.value for f in a.unsafe})
    with_code = [tried for tried in attempts.values() if any(a.code is not None for a in tried)]
    return SafetyStats(
        programs=len(programs),
        flagged_programs=sum(bool(a.unsafe) for a in programs),
        problems=len(with_code),
        flagged_problems=sum(any(a.unsafe for a in tried) for tried in with_code),
        by_category=dict(categories.most_common()),
        denied_programs=sum(a.denied is not None for a in programs),
        denied_and_flagged=sum(a.denied is not None and bool(a.unsafe) for a in programs),
        blocked=sum(a.status == AttemptStatus.UNSAFE_BLOCKED for a in programs),
    )


def compare_graders(data: RunData) -> GraderComparison | None:
    symbolic, judge = data.grader(SYMBOLIC), data.grader(JUDGE)
    by_unit = {u: p for p in data.problems for u in data.units(p.id)}
    both = [u for u in by_unit if u in symbolic and u in judge and symbolic[u].status != "no_answer"]
    if not both:
        return None
    first = [symbolic[u].correct for u in both]
    second = [judge[u].correct for u in both]
    table = agreement(first, second)
    spec = data.record.settings.judge or JUDGE
    return GraderComparison(
        agreement=table,
        rate=table.rate,
        kappa=table.kappa,
        symbolic_accuracy=sum(first) / len(both),
        judge_accuracy=sum(second) / len(both),
        disagreements=[
            Disagreement(
                problem_id=unit_label(u, data.samples),
                answer=symbolic[u].answer,
                reference=by_unit[u].answer,
                symbolic=symbolic[u].correct,
                judge=judge[u].correct,
                judge_score=judge[u].score,
            )
            for u in both
            if symbolic[u].correct != judge[u].correct
        ],
        judge=spec,
        decisive=data.record.settings.grading_settings().decisive_grader or "cascade",
        calibration=calibration.known(spec, data.record.recorded.judge_prompt_version),
    )
