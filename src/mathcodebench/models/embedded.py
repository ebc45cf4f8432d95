"""The offline models: Qwen2.5-Coder-0.5B-Instruct (the default) or -1.5B through llama-cpp-python, in process."""

from __future__ import annotations

import threading
from importlib import metadata
from pathlib import Path

from .base import Capabilities, Completion, GenerationParams, Message, ModelError
from .engine import MAX_SLOTS, Engine, Request
from .prefix_cache import CHUNK
from .template import ChatTemplate
from .weights import QWEN_CODER_05B, QWEN_CODER_15B, ChunkedWeights, ensure_weights

SPECS: dict[str, ChunkedWeights] = {
    "embedded": QWEN_CODER_05B,
    "qwen2.5-coder-0.5b": QWEN_CODER_05B,
    "embedded-1.5b": QWEN_CODER_15B,
    "qwen2.5-coder-1.5b": QWEN_CODER_15B,
}
# Problems decoded together when --concurrency is not given. Batched responses are bit-identical to one at a time
# (tests/test_embedded_determinism.py, benchmarks/embedded_speed.py), so the fastest measured N is the default:
# 8 sequences gave 2.1x the tokens/s of 1 on 2 cores (README, "The embedded model: reproducible, fast, ...").
DEFAULT_SLOTS = MAX_SLOTS


class EmbeddedModel:
    """llama.cpp in this process, loaded on first use. Concurrent calls (one per problem in flight) are decoded
    together, up to `concurrency` at once, with results that do not depend on how many there are (engine.py)."""

    capabilities = Capabilities(prefix=True, token_exclusion=True, seed=True)

    def __init__(
        self,
        spec: str = "embedded",
        model_path: Path | None = None,
        concurrency: int | None = None,
        prefix_cache: bool = True,
    ) -> None:
        self.spec = spec
        self._prefix_cache = prefix_cache
        self._weights = SPECS[spec]
        self._path = model_path
        self.default_concurrency = concurrency or DEFAULT_SLOTS
        self._engine: Engine | None = None
        self._template: ChatTemplate | None = None
        self._lock = threading.Lock()  # one load

    def _load(self) -> Engine:
        with self._lock:
            if self._engine is None:
                self._path = self._path or ensure_weights(self._weights)
                engine = Engine(self._path, slots=self.default_concurrency, reuse=self._prefix_cache)
                metadata = engine.model.metadata()
                if "tokenizer.chat_template" not in metadata:
                    raise ModelError(f"{self._path} carries no chat template; refusing to guess one")
                vocab = engine.model
                self._template = ChatTemplate(
                    metadata["tokenizer.chat_template"],
                    "gguf",
                    bos_token=vocab.token_get_text(vocab.token_bos()),
                    eos_token=vocab.token_get_text(vocab.token_eos()),
                )
                self._engine = engine
            return self._engine

    @property
    def engine(self) -> Engine:
        """The loaded engine (its prefix cache and counters are what the benchmarks and tests look at)."""
        return self._load()

    def generate(self, messages: list[Message], params: GenerationParams) -> Completion:
        return self.complete(self.render(messages), params)

    def check(self) -> None:
        """The weights load and the model generates one token."""
        self.generate([Message(role="user", content="Reply with OK.")], GenerationParams(max_tokens=1))

    def render(self, messages: list[Message]) -> str:
        self._load()
        assert self._template is not None
        return self._template.render(messages)

    def count_tokens(self, text: str) -> int | None:
        return len(self._load().tokenize(text, bos=False, special=False))

    def complete(self, prompt: str, params: GenerationParams, avoid: str | None = None) -> Completion:
        """Continue raw text. Only what the prefix cache lacks of the prompt is evaluated (a retry shares the
        problem's statement, a regenerated line everything before it). With `avoid`, the first token is the most
        likely one that is not how `avoid` began, and sampling goes on from there."""
        engine = self._load()
        tokens = engine.tokenize(prompt, bos=True, special=True)
        banned = self._first_tokens(engine, tokens, prompt, avoid) if avoid else frozenset()
        result = engine.submit(Request(tokens, params, banned))
        return Completion(
            text=_before_stop(engine.detokenize(result.tokens), params.stop),
            finish_reason=result.finish_reason,
            prompt_tokens=len(tokens),
            completion_tokens=len(result.tokens),
            latency_s=result.seconds,
            model=self.spec,
            params=params,
        )

    @staticmethod
    def _first_tokens(engine: Engine, tokens: list[int], prompt: str, avoid: str) -> frozenset[int]:
        """The token(s) `avoid` starts with after `prompt`: alone, and as tokenized together with the prompt."""
        banned = set(engine.tokenize(avoid, bos=False, special=False)[:1])
        joint = engine.tokenize(prompt + avoid, bos=True, special=True)
        if joint[: len(tokens)] == tokens and len(joint) > len(tokens):
            banned.add(joint[len(tokens)])
        return frozenset(banned)

    def describe(self) -> dict[str, str]:
        return {
            "backend": "llama-cpp-python",
            "backend_version": metadata.version("llama-cpp-python"),
            "weights": self._weights.filename,
            "weights_sha256": self._weights.sha256,
            # How responses were computed: the evaluation grid and the sequences decoded per forward pass
            # (results do not depend on the latter; stored so that a reader can see it).
            "eval_chunk": str(CHUNK),
            "decode_slots": str(min(self.default_concurrency, MAX_SLOTS)),
        }


def _before_stop(text: str, stops: list[str]) -> str:
    """The text up to the first stop string, which is not part of it (as the OpenAI API returns it)."""
    cuts = [i for i in (text.find(s) for s in stops) if i >= 0]
    return text[: min(cuts)] if cuts else text
