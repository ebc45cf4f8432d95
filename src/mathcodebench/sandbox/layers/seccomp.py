"""seccomp: what a confined child may ask of the kernel.

Default allow, with every class a math program never needs denied: new processes and programs, sockets (only a
connected AF_UNIX stream pair, which cannot reach any address), reaching into other processes, namespaces and
mounts, SysV IPC and POSIX message queues, metadata changes (mode, owner, times, xattrs), inotify/fanotify/dnotify,
leases, and kernel facilities (bpf, io_uring, keyrings, modules...). A default-allow filter lets through what its
author did not know of, so every syscall number above the last one reviewed (`LAST_REVIEWED`) fails with ENOSYS.

libseccomp (through pyseccomp) compiles the filter once in the fork server (4-5 ms); each child loads the exported
BPF with one prctl.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import struct
from typing import Any

from ._libc import (
    PR_SET_SECCOMP,
    SECCOMP_MODE_FILTER,
    check,
    libc,
)

# Syscall numbers from 424 on are the same on every architecture; 469 is file_setattr (Linux 6.17).
LAST_REVIEWED = 469
_UNIFIED = {
    "fchmodat2": 452,
    "statmount": 457,
    "listmount": 458,
    "setxattrat": 463,
    "removexattrat": 466,
    "open_tree_attr": 467,
    "file_setattr": 469,
}

PROCESSES = "fork vfork execve execveat"
OTHER_PROCESSES = (
    "ptrace process_vm_readv process_vm_writev kcmp pidfd_open pidfd_getfd pidfd_send_signal "
    "process_madvise process_mrelease migrate_pages move_pages get_robust_list perf_event_open"
)
NAMESPACES = (
    "mount umount2 pivot_root chroot unshare setns open_tree move_mount fsopen fsconfig fsmount fspick "
    "mount_setattr statmount listmount open_tree_attr"
)
IPC = (
    "shmget shmat shmdt shmctl msgget msgsnd msgrcv msgctl semget semop semtimedop semctl mq_open mq_unlink "
    "mq_timedsend mq_timedreceive mq_notify mq_getsetattr"
)
METADATA = (
    "chmod fchmod fchmodat fchmodat2 chown fchown lchown fchownat utime utimes futimesat utimensat setxattr "
    "lsetxattr fsetxattr removexattr lremovexattr fremovexattr setxattrat removexattrat file_setattr"
)
NOTIFY = "inotify_init inotify_init1 inotify_add_watch fanotify_init fanotify_mark"
NETWORK = "connect bind listen accept accept4"
KERNEL = (
    "bpf userfaultfd io_uring_setup io_uring_enter io_uring_register keyctl add_key request_key init_module "
    "finit_module delete_module kexec_load kexec_file_load reboot swapon swapoff settimeofday clock_settime "
    "clock_adjtime adjtimex acct quotactl quotactl_fd syslog iopl ioperm uselib vhangup memfd_secret "
    "name_to_handle_at open_by_handle_at"
)
DENIED = " ".join((PROCESSES, OTHER_PROCESSES, NAMESPACES, IPC, METADATA, NOTIFY, NETWORK, KERNEL)).split()

# Calls that name a process: allowed on the caller itself (pid 0) only.
PID_FIRST_ARG = [
    "prlimit64",
    "sched_setaffinity",
    "sched_getaffinity",
    "sched_setparam",
    "sched_getparam",
    "sched_setscheduler",
    "sched_getscheduler",
    "sched_setattr",
    "sched_getattr",
    "sched_rr_get_interval",
    "setpgid",
]
# (which, who) calls: allowed for "this process" only; (PRIO_USER, 0) would reach every process of the uid.
WHICH_WHO = {"setpriority": 0, "getpriority": 0, "ioprio_set": 1, "ioprio_get": 1}  # PRIO_PROCESS, IOPRIO_WHO_PROCESS

CLONE_THREAD = 0x00010000
CLONE_NAMESPACES = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000)
F_SETLEASE, F_NOTIFY = 1024, 1026
SOCK_TYPE_MASK = 0xF

_BPF_LD_W_ABS, _BPF_JEQ_K, _BPF_JGT_K, _BPF_RET_K = 0x20, 0x15, 0x25, 0x06
_SECCOMP_RET_ERRNO = 0x00050000


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _unknown_syscalls_prefix(arch: int) -> bytes:
    """Four BPF instructions run before libseccomp's program: on the native architecture, a syscall number above
    LAST_REVIEWED (including x32 numbers) returns ENOSYS; everything else falls through to the filter."""
    ins = struct.Struct("=HBBI")
    return b"".join(
        (
            ins.pack(_BPF_LD_W_ABS, 0, 0, 4),  # A = seccomp_data.arch
            ins.pack(_BPF_JEQ_K, 0, 3, arch),  # not native: on to libseccomp (which rejects foreign architectures)
            ins.pack(_BPF_LD_W_ABS, 0, 0, 0),  # A = seccomp_data.nr
            ins.pack(_BPF_JGT_K, 0, 1, LAST_REVIEWED),
            ins.pack(_BPF_RET_K, 0, 0, _SECCOMP_RET_ERRNO | errno.ENOSYS),
        )
    )


def _syscall(sc: Any, name: str) -> int:  # sc: the pyseccomp module (untyped)
    number = _UNIFIED.get(name)
    if number is None:
        number = sc.resolve_syscall(sc.Arch.NATIVE, name)
    if number < 0:
        raise RuntimeError(f"libseccomp does not know the syscall {name}")
    return number


class CompiledFilter:
    """An exported BPF program kept alive in memory, ready to be loaded by `apply` in a child."""

    def __init__(self, allow_memfd: bool) -> None:
        import pyseccomp as sc

        flt = sc.SyscallFilter(defaction=sc.ALLOW)
        deny = sc.ERRNO(errno.EPERM)
        refuse = sc.ERRNO(errno.EACCES)  # what a refused socket or connect says
        network = set(NETWORK.split())
        for name in DENIED + ([] if allow_memfd else ["memfd_create"]):
            flt.add_rule(refuse if name in network else deny, _syscall(sc, name))
        flt.add_rule(deny, "clone", sc.Arg(0, sc.MASKED_EQ, CLONE_THREAD, 0))  # threads only
        for flag in CLONE_NAMESPACES:
            flt.add_rule(deny, "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
        flt.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")  # glibc then falls back to clone() for threads
        for name in PID_FIRST_ARG:
            flt.add_rule(deny, name, sc.Arg(0, sc.NE, 0))
        for name, which in WHICH_WHO.items():
            flt.add_rule(deny, name, sc.Arg(0, sc.NE, which))
            flt.add_rule(deny, name, sc.Arg(1, sc.NE, 0))
        flt.add_rule(refuse, "socket")
        flt.add_rule(refuse, "socketpair", sc.Arg(0, sc.NE, socket.AF_UNIX))
        for kind in range(SOCK_TYPE_MASK + 1):
            if kind != socket.SOCK_STREAM:  # a datagram pair could be re-connected to any socket path
                flt.add_rule(refuse, "socketpair", sc.Arg(1, sc.MASKED_EQ, SOCK_TYPE_MASK, kind))
        flt.add_rule(refuse, "sendto", sc.Arg(4, sc.NE, 0))  # no destination address
        for command in (F_SETLEASE, F_NOTIFY):
            flt.add_rule(deny, "fcntl", sc.Arg(1, sc.EQ, command))
        fd = os.memfd_create("seccomp-bpf")
        with open(fd, "w+b") as fh:
            flt.export_bpf(fh)
            fh.seek(0)
            bpf = _unknown_syscalls_prefix(sc.system_arch()) + fh.read()
        self.instructions = len(bpf) // 8
        self._buffer = ctypes.create_string_buffer(bpf, len(bpf))
        self._prog = _SockFprog(self.instructions, ctypes.addressof(self._buffer))

    def apply(self) -> None:
        """Needs no-new-privileges set (else the kernel refuses, EACCES): a child inherits it from its zygote."""
        check(libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(self._prog), 0, 0), "seccomp")
