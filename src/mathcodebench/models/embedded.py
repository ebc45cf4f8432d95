"""The offline models: Qwen2.5-Coder-0.5B-Instruct (the default) or -1.5B through llama-cpp-python, in process."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

from .base import Capabilities, Completion, GenerationParams, Message, ModelError
from .template import ChatTemplate
from .weights import QWEN_CODER_05B, QWEN_CODER_15B, ChunkedWeights, ensure_weights

SPECS: dict[str, ChunkedWeights] = {
    "embedded": QWEN_CODER_05B, "qwen2.5-coder-0.5b": QWEN_CODER_05B,
    "embedded-1.5b": QWEN_CODER_15B, "qwen2.5-coder-1.5b": QWEN_CODER_15B,
}
N_CTX = 4096


_PARAMS_LOCK = threading.Lock()


@contextmanager
def _no_weight_repacking() -> Iterator[None]:
    """Load with llama.cpp's extra CPU buffer types off (`use_extra_bufts`): on CPUs with AMX they repack the
    weights for AMX kernels that segfault on the first decode (llama.cpp #20824; measured here on a Xeon with
    amx_int8: exit 139 with repacking, fine without). `Llama()` takes no such argument, so its call to the
    default-parameters function is wrapped while the model loads, under a lock."""
    import llama_cpp.llama_cpp as lib

    with _PARAMS_LOCK:
        default = lib.llama_model_default_params

        def params() -> Any:
            chosen = default()
            chosen.use_extra_bufts = False
            return chosen

        lib.llama_model_default_params = params
        try:
            yield
        finally:
            lib.llama_model_default_params = default


class EmbeddedModel:
    """llama.cpp in this process. Loaded on first use; one generation at a time."""

    capabilities = Capabilities(prefix=True, token_exclusion=True, seed=True)

    def __init__(self, spec: str = "embedded", model_path: Path | None = None) -> None:
        self.spec = spec
        self._weights = SPECS[spec]
        self._path = model_path
        self._llm: Any = None
        self._template: ChatTemplate | None = None
        self._continued: str | None = None  # the prompt of the last complete(), while the cache may extend it
        self._lock = threading.Lock()  # llama.cpp contexts are not thread-safe

    default_concurrency = 1

    def _load(self) -> Any:
        if self._llm is None:
            # OpenMP threads spin while idle; on a busy 2-core machine that collapses generation ~20x.
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
            from llama_cpp import Llama

            self._path = self._path or ensure_weights(self._weights)
            cores = os.cpu_count() or 1
            with _no_weight_repacking():
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
            vocab = self._llm._model
            self._template = ChatTemplate(self._llm.metadata["tokenizer.chat_template"], "gguf",
                                          bos_token=vocab.token_get_text(self._llm.token_bos()),
                                          eos_token=vocab.token_get_text(self._llm.token_eos()))
        return self._llm

    def generate(self, messages: list[Message], params: GenerationParams) -> Completion:
        with self._lock:
            return self._generate(messages, params)

    def _generate(self, messages: list[Message], params: GenerationParams) -> Completion:
        llm = self._load()
        # Evaluate every conversation from scratch: reusing whatever prefix the cache holds from earlier calls
        # (another problem, the judge) changes the floating-point path and, now and then, a greedy token, so
        # results would depend on the order of calls. Measured here: two runs differing only in judge calls
        # between problems wrote different greedy programs for the same problem.
        llm.reset()
        self._continued = None
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

    def check(self) -> None:
        """The weights load and the model generates one token."""
        self.generate([Message(role="user", content="Reply with OK.")], GenerationParams(max_tokens=1))

    def render(self, messages: list[Message]) -> str:
        with self._lock:
            self._load()
            assert self._template is not None
            return self._template.render(messages)

    def count_tokens(self, text: str) -> int | None:
        with self._lock:
            return len(self._load().tokenize(text.encode(), add_bos=False, special=False))

    def complete(self, prompt: str, params: GenerationParams, avoid: str | None = None) -> Completion:
        """Continue raw text at token level. When `prompt` extends the previous continuation's prompt (a line
        being regenerated), the KV cache is rolled back to the longest prefix they share and only the rest is
        evaluated; otherwise the prompt is evaluated from scratch. With `avoid`, the first token is the most likely one
        that is not how `avoid` began, and sampling goes on from there."""
        with self._lock:
            llm = self._load()
            if self._continued is None or not prompt.startswith(self._continued):
                llm.reset()  # only a continuation of the previous continuation reuses the cache (see _generate)
            self._continued = prompt
            start = time.perf_counter()
            tokens = llm.tokenize(prompt.encode(), add_bos=True, special=True)
            if len(tokens) + 1 >= N_CTX:
                raise ModelError(f"prompt of {len(tokens)} tokens does not fit the context window ({N_CTX})")
            first: list[int] = []
            if avoid:
                first = [self._best_untried(llm, tokens, self._first_tokens(llm, tokens, prompt, avoid))]
            out = llm.create_completion(prompt=tokens + first, temperature=params.temperature, top_p=params.top_p,
                                        max_tokens=max(1, params.max_tokens - len(first)), seed=params.seed)
            choice = out["choices"][0]
            head = llm.detokenize(first, prev_tokens=tokens).decode("utf-8", errors="replace") if first else ""
            return Completion(text=head + choice["text"], finish_reason=choice.get("finish_reason") or "unknown",
                              prompt_tokens=len(tokens),
                              completion_tokens=out["usage"]["completion_tokens"] + len(first),
                              latency_s=time.perf_counter() - start, model=self.spec, params=params)

    @staticmethod
    def _first_tokens(llm: Any, tokens: list[int], prompt: str, avoid: str) -> set[int]:
        """The token(s) `avoid` starts with after `prompt`: alone, and as tokenized together with the prompt."""
        banned = set(llm.tokenize(avoid.encode(), add_bos=False, special=False)[:1])
        joint = llm.tokenize((prompt + avoid).encode(), add_bos=True, special=True)
        if joint[:len(tokens)] == tokens and len(joint) > len(tokens):
            banned.add(joint[len(tokens)])
        return banned

    @staticmethod
    def _best_untried(llm: Any, tokens: list[int], banned: set[int]) -> int:
        """Roll the KV cache back to the shared prefix, evaluate the rest, take the argmax outside `banned`."""
        import numpy as np

        shared = 0
        for cached, wanted in zip(llm.input_ids[: llm.n_tokens], tokens, strict=False):
            if cached != wanted:
                break
            shared += 1
        llm.n_tokens = min(shared, len(tokens) - 1)  # eval() drops the KV cache beyond this point
        llm.eval(tokens[llm.n_tokens:])
        logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)).copy()
        logits[list(banned)] = -np.inf
        return int(np.argmax(logits))

    def describe(self) -> dict[str, str]:
        return {
            "backend": "llama-cpp-python",
            "backend_version": metadata.version("llama-cpp-python"),
            "weights": self._weights.filename,
            "weights_sha256": self._weights.sha256,
        }
