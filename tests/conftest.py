"""Shared fixtures. The scripted model stands in for an LLM where a test needs exact, repeatable responses;
the real model is exercised in test_embedded.py."""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest

from mathcodebench.models import Completion, GenerationParams, Message, ModelError

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


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
        return Completion(text=response, finish_reason="stop", prompt_tokens=10, completion_tokens=len(response) // 4,
                          latency_s=0.001, model=self.spec, params=params)

    def describe(self) -> dict[str, str]:
        return {"backend": "scripted"}


@pytest.fixture
def scripted() -> Callable[..., ScriptedModel]:
    return ScriptedModel


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "run.sqlite"


__all__ = ["ModelError", "ScriptedModel", "fenced"]
