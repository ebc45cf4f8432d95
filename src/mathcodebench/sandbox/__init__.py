"""Stage: run untrusted model-written programs. Knows nothing of problems, answers or the harness."""

from ..errors import UserError
from .base import Execution, ExecStatus, Limits, Sandbox
from .subproc import SubprocessSandbox

MODES = ("subprocess",)
DEFAULT_MODE = "subprocess"


def create_sandbox(mode: str = DEFAULT_MODE) -> Sandbox:
    if mode == "subprocess":
        return SubprocessSandbox()
    raise UserError(f"unknown sandbox mode {mode!r} (available: {', '.join(MODES)})")


__all__ = ["DEFAULT_MODE", "MODES", "ExecStatus", "Execution", "Limits", "Sandbox", "create_sandbox"]
