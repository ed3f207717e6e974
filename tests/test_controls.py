"""The musical controls (bpm, key, brightness, drums, bass) as steer fields: one validation by
every way in (constructors, /control, OSC, playlist, command line), kept where not named, saved
and resumed by --state (old state files still load), announced by now_playing."""

from __future__ import annotations

import argparse
import json

import pytest
from pythonosc.osc_message_builder import OscMessageBuilder

from riffcast.steering.control import ControlError, SteerRequest, parse_request
from riffcast.steering.fields import steer_from_fields
from riffcast.steering.options import add_steering_arguments, plan_from_args
from riffcast.steering.osc import OscRefused, messages_in, steer_from_osc
from riffcast.steering.playlist import load_playlist
from riffcast.steering.state import StationState, load_state, save_state
from riffcast.steering.targets import Key, KeyMode, Part, Target, WeightedPrompt
from riffcast.steering.walk import Step, WalkPosition

CURRENT = Target((WeightedPrompt("jazz", 2.0), WeightedPrompt("rain", 1.0)), seed=5, bpm=100.0, key=Key.of(9, KeyMode.MINOR))
CONTROLS = {"bpm": 94.0, "key": "F# major", "brightness": -0.5, "drums": "off", "bass": "only"}
BAD = [("bpm", 0), ("bpm", 241), ("bpm", "fast"), ("key", "H minor"), ("key", "A dorian"), ("key", 3),
       ("brightness", 3), ("brightness", float("nan")), ("drums", "maybe"), ("bass", "ON"), ("drums", None)]
OSC_ADDRESS = {"bpm": "/riffcast/bpm", "key": "/riffcast/key", "brightness": "/riffcast/brightness",
               "drums": "/riffcast/drums", "bass": "/riffcast/bass"}


def _osc(address: str, *arguments) -> Target:
    builder = OscMessageBuilder(address)
    for argument in arguments:
        builder.add_arg(argument)
    (message,) = messages_in(builder.build().dgram)
    return steer_from_osc(message, CURRENT).target


def _cli(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_steering_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.mark.parametrize(("text", "tonic", "mode", "name"), [
    ("A minor", 9, KeyMode.MINOR, "A minor"), ("F# major", 6, KeyMode.MAJOR, "F# major"),
    ("Gb major", 6, KeyMode.MAJOR, "F# major"), ("Bb major", 10, KeyMode.MAJOR, "Bb major"),
    ("c# MINOR", 1, KeyMode.MINOR, "C# minor"), (" Eb minor ", 3, KeyMode.MINOR, "Eb minor"),
])
def test_keys_are_read_with_sharps_or_flats_and_named_conventionally(text, tonic, mode, name):
    key = Key.parse(text)
    assert (key.tonic, key.mode, key.value, str(key), json.dumps(key)) == (tonic, mode, name, name, json.dumps(name))
    assert Key.of(tonic, mode) is key


def test_a_steer_with_only_controls_keeps_the_prompts_and_everything_unnamed():
    target = steer_from_fields({"bpm": 94}, CURRENT).target
    assert target.prompts == CURRENT.prompts and target.seed == 5 and target.key == CURRENT.key
    assert target.bpm == 94.0 and isinstance(target.bpm, float)
    target = steer_from_fields(CONTROLS, CURRENT).target
    assert (target.bpm, target.key_name, target.brightness, target.drums, target.bass) == (
        94.0, "F# major", -0.5, Part.OFF, Part.ONLY)
    assert steer_from_fields({"prompt": "rock"}, target).target.drums is Part.OFF  # a prompt steer keeps them
    freed = steer_from_fields({"bpm": None, "key": None}, target).target
    assert freed.bpm is None and freed.key is None and freed.drums is Part.OFF


def test_a_steer_with_nothing_still_needs_prompts():
    with pytest.raises(ValueError, match="give either 'prompt'"):
        steer_from_fields({"seed": 3}, CURRENT)


@pytest.mark.parametrize(("name", "value"), BAD)
def test_bad_values_are_refused_by_every_way_in_with_one_clear_error(name, value, tmp_path):
    with pytest.raises(ValueError, match=name):
        steer_from_fields({name: value}, CURRENT)
    with pytest.raises(ControlError, match=name) as refused:
        parse_request(json.dumps({"type": "steer", "id": 7, name: value}), CURRENT)
    assert refused.value.request_id == 7
    if value is not None and not isinstance(value, float):  # OSC has no NaN-free way to send these
        with pytest.raises(OscRefused, match=name):
            _osc(OSC_ADDRESS[name], value)
    with pytest.raises(OscRefused, match=name):
        _osc("/riffcast/steer", json.dumps({"type": "steer", name: value}))
    if isinstance(value, (int, str)) and not isinstance(value, bool):
        path = tmp_path / "list.toml"
        path.write_text(f'[[target]]\nduration_s = 60\n{name} = {json.dumps(value)}\n')
        with pytest.raises(ValueError, match=f"target 1: .*{name}"):
            load_playlist(path, CURRENT)
        if name != "key" or isinstance(value, str):
            with pytest.raises((ValueError, SystemExit)):
                plan_from_args(_cli(f"--{name}", str(value)))
    with pytest.raises(ValueError):
        Target(CURRENT.prompts, **{name: value})


def test_control_osc_playlist_and_command_line_steer_the_same_target(tmp_path):
    request = parse_request(json.dumps({"type": "steer", **CONTROLS}), CURRENT)
    assert isinstance(request, SteerRequest)
    by_control = request.target
    target = CURRENT
    for name, value in CONTROLS.items():
        target = steer_from_osc(messages_in(_osc_datagram(OSC_ADDRESS[name], value))[0], target).target
    assert target == by_control
    path = tmp_path / "list.toml"
    path.write_text("[[target]]\nduration_s = 60\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in CONTROLS.items()))
    (entry,) = load_playlist(path, CURRENT)
    assert entry.target == by_control
    plan = plan_from_args(_cli("--prompt", "jazz", "--bpm", "94", "--key", "F# major", "--brightness", "-0.5",
                               "--drums", "off", "--bass", "only"))
    assert (plan.target.bpm, plan.target.key_name, plan.target.brightness, plan.target.drums, plan.target.bass) == (
        94.0, "F# major", -0.5, Part.OFF, Part.ONLY)


def _osc_datagram(address: str, value) -> bytes:
    builder = OscMessageBuilder(address)
    builder.add_arg(value)
    return builder.build().dgram


def test_osc_nil_frees_the_tempo_and_key_only():
    builder = OscMessageBuilder("/riffcast/bpm")
    builder.add_arg(None, OscMessageBuilder.ARG_TYPE_NIL)
    (message,) = messages_in(builder.build().dgram)
    assert steer_from_osc(message, CURRENT).target.bpm is None
    builder = OscMessageBuilder("/riffcast/brightness")
    builder.add_arg(None, OscMessageBuilder.ARG_TYPE_NIL)
    (message,) = messages_in(builder.build().dgram)
    with pytest.raises(OscRefused):
        steer_from_osc(message, CURRENT)


def test_the_command_line_default_fingerprint_is_what_it_was_before_the_controls():
    """A station resumed with --state after the upgrade keeps its state: a target with default
    controls shows itself (and so fingerprints) as before."""
    plan = plan_from_args(_cli("--prompt", "jazz"))
    assert repr(plan.target) == ("Target(prompts=(WeightedPrompt(text='jazz', weight=1.0),), seed=0, "
                                 "negative_prompt='', denoising=0.75, guidance=7.0)")
    assert plan_from_args(_cli("--prompt", "jazz", "--bpm", "90")).configured != plan.configured


def test_state_saves_and_resumes_the_controls(tmp_path):
    path = tmp_path / "state.json"
    end = steer_from_fields(CONTROLS, CURRENT).target
    state = StationState("abc", WalkPosition(CURRENT, end, 1.5, 4), 2, 30.0)
    save_state(path, state)
    saved = json.loads(path.read_text())["walk"]["end"]
    assert (saved["bpm"], saved["key"], saved["drums"], saved["bass"]) == (94.0, "F# major", "off", "only")
    assert load_state(path) == state


def test_a_state_saved_before_the_controls_still_loads(tmp_path):
    old = {"prompts": [{"text": "jazz", "weight": 1.0}], "seed": 3, "negative_prompt": "", "denoising": 0.75,
           "guidance": 7.0}
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"version": 2, "configured": "x", "walk": {"start": old, "end": {**old, "seed": 4},
                                "taken": 1, "transition_chunks": 4}, "playlist_index": 0, "entry_elapsed_s": 3.0}))
    loaded = load_state(path)
    assert loaded.walk.end.seed == 4 and loaded.walk.end.bpm is None and loaded.walk.end.key is None
    assert (loaded.walk.end.brightness, loaded.walk.end.drums, loaded.walk.end.bass) == (0.0, Part.ON, Part.ON)


def test_now_playing_and_status_announce_bpm_and_key():
    from types import SimpleNamespace

    from riffcast.station import reports
    from riffcast.station.reports import now_playing_event

    end = steer_from_fields({"bpm": 120, "key": "Bb major"}, CURRENT).target
    for alpha, bpm, key in ((0.25, 100.0, "A minor"), (0.75, 120.0, "Bb major")):
        record = SimpleNamespace(step=Step(CURRENT, end, alpha, True), position=44100)
        picture = SimpleNamespace(serial=3, image_position=0)
        event = json.loads(now_playing_event(record, picture, 88200))
        assert (event["type"], event["bpm"], event["key"], event["position"]) == ("now_playing", bpm, key, 44100)
        assert event["next_downbeat"] == 88200
    station = SimpleNamespace(feed=SimpleNamespace(heading_to=steer_from_fields({"bpm": None}, end).target,
                                                   transition_chunks=4))
    settings = reports.settings(station)
    assert settings["bpm"] is None and settings["key"] == "Bb major" and settings["drums"] == "on"


@pytest.mark.system
def test_a_station_is_steered_with_the_controls_over_control(tmp_path):
    """Start-up options, a refused steer that changes nothing, a controls-only steer that keeps the
    prompts, all seen in status (now_playing's fields: test_now_playing_and_status_announce…)."""
    import asyncio

    from websockets.asyncio.client import connect

    from station import TOKEN, running_station

    async def session(running) -> tuple[dict, dict, dict, dict, dict]:
        async with connect(f"{running.control_url}?token={TOKEN}") as control:
            async def ask(request: dict) -> dict:
                await control.send(json.dumps(request))
                return json.loads(await control.recv())

            first = await ask({"type": "status"})
            refused = await ask({"type": "steer", "id": 1, "bpm": 0, "drums": "off"})
            unchanged = await ask({"type": "status"})
            ack = await ask({"type": "steer", "id": 2, "bpm": 120, "key": "Bb major", "drums": "off",
                             "transition_chunks": 1})
            return first, refused, unchanged, ack, await ask({"type": "status"})

    with running_station(tmp_path, "--prompt", "house music", "--bpm", "100", "--key", "A minor") as running:
        first, refused, unchanged, ack, after = asyncio.run(session(running))
    assert (first["bpm"], first["key"], first["drums"]) == (100.0, "A minor", "on")
    assert refused["type"] == "error" and refused["error"].startswith("bpm must be")
    assert {k: unchanged[k] for k in CONTROLS} == {k: first[k] for k in CONTROLS}
    assert ack["type"] == "ack" and ack["id"] == 2
    assert (after["bpm"], after["key"], after["drums"], after["bass"]) == (120.0, "Bb major", "off", "on")
    assert after["prompts"] == [{"text": "house music", "weight": 1.0}]
