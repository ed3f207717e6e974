"""The drum model's file and its features: what ships is what the conductor reads."""

from __future__ import annotations

import json

import numpy as np
import pytest

from riffcast.dsp.conductor.drum_model import FEATURE_NAMES, MODEL_PATH, DrumModel, drum_model, features


def _mel(columns: int = 40) -> np.ndarray:
    return np.random.default_rng(1).random((512, columns)).astype(np.float32) + 1e-3


def test_the_shipped_model_names_its_training_and_held_out_pieces():
    data = json.loads(MODEL_PATH.read_text())
    assert data["features"] == list(FEATURE_NAMES)
    assert data["trained_on"] and data["held_out"] and not set(data["trained_on"]) & set(data["held_out"])


def test_a_share_is_one_value_in_0_1_per_cell_and_does_not_depend_on_the_level():
    mel = _mel()
    share = drum_model().share(mel)
    assert share.shape == mel.shape and share.dtype == np.float32
    assert np.all((share >= 0) & (share <= 1)) and share.std() > 0.01
    louder = drum_model().share(mel * 100.0)
    np.testing.assert_allclose(louder, share, atol=1e-4)


@pytest.mark.parametrize("columns", [0, 1, 2, 3, 64])
def test_features_of_narrow_images(columns):
    mel = _mel(columns)
    rows = features(mel)
    assert rows.shape == (512 * columns, len(FEATURE_NAMES)) and np.all(np.isfinite(rows))
    assert drum_model().share(mel).shape == mel.shape


def test_a_round_trip_through_json_keeps_every_weight_and_other_features_are_refused():
    model = drum_model()
    again = DrumModel.from_json(model.to_json(trained_on=["x"]))
    mel = _mel()
    np.testing.assert_array_equal(again.share(mel), model.share(mel))
    data = json.loads(model.to_json())
    data["features"] = data["features"][::-1]
    with pytest.raises(ValueError, match="refit it"):
        DrumModel.from_json(json.dumps(data))
