"""riffcast/1 messages: hello fields, frame header layout, PCM formats."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from riffcast_client.protocol import ProtocolError, decode_frame, encode_frame, hello, now_playing


def test_hello_has_exactly_the_specified_fields():
    message = json.loads(
        hello(station="test", sample_rate=44100, channels=1, sample_format="s16le", frame_samples=4410, position=882, server_time=12.5)
    )
    assert message == {
        "type": "hello", "protocol": "riffcast/1", "station": "test", "sample_rate": 44100, "channels": 1,
        "format": "s16le", "frame_samples": 4410, "position": 882, "server_time": 12.5,
    }


def test_frame_header_is_uint64_position_then_float64_time_little_endian():
    message = encode_frame(2**40 + 3, 1_700_000_000.25, np.zeros(10, np.float32), "s16le")
    assert len(message) == 16 + 10 * 2
    assert struct.unpack("<Qd", message[:16]) == (2**40 + 3, 1_700_000_000.25)


@pytest.mark.parametrize("sample_format, tolerance", [("s16le", 0.5 / 32767), ("f32le", 0.0)])
def test_pcm_round_trip(sample_format, tolerance):
    samples = np.sin(np.linspace(0, 20, 441)).astype(np.float32) * 0.9
    frame = decode_frame(encode_frame(441, 3.0, samples, sample_format), sample_format)
    assert (frame.position, frame.server_time, frame.next_position) == (441, 3.0, 882)
    assert np.max(np.abs(frame.samples[:, 0] - samples)) <= tolerance + 1e-7


def test_s16_clips_instead_of_wrapping():
    frame = decode_frame(encode_frame(0, 0.0, np.array([2.0, -2.0], np.float32), "s16le"), "s16le")
    assert frame.samples[:, 0].tolist() == [1.0, -1.0]


def test_now_playing_event():
    event = json.loads(now_playing(position=225792, prompts=[("jazz", 1.0)], seed=4, alpha=0.25, image="/chunks/225792.png"))
    assert event == {
        "type": "now_playing", "position": 225792, "prompts": [{"text": "jazz", "weight": 1.0}],
        "seed": 4, "alpha": 0.25, "image": "/chunks/225792.png", "image_position": 225792, "bpm": None, "key": None,
        "next_downbeat": None,
    }
    controlled = json.loads(now_playing(position=0, prompts=[], seed=4, alpha=0.0, image="/c.png", bpm=94.0, key="A minor"))
    assert (controlled["bpm"], controlled["key"]) == (94.0, "A minor")
    timed = json.loads(now_playing(position=0, prompts=[], seed=4, alpha=0.0, image="/c.png", next_downbeat=88200))
    assert timed["next_downbeat"] == 88200
    window = json.loads(now_playing(position=253_575, prompts=[], seed=4, alpha=0.0, image="/c.png", image_position=56_007))
    assert window["image_position"] == 56_007  # a window's picture: its 448 context columns first


@pytest.mark.parametrize("message", [b"", b"x" * 15, b"x" * 17])
def test_malformed_frames_are_refused(message):
    with pytest.raises(ProtocolError):
        decode_frame(message, "s16le")


def test_unknown_format_and_negative_position_are_refused():
    with pytest.raises(ProtocolError, match="unknown format"):
        encode_frame(0, 0.0, np.zeros(1), "mp3")
    with pytest.raises(ProtocolError, match="negative"):
        encode_frame(-1, 0.0, np.zeros(1), "f32le")
