"""Play a :class:`~riffcast_client.jitter.JitterBuffer` on the sound card with sounddevice.

sounddevice (and PortAudio under it) is imported only here, only when playing, so headless
use needs neither (it comes with the ``[play]`` extra). A missing library or output device is an OSError with one clear line.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from riffcast_client.jitter import JitterBuffer

LISTEN_HINT = "(use --no-play to listen headless: record or pipe without playing)"
PLAY_EXTRA = "riffcast-client[play]"  # the extra that brings sounddevice


def _sounddevice(hint: str = LISTEN_HINT) -> Any:
    try:
        import sounddevice
    except ImportError:  # the [play] extra is not installed
        raise OSError(f"playing needs sounddevice, which is not installed: pip install '{PLAY_EXTRA}' {hint}") from None
    except OSError as error:  # sounddevice raises OSError when libportaudio is not found
        raise OSError(f"no sound output: {error} — install PortAudio (libportaudio2) {hint}") from None
    return sounddevice


def check_output_device(device: int | str | None = None, *, hint: str = LISTEN_HINT) -> str:
    """The name of the output device that would play; OSError, ending with ``hint`` (what the
    user can do instead), if there is none."""
    sd = _sounddevice(hint)
    try:
        info = sd.query_devices(device, kind="output")
    except (sd.PortAudioError, ValueError) as error:
        raise OSError(f"no sound output device: {error} {hint}") from None
    return str(info["name"])


class Player:
    """An output stream whose callback plays ``buffer`` (silence while it fills).

    sample_rate in Hz; the channels are the buffer's. ``device``: sounddevice's device id or
    name substring (None: the default output). ``callback_underflows`` counts the times the
    sound card itself reported an output underflow (the callback ran late).
    """

    def __init__(self, buffer: JitterBuffer, *, sample_rate: int, device: int | str | None = None) -> None:
        self.buffer = buffer
        self.sample_rate = sample_rate
        self.callback_underflows = 0
        sd = _sounddevice()
        try:
            self._stream = sd.OutputStream(
                samplerate=sample_rate, channels=buffer.channels, dtype="float32", device=device,
                latency="high", callback=self._callback,
            )
            self._stream.start()
        except (sd.PortAudioError, ValueError) as error:
            raise OSError(f"no sound output device: {error} {LISTEN_HINT}") from None

    def _callback(self, outdata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        if status.output_underflow:
            self.callback_underflows += 1
        self.buffer.read_into(outdata)

    @property
    def latency_s(self) -> float:
        """The sound card's own output latency, in seconds."""
        return float(self._stream.latency)

    def close(self) -> None:
        """Stop playing at once (what is still buffered is not played). Safe to call twice."""
        if not self._stream.closed:
            self._stream.abort()
            self._stream.close()

    def __enter__(self) -> Player:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
