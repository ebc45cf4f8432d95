"""Stage: run untrusted model-written programs. Knows nothing of problems, answers or the harness.

Modes: `default` (pre-warmed fork servers; every isolation layer this machine offers, missing ones
reported), `strong` (the same servers inside bubblewrap: minimal read-only filesystem, size-capped
scratch), `strict` (the same, but refuses to start unless every layer is active), `subprocess`
(a fresh interpreter with rlimits only; for comparison).
"""

from ..errors import UserError
from .base import Execution, ExecStatus, Limits, Sandbox, SandboxError
from .forkserver import ForkServerSandbox
from .subproc import SubprocessSandbox

MODES = ("default", "strong", "strict", "subprocess")
DEFAULT_MODE = "default"


def create_sandbox(mode: str = DEFAULT_MODE, workers: int | None = None) -> Sandbox:
    if mode == "default":
        return ForkServerSandbox(workers)
    if mode == "strong":
        return ForkServerSandbox(workers, strong=True)
    if mode == "strict":
        return ForkServerSandbox(workers, strict=True)
    if mode == "subprocess":
        return SubprocessSandbox()
    raise UserError(f"unknown sandbox mode {mode!r} (available: {', '.join(MODES)})")


__all__ = ["DEFAULT_MODE", "MODES", "ExecStatus", "Execution", "Limits", "Sandbox", "SandboxError", "create_sandbox"]
