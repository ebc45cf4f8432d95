"""--executor ray on a real local Ray cluster (a head node and one more worker node, each a raylet of its own on
this machine, 1 CPU each), sharing one cluster across the module: a ray run stores row by row what a local run
stores; a node killed mid-run loses only its in-flight attempts, redone on the other node and stored once;
kill -9 of the driver, then --resume with either executor, continues; without Ray, one line.

The models are real HTTP stand-ins (tests/servers.py) that answer deterministically from the prompt, so every
run of the same settings must store the same rows whatever ran them and however often it was interrupted.
"""

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from conftest import ScriptedModel, cli_run, fenced, run_to_end
from mathcodebench import api
from mathcodebench.errors import UserError
from mathcodebench.models import Completion, GenerationParams, Message
from mathcodebench.settings import RESUMABLE, Settings
from servers import FaultyServer, OllamaStandIn

# Ray on 127.0.0.1 only (its "single machine" mode), read when Ray is first imported: here, and by the runs'
# processes, which inherit it.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
ray_cluster_utils = pytest.importorskip("ray.cluster_utils", reason="make test installs the ray extra")

MB = 1024 * 1024
NODE = {"num_cpus": 1, "object_store_memory": 80 * MB}
FAILING = fenced("print(undefined)")
JUDGED = '{"score": 5, "reason": "the same value"}'
TIMINGS = {"gen_s", "exec_s"}  # an attempt's generation and execution seconds


def reply(body):
    """Attempt 1 fails; a retry prints a number that depends on the problem, so some answers are right."""
    prompt = body["messages"][-1]["content"]
    if "A previous program" in prompt:
        return fenced(f"print({len(prompt) % 7})")
    return FAILING


@pytest.fixture(scope="module")
def cluster():
    c = ray_cluster_utils.Cluster(initialize_head=True, head_node_args={**NODE, "include_dashboard": False})
    c.worker = c.add_node(**NODE)
    try:
        yield c
    finally:
        c.shutdown()
    assert not _ray_processes(), "Ray processes outlived the cluster"


def _ray_processes():
    """Raylets, GCS servers and actor processes still alive (the tests' own, or leaked by them)."""
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [
        line for line in out.splitlines()[1:] if "raylet" in line or "gcs_server" in line or "ray::NodeWorker" in line
    ]


def _children(pid):
    out = subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True).stdout
    pairs = [tuple(map(int, line.split())) for line in out.splitlines()]
    found = [child for child, parent in pairs if parent == pid]
    return found + [grandchild for child in found for grandchild in _children(child)]


def lose(cluster, node):
    """The node's machine is gone: its raylet and every process it started (the actor, and with the actor's pipes
    closed, its sandbox servers) die at once, as they would with the machine."""
    raylet = node.all_processes["raylet"][0].process.pid
    for pid in _children(raylet):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    cluster.remove_node(node, allow_graceful=False)


@pytest.fixture(scope="module")
def servers():
    solver = OllamaStandIn(reply=reply, latency_s=0.05)
    judge = FaultyServer([], reply=JUDGED)
    yield solver, judge
    solver.stop()
    judge.stop()


def command(solver, db, *extra):
    return cli_run(
        solver.url,
        "--limit",
        "6",
        "--samples",
        "2",
        "--attempts",
        "3",
        "--concurrency",
        "2",
        "--grading",
        "both",
        "--judge",
        "openai-compatible/judge",
        *extra,
        "--db",
        str(db),
    )


def environment(judge, **more):
    return {**os.environ, "OPENAI_BASE_URL": judge.url + "/v1", "COLUMNS": "200", **more}


def run(args, judge, timeout=300, **more):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=environment(judge, **more))


def on_ray(cluster):
    return ("--executor", "ray", "--ray-address", cluster.address)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, servers):
    """The local run every other run must equal."""
    db = tmp_path_factory.mktemp("local") / "local.sqlite"
    r = run(command(servers[0], db), servers[1])
    assert r.returncode == 0, r.stderr
    return db


def _record(text):
    return {k: v for k, v in json.loads(text).items() if k not in TIMINGS}


