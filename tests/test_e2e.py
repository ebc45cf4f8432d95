"""End to end with a scripted model: run -> store -> report, resume after an interrupt, CLI behaviour."""

import json
import sqlite3
import subprocess
import sys

import pytest

from conftest import ScriptedModel, fenced, read, run_to_end, single
from mathcodebench import api
from mathcodebench.report import summarize
from mathcodebench.settings import Settings

SCRIPT = {
    "What is the value of $3x + 7$": [fenced("print(3 * 5 + 7)")],  # right at once
    "slope of the line": [
        fenced("print((6 - 2) / (7 - 1) + )"),
        fenced("from fractions import Fraction\nprint(Fraction(6 - 2, 7 - 1))"),
    ],
    "For what values of $x$": [fenced("print(undefined_name)"), fenced("print('(1, 4)')")],
    "Expand the product": [fenced("print('2*x**2 + 5*x - 12')")],  # wrong answer: not retried
    "Find the domain": [fenced("raise SystemExit(1)")],  # never answers: unsolved
}
CONFIG = Settings(model="scripted", limit=5, attempts=3)


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mathcodebench.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_scripted_run_is_stored_attempt_by_attempt_and_reported(db):
    data = run_to_end(CONFIG, db, ScriptedModel(SCRIPT))
    attempts = single(data.attempts)
    statuses = {pid: [a.status.value for a in tried] for pid, tried in attempts.items()}
    assert statuses == {
        "sample/algebra/1": ["answered"],
        "sample/algebra/2": ["syntax_error", "answered"],
        "sample/algebra/3": ["runtime_error", "answered"],
        "sample/algebra/4": ["answered"],
        "sample/algebra/5": ["runtime_error"] * 3,
    }
    assert "NameError" in attempts["sample/algebra/3"][0].feedback
    grades = single(data.grader("symbolic"))
    assert {pid: g.correct for pid, g in grades.items()} == {
        "sample/algebra/1": True,
        "sample/algebra/2": True,
        "sample/algebra/3": True,
        "sample/algebra/4": False,
        "sample/algebra/5": False,
    }
    assert grades["sample/algebra/5"].status == "no_answer"

    summary = summarize(data)
    assert (summary.overall.n, summary.overall.correct) == (5, 3)
    assert summary.by_level[1].correct == 1 and summary.by_level[5].correct == 0
    assert summary.attempts_used == {1: 2, 2: 2, 3: 1}
    assert summary.unsolved == ["sample/algebra/5"]
    assert summary.status == "finished"
    # by hand: answered at attempt 1: problems 1 (right) and 4 (wrong); at 2: problems 2, 3 (both right); 5 never
    assert [c.k for c in summary.capped] == [1, 2, 3]
    assert [c.accuracy for c in summary.capped] == pytest.approx([1 / 5, 3 / 5, 3 / 5])
    assert [c.unsolved_rate for c in summary.capped] == pytest.approx([3 / 5, 1 / 5, 1 / 5])
    assert data.record.settings.attempts == 3 and data.record.versions["sympy"]
    assert [s.command for s in data.record.sessions] == ["run"] and data.record.sessions[0].outcome == "finished"

    report = cli("report", str(db), "--json")
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    assert data["overall"] == {"n": 5, "correct": 3, "samples": 1} and data["unsolved"] == ["sample/algebra/5"]
    table = cli("report", str(db))
    assert "Accuracy by subject" in table.stdout and "Level 5" in table.stdout and "Unsolved" in table.stdout


def test_interrupted_run_resumes_without_redoing_or_doubling_work(db):
    interrupted = {**SCRIPT, "For what values of $x$": [fenced("print(undefined_name)"), KeyboardInterrupt()]}
    with pytest.raises(KeyboardInterrupt), api.start(CONFIG, db, model=ScriptedModel(interrupted)) as run:
        run.execute()
    data = read(db)
    assert data.record.status == "interrupted" and len(data.final) == 2

    fresh = ScriptedModel({**SCRIPT, "For what values of $x$": [fenced("print('(1, 4)')")]})
    with api.resume(db, model=fresh) as run:
        run.execute()
    rows = sqlite3.connect(db).execute("SELECT problem_id, number FROM attempts ORDER BY 1, 2").fetchall()
    assert len(rows) == len(set(rows)) == 1 + 2 + 2 + 1 + 3  # problem 3: 1 before the interrupt + 1 after
    # the finished problems were not asked again; the interrupted one continued at attempt 2
    assert "What is the value of $3x + 7$" not in fresh.calls and "slope of the line" not in fresh.calls
    assert fresh.calls["For what values of $x$"] == 1
    data = read(db)
    assert summarize(data).overall.correct == 3 and data.record.status == "finished"
    assert [(s.command, s.outcome) for s in data.record.sessions] == [("run", "interrupted"), ("resume", "finished")]


