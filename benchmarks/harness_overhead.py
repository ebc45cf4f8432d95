"""Harness overhead: how close a run gets to pure model latency (the embedded model's speed in a run is measured
by benchmarks/embedded_speed.py).

A local OpenAI-compatible stand-in (its own process) answers every request after a fixed latency L. A run of N problems
(7 subjects x 5 levels x 27, one attempt each, the real sandbox and symbolic grader) at concurrency C is timed against
the ideal N * L / C.

    python benchmarks/harness_overhead.py [--latency 0.2] [--concurrency 32] [--per-cell 27]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from mathcodebench import api
from mathcodebench.data import LEVELS, SUBJECTS
from mathcodebench.settings import Settings

REPLY = json.dumps(
    {
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "```python\nprint(2)\n```"},
            }
        ],
        "usage": {"prompt_tokens": 50, "completion_tokens": 8},
    }
).encode()


def serve(latency: float, port_pipe) -> None:
    """The stand-in model server, in its own process like a real one (not competing for the harness's GIL)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            time.sleep(latency)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(REPLY)))
            self.end_headers()
            self.wfile.write(REPLY)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.request_queue_size = 256
    port_pipe.send(server.server_address[1])
    server.serve_forever()


def stand_in(latency: float) -> tuple[multiprocessing.Process, str]:
    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    process = ctx.Process(target=serve, args=(latency, send), daemon=True)
    process.start()
    return process, f"http://127.0.0.1:{receive.recv()}/v1"


def synthetic_dataset(directory: Path, per_cell: int) -> Path:
    path = directory / "synthetic.jsonl"
    with path.open("w") as out:
        for subject in SUBJECTS:
            for level in LEVELS:
                for i in range(per_cell):
                    out.write(
                        json.dumps(
                            {
                                "id": f"{subject}/{level}/{i}",
                                "subject": subject,
                                "level": level,
                                "problem": f"What is 1 + 1? ({subject} {level} {i})",
                                "answer": "2",
                            }
                        )
                        + "\n"
                    )
    return path


def overhead(latency: float, concurrency: int, per_cell: int, work: Path) -> tuple[int, float, float, float]:
    """(problems, wall s solving and grading them, the ideal N * L / C, mean sandbox seconds per program)."""
    server, url = stand_in(latency)
    settings = Settings(
        model="openai-compatible/stand-in",
        base_url=[url],
        dataset=str(synthetic_dataset(work, per_cell)),
        attempts=1,
        concurrency=concurrency,
    )
    try:
        with api.start(settings, work / f"overhead-{latency}-{concurrency}.sqlite") as run:
            start = time.perf_counter()  # the sandbox pool is up: what is timed is the run itself
            run.execute()
            wall = time.perf_counter() - start
            data = run.store.load()
    finally:
        server.kill()
    n = len(data.problems)
    assert len(data.final) == n and all(g.correct for g in data.final.values()), "a stand-in answer was lost"
    attempts = [a for tried in data.attempts.values() for a in tried]
    return n, wall, n * latency / concurrency, sum(a.exec_s for a in attempts) / len(attempts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, nargs="+", default=[0.2, 1.0])
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--per-cell", type=int, default=27)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cores = os.cpu_count() or 1
        print(
            f"{'latency L':>9} {'C':>4} {'problems':>9} {'ideal s':>8} {'wall s':>8} {'wall/ideal':>11} "
            f"{'sandbox ms/run':>15} {'sandbox floor s':>16}"
        )
        for latency in args.latency:
            n, wall, ideal, exec_s = overhead(latency, args.concurrency, args.per_cell, work)
            print(
                f"{latency:>9.2f} {args.concurrency:>4} {n:>9} {ideal:>8.1f} {wall:>8.1f} {wall / ideal:>11.2f} "
                f"{1000 * exec_s:>15.1f} {n * exec_s / cores:>16.1f}"
            )
        print(
            f"sandbox floor = problems x sandbox ms/run / {cores} cores: what executing the programs alone takes "
            "here. Grading, the HTTP client and the stand-in server share the same cores; when their sum nears "
            "the ideal, the run is CPU-bound rather than latency-bound."
        )


if __name__ == "__main__":
    main()
