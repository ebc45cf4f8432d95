"""Everything a report shows, computed from the store alone (never from a model)."""

from __future__ import annotations

import math
from collections import Counter

from pydantic import BaseModel

from ..data import LEVELS, SUBJECTS, Problem
from ..grading import Agreement, Grade, agreement
from ..solve import Attempt, AttemptStatus, counted_attempts
from ..store import RunData

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
    n: int = 0
    correct: int = 0

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.correct, self.n)


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


class SafetyStats(BaseModel):
    """The static classifier's flags against what the sandbox refused at run time, for the same programs."""

    programs: int  # attempts that had code
    flagged_programs: int
    problems: int  # problems with at least one program
    flagged_problems: int
    by_category: dict[str, int]  # programs with at least one finding of the category
    denied_programs: int  # programs the sandbox refused something to
    denied_and_flagged: int
    blocked: int  # not run under --unsafe block


class CappedAt(BaseModel):
    """The run as if it had allowed only k attempts: derived, since attempts stop at the first answer."""

    k: int
    accuracy: float
    unsolved_rate: float


def run_label(model: str, regeneration: str) -> str:
    """How a run is named in tables: its model, marked when its retries were regenerated token by token."""
    return model + (" (tbt)" if regeneration == "tbt" else "")


class Summary(BaseModel):
    db: str
    model: str
    dataset: str
    selection_hash: str
    status: str
    status_detail: str
    max_attempts: int
    overall: Tally
    by_subject: dict[str, Tally]
    by_level: dict[int, Tally]
    attempts_used: dict[int, int]  # attempts used -> number of problems
    statuses: dict[str, int]  # attempt status -> count over all attempts
    unsolved: list[str]  # problems with no answered attempt
    not_attempted: list[str]  # their last attempt failed for infrastructure reasons (a backend, the sandbox)
    not_graded: list[str]  # answered, but a grader could not be reached (the judge)
    unfinished: int  # not reached yet (an interrupted run)
    generation_s: float
    execution_s: float
    completion_tokens: int
    grading_mode: str
    graders: GraderComparison | None  # when both the symbolic grader and the judge graded answers
    safety: SafetyStats
    capped: list[CappedAt]  # k = 1 .. max_attempts
    regeneration: str  # full | tbt
    regenerated_attempts: int  # tbt retries that continued a kept prefix
    tokens_reused: int
    sandbox: str  # the mode programs ran in
    missing_layers: list[str]  # isolation layers the sandbox could not have when the run started
    warnings: list[str]  # what makes the numbers above less than a full, clean result

    @property
    def label(self) -> str:
        return run_label(self.model, self.regeneration)


