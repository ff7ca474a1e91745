"""How many bytes of a JPEG code its pixels: what the density check
(:func:`mchmc.pages.limits.check_density`) weighs a JPEG's claimed size against.

A file's size is no measure: a 2.9 KB progressive bomb claiming 9000 x 9000,
padded to 68 KB with a COM segment, passed a check on the file's size and
took 4 GB to decode. What cannot be padded away is the entropy-coded data of
the scans that code every block's DC coefficient (spectral selection starting
at 0: a baseline JPEG's scans, a progressive one's DC scans): at least one bit
for every 8 x 8 block. Comments, APPn segments, tables, bytes after the end,
restart markers and the AC scans of a progressive file are not counted.
"""
from __future__ import annotations

import mmap
import os

SOS, EOI = 0xDA, 0xD9
STANDALONE = frozenset({0x01, 0xD8, *range(0xD0, 0xD8)})  # TEM, SOI, RSTn: markers without a length
RST = range(0xD0, 0xD8)


def dc_scan_bytes(data) -> int:
    """Bytes of entropy-coded data in the scans of ``data`` (bytes, or an mmap) whose spectral
    selection starts at 0; a file cut short counts what it has."""
    n, i, total = len(data), 2, 0
    while i + 4 <= n:
        if data[i] != 0xFF:  # junk between segments: libjpeg skips to the next marker, so do we
            i = data.find(b"\xff", i)
            if i < 0:
                break
            continue
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte before a marker
            i += 1
        elif marker in STANDALONE:
            i += 2
        elif marker == EOI:
            break
        else:
            start = i + 2 + (data[i + 2] << 8 | data[i + 3])
            if marker != SOS:
                i = start
                continue
            components = data[i + 4] if i + 4 < n else 0
            ss_at = i + 5 + 2 * components
            end, coded = _entropy_coded(data, start)
            if ss_at < n and data[ss_at] == 0:
                total += coded
            i = end
    return total


def _entropy_coded(data, start: int) -> tuple[int, int]:
    """(where the scan's data ends: the next marker other than a restart, how many bytes it holds)."""
    n, k, restarts = len(data), start, 0
    if start >= n:
        return n, 0
    while True:
        f = data.find(b"\xff", k)
        if f < 0 or f + 1 >= n:
            return n, n - start - 2 * restarts
        follower = data[f + 1]
        if follower == 0x00:  # a stuffed 0xFF: data
            k = f + 2
        elif follower in RST:
            restarts, k = restarts + 1, f + 2
        else:
            return f, f - start - 2 * restarts


def file_dc_scan_bytes(path: str | os.PathLike) -> int:
    """:func:`dc_scan_bytes` of the file at ``path``, mapped rather than read (a page can be large)."""
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size < 4:
            return 0
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return dc_scan_bytes(data)
