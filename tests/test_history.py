"""The as-run log and /history (riffcast.history), in-process: real files, no station."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from riffcast.delivery.output import Block
from riffcast.history.as_run import AiredOnce, Source, utc_iso
from riffcast.history.log_file import AsRunLog, check_as_run_path
from riffcast.history.segments import HistoryQuery, parse_query, parse_time, report_text, segments
from riffcast.pipeline.records import Aired, ImageRecord
from riffcast.steering.targets import Target
from riffcast.steering.walk import Walk

RATE = 44100
IMAGE = 28_224  # samples of new audio per window in these tests (64 columns of 441)
T0 = 1_796_000_000.0  # 2026-11-30T…Z


def _record(serial: int, prompt: str = "jazz", seed: int = 1, fallback: bool = False) -> ImageRecord:
    step = Walk(Target.from_text(prompt, seed=seed)).peek()
    return ImageRecord(serial * IMAGE, step, np.zeros((4, 4), np.uint8), fallback, serial * IMAGE, serial, True, IMAGE)


def _block(records: list[ImageRecord], first_heard_s: float) -> Block:
    aired = tuple(Aired(r, first_heard_s + (r.position - records[0].position) / RATE) for r in records)
    return Block(records[0].position, np.zeros(4410, np.float32), first_heard_s, aired=aired)


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_each_aired_image_is_one_line_with_its_span_settings_and_steer(tmp_path):
    path = tmp_path / "as-run.jsonl"
    log = AsRunLog(path, generator="synth", model="")
    log.steered(source=Source.CONTROL, steer_id="s-1", target=Target.from_text("rain", seed=9),
                transition_chunks=2, position=2 * IMAGE + 1000, image=2, utc_s=T0)  # acked on a beat inside image 2
    log.write(_block([_record(0), _record(1)], T0))
    log.write(_block([_record(2, "rain", 9)], T0 + 2 * IMAGE / RATE))
    log.listeners({"ws-pcm": 3, "mp3": 1}, utc_s=T0 + 2)
    log.close()
    steer, *images, counts = _lines(path)
    fields = steer.pop("fields")
    assert steer == {"type": "steer", "utc": utc_iso(T0), "position": 2 * IMAGE + 1000, "source": "control", "id": "s-1",
                     "image": 2}
    assert (fields["prompts"], fields["seed"], fields["transition_chunks"]) == ([{"text": "rain", "weight": 1.0}], 9, 2)
    assert {"denoising", "guidance"} <= set(fields) and "token" not in json.dumps(fields)
    assert [(i["position"], i["samples"]) for i in images] == [(0, IMAGE), (IMAGE, IMAGE), (2 * IMAGE, IMAGE)]
    assert [i["steer"] for i in images] == [None, None, "s-1"]  # the image it is first heard in names it
    assert images[2]["prompts"] == [{"text": "rain", "weight": 1.0}] and images[2]["seed"] == 9
    assert images[1]["utc"] == utc_iso(T0 + IMAGE / RATE) and images[0]["generator"] == "synth"
    assert counts == {"type": "listeners", "utc": utc_iso(T0 + 2), "count": 4, "by_output": {"ws-pcm": 3, "mp3": 1}}


def test_an_image_placed_after_its_first_frame_went_out_is_still_logged_once_in_order():
    """An underrun repeat stitched after the clock reached its position (its first frames went out
    as silence) is logged in the next tick: the log's spans stay contiguous."""
    aired, frame = AiredOnce(), 4410
    records = [_record(0), _record(1)]
    assert [r.serial for r in aired.new(records, frame)] == [0]
    assert aired.new(records, IMAGE) == [] and [r.serial for r in aired.new(records, IMAGE + frame)] == [1]
    late = _record(2, fallback=True)  # placed when the clock was already past 2 * IMAGE
    assert aired.new(records, 2 * IMAGE + 3 * frame) == []
    records.append(late)
    assert aired.new(records, 2 * IMAGE + 4 * frame) == [late]  # the tick after it was placed
    assert aired.new(records, 3 * IMAGE) == []  # never twice


