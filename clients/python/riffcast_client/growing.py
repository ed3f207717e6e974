"""Keep the length fields of a growing FLAC or MP3 file current, so that a file cut off by a
kill (SIGKILL, power cut) still reads to its end.

libsndfile fills these fields only when the file is closed: a FLAC file's STREAMINFO says
"0 samples" (unknown) until then, which soundfile turns into an impossible length, and an
MP3 file starts with an all-zero frame that LAME turns into its Xing/Info tag at close, so
mpg123 guesses the length from that frame's bitrate (a third of the audio, measured).
While the file grows, these functions write an upper bound of the length there with
``os.pwrite`` (the file offset libsndfile writes at does not move); a reader stops at the
end of the data, so an upper bound loses nothing. Closing the file overwrites both with
the exact values.
"""

from __future__ import annotations

import math
import os

_FLAC_MAGIC = b"fLaC"
_STREAMINFO_FIELDS_AT = 18  # "fLaC" (4) + block header (4) + block sizes (4) + frame sizes (6)
_TOTAL_SAMPLES_BITS = 36
_LAME_DELAY_FRAMES = 576  # samples LAME outputs before the first input sample


def flac_set_total_samples(fd: int, total_samples: int) -> bool:
    """Write ``total_samples`` into the STREAMINFO of the FLAC file open as ``fd``.

    Returns False (and writes nothing) when the file does not start with a STREAMINFO block.
    """
    head = os.pread(fd, 8, 0)
    if len(head) < 8 or head[:4] != _FLAC_MAGIC or head[4] & 0x7F != 0 or head[5:8] != b"\x00\x00\x22":
        return False
    fields = int.from_bytes(os.pread(fd, 8, _STREAMINFO_FIELDS_AT), "big")
    mask = (1 << _TOTAL_SAMPLES_BITS) - 1
    fields = (fields & ~mask) | min(total_samples, mask)
    os.pwrite(fd, fields.to_bytes(8, "big"), _STREAMINFO_FIELDS_AT)
    return True


def mp3_tag_offset(fd: int) -> int | None:
    """Where the Xing/Info tag goes in LAME's placeholder frame at the start of the MP3 file
    open as ``fd``; None if the file does not start with such an all-zero placeholder.
    Ask once the first frames are written, before any ``mp3_set_frame_count``."""
    head = os.pread(fd, 4, 0)
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return None
    mpeg1 = (head[1] >> 3) & 3 == 3
    mono = (head[3] >> 6) & 3 == 3
    side_info = (17 if mono else 32) if mpeg1 else (9 if mono else 17)
    offset = 4 + side_info
    if os.pread(fd, 16, offset) != bytes(16):
        return None
    return offset


def mp3_samples_per_frame(fd: int) -> int:
    head = os.pread(fd, 2, 0)
    return 1152 if (head[1] >> 3) & 3 == 3 else 576


def mp3_set_frame_count(fd: int, tag_offset: int, samples: int, samples_per_frame: int) -> None:
    """Write an Info tag counting the frames that ``samples`` input samples can have produced
    (an upper bound: LAME's delay included, its buffered frames not yet written excluded)."""
    frames = math.ceil((samples + _LAME_DELAY_FRAMES) / samples_per_frame) + 1
    flags = 0x1  # the frame count only
    os.pwrite(fd, b"Info" + flags.to_bytes(4, "big") + frames.to_bytes(4, "big"), tag_offset)
