"""How far two graders agree: confusion matrix, raw agreement and Cohen's kappa, and the disagreements."""

from __future__ import annotations

from pydantic import BaseModel


class Agreement(BaseModel):
    both_correct: int
    first_only: int  # first grader says correct, second says incorrect
    second_only: int
    both_incorrect: int

    @property
    def n(self) -> int:
        return self.both_correct + self.first_only + self.second_only + self.both_incorrect

    @property
    def rate(self) -> float:
        return (self.both_correct + self.both_incorrect) / self.n if self.n else 0.0

    @property
    def kappa(self) -> float | None:
        """Cohen's kappa; None when chance agreement is total (both graders constant and equal)."""
        n = self.n
        if n == 0:
            return None
        p_first = (self.both_correct + self.first_only) / n
        p_second = (self.both_correct + self.second_only) / n
        expected = p_first * p_second + (1 - p_first) * (1 - p_second)
        if expected == 1:
            return None
        return (self.rate - expected) / (1 - expected)


def agreement(first: list[bool], second: list[bool]) -> Agreement:
    pairs = list(zip(first, second, strict=True))
    return Agreement(
        both_correct=sum(a and b for a, b in pairs),
        first_only=sum(a and not b for a, b in pairs),
        second_only=sum(b and not a for a, b in pairs),
        both_incorrect=sum(not a and not b for a, b in pairs),
    )
