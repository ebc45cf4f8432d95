"""A memory, a pids and a cpuacct cgroup (v1) for every child.

Why: RLIMIT_AS bounds mapped memory only (not memfd, tmpfs or shm pages written without a mapping), and
RLIMIT_NPROC does not bind uid 0. A memory cgroup charges every page a child allocates, gives its true peak
and OOM-kills only inside it; a pids cgroup bounds its threads whatever its uid; cpuacct gives its exact CPU
time before it has finished exiting (so the server can answer as soon as the program is done). A lane's zygote
lives in the lane's cgroups, so its children are born there (no migration per child).

Layout, below this process's own cgroup in each hierarchy (so every limit set above it still applies):
`mcb-<pid>-<n>/<server label>/c0 .. c<LANES-1>`, one per lane. The harness creates and removes the
directories (`CgroupTree`); a server opens its lanes' files (`ChildCgroup`) and each lane's zygote joins them.
cgroup v2 is not used: enabling controllers for children of a cgroup that holds the harness itself is refused by
the kernel ("no internal processes").
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import time

from .identity import LANES

CONTROLLERS = ("memory", "pids", "cpuacct")
_LANES = tuple(f"c{lane}" for lane in range(LANES))
ZYGOTES = 1  # a lane's zygote lives in its cgroups (`zygote.py`): one task that is not a child's
_counter = itertools.count()


def _hierarchy(controller: str) -> str:
    """This process's own cgroup directory in the v1 hierarchy of `controller`; OSError when there is none."""
    own = None
    with open("/proc/self/cgroup") as fh:
        for line in fh:
            _, names, path = line.rstrip("\n").split(":", 2)
            if controller in names.split(","):
                own = path
    with open("/proc/self/mounts") as fh:
        for line in fh:
            _, mountpoint, fstype, options = line.split()[:4]
            if fstype == "cgroup" and controller in options.split(",") and own is not None:
                return mountpoint + own.rstrip("/")
    raise OSError(f"no cgroup v1 {controller} hierarchy is mounted")


def _remove(path: str) -> None:
    """rmdir a cgroup directory, killing what is still in it (a child of a server that died)."""
    for _ in range(100):
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError:
            with open(os.path.join(path, "cgroup.procs")) as fh:
                for pid in fh.read().split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)
            time.sleep(0.01)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def spare_the_zygotes() -> str | None:
    """Lower this server's oom_score_adj to 0 before it forks its zygotes (they inherit it); None once done, else
    why not. A harness may run with a raised value (Ray gives its workers 1000), which the zygote would share with
    its child (OOM_FIRST): the memory cgroup's OOM killer then picks the one with the larger RSS, at times the
    zygote, and the lane is lost. Below 1000, a child is always the choice (`child.py`)."""
    with open("/proc/self/oom_score_adj") as fh:
        inherited = int(fh.read())
    if inherited <= 0:
        return None
    try:
        with open("/proc/self/oom_score_adj", "w") as fh:
            fh.write("0")
    except OSError as exc:
        return f"zygotes spared by the OOM killer (oom_score_adj {inherited} inherited: {exc.strerror or exc})"
    return None


class CgroupTree:
    """The harness's cgroup directories for one sandbox; controllers that cannot be had are in `missing`."""

    def __init__(self, enabled: bool = True) -> None:
        self.roots: dict[str, str] = {}
        self.missing: list[str] = [] if enabled else [f"{c} cgroup per child (not used)" for c in CONTROLLERS]
        name = f"mcb-{os.getpid()}-{next(_counter)}"
        for controller in CONTROLLERS if enabled else ():
            try:
                base = _hierarchy(controller)
                self._remove_stale(base)
                os.mkdir(os.path.join(base, name), 0o755)
                self.roots[controller] = os.path.join(base, name)
            except OSError as exc:
                self.missing.append(f"{controller} cgroup per child ({exc.strerror or exc})")
        self._slots: list[dict[str, str]] = []

    @staticmethod
    def _remove_stale(base: str) -> None:
        """Directories left by a harness that was killed: its children are gone, the directories are not."""
        for entry in os.listdir(base):
            parts = entry.split("-")
            if len(parts) == 3 and parts[0] == "mcb" and parts[1].isdigit() and not _alive(int(parts[1])):
                top = os.path.join(base, entry)
                for label in os.listdir(top):
                    if os.path.isdir(os.path.join(top, label)):
                        CgroupTree._remove_slot(os.path.join(top, label))
                _remove(top)

    @staticmethod
    def _remove_slot(path: str) -> None:
        for lane in _LANES:
            _remove(os.path.join(path, lane))
        _remove(path)

    def slot(self, label: str) -> dict[str, str]:
        """Create `label/c<lane>` in every available hierarchy; return {controller: label dir}."""
        paths = {}
        for controller, root in self.roots.items():
            path = os.path.join(root, label)
            os.mkdir(path, 0o755)
            for lane in _LANES:
                os.mkdir(os.path.join(path, lane), 0o755)
            paths[controller] = path
        self._slots.append(paths)
        return paths

    def release(self, paths: dict[str, str]) -> None:
        for path in paths.values():
            self._remove_slot(path)
        if paths in self._slots:
            self._slots.remove(paths)

    def close(self) -> None:
        for paths in list(self._slots):
            self.release(paths)
        for root in self.roots.values():
            _remove(root)


