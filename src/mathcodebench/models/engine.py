"""One llama.cpp context that decodes several requests at once, reproducibly.

Results must not depend on the order of calls, on what the context computed before, or on how many requests
share a decoding step. Three things make that hold (measured: tests/test_embedded_determinism.py,
benchmarks/embedded_speed.py):

- Prompts are evaluated in canonical chunks (prefix_cache.py), so a cached prefix state is bit-identical to
  evaluating it again; a call evaluates only the chunks its prefix cache does not hold.
- Each request decodes in its own sequence slot with its own KV buffer (`kv_unified=False`), so its attention
  sees exactly the cells it would see alone, and the weights are multiplied by kernels whose result for one row
  does not depend on how many rows the batch has: llama.cpp's repacked weights (`use_extra_bufts`) and its tiled
  K-quant matmul (`GGML_CPU_TILED_MM`, taken from 8 rows on) do depend on it, so both are off.
- Every request samples with its own seeded sampler chain.

A background thread owns the context: it admits waiting requests into free slots (evaluating their prompts),
then decodes one token for every active request in one forward pass, until each stops: at the end-of-generation
token, its token budget, or as soon as its text contains one of its stop strings (`GenerationParams.stop`).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import importlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .base import GenerationParams, ModelError
from .prefix_cache import CHUNK, Snapshots, chunks, reusable

N_CTX = 4096  # tokens per request (prompt and response)
MAX_SLOTS = 8  # sequences decoded together at most; more concurrent requests wait for a free slot
SNAPSHOT_BYTES = 256 << 20  # saved prefix states kept in memory
STOP_MARGIN = 8  # tokens looked back beyond a stop string's length in bytes
# llama-cpp-python's sampling defaults, kept so that sampled responses mean what they meant before.
TOP_K, MIN_P = 40, 0.05


def _llama() -> Any:
    """llama.cpp's C API, with the process environment it needs set before first use."""
    # OpenMP threads spin while idle; on a busy 2-core machine that collapses generation ~20x.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # The tiled K-quant matmul computes a row differently in batches of 8+ rows: off, for batch invariance.
    os.environ["GGML_CPU_TILED_MM"] = "0"
    from llama_cpp import _logger

    _logger.set_verbose(False)
    return importlib.import_module("llama_cpp.llama_cpp")


@dataclass(frozen=True)
class Request:
    tokens: list[int]
    params: GenerationParams
    banned_first: frozenset[int] = frozenset()  # the first token is the most likely one outside this set
    digest: bool = False  # hash the logits every token was chosen from (the proof of bitwise equality)


@dataclass(frozen=True)
class Result:
    tokens: list[int]  # generated, without the end-of-generation token
    finish_reason: str  # "stop" (end of generation or a stop string) or "length"
    reused: int  # prompt tokens taken from the prefix cache rather than evaluated
    seconds: float  # from submission to the last token, waiting for a slot included
    logits_sha256: str | None = None  # with Request.digest


@dataclass
class Stats:
    """What the engine did, for benchmarks and tests."""

    prompt_tokens: int = 0
    reused_tokens: int = 0
    generated_tokens: int = 0
    steps: int = 0  # forward passes while decoding
    rows: int = 0  # tokens decoded in those passes (rows / steps: the mean batch)
    widest: int = 0  # the most tokens decoded in one pass


@dataclass
class _Job:
    request: Request
    submitted: float
    done: threading.Event = field(default_factory=threading.Event)
    result: Result | None = None
    error: ModelError | None = None
    slot: int = -1
    sampler: Any = None
    generated: list[int] = field(default_factory=list)
    reused: int = 0
    digest: Any = None  # hashlib object, with Request.digest


