"""The zygote: the process every child is forked from, which never sees a program or its output.

A child is a copy of the memory it was forked from. The server relays programs and their output, so a child
forked from it could find the previous program's code (reachable objects) or output (freed memory) there: a
channel from one run to the next. The zygote is forked from the server before any request, and afterwards only
hears "fork a child for lane n": it creates the child's pipes, forks, hands the server its ends (SCM_RIGHTS)
and reaps its children, reporting each exit status and rusage to the server.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn

from . import child
from .layers._libc import PR_SET_PDEATHSIG, prctl

_CHILD = struct.Struct("=ciiq")  # b"c", pid, lane, RSS (kB) at fork
_PIPES = 5  # stdout, stderr, request, status, done
_EXIT = struct.Struct("=ciiqd")  # b"x", pid, wait status, ru_maxrss (kB), cpu seconds


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
    rss_kb: int  # the zygote's RSS when it forked: where the child's own RSS starts
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


def _fork_child(sock: socket.socket, confinements: Sequence[child.Confinement], lane: int) -> int:
    (out_r, out_w), (err_r, err_w), (req_r, req_w), (st_r, st_w), (done_r, done_w) = (os.pipe() for _ in range(_PIPES))
    rss = _rss_kb()
    zygote = os.getpid()
    pid = os.fork()
    if pid == 0:
        sock.close()
        child.main(confinements[lane], child.Pipes(out_w, err_w, req_r, st_w, done_w), zygote)
    servers = [out_r, err_r, req_w, st_r, done_r]  # the order of Spawned's fields
    socket.send_fds(sock, [_CHILD.pack(b"c", pid, lane, rss)], servers)
    for fd in (*servers, out_w, err_w, req_r, st_w, done_w):
        os.close(fd)
    return pid


def _serve(sock: socket.socket, confinements: Sequence[child.Confinement], server_pid: int) -> NoReturn:
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != server_pid:
        os._exit(0)
    keep = {sock.fileno()}
    for c in confinements:  # what children inherit; nothing else (not the server's pipes to the harness)
        keep |= {fd for fd in (c.ruleset_fd, *(c.cgroup.join_fds if c.cgroup else ())) if fd is not None}
    child.close_all_but({0, 1, 2, *keep})
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
                for lane in wanted:
                    pid = _fork_child(sock, confinements, lane)
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
    """Server side. Children arrive (and exits are reported) asynchronously; both are kept until asked for."""

    def __init__(self, confinements: Sequence[child.Confinement]) -> None:
        self._sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        server_pid = os.getpid()
        self.pid = os.fork()
        if self.pid == 0:
            self._sock.close()
            _serve(theirs, confinements, server_pid)
        theirs.close()
        self._children: dict[int, Spawned] = {}  # lane -> child not yet taken
        self._exits: dict[int, Exit] = {}
        self._abandoned: set[int] = set()

    def spawn(self, lane: int) -> None:
        """Ask for a child for `lane`; it confines itself while the server goes on."""
        self._sock.send(bytes([lane]))

    def _read(self) -> None:
        message, fds, _, _ = socket.recv_fds(self._sock, 64, _PIPES)
        if not message:
            raise EOFError("the zygote exited")
        if message[:1] == b"c":
            _, pid, lane, rss = _CHILD.unpack(message)
            stdout, stderr, request, status, done = fds
            self._children[lane] = Spawned(pid, lane, stdout, stderr, request, status, done, rss)
            return
        _, pid, status, maxrss, cpu = _EXIT.unpack(message)
        if pid in self._abandoned:
            self._abandoned.discard(pid)
        else:
            self._exits[pid] = Exit(status, maxrss, cpu)

    def take(self, lane: int) -> Spawned:
        while lane not in self._children:
            self._read()
        return self._children.pop(lane)

    def reap(self, pid: int) -> Exit:
        """Wait for the zygote's report of `pid`'s exit (the caller has killed it)."""
        while pid not in self._exits:
            self._read()
        return self._exits.pop(pid)

    def close(self) -> None:
        """End the zygote (it ends its children first) and reap it."""
        self._sock.close()
        os.waitpid(self.pid, 0)

    def abandon(self, spawned: Spawned) -> None:
        """Kill a child that will not run a program; its exit report is dropped when it comes."""
        if self._exits.pop(spawned.pid, None) is None:
            self._abandoned.add(spawned.pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(spawned.pid, signal.SIGKILL)
        spawned.close()
