"""The one protocol every backend implements, and the records it returns."""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel

from ..errors import UserError


class Message(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class GenerationParams(BaseModel):
    """Decoding settings; explicit and stored with every attempt so a run can be reproduced."""

    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 512
    seed: int = 0
    stop: list[str] = []  # generation ends before any of these (tool-integrated reasoning stops at a code fence)


class TokenLogprob(BaseModel):
    token: str
    logprob: float
    top: dict[str, float] = {}


class Completion(BaseModel):
    """What one model call produced, with the accounting the report needs."""

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    model: str
    params: GenerationParams
    ttft_s: float | None = None  # time to first token, when the response was streamed
    logprobs: list[TokenLogprob] | None = None
    retries: int = 0  # transient failures retried before this completion


class Capabilities(BaseModel):
    """What a backend can do, so a strategy that needs more can say so before a run starts."""

    chat: bool = True
    prefix: bool = False  # raw-prompt continuation (token-by-token regeneration needs it)
    token_exclusion: bool = False  # can forbid a given first token when continuing (true token-level retries)
    logprobs: bool = False
    seed: bool = False


class ModelError(Exception):
    """The backend failed to produce a completion (after whatever retries it does itself)."""


class FatalModelError(UserError):
    """A failure no retry can fix (bad key, unknown model or endpoint): the run stops with one line."""


@runtime_checkable
class ChatModel(Protocol):
    """A chat model: a spec names it; `generate` answers a conversation."""

    spec: str
    capabilities: Capabilities

    def generate(self, messages: list[Message], params: GenerationParams) -> Completion: ...

    def check(self) -> None:
        """Preflight, in seconds: reachable, authorised, the model exists, one tiny generation. Raises
        FatalModelError (no retry can help) or ModelError (unreachable, failing)."""
        ...

    def describe(self) -> dict[str, str]:
        """Identity facts worth storing with a run (weights hash, backend version, ...)."""
        ...


@runtime_checkable
class PrefixModel(ChatModel, Protocol):
    """A model that can continue an assistant response from a prefix (token-by-token regeneration)."""

    def render(self, messages: list[Message]) -> str:
        """The conversation as raw text, up to where the assistant's reply begins (its chat template)."""
        ...

    def complete(self, prompt: str, params: GenerationParams, avoid: str | None = None) -> Completion:
        """Continue raw text. `avoid`: text the continuation must not begin with the same token as (backends
        with `token_exclusion` forbid that first token; others ignore it and rely on a fresh seed)."""
        ...

    def count_tokens(self, text: str) -> int | None:
        """Tokens in `text` (None where the backend cannot tell)."""
        ...
