"""What the model is told: the task, and on a retry, what went wrong (our wording; the paper's is lost)."""

from __future__ import annotations

from ..data import Problem
from ..models import Message

PROMPT_VERSION = "solve-v1"

SYSTEM = (
    "You are an expert competition mathematician and Python programmer. "
    "Solve the problem by writing one complete Python 3 program that computes the answer and prints it. "
    "The program must print only the final answer, on the last line, with no words around it. "
    "Prefer exact results: use sympy, fractions or integers rather than floating point, and print fractions "
    "as a/b, radicals with sqrt(...), and pi as pi. You may use the standard library, sympy and numpy. "
    "The program gets no input and has no network or file access. "
    "Reply with only the program in a single ```python code block: no explanation before or after it."
)


def first_messages(problem: Problem) -> list[Message]:
    return [
        Message(role="system", content=SYSTEM),
        Message(role="user", content=f"Problem:\n{problem.problem}"),
    ]


def retry_messages(problem: Problem, feedback: str) -> list[Message]:
    """The problem again, with what went wrong last time.

    The failed response is not replayed as an assistant turn: small models copy their previous turn
    verbatim (Qwen2.5-Coder-0.5B repeated a failing program 10 times out of 10, even at temperature 0.7).
    The feedback already quotes the failing line. Only the latest failure is given, so context stays bounded.
    """
    return [
        Message(role="system", content=SYSTEM),
        Message(
            role="user",
            content=f"Problem:\n{problem.problem}\n\nA previous program for this problem failed. {feedback}\n"
            "Write a new, complete program that avoids this failure, in one ```python code block. "
            "It must print only the final answer.",
        ),
    ]
