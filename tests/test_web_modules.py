"""The browser player's ES modules (``clients/web``) under Node's own test runner, and its
JavaScript codec ``protocol.js`` on frames packed here with ``struct`` as the README's "Wire
protocol riffcast/1" says (kept apart from the Python codec's module, wherever that lives).

Node (20 or later) must be on PATH: without it these tests fail, they do not skip.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.system

HEADER = struct.Struct("<Qd")  # uint64 position, float64 server time (Unix s), little-endian
WEB = Path(__file__).resolve().parent.parent / "clients" / "web"
NODE_TIMEOUT_S = 120


def node() -> str:
    path = shutil.which("node")
    if path is None:
        pytest.fail("`node` (Node.js 20 or later) is not on PATH: the browser player's JavaScript tests need it",
                    pytrace=False)
    return path


def test_the_player_modules_pass_their_node_tests():
    files = sorted(str(path) for path in (WEB / "tests").glob("*.test.mjs"))
    assert files, f"no *.test.mjs in {WEB / 'tests'}"
    result = subprocess.run(
        [node(), "--test", "--test-reporter=tap", *files],
        cwd=WEB, capture_output=True, text=True, timeout=NODE_TIMEOUT_S,
    )
    output = result.stdout + result.stderr
    summary = dict(re.findall(r"^# (tests|pass|fail) (\d+)$", output, re.MULTILINE))
    assert result.returncode == 0, f"node --test failed (exit {result.returncode}):\n{output}"
    assert summary.get("fail") == "0" and int(summary.get("pass", 0)) > 0, f"no passing tests?\n{output}"
    assert summary["pass"] == summary["tests"], output


# Reads {hello, now_playing, frames: [{format, channels, base64}]} on stdin, prints what
# protocol.js makes of them.
DECODE = """
import { decodeFrame, parseHello, parseNowPlaying } from "./protocol.js";
let input = "";
for await (const chunk of process.stdin) input += chunk;
const { hello, now_playing, frames } = JSON.parse(input);
const decoded = frames.map(({ format, channels, base64 }) => {
  const frame = decodeFrame(Buffer.from(base64, "base64"), { format, channels });
  return { position: frame.position, serverTimeS: frame.serverTimeS, samples: Array.from(frame.samples) };
});
console.log(JSON.stringify({ hello: parseHello(hello), now_playing: parseNowPlaying(now_playing), frames: decoded }));
"""


def encode_frame(position: int, server_time: float, samples: np.ndarray, sample_format: str) -> bytes:
    """Header + interleaved PCM; s16le is float × 32767, clipped and rounded."""
    if sample_format == "s16le":
        return HEADER.pack(position, server_time) + np.round(np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    return HEADER.pack(position, server_time) + samples.astype("<f4").tobytes()


def test_protocol_js_reads_frames_and_messages_packed_by_the_spec():
    rng = np.random.default_rng(7)
    cases = [  # (position, server time, samples (frames, channels), format)
        (0, 1.5, rng.uniform(-1, 1, (4410, 1)).astype(np.float32), "f32le"),
        (2**40 + 7, 1_700_000_000.125, rng.uniform(-1, 1, (441, 1)).astype(np.float32), "s16le"),
        (2**32 + 1, 2.0, np.array([[1.0, -1.0], [0.5, 0.25], [-0.75, 0.0]], np.float32), "s16le"),
        (2**53 - 1, 3.0, rng.uniform(-1, 1, (5, 2)).astype(np.float32), "f32le"),
    ]
    hello = {"type": "hello", "protocol": "riffcast/1", "station": "cross check", "sample_rate": 44100, "channels": 1,
             "format": "f32le", "frame_samples": 4410, "position": 2**33, "server_time": 1.25}
    now_playing = {"type": "now_playing", "position": 2**33, "seed": 9, "alpha": 0.5, "image": "/chunks/abc/8589934592.png",
                   "prompts": [{"text": "jazz", "weight": 0.75}, {"text": "rain", "weight": 0.25}]}
    payload = {
        "hello": json.dumps(hello),
        "now_playing": json.dumps(now_playing),
        "frames": [
            {"format": fmt, "channels": samples.shape[1],
             "base64": base64.b64encode(encode_frame(position, time_s, samples, fmt)).decode()}
            for position, time_s, samples, fmt in cases
        ],
    }
    result = subprocess.run(
        [node(), "--input-type=module", "-e", DECODE], cwd=WEB, input=json.dumps(payload),
        capture_output=True, text=True, timeout=NODE_TIMEOUT_S,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    decoded = json.loads(result.stdout)
    assert decoded["hello"] == hello
    assert decoded["now_playing"] == now_playing
    for (position, time_s, samples, fmt), frame in zip(cases, decoded["frames"], strict=True):
        assert frame["position"] == position
        assert frame["serverTimeS"] == time_s
        if fmt == "s16le":
            expected = (np.round(np.clip(samples, -1, 1) * 32767) / 32767.0).astype(np.float32)
        else:
            expected = samples
        np.testing.assert_array_equal(np.float32(frame["samples"]), expected.reshape(-1))
