"""HTTP model backends over real loopback HTTP: llama-cpp-python's own OpenAI-compatible server (a real
server with the embedded model), a faithful Ollama stand-in, and a server that injects faults."""

import os
import socket
import sqlite3
import subprocess
import sys
import time

import httpx
import pytest

from conftest import BROKEN, ForcedFirst, check_regenerated_from_failure, fenced, read, run_to_end, single
from mathcodebench import api
from mathcodebench.data import Problem
from mathcodebench.errors import Incomplete
from mathcodebench.models import FatalModelError, GenerationParams, Message, ModelError, create_model
from mathcodebench.models.ollama import OllamaModel
from mathcodebench.models.openai_compat import OpenAICompatibleModel
from mathcodebench.models.weights import ensure_weights
from mathcodebench.report import summarize
from mathcodebench.sandbox import create_sandbox
from mathcodebench.settings import Settings
from mathcodebench.solve import AttemptStatus, SolvePolicy, solve
from servers import FaultyServer, OllamaStandIn

HELLO = [Message(role="user", content="Write a Python program that prints 17 * 23.")]
PARAMS = GenerationParams(max_tokens=40)


def fast(spec: str, url: str, **kw) -> OpenAICompatibleModel:
    return OpenAICompatibleModel(spec, url, backoff_s=0.05, **kw)


# -- a real OpenAI-compatible server ---------------------------------------------------------------


@pytest.fixture(scope="module")
def llama_server():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(ensure_weights()),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "1024",
            "--logits_all",
            "true",
            "--model_alias",
            "qwen-coder",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(240):
            try:
                if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.25)
        else:
            pytest.fail("llama_cpp.server did not start")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.model
def test_chat_against_llama_cpp_server(llama_server):
    model = create_model("openai-compatible/qwen-coder", llama_server)
    first = model.generate(HELLO, GenerationParams(max_tokens=40, temperature=0))
    assert first.text and first.completion_tokens > 0 and first.prompt_tokens > 0
    assert first.finish_reason in {"stop", "length"} and first.latency_s > 0
    assert model.generate(HELLO, GenerationParams(max_tokens=40, temperature=0)).text == first.text  # greedy
    assert model.describe() == {"backend": "openai-compatible", "base_url": llama_server, "model": "qwen-coder"}


@pytest.mark.model
def test_prefix_continuation_and_logprobs_against_llama_cpp_server(llama_server):
    model = create_model("openai-compatible/qwen-coder", llama_server)
    prefix = "<|im_start|>user\nPrint 17 times 23 in Python.<|im_end|>\n<|im_start|>assistant\n```python\nresult = 17 *"
    completion = model.complete(prefix, GenerationParams(max_tokens=12, temperature=0), logprobs=3)
    assert completion.text.strip() and "23" in completion.text
    assert completion.logprobs and all(lp.logprob <= 0 for lp in completion.logprobs)
    assert len(completion.logprobs[0].top) >= 1


@pytest.mark.model
def test_tbt_through_the_llama_cpp_server(llama_server):
    """Prefix continuation over /v1/completions with the chatml template; token counts via /extras/tokenize."""
    model = create_model("openai-compatible/qwen-coder", llama_server, chat_template="chatml")
    assert model.count_tokens("print(6 * 7)\n") > 0
    problem = Problem(id="t/1", subject="Algebra", level=1, problem="What is 6 times 7?", answer="42")
    policy = SolvePolicy(attempts=2, regeneration="tbt", params=GenerationParams(max_tokens=120))
    sandbox = create_sandbox("default")
    try:
        attempts = solve(problem, ForcedFirst(model, fenced(BROKEN)), sandbox, policy)
    finally:
        sandbox.close()
    assert attempts[0].status == AttemptStatus.RUNTIME_ERROR and len(attempts) == 2
    check_regenerated_from_failure(attempts)


# -- the Ollama protocol ----------------------------------------------------------------------------


