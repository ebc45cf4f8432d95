"""The zygotes: the processes every child is forked from, which never see a program or its output.

A child is a copy of the memory it was forked from. The server relays programs and their output, so a child
forked from it could find the previous program's code (reachable objects) or output (freed memory) there: a
channel from one run to the next. The zygotes are forked from the server before any request, one per lane, and
afterwards only hear "fork a child": a zygote creates the child's pipes, forks, hands the server its ends
(SCM_RIGHTS) and reaps its children, reporting each exit status and rusage to the server.

Each zygote lives in its lane's cgroups (a memory, a pids and a cpuacct cgroup), so a child is born in them:
moving a process into a cgroup v1 (what a child did itself before) waits for an RCU grace period, several ms
and at times tens of ms on a loaded machine, while forks and exits across the machine wait with it. A zygote
keeps the server's privileges and never drops them (its children do, `child.py`), it counts as one task of its
lane's pids cgroup, and its children make themselves the memory cgroup's first choice when it must kill (the
server has made sure the zygote's own score is below theirs). What every child of a lane would do alike (its
working directory, no-new-privileges, the prepared interpreter) the zygote does once (`child.settle`).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import struct
import types
from dataclasses import dataclass
from typing import NoReturn

from . import child
from .layers._libc import PR_SET_PDEATHSIG, prctl

_CHILD = struct.Struct("=ciq")  # b"c", pid, RSS (kB) at fork
_PIPES = 5  # stdout, stderr, request, status, done
_EXIT = struct.Struct("=ciiqd")  # b"x", pid, wait status, ru_maxrss (kB), cpu seconds
_SPAWN = b"s"
_FAILED = b"e"  # followed by why the zygote is ending


class ZygoteGone(Exception):
    """A lane's zygote is gone: no child can be had from it, so the server must end (saying why)."""


@dataclass
class Spawned:
    """The server's handle on one pre-forked child: its pid and the server's ends of its pipes."""

    pid: int
    lane: int
    stdout: int
    stderr: int
    request: int
    status: int
    done: int
    rss_kb: int  # the zygote's RSS when it forked, where the child's own starts (0: a memory cgroup measures it)
    pidfd: int = -1  # opened by the server once the child is ready (the zygote may reap it any time after)

    def close(self) -> None:
        for name in ("stdout", "stderr", "request", "status", "done", "pidfd"):
            fd = getattr(self, name)
            if fd >= 0:
                os.close(fd)
                setattr(self, name, -1)  # its number is soon reused: never close it twice


@dataclass(frozen=True)
class Exit:
    status: int
    maxrss_kb: int
    cpu_s: float


def _rss_kb() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _fork_child(sock: socket.socket, confinement: child.Confinement, module: types.ModuleType) -> int:
    (out_r, out_w), (err_r, err_w), (req_r, req_w), (st_r, st_w), (done_r, done_w) = (os.pipe() for _ in range(_PIPES))
    measured = confinement.cgroup is not None and confinement.cgroup.bounds_memory  # the peak comes from there
    rss = 0 if measured else _rss_kb()
    zygote = os.getpid()
    pid = os.fork()
    if pid == 0:
        sock.close()
        child.main(confinement, child.Pipes(out_w, err_w, req_r, st_w, done_w), zygote, module)
    servers = [out_r, err_r, req_w, st_r, done_r]  # the order of Spawned's fields
    socket.send_fds(sock, [_CHILD.pack(b"c", pid, rss)], servers)
    for fd in (*servers, out_w, err_w, req_r, st_w, done_w):
        os.close(fd)
    return pid


def _main(sock: socket.socket, confinement: child.Confinement, server_pid: int) -> NoReturn:
    """The zygote's whole life after fork. Never returns: an exception unwinding here would go on running the
    server's code in a second process; it is told to the server instead."""
    try:
        _serve(sock, confinement, server_pid)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            sock.send(_FAILED + f"{type(exc).__name__}: {exc}".encode()[:4000])
    os._exit(1)


