"""Model spec strings -> backends. Adding a backend is adding one file and one entry here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import UserError
from . import embedded
from .base import ChatModel
from .ollama import OllamaModel
from .openai_compat import PROVIDERS, OpenAICompatibleModel
from .template import ChatTemplate

DEFAULT_MODEL = "embedded"
BACKENDS = {
    "embedded": "Qwen2.5-Coder-0.5B-Instruct in process via llama.cpp (offline; alias qwen2.5-coder-0.5b)",
    "embedded-1.5b": "Qwen2.5-Coder-1.5B-Instruct, the same way (alias qwen2.5-coder-1.5b; 1.1 GB, installed on "
    "first use or by 'mathcodebench setup --model embedded-1.5b')",
    "openai/MODEL": "OpenAI chat completions (OPENAI_API_KEY, OPENAI_BASE_URL)",
    "mistral/MODEL": "Mistral API (MISTRAL_API_KEY)",
    "openai-compatible/MODEL": "any OpenAI-compatible server: vLLM, llama.cpp server, LM Studio, OpenRouter "
    "(--base-url or OPENAI_BASE_URL; OPENAI_API_KEY if the server needs one)",
    "ollama/MODEL": "Ollama's native API (OLLAMA_HOST, default http://localhost:11434)",
}


def create_model(
    spec: str,
    base_url: str | Sequence[str] | None = None,
    max_retries: int = 6,
    concurrency: int | None = None,
    chat_template: str | None = None,
    timeout_s: float | None = None,
) -> ChatModel:
    """`base_url`: one server address or several (requests spread over them, a failing one taken out for a
    while: endpoints.py). `concurrency` bounds an HTTP backend's requests in flight and `timeout_s` each
    request's duration (default: the backend's own); `chat_template` (a built-in name or a Jinja file) lets a
    server model continue raw text."""
    if spec in embedded.SPECS:
        return embedded.EmbeddedModel(spec, concurrency=concurrency)  # sequences decoded together
    provider, sep, name = spec.partition("/")
    options: dict[str, Any] = {  # unset ones keep the backend's own default
        "max_retries": max_retries,
        **({"concurrency": concurrency} if concurrency else {}),
        **({"timeout_s": timeout_s} if timeout_s else {}),
        "chat_template": ChatTemplate.named(chat_template) if chat_template else None,
    }
    if sep and name:
        if provider in PROVIDERS:
            return OpenAICompatibleModel(spec, base_url, **options)
        if provider == "ollama":
            return OllamaModel(spec, base_url, **options)
    raise UserError(f"unknown model spec {spec!r} (available: {', '.join(BACKENDS)})")
