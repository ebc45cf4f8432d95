"""Everything a report shows, computed from the store alone (never from a model)."""

from __future__ import annotations

import math
from collections import Counter

from pydantic import BaseModel

from ..data import LEVELS, SUBJECTS
from ..grading import FINAL, Agreement, agreement
from ..solve import AttemptStatus
from ..store import RunStore

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
    max_attempts: int
    overall: Tally
    by_subject: dict[str, Tally]
    by_level: dict[int, Tally]
    attempts_used: dict[int, int]  # attempts used -> number of problems
    statuses: dict[str, int]  # attempt status -> count over all attempts
    unsolved: list[str]  # problems with no answered attempt
    ungraded: int  # problems not finished (interrupted run)
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

    @property
    def label(self) -> str:
        return run_label(self.model, self.regeneration)


def summarize(store: RunStore) -> Summary:
    info = store.run_info()
    problems = store.problems()
    attempts = store.attempts()
    grades = store.grades(FINAL)
    overall = Tally()
    by_subject = {s: Tally() for s in SUBJECTS}
    by_level = {lvl: Tally() for lvl in LEVELS}
    used: Counter[int] = Counter()
    statuses: Counter[str] = Counter()
    unsolved: list[str] = []
    for p in problems:
        tried = attempts.get(p.id, [])
        statuses.update(a.status.value for a in tried)
        grade = grades.get(p.id)
        if grade is None:
            continue
        for tally in (overall, by_subject[p.subject], by_level[p.level]):
            tally.n += 1
            tally.correct += grade.correct
        used[len(tried)] += 1
        if not any(a.status == AttemptStatus.ANSWERED for a in tried):
            unsolved.append(p.id)
    every = [a for tried in attempts.values() for a in tried]
    return Summary(
        db=str(store.path),
        model=info["model"],
        dataset=info["dataset"]["source"],
        selection_hash=info["dataset"]["selection_hash"],
        status=info["status"],
        max_attempts=info["config"]["attempts"],
        overall=overall,
        by_subject={s: t for s, t in by_subject.items() if t.n},
        by_level={lvl: t for lvl, t in by_level.items() if t.n},
        attempts_used=dict(sorted(used.items())),
        statuses=dict(statuses.most_common()),
        unsolved=unsolved,
        ungraded=len(problems) - len(grades),
        generation_s=sum(a.gen_s for a in every),
        execution_s=sum(a.exec_s for a in every),
        completion_tokens=sum(a.completion_tokens for a in every),
        grading_mode=info["config"]["grading"]["mode"],
        graders=compare_graders(store, problems),
        safety=safety_stats(attempts),
        capped=capped_curve(problems, attempts, grades, info["config"]["attempts"]),
        regeneration=info["config"].get("regeneration", "full"),
        regenerated_attempts=sum(bool(a.regeneration) for a in every),
        tokens_reused=sum(a.tokens_reused or 0 for a in every),
    )


def capped_curve(problems: list, attempts: dict[str, list], grades: dict, max_attempts: int) -> list[CappedAt]:
    """A problem counts as correct at cap k when its graded answer came at attempt <= k."""
    graded = [p for p in problems if p.id in grades]
    if not graded:
        return []
    answered_at = {}
    for p in graded:
        numbers = [a.number for a in attempts.get(p.id, []) if a.status == AttemptStatus.ANSWERED]
        answered_at[p.id] = min(numbers) if numbers else None
    curve = []
    for k in range(1, max_attempts + 1):
        solved = [p for p in graded if answered_at[p.id] is not None and answered_at[p.id] <= k]
        correct = sum(grades[p.id].correct for p in solved)
        curve.append(CappedAt(k=k, accuracy=correct / len(graded), unsolved_rate=1 - len(solved) / len(graded)))
    return curve


def safety_stats(attempts: dict[str, list]) -> SafetyStats:
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


def compare_graders(store: RunStore, problems: list) -> GraderComparison | None:
    symbolic, judge = store.grades("symbolic"), store.grades("judge")
    both = [p for p in problems if p.id in symbolic and p.id in judge and symbolic[p.id].status != "no_answer"]
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
