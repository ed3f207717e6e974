"""The Python listener client of riffcast: ``riffcast listen`` and a library for your own.

    from riffcast.client import Listener

    async with Listener("ws://127.0.0.1:8000/stream") as listener:
        async for position, samples, events in listener:
            ...  # samples: float32 (frames, channels) starting at absolute sample ``position``

Depends only on the wire protocol ``riffcast/1`` (DESIGN.md): no torch, no engine.
"""

from riffcast.client.jitter import JitterBuffer
from riffcast.client.record import StreamRecorder, Timeline
from riffcast.client.stream import Listener

__all__ = ["JitterBuffer", "Listener", "StreamRecorder", "Timeline"]
