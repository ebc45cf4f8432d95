"""The embedded model's speed, measured side by side in one run of this script (the machine is shared, so every
number comes with the load average at the time it was taken):

1. the decode limit: the weights read per generated token against this machine's measured memory bandwidth;
2. tokens/s inside a run (api.start + Run.execute: sandbox, grading, store) against raw llama-cpp-python
   decoding the same prompts from a warm cache, in alternating rounds; target >= 0.95x;
3. raw llama-cpp-python under llama.cpp's knobs (threads, batch size, flash attention, KV cache type, and the
   two kernels the embedded engine turns off for batch invariance), each in a fresh process;
4. several problems at once: aggregate tokens/s at N = 1, 2, 4, 8 sequences per forward pass, and whether
   every response (tokens and the logits they were chosen from) is bit-identical to N = 1;
5. the judge: the cached rubric prefix against evaluating every judge prompt from scratch.

    python benchmarks/embedded_speed.py [--problems 8] [--rounds 3] [--max-tokens 256] [--model embedded]

The bundled sample has 41 problems: problems x rounds must not exceed it.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np

from mathcodebench import api
from mathcodebench.data import Problem
from mathcodebench.grading import LLMJudge
from mathcodebench.models import GenerationParams
from mathcodebench.models.embedded import SPECS, EmbeddedModel
from mathcodebench.models.engine import Engine, Request
from mathcodebench.models.weights import ensure_weights
from mathcodebench.settings import Settings
from mathcodebench.solve.prompts import first_messages
from mathcodebench.store import RunStore

CORES = os.cpu_count() or 1


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


# -- 1. the decode limit ------------------------------------------------------------------------------------
def _read(fh: BinaryIO, fmt: str) -> Any:
    return struct.unpack("<" + fmt, fh.read(struct.calcsize("<" + fmt)))[0]


def _string(fh: BinaryIO) -> str:
    return str(fh.read(_read(fh, "Q")).decode())


_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}


def _skip_value(fh: BinaryIO, kind: int) -> Any:
    if kind == 8:
        return _string(fh)
    if kind == 9:
        inner, count = _read(fh, "I"), _read(fh, "Q")
        return [_skip_value(fh, inner) for _ in range(count)]
    return _read(fh, _SCALARS[kind])


def tensor_bytes(path: Path) -> dict[str, int]:
    """Each tensor's size in the GGUF file, from the offsets of its tensor table."""
    with path.open("rb") as fh:
        if fh.read(4) != b"GGUF":
            raise SystemExit(f"{path} is not a GGUF file")
        _read(fh, "I")
        n_tensors, n_kv = _read(fh, "Q"), _read(fh, "Q")
        alignment = 32
        for _ in range(n_kv):
            key, kind = _string(fh), _read(fh, "I")
            value = _skip_value(fh, kind)
            if key == "general.alignment":
                alignment = int(value)
        offsets = []
        for _ in range(n_tensors):
            name = _string(fh)
            dims = _read(fh, "I")
            fh.read(8 * dims)
            _read(fh, "I")
            offsets.append((_read(fh, "Q"), name))
        start = -(-fh.tell() // alignment) * alignment
    offsets.sort()
    ends = [offset for offset, _ in offsets[1:]] + [path.stat().st_size - start]
    return {name: end - offset for (offset, name), end in zip(offsets, ends, strict=True)}


def bytes_per_token(path: Path) -> tuple[int, int]:
    """(bytes read per decoded token, all tensor bytes): every weight once, except that the token embedding is
    only gathered (one row) unless it is also the output matrix (tied embeddings, as in Qwen2.5 0.5B/1.5B)."""
    sizes = tensor_bytes(path)
    total = sum(sizes.values())
    if "output.weight" in sizes:
        return total - sizes.get("token_embd.weight", 0), total
    return total, total


def bandwidth(threads: int, gib: float = 1.0, repeats: int = 5) -> float:
    """Read bandwidth in GB/s: `threads` threads each summing its share of a `gib` GiB array (best of `repeats`)."""
    data = np.ones(int(gib * (1 << 30)) // 4, dtype=np.float32)
    parts = np.array_split(data, threads)
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        workers = [threading.Thread(target=np.add.reduce, args=(part,)) for part in parts]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        best = max(best, data.nbytes / (time.perf_counter() - start) / 1e9)
    return best


# -- raw llama-cpp-python, in its own process (its own environment and kernels) -----------------------------
@contextmanager
def _model_params(repack: bool) -> Any:
    """`Llama()` takes no `use_extra_bufts`: wrap its default-parameters call while it loads."""
    import llama_cpp.llama_cpp as lib

    default = lib.llama_model_default_params

    def params() -> Any:
        chosen = default()
        chosen.use_extra_bufts = repack
        return chosen

    lib.llama_model_default_params = params
    try:
        yield
    finally:
        lib.llama_model_default_params = default


def _raw_worker(conn: Any, path: str, config: dict[str, Any]) -> None:
    """Serve ("chat", messages, max_tokens) -> (tokens, seconds) and ("probe", prompt, n) -> llama.cpp's own
    prompt and decode counters, on one Llama kept warm between requests."""
    os.environ.update(config.get("env", {}))
    import llama_cpp.llama_cpp as lib
    from llama_cpp import Llama

    with _model_params(config.get("repack", True)):
        llm = Llama(
            model_path=path,
            n_ctx=4096,
            n_threads=config.get("threads", CORES),
            n_threads_batch=config.get("threads_batch", CORES),
            n_batch=config.get("n_batch", 512),
            flash_attn=config.get("flash_attn", False),
            type_k=config.get("type_k"),
            type_v=config.get("type_v"),
            seed=0,
            verbose=False,
        )
    while True:
        message = conn.recv()
        if message is None:
            return
        kind, payload, n = message
        if kind == "chat":
            start = time.perf_counter()
            out = llm.create_chat_completion(messages=payload, temperature=0.0, max_tokens=n, seed=0)
            conn.send((out["usage"]["completion_tokens"], time.perf_counter() - start))
        else:
            llm.reset()
            lib.llama_perf_context_reset(llm.ctx)
            llm.create_completion(payload, temperature=0.0, max_tokens=n, seed=0)
            perf = lib.llama_perf_context(llm.ctx)
            conn.send((perf.n_p_eval / perf.t_p_eval_ms * 1e3, perf.n_eval / perf.t_eval_ms * 1e3))


class Raw:
    """A raw llama-cpp-python process."""

    def __init__(self, path: Path, config: dict[str, Any]) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=_raw_worker, args=(child, str(path), config), daemon=True)
        self._process.start()

    def ask(self, kind: str, payload: Any, n: int) -> Any:
        self._conn.send((kind, payload, n))
        return self._conn.recv()

    def close(self) -> None:
        self._conn.send(None)
        self._process.join()


# -- 2. in a run against raw --------------------------------------------------------------------------------
def in_run(model: EmbeddedModel, problem: Problem, max_tokens: int, db: Path) -> tuple[int, float]:
    """(tokens, generation seconds) of a one-problem run (one attempt, greedy) on the already loaded model."""
    settings = Settings(model=model.spec, ids=[problem.id], attempts=1, max_tokens=max_tokens)
    with api.start(settings, db, model=model, check=False) as run:
        run.execute()
    store = RunStore.read(db)
    try:
        attempts = [a for tried in store.load().attempts.values() for a in tried]
    finally:
        store.close()
    return sum(a.completion_tokens for a in attempts), sum(a.gen_s for a in attempts)


def versus_raw(spec: str, path: Path, problems: list[Problem], rounds: int, max_tokens: int, work: Path) -> float:
    """Each round takes problems no earlier round saw; every problem goes to raw llama-cpp-python (as it comes, and
    with the engine's kernels), then to a run, back to back, so the three see the same load. All three keep their
    caches warm across problems (the system prompt is shared)."""
    per_round = len(problems) // rounds
    raw_default = Raw(path, {})
    raw_same = Raw(path, {"repack": False, "env": {"GGML_CPU_TILED_MM": "0"}})
    model = EmbeddedModel(spec)
    warm = first_messages(problems[-1])
    for raw in (raw_default, raw_same):
        raw.ask("chat", [m.model_dump() for m in warm], 8)  # load and warm the cache
    model.generate(warm, GenerationParams(max_tokens=8))
    print(
        f"{'round':>5} {'load':>15} {'raw tok/s':>10} {'raw, engine kernels':>20} {'in run tok/s':>13} "
        f"{'in run / raw':>13}"
    )
    ratios, raws = [], []
    for round_ in range(rounds):
        at = load()
        totals = np.zeros((3, 2))  # raw, raw with engine kernels, in run: (tokens, seconds)
        for i, problem in enumerate(problems[round_ * per_round : (round_ + 1) * per_round]):
            messages = [m.model_dump() for m in first_messages(problem)]
            totals[0] += raw_default.ask("chat", messages, max_tokens)
            totals[1] += raw_same.ask("chat", messages, max_tokens)
            totals[2] += in_run(model, problem, max_tokens, work / f"run-{round_}-{i}.sqlite")
        raw, same, inside = (totals[:, 0] / totals[:, 1]).tolist()
        ratios.append(inside / raw)
        raws.append(raw)
        print(f"{round_ + 1:>5} {at:>15} {raw:>10.1f} {same:>20.1f} {inside:>13.1f} {inside / raw:>13.2f}")
        sys.stdout.flush()
    raw_default.close()
    raw_same.close()
    print(f"median in run / raw: {statistics.median(ratios):.2f} (target >= 0.95); load now {load()}")
    return statistics.median(raws)


# -- 3. knobs -----------------------------------------------------------------------------------------------
KNOBS: list[tuple[str, dict[str, Any]]] = [
    ("default: 2 threads, n_batch 512, FA off, KV f16", {}),
    ("n_threads 1 (prompt 2)", {"threads": 1}),
    ("n_threads 1, n_threads_batch 1", {"threads": 1, "threads_batch": 1}),
    ("n_batch 32", {"n_batch": 32}),
    ("n_batch 128", {"n_batch": 128}),
    ("flash attention", {"flash_attn": True}),
    ("flash attention, KV q8_0", {"flash_attn": True, "type_k": 8, "type_v": 8}),
    ("no weight repacking", {"repack": False}),
    ("no tiled K-quant matmul", {"env": {"GGML_CPU_TILED_MM": "0"}}),
    ("engine kernels (both off)", {"repack": False, "env": {"GGML_CPU_TILED_MM": "0"}}),
]


def knobs(path: Path, prompt: str, n: int, rounds: int = 2) -> None:
    """Every setting in its own process, the list run `rounds` times over so that a burst of load does not fall
    on one setting only; each round's numbers are printed (prompt tok/s / decode tok/s)."""
    results: dict[str, list[str]] = {name: [] for name, _ in KNOBS}
    for _ in range(rounds):
        for name, config in KNOBS:
            raw = Raw(path, config)
            raw.ask("probe", prompt, 4)  # warm-up
            at = load()
            prompt_speed, decode_speed = raw.ask("probe", prompt, n)
            raw.close()
            results[name].append(f"{prompt_speed:6.1f} / {decode_speed:5.1f} @ {at.split('/')[0]}")
    print(
        f"{'llama.cpp setting':<48} "
        + "  ".join(f"{'round ' + str(r + 1) + ': prompt / decode @ load':<30}" for r in range(rounds))
    )
    for name, cells in results.items():
        print(f"{name:<48} " + "  ".join(f"{c:<30}" for c in cells))


# -- 4. several problems at once ----------------------------------------------------------------------------
def concurrent(
    engine: Engine, prompts: list[list[int]], params: Callable[[int], GenerationParams]
) -> tuple[list[tuple[tuple[int, ...], str | None]], float]:
    """Every prompt submitted at once from its own thread: the responses (tokens, logits digest) and tokens/s."""
    start = time.perf_counter()
    with ThreadPoolExecutor(len(prompts)) as pool:
        results = list(
            pool.map(lambda i: engine.submit(Request(prompts[i], params(i), digest=True)), range(len(prompts)))
        )
    wall = time.perf_counter() - start
    return [(tuple(r.tokens), r.logits_sha256) for r in results], sum(len(r.tokens) for r in results) / wall


def concurrency_table(model: EmbeddedModel, path: Path, problems: list[Problem], max_tokens: int, rounds: int) -> None:
    engine0 = model.engine
    prompts = [engine0.tokenize(model.render(first_messages(p)), bos=True, special=True) for p in problems]
    greedy: Callable[[int], GenerationParams] = lambda i: GenerationParams(max_tokens=max_tokens)  # noqa: E731
    sampled: Callable[[int], GenerationParams] = lambda i: GenerationParams(  # noqa: E731
        max_tokens=max_tokens // 2, temperature=0.7, seed=i
    )
    sizes = (1, 2, 4, 8)
    engines = {n: Engine(path, slots=n) for n in sizes}
    speeds: dict[int, list[str]] = {n: [] for n in sizes}
    same: dict[int, bool] = {}
    reference: dict[str, Any] = {}
    for round_ in range(rounds):  # the sizes interleaved, so that load bursts spread over all of them
        for n in sizes:
            at = load()
            out, speed = concurrent(engines[n], prompts, greedy)
            if round_ == 0:
                out_sampled, _ = concurrent(engines[n], prompts, sampled)
                reference.setdefault("greedy", out)
                reference.setdefault("sampled", out_sampled)
                same[n] = out == reference["greedy"] and out_sampled == reference["sampled"]
            speeds[n].append(f"{speed:5.1f} @ {at.split('/')[0]}")
    print(
        f"{len(prompts)} prompts submitted at once, greedy, {max_tokens} tokens at most; N sequences per forward "
        "pass (identical: every response's tokens and the sha256 of the logits they came from, greedy and sampled "
        "at temperature 0.7, equal those of N = 1)"
    )
    print(
        f"{'N':>3} " + " ".join(f"{'tokens/s @ load':>16}" for _ in range(rounds)) + f" {'mean batch':>11} "
        f"{'identical to N = 1':>19}"
    )
    for n in sizes:
        stats = engines[n].stats
        print(
            f"{n:>3} " + " ".join(f"{c:>16}" for c in speeds[n]) + f" {stats.rows / max(1, stats.steps):>11.2f} "
            f"{same[n]!s:>19}"
        )


# -- 5. the judge -------------------------------------------------------------------------------------------
def judge(spec: str, problems: list[Problem]) -> None:
    outputs = [p.answer for p in problems] + ["7\n", "(empty)", "x = 3"]
    print(f"{'judge':<28} {'load':>15} {'calls':>6} {'s/call':>7} {'prompt tokens':>14} {'reused':>7}")
    for name, cache in (("prefix cache", True), ("every prompt from scratch", False)):
        model = EmbeddedModel(spec, prefix_cache=cache)
        model.check()
        engine = model.engine
        before = engine.stats.prompt_tokens, engine.stats.reused_tokens
        at = load()
        start = time.perf_counter()
        calls = 0
        for problem in problems:
            for output in outputs[:3]:
                LLMJudge(model, max_tokens=60).ask(output, problem.answer, problem.problem)
                calls += 1
        seconds = (time.perf_counter() - start) / calls
        prompt = engine.stats.prompt_tokens - before[0]
        reused = engine.stats.reused_tokens - before[1]
        print(f"{name:<28} {at:>15} {calls:>6} {seconds:>7.2f} {prompt:>14} {reused / prompt:>7.0%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="embedded", choices=sorted(SPECS))
    parser.add_argument("--problems", type=int, default=8, help="problems per round (each round has its own)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=256)
    args = parser.parse_args()
    path = ensure_weights(SPECS[args.model])
    problems = api.choose_problems(Settings(limit=args.problems * args.rounds)).problems
    print(f"embedded model {args.model} ({SPECS[args.model].title}), {CORES} cores, load average (1/5/15 min) {load()}")

    per_token, total = bytes_per_token(path)
    bw = {t: bandwidth(t) for t in sorted({1, CORES})}
    limit = max(bw.values()) / (per_token / 1e9)
    print(
        f"\n1. decode limit: {per_token / 1e6:.0f} MB of weights read per token ({total / 1e6:.0f} MB of tensors); "
        "memory read bandwidth "
        + ", ".join(f"{v:.1f} GB/s with {t} thread{'s' * (t > 1)}" for t, v in bw.items())
        + f" -> at most {limit:.1f} tokens/s (load {load()})"
    )

    print(
        "\n2. tokens/s in a run vs raw llama-cpp-python (warm cache, same prompts, greedy, "
        f"{args.max_tokens} tokens at most)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        raw = versus_raw(args.model, path, problems, args.rounds, args.max_tokens, Path(tmp))
    print(f"raw decodes at {raw / limit:.0%} of the bandwidth limit ({raw:.1f} of {limit:.1f} tokens/s)")

    model = EmbeddedModel(args.model)
    probe_prompt = model.render(first_messages(problems[0]))
    print("\n3. raw llama-cpp-python under llama.cpp's settings (each in a fresh process; 128 tokens decoded)")
    knobs(path, probe_prompt, 128)

    print("\n4. several problems at once (one context, N sequences)")
    concurrency_table(model, path, problems[:8], args.max_tokens // 2, args.rounds)

    print("\n5. the judge on the embedded model (3 outputs for each problem)")
    judge(args.model, problems[:3])
    print(json.dumps({"load_at_end": load()}))


if __name__ == "__main__":
    main()
