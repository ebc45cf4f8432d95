"""What is known of an LLM judge's reliability: its measurement against the labelled corpus
(tests/data/graded_pairs.jsonl, labels written by reading each pair), made by benchmarks/judge_calibration.py and
kept in calibration.json beside this module, keyed by judge spec and judge prompt version.

Why: a run graded by a judge reports how far the judge agreed with the symbolic grader on that run, which says
nothing of which one was right. The calibration says how often the judge is right where the truth is known, so
a reader can weigh its verdicts (and the demo does not headline a judge its own measurements call unreliable).
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from ..models.embedded import SPECS
from .agreement import Agreement

CALIBRATION = Path(__file__).with_name("calibration.json")
RELIABLE_KAPPA = 0.6  # Cohen's kappa against the labels from which a judge may be the decisive grader


class Calibration(BaseModel):
    """One judge (with one prompt version) against the labels of `n` of the corpus's `corpus_pairs` pairs."""

    n: int
    corpus_pairs: int  # n < corpus_pairs: a fixed random sample of the corpus (seed 0)
    agreement: float
    kappa: float | None
    false_accept: float | None  # judged correct, over the pairs labelled incorrect
    false_accepts: int
    labelled_incorrect: int
    false_reject: float | None  # judged incorrect, over the pairs labelled correct
    false_rejects: int
    labelled_correct: int
    unparseable: int
    weights_sha256: str | None
    date: str
    corpus: str
    corpus_sha256: str

    @classmethod
    def of(cls, table: Agreement, corpus_pairs: int, **known: object) -> Calibration:
        """From the confusion matrix of (label, judge verdict)."""
        negatives, positives = table.second_only + table.both_incorrect, table.both_correct + table.first_only
        return cls.model_validate(
            {
                "n": table.n,
                "corpus_pairs": corpus_pairs,
                "agreement": round(table.rate, 4),
                "kappa": None if table.kappa is None else round(table.kappa, 4),
                "false_accept": round(table.second_only / negatives, 4) if negatives else None,
                "false_accepts": table.second_only,
                "labelled_incorrect": negatives,
                "false_reject": round(table.first_only / positives, 4) if positives else None,
                "false_rejects": table.first_only,
                "labelled_correct": positives,
                **known,
            }
        )

    @property
    def reliable(self) -> bool:
        return self.kappa is not None and self.kappa >= RELIABLE_KAPPA

    def describe(self) -> str:
        """One line for a report."""
        kappa = "undefined" if self.kappa is None else f"{self.kappa:.2f}"
        sample = "" if self.n == self.corpus_pairs else f" (a random {self.n} of its {self.corpus_pairs})"
        accept = "n/a" if self.false_accept is None else f"{100 * self.false_accept:.0f} %"
        verdict = "reliable" if self.reliable else f"unreliable (kappa < {RELIABLE_KAPPA})"
        return (
            f"measured on the labelled corpus{sample}: agreement {100 * self.agreement:.1f} %, Cohen's kappa "
            f"{kappa}, false accepts {accept} ({self.false_accepts}/{self.labelled_incorrect}): {verdict}"
        )


def _entries(path: Path) -> dict[str, dict[str, dict[str, object]]]:
    data: dict[str, dict[str, dict[str, object]]] = json.loads(path.read_text()) if path.exists() else {}
    return data


def known(judge: str, prompt_version: str, path: Path | None = None) -> Calibration | None:
    """The judge's calibration for this prompt version: recorded under its spec, or (an embedded model under
    another of its names) under a spec with the same weights."""
    entries = _entries(path or CALIBRATION)
    if prompt_version in entries.get(judge, {}):
        return Calibration.model_validate(entries[judge][prompt_version])
    weights = SPECS[judge].sha256 if judge in SPECS else None
    for versions in entries.values():
        entry = versions.get(prompt_version)
        if weights is not None and entry is not None and entry.get("weights_sha256") == weights:
            return Calibration.model_validate(entry)
    return None


def record(judge: str, prompt_version: str, calibration: Calibration, path: Path | None = None) -> None:
    """Keep one judge's measurement (other entries unchanged), written atomically."""
    path = path or CALIBRATION
    entries = _entries(path)
    entries.setdefault(judge, {})[prompt_version] = calibration.model_dump()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(entries, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
