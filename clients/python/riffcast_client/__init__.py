"""The Python listener client of riffcast: ``riffcast listen`` and a library for your own.

    from riffcast_client import Listener

    async with Listener("ws://127.0.0.1:8000/stream") as listener:
        async for position, samples, events in listener:
            ...  # samples: float32 (frames, channels) starting at absolute sample ``position``

Depends only on the wire protocol ``riffcast/1`` (docs/protocol.md): no torch, no engine.
"""

from riffcast_client.jitter import JitterBuffer
from riffcast_client.record import StreamRecorder, Timeline
from riffcast_client.stream import Listener, UntrustedCertificate

__all__ = ["JitterBuffer", "Listener", "StreamRecorder", "Timeline", "UntrustedCertificate"]
