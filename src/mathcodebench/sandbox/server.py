"""The fork server: a separate, single-threaded process that holds nothing of the harness.

It pre-imports the usual math modules, builds every isolation layer once, then for each request forks a
child that locks itself down (session, rlimits, uid, Landlock, seccomp) and runs the program in a fresh
`__main__`. Fork children start in ~1 ms with sympy already loaded, instead of ~300 ms for a fresh interpreter.

Run as `python -I -m mathcodebench.sandbox.server SLOT SCRATCH_BASE` with a clean environment; it speaks
`protocol` on its stdin/stdout.
"""

from __future__ import annotations

import os
import sys

# Everything a child calls after lockdown is imported here, before any fork: a locked-down child may no
# longer be able to read the package's files.
from . import rlimits
from .layers import capabilities, landlock
from .layers._libc import CLONE_NEWNET, PR_SET_CHILD_SUBREAPER, prctl, unshare
from .runner import run_program, seed_numpy

PREIMPORT = (
    "math cmath fractions decimal itertools functools collections statistics random re heapq bisect string "
    "operator numbers datetime calendar copy json typing dataclasses enum time array struct textwrap "
    "numpy sympy sympy.stats sympy.geometry sympy.combinatorics sympy.ntheory sympy.solvers.diophantine "
    "sympy.physics.units sympy.logic sympy.sets mpmath"
).split()
SLOT_UID_BASE = 61000


def _preimport() -> list[str]:
    import importlib

    missing = []
    for name in PREIMPORT:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


def _readable_by_others(path: str) -> bool:
    """True when an unprivileged uid can traverse every directory down to `path` and read it."""
    current = os.path.realpath(path)
    while True:
        mode = os.stat(current).st_mode
        if not mode & 0o001 or (current == os.path.realpath(path) and not mode & 0o004):
            return False
        parent = os.path.dirname(current)
        if parent == current:
            return True
        current = parent


class Server:
    def __init__(self, slot: int, scratch_base: str, jailed: bool = False) -> None:
        self.slot = slot
        self.scratch = os.path.join(scratch_base, f"slot{slot}")
        self.layers: list[str] = ["session", "rlimits", "scratch-dir", "clean-env", "fork-server"]
        if jailed:
            self.layers.append("bwrap(ro-fs,pid,net,ipc,uts,tmpfs-scratch)")
        self.missing: list[str] = []
        self.is_root = os.geteuid() == 0
        self.uid: int | None = None
        os.makedirs(self.scratch, mode=0o700, exist_ok=True)
        prctl(PR_SET_CHILD_SUBREAPER, 1)

        interpreter_paths = sorted({sys.base_prefix, sys.prefix, sys.exec_prefix, *self._site_dirs()})
        if self.is_root:
            if all(_readable_by_others(p) for p in interpreter_paths):
                self.uid = SLOT_UID_BASE + slot
                os.chown(self.scratch, self.uid, self.uid)
                self.layers.append(f"uid {self.uid}")
            else:
                self.missing.append("uid (the Python installation is not readable by other users)")
                self.layers.append("no-capabilities")
            if jailed:
                self.layers.append("netns")  # bwrap's
            else:
                try:
                    unshare(CLONE_NEWNET)
                    self.layers.append("netns")
                except OSError as exc:
                    self.missing.append(f"netns ({exc.strerror})")
        else:
            self.missing.append("uid (needs root)")
            self.missing.append("netns (needs root)")

        read_paths = [*interpreter_paths, "/usr", "/lib", "/lib64", "/bin", "/etc/ld.so.cache", "/etc/localtime",
                      "/dev/null", "/dev/zero", "/dev/urandom", "/proc/cpuinfo", "/proc/meminfo",
                      "/sys/devices/system/cpu"]
        self.ruleset_fd: int | None = None
        try:
            self.ruleset_fd, features = landlock.build_ruleset(read_paths, [self.scratch])
            self.layers.append("landlock(" + ",".join(features) + ")")
        except OSError as exc:
            self.missing.append(f"landlock ({exc})")
        self.seccomp = None
        try:
            from .layers.seccomp import CompiledFilter

            self.seccomp = CompiledFilter()
            self.layers.append("seccomp")
        except (ImportError, OSError, RuntimeError) as exc:
            self.missing.append(f"seccomp ({exc})")

    @staticmethod
    def _site_dirs() -> list[str]:
        """site-packages only: the child must not read the project checkout (an editable install's src)."""
        return [p for p in sys.path if p.endswith(("site-packages", "dist-packages")) and os.path.isdir(p)]

    def run(self, code: str, limits: dict) -> dict:
        import shutil
        import time

        from .base import Execution, Limits
        from .classify import classify
        from .collect import collect

        lim = Limits.model_validate(limits)
        workdir = os.path.join(self.scratch, "run")
        os.mkdir(workdir, 0o700)
        if self.uid is not None:
            os.chown(workdir, self.uid, self.uid)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        rss_before = _rss_kb()
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:  # child: never returns
            os.close(out_r)
            os.close(err_r)
            _child(self, code, lim, workdir, out_w, err_w)
        os.close(out_w)
        os.close(err_w)
        try:
            got = collect(pid, out_r, err_r, lim.timeout_s, lim.output_bytes, started)
        finally:
            os.close(out_r)
            os.close(err_r)
            shutil.rmtree(workdir, ignore_errors=True)
        stderr = got.stderr.decode("utf-8", "replace")
        status, exit_code, sig = classify(got, stderr)
        return Execution(
            status=status, exit_code=exit_code, signal=sig, stdout=got.stdout.decode("utf-8", "replace"),
            stderr=stderr, truncated=got.truncated, wall_s=got.wall_s, cpu_s=got.cpu_s,
            peak_memory_mb=max(0.0, (got.rusage_maxrss_kb - rss_before) / 1024), layers=list(self.layers),
        ).model_dump(mode="json")


