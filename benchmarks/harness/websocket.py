"""WebSocket frames as a server sends them (unmasked), parsed in place: for the lean listeners of the
benchmarks, which read raw sockets instead of running the websockets client."""

from __future__ import annotations

import struct

_U16 = struct.Struct("!H")
_U64 = struct.Struct("!Q")


def complete_frames(buffer: bytearray, offset: int = 0) -> tuple[list[tuple[int, int, int]], int]:
    """The whole frames in ``buffer`` from ``offset`` → ([(opcode, payload start, payload length)],
    the offset after them); a frame not yet complete waits for more bytes."""
    frames, size = [], len(buffer)
    while size - offset >= 2:
        length, head = buffer[offset + 1] & 0x7F, 2
        if length == 126:
            if size - offset < 4:
                break
            length, head = _U16.unpack_from(buffer, offset + 2)[0], 4
        elif length == 127:
            if size - offset < 10:
                break
            length, head = _U64.unpack_from(buffer, offset + 2)[0], 10
        start = offset + head
        if start + length > size:
            break
        frames.append((buffer[offset] & 0x0F, start, length))
        offset = start + length
    return frames, offset
