"""The station's encoded outputs: one encoder per format, started by the first listener that needs
it, fed every block the clock emits, and what each feeds: the Opus WebSocket listeners
(``ws-opus``), ``/live.mp3`` (``mp3``) and the HLS segments (``hls``) from the one MP3 encoder,
and the Icecast mounts (``icecast:/MOUNT``) from the MP3 or Ogg Opus one. One
:class:`~riffcast.delivery.output.Output` to the clock."""

from __future__ import annotations

import asyncio
import time
from typing import Callable

import numpy as np

from riffcast.delivery.backlog import BacklogPolicy
from riffcast.delivery.codecs import Codec, Packet
from riffcast.delivery.hls import HlsSegmenter, Segment
from riffcast.delivery.http_stream import LiveMp3
from riffcast.delivery.icecast import IcecastTarget
from riffcast.delivery.icecast_source import IcecastSource
from riffcast.delivery.output import Block, OutputReport, Tally
from riffcast.delivery.websocket import OpusListeners
from riffcast.delivery.worker import EncoderWorker


def title_of(prompts: list[tuple[str, float]]) -> str:
    """A now-playing title for players: the prompts heard, with their shares when blended."""
    if len(prompts) == 1:
        return prompts[0][0]
    total = sum(weight for _, weight in prompts) or 1.0
    return " + ".join(f"{text} ({100 * weight / total:.0f} %)" for text, weight in prompts)


class EncodedOutputs:
    """Encoders by codec and the outputs they feed (see the module docstring).

    listener_policy: the backlog policy of the Opus WebSocket listeners (``/stream``'s).
    history: the blocks emitted in the last second or so, oldest first, as (position, samples):
      a new encoder starts with them, so its first listener gets a pre-roll as later ones do.
    """

    def __init__(self, station: str, listener_policy: BacklogPolicy,
                 history: Callable[[], list[tuple[int, np.ndarray]]] = list,
                 extra_headers: tuple[tuple[str, str], ...] = ()) -> None:
        self._title = station
        self.opus_listeners = OpusListeners(listener_policy)
        self.live_mp3 = LiveMp3(station)
        self.hls = HlsSegmenter()
        self.hls_tally = Tally("hls")  # segments are fetched: bytes served, never dropped
        self.on_segment: Callable[[Segment], None] = lambda segment: None  # each HLS segment completed
        self.icecast: list[IcecastSource] = []
        self._history = history
        self._extra_headers = extra_headers
        self._workers: dict[Codec, EncoderWorker] = {}

    @property
    def title(self) -> str:
        """What is heard now, for players (ICY, Icecast); a change starts a new Ogg stream."""
        return self._title

    @title.setter
    def title(self, title: str) -> None:
        if title != self._title and Codec.OGG_OPUS in self._workers:
            self._workers[Codec.OGG_OPUS].retitle(title)
        self._title = title

    def worker(self, codec: Codec) -> EncoderWorker:
        """The encoder of ``codec``, started now if it was not running (on the event loop)."""
        worker = self._workers.get(codec)
        if worker is None:
            deliver = {Codec.OPUS: self.opus_listeners.deliver, Codec.MP3: self._deliver_mp3, Codec.OGG_OPUS: self._deliver_ogg}[codec]
            worker = EncoderWorker(codec, asyncio.get_running_loop(), deliver)
            worker.retitle(self._title)
            for position, samples in self._history():
                worker.submit(position, samples)
            self._workers[codec] = worker
        return worker

    def write(self, block: Block) -> None:
        """One emitted block: its title and events, and its samples to every running encoder (never waits)."""
        self.title = block.title or self._title
        self.opus_listeners.write(block)
        for worker in self._workers.values():
            worker.submit(block.position, block.samples)

    def attach_live_mp3(self, transport: asyncio.Transport, *, icy: bool) -> None:
        worker = self.worker(Codec.MP3)
        self.live_mp3.attach(transport, icy=icy, recent=worker.recent(), title=self.title,
                             extra_headers=self._extra_headers)

    def start_icecast(self, targets: list[IcecastTarget], station: str) -> None:
        """Start a source client for each mount (on the event loop), and the encoders they need.
        Each is named ``icecast:MOUNT`` in ``/healthz`` and ``/metrics`` (``icecast:HOST:PORT/MOUNT``
        where two targets share a mount)."""
        mounts = [target.mount for target in targets]
        for target in targets:
            worker = self.worker(target.codec)
            # A source that connects anew must begin with a stream's headers: an Ogg one gets a new stream.
            on_connect = (lambda worker=worker: worker.retitle(self._title)) if target.codec is Codec.OGG_OPUS else None
            where = target.mount if mounts.count(target.mount) == 1 else f"{target.host}:{target.port}{target.mount}"
            source = IcecastSource(target, station=station, on_connect=on_connect, output=f"icecast:{where}")
            source.start()
            self.icecast.append(source)

    def health(self) -> tuple[OutputReport, ...]:
        """``ws-opus``, ``mp3``, ``hls`` and each Icecast mount now."""
        return (*self.opus_listeners.health(), *self.live_mp3.health(), self.hls_tally.report(0),
                *(source.state.report() for source in self.icecast))

    def problems(self) -> tuple[str, ...]:
        """One line per Icecast mount that is down (for ``/healthz``)."""
        return tuple(report.problem for report in self.health() if report.problem is not None)

    def _deliver_mp3(self, packets: list[Packet]) -> None:
        self.live_mp3.deliver(packets, self.title, time.monotonic())
        for segment in self.hls.feed(packets):
            self.on_segment(segment)
        self._feed_sources(Codec.MP3, packets)

    def _deliver_ogg(self, packets: list[Packet]) -> None:
        self._feed_sources(Codec.OGG_OPUS, packets)

    def _feed_sources(self, codec: Codec, packets: list[Packet]) -> None:
        for source in self.icecast:
            if source.target.codec is codec:
                source.feed(packets, self._title)

    async def hls_ready(self, wait_s: float = 8.0) -> bool:
        """Start the MP3 encoder if needed and wait (up to ``wait_s``) for its first HLS segment
        → whether there is one."""
        self.worker(Codec.MP3)
        deadline = time.monotonic() + wait_s
        while not self.hls.segments and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return bool(self.hls.segments)

    def encoder_cpu_s(self) -> dict[str, float]:
        """CPU seconds each running encoder has spent, by codec name."""
        return {codec.value: worker.cpu_s for codec, worker in self._workers.items()}

    @property
    def encoder_failures(self) -> int:
        return sum(worker.failures for worker in self._workers.values())

    def close(self) -> None:
        """Close the players and the Icecast links, stop the encoders."""
        self.live_mp3.close_all()
        for source in self.icecast:
            source.close()
        for worker in self._workers.values():
            worker.stop()