def test_bad_input_gives_one_line_and_exit_2_without_writing(tmp_path):
    db = tmp_path / "x.sqlite"
    for args, message in [
        (["run", "--dataset", "/no/such.jsonl", "--db", str(db)], "dataset not found: /no/such.jsonl"),
        (["run", "--model", "nonsense", "--db", str(db)], "unknown model spec 'nonsense'"),
        (["run", "--attempts", "0", "--db", str(db)], "--attempts"),
        (["run", "--grading", "both", "--judge", "nonsense", "--db", str(db)], "unknown model spec 'nonsense'"),
        (["run", "--per-cell", "50", "--db", str(db)], "fewer than --per-cell 50"),
        (["run", "--levels", "0-2", "--db", str(db)], "levels are 1 to 5"),
    ]:
        r = cli(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert message in r.stderr and "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not db.exists()

    foreign = tmp_path / "foreign.sqlite"
    sqlite3.connect(foreign).execute("CREATE TABLE t (x)")
    before = foreign.read_bytes()
    r = cli("report", str(foreign))
    assert r.returncode == 2 and "not a mathcodebench run database" in r.stderr
    assert foreign.read_bytes() == before
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"not a database at all" * 100)
    r = cli("report", str(garbage))
    assert r.returncode == 2 and "not a readable run database" in r.stderr


def test_existing_database_is_never_overwritten(db):
    api.start(CONFIG, db, model=ScriptedModel(SCRIPT)).close()
    r = cli("run", "--db", str(db), "--no-preflight")
    assert r.returncode == 2 and "already exists" in r.stderr
    assert read(db).problems


@pytest.mark.parametrize("command", [[], ["run"], ["report"], ["setup"]])
def test_every_command_has_help(command):
    r = cli(*command, "--help")
    assert r.returncode == 0 and "Usage" in r.stdout


def _stored(db):
    conn = sqlite3.connect(db)
    attempts = conn.execute("SELECT problem_id, number, status FROM attempts ORDER BY 1, 2").fetchall()
    grades = conn.execute("SELECT problem_id, grader, correct FROM grades ORDER BY 1, 2").fetchall()
    return attempts, grades


def test_concurrent_run_stores_the_same_as_a_sequential_one(tmp_path):
    results = []
    for concurrency in (1, 4):
        db = tmp_path / f"c{concurrency}.sqlite"
        config = CONFIG.model_copy(update={"concurrency": concurrency})
        seen: list[str] = []
        data = run_to_end(
            config, db, ScriptedModel(SCRIPT), on_problem=lambda done, seen=seen: seen.append(done.problem.id)
        )
        assert sorted(seen) == sorted(p.id for p in data.problems)
        results.append(_stored(db))
    assert results[0] == results[1]


