"""Which uid a confined child runs as, decided once per sandbox.

- `slot`: a separate unprivileged uid per slot and lane (61000 + LANES * slot + lane), so no two children
  alive at once share a uid (RLIMIT_NPROC counts per uid; file ownership separates them).
- `slot+read`: the same, keeping CAP_DAC_READ_SEARCH alone, where the Python installation lives in a directory
  other users cannot read (e.g. a pyenv under a 0700 /root). Landlock still decides what may be read; seccomp
  denies open_by_handle_at, the one call through which that capability would bypass Landlock.
- `own`: the harness is not root, so children keep its (unprivileged) uid.
- `root`: uid 0 without capabilities, only on explicit request (`--sandbox unsafe-root`): it still owns every
  root-owned file and process, and RLIMIT_NPROC does not bind it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from .layers import capabilities

SLOT_UID_BASE = 61000
# Children of one server alive at once, each in its own lane (run directory, uid, cgroups): the one that just
# finished (its address space is still being torn down), the one running, and the next, already confined.
LANES = 3
_CAP_SETGID, _CAP_SETUID, _CAP_SETPCAP = 6, 7, 8
_NEEDED_TO_SWITCH = 1 << _CAP_SETGID | 1 << _CAP_SETUID | 1 << _CAP_SETPCAP


@dataclass(frozen=True)
class Identity:
    kind: str  # slot | slot+read | own | root

    def uid(self, slot: int, lane: int) -> int | None:
        """The child's uid, or None where it keeps the server's."""
        return SLOT_UID_BASE + LANES * slot + lane if self.kind.startswith("slot") else None

    def keep_capabilities(self) -> int:
        return 1 << capabilities.CAP_DAC_READ_SEARCH if self.kind == "slot+read" else 0

    def describe(self, slots: int) -> str:
        if self.kind == "own":
            return f"uid {os.geteuid()} (the harness's own, unprivileged)"
        if self.kind == "root":
            return "uid 0 without capabilities (--sandbox unsafe-root)"
        uids = f"uid {SLOT_UID_BASE}-{SLOT_UID_BASE + LANES * slots - 1} (one per slot and lane)"
        if self.kind == "slot+read":
            return uids + " +CAP_DAC_READ_SEARCH (the Python installation is not readable by other users)"
        return uids


class NoUnprivilegedUid(Exception):
    """Only uid 0 is possible here; the message says why."""


def interpreter_paths() -> list[str]:
    """What a child must be able to read: the interpreter's prefixes and site-packages (not the checkout)."""
    site = [p for p in sys.path if p.endswith(("site-packages", "dist-packages")) and os.path.isdir(p)]
    return sorted({sys.base_prefix, sys.prefix, sys.exec_prefix, *site})


def readable_by_others(path: str) -> bool:
    """True when an unprivileged uid can traverse every directory down to `path` and read it."""
    target = current = os.path.realpath(path)
    while True:
        mode = os.stat(current).st_mode
        if not mode & 0o001 or (current == target and not mode & 0o004):
            return False
        parent = os.path.dirname(current)
        if parent == current:
            return True
        current = parent


def choose(jailed: bool, unsafe_root: bool) -> Identity:
    """The strongest identity available; raise NoUnprivilegedUid where only uid 0 is (unless `unsafe_root`)."""
    if os.geteuid() != 0:
        return Identity("own")
    if unsafe_root:
        return Identity("root")
    have = capabilities.effective()
    if have & _NEEDED_TO_SWITCH != _NEEDED_TO_SWITCH:
        raise NoUnprivilegedUid(
            "this root process lacks CAP_SETUID, CAP_SETGID or CAP_SETPCAP, so programs could only run as uid 0"
        )
    if jailed or all(readable_by_others(p) for p in interpreter_paths()):
        return Identity("slot")  # inside the jail the interpreter's directories are made traversable
    if have & 1 << capabilities.CAP_DAC_READ_SEARCH:
        return Identity("slot+read")
    raise NoUnprivilegedUid(
        "the Python installation is not readable by other users and this process lacks "
        "CAP_DAC_READ_SEARCH, so programs could only run as uid 0"
    )
