"""The server's heap in transparent huge pages before its zygotes fork, so each fork and exit costs less.

A fork copies one page-table entry (and takes one page reference) per 4 kB page mapped, and the child's exit
drops them again: for a server holding ~60 MB of pre-imported modules, ~0.6 ms of CPU per fork here, on every
program. A 2 MB huge page is one entry. Where the kernel lets us (MADV_COLLAPSE, Linux 6.1, whatever the THP
sysfs policy), the server's anonymous memory is collapsed into huge pages once, before its zygotes are forked: a
program that writes to a shared huge page makes the kernel split that mapping and copy the 4 kB page written, as
before, so a child's memory and its accounting are unchanged. Measured here: fork 0.63 -> 0.33 ms, a child's
own CPU 2.6 -> 2.35 ms.
"""

from __future__ import annotations

import ctypes

from .layers._libc import libc

MADV_COLLAPSE = 25
HUGE = 2 << 20


def _anonymous_writable() -> list[tuple[int, int]]:
    """The private anonymous writable mappings (the malloc heap and Python's arenas), as (start, end)."""
    found = []
    with open("/proc/self/maps") as fh:
        for line in fh:
            fields = line.split()
            name = fields[5] if len(fields) > 5 else ""
            if fields[1].startswith("rw") and fields[1].endswith("p") and name in ("", "[heap]"):
                start, end = (int(bound, 16) for bound in fields[0].split("-"))
                found.append((start, end))
    return found


def collapse() -> int:
    """Collapse every whole, aligned 2 MB of the anonymous writable mappings; the bytes now in huge pages. Best
    effort: a kernel without MADV_COLLAPSE, or memory it cannot collapse, leaves the pages as they are."""
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    collapsed = 0
    for start, end in _anonymous_writable():
        low, high = -(-start // HUGE) * HUGE, end // HUGE * HUGE
        if high > low and libc.madvise(low, high - low, MADV_COLLAPSE) == 0:
            collapsed += high - low
    return collapsed
