"""What a sandbox is asked to do and what it reports. It knows nothing of problems or answers."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel


class ExecStatus(StrEnum):
    OK = "ok"
    ERROR = "error"  # non-zero exit, e.g. an uncaught exception
    TIMEOUT = "timeout"  # wall-clock or CPU limit
    MEMORY = "memory"  # MemoryError under the address-space limit
    OUTPUT_LIMIT = "output-limit"
    KILLED = "killed"  # SIGKILL that the sandbox did not send
    CRASH = "crash"  # any other fatal signal (SIGSEGV, SIGABRT, ...)


class Limits(BaseModel):
    timeout_s: float = 10.0
    memory_mb: int = 2048
    output_bytes: int = 1 << 20
    file_size_mb: int = 64
    open_files: int = 64


class Execution(BaseModel):
    status: ExecStatus
    exit_code: int | None  # None when ended by a signal
    signal: int | None
    stdout: str
    stderr: str
    truncated: bool
    wall_s: float
    cpu_s: float
    peak_memory_mb: float
    layers: list[str]


class SandboxSession(Protocol):
    """One child held for a sequence of code blocks that share their state (tool-integrated reasoning): a later
    block sees the variables, imports and files of earlier ones; `random` is seeded once, when it opens.

    Each block gets the session's time limit (wall clock, and as much CPU time as a program), its own output
    (capped per stream), wall and CPU time; memory (the limit, and the peak reported) is the child's, for the
    whole session. Between blocks the child is stopped: nothing it started runs while no block does. An
    uncaught exception is an `error` block (its traceback names "block<n>.py") and the session goes on; any
    other status but `ok` (a time, memory or output limit, a crash, a kill), or SystemExit, ends the child, and
    every later block returns an `error` Execution saying that the session ended (it did not run).

    Infrastructure failures raise SandboxError: opening is retried once on a fresh server like `Sandbox.run`, but
    a block never is (the session's state was in the child that is lost), so that block and every later one
    raise. `close` ends the child and leaves nothing of it behind (processes, files) by the time it returns; it
    may be called twice, and after the child died."""

    def run(self, code: str) -> Execution: ...

    def close(self) -> None: ...


class ProbeResult(BaseModel):
    """One self-test probe: a hostile action the sandbox must contain, and what happened."""

    name: str
    passed: bool
    seen: str


class Isolation(BaseModel):
    """What protected a run's programs: stored with every run and shown in its reports."""

    requested: str  # the mode asked for
    mode: str  # the mode it resolved to
    reason: str  # one line: why this mode
    layers: list[str]  # active for every execution
    missing: list[str]  # could not be had here, each with its reason
    node: str  # the machine (hostname) the sandbox runs on
    self_test: list[ProbeResult]

    @property
    def passed(self) -> bool:
        return all(probe.passed for probe in self.self_test)


class SandboxError(Exception):
    """The sandbox itself failed (a server died, stopped answering or could not be replaced, even after one
    retry on a fresh server): an infrastructure failure, never the program's fault."""


class Sandbox(Protocol):
    """Runs one untrusted Python program and reports what happened; never raises for the program's faults
    (only `SandboxError`, for its own)."""

    name: str  # the mode in use (what `requested` resolved to)
    requested: str  # the mode asked for
    reason: str  # one line: why this mode
    layers: list[str]  # isolation layers active for every run
    missing: list[str]  # layers that could not be had here, each with its reason

    def run(self, code: str, limits: Limits) -> Execution: ...

    def session(self, limits: Limits) -> SandboxSession:
        """A child held for several code blocks sharing state (with the same isolation as `run`)."""
        ...

    def isolation(self) -> Isolation:
        """The layers and a fresh self-test (well under a second): call it at the start of every run."""

    def close(self) -> None: ...
