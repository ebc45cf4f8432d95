"""Capabilities of a confined child: none at all, or exactly one that it needs to read the interpreter.

No-new-privileges is set before either (by the child's zygote, `child.settle`, and inherited): no later execve
(denied anyway) could gain a capability, so the bounding and ambient sets need no separate dropping.

`drop_all` is for a child that stays uid 0 (`--sandbox unsafe-root`): it cannot raise its own rlimits
(CAP_SYS_RESOURCE), override file permissions, signal other users' processes, or load anything.
`become(uid, keep)` drops to an unprivileged uid and keeps only the capabilities in `keep` (e.g.
CAP_DAC_READ_SEARCH where the Python installation lives in a directory other users cannot read).
"""

from __future__ import annotations

import ctypes
import os

from ._libc import check, libc, prctl

CAP_DAC_READ_SEARCH = 2
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
PR_SET_KEEPCAPS = 8


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def effective() -> int:
    """This process's effective capability set as a bit mask."""
    header = _Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_Data * 2)()
    check(libc.capget(ctypes.byref(header), ctypes.byref(data)), "capget")
    return int(data[0].effective | data[1].effective << 32)


def _capset(mask: int) -> None:
    header = _Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_Data * 2)()
    for i in range(2):
        part = (mask >> (32 * i)) & 0xFFFFFFFF
        data[i].effective = data[i].permitted = part
    check(libc.capset(ctypes.byref(header), ctypes.byref(data)), "capset")


def drop_all() -> None:
    _capset(0)


def become(uid: int, keep: int = 0) -> None:
    """Switch every uid and gid to `uid`, no supplementary groups, and keep only the capabilities in `keep`."""
    if keep:
        prctl(PR_SET_KEEPCAPS, 1)
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)  # clears the effective set (and, without KEEPCAPS, the permitted one)
    if keep:
        _capset(keep)
        prctl(PR_SET_KEEPCAPS, 0)