def summarize(data: RunData) -> Summary:
    record, settings = data.record, data.record.settings
    grades = data.final
    overall = Tally()
    by_subject = {s: Tally() for s in SUBJECTS}
    by_level = {lvl: Tally() for lvl in LEVELS}
    used: Counter[int] = Counter()
    statuses: Counter[str] = Counter()
    unsolved: list[str] = []
    not_attempted: list[str] = []
    not_graded: list[str] = []
    for p in data.problems:
        tried = data.attempts.get(p.id, [])
        statuses.update(a.status.value for a in tried)
        grade = grades.get(p.id)
        if grade is None:
            if tried and tried[-1].status.infrastructure:
                not_attempted.append(p.id)
            elif tried and tried[-1].status == AttemptStatus.ANSWERED:
                not_graded.append(p.id)
            continue
        for tally in (overall, by_subject[p.subject], by_level[p.level]):
            tally.n += 1
            tally.correct += grade.correct
        counted = counted_attempts(tried)
        used[len(counted)] += 1
        if not any(a.status == AttemptStatus.ANSWERED for a in counted):
            unsolved.append(p.id)
    every = [a for tried in data.attempts.values() for a in tried]
    isolation = record.isolation or {}
    missing = [str(m) for m in isolation.get("missing", [])]
    unfinished = len(data.problems) - len(grades) - len(not_attempted) - len(not_graded)
    warnings = [w for w in (
        f"{len(not_attempted)} problems not attempted (backend errors); resume to attempt them" if not_attempted
        else "",
        f"{len(not_graded)} problems not graded (judge unavailable); resume to grade them" if not_graded else "",
        f"{unfinished} problems not finished ({record.status.value} run)" if unfinished else "",
        f"{statuses[AttemptStatus.SANDBOX_ERROR]} sandbox errors (programs not run; not counted as attempts)"
        if statuses[AttemptStatus.SANDBOX_ERROR] else "",
        "sandbox ran with isolation layers missing: " + "; ".join(missing) if missing else "",
        f"programs ran as uid 0 (sandbox mode {isolation.get('mode')})" if isolation.get("mode") == "unsafe-root"
        else "",
    ) if w]
    return Summary(
        db=str(data.path),
        model=record.model,
        dataset=record.dataset.source,
        selection_hash=record.dataset.selection_hash,
        status=record.status.value,
        status_detail=record.status_detail,
        max_attempts=settings.attempts,
        overall=overall,
        by_subject={s: t for s, t in by_subject.items() if t.n},
        by_level={lvl: t for lvl, t in by_level.items() if t.n},
        attempts_used=dict(sorted(used.items())),
        statuses=dict(statuses.most_common()),
        unsolved=unsolved,
        not_attempted=not_attempted,
        not_graded=not_graded,
        unfinished=unfinished,
        generation_s=sum(a.gen_s for a in every),
        execution_s=sum(a.exec_s for a in every),
        completion_tokens=sum(a.completion_tokens for a in every),
        grading_mode=settings.grading,
        graders=compare_graders(data),
        safety=safety_stats(data.attempts),
        capped=capped_curve(data.problems, data.attempts, grades, settings.attempts),
        regeneration=settings.regeneration,
        regenerated_attempts=sum(bool(a.regeneration) for a in every),
        tokens_reused=sum(a.tokens_reused or 0 for a in every),
        sandbox=str(isolation.get("mode") or settings.sandbox),
        missing_layers=missing,
        warnings=warnings,
    )


def capped_curve(problems: list[Problem], attempts: dict[str, list[Attempt]], grades: dict[str, Grade],
                 max_attempts: int) -> list[CappedAt]:
    """A problem counts as correct at cap k when its graded answer came at (counted) attempt <= k."""
    graded = [p for p in problems if p.id in grades]
    if not graded:
        return []
    answered_at: dict[str, int | None] = {}
    for p in graded:
        counted = counted_attempts(attempts.get(p.id, []))
        numbers = [i for i, a in enumerate(counted, start=1) if a.status == AttemptStatus.ANSWERED]
        answered_at[p.id] = min(numbers) if numbers else None
    curve = []
    for k in range(1, max_attempts + 1):
        solved = [p for p in graded if (at := answered_at[p.id]) is not None and at <= k]
        correct = sum(grades[p.id].correct for p in solved)
        curve.append(CappedAt(k=k, accuracy=correct / len(graded), unsolved_rate=1 - len(solved) / len(graded)))
    return curve


def safety_stats(attempts: dict[str, list[Attempt]]) -> SafetyStats:
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
    symbolic, judge = data.grader("symbolic"), data.grader("judge")
    both = [p for p in data.problems
            if p.id in symbolic and p.id in judge and symbolic[p.id].status != "no_answer"]
    if not both:
        return None
    first = [symbolic[p.id].correct for p in both]
    second = [judge[p.id].correct for p in both]
    table = agreement(first, second)
    return GraderComparison(
        agreement=table, rate=table.rate, kappa=table.kappa,
        symbolic_accuracy=sum(first) / len(both), judge_accuracy=sum(second) / len(both),
        disagreements=[Disagreement(problem_id=p.id, answer=symbolic[p.id].answer, reference=p.answer,
                                    symbolic=symbolic[p.id].correct, judge=judge[p.id].correct,
                                    judge_score=judge[p.id].score)
                       for p in both if symbolic[p.id].correct != judge[p.id].correct],
    )
