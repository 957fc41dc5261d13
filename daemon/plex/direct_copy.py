"""The backup's bytes written around the page cache (``O_DIRECT``), where the file system can.

A buffered copy of Plex's database puts every byte of the backup into the page cache: 600 MB
of new cache pages at a million plays, which the kernel must find, zero and map, and which
push out pages Plex and the apply are using, for a file nobody reads unless a restore needs it.
Found free, those pages cost little (the kernel copy of 600 MB: 0.36 s, 0.22 s of CPU); on a
machine whose memory is not already full of reclaimable cache (a virtual machine touching its
memory for the first time, a host whose page cache is busy), the same copy took 1.6-2.1 s,
1.4-1.9 s of it kernel CPU, the cost of getting each new page (`bench/bench_apply`'s revert
backs up while the apply's backup of the same size is still kept). Written with ``O_DIRECT``
from one reused buffer, the copy takes 0.31-0.46 s and 0.1 s of CPU either way, and the page
cache keeps what it had (docs/benchmarks.md, "The backup around the page cache").

``O_DIRECT`` needs the buffer, the file offsets and the lengths aligned to the device's
block: the buffer is an anonymous mapping (page aligned), every chunk but the last is a
multiple of `ALIGN`, and the last one's unaligned end, if any, is written buffered. A file
system that refuses ``O_DIRECT`` (tmpfs, many FUSE file systems) refuses it at ``open`` or at
the first write, with ``EINVAL``: then nothing is copied here and the caller copies as before.
"""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
from pathlib import Path

ALIGN = 4096  # the largest logical block size of common devices (512 and 4096 B)
CHUNK = 8 << 20  # the buffer: 8 MiB (1-32 MiB copied 600 MB alike here)


def copy_uncached(src: int, dest: Path, length: int, step: int) -> bool:
    """Copy the first ``length`` bytes of the open file ``src`` into a new ``dest`` without
    caching them; False when ``dest``'s file system refuses ``O_DIRECT`` (``dest`` may then
    exist, empty or partly written: the caller's copy truncates it). Errors of the copy itself
    (a short source, a full disk) raise `OSError`."""
    direct = getattr(os, "O_DIRECT", 0)  # (Linux; not macOS)
    if not direct:
        return False
    try:
        dst = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | direct, 0o644)
    except OSError as exc:
        if exc.errno == errno.EINVAL:
            return False
        raise
    chunk = max(ALIGN, min(step, CHUNK) // ALIGN * ALIGN)
    try:  # the mapping is unmapped when the last view of it goes (not closed here: a
        # traceback may still hold a view of it)
        return _copy(src, dst, length, memoryview(mmap.mmap(-1, chunk)))
    finally:
        os.close(dst)


def _copy(src: int, dst: int, length: int, view: memoryview) -> bool:
    done = 0
    while done < length:
        got = os.preadv(src, [view[:min(len(view), length - done)]], done)
        if got <= 0:
            raise OSError(errno.EIO, f"the database file ended at byte {done} of {length}")
        aligned = got - got % ALIGN
        try:
            _write_all(dst, view[:aligned], done)
        except OSError as exc:
            if exc.errno == errno.EINVAL and done == 0:  # opened, but no direct writes here
                return False
            raise
        if aligned < got:  # the file's unaligned end (a page size below 4096): buffered
            fcntl.fcntl(dst, fcntl.F_SETFL, fcntl.fcntl(dst, fcntl.F_GETFL) & ~os.O_DIRECT)
            _write_all(dst, view[aligned:got], done + aligned)
        done += got
    return True


def _write_all(dst: int, data: memoryview, offset: int) -> None:
    while len(data):
        wrote = os.pwritev(dst, [data], offset)
        if wrote <= 0:
            raise OSError(errno.EIO, f"nothing written at byte {offset}")
        data, offset = data[wrote:], offset + wrote
