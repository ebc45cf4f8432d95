"""Ollama's native API: /api/chat and /api/generate (with `raw` for prefix continuation), streamed as
NDJSON, with Ollama's own token counts and durations."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from .base import Capabilities, Completion, FatalModelError, GenerationParams, Message, ModelError
from .http import HTTPBackend
from .template import ChatTemplate, ServerTemplate

DEFAULT_HOST = "http://localhost:11434"


class OllamaModel(ServerTemplate):
    capabilities = Capabilities(prefix=True, seed=True)

    def __init__(
        self,
        spec: str,
        base_url: str | Sequence[str] | None = None,
        concurrency: int = 4,
        timeout_s: float = 600.0,
        max_retries: int = 6,
        backoff_s: float = 1.0,
        chat_template: ChatTemplate | None = None,
    ) -> None:
        self.spec = spec
        self.template = chat_template
        self.model = spec.partition("/")[2]
        hosts = base_url or os.environ.get("OLLAMA_HOST") or DEFAULT_HOST
        urls = [host if "://" in host else f"http://{host}" for host in ([hosts] if isinstance(hosts, str) else hosts)]
        self.http = HTTPBackend(spec, urls, None, concurrency, timeout_s, max_retries, backoff_s)

    @staticmethod
    def _options(params: GenerationParams) -> dict[str, Any]:
        return {
            "temperature": params.temperature,
            "top_p": params.top_p,
            "num_predict": params.max_tokens,
            "seed": params.seed,
            **({"stop": params.stop} if params.stop else {}),
        }

    def generate(self, messages: list[Message], params: GenerationParams) -> Completion:
        payload = {
            "model": self.model,
            "messages": [m.model_dump() for m in messages],
            "stream": True,
            "options": self._options(params),
        }
        objects, latency, ttft, retries = self.http.post_ndjson("/api/chat", payload)
        text = "".join((o.get("message") or {}).get("content", "") for o in objects)
        return self._completion(objects, text, latency, ttft, retries, params)

    def check(self) -> None:
        """The model is pulled on the server (Ollama answers 404 per request otherwise), and it generates."""
        installed = self.installed()
        wanted = self.model if ":" in self.model else f"{self.model}:latest"
        if wanted not in installed and self.model not in installed:
            raise FatalModelError(
                f"{self.spec}: model {self.model!r} is not on the Ollama server at "
                f"{self.http.base_url} (it has: {', '.join(installed) or 'none'}); "
                f"run 'ollama pull {self.model}' there"
            )
        self.http.post_ndjson(
            "/api/chat",
            {
                "model": self.model,
                "stream": True,
                "options": {"num_predict": 1},
                "messages": [{"role": "user", "content": "Reply with OK."}],
            },
            retries=1,
        )

    def complete(self, prompt: str, params: GenerationParams, avoid: str | None = None) -> Completion:
        """Continue raw text: /api/generate with raw=true bypasses the chat template (`avoid` is not enforced:
        Ollama has no per-position token ban)."""
        payload = {"model": self.model, "prompt": prompt, "raw": True, "stream": True, "options": self._options(params)}
        objects, latency, ttft, retries = self.http.post_ndjson("/api/generate", payload)
        text = "".join(o.get("response", "") for o in objects)
        return self._completion(objects, text, latency, ttft, retries, params)

    def _completion(
        self,
        objects: list[dict[str, Any]],
        text: str,
        latency: float,
        ttft: float | None,
        retries: int,
        params: GenerationParams,
    ) -> Completion:
        last = objects[-1]
        if "error" in last:
            raise ModelError(f"{self.spec}: {last['error']}")
        return Completion(
            text=text,
            finish_reason=last.get("done_reason") or "stop",
            prompt_tokens=last.get("prompt_eval_count", 0),
            completion_tokens=last.get("eval_count", 0),
            latency_s=latency,
            ttft_s=ttft,
            model=self.spec,
            params=params,
            retries=retries,
        )

    def count_tokens(self, text: str) -> int | None:
        return None  # Ollama has no tokenize endpoint

    @property
    def default_concurrency(self) -> int:
        return self.http.concurrency

    def describe(self) -> dict[str, str]:
        return {"backend": "ollama", "base_url": self.http.base_url, "model": self.model}

    def installed(self) -> list[str]:
        return [m.get("name", "") for m in self.http.get_json("/api/tags").get("models", [])]
