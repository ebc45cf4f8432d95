"""Landlock: the child may read the interpreter and system libraries, write only its scratch dir,
make no TCP connections or binds, and signal nothing outside its own domain (even as root).

The ruleset is built once in the fork server; each child only calls `restrict_self` (one syscall).
"""

from __future__ import annotations

import ctypes
import os

from ._libc import check, libc

_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR = 1, 2, 4, 8
_TRUNCATE, _IOCTL_DEV = 1 << 14, 1 << 15
_READ = _EXECUTE | _READ_FILE | _READ_DIR
_NET_ALL = 0b11  # bind + connect TCP
_SCOPE_ALL = 0b11  # abstract unix sockets + signals


# What each ABI adds, as reported in the layer list (a feature the kernel lacks is reported missing).
FEATURES = (
    ("read-only system and interpreter, write only the run directory", 1),
    ("truncate", 3),
    ("no tcp bind or connect", 4),
    ("device ioctls", 5),
    ("signals and abstract unix sockets scoped", 6),
)


def missing_features(abi: int) -> list[str]:
    return [
        f"{feature} (needs Landlock ABI {since}, this kernel has {abi})" for feature, since in FEATURES if abi < since
    ]


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def abi_version() -> int:
    """0 when the kernel has no Landlock."""
    version = libc.syscall(_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    return max(int(version), 0)


def _fs_all(abi: int) -> int:
    bits = 13 if abi == 1 else 14 if abi == 2 else 15 if abi <= 4 else 16
    return (1 << bits) - 1


def build_ruleset(read_paths: list[str], write_paths: list[str]) -> tuple[int, list[str]]:
    """Return (ruleset fd, features) for the given paths; raise OSError when Landlock is unavailable."""
    abi = abi_version()
    if abi < 1:
        raise OSError("Landlock is not supported by this kernel")
    fs_all = _fs_all(abi)
    attr = _RulesetAttr(fs_all, _NET_ALL if abi >= 4 else 0, _SCOPE_ALL if abi >= 6 else 0)
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    fd = check(
        libc.syscall(_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0)),
        "landlock_create_ruleset",
    )
    file_rights = _EXECUTE | _WRITE_FILE | _READ_FILE | _TRUNCATE | _IOCTL_DEV
    for paths, access in ((read_paths, _READ), (write_paths, fs_all)):
        for path in paths:
            if not os.path.exists(path):
                continue
            access_here = access if os.path.isdir(path) else access & file_rights & fs_all
            pfd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            try:
                rule = _PathBeneath(access_here, pfd)
                check(libc.syscall(_ADD_RULE, fd, _RULE_PATH_BENEATH, ctypes.byref(rule), 0), f"landlock rule {path}")
            finally:
                os.close(pfd)
    return fd, [feature for feature, since in FEATURES if abi >= since]


def restrict_self(ruleset_fd: int) -> None:
    """Needs no-new-privileges set (or CAP_SYS_ADMIN): a fork-server child inherits it from its zygote."""
    check(libc.syscall(_RESTRICT_SELF, ruleset_fd, 0), "landlock_restrict_self")