def rows(db):
    """Every stored row that a result depends on: timestamps and timings left out."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        config = json.loads(conn.execute("SELECT config FROM run").fetchone()[0])
        return {
            "settings": {k: v for k, v in config.items() if k not in RESUMABLE},  # where and how fast, not what
            "status": conn.execute("SELECT status, status_detail FROM run").fetchall(),
            "problems": conn.execute("SELECT * FROM problems ORDER BY position").fetchall(),
            "attempts": [
                (*r[:4], _record(r[4]), r[5])
                for r in conn.execute(
                    "SELECT problem_id, sample, number, status, record, completion_tokens FROM attempts "
                    "ORDER BY 1, 2, 3"
                )
            ],
            "grades": conn.execute(
                "SELECT problem_id, sample, grader, attempt, correct, status, method, answer, "
                "detail, score FROM grades ORDER BY 1, 2, 3"
            ).fetchall(),
            "votes": conn.execute("SELECT * FROM votes ORDER BY 1, 2").fetchall(),
            "judge_cache": conn.execute("SELECT key, grade, reply FROM judge_cache ORDER BY 1").fetchall(),
        }
    finally:
        conn.close()


def stored_attempts(db):
    if not db.exists():
        return 0
    try:
        return (
            sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
            .execute("SELECT count(*) FROM attempts")
            .fetchone()[0]
        )
    except sqlite3.Error:
        return 0


def wait_for(db, attempts, proc):
    deadline = time.monotonic() + 120
    while stored_attempts(db) < attempts and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    said = proc.stderr.read() if proc.poll() is not None and proc.stderr is not None else ""
    assert proc.poll() is None, f"the run ended before {attempts} attempts were stored: {said}"


def sessions(db):
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    return [
        (r[0], r[1], json.loads(r[2]) if r[2] else None, json.loads(r[3]))
        for r in conn.execute("SELECT command, outcome, isolation, applied FROM sessions ORDER BY number")
    ]


def test_a_ray_run_stores_row_by_row_what_a_local_run_stores(cluster, servers, reference, tmp_path):
    db = tmp_path / "ray.sqlite"
    r = run(command(servers[0], db, *on_ray(cluster)), servers[1])
    assert r.returncode == 0, r.stderr
    expected, got = rows(reference), rows(db)
    assert got == expected
    assert len(got["attempts"]) == 6 * 2 * 2 and len(got["judge_cache"]) >= 1 and got["votes"]
    ((_, outcome, isolation, _),) = sessions(db)
    assert outcome == "finished"
    nodes = isolation["nodes"]  # the sandbox was started and self-tested on each node, and recorded per node
    assert len(nodes) == 2 and len({n["ray_node"] for n in nodes}) == 2
    assert all(n["self_test"] and all(p["passed"] for p in n["self_test"]) for n in nodes)
    local_report, ray_report = (
        json.loads(run([sys.executable, "-m", "mathcodebench.cli", "report", str(d), "--json"], servers[1]).stdout)
        for d in (reference, db)
    )
    differs = {k for k in local_report if local_report[k] != ray_report[k]}
    assert differs <= {"db", "executor", "nodes", "endpoints", "generation_s", "execution_s"}, differs
    assert (local_report["executor"], ray_report["executor"]) == ("local", "ray")
    assert {(e["role"], e["url"]) for e in ray_report["endpoints"]} == {
        ("model", servers[0].url),
        ("judge", servers[1].url + "/v1"),
    }
    assert sum(e["answered"] for e in ray_report["endpoints"] if e["role"] == "model") == 6 * 2 * 2
    text = run([sys.executable, "-m", "mathcodebench.cli", "report", str(db)], servers[1]).stdout
    assert "executor: ray, 2 nodes" in text


def test_a_node_lost_mid_run_loses_only_its_in_flight_attempts(cluster, servers, reference, tmp_path):
    answered = []

    def counted(body):
        answered.append(body)
        return reply(body)

    slow = OllamaStandIn(reply=counted, latency_s=1.0)
    db = tmp_path / "lost.sqlite"
    proc = subprocess.Popen(
        command(slow, db, *on_ray(cluster)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(servers[1]),
        start_new_session=True,
    )
    try:
        wait_for(db, 2, proc)
        # 4 requests in flight, 2 problems at most per node: the worker node has requests in flight
        deadline = time.monotonic() + 60
        while len(slow.requests) - len(answered) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(slow.requests) - len(answered) >= 4 and proc.poll() is None
        lose(cluster, cluster.worker)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        slow.stop()
        cluster.worker = cluster.add_node(**NODE)  # the next tests get two nodes again
    assert proc.returncode == 0, err
    assert "lost" in err and "solved elsewhere" in err, err
    assert rows(db) == rows(reference)  # every attempt stored once, the lost ones redone from the stored ones
    asked = sum(r["path"] == "/api/chat" for r in slow.requests) - 1  # less the preflight
    assert asked >= 6 * 2 * 2 + 2, "the attempts in flight on the lost node were not redone"


def test_kill_9_of_the_driver_then_resume_with_either_executor(cluster, servers, reference, tmp_path):
    db = tmp_path / "killed.sqlite"
    slow = OllamaStandIn(reply=reply, latency_s=0.3)
    args = command(slow, db, *on_ray(cluster))
    try:
        for point, executor in ((3, ("--executor", "local")), (10, on_ray(cluster))):
            proc = subprocess.Popen(
                args,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=environment(servers[1]),
                start_new_session=True,
            )
            wait_for(db, point, proc)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            args = [sys.executable, "-m", "mathcodebench.cli", "run", "--resume", str(db), *executor]
        final = run(args, servers[1])
        assert final.returncode == 0, final.stderr
    finally:
        slow.stop()
    assert rows(db) == rows(reference)
    log = sessions(db)
    assert [(c, o) for c, o, _, _ in log] == [("run", "killed"), ("resume", "killed"), ("resume", "finished")]
    assert log[1][3] == {"executor": "local"} and log[2][3] == {"executor": "ray"}
    assert "nodes" not in log[1][2] and len(log[2][2]["nodes"]) == 2


def test_without_ray_the_ray_executor_is_one_line(tmp_path, servers):
    blocker = tmp_path / "blocked" / "ray"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('ray is not installed')\n")
    db = tmp_path / "run.sqlite"
    r = run(command(servers[0], db, "--executor", "ray"), servers[1], PYTHONPATH=str(blocker.parent))
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "pip install 'mathcodebench[ray]'" in r.stderr
    assert not db.exists()


class Stateless:
    """A scripted model that can travel to a node: picklable (no locks, no counters), its reply a function of the
    conversation alone, so every copy answers alike."""

    spec = "scripted-stateless"

    def generate(self, messages: list[Message], params: GenerationParams) -> Completion:
        prompt = messages[-1].content
        code = f"print({len(prompt) % 7})" if "A previous program" in prompt else "print(undefined)"
        text = f"```python\n{code}\n```"
        # Built here, not by conftest's helper: the class travels by value and the nodes cannot import conftest.
        return Completion(
            text=text,
            finish_reason="stop",
            prompt_tokens=10,
            completion_tokens=len(text) // 4,
            latency_s=0.001,
            model=self.spec,
            params=params,
        )

    def check(self) -> None:
        """Always there."""

    def describe(self) -> dict[str, str]:
        return {"backend": "scripted"}


def test_a_picklable_scripted_model_travels_to_the_nodes_and_an_unpicklable_one_is_one_line(cluster, tmp_path):
    import ray

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the nodes cannot import this test module
    settings = Settings(limit=4, attempts=3, samples=2)
    local = run_to_end(settings, tmp_path / "local.sqlite", Stateless())
    on_ray = run_to_end(
        settings.model_copy(update={"executor": "ray", "ray_address": cluster.address}),
        tmp_path / "ray.sqlite",
        Stateless(),
    )
    assert not ray.is_initialized()  # the run left the cluster when it closed
    assert rows(tmp_path / "ray.sqlite") == rows(tmp_path / "local.sqlite")
    assert len(on_ray.attempts) == len(local.attempts) == 8 and len(on_ray.record.sessions[0].isolation["nodes"]) == 2
    with pytest.raises(UserError, match="cannot be sent to the cluster's nodes"):
        api.start(
            settings.model_copy(update={"executor": "ray", "ray_address": cluster.address}),
            tmp_path / "no.sqlite",
            model=ScriptedModel({}, default=FAILING),
            check=False,
        )
    assert not (tmp_path / "no.sqlite").exists()


def test_without_an_address_a_local_ray_instance_is_started_for_the_run(tmp_path, servers):
    db = tmp_path / "run.sqlite"
    env = {k: v for k, v in environment(servers[1]).items() if k != "RAY_ADDRESS"}
    r = subprocess.run(
        [*command(servers[0], db, "--executor", "ray")[:-2], "--limit", "2", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    ((_, outcome, isolation, _),) = sessions(db)
    assert outcome == "finished" and len(isolation["nodes"]) == 1


def test_an_address_nothing_answers_at_is_one_line_in_seconds(tmp_path, servers):
    db = tmp_path / "run.sqlite"
    r = run(command(servers[0], db, "--executor", "ray", "--ray-address", "127.0.0.1:9"), servers[1], timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "nothing answers at 127.0.0.1:9" in r.stderr and "ray start --head" in r.stderr
    assert not db.exists()