class ChildCgroup:
    """Server side: the cgroups of one lane, their files opened once (each use is one syscall)."""

    def __init__(self, paths: dict[str, str], lane: int, max_tasks: int) -> None:
        here = {controller: os.path.join(path, f"c{lane}") for controller, path in paths.items()}
        self.join_fds = [
            os.open(os.path.join(path, "cgroup.procs"), os.O_WRONLY | os.O_CLOEXEC) for path in here.values()
        ]
        self._pids: int | None = None
        self._cpu: int | None = None
        self._memory: dict[str, int] = {}  # file name -> descriptor; empty without a memory cgroup
        if "pids" in here:
            with open(os.path.join(here["pids"], "pids.max"), "w") as fh:
                fh.write(str(max_tasks + ZYGOTES))
            self._pids = os.open(os.path.join(here["pids"], "pids.current"), os.O_RDONLY | os.O_CLOEXEC)
        if "cpuacct" in here:
            self._cpu = os.open(os.path.join(here["cpuacct"], "cpuacct.usage"), os.O_RDWR | os.O_CLOEXEC)
        if "memory" in here:
            files = (
                "memory.limit_in_bytes",
                "memory.memsw.limit_in_bytes",
                "memory.max_usage_in_bytes",
                "memory.usage_in_bytes",
                "memory.oom_control",
            )
            self._memory = {
                name: os.open(os.path.join(here["memory"], name), os.O_RDWR | os.O_CLOEXEC)
                for name in files
                if os.path.exists(os.path.join(here["memory"], name))
            }
        self._base = 0
        self._oom_kills = self._read_oom_kills()

    @property
    def bounds_memory(self) -> bool:
        return bool(self._memory)

    @property
    def measures(self) -> bool:
        """Peak memory and CPU time are known without waiting for the child's exit."""
        return bool(self._memory) and self._cpu is not None

    def join(self) -> None:
        """In the lane's zygote, once: move this process into the lane's cgroups, where its children are born."""
        for fd in self.join_fds:
            os.write(fd, b"0")

    def _read(self, name: str) -> str:
        return os.pread(self._memory[name], 4096, 0).decode()

    def _read_oom_kills(self) -> int:
        if not self._memory:
            return 0
        for line in self._read("memory.oom_control").splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def arm(self, memory_bytes: int) -> None:
        """Before a program starts: its memory limit on top of what the child holds now; peak and CPU reset."""
        if self._cpu is not None:
            os.pwrite(self._cpu, b"0", 0)
        if not self._memory:
            return
        self._base = int(self._read("memory.usage_in_bytes"))
        limit = str(self._base + memory_bytes).encode()
        limits = [
            self._memory[n] for n in ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes") if n in self._memory
        ]
        try:
            for fd in limits:
                os.pwrite(fd, limit, 0)
        except OSError:  # memsw must stay >= the memory limit: raise it first
            for fd in reversed(limits):
                os.pwrite(fd, limit, 0)
        os.pwrite(self._memory["memory.max_usage_in_bytes"], b"0", 0)

    def cpu_s(self) -> float | None:
        """CPU seconds of every task in the lane since `arm`; None without a cpuacct cgroup."""
        return None if self._cpu is None else int(os.pread(self._cpu, 64, 0)) / 1e9

    def outcome(self) -> tuple[float | None, bool]:
        """Once the program is done: (peak MB it added, or None without a memory cgroup; was it OOM-killed?)."""
        if not self._memory:
            return None, False
        peak = (int(self._read("memory.max_usage_in_bytes")) - self._base) / (1 << 20)
        kills = self._read_oom_kills()
        killed, self._oom_kills = kills > self._oom_kills, kills
        return max(0.0, peak), killed

    def tasks(self) -> int:
        """Tasks of children still in the pids cgroup (0 once the child is reaped); -1 without one."""
        return int(os.pread(self._pids, 64, 0)) - ZYGOTES if self._pids is not None else -1
