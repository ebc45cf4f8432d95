"""Scratch directories, wiped and measured whatever a program left in them.

No recursion (a tree may be a million levels deep), a constant number of open descriptors, every directory
opened relative to its parent with O_NOFOLLOW (a symlink is removed, never followed), the way back up checked
against the device and inode recorded on the way down, mode-0 directories opened up before descending, and names passed
back exactly as listed (newlines and invalid UTF-8 survive the surrogate-escape round trip). Fifos, sockets and
device nodes are unlinked, never opened.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from collections.abc import Callable
from functools import partial

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_OPENED_UP = 0o700


class CleanupError(Exception):
    """The directory could not be emptied; whoever owns it must stop using it."""


def _open_up(fd: int) -> None:
    """Give the directory behind `fd` (even an O_PATH one) rwx for its owner: it may have been made mode 0."""
    os.chmod(f"/proc/self/fd/{fd}", _OPENED_UP)


def _open_dir(name: str, parent: int | None) -> int:
    try:
        return os.open(name, _DIR, dir_fd=parent)
    except PermissionError:
        handle = os.open(name, _DIR & ~os.O_RDONLY | os.O_PATH, dir_fd=parent)
        try:
            _open_up(handle)
        finally:
            os.close(handle)
        return os.open(name, _DIR, dir_fd=parent)


def _in_dir(fd: int, operation: Callable[[], None]) -> None:
    """Run an unlink/rmdir in the directory `fd`, opening the directory up once if its mode forbids it."""
    try:
        operation()
    except PermissionError:
        _open_up(fd)
        operation()


def _first_subdirectory(fd: int) -> str | None:
    """Unlink every non-directory in `fd`; return the first subdirectory met (None once there is none)."""
    with os.scandir(fd) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                return entry.name
            _in_dir(fd, partial(os.unlink, entry.name, dir_fd=fd))
    return None


def clear(path: str, timeout_s: float | None = None) -> None:
    """Remove everything below `path`, keeping `path` itself (its inode is what Landlock grants a child).
    Give up (CleanupError) after `timeout_s`: whoever owns the directory then replaces it."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    try:
        fd = _open_dir(path, None)
    except OSError as exc:
        raise CleanupError(f"cannot open {path}: {exc.strerror}") from None
    trail: list[tuple[str, int, int]] = []  # (name in parent, parent's device, parent's inode)
    try:
        while True:
            if deadline is not None and time.monotonic() > deadline:
                raise CleanupError(f"clearing {path} took longer than {timeout_s} s")
            sub = _first_subdirectory(fd)
            if sub is not None:
                here = os.fstat(fd)
                child = _open_dir(sub, fd)
                trail.append((sub, here.st_dev, here.st_ino))
                os.close(fd)
                fd = child
                continue
            if not trail:
                return
            name, dev, ino = trail.pop()
            parent = os.open("..", _DIR, dir_fd=fd)
            os.close(fd)
            fd = parent
            here = os.fstat(fd)
            if (here.st_dev, here.st_ino) != (dev, ino):
                raise CleanupError(f"a directory below {path} moved during cleanup")
            _in_dir(fd, partial(os.rmdir, name, dir_fd=fd))
    except OSError as exc:
        raise CleanupError(f"cannot clear {path}: {exc}") from None
    finally:
        os.close(fd)


def remove(path: str) -> None:
    """`clear`, then remove `path` itself; a path that does not exist is already removed."""
    try:
        os.lstat(path)
    except FileNotFoundError:
        return
    clear(path)
    try:
        os.rmdir(path)
    except OSError as exc:
        raise CleanupError(f"cannot remove {path}: {exc.strerror}") from None


def usage(path: str, max_entries: int, max_depth: int) -> tuple[int, int] | None:
    """(bytes allocated, entries) below `path`, each inode counted once; None when the tree has more than
    `max_entries` entries or is deeper than `max_depth` (counting such a tree would cost without bound)."""
    fds = [os.open(path, _DIR)]
    iterators = [os.scandir(fds[0])]
    seen: set[tuple[int, int]] = set()
    total = entries = 0
    try:
        while iterators:
            entry = next(iterators[-1], None)
            if entry is None:
                iterators.pop().close()
                os.close(fds.pop())
                continue
            entries += 1
            if entries > max_entries:
                return None
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed while we looked
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
            if stat.S_ISDIR(st.st_mode):
                if len(fds) >= max_depth:
                    return None
                try:
                    fds.append(os.open(entry.name, _DIR, dir_fd=fds[-1]))
                except OSError as exc:
                    if exc.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
                        continue  # replaced while we looked
                    raise
                iterators.append(os.scandir(fds[-1]))
        return total, entries
    finally:
        for it in iterators:
            it.close()
        for fd in fds:
            os.close(fd)
