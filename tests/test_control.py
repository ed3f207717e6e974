"""Control requests and playlists, sans I/O: every field checked, nothing half-applied."""

from __future__ import annotations

import json

import pytest

from riffcast.steering.control import ControlError, StatusRequest, SteerRequest, parse_request
from riffcast.steering.playlist import load_playlist
from riffcast.steering.targets import Target, WeightedPrompt
from riffcast.steering.walk import Step, heard_prompts

CURRENT = Target.from_text("jazz", seed=5, denoising=0.6, guidance=6.0)


def test_steer_keeps_current_settings_it_does_not_name():
    request = parse_request(json.dumps({"type": "steer", "id": 3, "prompt": "techno"}), CURRENT)
    assert isinstance(request, SteerRequest) and request.request_id == 3
    assert request.target == Target((WeightedPrompt("techno"),), 5, "", 0.6, 6.0)
    assert request.transition_chunks is None
    weighted = parse_request(
        '{"type": "steer", "prompts": [{"text": "a", "weight": 3}, {"text": "b"}], "seed": 0, '
        '"denoising": 1, "guidance": 0, "transition_chunks": 64}', CURRENT,
    )
    assert [(p.text, p.weight) for p in weighted.target.prompts] == [("a", 3.0), ("b", 1.0)]
    assert (weighted.target.seed, weighted.target.denoising, weighted.target.guidance) == (0, 1.0, 0.0)
    assert weighted.transition_chunks == 64
    assert isinstance(parse_request('{"type": "status", "id": "x"}', CURRENT), StatusRequest)


@pytest.mark.parametrize(
    "text",
    [
        '{"type": "steer", "prompt": "a", "prompts": [{"text": "b"}]}',
        '{"type": "steer", "prompts": [{"text": "a"}, 3]}',
        '{"type": "steer", "prompts": [{"text": "a", "weight": true}]}',
        '{"type": "steer", "prompts": [{"text": "a", "weight": 101}]}',
        '{"type": "steer", "prompts": ' + json.dumps([{"text": str(i)} for i in range(9)]) + "}",
        '{"type": "steer", "prompt": "a", "seed": -1}',
        '{"type": "steer", "prompt": "a", "seed": 4294967296}',
        '{"type": "steer", "prompt": "a", "seed": true}',
        '{"type": "steer", "prompt": "a", "denoising": 0}',
        '{"type": "steer", "prompt": "a", "guidance": 51}',
        '{"type": "steer", "prompt": "a", "transition_chunks": 65}',
        '{"type": "steer", "prompt": "a", "transition_chunks": 2.0}',
        '{"type": "steer", "prompt": "a", "negative_prompt": 5}',
        '{"type": "steer", "prompt": "   "}',
        '{"type": "status", "extra": 1}',
        '{"type": "status", "id": true}',
        '{"type": "status", "id": "' + "x" * 201 + '"}',
        '"steer"',
        "",
    ],
)
def test_bad_requests_raise_control_errors(text):
    with pytest.raises(ControlError):
        parse_request(text, CURRENT)


def test_heard_prompts_blend_the_transition():
    step = Step(Target.from_text("jazz"), Target((WeightedPrompt("a", 3), WeightedPrompt("jazz", 1)), 1), 0.25, True)
    assert dict(heard_prompts(step)) == pytest.approx({"jazz": 0.75 + 0.25 * 0.25, "a": 0.25 * 0.75})
    arrived = Step(CURRENT, CURRENT.with_seed(6), 0.25, False)
    assert heard_prompts(arrived) == [("jazz", 1.0)]


def test_playlist_is_read_and_checked_whole(tmp_path):
    path = tmp_path / "programme.toml"
    path.write_text(
        '[[target]]\nprompt = "morning piano"\nduration_s = 600\n\n'
        '[[target]]\nprompts = [{ text = "evening jazz", weight = 2.0 }, { text = "rain" }]\n'
        "duration_s = 300\nseed = 9\ntransition_chunks = 8\n"
    )
    first, second = load_playlist(path, CURRENT)
    assert first.target.prompts == (WeightedPrompt("morning piano"),) and first.duration_s == 600
    assert first.target.seed == 5 and first.transition_chunks is None
    assert [(p.text, p.weight) for p in second.target.prompts] == [("evening jazz", 2.0), ("rain", 1.0)]
    assert second.target.seed == 9 and second.transition_chunks == 8


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[[target]\nprompt = 'x'", "not a valid TOML playlist"),
        ("title = 'x'\n[[target]]\nprompt = 'x'\nduration_s = 60", "unknown top-level key"),
        ("", "at least one [[target]]"),
        ("[[target]]\nprompt = 'x'", "target 1: duration_s (seconds, a number) is required"),
        ("[[target]]\nprompt = 'x'\nduration_s = 1", "from 5 to"),
        ("[[target]]\nprompt = 'x'\nduration_s = 60\n[[target]]\nprompt = ''\nduration_s = 60", "target 2: prompt must not be empty"),
        ("[[target]]\nprompt = 'x'\nduration_s = 60\nvolume = 3", "unknown field"),
    ],
)
def test_bad_playlists_name_the_file_and_the_problem(tmp_path, content, message):
    path = tmp_path / "bad.toml"
    path.write_text(content)
    with pytest.raises(ValueError) as error:
        load_playlist(path, CURRENT)
    assert str(path) in str(error.value) and message in str(error.value)


# -- property-based: any JSON value, any text --------------------------------------------------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from strategies import json_values, steer_like  # noqa: E402


def _check(message: str) -> None:
    try:
        request = parse_request(message, CURRENT)
    except ControlError as error:
        assert str(error)  # a message for the reply
        return
    # Whatever is accepted is a fully valid request.
    if isinstance(request, SteerRequest):
        target = request.target
        assert 1 <= len(target.prompts) <= 8
        assert all(0 < p.weight <= 100 and p.text.strip() and len(p.text) <= 1000 for p in target.prompts)
        assert isinstance(target.seed, int) and 0 <= target.seed < 2**32
        assert 0 < target.denoising <= 1 and 0 <= target.guidance <= 50
        assert request.transition_chunks is None or 1 <= request.transition_chunks <= 64


@settings(max_examples=200, deadline=None)
@given(steer_like)
def test_any_steer_shaped_object_is_accepted_valid_or_refused_with_a_message(request):
    _check(json.dumps(request))


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_any_json_value_is_refused_or_valid(value):
    _check(json.dumps(value))


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_any_text_is_refused_or_valid(text):
    _check(text)


def test_control_token_comes_from_the_option_then_the_environment_then_chance(monkeypatch):
    from riffcast.station.main import TOKEN_ENV, control_token

    monkeypatch.setenv(TOKEN_ENV, "from-the-environment")
    assert control_token("from-the-option") == ("from-the-option", False)
    assert control_token(None) == ("from-the-environment", False)
    monkeypatch.delenv(TOKEN_ENV)
    first, generated = control_token(None)
    assert generated and len(first) >= 24 and control_token(None)[0] != first
    for bad in ("short", "has a space in it", "tab\there-and-more"):
        with pytest.raises(ValueError):
            control_token(bad)