def _rss_kb() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _child(server: Server, code: str, limits, workdir: str, out_w: int, err_w: int) -> None:
    """Lock down, then run the program. Any failure to lock down kills the child before user code runs."""
    try:
        os.setsid()
        devnull = os.open("/dev/null", os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        if server.ruleset_fd is None:
            os.closerange(3, 1 << 16)
        else:
            os.closerange(3, server.ruleset_fd)
            os.closerange(server.ruleset_fd + 1, 1 << 16)
        os.chdir(workdir)
        rlimits.apply(limits)
        if server.uid is not None:
            os.setgroups([])
            os.setresgid(server.uid, server.uid, server.uid)
            os.setresuid(server.uid, server.uid, server.uid)  # clears every capability too
        elif server.is_root:
            capabilities.drop_all()
        if server.ruleset_fd is not None:
            landlock.restrict_self(server.ruleset_fd)
            os.close(server.ruleset_fd)
        if server.seccomp is not None:
            server.seccomp.apply()
    except BaseException as exc:  # never run user code half-isolated
        os.write(2, f"sandbox setup failed: {exc!r}\n".encode())
        os._exit(121)
    run_program(code)


def main() -> None:
    from . import protocol

    slot, scratch_base = int(sys.argv[1]), sys.argv[2]
    os.environ.pop("PWD", None)  # bwrap sets it after --chdir; children get exactly the harness's clean set
    # Protocol on private descriptors; 0/1 go to /dev/null so nothing reaches the pipes by accident.
    rx, tx = os.dup(0), os.dup(1)
    devnull = os.open("/dev/null", os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    missing_modules = _preimport()
    import gc

    server = Server(slot, scratch_base, jailed="--jailed" in sys.argv[3:])
    seed_numpy()
    gc.freeze()  # children share the pre-imported heap copy-on-write
    protocol.send(tx, {"ready": True, "layers": server.layers, "missing": server.missing,
                       "missing_modules": missing_modules})
    while True:
        try:
            request = protocol.receive(rx)
        except EOFError:
            return
        protocol.send(tx, server.run(request["code"], request["limits"]))


if __name__ == "__main__":
    main()
