"""The stream encoders against their peer: CPU per second of audio, quality, bitrate, positions, latency.

riffcast encodes with libsndfile's Opus (through soundfile) and LAME (through lameenc)
(:mod:`riffcast.delivery.encoders`). The peer is what it used before: FFmpeg's libopus and
libmp3lame through PyAV, with the same settings (``PyAvEncoder`` below). PyAV is no longer a
dependency of riffcast; where ``av`` is not installed (``pip install .[test]`` brings it) the peer
columns and the decoded quality are skipped, and the script says so.

Per codec (Opus 64 kbit/s packets, MP3 128 kbit/s frames, Ogg Opus 96 kbit/s pages), over real music
(``benchmarks/music_set.py``) fed in the station's 0.1 s blocks:

- CPU: the encoder's process time (resampling included) per second of audio, riffcast's and the
  peer's, measured in the same run, and their ratio;
- quality: the spectral convergence ‖|X| − |Y|‖ / ‖|X|‖ (STFT 2048/512, Hann) of FFmpeg's decode
  (libavcodec through PyAV) against the input, lined up by the packets' positions — lower is
  better; "lag" is where the cross-correlation of the decode with the input peaks (0: the
  positions are right);
- kbit/s over the stream, packets, whether riffcast's packet positions equal the peer's;
- held back: the packets encoded but not yet out after a block, mean over blocks (latency, in
  packets of 20 ms / 26 ms).

Run: ``python benchmarks/encoders.py [--seconds 20] [--clips 3]`` (about a minute on 2 cores).
"""

from __future__ import annotations

import argparse
import fractions
import io
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr

sys.path.insert(0, str(Path(__file__).resolve().parent))

from riffcast.delivery.codecs import OPUS_RATE, SETTINGS, STREAM_RATE, Codec, Packet  # noqa: E402
from riffcast.delivery.encoders import OggOpusEncoder, StreamEncoder  # noqa: E402

from music_set import music_clips  # noqa: E402

try:
    import av
except ImportError:
    av = None

BLOCK_SAMPLES = 4410  # the station's frame: 0.1 s
START = 441_000  # a stream position that is not 0
_PYAV = {Codec.OPUS: ("libopus", "flt", {"frame_duration": "20", "application": "audio", "vbr": "constrained"}),
         Codec.MP3: ("libmp3lame", "s16p", {}),
         Codec.OGG_OPUS: ("libopus", "flt", {"frame_duration": "20", "application": "audio"})}


class PyAvEncoder:
    """The peer: FFmpeg's encoder through PyAV, as riffcast's encoders were (Ogg: FFmpeg's muxer,
    100 ms pages); ``encode(position, samples)`` → packets, as :class:`StreamEncoder`."""

    def __init__(self, codec: Codec) -> None:
        self.codec, settings = codec, SETTINGS[codec]
        name, self._format, options = _PYAV[codec]
        self._rate, self._frame = settings.codec_rate, settings.frame_samples
        self._resampler = (soxr.ResampleStream(STREAM_RATE, self._rate, 1, dtype="float32", quality="HQ")
                           if self._rate != STREAM_RATE else None)
        self._pending = np.zeros(0, np.float32)
        self._frames_in, self._start, self._written = 0, None, []
        if codec is Codec.OGG_OPUS:
            self._container = av.open(self, "w", format="ogg", options={"page_duration": "100000"})
            self._context = self._container.add_stream(name, rate=self._rate)
        else:
            self._context = av.CodecContext.create(name, "w")
            self._context.sample_rate, self._context.time_base = self._rate, fractions.Fraction(1, self._rate)
            self._context.format = self._format
        self._context.layout, self._context.bit_rate, self._context.options = "mono", settings.bit_rate, dict(options)

    def write(self, data: bytes) -> int:  # the Ogg muxer's output
        self._written.append(bytes(data))
        return len(data)

    def encode(self, position: int, samples: np.ndarray) -> list[Packet]:
        self._start = position if self._start is None else self._start
        block = self._resampler.resample_chunk(samples) if self._resampler else samples
        self._pending = np.concatenate([self._pending, block])
        whole = self._pending.size - self._pending.size % self._frame
        packets = []
        for start in range(0, whole, self._frame):
            frame_samples = self._pending[start : start + self._frame]
            data = (np.clip(np.round(frame_samples * 32767.0), -32768, 32767).astype(np.int16)
                    if self._format == "s16p" else frame_samples)
            frame = av.AudioFrame.from_ndarray(data[None, :], format=self._format, layout="mono")
            frame.sample_rate, frame.pts = self._rate, self._frames_in
            self._frames_in += self._frame
            for packet in self._context.encode(frame):
                if self.codec is Codec.OGG_OPUS:
                    self._container.mux(packet)
                else:
                    packets.append(Packet(self._start + round(int(packet.pts) * STREAM_RATE / self._rate), bytes(packet)))
        self._pending = self._pending[whole:]
        if self.codec is Codec.OGG_OPUS and self._written:
            packets, self._written = [Packet(position, b"".join(self._written))], []
        return packets


