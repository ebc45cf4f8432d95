"""Shared fixtures. The scripted model stands in for an LLM where a test needs exact, repeatable responses;
the real model is exercised in test_embedded.py."""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from mathcodebench import api
from mathcodebench.models import ChatModel, Completion, GenerationParams, Message, ModelError
from mathcodebench.settings import Settings
from mathcodebench.store import RunData, RunStore

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
V = TypeVar("V")


def fenced(code: str) -> str:
    return f"Here is the program.\n```python\n{code.strip()}\n```\n"


class ScriptedModel:
    """A deterministic ChatModel: each problem (recognised by its statement) gets its scripted responses in order.

    A response that is an exception instance is raised instead (to simulate backend failures or Ctrl-C).
    """

    spec = "scripted"

    def __init__(self, script: dict[str, list[str | BaseException]], default: str | None = None) -> None:
        self.script = script
        self.default = default
        self.calls: defaultdict[str, int] = defaultdict(int)
        self.seen: list[list[Message]] = []
        self._lock = threading.Lock()  # the run scheduler may call from several threads

    def _key(self, messages: list[Message]) -> str:
        statement = next(m.content for m in messages if m.role == "user")
        for key in self.script:
            if key in statement:
                return key
        if self.default is None:
            raise AssertionError(f"no script for {statement[:60]!r}")
        return "__default__"

    def generate(self, messages: list[Message], params: GenerationParams) -> Completion:
        key = self._key(messages)
        responses = self.script.get(key, [self.default])
        with self._lock:
            self.seen.append(messages)
            index = self.calls[key]
            self.calls[key] += 1
        response = responses[min(index, len(responses) - 1)]
        if isinstance(response, BaseException):
            raise response
        assert isinstance(response, str)
        return scripted_completion(response, self.spec, params)

    def check(self) -> None:
        """Preflight: a scripted model is always there."""

    def describe(self) -> dict[str, str]:
        return {"backend": "scripted"}


class ForcedFirst:
    """A real model whose whole-response generations are replaced by a fixed (failing) response, so that
    token-by-token regeneration of a known failure can be observed on the real model's continuations."""

    def __init__(self, model: object, response: str) -> None:
        self._model, self._response = model, response

    def __getattr__(self, name: str) -> object:
        return getattr(self._model, name)

    def generate(self, messages: list[Message], params: GenerationParams) -> Completion:
        return Completion(
            text=self._response,
            finish_reason="stop",
            prompt_tokens=1,
            completion_tokens=1,
            latency_s=0.0,
            model=self._model.spec,
            params=params,
        )  # type: ignore[attr-defined]


BROKEN = "a = 6\nb = 0\nprint(a * 7 // b)"  # fails on line 3 with ZeroDivisionError


def check_regenerated_from_failure(attempts: list) -> None:
    """Attempt 2 kept attempt 1's response up to the failing line, byte for byte, and regenerated the rest."""
    first, second = attempts[0], attempts[1]
    offset = first.response.index("print(a * 7 // b)")
    assert second.response[:offset] == first.response[:offset]
    assert second.regeneration and second.regeneration[0] == offset
    assert second.tokens_reused and second.tokens_reused > 0
    assert second.completion_tokens > 0 and second.gen_s > 0


def single(by_unit: dict[tuple[str, int], V]) -> dict[str, V]:
    """A one-sample run's attempts or grades by problem id (a run's data is keyed by (problem, sample))."""
    assert all(sample == 1 for _, sample in by_unit), "a run with repeated samples"
    return {pid: value for (pid, _), value in by_unit.items()}


def read(db: Path) -> RunData:
    return RunStore.snapshot(db)


def stored_attempts(db: Path) -> int:
    """Attempts in a run database that another process may be writing (0 while it does not exist yet)."""
    if not db.exists():  # connecting would create the file, and the run must find no file there
        return 0
    try:
        return int(
            sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
            .execute("SELECT count(*) FROM attempts")
            .fetchone()[0]
        )
    except sqlite3.Error:
        return 0


def run_to_end(
    settings: Settings,
    db: Path,
    model: ChatModel,
    judge: ChatModel | None = None,
    on_problem: api.OnProblem | None = None,
) -> RunData:
    """Start a run with the given (scripted) models, execute it, close it, and read back what it stored."""
    with api.start(settings, db, model=model, judge=judge, check=False) as run:
        run.execute(on_problem)
    return read(db)


@pytest.fixture
def scripted() -> Callable[..., ScriptedModel]:
    return ScriptedModel


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "run.sqlite"


__all__ = [
    "BROKEN",
    "ForcedFirst",
    "ModelError",
    "ScriptedModel",
    "check_regenerated_from_failure",
    "fenced",
    "read",
    "run_to_end",
    "single",
    "stored_attempts",
]


def cli_run(url: str, *args: str) -> list[str]:
    """`mathcodebench run` in a new process against a (stand-in) Ollama server at `url`."""
    return [sys.executable, "-m", "mathcodebench.cli", "run", "--model", "ollama/llama3.1:8b", "--base-url", url, *args]


def scripted_completion(text: str, model: str, params: GenerationParams) -> Completion:
    """What a scripted model returns: `text`, ended normally, with token counts of the right order."""
    return Completion(
        text=text,
        finish_reason="stop",
        prompt_tokens=10,
        completion_tokens=len(text) // 4,
        latency_s=0.001,
        model=model,
        params=params,
    )
