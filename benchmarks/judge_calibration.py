"""How far each local LLM judge can be trusted: the project's judge (grading/judge.py, the real embedded model)
on the labelled corpus tests/data/graded_pairs.jsonl, against the labels written by reading each pair.

Per judge: agreement with the labels, Cohen's kappa, the false-accept rate (judged correct, labelled incorrect,
over the pairs labelled incorrect) and the false-reject rate (judged incorrect, labelled correct, over the pairs
labelled correct), with counts, and pairs/s. Verdicts are cached by content in --cache, so an interrupted
measurement resumes and a second run only prints. With --save the measurement (full corpus only) goes into
src/mathcodebench/grading/calibration.json, keyed by judge spec and judge prompt version, for the report (with
--limit, marked as a sample of the corpus).

    python benchmarks/judge_calibration.py [--judge embedded --judge embedded-1.5b] [--limit N] [--save]

The whole corpus takes hours on 2 CPU cores (the 1.5B about 3x the 0.5B); --limit N judges a fixed random
sample of N pairs (seed 0), the same sample on every run.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import random
import time
from pathlib import Path

from mathcodebench.grading import Grade, calibration
from mathcodebench.grading.agreement import agreement
from mathcodebench.grading.calibration import Calibration
from mathcodebench.grading.judge import JUDGE_PROMPT_VERSION, LLMJudge
from mathcodebench.grading.labelled import Pair, read_pairs
from mathcodebench.models import create_model

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "data" / "graded_pairs.jsonl"
DEFAULT_JUDGES = ["embedded", "embedded-1.5b"]
DEFAULT_CACHE = ROOT / "runs" / "judge-calibration-cache.jsonl"


class FileCache:
    """The judge's content-keyed cache (grading.judge.JudgeCache) in an append-only JSONL file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, tuple[Grade, str]] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                row = json.loads(line)
                self.entries[row["key"]] = (Grade.model_validate(row["grade"]), row["reply"])

    def get(self, key: str) -> tuple[Grade, str] | None:
        return self.entries.get(key)

    def put(self, key: str, grade: Grade, reply: str) -> None:
        self.entries[key] = (grade, reply)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps({"key": key, "grade": grade.model_dump(), "reply": reply}) + "\n")


def measure(spec: str, pairs: list[Pair], corpus: Path, of: int, cache: FileCache) -> tuple[Calibration, float | None]:
    """The judge's calibration on `pairs` (of the corpus's `of`) and its pairs/s (None: all were cached)."""
    judge = LLMJudge(create_model(spec), cache)
    start, judged_now, grades = time.perf_counter(), 0, []
    for index, pair in enumerate(pairs, start=1):
        before = len(cache.entries)
        grades.append(judge.grade(pair.answer, pair.reference, pair.problem))
        judged_now += len(cache.entries) > before
        if index % 25 == 0:
            print(f"  {spec}: {index}/{len(pairs)}", flush=True)
    seconds = time.perf_counter() - start
    calibration = Calibration.of(
        agreement([bool(p.label) for p in pairs], [g.correct for g in grades]),
        of,
        unparseable=sum(g.status == "unparseable" for g in grades),
        weights_sha256=judge.model.describe().get("weights_sha256"),
        date=datetime.date.today().isoformat(),
        corpus=corpus.relative_to(ROOT).as_posix() if corpus.is_relative_to(ROOT) else str(corpus),
        corpus_sha256=corpus_sha256(corpus),
    )
    return calibration, judged_now / seconds if judged_now else None


def corpus_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rate(count: int, of: int, share: float | None) -> str:
    return "n/a" if share is None else f"{100 * share:.1f} % ({count}/{of})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--judge", action="append", help="judge model spec (repeatable; default: both embedded)")
    parser.add_argument("--limit", type=int, help="judge a fixed random sample of N pairs (seed 0)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="verdict cache (resumes)")
    parser.add_argument("--save", action="store_true", help=f"record the results in {calibration.CALIBRATION.name}")
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    pairs = [p for p in read_pairs(args.corpus) if p.label is not None]
    labelled = len(pairs)
    if args.limit and args.limit < len(pairs):
        pairs = sorted(random.Random(0).sample(pairs, args.limit), key=lambda p: p.id)
    cache = FileCache(args.cache)
    print(
        f"{len(pairs)} labelled pairs from {args.corpus} (sha256 {corpus_sha256(args.corpus)[:12]}), "
        f"{sum(not p.label for p in pairs)} labelled incorrect; judge prompt {JUDGE_PROMPT_VERSION}"
    )
    results = {spec: measure(spec, pairs, args.corpus, labelled, cache) for spec in args.judge or DEFAULT_JUDGES}
    print(
        f"{'judge':<15} {'n':>5} {'agreement':>10} {'kappa':>7} {'false accept':>20} {'false reject':>20} "
        f"{'unparseable':>12} {'pairs/s':>8}"
    )
    for spec, (c, speed) in results.items():
        kappa = "n/a" if c.kappa is None else f"{c.kappa:.3f}"
        print(
            f"{spec:<15} {c.n:>5} {100 * c.agreement:>9.1f}% {kappa:>7} "
            f"{rate(c.false_accepts, c.labelled_incorrect, c.false_accept):>20} "
            f"{rate(c.false_rejects, c.labelled_correct, c.false_reject):>20} "
            f"{c.unparseable:>12} {'cached' if speed is None else f'{speed:.3f}':>8}"
        )
        if args.save:
            calibration.record(spec, JUDGE_PROMPT_VERSION, c)
    if args.save:
        print(f"saved to {calibration.CALIBRATION}")


if __name__ == "__main__":
    main()
