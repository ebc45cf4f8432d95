"""What a person watching a run sees: per model, problems (or samples, with --samples) done of all, correct so
far, attempts and tokens per second, and an estimate of the time left. A terminal gets a live line; anything else
(CI, a log file, nohup) gets one plain line every `EVERY` problems (every tenth of a small run) and at the end,
never nothing for hours."""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from .solve import counted_attempts
from .work import Done, Outcome

EVERY = 10


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return (
        f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"
    )


class RunProgress:
    """Use as the run's `on_problem` callback, inside `with`."""

    def __init__(self, console: Console, label: str, total: int, done: int, correct: int) -> None:
        self.console, self.label, self.total = console, label, total
        self.done, self.correct, self.start_done = done, correct, done
        self.attempts = self.tokens = self.missing = 0
        self.started = time.monotonic()
        self.live: Progress | None = None
        self._task = TaskID(0)

    def __enter__(self) -> RunProgress:
        if self.console.is_terminal:
            self.live = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[stats]}"),
                TimeElapsedColumn(),
                console=self.console,
            )
            self.live.start()
            self._task = self.live.add_task(self.label, total=self.total, completed=self.done, stats=self.stats())
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.live is not None:
            self.live.stop()
        elif self.done > self.start_done:
            self.console.print(self.line(), highlight=False, soft_wrap=True)

    def __call__(self, done: Done) -> None:
        self.done += 1
        self.correct += done.outcome == Outcome.CORRECT
        self.missing += done.outcome in (Outcome.NOT_ATTEMPTED, Outcome.UNGRADED)
        self.attempts += len(counted_attempts(done.attempts))
        self.tokens += sum(a.completion_tokens for a in done.attempts)
        if self.live is not None:
            self.live.update(self._task, completed=self.done, stats=self.stats())
        elif (self.done - self.start_done) % max(1, min(EVERY, self.total // 10)) == 0:
            self.console.print(self.line(), highlight=False, soft_wrap=True)

    def stats(self) -> str:
        elapsed = max(1e-9, time.monotonic() - self.started)
        this_session = self.done - self.start_done
        parts = [f"correct {self.correct}/{self.done}"]
        if self.missing:
            parts.append(f"{self.missing} not attempted or graded")
        parts += [f"{self.attempts / elapsed:.2f} attempts/s", f"{self.tokens / elapsed:.1f} tok/s"]
        if this_session:
            parts.append("ETA " + _duration(elapsed / this_session * (self.total - self.done)))
        return ", ".join(parts)

    def line(self) -> str:
        return f"{self.label}: {self.done}/{self.total} done, {self.stats()}"