def test_ollama_chat_streaming_and_raw_generate():
    server = OllamaStandIn()
    try:
        model = OllamaModel("ollama/llama3.1:8b", server.url)
        chat = model.generate(HELLO, PARAMS)
        assert chat.text == "```python\nprint(42)\n```" and chat.ttft_s is not None
        assert (chat.prompt_tokens, chat.completion_tokens, chat.finish_reason) == (12, 6, "stop")
        request = server.requests[-1]
        assert request["path"] == "/api/chat" and request["body"]["stream"] is True
        assert request["body"]["options"] == {"temperature": 0.0, "top_p": 1.0, "num_predict": 40, "seed": 0}
        raw = model.complete("```python\nprint(17 *", PARAMS)
        assert raw.text == " 23)\n```" and server.requests[-1]["body"]["raw"] is True
        assert model.installed() == ["llama3.1:8b"]
        with pytest.raises(FatalModelError, match="HTTP 404"):
            OllamaModel("ollama/olmo2:7b", server.url).generate(HELLO, PARAMS)
    finally:
        server.stop()


def test_tbt_through_ollama_raw_generate():
    server = OllamaStandIn(raw_reply="print(a * 7)\n```")
    try:
        model = create_model("ollama/llama3.1:8b", server.url, chat_template="llama3")
        problem = Problem(id="t/1", subject="Algebra", level=1, problem="What is 6 times 7?", answer="42")
        sandbox = create_sandbox("default")
        try:
            attempts = solve(
                problem, ForcedFirst(model, fenced(BROKEN)), sandbox, SolvePolicy(attempts=2, regeneration="tbt")
            )
        finally:
            sandbox.close()
        first, second = attempts
        offset = first.response.index("print(a * 7 // b)")
        assert second.status == AttemptStatus.ANSWERED and second.stdout.strip() == "42"
        assert second.response == first.response[:offset] + "print(a * 7)\n```"
        assert second.tokens_reused is None  # Ollama cannot count tokens; recorded as unknown, not guessed
        raw = server.requests[-1]["body"]
        assert raw["raw"] is True and raw["prompt"].startswith("<|begin_of_text|><|start_header_id|>system")
        assert raw["prompt"].endswith("<|start_header_id|>assistant<|end_header_id|>\n\n" + first.response[:offset])
    finally:
        server.stop()


