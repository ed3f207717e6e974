"""The steering package: limits written once and applied by every way in, exact resume."""

from __future__ import annotations

import argparse
import json
import math

import pytest

from riffcast.steering.control import ControlError, parse_request
from riffcast.steering.options import DEFAULT_PROMPT, add_steering_arguments, plan_from_args
from riffcast.steering.playlist import load_playlist
from riffcast.steering.state import StationState, check_state_path, load_state, resume, save_state
from riffcast.steering.targets import DENOISING, GUIDANCE, SEED, TRANSITION_CHUNKS, WEIGHT, Target, WeightedPrompt
from riffcast.steering.walk import Walk

CURRENT = Target.from_text("jazz", seed=5)

# (limit, a value just inside, a value just outside)
EDGES = [
    (SEED, SEED.high, SEED.high + 1), (SEED, 0, -1),
    (DENOISING, 1.0, 1.0001), (DENOISING, 0.001, 0.0),
    (GUIDANCE, 50.0, 50.5), (GUIDANCE, 0.0, -0.1),
    (TRANSITION_CHUNKS, 64, 65), (TRANSITION_CHUNKS, 1, 0),
]


def _cli(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_steering_arguments(parser)
    return parser.parse_args(list(argv))


def _through_every_way_in(limit_name: str, value, tmp_path) -> list[bool]:
    """Whether the constructors, /control, a playlist and the command line accept ``value``."""
    accepted = []
    try:
        if limit_name == "transition_chunks":
            Walk(CURRENT, transition_chunks=value)
        else:
            Target(CURRENT.prompts, **{"seed": 0, limit_name: value})
        accepted.append(True)
    except ValueError:
        accepted.append(False)
    try:
        parse_request(json.dumps({"type": "steer", "prompt": "a", limit_name: value}), CURRENT)
        accepted.append(True)
    except ControlError:
        accepted.append(False)
    playlist = tmp_path / "p.toml"
    playlist.write_text(f'[[target]]\nprompt = "a"\nduration_s = 60\n{limit_name} = {json.dumps(value)}\n')
    try:
        load_playlist(playlist, CURRENT)
        accepted.append(True)
    except ValueError:
        accepted.append(False)
    try:
        plan_from_args(_cli(f"--{limit_name.replace('_', '-')}", str(value)))
        accepted.append(True)
    except ValueError:
        accepted.append(False)
    return accepted


@pytest.mark.parametrize(("limit", "inside", "outside"), EDGES, ids=lambda v: getattr(v, "name", repr(v)))
def test_every_way_in_applies_the_same_limits(limit, inside, outside, tmp_path):
    assert _through_every_way_in(limit.name, inside, tmp_path) == [True] * 4
    assert _through_every_way_in(limit.name, outside, tmp_path) == [False] * 4


def test_weights_have_one_limit_too():
    assert WeightedPrompt("a", WEIGHT.high).weight == WEIGHT.high
    with pytest.raises(ValueError, match="weight"):
        WeightedPrompt("a", WEIGHT.high + 1)
    with pytest.raises(ControlError, match="weight"):
        parse_request(json.dumps({"type": "steer", "prompts": [{"text": "a", "weight": WEIGHT.high + 1}]}), CURRENT)


def test_prompt_means_a_blend_in_serve_and_render_alike():
    plan = plan_from_args(_cli("--prompt", "jazz", "--prompt", "rain", "--seed", "3"))
    assert plan.target.prompts == (WeightedPrompt("jazz"), WeightedPrompt("rain")) and plan.target.seed == 3
    assert plan.playlist == () and plan.transition_chunks == 4
    assert plan_from_args(_cli()).target.prompts == (WeightedPrompt(DEFAULT_PROMPT),)
    with pytest.raises(ValueError, match="prompts must be a list of 1 to 8"):
        plan_from_args(_cli(*[arg for i in range(9) for arg in ("--prompt", str(i))]))


def test_a_playlist_plan_starts_at_its_first_entry_and_inherits_the_options(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('[[target]]\nprompt = "a"\nduration_s = 60\n\n[[target]]\nprompt = "b"\nduration_s = 60\n'
                    "transition_chunks = 2\n")
    plan = plan_from_args(_cli("--playlist", str(path), "--seed", "7", "--transition-chunks", "6"))
    assert plan.target == Target.from_text("a", seed=7) and plan.transition_chunks == 6
    assert [entry.transition_chunks for entry in plan.playlist] == [None, 2]
    with pytest.raises(ValueError, match="not both"):
        plan_from_args(_cli("--playlist", str(path), "--prompt", "x"))


def test_a_resumed_walk_carries_on_exactly_where_the_saved_one_was(tmp_path):
    walk = Walk(Target.from_text("jazz", seed=10), transition_chunks=4)
    for _ in range(2):
        walk.advance()
    walk.steer(Target.from_text("techno", seed=3), transition_chunks=3)
    walk.advance()
    path = tmp_path / "state.json"
    save_state(path, StationState("cfg", walk.position, playlist_index=1, entry_elapsed_s=12.5))
    saved = load_state(path)
    assert saved == StationState("cfg", walk.position, 1, 12.5)
    resumed = Walk.resume(saved.walk)
    assert resumed.heading_to == walk.heading_to == Target.from_text("techno", seed=3)
    original = [walk.advance() for _ in range(6)]
    again = [resumed.advance() for _ in range(6)]
    assert [(s.start, s.end, s.alpha) for s in again] == [(s.start, s.end, s.alpha) for s in original]
    assert again[0].new_settings  # a restart is a "now playing" moment


def test_a_version_1_state_still_resumes_at_its_target(tmp_path):
    path = tmp_path / "state.json"
    target = {"prompts": [{"text": "jazz", "weight": 1.0}], "seed": 42, "negative_prompt": "",
              "denoising": 0.75, "guidance": 7.0}
    path.write_text(json.dumps({"version": 1, "configured": "cfg", "target": target, "transition_chunks": 2,
                                "playlist_index": 0, "entry_elapsed_s": 3.0}))
    saved = load_state(path)
    walk = Walk.resume(saved.walk)
    assert walk.heading_to == Target.from_text("jazz", seed=42) and walk.transition_chunks == 2
    first = walk.advance()
    assert (first.start.seed, first.end.seed, first.alpha) == (42, 43, 0.5)


def _valid_state() -> dict:
    target = {"prompts": [{"text": "jazz", "weight": 1.0}], "seed": 42, "negative_prompt": "",
              "denoising": 0.75, "guidance": 7.0}
    return {"version": 2, "configured": "cfg", "walk": {"start": target, "end": dict(target, seed=43),
            "taken": 1.5, "transition_chunks": 4}, "playlist_index": 0, "entry_elapsed_s": 3.0}


def _damaged(change) -> str:
    document = _valid_state()
    change(document)
    return json.dumps(document)


DAMAGED_STATES = {
    "index is text": _damaged(lambda d: d.update(playlist_index="x")),
    "elapsed is text": _damaged(lambda d: d.update(entry_elapsed_s="abc")),
    "elapsed is NaN": _damaged(lambda d: d.update(entry_elapsed_s=math.nan)),
    "elapsed is infinite": _damaged(lambda d: d.update(entry_elapsed_s=math.inf)),
    "elapsed is negative": _damaged(lambda d: d.update(entry_elapsed_s=-1e12)),
    "index is negative": _damaged(lambda d: d.update(playlist_index=-1)),
    "index is a bool": _damaged(lambda d: d.update(playlist_index=True)),
    "configured is a number": _damaged(lambda d: d.update(configured=7)),
    "taken is text": _damaged(lambda d: d["walk"].update(taken="x")),
    "taken is NaN": _damaged(lambda d: d["walk"].update(taken=math.nan)),
    "a seed out of range": _damaged(lambda d: d["walk"]["end"].update(seed=-5)),
    "prompts are text": _damaged(lambda d: d["walk"]["start"].update(prompts="jazz")),
    "a prompt is a list": _damaged(lambda d: d["walk"]["start"].update(prompts=[["jazz", 1]])),
    "the walk is a list": _damaged(lambda d: d.update(walk=[1, 2])),
    "an unknown field": _damaged(lambda d: d.update(colour="red")),
    "no version": _damaged(lambda d: d.pop("version")),
    "an array": "[1, 2, 3]",
    "a number": "7",
    "nested 100 000 deep": "[" * 100_000 + "]" * 100_000,
    "nested inside the walk": _damaged(lambda d: None).replace('"taken": 1.5', '"taken": ' + "[" * 5000 + "]" * 5000),
    "half a file": "{ half a file",
    "binary": "\x00\xff\xfe garbage",
    "over a megabyte": json.dumps({**_valid_state(), "configured": "x" * (2 << 20)}),
}


@pytest.mark.parametrize("text", DAMAGED_STATES.values(), ids=DAMAGED_STATES.keys())
def test_a_state_file_that_is_not_a_valid_state_is_set_aside_with_one_line(tmp_path, text):
    path = tmp_path / "state.json"
    path.write_text(text)
    said = []
    assert resume(path, "cfg", said.append) is None
    assert not path.exists() and (tmp_path / "state.json.damaged").read_text() == text
    assert len(said) == 1 and "\n" not in said[0] and "kept as" in said[0] and len(said[0]) < 2 * len(str(path)) + 220
    path.write_text(text)  # damaged again: the first one kept aside is not replaced
    assert resume(path, "cfg", said.append) is None
    assert (tmp_path / "state.json.damaged").read_text() == text
    assert (tmp_path / "state.json.damaged.1").read_text() == text


def test_the_valid_state_of_those_damaged_ones_resumes(tmp_path):
    path = tmp_path / "state.json"
    path.write_text(json.dumps(_valid_state()))
    said = []
    saved = resume(path, "cfg", said.append)
    assert saved is not None and saved.walk.taken == 1.5 and saved.entry_elapsed_s == 3.0
    assert said == [f"resuming from {path}: target 1, 3 s in, seed 43"]


def test_saving_never_writes_through_a_link_planted_beside_the_state(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    path = tmp_path / "state.json"
    (tmp_path / ".state.json.tmp").symlink_to(victim)  # the temporary name of earlier versions
    check_state_path(path)
    save_state(path, load_state(_write(tmp_path / "valid.json", json.dumps(_valid_state()))))
    assert victim.read_text() == "precious" and load_state(path).configured == "cfg"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".state.json.tmp", "state.json", "valid.json", "victim.txt"]


def _write(path, text: str):
    path.write_text(text)
    return path
