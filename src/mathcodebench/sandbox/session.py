"""What every mode's session shares on the harness side: block numbering, what a block after the session's end
says, and close() that is safe to call twice and after the child died.

A session is never replayed: its blocks have built state that a fresh child would not have. So an
infrastructure failure during a block (its server died, stopped answering or broke the protocol) raises
SandboxError for that block and for every later one, while opening a session is retried once on a fresh server,
like a program.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from .base import ExecStatus, Execution, SandboxError


def ended_execution(why: str, layers: list[str]) -> Execution:
    """What a block sent after its session ended reports: it did not run."""
    return Execution(
        status=ExecStatus.ERROR,
        exit_code=None,
        signal=None,
        stdout="",
        stderr=f"SessionEnded: {why}; this block did not run\n",
        truncated=False,
        wall_s=0.0,
        cpu_s=0.0,
        peak_memory_mb=0.0,
        layers=list(layers),
    )


class HeldSession(ABC):
    """A `SandboxSession` over one held child; subclasses run a block (`_block`) and give the child back."""

    def __init__(self, layers: list[str]) -> None:
        self.layers = layers
        self._blocks = 0
        self._ended: str | None = None  # why no block can run any more: the child is gone
        self._lost: str | None = None  # the infrastructure failure that took the session's state
        self._closed = False

    def run(self, code: str) -> Execution:
        if self._closed:
            raise SandboxError("the sandbox session is closed")
        if self._lost is not None:
            raise SandboxError(self._lost)
        if self._ended is not None:
            return ended_execution(self._ended, self.layers)
        self._blocks += 1
        try:
            execution, ended = self._block(code)
        except SandboxError as exc:
            self._lost = f"the session was lost at block {self._blocks} ({exc})"
            raise
        if ended:
            self._ended = f"block {self._blocks} ended the session ({execution.status.value})"
        return execution

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._release()

    @abstractmethod
    def _block(self, code: str) -> tuple[Execution, bool]:
        """Run one block: (its execution, whether it ended the session). SandboxError for the sandbox's faults."""

    @abstractmethod
    def _release(self) -> None:
        """End the child if it still lives, leave nothing of it behind, and give back what the session held."""