def test_ollama_host_from_the_environment(monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:9")
    assert OllamaModel("ollama/x").http.base_url == "http://127.0.0.1:9"


# -- faults -----------------------------------------------------------------------------------------


def test_429_with_retry_after_is_honoured():
    server = FaultyServer([("status", 429, [("Retry-After", "1")])])
    try:
        start = time.perf_counter()
        reply = fast("openai-compatible/m", server.url).generate(HELLO, PARAMS)
        assert reply.retries == 1 and time.perf_counter() - start >= 1.0
    finally:
        server.stop()


@pytest.mark.parametrize(
    "faults",
    [
        [("status", 500, []), ("status", 503, [])],
        [("slow", 1.5)],
        [("drop",)],
        [("malformed",), ("malformed",)],
    ],
)
def test_transient_faults_are_retried(faults):
    server = FaultyServer(faults)
    try:
        reply = fast("openai-compatible/m", server.url, timeout_s=1.0).generate(HELLO, PARAMS)
        assert reply.text.startswith("```python") and reply.retries == len(faults)
    finally:
        server.stop()


@pytest.mark.parametrize(
    "status,message",
    [(401, "authentication failed"), (403, "authentication failed"), (404, "unknown model or endpoint")],
)
def test_fatal_statuses_stop_at_once(status, message):
    server = FaultyServer([("status", status, [])] * 10)
    try:
        with pytest.raises(FatalModelError, match=message):
            fast("openai-compatible/m", server.url).generate(HELLO, PARAMS)
        assert len(server.requests) == 1  # no retry storm
    finally:
        server.stop()


def test_giving_up_is_a_model_error():
    server = FaultyServer([("status", 500, [])] * 10)
    try:
        with pytest.raises(ModelError, match=r"gave up after 3 tries \(HTTP 500\)"):
            fast("openai-compatible/m", server.url, max_retries=2).generate(HELLO, PARAMS)
    finally:
        server.stop()


def test_keys_are_required_and_never_stored(monkeypatch, db):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(FatalModelError, match="set OPENAI_API_KEY"):
        create_model("openai/gpt-4o-mini-2024-07-18")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-123")
    server = FaultyServer([("status", 500, [])], reply=fenced("print(22)"))
    try:
        model = fast("openai-compatible/m", server.url)
        run_to_end(Settings(model="openai-compatible/m", base_url=server.url, limit=2, attempts=2), db, model)
        assert server.requests[0]["headers"]["Authorization"] == "Bearer sk-test-secret-123"
    finally:
        server.stop()
    dump = "\n".join(sqlite3.connect(db).iterdump())
    assert "sk-test-secret-123" not in dump and server.url in dump


def test_a_server_that_dies_leaves_problems_not_attempted_never_wrong(db):
    server = FaultyServer([("status", 429, [("Retry-After", "0")]), ("drop",)], reply=fenced("print(22)"))
    model = fast("openai-compatible/m", server.url, max_retries=2, timeout_s=2)  # the 3rd try answers
    original = model.generate

    def dies_after_first_problem(messages, params):
        if len(server.requests) >= 3:
            server.stop()
        return original(messages, params)

    model.generate = dies_after_first_problem
    data = run_to_end(Settings(model="openai-compatible/m", limit=3, attempts=2, concurrency=1), db, model)
    attempts = single(data.attempts)
    assert set(attempts) == {"sample/algebra/1", "sample/algebra/2", "sample/algebra/3"}
    assert attempts["sample/algebra/1"][-1].status == AttemptStatus.ANSWERED
    # a backend failure ends the problem at once, ungraded: one model_error each, not the whole budget
    assert [a.status for a in attempts["sample/algebra/2"]] == [AttemptStatus.MODEL_ERROR]
    assert [a.status for a in attempts["sample/algebra/3"]] == [AttemptStatus.MODEL_ERROR]
    assert all("gave up" in tried[-1].stderr for tried in list(attempts.values())[1:])
    assert set(single(data.final)) == {"sample/algebra/1"} and data.record.status == "incomplete"
    summary = summarize(data)
    assert summary.overall.n == 1 and summary.not_attempted == ["sample/algebra/2", "sample/algebra/3"]
    assert "2 problems not attempted (backend errors)" in data.record.status_detail


def test_requests_in_flight_are_bounded_by_concurrency(db):
    import threading

    server = FaultyServer([("slow", 0.3)] * 9, reply=fenced("print(22)"))
    active, peak, lock = 0, 0, threading.Lock()
    model = fast("openai-compatible/m", server.url, concurrency=3)
    original = model.generate

    def counting(messages, params):
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        try:
            return original(messages, params)
        finally:
            with lock:
                active -= 1

    model.generate = counting
    try:
        data = run_to_end(Settings(model="openai-compatible/m", limit=9, attempts=1, concurrency=3), db, model)
    finally:
        server.stop()
    assert peak == 3  # three problems in flight at once, never more
    assert len(data.final) == 9


def test_a_dead_server_stops_the_run_resumably_instead_of_burning_every_attempt(db):
    server = FaultyServer([("status", 503, [])] * 100, reply=fenced("print(22)"))
    model = fast("openai-compatible/m", server.url, max_retries=0)
    settings = Settings(model="openai-compatible/m", limit=20, attempts=3, concurrency=1)
    with (
        pytest.raises(Incomplete, match=f"failed {api.OUTAGE_FAILURES} times in a row .*--resume"),
        api.start(settings, db, model=model, check=False) as run,
    ):
        run.execute()
    data = read(db)
    stored = [a for tried in data.attempts.values() for a in tried]
    assert len(stored) == api.OUTAGE_FAILURES and all(a.status == AttemptStatus.MODEL_ERROR for a in stored)
    assert data.record.status == "interrupted" and not data.final
    server.faults.clear()  # the server is back
    with api.resume(db, model=model) as run:
        assert run.execute() == "finished"
    data = read(db)
    assert len(data.final) == 20 and data.record.status == "finished"
    first = single(data.attempts)["sample/algebra/1"]  # the failed try did not use up attempt 1 or its seed
    assert [(a.number, a.status, a.params.seed) for a in first] == [(1, "model_error", 0), (2, "answered", 0)]
