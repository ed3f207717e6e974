"""Ogg pages (RFC 3533), sans I/O: the packets inside the pages libsndfile's Opus writer makes.

A page is ``OggS``, a 27-byte header (its granule position at bytes 6–13, its segment count at
byte 26), the segment table (one length byte per segment, 0–255) and the segments. A packet is a
run of segments ended by one shorter than 255; a page's last packet may go on in the next page
(whose header type has bit 0, "continued", set). The CRC is not checked: the pages come from our
own writer, in memory.
"""

from __future__ import annotations

from dataclasses import dataclass

CAPTURE = b"OggS"
HEADER_BYTES = 27
CONTINUED = 0x01  # header type: the first packet began in the previous page


@dataclass(frozen=True)
class OggPage:
    """One page: its granule position (for Opus, 48 kHz samples up to its last packet's end), whether
    its first packet continues the previous page's, its packets (pieces) and whether the last one
    ends here."""

    granule_position: int
    continued: bool
    packets: tuple[bytes, ...]
    last_complete: bool


def read_pages(data: bytes) -> tuple[list[OggPage], int]:
    """The whole pages at the start of ``data`` and how many bytes they take (a partial page at
    the end is left for the next call). Raises ValueError where a page should start but does not."""
    pages, offset = [], 0
    while len(data) - offset >= HEADER_BYTES:
        if data[offset : offset + 4] != CAPTURE:
            raise ValueError(f"not an Ogg page at byte {offset}")
        segment_count = data[offset + 26]
        table_end = offset + HEADER_BYTES + segment_count
        if len(data) < table_end:
            break
        lengths = data[offset + HEADER_BYTES : table_end]
        end = table_end + sum(lengths)
        if len(data) < end:
            break
        packets, start, size = [], table_end, 0
        for length in lengths:
            size += length
            if length < 255:
                packets.append(data[start : start + size])
                start, size = start + size, 0
        if size:
            packets.append(data[start : start + size])
        pages.append(OggPage(int.from_bytes(data[offset + 6 : offset + 14], "little", signed=True),
                             bool(data[offset + 5] & CONTINUED), tuple(packets),
                             not size and bool(lengths)))
        offset = end
    return pages, offset


def join_packets(pages: list[OggPage], carried: bytes = b"") -> tuple[list[bytes], bytes]:
    """The whole packets of consecutive ``pages`` and the unfinished piece to carry to the next
    pages (``carried``: the piece the previous call left)."""
    packets: list[bytes] = []
    for page in pages:
        pieces = list(page.packets)
        if page.continued and pieces:
            pieces[0] = carried + pieces[0]
        elif carried:
            raise ValueError("an Ogg packet was cut off: the next page does not continue it")
        carried = b""
        if not page.last_complete and pieces:
            carried = pieces.pop()
        packets += pieces
    return packets, carried
