"""The problem record every stage shares, in the MATH schema, with subject names in one canonical form."""

from __future__ import annotations

import hashlib
import json

from pydantic import BaseModel, ConfigDict, Field

SUBJECTS: tuple[str, ...] = (
    "Algebra",
    "Counting & Probability",
    "Geometry",
    "Intermediate Algebra",
    "Number Theory",
    "Prealgebra",
    "Precalculus",
)
LEVELS: tuple[int, ...] = (1, 2, 3, 4, 5)


def _key(name: str) -> str:
    return "".join(ch for ch in name.lower().replace("&", "and") if ch.isalnum())


_CANONICAL = {_key(s): s for s in SUBJECTS}


def canonical_subject(name: str) -> str | None:
    """Map `counting_and_probability`, `Counting & Probability`, `countingandprobability` ... to one form."""
    return _CANONICAL.get(_key(name))


class Problem(BaseModel):
    """One problem: what the model sees (`problem`) and what it is graded against (`answer`, LaTeX)."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=1)
    subject: str
    level: int = Field(ge=1, le=5)
    problem: str = Field(min_length=1)
    solution: str = ""
    answer: str

    def content_hash(self) -> str:
        """Hash of everything that defines the problem, so a stored run can prove which problems it used."""
        payload = json.dumps([self.id, self.subject, self.level, self.problem, self.answer], ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()
