"""SIGTERM stops a run as Ctrl-C does (interrupted, resumable; both say so at once). Resume after kill -9 at many
points of a run: the resumed run's stored attempts and grades equal an uninterrupted run's, none missing, none
doubled. The model is an Ollama-protocol stand-in that answers deterministically (a failing program first, a
working one on a retry), so both runs must agree exactly."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

from conftest import cli_run, stored_attempts
from servers import OllamaStandIn


def reply(body):
    prompt = body["messages"][-1]["content"]
    if "A previous program" in prompt:
        return "```python\nprint(7)\n```"
    return "```python\nprint(undefined)\n```"


def command(url, db, *extra):
    return cli_run(url, "--limit", "8", "--attempts", "3", "--concurrency", "1", *extra, "--db", str(db))


def contents(db):
    conn = sqlite3.connect(db)
    attempts = []
    for pid, number, status, record in conn.execute(
        "SELECT problem_id, number, status, record FROM attempts ORDER BY 1, 2"
    ):
        r = json.loads(record)
        attempts.append((pid, number, status, r["code"], r["stdout"], r["feedback"], r["params"]["seed"]))
    grades = conn.execute(
        "SELECT problem_id, grader, attempt, correct, status, method, answer FROM grades ORDER BY 1, 2"
    ).fetchall()
    return attempts, grades


def test_resume_after_kill_9_at_many_points(tmp_path):
    server = OllamaStandIn(reply=reply, latency_s=0.1)
    try:
        whole = tmp_path / "whole.sqlite"
        assert subprocess.run(command(server.url, whole), capture_output=True, timeout=300).returncode == 0

        killed = tmp_path / "killed.sqlite"
        kill_points = [1, 4, 7, 10, 13]
        args = command(server.url, killed)
        for point in kill_points:
            proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            deadline = time.monotonic() + 120
            while stored_attempts(killed) < point and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            assert proc.poll() is None, f"the run ended before attempt {point} could be interrupted"
            os.killpg(proc.pid, signal.SIGKILL)  # the harness, its sandbox servers and its grader, at once
            proc.wait()
            args = [sys.executable, "-m", "mathcodebench.cli", "run", "--resume", str(killed)]
        final = subprocess.run(args, capture_output=True, text=True, timeout=300)
        assert final.returncode == 0, final.stderr

        expected, got = contents(whole), contents(killed)
        assert got == expected
        assert len(got[0]) == 16 and len(got[1]) == 16  # 8 problems x 2 attempts; symbolic + final per problem
        assert sqlite3.connect(killed).execute("SELECT status FROM run").fetchone() == ("finished",)
    finally:
        server.stop()


def test_sigterm_stops_a_run_cleanly_and_it_resumes_to_the_same_result(tmp_path):
    server = OllamaStandIn(reply=reply, latency_s=0.1)
    try:
        whole, stopped = tmp_path / "whole.sqlite", tmp_path / "stopped.sqlite"
        assert subprocess.run(command(server.url, whole), capture_output=True, timeout=300).returncode == 0
        proc = subprocess.Popen(command(server.url, stopped), stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while stored_attempts(stopped) < 3 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before it could be stopped"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 130, err
        assert "SIGTERM: stopping" in err and "--resume" in err and "Traceback" not in err
        conn = sqlite3.connect(stopped)
        assert conn.execute("SELECT status FROM run").fetchone() == ("interrupted",)
        conn.close()
        resumed = subprocess.run(
            [sys.executable, "-m", "mathcodebench.cli", "run", "--resume", str(stopped)],
            capture_output=True,
            timeout=300,
        )
        assert resumed.returncode == 0, resumed.stderr
        assert contents(stopped) == contents(whole)
    finally:
        server.stop()


def hears_ctrl_c():
    """A background job of a non-interactive shell (as CI starts `make test`) inherits SIGINT ignored, which the
    run then rightly keeps ignoring: the run under test gets the default, as from a terminal."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def chats(server):
    return [r for r in server.requests if r["path"] == "/api/chat"]


def test_ctrl_c_says_at_once_that_it_waits_for_the_attempt_in_flight(tmp_path):
    answered = []

    def counted(body):
        answered.append(body)
        return reply(body)

    server = OllamaStandIn(reply=counted, latency_s=4.0)  # each model turn: the wait a silent Ctrl-C would leave
    db = tmp_path / "run.sqlite"
    try:
        proc = subprocess.Popen(command(server.url, db), stderr=subprocess.PIPE, text=True, preexec_fn=hears_ctrl_c)
        deadline = time.monotonic() + 120
        while (
            (stored_attempts(db) < 1 or len(chats(server)) == len(answered))
            and proc.poll() is None
            and time.monotonic() < deadline
        ):
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before it could be stopped"
        asked = len(chats(server))
        proc.send_signal(signal.SIGINT)  # a model turn is in flight
        assert proc.stderr is not None
        lines = iter(proc.stderr.readline, "")
        said = next((line for line in lines if "stopping" in line), "")
        waiting = proc.poll() is None and len(chats(server)) == asked
        rest = proc.stderr.read()  # to the end (communicate would skip what readline has buffered)
        proc.wait(timeout=120)
    finally:
        server.stop()
    assert said.strip() == "Ctrl-C: stopping once the attempts in flight are stored"
    assert waiting, "the message came only after the attempt in flight"
    assert proc.returncode == 130 and "--resume" in rest and "Traceback" not in rest
    assert sqlite3.connect(db).execute("SELECT status FROM run").fetchone() == ("interrupted",)
