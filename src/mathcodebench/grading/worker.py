"""Grading in a separate process with a hard per-item deadline: a hang is killed, not waited for.

math-verify's own timeouts use SIGALRM, which only works on the main thread; sympy can also hang inside
C code or big-integer arithmetic. A killed (or crashed) worker is restarted and the item recorded as
`timeout`. One long-lived worker serves every item, so its caches (parsed references) stay warm.
"""

from __future__ import annotations

import multiprocessing as mp
import re
import sys
import threading
import warnings
from multiprocessing.connection import Connection

from .base import DEFAULT_DEADLINE_S, REL_TOL, Grade, answer_line
from .registry import SYMBOLIC

MAX_INT_DIGITS = 100_000
_INTEGER = re.compile(r"-?\d{1,400}")  # most MATH answers; no parser or worker needed to compare two of them


def _serve(conn: Connection) -> None:
    from .symbolic import grade_output  # imported in the worker only: sympy stays out of the caller
    from .vote import answer_classes

    sys.set_int_max_str_digits(MAX_INT_DIGITS)  # `1/2004!` is fine to print here: a hang is killed anyway
    warnings.simplefilter("ignore")  # sympy deprecations and compile() warnings about model text
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        if request[0] == "vote":
            _, answers, reference, rel_tol = request
            conn.send(answer_classes(answers, reference, rel_tol))
            continue
        _, stdout, reference, rel_tol, problem = request
        conn.send(grade_output(stdout, reference, rel_tol, problem).model_dump())


class SymbolicGrader:
    """Grades printed output against a LaTeX reference in a killable worker process."""

    name = SYMBOLIC

    def __init__(self, deadline_s: float = DEFAULT_DEADLINE_S, rel_tol: float = REL_TOL) -> None:
        self.deadline_s = deadline_s
        self.rel_tol = rel_tol
        self._ctx = mp.get_context("spawn")  # never fork a process that may hold model threads
        self._proc: mp.process.BaseProcess | None = None
        self._conn: Connection | None = None
        self._lock = threading.Lock()  # one item at a time through the worker's pipe

    def _start(self) -> Connection:
        if self._proc is None or not self._proc.is_alive():
            parent, child = self._ctx.Pipe()
            self._proc = self._ctx.Process(target=_serve, args=(child,), daemon=True, name="mcb-grader")
            self._proc.start()
            child.close()
            self._conn = parent
        assert self._conn is not None
        return self._conn

    def grade(self, output: str, reference: str, problem: str = "") -> Grade:
        answer, gold = answer_line(output), reference.strip()
        if _INTEGER.fullmatch(answer) and _INTEGER.fullmatch(gold):
            return Grade(correct=int(answer) == int(gold), status="ok", method="integer", answer=answer)
        with self._lock:
            return self._grade(output, reference, problem)

    def _grade(self, stdout: str, reference: str, problem: str) -> Grade:
        conn = self._start()
        conn.send(("grade", stdout, reference, self.rel_tol, problem))
        if conn.poll(self.deadline_s):
            try:
                return Grade.model_validate(conn.recv())
            except EOFError:
                self._stop()
                return Grade(
                    correct=False,
                    status="timeout",
                    method="none",
                    answer=answer_line(stdout),
                    detail="grader process died (out of memory?) before a verdict",
                )
        self._stop()
        return Grade(
            correct=False,
            status="timeout",
            method="none",
            answer=answer_line(stdout),
            detail=f"no verdict within {self.deadline_s:g} s",
        )

    def vote(self, answers: dict[int, str], reference: str) -> dict[int, int]:
        """Majority-voting classes of a problem's samples (sample -> smallest equivalent sample); where the worker
        finds no verdict in time, identical answers only are one vote."""
        with self._lock:
            conn = self._start()
            conn.send(("vote", answers, reference, self.rel_tol))
            if conn.poll(self.deadline_s * max(1, len(answers))):
                try:
                    return dict(conn.recv())
                except EOFError:
                    pass
            self._stop()
        first: dict[str, int] = {}
        return {sample: first.setdefault(answer_line(answer), sample) for sample, answer in sorted(answers.items())}

    def _stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.join()
        if self._conn is not None:
            self._conn.close()
        self._proc = self._conn = None

    def close(self) -> None:
        with self._lock:
            self._stop()

    def __enter__(self) -> SymbolicGrader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
