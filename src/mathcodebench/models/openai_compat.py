"""OpenAI's chat-completions protocol: OpenAI, Mistral, and any compatible server (vLLM, llama.cpp server,
LM Studio, OpenRouter). Raw-prefix continuation through /v1/completions where the server offers it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from .base import Capabilities, Completion, FatalModelError, GenerationParams, Message, ModelError, TokenLogprob
from .http import HTTPBackend
from .template import ChatTemplate, ServerTemplate

PROVIDERS = {
    # prefix: (default base URL, base URL variable, key variable, key required, capabilities)
    "openai": (
        "https://api.openai.com/v1",
        "OPENAI_BASE_URL",
        "OPENAI_API_KEY",
        True,
        Capabilities(logprobs=True, seed=True),
    ),
    "mistral": ("https://api.mistral.ai/v1", "MISTRAL_BASE_URL", "MISTRAL_API_KEY", True, Capabilities(seed=True)),
    "openai-compatible": (
        None,
        "OPENAI_BASE_URL",
        "OPENAI_API_KEY",
        False,
        Capabilities(prefix=True, logprobs=True, seed=True),
    ),
}


# Token-count endpoints of common servers: llama-cpp-python, then vLLM and llama.cpp's own server.
_TOKENIZERS = (("/extras/tokenize/count", "input"), ("/tokenize", "prompt"), ("/tokenize", "content"))


class OpenAICompatibleModel(ServerTemplate):
    def __init__(
        self,
        spec: str,
        base_url: str | Sequence[str] | None = None,
        concurrency: int = 8,
        timeout_s: float = 120.0,
        max_retries: int = 6,
        backoff_s: float = 1.0,
        chat_template: ChatTemplate | None = None,
    ) -> None:
        provider, _, model = spec.partition("/")
        default_url, url_var, key_var, key_required, capabilities = PROVIDERS[provider]
        url = base_url or os.environ.get(url_var) or default_url
        if not url:
            raise FatalModelError(f"{spec}: no server address; pass --base-url or set {url_var}")
        key = os.environ.get(key_var)
        if key_required and not key:
            raise FatalModelError(f"{spec}: set {key_var} to use this provider")
        self.spec = spec
        self.model = model
        self.capabilities = capabilities
        self.template = chat_template
        self.http = HTTPBackend(spec, url, key, concurrency, timeout_s, max_retries, backoff_s)
        self._tokenizer: tuple[str, str] | None = None

    def _sampling(self, params: GenerationParams) -> dict[str, Any]:
        return {
            "model": self.model,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_tokens": params.max_tokens,
            "seed": params.seed,
            **({"stop": params.stop} if params.stop else {}),
        }

    def generate(self, messages: list[Message], params: GenerationParams) -> Completion:
        body, latency, retries = self.http.post_json(
            "/chat/completions", {**self._sampling(params), "messages": [m.model_dump() for m in messages]}
        )
        try:
            choice = body["choices"][0]
            text = choice["message"].get("content") or ""
        except (KeyError, IndexError, TypeError, AttributeError):
            raise ModelError(f"{self.spec}: unexpected reply shape: {str(body)[:200]}") from None
        return self._completion(body, choice, text, latency, retries, params)

    def check(self) -> None:
        """One one-token chat request, retried once: a dead server, a bad key or an unknown model in seconds."""
        self.http.post_json(
            "/chat/completions",
            {
                **self._sampling(GenerationParams(max_tokens=1)),
                "messages": [{"role": "user", "content": "Reply with OK."}],
            },
            retries=1,
        )

    def complete(
        self, prompt: str, params: GenerationParams, avoid: str | None = None, logprobs: int = 0
    ) -> Completion:
        """Continue raw text (no chat template) through /v1/completions: the basis of prefix continuation.
        `avoid` is not enforced (logit_bias would apply to every position, not just the first)."""
        payload = {**self._sampling(params), "prompt": prompt}
        if logprobs:
            payload["logprobs"] = logprobs
        body, latency, retries = self.http.post_json("/completions", payload)
        try:
            choice = body["choices"][0]
            text = choice["text"]
        except (KeyError, IndexError, TypeError):
            raise ModelError(f"{self.spec}: unexpected reply shape: {str(body)[:200]}") from None
        completion = self._completion(body, choice, text, latency, retries, params)
        return completion.model_copy(update={"logprobs": _logprobs(choice.get("logprobs"))})

    def _completion(
        self,
        body: dict[str, Any],
        choice: dict[str, Any],
        text: str,
        latency: float,
        retries: int,
        params: GenerationParams,
    ) -> Completion:
        usage = body.get("usage") or {}
        return Completion(
            text=text,
            finish_reason=choice.get("finish_reason") or "unknown",
            prompt_tokens=usage.get("prompt_tokens", 0),
            completion_tokens=usage.get("completion_tokens", 0),
            latency_s=latency,
            model=self.spec,
            params=params,
            retries=retries,
        )

    def count_tokens(self, text: str) -> int | None:
        """Through the server's tokenize endpoint, where it has one (not part of the OpenAI protocol)."""
        for path, field in [self._tokenizer] if self._tokenizer else _TOKENIZERS:
            body = self.http.probe_json(path, {"model": self.model, field: text}, root_suffix="/v1")
            count = (body or {}).get("count", len((body or {}).get("tokens") or []) or None)
            if count:
                self._tokenizer = (path, field)
                return int(count)
        return None

    @property
    def default_concurrency(self) -> int:
        return self.http.concurrency

    def describe(self) -> dict[str, str]:
        return {"backend": self.spec.partition("/")[0], "base_url": self.http.base_url, "model": self.model}


def _logprobs(raw: dict[str, Any] | None) -> list[TokenLogprob] | None:
    """The legacy completions shape: parallel lists of tokens, token_logprobs and top_logprobs."""
    if not raw or not raw.get("tokens"):
        return None
    tops = raw.get("top_logprobs") or [{}] * len(raw["tokens"])
    return [
        TokenLogprob(token=t, logprob=lp if lp is not None else 0.0, top=top or {})
        for t, lp, top in zip(raw["tokens"], raw.get("token_logprobs") or [], tops, strict=False)
    ]
