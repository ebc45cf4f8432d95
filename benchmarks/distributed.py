"""Local vs Ray: the harness-overhead workload (945 problems, one attempt each, a stand-in model server in its
own process answering after a fixed latency L, the real sandbox and symbolic grader) run by the local executor
and by the Ray executor on a local Ray cluster with 1 and 2 worker nodes, side by side.

Every worker node is a raylet of its own on this machine with the machine's cores as its CPUs, so each one
starts its own sandbox pool; the head node has no CPUs (the driver's node: it stores, it solves nothing). With
`--concurrency C` problems in flight per node (per process, for the local executor), the ideal wall time of a
latency-bound run is N * L / (C * nodes). On one machine the nodes share its cores: this measures the executor's
overhead and its streaming back to the one writer, not the speed-up that separate machines give.

    python benchmarks/distributed.py [--latency 0.2] [--concurrency 32] [--per-cell 27]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness_overhead import stand_in, synthetic_dataset  # the same workload and stand-in server
from mathcodebench import api
from mathcodebench.settings import Settings

MB = 1024 * 1024


@dataclass(frozen=True)
class Timed:
    executor: str
    nodes: int
    in_flight: int  # problems in flight at once, over all nodes
    problems: int
    start_s: float  # sandbox pools started (and, with Ray, the actors placed), before the first problem
    wall_s: float  # solving and grading every problem


def timed(settings: Settings, db: Path, nodes: int) -> Timed:
    started = time.perf_counter()
    with api.start(settings, db) as run:
        ready = time.perf_counter()
        run.execute()
        wall = time.perf_counter() - ready
        data = run.store.load()
    final = data.final
    assert len(final) == len(data.problems) and all(g.correct for g in final.values()), "a stand-in answer was lost"
    assert settings.concurrency is not None
    return Timed(settings.executor, nodes, settings.concurrency * nodes, len(data.problems), ready - started, wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--per-cell", type=int, default=27)
    args = parser.parse_args()
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # Ray on 127.0.0.1 only, read on import
    from ray.cluster_utils import Cluster

    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        server, url = stand_in(args.latency)
        base = Settings(
            model="openai-compatible/stand-in",
            base_url=[url],
            dataset=str(synthetic_dataset(work, args.per_cell)),
            attempts=1,
            concurrency=args.concurrency,
        )
        results = [timed(base, work / "local.sqlite", 1)]
        cluster = Cluster(
            initialize_head=True,
            head_node_args={"num_cpus": 0, "object_store_memory": 100 * MB, "include_dashboard": False},
        )
        try:
            on_ray = base.model_copy(update={"executor": "ray", "ray_address": cluster.address})
            for nodes in (1, 2):
                cluster.add_node(num_cpus=cores, object_store_memory=100 * MB)
                results.append(timed(on_ray, work / f"ray-{nodes}.sqlite", nodes))
        finally:
            cluster.shutdown()
            server.kill()
    print(
        f"latency L = {args.latency} s, {args.concurrency} problems in flight per node, {cores} cores here "
        "(every node on this machine)"
    )
    print(
        f"{'executor':>8} {'nodes':>5} {'C':>4} {'problems':>8} {'ideal s':>8} {'wall s':>7} {'wall/ideal':>10} "
        f"{'start s':>7} {'vs local':>8}"
    )
    local = results[0].wall_s
    for r in results:
        ideal = r.problems * args.latency / r.in_flight
        print(
            f"{r.executor:>8} {r.nodes:>5} {r.in_flight:>4} {r.problems:>8} {ideal:>8.1f} {r.wall_s:>7.1f} "
            f"{r.wall_s / ideal:>10.2f} {r.start_s:>7.1f} {r.wall_s / local:>8.2f}"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