@dataclass(frozen=True)
class Run:
    packets: list[Packet]
    cpu_s: float
    held_back: float  # mean packets encoded but not out after a block


def run(encoder, signal: np.ndarray) -> Run:
    packets, held, frame = [], [], SETTINGS[encoder.codec].frame_samples
    started_s = time.process_time()
    for offset in range(0, signal.size - BLOCK_SAMPLES + 1, BLOCK_SAMPLES):
        packets += encoder.encode(START + offset, signal[offset : offset + BLOCK_SAMPLES])
        encoded = (offset + BLOCK_SAMPLES) * SETTINGS[encoder.codec].codec_rate // STREAM_RATE // frame
        held.append(encoded - len(packets))
    return Run(packets, time.process_time() - started_s, float(np.mean(held)))


def decoded(codec: Codec, packets: list[Packet]) -> tuple[int, np.ndarray]:
    """FFmpeg's decode (through PyAV) → (stream position of its first sample, float32 at 44.1 kHz)."""
    if codec is Codec.OGG_OPUS:
        with av.open(io.BytesIO(b"".join(packet.data for packet in packets)), "r", format="ogg") as container:
            pcm = np.concatenate([frame.to_ndarray().reshape(-1) for frame in container.decode(audio=0)])
        return START, soxr.resample(pcm.astype(np.float32), OPUS_RATE, STREAM_RATE, quality="VHQ")
    decoder = av.CodecContext.create("libopus" if codec is Codec.OPUS else "mp3float", "r")
    if codec is Codec.OPUS:
        decoder.sample_rate, decoder.layout = OPUS_RATE, "mono"
    pcm = np.concatenate([frame.to_ndarray().reshape(-1) for packet in packets
                          for frame in decoder.decode(av.Packet(packet.data))])
    pcm = (pcm / 32768.0 if pcm.dtype.kind == "i" else pcm).astype(np.float32)  # libopus decodes to s16
    rate = OPUS_RATE if codec is Codec.OPUS else STREAM_RATE
    return packets[0].position, soxr.resample(pcm, rate, STREAM_RATE, quality="VHQ") if rate != STREAM_RATE else pcm


def _magnitudes(signal: np.ndarray, size: int = 2048, hop: int = 512) -> np.ndarray:
    frames = np.lib.stride_tricks.sliding_window_view(signal, size)[::hop] * np.hanning(size)
    return np.abs(np.fft.rfft(frames, axis=1))


def quality(codec: Codec, packets: list[Packet], signal: np.ndarray) -> tuple[float, int]:
    """(spectral convergence of the decode against ``signal``, lag in samples) over the stream's
    middle (the first and last 0.5 s left out)."""
    first, pcm = decoded(codec, packets)
    lo, hi = START + STREAM_RATE // 2, START + signal.size - STREAM_RATE // 2
    hi = min(hi, first + pcm.size)
    reference, heard = signal[lo - START : hi - START], pcm[lo - first : hi - first]
    correlation = [float(np.dot(reference[64:-64], heard[64 + lag : heard.size - 64 + lag])) for lag in range(-32, 33)]
    lag = int(np.argmax(correlation)) - 32
    x, y = _magnitudes(reference), _magnitudes(heard)
    return float(np.linalg.norm(x - y) / np.linalg.norm(x)), lag


