"""Datasets: every source layout, answer extraction, sampling, and the errors users see."""

import json
import os
import random
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mathcodebench.data import LEVELS, SUBJECTS, Selection, canonical_subject, load, select, selection_hash
from mathcodebench.data.boxed import last_boxed
from mathcodebench.errors import UserError

SUBJECT_DIRS = [
    "algebra",
    "counting_and_probability",
    "geometry",
    "intermediate_algebra",
    "number_theory",
    "prealgebra",
    "precalculus",
]


def math_rows(n_per_cell: int = 3) -> list[dict]:
    """Rows in the original MATH schema: problem, level "Level N", type, solution with a boxed answer."""
    rows = []
    for s, subject in enumerate(SUBJECTS):
        for level in LEVELS:
            for i in range(n_per_cell):
                value = s * 100 + level * 10 + i
                rows.append(
                    {
                        "problem": f"{subject} L{level} #{i}: what is {value}?",
                        "level": f"Level {level}",
                        "type": subject,
                        "solution": f"It is $\\boxed{{{value}}}$.",
                    }
                )
    return rows


# -- answer extraction -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "solution,answer",
    [
        (r"so $\boxed{5}$.", "5"),
        (r"$\boxed{\frac{1}{2}}$", r"\frac{1}{2}"),
        (r"$\boxed{\left\{ 1, 2 \right\}}$ and \{", r"\left\{ 1, 2 \right\}"),
        (r"first $\boxed{1}$, corrected: $\boxed{2}$", "2"),
        (r"$\fbox{7}$", "7"),
        (r"$\boxed{\text{(B)}}$", r"\text{(B)}"),
        (r"\text{we box it: } \boxed{\text{yes}}", r"\text{yes}"),
        (r"$\boxed 2$ dollars", "2"),
        (r"$\boxed{a_{n+1}^{2}}$", r"a_{n+1}^{2}"),
        (r"$\boxed{\{1,2\}}$", r"\{1,2\}"),
    ],
)
def test_last_boxed(solution, answer):
    assert last_boxed(solution) == answer


@pytest.mark.parametrize("solution", ["no box here", r"$\boxed{unclosed", ""])
def test_no_boxed_answer(solution):
    assert last_boxed(solution) is None


# -- sources ---------------------------------------------------------------------------------------


def test_sample_covers_every_subject_and_level():
    problems = load("sample").problems
    assert len(problems) >= 35
    assert {(p.subject, p.level) for p in problems} == {(s, lvl) for s in SUBJECTS for lvl in LEVELS}
    assert all(last_boxed(p.solution) == p.answer for p in problems)


@pytest.mark.parametrize("name", ["counting_and_probability", "Counting & Probability", "COUNTING AND PROBABILITY"])
def test_subject_names_are_normalised(name):
    assert canonical_subject(name) == "Counting & Probability"


def test_original_directory_layout(tmp_path):
    rows = math_rows(1)
    for i, row in enumerate(rows):
        folder = tmp_path / "MATH" / "test" / SUBJECT_DIRS[SUBJECTS.index(row["type"])]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i}.json").write_text(json.dumps(row))
    bad = tmp_path / "MATH" / "test" / "geometry" / "999.json"
    bad.write_text(json.dumps({**rows[0], "type": "Geometry", "level": "Level ?"}))
    empty = tmp_path / "MATH" / "test" / "geometry" / "998.json"
    empty.write_text(json.dumps({**rows[0], "type": "Geometry", "solution": "no box"}))
    for root in (tmp_path / "MATH", tmp_path / "MATH" / "test"):
        loaded = load(str(root))
        assert len(loaded.problems) == 35
        assert loaded.problems[0].id == "test/algebra/0.json" and loaded.problems[0].answer == "10"
        assert {s.id: s.reason for s in loaded.skipped} == {
            "test/geometry/998.json": "no answer could be extracted from the solution",
            "test/geometry/999.json": "unknown level",
        }


def test_jsonl_and_parquet_files(tmp_path):
    rows = [{"id": f"x{i}", **row} for i, row in enumerate(math_rows(1))]
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in rows))
    parquet = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pylist([{**r, "answer": "1"} for r in rows]), parquet)
    from_jsonl, from_parquet = load(str(jsonl)).problems, load(str(parquet)).problems
    assert [p.id for p in from_jsonl] == [p.id for p in from_parquet]
    assert from_jsonl[0].answer == "10"  # extracted from the solution
    assert from_parquet[0].answer == "1"  # an explicit answer field wins


def _hub_cache(root, repo: str, files: dict[str, bytes]) -> None:
    """A directory laid out like huggingface_hub's cache after a download of `repo`."""
    revision = "0123456789abcdef0123456789abcdef01234567"
    base = root / f"datasets--{repo.replace('/', '--')}"
    (base / "refs").mkdir(parents=True)
    (base / "refs" / "main").write_text(revision)
    for name, data in files.items():
        path = base / "snapshots" / revision / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _parquet_bytes(rows, tmp_path) -> bytes:
    path = tmp_path / "tmp.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path.read_bytes()


