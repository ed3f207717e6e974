"""The rewind window's index, sans I/O: which stored pieces the window keeps, which to delete, and
the store's size bound (``riffcast serve --hls-window DURATION``).

Two kinds of piece, each one file in the store's folder:

- :attr:`Kind.MP3`: an HLS segment (:class:`riffcast.delivery.hls.Segment`: the ID3 tag and whole
  MP3 frames, about 2.3 s), for the playlist's window;
- :attr:`Kind.PCM`: ``CHUNK_SAMPLES`` (2 s) of the stream as emitted, 16-bit mono, for
  ``/stream?from=`` and ``/clip``: lossless, so a rewound listener's positions hold exactly the
  samples live listeners got at them (no decoder delay or bit reservoir to align).

A piece goes once its end is a whole window behind the newest sample stored, so the store holds
at most the window plus one piece of each kind: :func:`bound_bytes`.
"""

from __future__ import annotations

import enum
import math
from collections import OrderedDict
from dataclasses import dataclass, replace

DEFAULT_WINDOW_S = 600.0  # --hls-window's default: 10 minutes
CHUNK_SAMPLES = 88_200  # a PCM piece: 2 s at 44.1 kHz
PCM_SAMPLE_BYTES = 2  # 16-bit
ID3_BYTES = 73  # a segment's timestamp tag (riffcast.delivery.hls.id3_timestamp)


class Kind(enum.Enum):
    MP3 = "mp3"
    PCM = "pcm"


@dataclass(frozen=True)
class Piece:
    """One stored file. number: the segment's sequence (MP3) or ``position // CHUNK_SAMPLES``
    (PCM); position: its first sample; samples: how many it covers, contiguous from position
    (a PCM piece grows as blocks come); duration_s: MP3 only, for the playlist."""

    kind: Kind
    number: int
    position: int
    samples: int
    size_bytes: int
    duration_s: float = 0.0

    @property
    def end(self) -> int:
        return self.position + self.samples


@dataclass(frozen=True)
class Span:
    """Stream positions [first, end): what the window holds, or what was asked of it."""

    first: int
    end: int

    @property
    def samples(self) -> int:
        return self.end - self.first


def bound_bytes(window_s: float, *, mp3_bit_rate: int, sample_rate: int, segment_s: float) -> int:
    """The most the store holds for ``window_s``: the window plus one piece of each kind, the
    MP3 at ``mp3_bit_rate`` (bit/s; CBR frames are padded by at most a byte each, counted) with
    each segment's ID3 tag, the PCM at 16 bits."""
    mp3_s = window_s + 2 * segment_s
    segments = math.ceil(mp3_s / segment_s) + 1
    mp3 = math.ceil(mp3_s * mp3_bit_rate / 8) + segments * ID3_BYTES + math.ceil(mp3_s * sample_rate / 1152) + 1
    pcm = (math.ceil(window_s * sample_rate) + 2 * CHUNK_SAMPLES) * PCM_SAMPLE_BYTES
    return mp3 + pcm


class WindowIndex:
    """The pieces stored, oldest first by kind, and the window's rule (see the module docstring)."""

    def __init__(self, window_samples: int) -> None:
        if window_samples <= 0:
            raise ValueError(f"the window must be positive, got {window_samples} samples")
        self.window_samples = window_samples
        self._pieces: dict[Kind, OrderedDict[int, Piece]] = {kind: OrderedDict() for kind in Kind}
        self._newest_end: int | None = None  # the end of the newest sample stored
        self._run_first: int | None = None  # the oldest PCM piece of the newest run without a hole

    @property
    def size_bytes(self) -> int:
        return sum(piece.size_bytes for pieces in self._pieces.values() for piece in pieces.values())

    def pieces(self, kind: Kind) -> list[Piece]:
        return list(self._pieces[kind].values())

    def numbers(self, kind: Kind) -> tuple[int, int] | None:
        """The oldest and newest numbers held of ``kind`` (None: none), without a walk over them."""
        pieces = self._pieces[kind]
        return (next(iter(pieces)), next(reversed(pieces))) if pieces else None

    def get(self, kind: Kind, number: int) -> Piece | None:
        return self._pieces[kind].get(number)

    def add(self, piece: Piece) -> list[Piece]:
        """Store ``piece`` (or replace a PCM piece that grew) → the pieces now out of the window."""
        pieces = self._pieces[piece.kind]
        if piece.kind is Kind.PCM and piece.number not in pieces:
            newest = pieces[next(reversed(pieces))] if pieces else None
            if newest is None or newest.end != piece.position:
                self._run_first = piece.number  # a hole before it: a new run
        pieces[piece.number] = piece
        self._newest_end = piece.end if self._newest_end is None else max(self._newest_end, piece.end)
        return self._evict()

    def grow(self, number: int, samples: int, size_bytes: int) -> list[Piece]:
        """PCM piece ``number`` now holds ``samples`` more → the pieces now out of the window."""
        piece = self._pieces[Kind.PCM][number]
        return self.add(replace(piece, samples=piece.samples + samples, size_bytes=piece.size_bytes + size_bytes))

    def remove(self, kind: Kind, number: int) -> None:
        """Forget a piece (a write failed): a hole, and a PCM run ends there (found again by a walk: rare)."""
        pieces = self._pieces[kind]
        pieces.pop(number, None)
        if kind is Kind.PCM:
            held = list(pieces.values())
            self._run_first = held[-1].number if held else None
            for earlier, later in zip(reversed(held[:-1]), reversed(held[1:])):
                if earlier.end != later.position:
                    break
                self._run_first = earlier.number

    def _evict(self) -> list[Piece]:
        newest = self._newest_end
        gone = []
        for pieces in self._pieces.values():
            while pieces and newest - next(iter(pieces.values())).end >= self.window_samples:
                gone.append(pieces.popitem(last=False)[1])
                if gone[-1].kind is Kind.PCM and gone[-1].number == self._run_first:
                    self._run_first = next(iter(pieces), None)
        return gone

    def pcm_window(self) -> Span | None:
        """The span of PCM held without a hole, ending at the newest sample; None when empty."""
        pieces = self._pieces[Kind.PCM]
        if not pieces or self._run_first is None:
            return None
        return Span(pieces[self._run_first].position, pieces[next(reversed(pieces))].end)

    def pcm_pieces(self, span: Span) -> list[Piece] | None:
        """The PCM pieces that hold ``span`` whole, in order; None if any of it is not held."""
        if span.end <= span.first:
            return None
        pieces = self._pieces[Kind.PCM]
        found = [pieces.get(number) for number in range(span.first // CHUNK_SAMPLES, (span.end - 1) // CHUNK_SAMPLES + 1)]
        if None in found or found[0].position > span.first or found[-1].end < span.end:
            return None
        if any(earlier.end != later.position for earlier, later in zip(found, found[1:])):
            return None
        return found