def _serve(sock: socket.socket, confinement: child.Confinement, server_pid: int) -> NoReturn:
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != server_pid:
        os._exit(0)
    if confinement.cgroup is not None:
        confinement.cgroup.join()  # once: every child is born in the lane's cgroups
    keep = {sock.fileno(), *([] if confinement.ruleset_fd is None else [confinement.ruleset_fd])}
    child.close_all_but({0, 1, 2, *keep})  # what children inherit; nothing else (not the server's pipes)
    module = child.settle(confinement)  # what each child would do alike, done once here
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    children: dict[int, int] = {}  # pidfd -> pid
    while True:
        for fd, _ in poller.poll():
            if fd == sock.fileno():
                try:
                    wanted = sock.recv(64)
                except OSError:
                    wanted = b""
                if not wanted:  # the server is done (or gone): end every child, and leave no zombie behind
                    for pidfd, pid in children.items():
                        with contextlib.suppress(ProcessLookupError):
                            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                        os.waitpid(pid, 0)
                    os._exit(0)
                for _ in wanted:
                    pid = _fork_child(sock, confinement, module)
                    pidfd = os.pidfd_open(pid)
                    children[pidfd] = pid
                    poller.register(pidfd, select.POLLIN)
                continue
            pid = children.pop(fd)
            poller.unregister(fd)
            os.close(fd)
            _, status, usage = os.wait4(pid, 0)
            sock.send(_EXIT.pack(b"x", pid, status, usage.ru_maxrss, usage.ru_utime + usage.ru_stime))


class Zygote:
    """Server side, one per lane. Children arrive (and exits are reported) asynchronously; both are kept until
    asked for."""

    def __init__(self, confinement: child.Confinement, lane: int) -> None:
        self.lane = lane
        self._sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        server_pid = os.getpid()
        self.pid = os.fork()
        if self.pid == 0:
            self._sock.close()
            _main(theirs, confinement, server_pid)
        theirs.close()
        self._children: list[Spawned] = []  # not yet taken
        self._exits: dict[int, Exit] = {}
        self._abandoned: set[int] = set()

    def spawn(self) -> None:
        """Ask for a child; it confines itself while the server goes on."""
        self._sock.send(_SPAWN)

    def _read(self) -> None:
        message, fds, _, _ = socket.recv_fds(self._sock, 4096, _PIPES)
        if not message:
            raise ZygoteGone(f"the zygote of lane {self.lane} {self._ending()}")
        if message[:1] == _FAILED:
            raise ZygoteGone(f"the zygote of lane {self.lane} failed: {message[1:].decode('utf-8', 'replace')}")
        if message[:1] == b"c":
            _, pid, rss = _CHILD.unpack(message)
            stdout, stderr, request, status, done = fds
            self._children.append(Spawned(pid, self.lane, stdout, stderr, request, status, done, rss))
            return
        _, pid, status, maxrss, cpu = _EXIT.unpack(message)
        if pid in self._abandoned:
            self._abandoned.discard(pid)
        else:
            self._exits[pid] = Exit(status, maxrss, cpu)

    def _ending(self) -> str:
        """How the zygote ended (it has closed its socket, so it is exiting or has exited)."""
        _, status = os.waitpid(self.pid, 0)
        self.pid = -1
        if os.WIFSIGNALED(status):
            number = os.WTERMSIG(status)
            with contextlib.suppress(ValueError):
                return f"was killed by {signal.Signals(number).name}"
            return f"was killed by signal {number}"
        return f"exited with status {os.waitstatus_to_exitcode(status)}"

    def take(self) -> Spawned:
        while not self._children:
            self._read()
        return self._children.pop(0)

    def reap(self, pid: int) -> tuple[int, int, float]:
        """Wait for the zygote's report of `pid`'s exit (the caller has killed it): (wait status, ru_maxrss in kB,
        cpu seconds), as `collect` wants them."""
        while pid not in self._exits:
            self._read()
        done = self._exits.pop(pid)
        return done.status, done.maxrss_kb, done.cpu_s

    def close(self) -> None:
        """End the zygote (it ends its children first) and reap it."""
        self._sock.close()
        if self.pid > 0:
            os.waitpid(self.pid, 0)

    def abandon(self, spawned: Spawned) -> None:
        """Kill a child that will not run a program; its exit report is dropped when it comes."""
        if self._exits.pop(spawned.pid, None) is None:
            self._abandoned.add(spawned.pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(spawned.pid, signal.SIGKILL)
        spawned.close()
