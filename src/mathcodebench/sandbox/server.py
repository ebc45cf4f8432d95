"""The fork server: a separate, single-threaded process that holds nothing of the harness.

It pre-imports the usual math modules and builds every isolation layer once, then forks its zygote (the
pristine process every child is forked from: `zygote.py`). It always holds one pre-forked child that has
already confined itself (`child.py`), so a request costs handing over the code, running it and collecting the
result. Right after the handover it asks for the next child, which confines itself while the program runs. The
two alternate between two run directories, uids and cgroups (parity 0 and 1). The reply goes out before the
finished child's run directory is wiped; a directory that cannot be wiped ends the server (the harness replaces
it with a fresh one).

Run as `python -I -m mathcodebench.sandbox.server CONFIG_JSON` with a clean environment; it speaks `protocol`
on its stdin/stdout.
"""

from __future__ import annotations

import os
import select
import stat
import sys
import time

from pydantic import BaseModel

# Everything a child calls after lockdown is imported here, before any fork: a locked-down child may no
# longer be able to read the package's files.
from . import child, protocol, scratch
from .base import ExecStatus, Limits
from .cgroups import ChildCgroup
from .classify import classify
from .collect import collect
from .identity import Identity, interpreter_paths
from .jail import NAMESPACES
from .layers import landlock
from .rlimits import MAX_PROCESSES
from .runner import seed_numpy
from .zygote import Spawned, Zygote

PREIMPORT = (
    "math cmath fractions decimal itertools functools collections statistics random re heapq bisect string "
    "operator numbers datetime calendar copy json typing dataclasses enum time array struct textwrap "
    "numpy sympy sympy.stats sympy.geometry sympy.combinatorics sympy.ntheory sympy.solvers.diophantine "
    "sympy.physics.units sympy.logic sympy.sets mpmath"
).split()
READY_TIMEOUT_S = 10.0
WIPE_TIMEOUT_S = 5.0
QUOTA_POLL_S = 0.01
QUOTA_MAX_ENTRIES = 10_000
QUOTA_MAX_DEPTH = 128
READ_PATHS = ("/usr", "/lib", "/lib64", "/bin", "/etc/ld.so.cache", "/etc/localtime", "/dev/null", "/dev/zero",
              "/dev/urandom", "/proc/cpuinfo", "/proc/meminfo", "/sys/devices/system/cpu")


class ServerConfig(BaseModel):
    slot: int
    slots: int
    scratch: str  # where the two run directories are made (the jail's tmpfs, or a host directory)
    jailed: bool
    identity: str
    cgroups: dict[str, str] = {}  # controller -> this server's cgroup directory (holding c0 and c1)
    disk_quota_mb: int


def _preimport() -> list[str]:
    import importlib

    missing = []
    for name in PREIMPORT:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


