"""Sandbox latency and throughput: the fork-server modes (default, strong) against a fresh interpreter per run.

Latency: the modes and scripts are interleaved in a shuffled round-robin, so machine noise hits all alike.
Throughput: as many concurrent callers as cores, for the sympy and the realistic script.
Prints one table with ratios to `subprocess` measured in the same run.

    python benchmarks/sandbox.py [--runs 200]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

from mathcodebench.sandbox import ExecStatus, Limits, create_sandbox

SCRIPTS = {
    "trivial": "print(1 + 1)",
    "sympy": "import sympy\nprint(sympy.factorint(360))",
    "realistic": (
        "import itertools, sympy\nx = sympy.symbols('x')\nroots = sympy.solve(x**3 - 6*x**2 + 11*x - 6, x)\n"
        "count = sum(1 for p in itertools.permutations(range(6)) if p[0] < p[-1])\n"
        "print(roots, count, sympy.factorint(2**32 + 1))"
    ),
}
MODES = ("default", "strong", "subprocess")
LIMITS = Limits(timeout_s=30, memory_mb=2048)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="executions per mode and script for latency")
    parser.add_argument("--throughput-runs", type=int, default=100, help="executions per mode for throughput")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    boxes = {mode: create_sandbox(mode, workers=cores) for mode in MODES}
    try:
        for box in boxes.values():  # warm every server of the pool
            with ThreadPoolExecutor(cores) as pool:
                list(pool.map(lambda _, b=box: b.run("print(0)", LIMITS), range(cores * 2)))
        latency: dict[tuple[str, str], list[float]] = {(m, s): [] for m in MODES for s in SCRIPTS}
        rng = random.Random(0)
        for _ in range(args.runs):
            order = list(latency)
            rng.shuffle(order)
            for mode, script in order:
                start = time.perf_counter()
                result = boxes[mode].run(SCRIPTS[script], LIMITS)
                latency[(mode, script)].append((time.perf_counter() - start) * 1000)
                if result.status != ExecStatus.OK:
                    raise SystemExit(f"{mode}/{script} failed: {result.status} {result.stderr[-200:]}")
        throughput: dict[tuple[str, str], float] = {}
        for script in ("sympy", "realistic"):
            for mode in MODES:
                start = time.perf_counter()
                with ThreadPoolExecutor(cores) as pool:
                    results = list(pool.map(lambda _, b=boxes[mode], code=SCRIPTS[script]: b.run(code, LIMITS),
                                            range(args.throughput_runs)))
                assert all(r.status == ExecStatus.OK for r in results)
                throughput[(script, mode)] = args.throughput_runs / (time.perf_counter() - start)
    finally:
        for box in boxes.values():
            box.close()

    print(f"Sandbox benchmark: {args.runs} interleaved runs per cell, {cores} cores, "
          f"layers (default): {', '.join(boxes['default'].layers)}")
    print(f"{'script':<10} {'mode':<11} {'median ms':>10} {'p95 ms':>8} {'x faster than subprocess':>26}")
    for script in SCRIPTS:
        base = statistics.median(latency[("subprocess", script)])
        for mode in MODES:
            values = latency[(mode, script)]
            med = statistics.median(values)
            print(f"{script:<10} {mode:<11} {med:>10.1f} {percentile(values, 0.95):>8.1f} {base / med:>26.1f}")
    print(f"\nThroughput, {cores} concurrent callers, {args.throughput_runs} runs each:")
    print(f"{'script':<10} {'mode':<11} {'runs/s':>8} {'x subprocess':>13}")
    for (script, mode), rate in throughput.items():
        print(f"{script:<10} {mode:<11} {rate:>8.1f} {rate / throughput[(script, 'subprocess')]:>13.1f}")


if __name__ == "__main__":
    main()
