"""Stage: run untrusted model-written programs. Knows nothing of problems, answers or the harness.

Modes:
- `default`: `strong` wherever the jail can start (root, or unprivileged user namespaces); elsewhere `host`,
  but only with an unprivileged uid: where only uid 0 is possible it refuses and names `unsafe-root`.
- `strong`: pre-warmed fork servers inside a bubblewrap jail (PID, IPC, network, UTS, mount namespaces; a
  read-only minimal filesystem; a size-capped scratch tmpfs), every per-child layer inside it.
- `host`: the same fork servers on the host, with an unprivileged uid, Landlock, seccomp, cgroups where
  available and a measured disk quota; refuses where only uid 0 is possible.
- `unsafe-root`: `host`, but children run as uid 0 without capabilities (explicit opt-in).
- `strict`: the jail with every layer active, or refuse.
- `subprocess`: a fresh interpreter with rlimits only; a comparison baseline.
"""

import os

from ..errors import UserError
from .base import (
    ExecStatus,
    Execution,
    Isolation,
    Limits,
    ProbeResult,
    Sandbox,
    SandboxError,
    SandboxSession,
)
from .forkserver import ForkServerSandbox, ServerFailure
from .identity import NoUnprivilegedUid, choose
from .subproc import SubprocessSandbox

MODES = ("default", "strong", "host", "unsafe-root", "strict", "subprocess")
DEFAULT_MODE = "default"
_UNSAFE_HINT = "--sandbox unsafe-root runs programs as uid 0 without capabilities, if you accept that"


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _jail(workers: int | None, requested: str) -> ForkServerSandbox:
    return ForkServerSandbox(
        workers,
        name="strict" if requested == "strict" else "strong",
        requested=requested,
        reason="bubblewrap jail started",
        identity=choose(jailed=True, unsafe_root=False),
        jailed=True,
    )


def _host(workers: int | None, requested: str, why: str, unsafe_root: bool = False) -> ForkServerSandbox:
    identity = choose(jailed=False, unsafe_root=unsafe_root)
    slots = workers or os.cpu_count() or 1
    return ForkServerSandbox(
        slots,
        name="unsafe-root" if unsafe_root else "host",
        requested=requested,
        reason=f"{why}: host mode with {identity.describe(slots)}",
        identity=identity,
        jailed=False,
    )


def create_sandbox(mode: str = DEFAULT_MODE, workers: int | None = None) -> Sandbox:
    """Start the sandbox for `mode`; UserError (one line) where that mode cannot be had here."""
    if mode == "subprocess":
        return SubprocessSandbox()
    if mode not in MODES:
        raise UserError(f"unknown sandbox mode {mode!r} (available: {', '.join(MODES)})")
    try:
        if mode in ("default", "strong", "strict"):
            try:
                box = _jail(workers, mode)
            except ServerFailure as exc:
                why = f"the bubblewrap jail cannot start here: {_one_line(exc)}"
                if mode != "default":
                    raise UserError(f"--sandbox {mode}: {why}") from None
                try:
                    return _host(workers, mode, f"jail unavailable ({_one_line(exc)})")
                except NoUnprivilegedUid as no_uid:
                    raise UserError(f"--sandbox default: {why}, and {no_uid}; {_UNSAFE_HINT}") from None
            if mode == "strict" and box.missing:
                box.close()
                raise UserError("--sandbox strict: isolation layers unavailable here: " + "; ".join(box.missing))
            return box
        if mode == "host":
            return _host(workers, mode, "requested")
        return _host(workers, mode, "requested", unsafe_root=True)
    except NoUnprivilegedUid as exc:
        raise UserError(f"--sandbox {mode}: {exc}; {_UNSAFE_HINT}") from None
    except ServerFailure as exc:
        raise UserError(f"--sandbox {mode}: the sandbox cannot start here: {_one_line(exc)}") from None


__all__ = [
    "DEFAULT_MODE",
    "MODES",
    "ExecStatus",
    "Execution",
    "Isolation",
    "Limits",
    "ProbeResult",
    "Sandbox",
    "SandboxError",
    "SandboxSession",
    "create_sandbox",
]