def test_interrupt_in_a_worker_thread_resumes_cleanly(db):
    config = CONFIG.model_copy(update={"concurrency": 3})
    interrupted = {**SCRIPT, "Expand the product": [KeyboardInterrupt()]}
    with pytest.raises(KeyboardInterrupt), api.start(config, db, model=ScriptedModel(interrupted)) as run:
        run.execute()
    data = read(db)
    assert data.record.status == "interrupted"
    finished_before = set(single(data.final))
    fresh = ScriptedModel(SCRIPT)
    with api.resume(db, model=fresh) as run:
        run.execute()
    attempts, grades = _stored(db)
    # Where each worker stood at the interrupt is timing-dependent; what must hold is:
    assert len(attempts) == len({(pid, n) for pid, n, _ in attempts})  # nothing doubled
    for pid in {a[0] for a in attempts}:
        numbers = [n for p, n, _ in attempts if p == pid]
        assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) <= config.attempts
    data = read(db)
    assert len([g for g in grades if g[1] == "final"]) == 5 and data.record.status == "finished"
    asked_again = {
        key
        for key in fresh.calls
        for pid in finished_before
        if key in next(p.problem for p in data.problems if p.id == pid)
    }
    assert not asked_again, asked_again


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_export(db, tmp_path, fmt):
    run_to_end(CONFIG, db, ScriptedModel(SCRIPT))
    r = cli("export", str(db), "--format", fmt, "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    attempts_file, problems_file = (tmp_path / "out" / f"run-{name}.{fmt}" for name in ("attempts", "problems"))
    if fmt == "csv":
        import csv

        attempts = list(csv.DictReader(attempts_file.open()))
        problems = list(csv.DictReader(problems_file.open()))
    elif fmt == "jsonl":
        attempts = [json.loads(line) for line in attempts_file.read_text().splitlines()]
        problems = [json.loads(line) for line in problems_file.read_text().splitlines()]
    else:
        import pyarrow.parquet as pq

        attempts, problems = pq.read_table(attempts_file).to_pylist(), pq.read_table(problems_file).to_pylist()
    assert len(attempts) == 9 and len(problems) == 5
    assert {str(a["status"]) for a in attempts} == {"answered", "syntax_error", "runtime_error"}
    assert [str(p["correct"]) for p in problems] == ["True", "True", "True", "False", "False"]
    assert str(problems[4]["solved"]) == "False" and str(problems[1]["attempts"]) == "2"
    assert cli("export", str(db), "--format", "xls").returncode == 2


# What RunConfig.model_dump() stored in schema versions 1 and 2 (nested selection and grading).
V2_CONFIG = {
    "model": "scripted",
    "base_url": None,
    "concurrency": None,
    "dataset": "sample",
    "selection": {
        "per_cell": None,
        "seed": 0,
        "subjects": None,
        "levels": None,
        "ids": None,
        "limit": 5,
        "allow_short_cells": False,
    },
    "attempts": 3,
    "feedback": "error",
    "unsafe": "report",
    "regeneration": "full",
    "chat_template": None,
    "temperature": 0.0,
    "retry_temperature": 0.7,
    "max_tokens": 512,
    "seed": 0,
    "timeout_s": 10.0,
    "memory_mb": 2048,
    "sandbox": CONFIG.sandbox,
    "grading": {
        "mode": "symbolic",
        "judge": None,
        "rel_tol": 1e-6,
        "deadline_s": 10.0,
        "judge_prompt_version": "judge-v1",
        "judge_rubric": "the rubric",
    },
    "prompt_version": "solve-v1",
    "study": None,
}


def test_a_version_1_database_is_migrated_and_a_newer_one_refused(db, tmp_path):
    run_to_end(CONFIG, db, ScriptedModel(SCRIPT))
    before = _stored(db)
    conn = sqlite3.connect(db)  # turn it into what schema version 1 wrote
    conn.executescript(
        "CREATE TABLE v1 AS SELECT problem_id, number, status, record, gen_s, exec_s, completion_tokens, created_at "
        "FROM attempts; DROP TABLE attempts; ALTER TABLE v1 RENAME TO attempts;"
        "CREATE TABLE v1 AS SELECT problem_id, grader, attempt, correct, status, method, answer, detail, created_at, "
        "score FROM grades; DROP TABLE grades; ALTER TABLE v1 RENAME TO grades; DROP TABLE votes;"
        "ALTER TABLE run DROP COLUMN recorded; ALTER TABLE run DROP COLUMN isolation;"
        "ALTER TABLE run DROP COLUMN status_detail; DROP TABLE endpoints; DROP TABLE sessions;"
        "PRAGMA user_version = 1;"
    )
    conn.execute("UPDATE run SET config = ?", (json.dumps(V2_CONFIG),))
    conn.commit()
    conn.close()
    data = read(db)  # a reader migrates when no writer holds the run
    assert _stored(db) == before and data.attempts
    assert data.record.settings == CONFIG and data.record.recorded.judge_rubric == "the rubric"
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
    columns = {row[1] for row in conn.execute("PRAGMA table_info(attempts)")}
    assert {"tokens_reused", "regeneration_points"} <= columns
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    r = cli("report", str(db))
    assert r.returncode == 2 and "schema version 99" in r.stderr and "newer mathcodebench" in r.stderr


def test_setup_names_a_llama_cpp_build_that_crashes_on_this_cpu(monkeypatch):
    """A crashing build cannot be reproduced here (the project builds llama.cpp without the kernels that crash),
    so the probe's process result is the one thing stood in for."""
    from mathcodebench import cli
    from mathcodebench.errors import UserError

    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, -11, "", ""))
    with pytest.raises(UserError, match=r"crashes on this CPU \(SIGSEGV on the first generation\).*make clean setup"):
        cli._generates("embedded")
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 1, "", "x\nModelError: no"))
    with pytest.raises(UserError, match="does not generate: ModelError: no"):
        cli._generates("embedded")
