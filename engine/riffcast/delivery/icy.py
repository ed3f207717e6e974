"""ICY (SHOUTcast) metadata, sans I/O: the now-playing title inside an endless MP3 response.

A client that sends ``Icy-MetaData: 1`` gets ``icy-metaint: N`` in the response head; then after
every N bytes of audio comes one metadata block: a length byte L, then L × 16 bytes —
``StreamTitle='…';`` padded with NUL bytes, or nothing (L = 0) when the title has not changed
since the previous block.
"""

from __future__ import annotations

METAINT_BYTES = 16000  # audio bytes between metadata blocks (1 s at 128 kbit/s)
MAX_BLOCK_BYTES = 255 * 16


def metadata_block(title: str | None) -> bytes:
    """One metadata block: the title (quotes and NULs dropped, cut to fit), or an empty block."""
    if title is None:
        return b"\x00"
    text = title.replace("'", "’").replace("\x00", "")
    payload = f"StreamTitle='{text}';".encode("utf-8")
    if len(payload) > MAX_BLOCK_BYTES:
        cut = text.encode("utf-8")[: MAX_BLOCK_BYTES - len("StreamTitle='';")].decode("utf-8", "ignore")
        payload = f"StreamTitle='{cut}';".encode("utf-8")
    blocks = -(-len(payload) // 16)
    return bytes([blocks]) + payload.ljust(blocks * 16, b"\x00")


class IcyInterleaver:
    """Audio bytes in, the same bytes with a metadata block after every ``metaint`` out."""

    def __init__(self, metaint: int = METAINT_BYTES) -> None:
        self.metaint = metaint
        self._until_block = metaint
        self._sent_title: str | None = None

    def feed(self, audio: bytes, title: str) -> bytes:
        """Interleave ``audio``; a block that falls inside it carries ``title`` if it changed."""
        out = bytearray()
        while len(audio) >= self._until_block:
            out += audio[: self._until_block]
            audio = audio[self._until_block :]
            changed = title != self._sent_title
            out += metadata_block(title if changed else None)
            self._sent_title = title
            self._until_block = self.metaint
        out += audio
        self._until_block -= len(audio)
        return bytes(out)