def test_hub_sources_from_an_offline_cache(tmp_path):
    """The real huggingface_hub code path, pointed at a local cache through its own settings (the hub itself
    is unreachable from these machines)."""
    rows = math_rows(2)
    files = {}
    for subject_dir, subject in zip(SUBJECT_DIRS, SUBJECTS, strict=True):
        mine = [r for r in rows if r["type"] == subject]
        files[f"{subject_dir}/test-00000-of-00001.parquet"] = _parquet_bytes(mine, tmp_path)
        files[f"{subject_dir}/train-00000-of-00001.parquet"] = _parquet_bytes(mine, tmp_path)
    cache = tmp_path / "hub"
    _hub_cache(cache, "EleutherAI/hendrycks_math", files)
    m500 = [
        {
            "unique_id": f"test/algebra/{i}.json",
            "subject": "Algebra",
            "level": 1,
            "problem": f"p{i}",
            "solution": "s",
            "answer": str(i),
        }
        for i in range(3)
    ]
    _hub_cache(cache, "HuggingFaceH4/MATH-500", {"test.jsonl": "\n".join(map(json.dumps, m500)).encode()})
    env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}

    def show(*args):
        return subprocess.run(
            [sys.executable, "-m", "mathcodebench.cli", "datasets", "show", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    r = show("math")
    assert r.returncode == 0, r.stderr
    assert "70 problems from hf:EleutherAI/hendrycks_math@0123456789abcdef" in r.stdout
    assert "(test)" in r.stdout
    r = show("math:train", "--per-cell", "1", "--seed", "3")
    assert r.returncode == 0 and "35 problems" in r.stdout, r.stderr
    r = show("math500")
    assert r.returncode == 0 and "3 problems from hf:HuggingFaceH4/MATH-500" in r.stdout, r.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "mathcodebench.cli", "datasets", "show", "math"],
        env={**env, "HF_HUB_CACHE": str(tmp_path / "empty")},
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2 and "not in the local Hugging Face cache" in missing.stderr


# -- sampling --------------------------------------------------------------------------------------


def _problems(tmp_path, rows):
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(json.dumps({"id": f"id{i:03d}", **r}) for i, r in enumerate(rows)))
    return load(str(path)).problems


def test_stratified_sampling_is_per_cell_and_independent_of_file_order(tmp_path):
    rows = math_rows(5)
    problems = _problems(tmp_path, rows)
    shuffled = problems[:]
    random.Random(1).shuffle(shuffled)
    a, _ = select(problems, Selection(per_cell=3, seed=7))
    b, _ = select(shuffled, Selection(per_cell=3, seed=7))
    assert [p.id for p in a] == [p.id for p in b] and selection_hash(a) == selection_hash(b)
    assert len(a) == 105
    assert all(sum(1 for p in a if (p.subject, p.level) == cell) == 3 for cell in {(p.subject, p.level) for p in a})
    c, _ = select(problems, Selection(per_cell=3, seed=8))
    assert {p.id for p in c} != {p.id for p in a}


def test_short_cell_is_an_error_naming_the_cell_unless_allowed(tmp_path):
    rows = [
        r
        for r in math_rows(3)
        if not (
            r["type"] == "Number Theory"
            and r["level"] == "Level 1"
            and r["problem"].endswith(("#1: what is 410?", "#2: what is 411?"))
        )
    ]
    rows = [
        r
        for r in rows
        if r["problem"] not in {"Number Theory L1 #1: what is 411?", "Number Theory L1 #2: what is 412?"}
    ]
    problems = _problems(tmp_path, rows)
    with pytest.raises(UserError, match=r"cell Number Theory / Level 1 has 1 problems, fewer than --per-cell 2"):
        select(problems, Selection(per_cell=2))
    chosen, short = select(problems, Selection(per_cell=2, allow_short_cells=True))
    assert short == ["Number Theory / Level 1: 1"] and len(chosen) == 69


def test_filters(tmp_path):
    problems = _problems(tmp_path, math_rows(2))
    chosen, _ = select(problems, Selection(subjects=["Geometry"], levels=[4, 5]))
    assert {(p.subject, p.level) for p in chosen} == {("Geometry", 4), ("Geometry", 5)} and len(chosen) == 4
    chosen, _ = select(problems, Selection(ids=["id005", "id001"]))
    assert [p.id for p in chosen] == ["id005", "id001"]
    with pytest.raises(UserError, match="requested ids are not in the dataset"):
        select(problems, Selection(ids=["nope"]))
    assert len(select(problems, Selection(limit=4))[0]) == 4


# -- errors ----------------------------------------------------------------------------------------

GOOD = {"id": "a", "subject": "algebra", "level": 2, "problem": "1+1?", "answer": "2"}


@pytest.mark.parametrize(
    "rows,message",
    [
        ([GOOD, "{not json"], r"d.jsonl:2: not valid JSON"),
        ([{k: v for k, v in GOOD.items() if k != "answer"}], r"d.jsonl:1: missing field 'answer'"),
        ([{k: v for k, v in GOOD.items() if k != "problem"}], r"d.jsonl:1: missing field 'problem'"),
        ([{k: v for k, v in GOOD.items() if k != "subject"}], r"d.jsonl:1: missing field 'subject'"),
        ([{**GOOD, "subject": "Astrology"}], r"d.jsonl:1: unknown subject 'Astrology'"),
        ([{**GOOD, "level": 7}], r"d.jsonl:1: level 7 is out of range"),
        ([{**GOOD, "level": "hard"}], r"d.jsonl:1: level 'hard' is not a number"),
        ([GOOD, GOOD], r"d.jsonl:2: duplicate id 'a' \(first at .*d.jsonl:1\)"),
        (["[1, 2]"], r"d.jsonl:1: expected a JSON object"),
        ([], r"no problems found"),
    ],
)
def test_bad_dataset_lines_are_reported_with_their_place(tmp_path, rows, message):
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    with pytest.raises(UserError, match=message):
        load(str(path))


def test_missing_or_unsupported_dataset(tmp_path):
    with pytest.raises(UserError, match=r"dataset not found: /nope\.jsonl"):
        load("/nope.jsonl")
    (tmp_path / "d.csv").write_text("x")
    with pytest.raises(UserError, match="unsupported dataset file"):
        load(str(tmp_path / "d.csv"))
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(UserError, match=r"cannot read .* as Parquet"):
        load(str(tmp_path / "bad.parquet"))
