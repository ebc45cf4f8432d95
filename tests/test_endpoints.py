"""Several endpoints per model: least-in-flight routing, a failing endpoint taken out for a back-off period and
the request sent elsewhere, an error only when every endpoint is down; counts stored per session and reported.
Real HTTP against local servers (tests/servers.py); a refused port is a port nobody listens on."""

import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from conftest import fenced, read
from mathcodebench.models import GenerationParams, Message, ModelError, create_model
from mathcodebench.models.endpoints import EndpointPool
from mathcodebench.report import summarize
from servers import FaultyServer, OllamaStandIn

RIGHT = fenced("print(22)")
DOWN = ("status", 503, [("Retry-After", "0")])
ASK = [Message(role="user", content="What is 1 + 1?")]


def refused_url() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}/v1"


def stats(model):
    return {s.url: s for s in model.http.pool.stats()}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_pool_picks_the_least_busy_endpoint_in_rotation_and_backs_off_a_failing_one():
    clock = Clock()
    pool = EndpointPool(["a", "b", "c"], out_s=10.0, clock=clock)
    a, b, c = pool.endpoints
    assert pool.pick(set()) is a  # a tie goes to the order given
    with pool.using(a), pool.using(a), pool.using(b):
        assert pool.pick(set()) is c
        assert pool.pick({c.index}) is b  # a request's next try goes where it has not been
    assert pool.take_out(b) == 10.0
    assert pool.pick(set()) is a and pool.pick({a.index}) is c
    assert not pool.alternative({a.index, c.index})
    assert pool.take_out(b) == 20.0  # doubling while it keeps failing
    clock.now = 19.0
    assert pool.pick({a.index, c.index}) is None
    clock.now = 21.0
    assert pool.pick({a.index, c.index}) is b  # back in rotation
    pool.answered(b, 0.5)
    assert pool.take_out(b) == 10.0  # a success resets the back-off
    pool.take_out(c)
    clock.now += 1.0
    pool.take_out(a)
    pool.take_out(b)
    assert pool.pick(set()) is c  # every endpoint out: a request's first try goes to the one due back first
    assert pool.pick({c.index}) is None  # and only there


def test_requests_spread_over_endpoints_with_the_fewest_in_flight():
    servers = [OllamaStandIn(reply=RIGHT, latency_s=0.2) for _ in range(2)]
    try:
        model = create_model("ollama/llama3.1:8b", [s.url for s in servers], concurrency=4)
        threads = [threading.Thread(target=model.generate, args=(ASK, GenerationParams())) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        counts = [len(s.requests) for s in servers]
        assert sum(counts) == 8 and min(counts) >= 2, counts  # 4 in flight at once, never all on one server
        assert all(stats(model)[s.url].answered == len(s.requests) for s in servers)
    finally:
        for server in servers:
            server.stop()


def test_a_refused_endpoint_is_taken_out_at_once_and_the_request_goes_elsewhere():
    dead = refused_url()
    live = FaultyServer([], reply=RIGHT)
    try:
        model = create_model("openai-compatible/m", [dead, live.url + "/v1"], max_retries=3)
        for _ in range(5):
            assert "print(22)" in model.generate(ASK, GenerationParams()).text
        counted = stats(model)
        assert counted[dead].requests == 1 and counted[dead].errors == 1 and counted[dead].taken_out == 1
        assert counted[live.url + "/v1"].answered == 5 and len(live.requests) == 5
    finally:
        live.stop()


def test_an_endpoint_failing_after_its_retries_is_out_for_its_back_off_then_tried_again(monkeypatch):
    failing = FaultyServer([DOWN] * 3, reply=RIGHT)  # 503 three times, then healthy again
    healthy = FaultyServer([], reply=RIGHT)
    urls = [failing.url + "/v1", healthy.url + "/v1"]
    try:
        model = create_model("openai-compatible/m", urls, max_retries=2)
        model.http.pool.out_s = 0.5
        for _ in range(3):
            model.generate(ASK, GenerationParams())
        counted = stats(model)
        assert counted[urls[0]].requests == 3 and counted[urls[0]].errors == 3  # its own retries first
        assert counted[urls[0]].taken_out == 1 and counted[urls[1]].answered == 3
        time.sleep(0.6)  # past its back-off
        model.generate(ASK, GenerationParams())
        assert stats(model)[urls[0]].answered == 1  # back in rotation, and answering
    finally:
        failing.stop()
        healthy.stop()


def test_only_when_every_endpoint_is_down_does_a_request_fail():
    urls = [refused_url(), refused_url()]
    model = create_model("openai-compatible/m", urls, max_retries=1)
    model.http.backoff_s = 0.01
    with pytest.raises(ModelError) as failed:
        model.generate(ASK, GenerationParams())
    assert all(url in str(failed.value) for url in urls)
    with pytest.raises(ModelError):  # both out now: one try, at the endpoint due back first
        model.generate(ASK, GenerationParams())
    counted = stats(model)
    assert counted[urls[0]].requests + counted[urls[1]].requests == 1 + 2 + 2  # refused, retried, retried
    assert all(s.taken_out >= 1 and s.answered == 0 for s in counted.values())


def cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "mathcodebench.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_a_run_over_several_endpoints_stores_and_reports_each_ones_counts(tmp_path):
    dead = refused_url()
    live = [FaultyServer([], reply=RIGHT) for _ in range(2)]
    db = tmp_path / "run.sqlite"
    urls = [dead] + [s.url + "/v1" for s in live]
    flags = [x for url in urls for x in ("--base-url", url)]
    try:
        r = cli(
            "run",
            "--model",
            "openai-compatible/m",
            *flags,
            "--limit",
            "6",
            "--concurrency",
            "2",
            "--no-preflight",
            "--db",
            str(db),
        )
        assert r.returncode == 0, r.stderr
        r = cli("run", "--resume", str(db), "--base-url", urls[1])  # a finished run: nothing to solve
        assert r.returncode == 0, r.stderr
    finally:
        for server in live:
            server.stop()
    data = read(db)
    assert data.record.status == "finished" and data.record.settings.base_url == [urls[1]]
    first = {e.url: e for e in data.endpoints if e.session == 1}
    assert set(first) == set(urls) and all(e.role == "model" for e in first.values())
    assert first[dead].errors >= 1 and first[dead].taken_out >= 1 and first[dead].answered == 0
    assert sum(first[url].answered for url in urls[1:]) == 6  # one request per problem, all answered
    assert all(len(s.requests) == first[s.url + "/v1"].answered for s in live)
    summary = summarize(data)
    assert {e.url: e.requests for e in summary.endpoints} == {url: first[url].requests for url in urls}
    report = cli("report", str(db))
    assert "Model endpoints" in report.stdout and "taken out" in report.stdout, report.stdout
    assert "executor: local" in report.stdout


def test_preflight_checks_every_endpoint_and_names_a_dead_one(tmp_path):
    live = FaultyServer([], reply=RIGHT)
    dead = refused_url()
    db = tmp_path / "run.sqlite"
    try:
        r = cli(
            "run",
            "--model",
            "openai-compatible/m",
            "--base-url",
            live.url + "/v1",
            "--base-url",
            dead,
            "--limit",
            "1",
            "--db",
            str(db),
        )
    finally:
        live.stop()
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert f"(endpoint {dead})" in r.stderr and "failed its preflight check" in r.stderr
    assert not db.exists()
