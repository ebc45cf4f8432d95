"""The fork server: a separate, single-threaded process that holds nothing of the harness.

It pre-imports the usual math modules and builds every isolation layer once, then forks its zygotes (one per lane,
the pristine processes every child is forked from: `zygote.py`). It always holds one pre-forked child that has
already confined itself (`child.py`), so a request costs handing over the code, running it and collecting the
result. Right after the handover it asks for the next child, which confines itself while the program runs.

Children rotate over LANES lanes (run directory, uid, cgroups): the pre-forked one, the running one, and the
one that ran before, whose address space the kernel is still tearing down. Where the lane's cgroups measure
memory and CPU, the reply goes out as soon as the program is done (`collect`'s `done_fd`), before its child has
exited; that child is reaped and its run directory wiped after the *next* reply, long after it died. A run
directory that cannot be wiped, or a task that outlives its program, ends the server (the harness replaces it
with a fresh one).

Run as `python -I -m mathcodebench.sandbox.server CONFIG_JSON` with a clean environment; it speaks `protocol`
on its stdin/stdout.
"""

from __future__ import annotations

import os
import select
import signal
import stat
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

# Everything a child calls after lockdown is imported here, before any fork: a locked-down child may no
# longer be able to read the package's files.
from . import child, hugepages, protocol, scratch
from .base import ExecStatus, Limits
from .block import Held, ends_session, proc_cpu_s, proc_peak_kb, run_block, signaller
from .cgroups import ChildCgroup, spare_the_zygotes
from .classify import classify
from .collect import OVER_QUOTA, Collected, collect
from .identity import LANES, Identity, interpreter_paths
from .jail import NAMESPACES
from .layers import landlock
from .rlimits import MAX_PROCESSES
from .runner import SESSION_READY, seed_numpy
from .zygote import Spawned, Zygote, ZygoteGone

if TYPE_CHECKING:
    from .layers.seccomp import CompiledFilter

PREIMPORT = [
    "math",
    "cmath",
    "fractions",
    "decimal",
    "itertools",
    "functools",
    "collections",
    "statistics",
    "random",
    "re",
    "heapq",
    "bisect",
    "string",
    "operator",
    "numbers",
    "datetime",
    "calendar",
    "copy",
    "json",
    "typing",
    "dataclasses",
    "enum",
    "time",
    "array",
    "struct",
    "textwrap",
    "numpy",
    "sympy",
    "sympy.stats",
    "sympy.geometry",
    "sympy.combinatorics",
    "sympy.ntheory",
    "sympy.solvers.diophantine",
    "sympy.physics.units",
    "sympy.logic",
    "sympy.sets",
    "mpmath",
]
READY_TIMEOUT_S = 10.0
WIPE_TIMEOUT_S = 5.0
QUOTA_POLL_S = 0.01
QUOTA_MAX_ENTRIES = 10_000
QUOTA_MAX_DEPTH = 128
READ_PATHS = (
    "/usr",
    "/lib",
    "/lib64",
    "/bin",
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/dev/null",
    "/dev/zero",
    "/dev/urandom",
    "/proc/cpuinfo",
    "/proc/meminfo",
    "/sys/devices/system/cpu",
)


# A child whose run is over and whose run directory is yet to be wiped, and whether it has been reaped.
Finished = tuple[Spawned, bool] | None


