"""``riffcast replay``: a stretch a real station aired, painted and stitched again from its as-run log,
against the station's own recording of it; and the plan read from a log, in-process."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile
from websockets.asyncio.client import connect

from riffcast.history.as_run import utc_iso
from riffcast.history.replay import plan
from riffcast.history.segments import parse_time

from station import TOKEN, running_station

RATE = 44100


def _utc(text: str) -> float:
    return parse_time(text, "utc")


RUN = {"type": "run", "utc": "2026-12-07T10:00:00.000Z", "generator": "synth", "model": "", "seed_image": "boom-bap-94",
       "window_columns": 64, "crossfade_columns": 64, "loudness": -16.0, "bandwidth": 16000.0, "sample_rate": RATE,
       "walk": {"start": {"prompts": [{"text": "jazz", "weight": 1.0}], "seed": 1}, "end": {"prompts": [{"text": "jazz", "weight": 1.0}], "seed": 2},
                "taken": 0, "transition_chunks": 4}}


def _image(index, position, utc_s, fallback=False):
    return {"type": "image", "utc": utc_iso(utc_s), "position": position, "samples": 28224,
            "index": None if fallback else index, "fallback": fallback}


def _steer(image, prompt, source="control"):
    return {"type": "steer", "utc": "2026-12-07T10:00:01.000Z", "position": 0, "source": source, "id": None, "image": image,
            "fields": {"prompts": [{"text": prompt, "weight": 1.0}], "seed": 5, "denoising": 0.75, "guidance": 7.0,
                       "transition_chunks": 1}}


def test_the_plan_takes_the_run_of_the_range_its_steers_and_its_images():
    t0 = _utc(RUN["utc"])
    lines = [RUN, _steer(3, "rain"), _steer(3, "snow"), _steer(40, "later"),
             *[_image(i, i * 28224, t0 + i * 0.64) for i in range(10)], _image(None, 10 * 28224, t0 + 6.4, fallback=True)]
    found = plan(lines, t0 + 2.0, t0 + 6.5, utc_s=_utc)
    assert (found.first, found.last, found.repeats) == (3, 9, 1)  # images 3 … 9 overlap [2 s, 6.5 s); one repeat
    assert found.position == 3 * 28224
    assert [(s.image, s.target.prompts[0].text) for s in found.steers] == [(3, "snow"), (40, "later")]  # the last per image
    assert found.walk.end.seed == 2 and found.run["window_columns"] == 64
    with pytest.raises(ValueError, match="no aired image"):
        plan(lines, t0 + 100, t0 + 200, utc_s=_utc)
    with pytest.raises(ValueError, match="later than"):
        plan(lines, t0 + 5, t0 + 5, utc_s=_utc)


async def _steer_at(station, moments):
    async with connect(f"{station.control_url}?token={TOKEN}") as control:
        started = time.monotonic()
        for at_s, fields in moments:
            await asyncio.sleep(max(0.0, started + at_s - time.monotonic()))
            await control.send(json.dumps({"type": "steer", "transition_chunks": 1, **fields}))
            assert json.loads(await control.recv())["type"] == "ack"


@pytest.mark.system
def test_a_replayed_stretch_is_what_the_station_aired(tmp_path):
    log, recording, clip = tmp_path / "as-run.jsonl", tmp_path / "aired.wav", tmp_path / "clip.wav"
    with running_station(tmp_path, "--as-run", str(log), "--record", str(recording)) as station:
        asyncio.run(_steer_at(station, [(2.0, {"prompt": "evening jazz, rain", "seed": 4}),
                                        (6.0, {"bpm": 128, "key": "D minor"}), (9.0, {"prompt": "deep house"})]))
        time.sleep(6.0)
        underruns = station.health().get("underruns", 0)
    lines = [json.loads(text) for text in log.read_text().splitlines()]
    images = [line for line in lines if line["type"] == "image"]
    assert sum(line["type"] == "steer" and line["image"] is not None for line in lines) == 3
    middle = [line for line in images if 6.0 * RATE <= line["position"] <= 13.0 * RATE]
    since, until = middle[0]["utc"], middle[-1]["utc"]
    done = subprocess.run([sys.executable, "-m", "riffcast", "replay", "--as-run", str(log), "--from", since, "--to", until,
                           "-o", str(clip)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    replayed, rate = soundfile.read(clip, dtype="float32")
    aired, _ = soundfile.read(recording, dtype="float32")
    start = int(done.stdout.split("from stream position ")[1].split()[0])
    assert start in [line["position"] for line in middle[:2]], (start, done.stdout)
    assert rate == RATE and replayed.size >= 5 * RATE
    if underruns == 0 and not any(line["fallback"] for line in images):
        heard = aired[start:start + replayed.size]
        assert np.array_equal(replayed, heard), (np.abs(replayed - heard).max(), done.stdout)  # sample for sample
    else:
        pytest.fail(f"the station underran ({underruns}): this machine is too loaded to compare the audio")


@pytest.mark.system
def test_a_replayed_tiny_random_stretch_paints_the_aired_images_and_its_audio(tmp_path):
    """Riffusion's ``tiny-random`` on the CPU: the images replay paints are the PNGs the station served
    (byte for byte), and its audio is the recording's, sample for sample — judged when no underrun
    repeat aired up to the range's end (``--lead-chunks 3`` paints 15 s ahead; a busy machine may
    still fall behind, and then the audio is not judged: see the end)."""
    import urllib.request

    log, recording, clip, images = tmp_path / "as-run.jsonl", tmp_path / "aired.wav", tmp_path / "clip.wav", tmp_path / "images"
    images.mkdir()
    served: dict[int, bytes] = {}  # stream position → the PNG the station served for the image starting there

    def collect(station) -> None:
        with urllib.request.urlopen(station.http + "/history?limit=1000", timeout=10) as response:
            for segment in json.loads(response.read())["segments"]:
                if segment["image"] is not None and segment["position"] not in served:
                    with urllib.request.urlopen(station.http + segment["image"], timeout=10) as picture:
                        served[segment["position"]] = picture.read()

    generator = ("--generator", "riffusion", "--model", "tiny-random", "--device", "cpu", "--steps", "1")
    with running_station(tmp_path, *generator, "--lead-chunks", "3", "--as-run", str(log),  # 15 s painted ahead
                         "--record", str(recording)) as station:
        asyncio.run(_steer_at(station, [(1.0, {"prompt": "evening jazz, rain", "seed": 4, "transition_chunks": 2})]))
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and sum(line.startswith('{"type":"image"') and '"index":null' not in line
                                                  for line in log.read_text().splitlines()) < 4:
            collect(station)
            time.sleep(1.0)
        collect(station)
    lines = [json.loads(text) for text in log.read_text().splitlines()]
    aired = [line for line in lines if line["type"] == "image"]
    painted = [line for line in aired if line["index"] is not None]
    assert len(painted) >= 4, aired
    middle = painted[1:3]  # after the first image (the stitcher's start), two images
    until = utc_iso(_utc(middle[-1]["utc"]) + 0.5)  # the last one's start is in the range
    done = subprocess.run([sys.executable, "-m", "riffcast", "replay", "--as-run", str(log), "--from", middle[0]["utc"],
                           "--to", until, "-o", str(clip), "--images", str(images), "--device", "cpu"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(int(path.stem) for path in images.iterdir()) == [line["index"] for line in middle], done.stdout
    compared = [line for line in middle if line["position"] in served]
    assert compared, (sorted(served), [line["position"] for line in middle])
    for line in compared:
        assert (images / f"{line['index']}.png").read_bytes() == served[line["position"]], line  # byte for byte
    replayed, _ = soundfile.read(clip, dtype="float32")
    recorded, _ = soundfile.read(recording, dtype="float32")
    start = middle[0]["position"]
    end = middle[-1]["position"] + middle[-1]["samples"]  # the image after it: the stitcher's look-ahead
    repeats = [line for line in aired if line["index"] is None and line["position"] <= end]
    if not repeats:  # the stitcher's state on air is the replay's, from the run's start
        heard = recorded[start:start + replayed.size]
        assert np.array_equal(replayed, heard), np.abs(replayed - heard).max()
        return
    # Underrun repeats aired (the CPU painted slower than real time on a busy machine): the station
    # stitched and levelled the repeats, the replay does not paint them, so the audio state differs
    # from the first repeat on (measured: −8 dB spectral convergence on an image right after its
    # predecessor, two repeats earlier). The images were judged above; the audio cannot be here.
    pytest.skip(f"{len(repeats)} underrun repeat(s) aired before the range's end: the images are the served "
                "ones, the audio is not comparable")


def test_an_image_logged_a_little_late_does_not_pull_its_predecessor_into_the_range():
    """The clock emits a frame a few ms late now and then: image 0's start + duration then runs past
    image 1's logged start. Asked from image 1's start, the plan starts at image 1."""
    t0 = _utc(RUN["utc"])
    lines = [RUN, _image(0, 0, t0 + 0.010), *[_image(i, i * 28224, t0 + i * 0.64) for i in range(1, 4)]]
    found = plan(lines, t0 + 0.64, t0 + 1.5, utc_s=_utc)
    assert (found.first, found.last, found.position) == (1, 2, 28224)
