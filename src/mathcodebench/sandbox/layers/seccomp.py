"""seccomp: no sockets but AF_UNIX, no new processes or programs, no kernel-level escape hatches.

libseccomp (through pyseccomp) compiles the filter once in the fork server (4-5 ms); each child loads
the exported BPF with one prctl.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket

from ._libc import PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER, check, libc, prctl

CLONE_THREAD = 0x00010000
DENIED = (
    "fork vfork execve execveat ptrace process_vm_readv process_vm_writev mount umount2 pivot_root chroot "
    "unshare setns bpf perf_event_open userfaultfd io_uring_setup io_uring_enter io_uring_register keyctl "
    "add_key request_key init_module finit_module delete_module kexec_load kexec_file_load reboot swapon "
    "swapoff settimeofday clock_settime clock_adjtime adjtimex acct quotactl name_to_handle_at "
    "open_by_handle_at"
).split()


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class CompiledFilter:
    """An exported BPF program kept alive in memory, ready to be loaded by `apply` in a child."""

    def __init__(self) -> None:
        import pyseccomp as sc

        flt = sc.SyscallFilter(defaction=sc.ALLOW)
        for name in DENIED:
            flt.add_rule(sc.ERRNO(errno.EPERM), name)
        flt.add_rule(sc.ERRNO(errno.EPERM), "clone", sc.Arg(0, sc.MASKED_EQ, CLONE_THREAD, 0))
        flt.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")  # glibc then falls back to clone() for threads
        for call in ("socket", "socketpair"):
            flt.add_rule(sc.ERRNO(errno.EACCES), call, sc.Arg(0, sc.NE, socket.AF_UNIX))
        fd = os.memfd_create("seccomp-bpf")
        with open(fd, "w+b") as fh:
            flt.export_bpf(fh)
            fh.seek(0)
            bpf = fh.read()
        self._buffer = ctypes.create_string_buffer(bpf, len(bpf))
        self._prog = _SockFprog(len(bpf) // 8, ctypes.addressof(self._buffer))

    def apply(self) -> None:
        prctl(PR_SET_NO_NEW_PRIVS, 1)
        check(libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(self._prog), 0, 0), "seccomp")
