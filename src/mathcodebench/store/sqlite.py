"""One SQLite file per run: configuration, problems, every attempt and grade, written as they happen.

Each attempt and grade is its own transaction, so a crash loses at most the work in flight. A problem is
finished once it has a grade; everything else can be continued from what is stored.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..data import Problem
from ..errors import UserError
from ..grading import Grade
from ..solve import Attempt

SCHEMA_VERSION = 2
APPLICATION_ID = 0x4D434221  # "MCB!": tells our files from any other SQLite database

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE run (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    config TEXT NOT NULL,          -- resolved settings, JSON
    model TEXT NOT NULL,
    model_info TEXT NOT NULL,      -- JSON: backend, versions, weights hash
    versions TEXT NOT NULL,        -- JSON: tool and dependency versions
    dataset TEXT NOT NULL,         -- JSON: source (with hub revision), selection hash, skipped rows
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL           -- running | finished | interrupted
);
CREATE TABLE problems (
    position INTEGER NOT NULL UNIQUE,
    id TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    level INTEGER NOT NULL,
    problem TEXT NOT NULL,
    answer TEXT NOT NULL,
    content_hash TEXT NOT NULL
);
CREATE TABLE attempts (
    problem_id TEXT NOT NULL REFERENCES problems(id),
    number INTEGER NOT NULL,
    status TEXT NOT NULL,
    record TEXT NOT NULL,          -- the full attempt, JSON
    gen_s REAL NOT NULL,
    exec_s REAL NOT NULL,
    completion_tokens INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    tokens_reused INTEGER,         -- v2: kept from the previous response (tbt); NULL when the backend cannot count
    regeneration_points INTEGER NOT NULL DEFAULT 0,  -- v2
    PRIMARY KEY (problem_id, number)
);
CREATE TABLE grades (
    problem_id TEXT NOT NULL REFERENCES problems(id),
    grader TEXT NOT NULL,
    attempt INTEGER,               -- the graded attempt; NULL when no attempt produced an answer
    correct INTEGER NOT NULL,
    status TEXT NOT NULL,
    method TEXT NOT NULL,
    answer TEXT NOT NULL,
    detail TEXT NOT NULL,
    created_at TEXT NOT NULL,
    score INTEGER,                 -- the judge's 1-5 score
    PRIMARY KEY (problem_id, grader)
);
CREATE TABLE judge_cache (
    key TEXT PRIMARY KEY,          -- sha256 of judge spec, prompt version, problem, reference, output
    grade TEXT NOT NULL,           -- JSON
    reply TEXT NOT NULL,           -- the judge's raw reply
    created_at TEXT NOT NULL
);
"""