def _deleted_open_files(pid: int, device: int) -> int:
    """Bytes in files on `device` that the child holds open after deleting them (a directory walk misses them)."""
    total, seen = 0, set()
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return 0
    for name in names:
        try:
            st = os.stat(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_nlink == 0 and st.st_dev == device and st.st_ino not in seen:
            seen.add(st.st_ino)
            total += st.st_blocks * 512
    return total


class Server:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        identity = Identity(config.identity)
        self.layers = [("fork server: children forked from a zygote that never sees a program, each confined "
                        "before its program arrives"),
                       "session, empty stdin, output capped per stream",
                       "rlimits: cpu, address space, file size, open files, processes; no core, memlock, rt-priority"]
        self.missing: list[str] = []
        quota = f"{config.disk_quota_mb} MB"
        if config.jailed:
            self.layers += [f"bubblewrap jail: {NAMESPACES}; read-only minimal filesystem",
                            f"scratch on a {quota} tmpfs (total disk quota; gone with the jail)"]
        else:
            self.layers.append(f"disk quota {quota} and {QUOTA_MAX_ENTRIES} entries, measured every "
                               f"{QUOTA_POLL_S * 1000:.0f} ms (run directory and files held open)")
            self.missing.append("bubblewrap jail (host mode): programs see the host's processes and filesystem, "
                                "as far as seccomp and Landlock let them")
        self.layers.append(identity.describe(config.slots))
        if identity.kind == "root":
            self.missing.append("unprivileged uid (waived with --sandbox unsafe-root)")
        self.workdirs = [os.path.join(config.scratch, f"run{parity}") for parity in (0, 1)]
        uids = [identity.uid(config.slot, parity) for parity in (0, 1)]
        for workdir, uid in zip(self.workdirs, uids):
            os.mkdir(workdir, 0o700)
            if uid is not None:
                os.chown(workdir, uid, uid)
        self.quota_bytes = config.disk_quota_mb << 20
        self.cgroups = self._cgroups(identity)
        rulesets = self._landlock()
        seccomp = self._seccomp(allow_memfd=self.cgroups[0] is not None and self.cgroups[0].bounds_memory)
        self.confinements = [
            child.Confinement(workdir=self.workdirs[p], uid=uids[p], keep_capabilities=identity.keep_capabilities(),
                              drop_capabilities=identity.kind == "root", ruleset_fd=rulesets[p], seccomp=seccomp,
                              cgroup=self.cgroups[p])
            for p in (0, 1)]

    def _cgroups(self, identity: Identity) -> list[ChildCgroup | None]:
        if not self.config.cgroups:
            if identity.kind == "root":
                self.missing.append("task bound for uid 0 (no pids cgroup: RLIMIT_NPROC does not bind root)")
            return [None, None]
        cgroups: list[ChildCgroup | None] = [ChildCgroup(self.config.cgroups, parity, MAX_PROCESSES)
                                             for parity in (0, 1)]
        if "memory" in self.config.cgroups:
            self.layers.append("memory cgroup per child: anonymous, memfd, tmpfs and shm pages; true peak")
        if "pids" in self.config.cgroups:
            self.layers.append(f"pids cgroup per child: {MAX_PROCESSES} tasks, any uid")
        elif identity.kind == "root":
            self.missing.append("task bound for uid 0 (no pids cgroup: RLIMIT_NPROC does not bind root)")
        return cgroups

    def _landlock(self) -> list[int | None]:
        read_paths = [*interpreter_paths(), *READ_PATHS]
        try:
            built = [landlock.build_ruleset(read_paths, [workdir]) for workdir in self.workdirs]
        except OSError as exc:
            self.missing.append(f"landlock ({exc})")
            return [None, None]
        abi = landlock.abi_version()
        self.layers.append(f"landlock abi {abi}: " + ", ".join(built[0][1]))
        self.missing += [f"landlock: {feature}" for feature in landlock.missing_features(abi)]
        return [fd for fd, _ in built]

    def _seccomp(self, allow_memfd: bool):
        try:
            from .layers.seccomp import LAST_REVIEWED, CompiledFilter

            compiled = CompiledFilter(allow_memfd)
        except (ImportError, OSError, RuntimeError) as exc:
            self.missing.append(f"seccomp ({exc})")
            return None
        self.layers.append("seccomp: no new processes or programs, no sockets (a connected unix pair only), no "
                           "SysV IPC or mqueues, no metadata changes, no inotify/fanotify/dnotify, no calls on other "
                           "processes, no namespaces or mounts" + ("" if allow_memfd else ", no memfd") +
                           f"; syscalls newer than {LAST_REVIEWED} fail")
        return compiled

    def start(self) -> None:
        """Fork the zygote (nothing of any program is in memory yet) and ask it for the first child."""
        self.zygote = Zygote(self.confinements)
        self.parity = 0
        self.zygote.spawn(self.parity)

    @staticmethod
    def _ready(c: Spawned) -> str | None:
        """None once the child says it is confined; else why it is not."""
        ready, _, _ = select.select([c.status], [], [], READY_TIMEOUT_S)
        if not ready:
            return f"the pre-forked child did not confine itself within {READY_TIMEOUT_S} s"
        said = os.read(c.status, 4096)
        if said != child.READY:
            return said.decode("utf-8", "replace") or "the pre-forked child exited during setup"
        try:
            c.pidfd = os.pidfd_open(c.pid)  # now, while it waits for its program: the zygote reaps it at exit
        except ProcessLookupError:
            return "the pre-forked child exited after setup"
        return None

    def _ready_child(self) -> Spawned | str:
        """The pre-forked child, or a fresh one if it is not usable; a string says why neither is."""
        c = self.zygote.take(self.parity)
        why = self._ready(c)
        if why is not None:
            self.zygote.abandon(c)
            self.zygote.spawn(self.parity)
            c = self.zygote.take(self.parity)
            why = self._ready(c)
            if why is not None:
                self.zygote.abandon(c)
                return why
        return c

    def _reap(self, pid: int) -> tuple[int, int, float]:
        done = self.zygote.reap(pid)
        return done.status, done.maxrss_kb, done.cpu_s

    def handle(self, request: dict) -> tuple[dict, int | None]:
        """Run one program; return (reply, parity of the run directory to wipe after replying)."""
        limits = Limits.model_validate(request["limits"])
        c = self._ready_child()
        if isinstance(c, str):
            return {"error": c}, None
        cgroup = self.cgroups[c.parity]
        if cgroup is not None:
            cgroup.arm(limits.memory_mb << 20)
        try:
            protocol.write_all(c.request, child.encode_request(request["code"], limits))
        except OSError as exc:
            self.zygote.abandon(c)
            return {"error": f"the pre-forked child did not take its program: {exc}"}, None
        os.close(c.request)
        c.request = -1
        started = time.monotonic()
        self.parity = 1 - c.parity
        self.zygote.spawn(self.parity)  # the next child confines itself while this program runs
        workdir = self.workdirs[c.parity]
        watch = None if self.config.jailed else (lambda: self._over_quota(c.pid, workdir))
        try:
            got = collect(c.pid, c.stdout, c.stderr, limits.timeout_s, limits.output_bytes, started,
                          watch=watch, watch_every_s=QUOTA_POLL_S, reap=self._reap, pidfd=c.pidfd)
        finally:
            c.close()
        peak, oom_killed = cgroup.outcome() if cgroup is not None else (None, False)
        if cgroup is not None and cgroup.tasks() > 0:
            return {"error": "a task outlived its program"}, None  # cannot happen without fork; end the server
        stderr = got.stderr.decode("utf-8", "replace")
        if os.waitstatus_to_exitcode(got.wait_status) == child.SETUP_FAILED and stderr.startswith(
                "sandbox setup failed"):
            return {"error": stderr.strip()}, c.parity
        status, exit_code, sig = classify(got, stderr, oom_killed)
        if got.stopped:
            status = ExecStatus.ERROR
            stderr += (f"OSError: [Errno 28] No space left on device: the sandbox's disk quota "
                       f"({self.config.disk_quota_mb} MB, {QUOTA_MAX_ENTRIES} entries) is used up\n")
        if peak is None:
            peak = max(0.0, (got.rusage_maxrss_kb - c.rss_kb) / 1024)
        return {"status": status.value, "exit_code": exit_code, "signal": sig,
                "stdout": got.stdout.decode("utf-8", "replace"), "stderr": stderr, "truncated": got.truncated,
                "wall_s": got.wall_s, "cpu_s": got.cpu_s, "peak_memory_mb": peak}, c.parity

    def _over_quota(self, pid: int, workdir: str) -> bool:
        measured = scratch.usage(workdir, QUOTA_MAX_ENTRIES, QUOTA_MAX_DEPTH)
        if measured is None:
            return True
        return measured[0] + _deleted_open_files(pid, os.stat(workdir).st_dev) > self.quota_bytes

    def wipe(self, parity: int) -> None:
        scratch.clear(self.workdirs[parity], timeout_s=WIPE_TIMEOUT_S)


def main() -> None:
    import gc

    config = ServerConfig.model_validate_json(sys.argv[1])
    os.environ.pop("PWD", None)  # bwrap sets it after --chdir; children get exactly the harness's clean set
    # Protocol on private descriptors; 0/1 go to /dev/null so nothing reaches the pipes by accident.
    rx, tx = os.dup(0), os.dup(1)
    devnull = os.open("/dev/null", os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    missing_modules = _preimport()
    server = Server(config)
    seed_numpy()
    gc.freeze()  # children share the pre-imported heap copy-on-write
    server.start()
    protocol.send(tx, {"ready": True, "layers": server.layers, "missing": server.missing,
                       "missing_modules": missing_modules})
    try:
        while True:
            try:
                request = protocol.receive(rx)
            except EOFError:
                return
            reply, parity = server.handle(request)
            protocol.send(tx, reply)  # before wiping: the harness has its result now
            if "error" in reply or parity is None:
                sys.exit(f"sandbox server {config.slot}: {reply.get('error')}")
            try:
                server.wipe(parity)
            except scratch.CleanupError as exc:
                sys.exit(f"sandbox server {config.slot}: {exc}")
    finally:
        server.zygote.close()


if __name__ == "__main__":
    main()
