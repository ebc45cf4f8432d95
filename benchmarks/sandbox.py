"""Sandbox latency, CPU and throughput: the default mode (the jail where it starts) and the host fallback, against
a fresh interpreter per run (`subprocess`); and what a block costs in a session (tool-integrated reasoning).

Latency: the modes and scripts are interleaved in a shuffled round-robin, so machine noise hits all alike; each
cell also gives the harness's own CPU per execution (what the calling process spends; the servers and programs
run in other processes). Throughput: as many concurrent callers as cores, for the sympy and the realistic
script, with the CPU every process of the sandbox spent per execution. Prints one table with ratios to
`subprocess` measured in the same run, the layers of each mode, and the issue's targets.

    python benchmarks/sandbox.py [--runs 200]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mathcodebench.sandbox import ExecStatus, Limits, create_sandbox
from mathcodebench.sandbox.forkserver import ForkServerSandbox

SCRIPTS = {
    "trivial": "print(1 + 1)",
    "sympy": "import sympy\nprint(sympy.factorint(360))",
    "realistic": (
        "import itertools, sympy\nx = sympy.symbols('x')\nroots = sympy.solve(x**3 - 6*x**2 + 11*x - 6, x)\n"
        "count = sum(1 for p in itertools.permutations(range(6)) if p[0] < p[-1])\n"
        "print(roots, count, sympy.factorint(2**32 + 1))"
    ),
}
MODES = ("default", "host", "subprocess")
LIMITS = Limits(timeout_s=30, memory_mb=2048)
TARGETS = {"trivial": 4.0, "sympy": 6.0}  # median ms, default mode
THROUGHPUT_TARGET = 50.0  # sympy runs/s on all cores, x a fresh interpreter


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _cpu_s(box) -> float:
    """CPU seconds so far of this process (every thread), of the children it reaped (a fresh interpreter per
    run), and of the sandbox's live processes (servers, bwrap, zygotes) with the children they reaped."""
    ticks = os.sysconf("SC_CLK_TCK")
    tree = 0.0
    for pid in box.processes() if isinstance(box, ForkServerSandbox) else []:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # a child that has just exited
        tree += sum(int(v) for v in fields[11:15]) / ticks  # utime, stime, and those of reaped children
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    return tree + time.process_time() + reaped.ru_utime + reaped.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="executions per mode and script for latency")
    parser.add_argument("--throughput-runs", type=int, default=200, help="executions per mode for throughput")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    boxes = {mode: create_sandbox(mode, workers=cores) for mode in MODES}
    try:
        for box in boxes.values():  # warm every server of the pool
            with ThreadPoolExecutor(cores) as pool:
                list(pool.map(lambda _, b=box: b.run("print(0)", LIMITS), range(cores * 4)))
        latency: dict[tuple[str, str], list[float]] = {(m, s): [] for m in MODES for s in SCRIPTS}
        harness_cpu: dict[tuple[str, str], list[float]] = {key: [] for key in latency}
        rng = random.Random(0)
        for _ in range(args.runs):
            order = list(latency)
            rng.shuffle(order)
            for mode, script in order:
                cpu, start = time.thread_time(), time.perf_counter()
                result = boxes[mode].run(SCRIPTS[script], LIMITS)
                latency[(mode, script)].append((time.perf_counter() - start) * 1000)
                harness_cpu[(mode, script)].append((time.thread_time() - cpu) * 1000)
                if result.status != ExecStatus.OK:
                    raise SystemExit(f"{mode}/{script} failed: {result.status} {result.stderr[-200:]}")
        blocks: dict[tuple[str, str], list[float]] = {key: [] for key in latency}
        sessions = {mode: box.session(LIMITS) for mode, box in boxes.items()}
        try:  # a tool-integrated-reasoning block: the same scripts in a session held for them
            for _ in range(args.runs):
                order = list(blocks)
                rng.shuffle(order)
                for mode, script in order:
                    start = time.perf_counter()
                    result = sessions[mode].run(SCRIPTS[script])
                    blocks[(mode, script)].append((time.perf_counter() - start) * 1000)
                    if result.status != ExecStatus.OK:
                        raise SystemExit(f"{mode}/{script} block failed: {result.status} {result.stderr[-200:]}")
        finally:
            for session in sessions.values():
                session.close()
        throughput: dict[tuple[str, str], float] = {}
        sandbox_cpu: dict[tuple[str, str], float] = {}
        for script in ("sympy", "realistic"):
            for mode in MODES:
                box = boxes[mode]
                before, start = _cpu_s(box), time.perf_counter()
                with ThreadPoolExecutor(cores) as pool:
                    results = list(
                        pool.map(
                            lambda _, b=box, code=SCRIPTS[script]: b.run(code, LIMITS), range(args.throughput_runs)
                        )
                    )
                elapsed = time.perf_counter() - start
                assert all(r.status == ExecStatus.OK for r in results)
                throughput[(script, mode)] = args.throughput_runs / elapsed
                sandbox_cpu[(script, mode)] = (_cpu_s(box) - before) / args.throughput_runs * 1000
    finally:
        for box in boxes.values():
            box.close()

    print(f"Sandbox benchmark: {args.runs} interleaved runs per cell, {cores} cores")
    for mode, box in boxes.items():
        print(f"  {mode} -> {box.name} ({box.reason})")
        print(f"    layers: {'; '.join(box.layers)}")
        print(f"    missing: {'; '.join(box.missing) or 'none'}")
    print(
        f"\n{'script':<10} {'mode':<11} {'median ms':>10} {'p95 ms':>8} {'x faster than subprocess':>26} "
        f"{'harness cpu ms/run':>19}"
    )
    for script in SCRIPTS:
        base = statistics.median(latency[("subprocess", script)])
        for mode in MODES:
            values = latency[(mode, script)]
            med = statistics.median(values)
            print(
                f"{script:<10} {mode:<11} {med:>10.1f} {percentile(values, 0.95):>8.1f} {base / med:>26.1f} "
                f"{statistics.mean(harness_cpu[(mode, script)]):>19.2f}"
            )
    print(f"\nSession blocks (one session per mode, the scripts run {args.runs} times each in it, interleaved):")
    print(f"{'script':<10} {'mode':<11} {'median ms':>10} {'p95 ms':>8} {'x faster than a program':>24}")
    for script in SCRIPTS:
        for mode in MODES:
            values = blocks[(mode, script)]
            med = statistics.median(values)
            program = statistics.median(latency[(mode, script)])
            print(f"{script:<10} {mode:<11} {med:>10.2f} {percentile(values, 0.95):>8.2f} {program / med:>24.1f}")
    print(f"\nThroughput, {cores} concurrent callers, {args.throughput_runs} runs each:")
    print(f"{'script':<10} {'mode':<11} {'runs/s':>8} {'x subprocess':>13} {'all cpu ms/run':>15}")
    for (script, mode), rate in throughput.items():
        print(
            f"{script:<10} {mode:<11} {rate:>8.1f} {rate / throughput[(script, 'subprocess')]:>13.1f} "
            f"{sandbox_cpu[(script, mode)]:>15.2f}"
        )
    print("\nTargets (default mode, every layer active):")
    for script, target in TARGETS.items():
        med = statistics.median(latency[("default", script)])
        print(f"  {script} median {med:.1f} ms <= {target:.0f} ms: {'met' if med <= target else 'NOT met'}")
    ratio = throughput[("sympy", "default")] / throughput[("sympy", "subprocess")]
    verdict = "met" if ratio >= THROUGHPUT_TARGET else "NOT met"
    print(f"  sympy throughput {ratio:.0f}x >= {THROUGHPUT_TARGET:.0f}x: {verdict}")
    missing = boxes["default"].missing
    print(f"  every layer active: {'yes' if not missing else 'no: ' + '; '.join(missing)}")


if __name__ == "__main__":
    main()
