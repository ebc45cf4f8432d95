"""Scratch cleanup and measurement (`sandbox.scratch`) against trees made to break them: very deep, mode 0,
symlinks out, fifos, odd names, hard links; and a sandbox whose cleanup fails keeps the result and replaces
the slot."""

import fcntl
import os
import stat
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from mathcodebench.sandbox import Limits, create_sandbox, scratch

ROOT = os.geteuid() == 0


def _deep(top: Path, depth: int) -> None:
    here = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(depth):
        os.mkdir("d", dir_fd=here)
        below = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=here)
        os.close(here)
        here = below
    os.close(here)


@pytest.fixture
def victim(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("keep")
    return outside


@pytest.fixture
def in_memory(tmp_path):
    """A directory on tmpfs where there is one (removing 5000 nested directories on a disk mounted with
    `discard` takes seconds)."""
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        path = Path(tempfile.mkdtemp(dir="/dev/shm", prefix="mcb-test-"))
        yield path
        scratch.remove(str(path))
    else:
        yield tmp_path


def test_a_tree_deeper_than_the_recursion_limit(in_memory):
    top = in_memory / "scratch"
    top.mkdir()
    _deep(top, sys.getrecursionlimit() * 5)
    scratch.clear(str(top))
    assert top.is_dir() and os.listdir(top) == []


def test_traps(tmp_path, victim):
    top = tmp_path / "scratch"
    top.mkdir()
    os.symlink(victim, top / "to-victim")
    os.symlink("/", top / "to-root")
    os.mkfifo(top / "fifo")
    (top / "a" / "b").mkdir(parents=True)
    (top / "a" / "b" / "f").write_text("x")
    os.link(victim / "precious", top / "hard-link")
    for name in (b"new\nline", b"\xff\xfe", b"-rf", b"n" * 255):
        with open(os.path.join(os.fsencode(top), name), "w") as fh:
            fh.write("x")
    os.mkdir(top / "shut")
    (top / "shut" / "inner").mkdir()
    (top / "shut" / "inner" / "f").write_text("x")
    os.chmod(top / "shut" / "inner", 0)
    os.chmod(top / "shut", 0)
    os.chmod(top / "a", 0o500)  # readable, not writable
    scratch.clear(str(top))
    assert os.listdir(top) == []
    assert (victim / "precious").read_text() == "keep" and os.listdir("/")


def test_the_top_itself_must_not_be_a_link(tmp_path, victim):
    link = tmp_path / "link"
    os.symlink(victim, link)
    with pytest.raises(scratch.CleanupError):
        scratch.clear(str(link))
    assert (victim / "precious").read_text() == "keep"


def test_clear_gives_up_after_its_timeout(tmp_path):
    top = tmp_path / "scratch"
    top.mkdir()
    for i in range(3000):
        (top / f"d{i}").mkdir()
    with pytest.raises(scratch.CleanupError, match="longer than"):
        scratch.clear(str(top), timeout_s=0.0)


def test_remove_takes_the_directory_too_and_tolerates_its_absence(tmp_path):
    top = tmp_path / "scratch"
    (top / "x" / "y").mkdir(parents=True)
    scratch.remove(str(top))
    assert not top.exists()
    scratch.remove(str(top))


def test_usage_counts_each_inode_once_and_refuses_unbounded_trees(tmp_path):
    top = tmp_path / "scratch"
    top.mkdir()
    (top / "f").write_bytes(b"1" * (1 << 20))
    os.link(top / "f", top / "g")
    os.symlink("/usr", top / "to-usr")
    used, entries = scratch.usage(str(top), max_entries=100, max_depth=8)
    assert 1 << 20 <= used < 2 << 20 and entries == 3
    _deep(top, 20)
    assert scratch.usage(str(top), max_entries=100, max_depth=8) is None
    assert scratch.usage(str(top), max_entries=10, max_depth=100) is None


def _immutable(path: str, on: bool) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        fcntl.ioctl(fd, 0x40086602, struct.pack("i", 0x10 if on else 0))  # FS_IOC_SETFLAGS, FS_IMMUTABLE_FL
    finally:
        os.close(fd)


@pytest.mark.skipif(not ROOT, reason="making a file immutable needs root")
def test_a_failed_cleanup_replaces_the_slot_and_keeps_the_result():
    box = create_sandbox("host", workers=1)
    pinned: list[str] = []

    def pin() -> None:  # what no wipe can remove: an immutable file, set from outside while the program runs
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not pinned:
            for path in Path(box.root).glob("*/run*/pinned"):
                _immutable(str(path), True)
                pinned.append(str(path))
            time.sleep(0.01)

    try:
        server = box._idle.queue[0].proc.pid
        thread = threading.Thread(target=pin)
        thread.start()
        r = box.run("import time\nopen('pinned', 'w').write('x')\ntime.sleep(1)\nprint('result')", Limits(timeout_s=5))
        thread.join()
        assert pinned and r.stdout == "result\n", "the result of the program that just ran is kept"
        # its directory is wiped after the next reply; that fails and ends the server
        assert box.run("print(2)", Limits(timeout_s=5)).stdout == "2\n"
        assert box.run("print(3)", Limits(timeout_s=5)).stdout == "3\n", "the next run goes to a fresh server"
        assert box._idle.queue[0].proc.pid != server
        assert not any(p.is_file() for p in Path(box.root).glob("*/run*/*") if str(p) not in pinned)
    finally:
        for path in pinned:
            _immutable(path, False)
        box.close()
    assert not os.path.exists(box.root)


def test_close_removes_everything_it_made():
    box = create_sandbox("host", workers=2)
    root = box.root
    box.run("import os\nos.makedirs('a/b')\nos.mkdir('a/b/c', 0)\nprint(1)", Limits(timeout_s=5))
    cgroups = list(box.cgroup_tree.roots.values())
    box.close()
    box.close()  # twice is harmless
    assert not os.path.exists(root)
    assert not any(os.path.exists(path) for path in cgroups)
    assert stat.S_ISDIR(os.stat("/tmp").st_mode)
