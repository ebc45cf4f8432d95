"""Runs you can trust operationally, through the real CLI over loopback HTTP: one writer per run, a dead or
misconfigured backend caught in seconds before anything is written, backend failures never counted as wrong
answers, and --resume that applies what cannot change results and refuses what would."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from conftest import ScriptedModel, fenced, read, run_to_end, stored_attempts
from mathcodebench import api
from mathcodebench.errors import UserError
from mathcodebench.report import summarize
from mathcodebench.sandbox import create_sandbox
from mathcodebench.settings import Settings
from servers import FaultyServer, OllamaStandIn

RIGHT = fenced("print(22)")
DOWN = ("status", 503, [("Retry-After", "0")])


def cli(*args, env=None, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "mathcodebench.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def one_line_error(r, exit_code=2):
    assert r.returncode == exit_code, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    return r.stderr


def compatible(url, db, *extra):
    return ["run", "--model", "openai-compatible/m", "--base-url", url, "--db", str(db), *extra]


def test_a_second_writer_is_refused_at_once_and_kill_9_leaves_no_stale_lock(tmp_path):
    server = OllamaStandIn(reply=RIGHT, latency_s=1.0)  # 30 problems: 30 s, time for the races below
    db = tmp_path / "run.sqlite"
    try:
        first = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mathcodebench.cli",
                "run",
                "--model",
                "ollama/llama3.1:8b",
                "--base-url",
                server.url,
                "--limit",
                "30",
                "--db",
                str(db),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while not (db.exists() and stored_attempts(db) >= 2) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert first.poll() is None, "the first run ended before the test could race it"
        second = cli("run", "--resume", str(db), "--concurrency", "4")
        message = one_line_error(second)
        assert f"is being written by pid {first.pid}" in message and "run)" in message, message
        assert "report, view or export" in message
        report = cli("report", str(db), "--json")  # readers are never locked out
        assert report.returncode == 0 and json.loads(report.stdout)["model"] == "ollama/llama3.1:8b"
        assert stored_attempts(db) == len({(r[0], r[1]) for r in _rows(db)})  # nothing doubled meanwhile
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        asked = len(server.requests)
        resumed = cli("run", "--resume", str(db))  # immediately: the kernel released the dead writer's lock
        assert resumed.returncode == 0, resumed.stderr
        assert len(server.requests) > asked
    finally:
        server.stop()
    data = read(db)
    assert data.record.status == "finished" and len(data.final) == 30
    sessions = data.record.sessions
    assert [(s.command, s.outcome) for s in sessions] == [("run", "killed"), ("resume", "finished")]


def _rows(db):
    return (
        sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        .execute("SELECT problem_id, number FROM attempts")
        .fetchall()
    )


def test_the_refused_writer_made_no_model_request(tmp_path):
    """A lock held by another process stops `--resume` before its preflight, so not even a probe is sent."""
    from mathcodebench.store.lock import RunLock

    server = FaultyServer([], reply=RIGHT)
    db = tmp_path / "run.sqlite"
    try:
        assert cli(*compatible(server.url, db, "--limit", "1")).returncode == 0
        asked = len(server.requests)
        lock = RunLock.acquire(db, "test")  # this process now holds the run, as a running writer would
        try:
            message = one_line_error(cli("run", "--resume", str(db)))
        finally:
            lock.release()
        assert f"pid {os.getpid()}" in message and "(test)" in message
        assert len(server.requests) == asked
    finally:
        server.stop()


def test_a_dead_server_at_start_fails_in_seconds_and_writes_nothing(tmp_path):
    db = tmp_path / "run.sqlite"
    started = time.monotonic()
    r = cli(*compatible("http://127.0.0.1:9/v1", db, "--limit", "1", "--attempts", "1"))
    took = time.monotonic() - started
    message = one_line_error(r)
    assert "failed its preflight check" in message and "cannot connect to http://127.0.0.1:9/v1" in message
    assert took < 20, took  # was ~50 s of retries, then a normal-looking 0 % report
    assert not db.exists() and not list(tmp_path.iterdir())


def test_a_wrong_key_and_an_unknown_model_are_one_line_before_anything_is_written(tmp_path):
    for status, expected in ((401, "authentication failed"), (404, "unknown model or endpoint")):
        server = FaultyServer([("status", status, [])] * 5)
        db = tmp_path / f"{status}.sqlite"
        try:
            message = one_line_error(cli(*compatible(server.url, db, "--limit", "1")))
        finally:
            server.stop()
        assert expected in message and not db.exists()
        assert len(server.requests) == 1
    ollama = OllamaStandIn(models=("llama3.1:8b",))
    try:
        message = one_line_error(
            cli("run", "--model", "ollama/olmo2:7b", "--base-url", ollama.url, "--db", str(tmp_path / "o.sqlite"))
        )
    finally:
        ollama.stop()
    assert "'olmo2:7b' is not on the Ollama server" in message and "llama3.1:8b" in message
    assert not (tmp_path / "o.sqlite").exists()


def test_no_preflight_skips_the_probe(tmp_path):
    server = FaultyServer([], reply=RIGHT)
    try:
        r = cli(*compatible(server.url, tmp_path / "run.sqlite", "--limit", "2", "--no-preflight"))
        assert r.returncode == 0, r.stderr
        assert len(server.requests) == 2  # one per problem, no probe
    finally:
        server.stop()


def test_a_backend_dying_mid_run_leaves_problems_not_attempted_and_resume_finishes_them(tmp_path):
    db = tmp_path / "run.sqlite"
    # the preflight and the first problem answer; then the backend fails every request (Retry-After: 0, so
    # its own retries are quick)
    server = FaultyServer([("ok",), ("ok",)] + [DOWN] * 100, reply=RIGHT)
    try:
        r = cli(*compatible(server.url, db, "--limit", "6", "--concurrency", "1"))
        assert r.returncode == 3, r.stderr
        assert "failed 5 times in a row" in r.stderr and f"--resume {db}" in r.stderr
        data = read(db)
        summary = summarize(data)
        assert data.record.status == "interrupted" and summary.overall.n == 1 and summary.overall.correct == 1
        assert len(summary.not_attempted) == 5 and not summary.unsolved  # never counted as wrong or unsolved
        report = cli("report", str(db))
        assert "5 problems not attempted (backend errors)" in report.stdout
        server.faults.clear()  # the backend is back
        r = cli("run", "--resume", str(db))
        assert r.returncode == 0, r.stderr
    finally:
        server.stop()
    data = read(db)
    assert data.record.status == "finished" and summarize(data).overall.n == 6  # every problem graded now


def test_an_unreachable_judge_leaves_the_problem_ungraded_never_incorrect(tmp_path):
    db = tmp_path / "run.sqlite"
    solver = FaultyServer([], reply=RIGHT)
    judge = FaultyServer([("ok",)] + [DOWN] * 50, reply='{"score": 5, "reason": "same"}')
    env = {"OPENAI_BASE_URL": judge.url + "/v1"}
    try:
        r = cli(
            *compatible(solver.url, db, "--limit", "2", "--grading", "both", "--judge", "openai-compatible/judge"),
            env=env,
        )
        assert r.returncode == 3, r.stderr
        assert "2 problems not graded (judge unavailable)" in r.stderr
        data = read(db)
        assert data.record.status == "incomplete" and not data.final
        assert len(summarize(data).not_graded) == 2
        judge.faults.clear()
        solved = len(solver.requests)
        r = cli("run", "--resume", str(db), env=env)
        assert r.returncode == 0, r.stderr
        assert len(solver.requests) == solved + 1  # only the preflight: the answers were kept, only graded now
    finally:
        solver.stop()
        judge.stop()
    data = read(db)
    assert data.record.status == "finished" and all(g.score == 5 for g in data.grader("judge").values())


def test_resume_applies_what_cannot_change_results_and_refuses_the_rest(tmp_path):
    db = tmp_path / "run.sqlite"
    old, new = FaultyServer([DOWN] * 100, reply=RIGHT), FaultyServer([], reply=RIGHT)
    try:
        first = cli(
            *compatible(old.url, db, "--limit", "2", "--attempts", "3", "--temperature", "0.2", "--no-preflight")
        )
        assert first.returncode == 3 and "2 problems not attempted (backend errors)" in first.stderr, first.stderr
        asked = len(old.requests)
        before = db.read_bytes()
        message = one_line_error(
            cli("run", "--resume", str(db), "--attempts", "5", "--temperature", "0.3", "--concurrency", "4")
        )
        assert "--attempts 5 (stored: 3)" in message and "--temperature 0.3 (stored: 0.2)" in message
        assert "--concurrency" not in message and db.read_bytes() == before  # refused: nothing changed
        same = cli(
            "run",
            "--resume",
            str(db),
            "--attempts",
            "3",
            "--base-url",
            new.url,
            "--concurrency",
            "4",
            "--request-timeout",
            "30",
        )
        assert same.returncode == 0, same.stderr  # a flag repeating its stored value is no change
        assert len(new.requests) == 3 and len(old.requests) == asked  # preflight + 2 problems, at the new address
    finally:
        old.stop()
        new.stop()
    record = read(db).record
    assert record.settings.base_url == [new.url] and record.settings.concurrency == 4
    assert record.settings.attempts == 3 and record.settings.temperature == 0.2
    assert record.sessions[-1].applied == {"base_url": [new.url], "concurrency": 4, "request_timeout": 30.0}


def test_a_sandbox_failing_its_self_test_stops_start_and_resume_in_one_line_writing_nothing(tmp_path):
    broken = create_sandbox("host", workers=1)
    broken.close()  # every program it is given now fails as infrastructure (SandboxError)
    model = ScriptedModel({}, default=RIGHT)
    settings = Settings(limit=2, attempts=1)
    new = tmp_path / "new.sqlite"
    with pytest.raises(UserError, match=r"^--sandbox host: the sandbox failed its self-test: .*closed"):
        api.start(settings, new, model=model, check=False, sandbox=broken)
    assert not new.exists()
    db = tmp_path / "run.sqlite"
    sessions = len(run_to_end(settings, db, model).record.sessions)
    with pytest.raises(UserError, match="the sandbox failed its self-test"):
        api.resume(db, model=model, check=False, sandbox=broken)
    with api.resume(db, model=model, check=False) as run:  # the failed resume let go of the run's lock
        run.execute()
    assert len(read(db).record.sessions) == sessions + 1  # the failed resume left no session behind


def test_an_answer_stored_just_before_a_kill_is_not_blamed_on_the_judge(tmp_path):
    db = tmp_path / "run.sqlite"
    run_to_end(Settings(limit=2, attempts=1), db, ScriptedModel({}, default=RIGHT))
    with sqlite3.connect(db) as conn:  # what a kill -9 between storing an answer and storing its grade leaves
        conn.execute("DELETE FROM grades WHERE problem_id = (SELECT min(problem_id) FROM grades)")
        conn.execute("UPDATE run SET status = 'interrupted'")
    summary = summarize(read(db))
    assert len(summary.not_graded) == 1
    said = [w for w in summary.warnings if "not graded" in w]
    assert said == ["1 problems not graded (answered before the run stopped); resume to grade them"], said