def test_a_restart_never_touches_an_existing_log_and_splits_start_parts_named_by_utc(tmp_path):
    path = tmp_path / "as-run.jsonl"
    path.write_text("the previous run\n")
    log = AsRunLog(path, generator="synth", model="")
    log.write(_block([_record(0)], T0))
    log.close()
    assert path.read_text() == "the previous run\n" and log.parts == [tmp_path / "as-run.1.jsonl"]
    hourly = AsRunLog(tmp_path / "hourly.jsonl", generator="synth", model="", split_s=3600)
    start_s = (T0 // 3600 + 1) * 3600 - 1  # a second before an hour turns
    hourly.write(_block([_record(0)], start_s))
    hourly.write(_block([_record(1)], start_s + 1.5))
    hourly.close()
    names = [part.name for part in hourly.parts]
    assert names == [f"hourly.{time.strftime('%Y-%m-%dT%H-%M-%SZ', time.gmtime(s))}.jsonl"
                     for s in (start_s // 3600 * 3600, start_s // 3600 * 3600 + 3600)]
    assert [len(_lines(part)) for part in hourly.parts] == [1, 1]


def test_a_restarted_station_remembers_its_earlier_runs_for_history(tmp_path):
    path = tmp_path / "as-run.jsonl"
    first = AsRunLog(path, generator="synth", model="")
    first.write(_block([_record(0, "dawn"), _record(1, "dawn")], T0))
    first.close()
    (tmp_path / "as-run.1.jsonl.bak").write_text("not a part\n")  # beside it, but not the log's
    second = AsRunLog(path, generator="synth", model="")
    second.write(_block([_record(0, "dusk")], T0 + 3600))
    second.close()
    found = segments(second.lines(), parse_query("limit=10"), sample_rate=RATE)
    assert second.history(parse_query("limit=10"), sample_rate=RATE) == found  # merged as the lines came, the same
    assert [(s["prompts"][0]["text"], s["image"]) for s in found] == [("dawn", None), ("dusk", None)]
    assert found[0]["samples"] == 2 * IMAGE and found[0]["start"] == utc_iso(T0)
    assert second.parts == [tmp_path / "as-run.1.jsonl"] and len(_lines(path)) == 2  # the old part untouched


def test_a_line_is_in_the_file_as_soon_as_it_is_written(tmp_path):  # what a kill -9 would leave
    path = tmp_path / "as-run.jsonl"
    log = AsRunLog(path, generator="synth", model="")
    log.write(_block([_record(0)], T0))
    deadline = time.monotonic() + 5
    while not (path.exists() and path.read_text().endswith("\n")) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(_lines(path)) == 1  # the writer thread handed it to the kernel; nothing waits for close()
    log.close()


def test_a_path_whose_folder_is_missing_or_a_folder_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        check_as_run_path(tmp_path / "missing" / "as-run.jsonl")
    with pytest.raises(IsADirectoryError, match="is a folder"):
        check_as_run_path(tmp_path)


def test_a_failing_disk_drops_lines_names_the_problem_and_the_memory_goes_on(tmp_path):
    log = AsRunLog(tmp_path / "missing-folder" / "as-run.jsonl", generator="synth", model="", retry_every_s=60)
    log.write(_block([_record(0), _record(1)], T0))
    log.close()
    (report,) = log.health()
    assert log.lines_dropped == 2 and "2 line(s) dropped" in report.problem and "No such file" in report.problem
    assert [line["position"] for line in log.lines()] == [0, IMAGE]  # /history still knows


def test_history_merges_images_with_the_same_settings_and_filters_by_time():
    log = AsRunLog(None, generator="synth", model="")
    records = [_record(0), _record(1), _record(2, "rain", 9), _record(3, "rain", 9), _record(4, "jazz")]
    log.write(_block(records, T0))
    log.close()
    found = segments(log.lines(), HistoryQuery(), sample_rate=RATE, picture=lambda serial: f"/p/{serial}.png")
    assert [(s["position"], s["samples"], s["prompts"][0]["text"]) for s in found] == [
        (0, 2 * IMAGE, "jazz"), (2 * IMAGE, 2 * IMAGE, "rain"), (4 * IMAGE, IMAGE, "jazz")]
    assert found[1]["start"] == utc_iso(T0 + 2 * IMAGE / RATE) and found[1]["end"] == utc_iso(T0 + 4 * IMAGE / RATE)
    assert found[0]["image"] == "/p/0.png"
    since = parse_query(f"since={utc_iso(T0 + 3 * IMAGE / RATE)}")
    assert [s["position"] for s in segments(log.lines(), since, sample_rate=RATE)] == [2 * IMAGE, 4 * IMAGE]
    assert [s["position"] for s in segments(log.lines(), parse_query("limit=1"), sample_rate=RATE)] == [4 * IMAGE]
    for query in (HistoryQuery(), since, parse_query("limit=1"), HistoryQuery(until_s=T0 + 2.5 * IMAGE / RATE, limit=1)):
        assert log.history(query, sample_rate=RATE) == segments(log.lines(), query, sample_rate=RATE)
    text = report_text(found)
    assert text.count("\n") == 4 and "rain (seed 9, synth)" in text


@pytest.mark.parametrize("query, message", [
    ("since=yesterday", "since must be an ISO 8601 time"), ("limit=0", "limit must be a whole number"),
    ("limit=5000", "from 1 to 1000"), ("from=2026-01-01", "unknown parameter 'from'"),
])
def test_bad_history_queries_are_one_line(query, message):
    with pytest.raises(ValueError, match=message):
        parse_query(query)


@pytest.mark.system
def test_a_station_killed_and_restarted_logs_every_aired_second_once_and_history_agrees(tmp_path):
    """A real station with ``--as-run``, steered from control (with an id), OSC and its playlist, then
    ``kill -9``: the log holds every second aired up to the last one, positions contiguous, each steer
    with its ack position inside the logged span and its first image; restarted with the same
    ``--as-run`` the log goes on in its next part, and ``/history`` and ``/history.txt`` tell the
    same story as the files."""
    import asyncio
    import signal
    import urllib.request

    from pythonosc.udp_client import SimpleUDPClient
    from websockets.asyncio.client import connect

    from station import TOKEN, free_port, running_station

    async def steer_with_id(running) -> dict:
        async with connect(f"{running.control_url}?token={TOKEN}") as control:
            await control.send(json.dumps({"type": "steer", "id": "evening-1", "prompt": "evening jazz, rain",
                                           "transition_chunks": 1}))
            return json.loads(await control.recv())

    def wait_for(path: Path, found, timeout_s: float = 20.0) -> list[dict]:
        deadline = time.monotonic() + timeout_s
        while not found(lines := _lines(path)):
            assert time.monotonic() < deadline, lines[-3:]
            time.sleep(0.1)
        return lines

    def aired(source: str):  # a steer from ``source`` taken, and the stream logged past its ack position
        def found(lines: list[dict]) -> bool:
            steer = next((line for line in lines if line["type"] == "steer" and line["source"] == source), None)
            return steer is not None and any(line["type"] == "image" and line["position"] + line["samples"] >
                                             steer["position"] for line in lines)
        return found

    path, playlist, osc_port = tmp_path / "as-run.jsonl", tmp_path / "programme.toml", free_port()
    playlist.write_text('[[target]]\nprompt = "first programme"\nduration_s = 5\n\n'
                        '[[target]]\nprompt = "second programme"\nduration_s = 3600\n')
    args = ("--as-run", str(path), "--playlist", str(playlist), "--osc-port", str(osc_port))
    with running_station(tmp_path, *args) as running:
        wait_for(path, aired("playlist"))  # its second entry after 5 s
        SimpleUDPClient("127.0.0.1", osc_port).send_message("/riffcast/prompt", "osc marimba")
        wait_for(path, aired("osc"))
        ack = asyncio.run(steer_with_id(running))
        wait_for(path, aired("control"))
        time.sleep(1.0)
        killed_s = time.time()
        running.process.send_signal(signal.SIGKILL)
        running.process.wait(10)
    first = _lines(path)
    with running_station(tmp_path, *args) as running:
        second_part = tmp_path / "as-run.1.jsonl"
        wait_for(second_part, lambda lines: sum(line["type"] == "image" for line in lines) >= 3)
        with urllib.request.urlopen(running.http + "/history?limit=1000", timeout=5) as response:
            history = json.loads(response.read())["segments"]
        with urllib.request.urlopen(running.http + "/history.txt", timeout=5) as response:
            text = response.read().decode()
    assert _lines(path)[: len(first)] == first  # the killed run's part is never written again
    second = _lines(second_part)
    for lines in (first, second):
        assert lines[0]["type"] == "run"
        images = [line for line in lines if line["type"] == "image"]
        assert images[0]["position"] == 0 and all(a["position"] + a["samples"] == b["position"]
                                                  for a, b in zip(images, images[1:]))  # contiguous, no overlap
        assert all(b["utc"] > a["utc"] for a, b in zip(images, images[1:]))
    images = [line for line in first if line["type"] == "image"]
    logged_to_s = parse_time(images[-1]["utc"], "utc") + images[-1]["samples"] / RATE
    assert logged_to_s >= killed_s - 1.0, (killed_s - logged_to_s)  # nothing lost but the last second
    assert second[1:] and parse_time(second[1]["utc"], "utc") > killed_s  # the restart's log starts after it
    assert any(line["type"] == "listeners" for line in first)
    steers = {line["source"]: line for line in first if line["type"] == "steer"}
    assert set(steers) == {"playlist", "osc", "control"}
    assert (steers["control"]["id"], steers["control"]["position"]) == ("evening-1", ack["position"])
    for steer in steers.values():
        assert any(i["position"] <= steer["position"] < i["position"] + i["samples"] for i in images), steer
        assert steer["image"] in [i["index"] for i in images]
    named = next(i for i in images if i["steer"] == "evening-1")  # the image it is first heard in names it
    assert named["position"] <= ack["position"] < named["position"] + named["samples"]
    runs = [[line for line in part if line["type"] == "image"] for part in (first, second)]
    aired = [(line["utc"], line["position"]) for part in runs for line in part]
    starts = [(s["start"], s["position"]) for s in history]
    assert starts[0] == aired[0] and set(starts) <= set(aired)  # each segment starts at a logged image
    in_first = [s for s in history if s["start"] <= runs[0][-1]["utc"]]
    assert sum(s["samples"] for s in in_first) == sum(i["samples"] for i in runs[0])  # the same seconds, once
    assert [s["image"] for s in in_first] == [None] * len(in_first)  # an earlier run's: no picture
    for prompt in ("first programme", "second programme", "osc marimba", "evening jazz, rain"):
        assert any(prompt in [p["text"] for p in s["prompts"]] for s in in_first) and prompt in text