# MIGRATIONS[v] upgrades a version-v file to v + 1, in the same transaction as the version bump.
MIGRATIONS = {
    1: """
    ALTER TABLE attempts ADD COLUMN tokens_reused INTEGER DEFAULT 0;
    ALTER TABLE attempts ADD COLUMN regeneration_points INTEGER NOT NULL DEFAULT 0;
    """,
}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _locked(method):
    """The run scheduler's workers share one connection; every use of it holds the store's lock."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper


class RunStore:
    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self._lock = threading.RLock()
        self.path = path

    # -- opening ---------------------------------------------------------------------------------
    @classmethod
    def create(cls, path: Path, config: dict[str, Any], model: str, model_info: dict[str, str],
               versions: dict[str, str], dataset: dict[str, Any], problems: list[Problem]) -> RunStore:
        if path.exists():
            raise UserError(f"{path} already exists; choose another --db or remove it")
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = _connect(path)
        with conn:
            conn.executescript(_SCHEMA)
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("INSERT INTO meta VALUES ('created_at', ?)", (_now(),))
            conn.execute(
                "INSERT INTO run VALUES (1, ?, ?, ?, ?, ?, ?, NULL, 'running')",
                (json.dumps(config), model, json.dumps(model_info), json.dumps(versions), json.dumps(dataset),
                 _now()),
            )
            conn.executemany(
                "INSERT INTO problems VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(i, p.id, p.subject, p.level, p.problem, p.answer, p.content_hash())
                 for i, p in enumerate(problems)],
            )
        return cls(conn, path)

    @classmethod
    def open(cls, path: Path, readonly: bool = False) -> RunStore:
        """Open a run database; older schema versions are migrated (not when `readonly`: readers use only
        what every version stores)."""
        if not path.is_file():
            raise UserError(f"no run database at {path}")
        try:
            conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True)  # no pragma writes before the check
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise UserError(f"{path} is not a readable run database ({exc})") from None
        if app_id != APPLICATION_ID:
            conn.close()
            raise UserError(f"{path} is not a mathcodebench run database")
        if version > SCHEMA_VERSION or version not in MIGRATIONS and version != SCHEMA_VERSION:
            conn.close()
            raise UserError(f"{path} has schema version {version}; this mathcodebench reads 1 to {SCHEMA_VERSION} "
                            "(a newer mathcodebench made it?)")
        if readonly:
            conn.close()
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            return cls(conn, path)
        conn.close()
        conn = _connect(path)
        _migrate(conn, version)
        return cls(conn, path)

    @_locked
    def close(self) -> None:
        self._conn.close()

    # -- writing ---------------------------------------------------------------------------------
    @_locked
    def add_attempt(self, attempt: Attempt) -> None:
        with self._conn:
            self._conn.execute(
                "INSERT INTO attempts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (attempt.problem_id, attempt.number, attempt.status.value, attempt.model_dump_json(),
                 attempt.gen_s, attempt.exec_s, attempt.completion_tokens, _now(), attempt.tokens_reused,
                 len(attempt.regeneration)),
            )

    @_locked
    def add_grades(self, problem_id: str, attempt: int | None, grades: dict[str, Grade]) -> None:
        """All of a problem's grades in one transaction (replacing earlier ones on a re-grade)."""
        with self._conn:
            self._conn.executemany(
                "INSERT OR REPLACE INTO grades VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(problem_id, grader, attempt, int(g.correct), g.status, g.method, g.answer, g.detail, _now(),
                  g.score) for grader, g in grades.items()],
            )

    @_locked
    def clear_grades(self) -> None:
        with self._conn:
            self._conn.execute("DELETE FROM grades")

    @_locked
    def set_config(self, config: dict[str, Any]) -> None:
        with self._conn:
            self._conn.execute("UPDATE run SET config = ? WHERE id = 1", (json.dumps(config),))

    # -- the judge cache (grading.JudgeCache) -----------------------------------------------------
    @_locked
    def get(self, key: str) -> tuple[Grade, str] | None:
        row = self._conn.execute("SELECT grade, reply FROM judge_cache WHERE key = ?", (key,)).fetchone()
        return (Grade.model_validate_json(row["grade"]), row["reply"]) if row else None

    @_locked
    def put(self, key: str, grade: Grade, reply: str) -> None:
        with self._conn:
            self._conn.execute("INSERT OR REPLACE INTO judge_cache VALUES (?, ?, ?, ?)",
                               (key, grade.model_dump_json(), reply, _now()))

    @_locked
    def set_status(self, status: str) -> None:
        with self._conn:
            finished = _now() if status == "finished" else None
            self._conn.execute("UPDATE run SET status = ?, finished_at = ? WHERE id = 1", (status, finished))

    # -- reading ---------------------------------------------------------------------------------
    @_locked
    def run_info(self) -> dict[str, Any]:
        row = self._conn.execute("SELECT * FROM run WHERE id = 1").fetchone()
        info = dict(row)
        for key in ("config", "model_info", "versions", "dataset"):
            info[key] = json.loads(info[key])
        return info

    @_locked
    def problems(self) -> list[Problem]:
        rows = self._conn.execute("SELECT * FROM problems ORDER BY position").fetchall()
        return [Problem(id=r["id"], subject=r["subject"], level=r["level"], problem=r["problem"],
                        answer=r["answer"]) for r in rows]

    @_locked
    def attempts(self) -> dict[str, list[Attempt]]:
        out: dict[str, list[Attempt]] = {}
        for (record,) in self._conn.execute("SELECT record FROM attempts ORDER BY problem_id, number"):
            attempt = Attempt.model_validate_json(record)
            out.setdefault(attempt.problem_id, []).append(attempt)
        return out

    @_locked
    def grades(self, grader: str) -> dict[str, Grade]:
        rows = self._conn.execute("SELECT * FROM grades WHERE grader = ?", (grader,)).fetchall()
        return {r["problem_id"]: Grade(correct=bool(r["correct"]), status=r["status"], method=r["method"],
                                       answer=r["answer"], detail=r["detail"], score=r["score"]) for r in rows}

    @_locked
    def graders(self) -> set[str]:
        return {r[0] for r in self._conn.execute("SELECT DISTINCT grader FROM grades")}


def _migrate(conn: sqlite3.Connection, version: int) -> None:
    """Bring an older file up to SCHEMA_VERSION, one step per transaction: a crash leaves a consistent file."""
    while version < SCHEMA_VERSION:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in filter(str.strip, MIGRATIONS[version].split(";")):
                conn.execute(statement)
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
