"""What the model is told, as data: a Jinja template with the system message, the first attempt's question and
a retry's question (with what went wrong), plus optional few-shot examples. The built-in `solve-v1` is our
wording (the paper's is lost); `--prompt FILE` and `--shots FILE` replace it. The template's text and hash and
the examples are stored with every run, so a run can be reproduced and two prompts compared like two models.
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from importlib import resources
from pathlib import Path

from jinja2 import Template, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import BaseModel, ConfigDict

from ..data import Problem
from ..errors import UserError
from ..models import Message

DEFAULT_PROMPT = "solve-v1"
METHOD_PROMPTS = {"pot": DEFAULT_PROMPT, "tir": "tir-v1"}  # each solving method's built-in prompt
BLOCKS = ("system", "user", "retry")


class Shot(BaseModel):
    """A few-shot example: a problem and the program that solves it (shown as the assistant's reply)."""

    problem: str
    program: str


class Prompt(BaseModel):
    """A loaded prompt: its name (a built-in or a file), its template text and its few-shot examples."""

    model_config = ConfigDict(frozen=True)

    name: str
    text: str
    shots: tuple[Shot, ...] = ()

    @cached_property
    def _template(self) -> Template:
        try:
            template = ImmutableSandboxedEnvironment(keep_trailing_newline=True).from_string(self.text)
        except TemplateError as exc:
            raise UserError(f"prompt {self.name}: {exc}") from None
        missing = [b for b in BLOCKS if b not in template.blocks]
        if missing:
            raise UserError(f"prompt {self.name}: needs the blocks {', '.join(BLOCKS)} (missing: {', '.join(missing)})")
        return template

    def _render(self, block: str, **variables: str) -> str:
        """One block alone, with the variables given (the blocks of one file share nothing else)."""
        template = self._template
        try:
            return "".join(template.blocks[block](template.new_context(variables)))
        except TemplateError as exc:
            raise UserError(f"prompt {self.name}, block {block}: {exc}") from None

    @property
    def version(self) -> str:
        """How reports name the prompt: the built-in's name, or the file's stem with its content hash."""
        builtin = self.name in METHOD_PROMPTS.values() and not self.shots
        return self.name if builtin else f"{Path(self.name).stem}@{self.hash[:12]}"

    @property
    def hash(self) -> str:
        payload = json.dumps([self.text, [s.model_dump() for s in self.shots]], ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()

    def check(self) -> None:
        """Render every block once, so a broken template fails before a run starts."""
        for block in BLOCKS:
            self._render(block, problem="x", feedback="y")

    def _examples(self) -> list[Message]:
        out = []
        for shot in self.shots:
            out.append(Message(role="user", content=self._render("user", problem=shot.problem)))
            out.append(Message(role="assistant", content=f"```python\n{shot.program.strip()}\n```"))
        return out

    def first(self, problem: Problem) -> list[Message]:
        return [
            Message(role="system", content=self._render("system")),
            *self._examples(),
            Message(role="user", content=self._render("user", problem=problem.problem)),
        ]

    def retry(self, problem: Problem, feedback: str) -> list[Message]:
        """The problem again, with what went wrong last time.

        The failed response is not replayed as an assistant turn: small models copy their previous turn
        verbatim (Qwen2.5-Coder-0.5B repeated a failing program 10 times out of 10, even at temperature 0.7).
        The feedback already quotes the failing line. Only the latest failure is given, so context stays bounded.
        """
        return [
            Message(role="system", content=self._render("system")),
            *self._examples(),
            Message(role="user", content=self._render("retry", problem=problem.problem, feedback=feedback)),
        ]


def load_prompt(spec: str = DEFAULT_PROMPT, shots: str | None = None) -> Prompt:
    """A built-in prompt by name, or a Jinja file; with the few-shot examples of a JSONL file."""
    builtin = resources.files(__package__).joinpath("templates", f"{spec}.j2")
    if builtin.is_file():
        text = builtin.read_text(encoding="utf-8")
    else:
        try:
            text = Path(spec).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(
                f"--prompt {spec}: not a built-in prompt ({', '.join(METHOD_PROMPTS.values())}) and not "
                f"a readable file ({exc})"
            ) from None
    prompt = Prompt(name=spec, text=text, shots=tuple(_shots(shots)) if shots else ())
    prompt.check()
    return prompt


def _shots(path: str) -> list[Shot]:
    from ..data.readers import jsonl_rows

    if not Path(path).is_file():
        raise UserError(f"--shots {path}: no such file")
    out = []
    for where, _, row in jsonl_rows(Path(path)):
        if not (isinstance(row, dict) and isinstance(row.get("problem"), str) and isinstance(row.get("program"), str)):
            raise UserError(f"{where}: a few-shot example needs string fields 'problem' and 'program'")
        out.append(Shot(problem=row["problem"], program=row["program"]))
    return out


DEFAULT = load_prompt()


def first_messages(problem: Problem) -> list[Message]:
    """The built-in prompt's first-attempt messages (benchmarks compare raw generation on them)."""
    return DEFAULT.first(problem)
