"""The byte order of UTF-16 and UTF-32 text whose label leaves it unsaid.

Extraction (what staff read) and redaction (what an office receives) both have to decide it;
they share this one answer so the guard reads the same text staff do.
"""

from __future__ import annotations


def little_endian_likely(data: bytes, width: int = 2) -> bool:
    """Whether UTF-16 (`width` 2) or UTF-32 (4) text without a byte order mark reads
    little-endian: where the zero high bytes of Latin letters fall in the first 4 KB, else
    big-endian, as RFC 2781 (4.3) says."""
    head = data[:4096]
    high_first = sum(1 for i in range(0, len(head) - width + 1, width) if head[i] == 0)
    high_last = sum(1 for i in range(width - 1, len(head), width) if head[i] == 0)
    return high_last > high_first