class ServerConfig(BaseModel):
    slot: int
    slots: int
    scratch: str  # where the run directories (one per lane) are made: the jail's tmpfs, or a host directory
    jailed: bool
    identity: str
    cgroups: dict[str, str] = {}  # controller -> this server's cgroup directory (one subdirectory per lane)
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
        self.layers = [
            (
                "fork server: children forked from zygotes that never see a program, each confined "
                "before its program arrives"
            ),
            "session, empty stdin, output capped per stream",
            "rlimits: cpu, address space, file size, open files, processes; no core, memlock, rt-priority",
        ]
        self.missing: list[str] = []
        quota = f"{config.disk_quota_mb} MB"
        if config.jailed:
            self.layers += [
                f"bubblewrap jail: {NAMESPACES}; read-only minimal filesystem",
                f"scratch on a {quota} tmpfs (total disk quota; gone with the jail)",
            ]
        else:
            self.layers.append(
                f"disk quota {quota} and {QUOTA_MAX_ENTRIES} entries, measured every "
                f"{QUOTA_POLL_S * 1000:.0f} ms (run directory and files held open)"
            )
            self.missing.append(
                "bubblewrap jail (host mode): programs see the host's processes and filesystem, "
                "as far as seccomp and Landlock let them"
            )
        self.layers.append(identity.describe(config.slots))
        if identity.kind == "root":
            self.missing.append("unprivileged uid (waived with --sandbox unsafe-root)")
        self.workdirs = [os.path.join(config.scratch, f"run{lane}") for lane in range(LANES)]
        uids = [identity.uid(config.slot, lane) for lane in range(LANES)]
        for workdir, uid in zip(self.workdirs, uids, strict=True):
            os.mkdir(workdir, 0o700)
            if uid is not None:
                os.chown(workdir, uid, uid)
        self.quota_bytes = config.disk_quota_mb << 20
        self.cgroups = self._cgroups(identity)
        rulesets = self._landlock()
        seccomp = self._seccomp(allow_memfd=self.cgroups[0] is not None and self.cgroups[0].bounds_memory)
        self.confinements = [
            child.Confinement(
                workdir=self.workdirs[n],
                uid=uids[n],
                keep_capabilities=identity.keep_capabilities(),
                drop_capabilities=identity.kind == "root",
                ruleset_fd=rulesets[n],
                seccomp=seccomp,
                cgroup=self.cgroups[n],
            )
            for n in range(LANES)
        ]

    def _cgroups(self, identity: Identity) -> list[ChildCgroup | None]:
        if not self.config.cgroups:
            if identity.kind == "root":
                self.missing.append("task bound for uid 0 (no pids cgroup: RLIMIT_NPROC does not bind root)")
            return [None] * LANES
        cgroups: list[ChildCgroup | None] = [
            ChildCgroup(self.config.cgroups, lane, MAX_PROCESSES) for lane in range(LANES)
        ]
        if "memory" in self.config.cgroups:
            self.layers.append("memory cgroup per child: anonymous, memfd, tmpfs and shm pages; true peak")
            unspared = spare_the_zygotes()
            if unspared is not None:
                self.missing.append(unspared)
        if "cpuacct" in self.config.cgroups:
            self.layers.append("cpuacct cgroup per child: exact CPU time, known before the child has exited")
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
            return [None] * LANES
        abi = landlock.abi_version()
        self.layers.append(f"landlock abi {abi}: " + ", ".join(built[0][1]))
        self.missing += [f"landlock: {feature}" for feature in landlock.missing_features(abi)]
        return [fd for fd, _ in built]

    def _seccomp(self, allow_memfd: bool) -> CompiledFilter | None:
        try:
            from .layers.seccomp import LAST_REVIEWED, CompiledFilter

            compiled = CompiledFilter(allow_memfd)
        except (ImportError, OSError, RuntimeError) as exc:
            self.missing.append(f"seccomp ({exc})")
            return None
        self.layers.append(
            "seccomp: no new processes or programs, no sockets (a connected unix pair only), no "
            "SysV IPC or mqueues, no metadata changes, no inotify/fanotify/dnotify, no calls on other "
            "processes, no namespaces or mounts"
            + ("" if allow_memfd else ", no memfd")
            + f"; syscalls newer than {LAST_REVIEWED} fail"
        )
        return compiled

    def start(self) -> None:
        """Fork the zygotes (nothing of any program is in memory yet) and ask the first for a child."""
        self.zygotes = [Zygote(self.confinements[lane], lane) for lane in range(LANES)]
        self.lane = 0  # the pre-forked child's
        self.unfinished: Finished = None  # the last program's child (or an ended session's), and whether reaped
        self.session: tuple[Spawned, Held, Limits] | None = None  # the child held for an open session
        self.zygotes[self.lane].spawn()

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
        zygote = self.zygotes[self.lane]
        c = zygote.take()
        why = self._ready(c)
        if why is not None:
            zygote.abandon(c)
            zygote.spawn()
            c = zygote.take()
            why = self._ready(c)
            if why is not None:
                zygote.abandon(c)
                return why
        return c

    def handle(self, request: dict[str, Any]) -> tuple[dict[str, Any], Finished]:
        """Answer one request (a program, or a session's opening, block or end): the reply (an "error" reply: this
        server must end), and the earlier child to `finish` once the reply is out."""
        if "block" in request:
            return self._block(request["block"]), None
        previous, self.unfinished = self.unfinished, None
        if "code" in request:
            return self._program(request["code"], Limits.model_validate(request["limits"])), previous
        if "open" in request:
            return self._open(Limits.model_validate(request["open"])), previous
        return self._close(previous), None

    def _handover(self, c: Spawned, payload: bytes, limits: Limits) -> float | str:
        """Arm the child's cgroups, hand it `payload` and have the next child confine itself meanwhile: when the
        payload was handed over (the child may act on it from then on), or why it was not."""
        cgroup = self.cgroups[c.lane]
        if cgroup is not None:
            cgroup.arm(limits.memory_mb << 20)
        started = time.monotonic()
        try:
            protocol.write_all(c.request, payload)
        except OSError as exc:
            self.zygotes[c.lane].abandon(c)
            return f"the pre-forked child did not take its request: {exc}"
        self.lane = (c.lane + 1) % LANES  # finished after the previous reply
        self.zygotes[self.lane].spawn()  # the next child confines itself while this one runs
        return started

    def _quota_watch(self, c: Spawned) -> Callable[[], str | None] | None:
        if self.config.jailed:
            return None  # the jail's tmpfs is the quota
        workdir = self.workdirs[c.lane]
        return lambda: OVER_QUOTA if self._over_quota(c.pid, workdir) else None

    def _program(self, code: str, limits: Limits) -> dict[str, Any]:
        c = self._ready_child()
        if isinstance(c, str):
            return {"error": c}
        started = self._handover(c, child.encode_request(code, limits), limits)
        if isinstance(started, str):
            return {"error": started}
        os.close(c.request)
        c.request = -1
        cgroup = self.cgroups[c.lane]
        early = cgroup is not None and cgroup.measures
        try:
            got = collect(
                c.pid,
                c.stdout,
                c.stderr,
                limits.timeout_s,
                limits.output_bytes,
                started,
                watch=self._quota_watch(c),
                watch_every_s=QUOTA_POLL_S,
                reap=self.zygotes[c.lane].reap,
                pidfd=c.pidfd,
                done_fd=c.done if early else None,
            )
            failed = self._setup_failure(c, got)
        finally:
            c.close()
        self.unfinished = (c, got.reaped)
        if failed is not None:
            return {"error": failed}
        return self._reply(got, c, cgroup.cpu_s() if cgroup is not None else None)

    @staticmethod
    def _setup_failure(c: Spawned, got: Collected) -> str | None:
        """Why the child could not start its program, if it says so: on its status pipe, which a program never
        holds (so no program can pass for a failing sandbox)."""
        if not got.reaped or os.waitstatus_to_exitcode(got.wait_status) != child.SETUP_FAILED:
            return None
        os.set_blocking(c.status, False)
        try:
            said = os.read(c.status, 4096).decode("utf-8", "replace")
        except OSError:
            return None
        return said if said.startswith("sandbox setup failed") else None

    def _reply(self, got: Collected, c: Spawned, cpu_s: float | None, peak_kb: int | None = None) -> dict[str, Any]:
        """The execution's account; CPU and peak from the child's cgroups where it has them, else `cpu_s` and
        `peak_kb` (the child's peak resident set) where given, else its rusage."""
        cgroup = self.cgroups[c.lane]
        peak, oom_killed = cgroup.outcome() if cgroup is not None else (None, False)
        stderr = got.stderr.decode("utf-8", "replace")
        status, exit_code, sig = classify(got, stderr, oom_killed)
        if got.stopped == OVER_QUOTA:
            status = ExecStatus.ERROR
            stderr += (
                f"OSError: [Errno 28] No space left on device: the sandbox's disk quota "
                f"({self.config.disk_quota_mb} MB, {QUOTA_MAX_ENTRIES} entries) is used up\n"
            )
        if peak is None:
            peak = max(0.0, ((peak_kb or got.rusage_maxrss_kb) - c.rss_kb) / 1024)
        return {
            "status": status.value,
            "exit_code": exit_code,
            "signal": sig,
            "stdout": got.stdout.decode("utf-8", "replace"),
            "stderr": stderr,
            "truncated": got.truncated,
            "wall_s": got.wall_s,
            "cpu_s": got.cpu_s if cpu_s is None else cpu_s,
            "peak_memory_mb": peak,
        }

    def _open(self, limits: Limits) -> dict[str, Any]:
        """Hold the pre-forked child for a session: it gets the limits, then blocks one at a time."""
        if self.session is not None:
            return {"error": "a session is already open"}
        c = self._ready_child()
        if isinstance(c, str):
            return {"error": c}
        handed = self._handover(c, child.encode_request("", limits, session=True), limits)
        if isinstance(handed, str):
            return {"error": handed}
        ready, _, _ = select.select([c.status], [], [], READY_TIMEOUT_S)
        said = os.read(c.status, 4096) if ready else b""
        if said != SESSION_READY:
            self.zygotes[c.lane].abandon(c)
            return {"error": f"the session's child did not start: {said.decode('utf-8', 'replace') or 'no answer'}"}
        os.set_blocking(c.request, False)
        deliver = signaller(lambda sig: signal.pidfd_send_signal(c.pidfd, sig))
        held = Held(c.pid, c.pidfd, c.stdout, c.stderr, c.request, c.status, c.done, deliver, self.zygotes[c.lane].reap)
        self.session = (c, held, limits)
        return {"opened": True}

    def _block(self, code: str) -> dict[str, Any]:
        if self.session is None:
            return {"error": "no session is open"}
        c, held, limits = self.session
        cgroup = self.cgroups[c.lane]

        def measured() -> float | None:  # the cpuacct cgroup's count outlives the child; /proc's does not
            counted = cgroup.cpu_s() if cgroup is not None else None
            return proc_cpu_s(held) if counted is None else counted

        got, cpu_s = run_block(held, code, limits, measured, self._quota_watch(c))
        reply = self._reply(got, c, cpu_s, None if got.block_status is None else proc_peak_kb(held))
        reply["ended"] = ends_session(got, ExecStatus(reply["status"]))
        if reply["ended"]:
            self._end_session(got.reaped)
        return reply

    def _close(self, ended: Finished) -> dict[str, Any]:
        """End the session: its child (`ended`, if a block ended it) is reaped and its run directory wiped before
        the reply, so nothing of it is left once the session's close() returns."""
        if self.session is not None:
            self._end_session(reaped=False)
            ended, self.unfinished = self.unfinished, None
        try:
            self.finish(ended)
        except scratch.CleanupError as exc:
            return {"error": str(exc)}
        return {"closed": True}

    def _end_session(self, reaped: bool) -> None:
        """Kill the session's child (if it still lives); it is reaped and its run directory wiped when the session
        is closed."""
        assert self.session is not None
        c, held, _ = self.session
        if not reaped:
            held.signal(signal.SIGKILL)
        c.close()
        self.unfinished = (c, reaped)
        self.session = None

    def finish(self, previous: Finished) -> None:
        """Reap (if the reply went out before it exited) and check the child of an earlier program, and wipe
        its run directory. CleanupError when either fails: the server must end."""
        if previous is None:
            return
        c, reaped = previous
        if not reaped:
            self.zygotes[c.lane].reap(c.pid)
        cgroup = self.cgroups[c.lane]
        if cgroup is not None and cgroup.tasks() > 0:
            raise scratch.CleanupError("a task outlived its program")  # cannot happen without fork
        scratch.clear(self.workdirs[c.lane], timeout_s=WIPE_TIMEOUT_S)

    def _over_quota(self, pid: int, workdir: str) -> bool:
        measured = scratch.usage(workdir, QUOTA_MAX_ENTRIES, QUOTA_MAX_DEPTH)
        if measured is None:
            return True
        return measured[0] + _deleted_open_files(pid, os.stat(workdir).st_dev) > self.quota_bytes


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
    hugepages.collapse()  # ... in huge pages where it can: cheaper forks and exits
    server.start()
    protocol.send(
        tx, {"ready": True, "layers": server.layers, "missing": server.missing, "missing_modules": missing_modules}
    )
    try:
        while True:
            try:
                request = protocol.receive(rx)
            except EOFError:
                return
            try:
                reply, previous = server.handle(request)
            except ZygoteGone as exc:
                reply, previous = {"error": str(exc)}, None
            protocol.send(tx, reply)  # before any cleanup: the harness has its result now
            if "error" in reply:
                sys.exit(f"sandbox server {config.slot}: {reply['error']}")
            try:
                server.finish(previous)
            except (scratch.CleanupError, ZygoteGone) as exc:
                sys.exit(f"sandbox server {config.slot}: {exc}")
    finally:
        for zygote in server.zygotes:
            zygote.close()


if __name__ == "__main__":
    main()
