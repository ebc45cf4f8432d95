"""The run database's schema, and the steps that bring a file written by an older version up to it.

`MIGRATIONS[v]` upgrades a version-v file to v + 1; the caller runs it in the same transaction as the version
bump, so a crash leaves the file at one version or the other, never between.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

SCHEMA_VERSION = 3

_SESSIONS = """
CREATE TABLE sessions (
    number INTEGER PRIMARY KEY AUTOINCREMENT,
    command TEXT NOT NULL,         -- run | resume | study | ablate | regrade
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT,                 -- NULL: running, or ended without closing the run (kill -9)
    outcome TEXT,                  -- finished | incomplete | interrupted | error | killed
    detail TEXT NOT NULL DEFAULT '',
    applied TEXT NOT NULL DEFAULT '{}', -- JSON: settings changed on --resume (never ones that change results)
    isolation TEXT                 -- JSON: the sandbox this session ran programs in (mode, layers, self-test)
);
"""

SCHEMA = (
    """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE run (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    config TEXT NOT NULL,          -- the settings, JSON (settings.Settings)
    model TEXT NOT NULL,
    model_info TEXT NOT NULL,      -- JSON: backend, versions, weights hash
    versions TEXT NOT NULL,        -- JSON: tool and dependency versions
    dataset TEXT NOT NULL,         -- JSON: source (with hub revision), selection hash, skipped rows
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,          -- running | finished | incomplete | interrupted
    recorded TEXT NOT NULL DEFAULT '{}',    -- v3: JSON: prompt and judge versions, the study file
    isolation TEXT,                         -- v3: JSON: the sandbox's mode, layers and self-test
    status_detail TEXT NOT NULL DEFAULT ''  -- v3: e.g. how many problems were not attempted
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
    sample INTEGER NOT NULL DEFAULT 1,  -- v3: which repeated sample (--samples)
    number INTEGER NOT NULL,
    status TEXT NOT NULL,
    record TEXT NOT NULL,          -- the full attempt, JSON
    gen_s REAL NOT NULL,
    exec_s REAL NOT NULL,
    completion_tokens INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    tokens_reused INTEGER,         -- v2: kept from the previous response (tbt); NULL when the backend cannot count
    regeneration_points INTEGER NOT NULL DEFAULT 0,  -- v2
    PRIMARY KEY (problem_id, sample, number)
);
CREATE TABLE grades (
    problem_id TEXT NOT NULL REFERENCES problems(id),
    sample INTEGER NOT NULL DEFAULT 1,  -- v3
    grader TEXT NOT NULL,
    attempt INTEGER,               -- the graded attempt; NULL when no attempt produced an answer
    correct INTEGER NOT NULL,
    status TEXT NOT NULL,
    method TEXT NOT NULL,
    answer TEXT NOT NULL,
    detail TEXT NOT NULL,
    created_at TEXT NOT NULL,
    score INTEGER,                 -- the judge's 1-5 score
    PRIMARY KEY (problem_id, sample, grader)
);
CREATE TABLE votes (               -- v3: majority voting: samples of a problem with equivalent answers share a class
    problem_id TEXT NOT NULL REFERENCES problems(id),
    sample INTEGER NOT NULL,
    class INTEGER NOT NULL,        -- the smallest sample number among the equivalent answers
    PRIMARY KEY (problem_id, sample)
);
CREATE TABLE endpoints (           -- v3: what each model endpoint did in each session
    session INTEGER NOT NULL REFERENCES sessions(number),
    role TEXT NOT NULL,            -- model | judge
    url TEXT NOT NULL,
    requests INTEGER NOT NULL,     -- HTTP requests sent, retries included
    answered INTEGER NOT NULL,
    errors INTEGER NOT NULL,       -- refused, timed out, dropped, retryable status, malformed reply
    taken_out INTEGER NOT NULL,    -- times taken out of rotation after failing
    latency_s REAL NOT NULL,       -- summed over answered requests
    latency_max_s REAL NOT NULL,
    PRIMARY KEY (session, role, url)
);
CREATE TABLE judge_cache (
    key TEXT PRIMARY KEY,          -- sha256 of judge spec, prompt version, problem, reference, output
    grade TEXT NOT NULL,           -- JSON
    reply TEXT NOT NULL,           -- the judge's raw reply
    created_at TEXT NOT NULL
);
"""
    + _SESSIONS
)


def _v1_to_v2(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE attempts ADD COLUMN tokens_reused INTEGER DEFAULT 0")
    conn.execute("ALTER TABLE attempts ADD COLUMN regeneration_points INTEGER NOT NULL DEFAULT 0")


def flat_settings(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A v1/v2 configuration (nested selection and grading, prompt versions among the settings) as
    (settings, recorded) in the v3 shape."""
    config = dict(config)
    selection = config.pop("selection", {})
    grading = config.pop("grading", {})
    recorded = {
        "prompt_version": config.pop("prompt_version", "solve-v1"),
        "judge_prompt_version": grading.pop("judge_prompt_version", "judge-v1"),
        "judge_rubric": grading.pop("judge_rubric", ""),
        "study": config.pop("study", None),
    }
    url = config.pop("base_url", None)
    settings = {
        **config,
        **selection,
        "base_url": [url] if url else [],
        "grading": grading.get("mode", "symbolic"),
        "judge": grading.get("judge"),
        "rel_tol": grading.get("rel_tol", 1e-6),
        "grade_timeout": grading.get("deadline_s", 10.0),
    }
    return settings, recorded


_V2_COLUMNS = {
    "attempts": "problem_id, number, status, record, gen_s, exec_s, completion_tokens, created_at, tokens_reused, "
    "regeneration_points",
    "grades": "problem_id, grader, attempt, correct, status, method, answer, detail, created_at, score",
}


def _table(name: str) -> str:
    """The v3 CREATE TABLE statement of `name`, taken from SCHEMA (one definition of each table)."""
    start = SCHEMA.index(f"CREATE TABLE {name} (")
    return SCHEMA[start : SCHEMA.index("\n);", start) + 3]


def _v2_to_v3(conn: sqlite3.Connection) -> None:
    for name, columns in _V2_COLUMNS.items():  # a new primary key (with the sample) means a new table
        conn.execute(f"ALTER TABLE {name} RENAME TO {name}_v2")
        conn.execute(_table(name))
        conn.execute(f"INSERT INTO {name} ({columns}) SELECT {columns} FROM {name}_v2")
        conn.execute(f"DROP TABLE {name}_v2")
    conn.execute(_table("votes"))
    conn.execute("ALTER TABLE run ADD COLUMN recorded TEXT NOT NULL DEFAULT '{}'")
    conn.execute("ALTER TABLE run ADD COLUMN isolation TEXT")
    conn.execute("ALTER TABLE run ADD COLUMN status_detail TEXT NOT NULL DEFAULT ''")
    conn.execute(_SESSIONS)
    conn.execute(_table("endpoints"))
    (config,) = conn.execute("SELECT config FROM run WHERE id = 1").fetchone()
    settings, recorded = flat_settings(json.loads(config))
    conn.execute("UPDATE run SET config = ?, recorded = ? WHERE id = 1", (json.dumps(settings), json.dumps(recorded)))


MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _v1_to_v2, 2: _v2_to_v3}
