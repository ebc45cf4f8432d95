"""Rebuild tests/data/graded_pairs.jsonl, the labelled corpus of real program outputs (the grader's exam).

The corpus pairs what the embedded models really printed on MATH problems with the MATH reference, plus
hand-written outputs (source "hand") for families the models rarely print. Labels and reasons were written by
reading each pair against the reference (and the problem where needed), never by running a grader, so they live
only in the JSONL. This script does the mechanical steps around that reading:

    # 1. sample programs (one run at a time, niced; re-running resumes unfinished runs and skips finished ones)
    python tests/data/graded_pairs_build.py generate --cli .venv/bin/mathcodebench --runs runs/corpus
    # 2. collect every answered attempt (exit 0, non-empty stdout), drop (answer, reference) pairs already seen
    #    or already in the corpus, and write the rest, unlabelled, for reading
    python tests/data/graded_pairs_build.py candidates --runs runs/corpus --out candidates.jsonl
    # 3. append the candidates that were read and labelled ({id, label, reason} per line in labels.jsonl)
    python tests/data/graded_pairs_build.py merge --candidates candidates.jsonl --labels labels.jsonl

Sampling is at temperature 0.8 on every attempt, so several seeds over the same problems give distinct
programs; other seeds with --per-cell draw other problems, covering all 7 subjects x 5 levels. The answer is
the program's whole stdout; like the grader, a label judges its last non-empty line (the printed answer).
Tests read only the JSONL, never this script or the MATH files.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import NamedTuple

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "graded_pairs.jsonl"
MATH_DIR = HERE.parents[2] / "shared" / "data" / "math"


class Run(NamedTuple):
    """One sampling run: a fresh --per-cell draw, or (`repeat`) the problems of an earlier run, new seeds."""

    name: str
    model: str
    split: str
    selection: list[str]
    repeat: str | None = None


RUNS = [
    Run("05b-s101", "embedded", "test", ["--per-cell", "3", "--seed", "101"]),
    Run("05b-s102", "embedded", "test", ["--per-cell", "3", "--seed", "102"]),
    Run("05b-s103", "embedded", "test", ["--per-cell", "3", "--seed", "103"]),
    Run("05b-train-s104", "embedded", "train", ["--per-cell", "3", "--seed", "104"]),
    Run("05b-s101-r201", "embedded", "test", ["--seed", "201"], repeat="05b-s101"),
    Run("15b-s105", "embedded-1.5b", "test", ["--per-cell", "2", "--seed", "105"]),
    Run("15b-s101-r301", "embedded-1.5b", "test", ["--seed", "301", "--limit", "50"], repeat="05b-s101"),
]
SOURCES = {"embedded": "embedded-0.5b", "embedded-1.5b": "embedded-1.5b"}
SAMPLING = ["--temperature", "0.8", "--retry-temperature", "0.8", "--attempts", "3", "--max-tokens", "512"]


def _export(cli: str, db: Path, directory: Path) -> tuple[list[dict], list[dict]]:
    subprocess.run(
        [cli, "export", str(db), "--format", "jsonl", "--out", str(directory)], check=True, capture_output=True
    )
    return tuple(
        [json.loads(line) for line in (directory / f"{db.stem}-{part}.jsonl").open()]  # type: ignore[return-value]
        for part in ("attempts", "problems")
    )


def generate(cli: str, runs: Path, only: list[str] | None) -> None:
    runs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    for run in RUNS:
        if only and run.name not in only:
            continue
        db = runs / f"{run.name}.sqlite"
        if db.exists():
            command = [cli, "run", "--resume", str(db)]
        else:
            selection = run.selection
            if run.repeat:
                with tempfile.TemporaryDirectory() as tmp:
                    _, problems = _export(cli, runs / f"{run.repeat}.sqlite", Path(tmp))
                ids = runs / f"{run.name}.ids"
                ids.write_text("".join(p["problem_id"] + "\n" for p in problems))
                selection = [*selection, "--ids", str(ids)]
            command = [
                cli,
                "run",
                "--model",
                run.model,
                "--dataset",
                str(MATH_DIR / f"{run.split}.jsonl"),
                *selection,
                *SAMPLING,
                "--db",
                str(db),
            ]
        print(" ".join(command), flush=True)
        subprocess.run(["nice", "-n", "10", *command], check=True, env=env)


def candidates(cli: str, runs: Path, out: Path) -> None:
    statements = {}
    for split in ("test", "train"):
        for line in (MATH_DIR / f"{split}.jsonl").open():
            row = json.loads(line)
            statements[row["id"]] = row["problem"]
    seen = set()
    if CORPUS.exists():
        seen = {(r["answer"], r["reference"]) for r in map(json.loads, CORPUS.open())}
    fresh = []
    for run in RUNS:
        db = runs / f"{run.name}.sqlite"
        if not db.exists():
            continue
        with tempfile.TemporaryDirectory() as tmp:
            attempts, problems = _export(cli, db, Path(tmp))
        by_id = {p["problem_id"]: p for p in problems}
        for a in attempts:
            if a["status"] != "answered" or not a["stdout"].strip():
                continue
            p = by_id[a["problem_id"]]
            key = (a["stdout"], p["reference"])
            if key in seen:
                continue
            seen.add(key)
            fresh.append(
                {
                    "id": f"{run.name}/{a['problem_id'].removesuffix('.json')}/a{a['attempt']}",
                    "answer": a["stdout"],
                    "reference": p["reference"],
                    "problem": statements[a["problem_id"]],
                    "subject": p["subject"],
                    "level": p["level"],
                    "source": SOURCES[run.model],
                }
            )
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in fresh), encoding="utf-8")
    print(f"{len(fresh)} new pairs -> {out}")


FIELDS = ("id", "answer", "reference", "problem", "label", "reason", "source", "subject", "level")


def merge(candidates: Path, labels: Path | None) -> None:
    """Append the candidates that have a label (in the row itself, or by id in `labels`) to the corpus."""
    given = {}
    if labels is not None:
        given = {r["id"]: r for r in map(json.loads, labels.open())}
    present = set()
    if CORPUS.exists():
        present = {(r["answer"], r["reference"]) for r in map(json.loads, CORPUS.open())}
    added = unlabelled = 0
    with CORPUS.open("a", encoding="utf-8") as out:
        for row in map(json.loads, candidates.open()):
            row |= {k: v for k, v in given.get(row["id"], {}).items() if k in ("label", "reason")}
            if "label" not in row:
                unlabelled += 1
                continue
            if (row["answer"], row["reference"]) in present:
                continue
            present.add((row["answer"], row["reference"]))
            out.write(json.dumps({k: row[k] for k in FIELDS}, ensure_ascii=False) + "\n")
            added += 1
    print(f"{added} pairs added to {CORPUS} ({unlabelled} candidates without a label left out)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=["generate", "candidates", "merge"])
    parser.add_argument("--cli", default=".venv/bin/mathcodebench", help="the mathcodebench executable to use")
    parser.add_argument("--runs", type=Path, default=Path("runs/corpus"), help="directory of the run databases")
    parser.add_argument("--out", type=Path, default=Path("candidates.jsonl"), help="candidates file (step 2)")
    parser.add_argument(
        "--candidates", type=Path, help="candidates to merge (step 3; hand-written rows carry their own label)"
    )
    parser.add_argument("--labels", type=Path, help="JSONL of {id, label, reason} for the candidates (step 3)")
    parser.add_argument("--only", nargs="*", help="generate only these runs (names from RUNS)")
    args = parser.parse_args()
    if args.step == "generate":
        generate(args.cli, args.runs, args.only)
    elif args.step == "candidates":
        candidates(args.cli, args.runs, args.out)
    else:
        merge(args.candidates, args.labels)


if __name__ == "__main__":
    main()