def _positions(run_: Run, other: Run) -> list[int]:
    """``run_``'s packet positions, as many as both runs have."""
    return [packet.position for packet in run_.packets[: min(len(run_.packets), len(other.packets))]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="audio per clip")
    parser.add_argument("--clips", type=int, default=3, help="music clips (benchmarks/music_set.py)")
    args = parser.parse_args()
    clips = [clip.samples()[: round(args.seconds * STREAM_RATE)] for clip in music_clips(quiet=True)[: args.clips]]
    if not clips:
        sys.exit("no music clips: run python benchmarks/music_set.py (see its docstring)")
    if av is None:
        print("av (PyAV) is not installed: no peer and no decoded quality (pip install .[test] brings it)")
    audio_s = sum(clip.size for clip in clips) / STREAM_RATE
    peer_name = "FFmpeg's libopus and libmp3lame through PyAV" if av is not None else "none"
    print(f"{len(clips)} clips, {audio_s:.0f} s of audio, {BLOCK_SAMPLES}-sample blocks; peer: {peer_name}")
    print("| codec | CPU ms/s riffcast | peer | ratio | spectral conv. riffcast | peer | lag riffcast / peer |"
          " kbit/s riffcast / peer | packets | positions = peer | held back riffcast / peer |")
    print("|---|---:|---:|---:|---:|---:|---|---|---|---|---|")
    for codec in (Codec.OPUS, Codec.MP3, Codec.OGG_OPUS):
        makers = {"riffcast": (OggOpusEncoder if codec is Codec.OGG_OPUS else lambda: StreamEncoder(codec))}
        if av is not None:
            makers["peer"] = lambda: PyAvEncoder(codec)
        runs = {name: [run(make(), clip) for clip in clips] for name, make in makers.items()}
        cpu = {name: 1000 * sum(r.cpu_s for r in rs) / audio_s for name, rs in runs.items()}
        kbit = {name: sum(len(p.data) for r in rs for p in r.packets) * 8 / audio_s / 1000 for name, rs in runs.items()}
        held = {name: "–" if codec is Codec.OGG_OPUS else f"{np.mean([r.held_back for r in rs]):.1f}" for name, rs in runs.items()}
        new = runs["riffcast"]
        if av is None:
            print(f"| {codec.value} | {cpu['riffcast']:.2f} | – | – | – | – | – | {kbit['riffcast']:.1f} / – |"
                  f" {sum(len(r.packets) for r in new)} | – | {held['riffcast']} / – |")
            continue
        peer = runs["peer"]
        scores = {name: [quality(codec, r.packets, clip) for r, clip in zip(rs, clips)] for name, rs in runs.items()}
        conv = {name: np.mean([s for s, _ in ss]) for name, ss in scores.items()}
        lags = {name: sorted({lag for _, lag in ss}) for name, ss in scores.items()}
        same = ("–" if codec is Codec.OGG_OPUS else
                all(_positions(a, b) == _positions(b, a) for a, b in zip(new, peer)))
        print(f"| {codec.value} | {cpu['riffcast']:.2f} | {cpu['peer']:.2f} | {cpu['riffcast'] / cpu['peer']:.2f} |"
              f" {conv['riffcast']:.4f} | {conv['peer']:.4f} | {lags['riffcast']} / {lags['peer']} |"
              f" {kbit['riffcast']:.1f} / {kbit['peer']:.1f} | {sum(len(r.packets) for r in new)} / {sum(len(r.packets) for r in peer)} |"
              f" {same} | {held['riffcast']} / {held['peer']} |")


if __name__ == "__main__":
    main()
