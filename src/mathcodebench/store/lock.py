"""One writer per run: an exclusive flock on `<run>.sqlite.lock`, held for the writer's whole life.

The kernel drops a flock when its process dies, so kill -9 never leaves a stale lock (the file may stay; it is
unlocked and reused). The file holds who holds it (pid, host, since, command), so a second writer can say whom it
is waiting for. A lock file is removed on release; acquiring checks that the file it locked is still the one at
the path, so a release racing an acquire can never leave two holders.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path

from ..errors import UserError


def lock_path(db: Path) -> Path:
    return db.with_name(db.name + ".lock")


class RunLock:
    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, db: Path, command: str) -> RunLock:
        path = lock_path(db)
        path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise UserError(f"cannot lock {db}: {exc.strerror}") from None
                raise UserError(
                    f"{db} is being written by {_holder(path)}; wait for it to end or stop it "
                    "(reading it with report, view or export works meanwhile)"
                ) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # released and removed by its holder between our open and our lock: try again
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": command,
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        return cls(path, fd)

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)  # while still holding it: see the module docstring
        finally:
            os.close(self._fd)
            self._fd = None


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
        return f"pid {info['pid']} on {info['host']} since {info['since']} ({info['command']})"
    except (OSError, ValueError, KeyError):
        return "another process"
