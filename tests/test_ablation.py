"""The full-vs-tbt ablation: hand-computed numbers on scripted runs, and the `ablate` command end to end
against the Ollama stand-in (real HTTP; the Ollama binary cannot be installed here)."""

import subprocess
import sys

import pytest

from conftest import BROKEN, ScriptedModel, fenced, read, run_to_end
from mathcodebench.models import Capabilities, Completion, GenerationParams, Message
from mathcodebench.report import ablation, find_ablations
from mathcodebench.settings import Settings
from servers import OllamaStandIn

A, B, C = "What is the value of $3x + 7$", "slope of the line", "For what values of $x$"


class PrefixScripted(ScriptedModel):
    """Scripted whole responses, and per-problem scripted continuations of raw prefixes."""

    capabilities = Capabilities(prefix=True, seed=True)

    def __init__(self, script, continuations) -> None:
        super().__init__(script)
        self.continuations = continuations

    def render(self, messages: list[Message]) -> str:
        return "|".join(m.content for m in messages) + "|ASSISTANT|"

    def complete(self, prompt: str, params: GenerationParams, avoid: str | None = None) -> Completion:
        text = next(v for k, v in self.continuations.items() if k in prompt)
        return Completion(
            text=text,
            finish_reason="stop",
            prompt_tokens=1,
            completion_tokens=len(text) // 4,
            latency_s=0.002,
            model=self.spec,
            params=params,
        )

    def count_tokens(self, text: str) -> int | None:
        return len(text) // 4


def _run(db, strategy):
    script = {A: [fenced("print(22)")], B: [fenced(BROKEN)], C: [fenced(BROKEN), fenced("print((1, 4))")]}
    model = PrefixScripted(script, {B: "print('2/3')\n```", C: "print((1, 4))\n```"})
    return run_to_end(Settings(model="scripted", limit=3, attempts=2, regeneration=strategy), db, model)


def test_ablation_numbers_match_a_hand_count(tmp_path):
    full, tbt = _run(tmp_path / "full.sqlite", "full"), _run(tmp_path / "tbt.sqlite", "tbt")
    result = ablation(full, tbt)
    rows = {r.metric: r for r in result.rows}
    assert result.n == 3
    # full: A right at attempt 1, B unsolved (broken twice), C right at attempt 2 (a new program).
    # tbt: A the same; B and C repaired from their failing line at attempt 2.
    acc = rows["accuracy"]
    assert (acc.full, acc.tbt, acc.delta) == pytest.approx((200 / 3, 100.0, 100 / 3))
    assert acc.test.startswith("McNemar p=1 (0 only full, 1 only tbt)")
    assert (rows["unsolved"].full, rows["unsolved"].tbt) == pytest.approx((100 / 3, 0.0))
    assert rows["attempts per problem"].full == rows["attempts per problem"].tbt == pytest.approx(5 / 3)
    responses = [fenced("print(22)"), fenced(BROKEN)] * 1
    full_tokens = (
        sum(len(r) // 4 for r in responses)
        + len(fenced(BROKEN)) // 4
        + len(fenced(BROKEN)) // 4
        + len(fenced("print((1, 4))")) // 4
    )
    tbt_tokens = (
        sum(len(r) // 4 for r in responses)
        + len(fenced(BROKEN)) // 4
        + len("print('2/3')\n```") // 4
        + len("print((1, 4))\n```") // 4
    )
    tokens = rows["tokens generated"]
    assert (tokens.full, tokens.tbt) == (full_tokens, tbt_tokens)
    assert tokens.relative == pytest.approx((tbt_tokens - full_tokens) / full_tokens)
    kept = fenced(BROKEN)[: fenced(BROKEN).index("print(a * 7")]
    assert (result.regenerated_attempts, result.regeneration_points) == (2, 2)
    assert result.tokens_reused == 2 * (len(kept) // 4)
    assert [a.model for a in find_ablations([tbt, full])] == ["scripted"]
    assert find_ablations([full]) == []


def test_ablate_command_runs_both_strategies_and_resumes(tmp_path):
    server = OllamaStandIn(reply=fenced(BROKEN), raw_reply="print(42)\n```")
    try:
        command = [
            sys.executable,
            "-m",
            "mathcodebench.cli",
            "ablate",
            "--model",
            "ollama/llama3.1:8b",
            "--base-url",
            server.url,
            "--chat-template",
            "llama3",
            "--limit",
            "3",
            "--attempts",
            "2",
            "--dir",
            str(tmp_path),
        ]
        out = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        assert "full vs tbt regeneration on 3 shared problems" in out.stdout
        assert "2 retries regenerated" not in out.stdout and "3 retries regenerated from a failure point" in out.stdout
        tbt = read(tmp_path / "ollama-llama3.1-8b-tbt.sqlite")
        second = [tried[1] for tried in tbt.attempts.values()]
        assert all(a.status == "answered" and a.stdout.strip() == "42" and a.regeneration for a in second)
        full = read(tmp_path / "ollama-llama3.1-8b-full.sqlite")
        assert all(len(tried) == 2 and tried[1].status == "runtime_error" for tried in full.attempts.values())
        requests = len(server.requests)
        again = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert again.returncode == 0 and len(server.requests) == requests  # finished runs are not redone
        wrong = subprocess.run(
            [*command[:-2], "--attempts", "3", "--dir", str(tmp_path)], capture_output=True, text=True, timeout=300
        )
        assert wrong.returncode == 2 and "--attempts 3 (stored: 2)" in wrong.stderr, wrong.stderr
    finally:
        server.stop()