class Engine:
    """A loaded GGUF model with `slots` sequences decoded together. `submit` is thread-safe and blocks.
    `reuse=False` evaluates every prompt from scratch (the reference the prefix cache is measured against)."""

    def __init__(self, path: Path, slots: int = 1, threads: int | None = None, reuse: bool = True) -> None:
        self.lib = lib = _llama()
        from llama_cpp import _internals

        params = lib.llama_model_default_params()
        params.use_extra_bufts = False  # no repacked weights: their kernels depend on the batch size
        self.model = _internals.LlamaModel(path_model=str(path), params=params, verbose=False)
        self.slots = max(1, min(slots, MAX_SLOTS))
        cores = threads or os.cpu_count() or 1
        cparams = lib.llama_context_default_params()
        cparams.n_ctx = N_CTX * self.slots
        cparams.n_batch = cparams.n_ubatch = max(CHUNK, self.slots)
        cparams.n_seq_max = self.slots
        cparams.kv_unified = False
        cparams.flash_attn_type = lib.LLAMA_FLASH_ATTN_TYPE_DISABLED
        cparams.n_threads = cparams.n_threads_batch = cores
        cparams.no_perf = True
        self._ctx = lib.llama_init_from_model(self.model.model, cparams)
        if not self._ctx:
            raise ModelError(f"llama.cpp could not create a context for {path}")
        self._memory = lib.llama_get_memory(self._ctx)
        self._batch = lib.llama_batch_init(cparams.n_batch, 0, 1)
        self.n_vocab = self.model.n_vocab()
        self.stats = Stats()
        self.reuse = reuse
        self.snapshots = Snapshots(SNAPSHOT_BYTES)
        self._evaluated: list[list[int]] = [[] for _ in range(self.slots)]  # prompt tokens each slot holds
        self._free = set(range(self.slots))
        self._pending: list[_Job] = []
        self._active: list[_Job] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._loop, name="mcb-llama", daemon=True).start()

    # -- the public side ------------------------------------------------------------------------------
    def submit(self, request: Request) -> Result:
        if len(request.tokens) + 1 >= N_CTX:
            raise ModelError(f"prompt of {len(request.tokens)} tokens does not fit the context window ({N_CTX})")
        if not request.tokens:
            raise ModelError("empty prompt")
        job = _Job(request, time.perf_counter())
        with self._cond:
            self._pending.append(job)
            self._cond.notify()
        job.done.wait()
        if job.error is not None:
            raise job.error
        assert job.result is not None
        return job.result

    def tokenize(self, text: str, bos: bool, special: bool) -> list[int]:
        """`bos`: begin with the model's BOS token where it wants one; `special`: parse special-token text."""
        tokens: list[int] = self.model.tokenize(text.encode(), add_bos=bos, special=special)
        return tokens

    def detokenize(self, tokens: list[int]) -> str:
        text: bytes = self.model.detokenize(tokens)
        return text.decode("utf-8", errors="ignore")

    # -- the decoding thread --------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._active:
                    self._cond.wait()
                admitted = []
                while self._pending and self._free:
                    job = self._pending.pop(0)
                    job.slot = max(self._free, key=lambda s: (reusable(self._evaluated[s], job.request.tokens), -s))
                    self._free.discard(job.slot)
                    admitted.append(job)
            for job in admitted:
                self._guarded([job], functools.partial(self._start, job))
            if self._active:
                self._guarded(list(self._active), self._step)

    def _guarded(self, jobs: list[_Job], work: Callable[[], None]) -> None:
        """Run `work`; a failure fails exactly `jobs` (the requests it served) and forgets what their slots held."""
        try:
            work()
        except Exception as exc:  # a llama.cpp failure must reach the callers, not kill the thread
            for job in jobs:
                self._evaluated[job.slot] = []
                self._finish(job, error=ModelError(f"llama.cpp: {exc}"))

    def _start(self, job: _Job) -> None:
        """Evaluate the prompt (what the prefix cache lacks of it) and pick the first token."""
        tokens, seq = job.request.tokens, job.slot
        start = self._restore(seq, tokens)
        for a, b in chunks(start, len(tokens)):
            self._decode([(tokens[i], i, seq, i == len(tokens) - 1) for i in range(a, b)])
        self._evaluated[seq] = list(tokens)
        job.reused = start
        self.stats.prompt_tokens += len(tokens)
        self.stats.reused_tokens += start
        job.sampler = self._sampler(job.request.params)
        if job.request.digest:
            job.digest = hashlib.sha256()
            self._hash_logits(job, -1)
        first = self._best_outside(job.request.banned_first) if job.request.banned_first else self._sample(job, -1)
        self._active.append(job)
        self._accept(job, first)

    def _restore(self, seq: int, tokens: list[int]) -> int:
        """Put the longest cached canonical prefix of `tokens` into slot `seq`; return its length."""
        lib, held = self.lib, self._evaluated[seq]
        if not self.reuse:
            lib.llama_memory_seq_rm(self._memory, seq, -1, -1)
            return 0
        own = reusable(held, tokens)
        whole = len(held) - len(held) % CHUNK
        if whole > own and not self.snapshots.covers(held[:whole]):
            lib.llama_memory_seq_rm(self._memory, seq, whole, -1)  # generated rows and a partial chunk go
            self.snapshots.add(held[:whole], self._state(seq))
        length, snapshot = self.snapshots.best(tokens)
        state = snapshot.state if snapshot is not None else b""
        # Another slot (even one still generating) may hold more of the prompt: its state, cut back, serves too.
        for other in range(self.slots):
            if other != seq and reusable(self._evaluated[other], tokens) > max(length, own):
                length, state = reusable(self._evaluated[other], tokens), self._state(other)
        if length > own:
            lib.llama_memory_seq_rm(self._memory, seq, -1, -1)
            data = (ctypes.c_uint8 * len(state)).from_buffer_copy(state)
            if lib.llama_state_seq_set_data(self._ctx, data, len(state), seq) == 0:
                lib.llama_memory_seq_rm(self._memory, seq, -1, -1)
                length = 0  # evaluated from scratch instead: the same result, only slower
            own = length
        lib.llama_memory_seq_rm(self._memory, seq, own, -1)
        return own

    def _state(self, seq: int) -> bytes:
        size = self.lib.llama_state_seq_get_size(self._ctx, seq)
        buffer = (ctypes.c_uint8 * size)()
        written = self.lib.llama_state_seq_get_data(self._ctx, buffer, size, seq)
        return bytes(buffer)[:written]

    def _step(self) -> None:
        """One forward pass: the latest token of every active request, each at its next position."""
        active = list(self._active)
        self._decode(
            [(job.generated[-1], len(job.request.tokens) + len(job.generated) - 1, job.slot, True) for job in active]
        )
        self.stats.steps += 1
        self.stats.rows += len(active)
        self.stats.widest = max(self.stats.widest, len(active))
        for row, job in enumerate(active):
            if job.digest is not None:
                self._hash_logits(job, row)
            self._accept(job, self._sample(job, row))

    def _accept(self, job: _Job, token: int) -> None:
        """Take a sampled token, or finish the request on end of generation, its token budget or the window."""
        if self.lib.llama_vocab_is_eog(self.model.vocab, token):
            self._finish(job, "stop")
            return
        job.generated.append(token)
        self.stats.generated_tokens += 1
        if self._stopped(job):
            self._finish(job, "stop")
        elif (
            len(job.generated) >= max(1, job.request.params.max_tokens)
            or len(job.request.tokens) + len(job.generated) >= N_CTX
        ):
            self._finish(job, "length")

    def _stopped(self, job: _Job) -> bool:
        """Whether the latest token completed a stop string. Checked every token, so a stop string can only have
        completed within the latest token; the tail is long enough to hold it (a token is at least one byte, but for
        special tokens, hence the margin), and bytes are searched so a split UTF-8 character cannot hide one."""
        stops = [s.encode() for s in job.request.params.stop]
        if not stops:
            return False
        tail: bytes = self.model.detokenize(job.generated[-(max(map(len, stops)) + STOP_MARGIN) :])
        return any(s in tail for s in stops)

    def _finish(self, job: _Job, reason: str = "", error: ModelError | None = None) -> None:
        if job.sampler is not None:
            self.lib.llama_sampler_free(job.sampler)
            job.sampler = None
        if job in self._active:
            self._active.remove(job)
        if error is None:
            job.result = Result(
                job.generated,
                reason,
                job.reused,
                time.perf_counter() - job.submitted,
                job.digest.hexdigest() if job.digest is not None else None,
            )
        job.error = error
        with self._cond:
            self._free.add(job.slot)
        job.done.set()

    def _decode(self, rows: list[tuple[int, int, int, bool]]) -> None:
        """llama_decode one batch of (token, position, sequence, wants logits) rows."""
        batch = self._batch
        batch.n_tokens = len(rows)
        for i, (token, pos, seq, logits) in enumerate(rows):
            batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = token, pos, 1, logits
            batch.seq_id[i][0] = seq
        status = self.lib.llama_decode(self._ctx, batch)
        if status != 0:
            raise RuntimeError(f"llama_decode returned {status}")

    def _sampler(self, params: GenerationParams) -> Any:
        lib = self.lib
        chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
        if params.temperature <= 0:
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_greedy())
            return chain
        for sampler in (
            lib.llama_sampler_init_top_k(TOP_K),
            lib.llama_sampler_init_top_p(params.top_p, 1),
            lib.llama_sampler_init_min_p(MIN_P, 1),
            lib.llama_sampler_init_temp(params.temperature),
            lib.llama_sampler_init_dist(params.seed),
        ):
            lib.llama_sampler_chain_add(chain, sampler)
        return chain

    def _sample(self, job: _Job, row: int) -> int:
        token: int = self.lib.llama_sampler_sample(job.sampler, self._ctx, row)
        return token

    def _logits(self, row: int) -> Any:
        import numpy as np

        return np.ctypeslib.as_array(self.lib.llama_get_logits_ith(self._ctx, row), shape=(self.n_vocab,))

    def _hash_logits(self, job: _Job, row: int) -> None:
        job.digest.update(self._logits(row).tobytes())

    def _best_outside(self, banned: frozenset[int]) -> int:
        """The most likely next token (after the prompt just evaluated) that is not in `banned`."""
        import numpy as np

        logits = self._logits(-1).copy()
        logits[list(banned)] = -np.inf
        return int(np.argmax(logits))
