"""The offline default: Qwen2.5-Coder-0.5B-Instruct through llama-cpp-python, in process."""

from __future__ import annotations

import os
import threading
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from .base import Capabilities, Completion, GenerationParams, Message, ModelError
from .weights import QWEN_CODER_05B, ensure_weights

SPECS = ("embedded", "qwen2.5-coder-0.5b")
N_CTX = 4096


class EmbeddedModel:
    """llama.cpp in this process. Loaded on first use; one generation at a time."""

    capabilities = Capabilities(seed=True)

    def __init__(self, spec: str = "embedded", model_path: Path | None = None) -> None:
        self.spec = spec
        self._path = model_path
        self._llm: Any = None
        self._lock = threading.Lock()  # llama.cpp contexts are not thread-safe

    default_concurrency = 1
    def _load(self) -> Any:
        if self._llm is None:
            # OpenMP threads spin while idle; on a busy 2-core machine that collapses generation ~20x.
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
            from llama_cpp import Llama

            self._path = self._path or ensure_weights()
            cores = os.cpu_count() or 1
            self._llm = Llama(
                model_path=str(self._path),
                n_ctx=N_CTX,
                # With PASSIVE waiting, all cores for decode stay fast even while sandboxed programs run
                # (spinning OpenMP threads are what collapses generation on a busy machine).
                n_threads=cores,
                n_threads_batch=cores,
                seed=0,
                verbose=False,
            )
            if "tokenizer.chat_template" not in self._llm.metadata:
                raise ModelError(f"{self._path} carries no chat template; refusing to guess one")
        return self._llm

    def generate(self, messages: list[Message], params: GenerationParams) -> Completion:
        with self._lock:
            return self._generate(messages, params)

    def _generate(self, messages: list[Message], params: GenerationParams) -> Completion:
        llm = self._load()
        start = time.perf_counter()
        try:
            out = llm.create_chat_completion(
                messages=[m.model_dump() for m in messages],
                temperature=params.temperature,
                top_p=params.top_p,
                max_tokens=params.max_tokens,
                seed=params.seed,
            )
        except ValueError as exc:  # e.g. the conversation no longer fits the context window
            raise ModelError(str(exc)) from exc
        choice = out["choices"][0]
        return Completion(
            text=choice["message"]["content"] or "",
            finish_reason=choice.get("finish_reason") or "unknown",
            prompt_tokens=out["usage"]["prompt_tokens"],
            completion_tokens=out["usage"]["completion_tokens"],
            latency_s=time.perf_counter() - start,
            model=self.spec,
            params=params,
        )

    def describe(self) -> dict[str, str]:
        return {
            "backend": "llama-cpp-python",
            "backend_version": metadata.version("llama-cpp-python"),
            "weights": QWEN_CODER_05B.filename,
            "weights_sha256": QWEN_CODER_05B.sha256,
        }
