"""One SQLite file per run: settings, problems, every attempt and grade, written as they happen.

Each attempt and grade is its own transaction, so a crash loses at most the work in flight. A problem is
finished once it has a grade; everything else can be continued from what is stored. A writer holds the run's
lock (`lock.py`) for as long as it has the file open; readers (`RunStore.read`) never need it.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from ..data import Problem
from ..errors import UserError
from ..grading import Grade
from ..models.endpoints import EndpointStats
from ..solve import Attempt
from .lock import RunLock
from .migrations import MIGRATIONS, SCHEMA, SCHEMA_VERSION
from .record import EndpointRecord, RunData, RunRecord, RunStatus, SessionRecord, Unit

APPLICATION_ID = 0x4D434221  # "MCB!": tells our files from any other SQLite database

P = ParamSpec("P")
R = TypeVar("R")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _locked(method: Callable[P, R]) -> Callable[P, R]:
    """The run scheduler's workers share one connection; every use of it holds the store's lock."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with args[0]._lock:  # type: ignore[attr-defined]
            return method(*args, **kwargs)

    return wrapper


class RunStore:
    def __init__(
        self, conn: sqlite3.Connection, path: Path, lock: RunLock | None = None, session: int | None = None
    ) -> None:
        self._conn = conn
        self._lock = threading.RLock()
        self._run_lock = lock
        self.session = session
        self.path = path

    # -- opening ---------------------------------------------------------------------------------
    @classmethod
    def create(cls, path: Path, record: RunRecord, problems: list[Problem], command: str = "run") -> RunStore:
        """A new run database, locked for this process as its writer."""
        lock = RunLock.acquire(path, command)
        try:
            if path.exists():
                raise UserError(f"{path} already exists; choose another --db or remove it")
            conn = _connect(path)
        except BaseException:
            lock.release()
            raise
        with conn:
            conn.executescript(SCHEMA)
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("INSERT INTO meta VALUES ('created_at', ?)", (_now(),))
            conn.execute(
                "INSERT INTO run (id, config, recorded, model, model_info, versions, dataset, isolation, started_at, "
                "status) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.settings.model_dump_json(),
                    record.recorded.model_dump_json(),
                    record.model,
                    json.dumps(record.model_info),
                    json.dumps(record.versions),
                    record.dataset.model_dump_json(),
                    json.dumps(record.isolation) if record.isolation is not None else None,
                    record.started_at,
                    record.status.value,
                ),
            )
            conn.executemany(
                "INSERT INTO problems VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(i, p.id, p.subject, p.level, p.problem, p.answer, p.content_hash()) for i, p in enumerate(problems)],
            )
        store = cls(conn, path, lock)
        store.begin_session(command, {}, record.isolation)
        return store

    @classmethod
    def open(cls, path: Path, command: str) -> RunStore:
        """Open a run to continue writing it: take its lock first (a second writer stops here, before any
        model request) and migrate an older schema. The caller logs its session with `begin_session` once it
        has decided to go ahead (until then nothing of the run is changed)."""
        _check(path)
        lock = RunLock.acquire(path, command)
        try:
            conn = _connect(path)
            _migrate(conn, _version(conn))
        except BaseException:
            lock.release()
            raise
        return cls(conn, path, lock)

    @classmethod
    def read(cls, path: Path) -> RunStore:
        """Open a run read-only (report, view, export): never locked out by a writer. An older schema is
        migrated first when no writer holds the run (a writer has migrated it already)."""
        version = _check(path)
        if version < SCHEMA_VERSION:
            try:
                lock = RunLock.acquire(path, "migrate")
            except UserError:
                pass
            else:
                try:
                    conn = _connect(path)
                    _migrate(conn, _version(conn))
                    conn.close()
                finally:
                    lock.release()
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        return cls(conn, path)

    @classmethod
    def snapshot(cls, path: Path) -> RunData:
        """Everything a report needs of the run at `path`, read once, read-only."""
        store = cls.read(path)
        try:
            return store.load()
        finally:
            store.close()

    @_locked
    def close(self, outcome: str | None = None, detail: str = "") -> None:
        """Close the file; a writer logs how its session ended and releases the run."""
        if self.session is not None and self._run_lock is not None:
            with self._conn:
                self._conn.execute(
                    "UPDATE sessions SET ended_at = ?, outcome = ?, detail = ? WHERE number = ?",
                    (_now(), outcome or self.record().status.value, detail, self.session),
                )
        self._conn.close()
        if self._run_lock is not None:
            self._run_lock.release()
            self._run_lock = None

    # -- sessions --------------------------------------------------------------------------------
    @_locked
    def begin_session(self, command: str, applied: dict[str, Any], isolation: dict[str, Any] | None) -> None:
        """Log this process as the run's writer. Sessions still open ended without a word (kill -9)."""
        with self._conn:
            self._conn.execute(
                "UPDATE sessions SET outcome = 'killed', detail = 'ended without closing the run' "
                "WHERE ended_at IS NULL"
            )
            cursor = self._conn.execute(
                "INSERT INTO sessions (command, pid, host, started_at, applied, isolation) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    command,
                    os.getpid(),
                    socket.gethostname(),
                    _now(),
                    json.dumps(applied),
                    json.dumps(isolation) if isolation is not None else None,
                ),
            )
        self.session = cursor.lastrowid

    # -- writing ---------------------------------------------------------------------------------
    @_locked
    def add_attempt(self, attempt: Attempt) -> None:
        with self._conn:
            self._conn.execute(
                "INSERT INTO attempts (problem_id, sample, number, status, record, gen_s, exec_s, completion_tokens, "
                "created_at, tokens_reused, regeneration_points) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    attempt.problem_id,
                    attempt.sample,
                    attempt.number,
                    attempt.status.value,
                    attempt.model_dump_json(),
                    attempt.gen_s,
                    attempt.exec_s,
                    attempt.completion_tokens,
                    _now(),
                    attempt.tokens_reused,
                    len(attempt.regeneration),
                ),
            )

    @_locked
    def add_grades(self, unit: Unit, attempt: int | None, grades: dict[str, Grade]) -> None:
        """All of a sample's grades in one transaction (replacing earlier ones on a re-grade)."""
        with self._conn:
            self._conn.executemany(
                "INSERT OR REPLACE INTO grades (problem_id, sample, grader, attempt, correct, status, method, answer, "
                "detail, created_at, score) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        unit[0],
                        unit[1],
                        grader,
                        attempt,
                        int(g.correct),
                        g.status,
                        g.method,
                        g.answer,
                        g.detail,
                        _now(),
                        g.score,
                    )
                    for grader, g in grades.items()
                ],
            )

    @_locked
    def set_votes(self, problem_id: str, classes: dict[int, int]) -> None:
        """Which samples of a problem printed equivalent answers (sample -> class), for majority voting."""
        with self._conn:
            self._conn.executemany(
                "INSERT OR REPLACE INTO votes VALUES (?, ?, ?)",
                [(problem_id, sample, cls) for sample, cls in classes.items()],
            )

    @_locked
    def set_endpoints(self, usage: dict[str, list[EndpointStats]]) -> None:
        """What each model endpoint did in this session so far (role -> per endpoint), replacing the last count."""
        with self._conn:
            self._conn.executemany(
                "INSERT OR REPLACE INTO endpoints VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        self.session,
                        role,
                        e.url,
                        e.requests,
                        e.answered,
                        e.errors,
                        e.taken_out,
                        e.latency_s,
                        e.latency_max_s,
                    )
                    for role, stats in usage.items()
                    for e in stats
                ],
            )

    @_locked
    def clear_grades(self) -> None:
        with self._conn:
            self._conn.execute("DELETE FROM grades")
            self._conn.execute("DELETE FROM votes")

    @_locked
    def set_record(self, record: RunRecord) -> None:
        """Replace the settings and what was recorded with them (regrade changes the grading settings)."""
        with self._conn:
            self._conn.execute(
                "UPDATE run SET config = ?, recorded = ? WHERE id = 1",
                (record.settings.model_dump_json(), record.recorded.model_dump_json()),
            )

    # -- the judge cache (grading.JudgeCache) -----------------------------------------------------
    @_locked
    def get(self, key: str) -> tuple[Grade, str] | None:
        row = self._conn.execute("SELECT grade, reply FROM judge_cache WHERE key = ?", (key,)).fetchone()
        return (Grade.model_validate_json(row["grade"]), row["reply"]) if row else None

    @_locked
    def put(self, key: str, grade: Grade, reply: str) -> None:
        with self._conn:
            self._conn.execute(
                "INSERT OR REPLACE INTO judge_cache VALUES (?, ?, ?, ?)", (key, grade.model_dump_json(), reply, _now())
            )

    @_locked
    def judge_entries(self) -> dict[str, tuple[Grade, str]]:
        """The whole judge cache, for workers that grade away from the store (a cluster's nodes)."""
        return {
            r["key"]: (Grade.model_validate_json(r["grade"]), r["reply"])
            for r in self._conn.execute("SELECT key, grade, reply FROM judge_cache")
        }

    @_locked
    def set_status(self, status: RunStatus, detail: str = "") -> None:
        with self._conn:
            finished = _now() if status == RunStatus.FINISHED else None
            self._conn.execute(
                "UPDATE run SET status = ?, status_detail = ?, finished_at = ? WHERE id = 1",
                (status.value, detail, finished),
            )

    # -- reading ---------------------------------------------------------------------------------
    @_locked
    def record(self) -> RunRecord:
        row = self._conn.execute("SELECT * FROM run WHERE id = 1").fetchone()
        sessions = [
            SessionRecord(
                number=r["number"],
                command=r["command"],
                pid=r["pid"],
                host=r["host"],
                started_at=r["started_at"],
                ended_at=r["ended_at"],
                outcome=r["outcome"],
                detail=r["detail"],
                applied=json.loads(r["applied"]),
                isolation=json.loads(r["isolation"]) if r["isolation"] else None,
            )
            for r in self._conn.execute("SELECT * FROM sessions ORDER BY number")
        ]
        return RunRecord.model_validate(
            {
                "settings": json.loads(row["config"]),
                "recorded": json.loads(row["recorded"]),
                "model": row["model"],
                "model_info": json.loads(row["model_info"]),
                "versions": json.loads(row["versions"]),
                "dataset": json.loads(row["dataset"]),
                "isolation": json.loads(row["isolation"]) if row["isolation"] else None,
                "started_at": row["started_at"],
                "finished_at": row["finished_at"],
                "status": row["status"],
                "status_detail": row["status_detail"],
                "sessions": sessions,
            }
        )

    @_locked
    def problems(self) -> list[Problem]:
        rows = self._conn.execute("SELECT * FROM problems ORDER BY position").fetchall()
        return [
            Problem(id=r["id"], subject=r["subject"], level=r["level"], problem=r["problem"], answer=r["answer"])
            for r in rows
        ]

    @_locked
    def attempts(self) -> dict[Unit, list[Attempt]]:
        out: dict[Unit, list[Attempt]] = {}
        for (record,) in self._conn.execute("SELECT record FROM attempts ORDER BY problem_id, sample, number"):
            attempt = Attempt.model_validate_json(record)
            out.setdefault((attempt.problem_id, attempt.sample), []).append(attempt)
        return out

    @_locked
    def grades(self, grader: str) -> dict[Unit, Grade]:
        return self.all_grades().get(grader, {})

    @_locked
    def all_grades(self) -> dict[str, dict[Unit, Grade]]:
        out: dict[str, dict[Unit, Grade]] = {}
        for r in self._conn.execute("SELECT * FROM grades"):
            out.setdefault(r["grader"], {})[(r["problem_id"], r["sample"])] = Grade(
                correct=bool(r["correct"]),
                status=r["status"],
                method=r["method"],
                answer=r["answer"],
                detail=r["detail"],
                score=r["score"],
            )
        return out

    @_locked
    def votes(self) -> dict[Unit, int]:
        return {(r["problem_id"], r["sample"]): r["class"] for r in self._conn.execute("SELECT * FROM votes")}

    @_locked
    def endpoints(self) -> list[EndpointRecord]:
        return [
            EndpointRecord(**dict(r)) for r in self._conn.execute("SELECT * FROM endpoints ORDER BY session, role, url")
        ]

    @_locked
    def load(self) -> RunData:
        """Everything a report needs, read once and consistently."""
        return RunData(
            path=self.path,
            record=self.record(),
            problems=self.problems(),
            attempts=self.attempts(),
            grades=self.all_grades(),
            votes=self.votes(),
            endpoints=self.endpoints(),
        )


def _check(path: Path) -> int:
    """The schema version of a run database; one line for anything else."""
    if not path.is_file():
        raise UserError(f"no run database at {path}")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)  # no writes before the check
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = _version(conn)
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise UserError(f"{path} is not a readable run database ({exc})") from None
    if app_id != APPLICATION_ID:
        raise UserError(f"{path} is not a mathcodebench run database")
    if version > SCHEMA_VERSION or (version not in MIGRATIONS and version != SCHEMA_VERSION):
        raise UserError(
            f"{path} has schema version {version}; this mathcodebench reads 1 to {SCHEMA_VERSION} "
            "(a newer mathcodebench made it?)"
        )
    return int(version)


def _version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _migrate(conn: sqlite3.Connection, version: int) -> None:
    """Bring an older file up to SCHEMA_VERSION, one step per transaction: a crash leaves a consistent file."""
    while version < SCHEMA_VERSION:
        conn.execute("BEGIN IMMEDIATE")
        try:
            MIGRATIONS[version](conn)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        version += 1


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, check_same_thread=False)  # guarded by RunStore._lock
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn
