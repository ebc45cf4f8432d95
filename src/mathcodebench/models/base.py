"""The one protocol every backend implements, and the records it returns."""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel


class Message(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class GenerationParams(BaseModel):
    """Decoding settings; explicit and stored with every attempt so a run can be reproduced."""

    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 512
    seed: int = 0


class Completion(BaseModel):
    """What one model call produced, with the accounting the report needs."""

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    model: str
    params: GenerationParams


class ModelError(Exception):
    """The backend failed to produce a completion (after whatever retries it does itself)."""


@runtime_checkable
class ChatModel(Protocol):
    """A chat model: a spec names it; `generate` answers a conversation."""

    spec: str

    def generate(self, messages: list[Message], params: GenerationParams) -> Completion: ...

    def describe(self) -> dict[str, str]:
        """Identity facts worth storing with a run (weights hash, backend version, ...)."""
        ...
