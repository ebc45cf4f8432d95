import json

import pytest

from mathcodebench.data import LEVELS, SUBJECTS, canonical_subject, load_dataset
from mathcodebench.errors import UserError


def test_sample_covers_every_subject_and_level():
    problems = load_dataset("sample")
    assert len(problems) >= 35
    assert {(p.subject, p.level) for p in problems} == {(s, lvl) for s in SUBJECTS for lvl in LEVELS}
    assert len({p.id for p in problems}) == len(problems)
    assert all(p.solution and p.answer for p in problems)


def test_sample_answers_are_the_last_boxed_value_of_their_solutions():
    for p in load_dataset("sample"):
        assert f"\\boxed{{{p.answer}}}" in p.solution, p.id


@pytest.mark.parametrize("name", ["counting_and_probability", "Counting & Probability", "COUNTING AND PROBABILITY"])
def test_subject_names_are_normalised(name):
    assert canonical_subject(name) == "Counting & Probability"


def _write(tmp_path, rows):
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return str(path)


GOOD = {"id": "a", "subject": "algebra", "level": 2, "problem": "1+1?", "answer": "2"}


def test_jsonl_loads_with_canonical_subject(tmp_path):
    (p,) = load_dataset(_write(tmp_path, [GOOD]))
    assert p.subject == "Algebra" and p.level == 2


@pytest.mark.parametrize("rows,message", [
    ([GOOD, "{not json"], r"d.jsonl:2: not valid JSON"),
    ([{k: v for k, v in GOOD.items() if k != "answer"}], r"d.jsonl:1: missing field 'answer'"),
    ([{**GOOD, "subject": "Astrology"}], r"d.jsonl:1: unknown subject 'Astrology'"),
    ([{**GOOD, "level": 7}], r"d.jsonl:1: field 'level'"),
    ([GOOD, GOOD], r"d.jsonl:2: duplicate id 'a' \(first on line 1\)"),
    ([], r"no problems found"),
])
def test_bad_dataset_lines_are_reported_with_their_place(tmp_path, rows, message):
    with pytest.raises(UserError, match=message):
        load_dataset(_write(tmp_path, rows))


def test_missing_dataset_file():
    with pytest.raises(UserError, match="dataset not found: /nope.jsonl"):
        load_dataset("/nope.jsonl")
