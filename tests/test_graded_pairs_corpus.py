"""The labelled corpus (tests/data/graded_pairs.jsonl) keeps the shape its users rely on: the `grade --pairs`
fields plus a label and a one-line reason per pair, at least 600 pairs, at least a third labelled incorrect, real
program outputs of the embedded models over every subject and level (at least 40 %; the rest written by hand for
the families of answers the models rarely print), no pair twice. (The grader's agreement with it
is tested elsewhere.)"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from mathcodebench.data import LEVELS, SUBJECTS

CORPUS = Path(__file__).resolve().parent / "data" / "graded_pairs.jsonl"
SOURCES = {"embedded-0.5b", "embedded-1.5b", "hand"}


@pytest.fixture(scope="module")
def pairs() -> list[dict]:
    return [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()]


def test_every_pair_has_the_fields_a_label_and_a_one_line_reason(pairs):
    for pair in pairs:
        assert isinstance(pair["answer"], str) and pair["answer"].strip(), pair["id"]
        assert isinstance(pair["reference"], str) and pair["reference"].strip(), pair["id"]
        assert isinstance(pair["problem"], str) and pair["problem"].strip(), pair["id"]
        assert isinstance(pair["label"], bool), pair["id"]
        assert pair["reason"].strip() and "\n" not in pair["reason"], pair["id"]
        assert pair["source"] in SOURCES, pair["id"]
        assert pair["subject"] in SUBJECTS and pair["level"] in LEVELS, pair["id"]


def test_size_share_of_incorrect_and_of_real_outputs(pairs):
    assert len(pairs) >= 600
    assert sum(not p["label"] for p in pairs) >= len(pairs) / 3
    real = [p for p in pairs if p["source"] != "hand"]
    assert len(real) >= 0.4 * len(pairs)
    assert {(p["subject"], p["level"]) for p in real} == {(s, lv) for s in SUBJECTS for lv in LEVELS}


def test_ids_and_pairs_are_unique(pairs):
    assert len({p["id"] for p in pairs}) == len(pairs)
    repeated = [k for k, n in Counter((p["answer"], p["reference"]) for p in pairs).items() if n > 1]
    assert not repeated
