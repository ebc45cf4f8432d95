"""Grading in a separate process with a hard per-item deadline: a hang is killed, not waited for.

math-verify's own timeouts use SIGALRM, which only works on the main thread; sympy can also hang inside
C code or big-integer arithmetic. A killed worker is restarted and the item recorded as `timeout`.
"""

from __future__ import annotations

import multiprocessing as mp
import re
import threading
from multiprocessing.connection import Connection

from .base import REL_TOL, Grade, answer_line

DEFAULT_DEADLINE_S = 10.0
_INTEGER = re.compile(r"-?\d{1,400}")  # most MATH answers; no parser or worker needed to compare two of them


def _serve(conn: Connection) -> None:
    from .symbolic import grade_output  # imported in the worker only: sympy stays out of the caller

    while True:
        try:
            stdout, reference, rel_tol = conn.recv()
        except EOFError:
            return
        try:
            grade = grade_output(stdout, reference, rel_tol)
        except Exception as exc:  # a grader bug must cost one item, not the run
            grade = Grade(correct=False, status="error", method="none", answer=answer_line(stdout),
                          detail=f"{type(exc).__name__}: {exc}"[:500])
        conn.send(grade.model_dump())


class SymbolicGrader:
    """Grades printed output against a LaTeX reference in a killable worker process."""

    name = "symbolic"

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

    def grade(self, stdout: str, reference: str) -> Grade:
        answer, gold = answer_line(stdout), reference.strip()
        if _INTEGER.fullmatch(answer) and _INTEGER.fullmatch(gold):
            return Grade(correct=int(answer) == int(gold), status="ok", method="integer", answer=answer)
        with self._lock:
            return self._grade(stdout, reference)

    def _grade(self, stdout: str, reference: str) -> Grade:
        conn = self._start()
        conn.send((stdout, reference, self.rel_tol))
        if conn.poll(self.deadline_s):
            try:
                return Grade.model_validate(conn.recv())
            except EOFError:
                self._stop()
                return Grade(correct=False, status="error", method="none", answer=answer_line(stdout),
                             detail="grader process died")
        self._stop()
        return Grade(correct=False, status="timeout", method="none", answer=answer_line(stdout),
                     detail=f"no verdict within {self.deadline_s:g} s")

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
