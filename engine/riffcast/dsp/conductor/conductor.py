"""The conductor: tempo, key, brightness and stems on a stream of mel columns, image by image.

Each call hands over the next columns (painted or decoded) and the controls; the conductor
listens to them (onset envelope and chroma, continued from the images before), then writes the
output: the source warped onto the asked beat grid (:mod:`.warp`), drums and bass kept, dropped
or soloed (:mod:`.stems`), shifted to the asked key (:mod:`.key`) and tilted (:mod:`.tilt`).

Two ways of calling it:

- :meth:`Conductor.conduct` (a station): the same number of columns out as in, at the same
  stream columns; a faster or slower tempo repeats or skips a whole beat now and then.
- :meth:`Conductor.stretch` (``riffcast decode``): as many columns out as the tempo ratio makes
  of those in (the music is time-stretched), then :meth:`Conductor.finish` for the rest.

All state between calls is one frozen :class:`ConductorState` (:attr:`Conductor.state`,
:meth:`Conductor.restore`), so a stream that goes back to an earlier image conducts it again
exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from riffcast.dsp.conductor.hpss import KERNEL
from riffcast.dsp.conductor.key import MusicalKey, band_centres_hz, chroma, key_scores, semitones_to, shift_pitch
from riffcast.dsp.conductor.stems import Stem, separate
from riffcast.dsp.conductor.tempo import (
    BeatEstimate,
    append_history,
    estimate_beats,
    less_local_mean,
    onset_envelope,
    spectral_flux,
    track_beats,
)
from riffcast.dsp.conductor.tilt import apply_tilt, tilt_for
from riffcast.dsp.conductor.warp import BeatGrid, BeatMap, SourceWindow, WarpCursor, plan_positions, resample_columns
from riffcast.dsp.params import SpectrogramParams

CHROMA_MEMORY = 0.6  # the share of the key's chroma carried over from the images before
KEY_HYSTERESIS = 0.08  # a new key estimate must correlate this much better to replace the one held
LOOKBACK_COLUMNS = 256  # source kept behind the read position (the warp may round back half a beat)
STEM_CONTEXT_COLUMNS = KERNEL // 2  # source read on each side of the output for the stems' medians


@dataclass(frozen=True)
class Controls:
    """What the conductor is asked for.

    bpm: beats per minute, or None: the source's own tempo (no warp).
    key: the key to play in, or None: the source's own.
    brightness: −1 … +1 (0: as painted).
    drums, bass: :class:`Stem`.
    """

    bpm: float | None = None
    key: MusicalKey | None = None
    brightness: float = 0.0
    drums: Stem = Stem.ON
    bass: Stem = Stem.ON

    @property
    def active(self) -> bool:
        """True when the controls change anything at all."""
        return self != Controls()


@dataclass(frozen=True)
class ConductorState:
    """Everything the conductor carries from one call to the next (arrays are never modified).

    source: (n_mels, columns) the latest source columns, the first at absolute ``source_start``.
    flux: the spectral flux of the last seconds of source, ending at the source's end (the onset
        envelope is taken from all of it at each estimate).
    pitch_classes: (12,) the chroma of the recent source (decaying memory).
    key: the key held as the source's (None: none yet).
    grid: the output beat grid (None: no tempo asked yet).
    cursor: where the warp stopped.
    tilt_db_per_octave: the tilt the last output ended with.
    key_fixed: the key was heard from the whole source at once (:meth:`Conductor.hear_key`).
    beats: the source's beats as last estimated (continued by the next estimate).
    heard_beats: the whole source's beats (:meth:`Conductor.hear_tempo`), held for every image, or
        None: they are found again in each image's recent envelope.
    heard_map: the same beats tracked one by one (what the warp reads), or None.
    """

    source: np.ndarray
    source_start: int
    flux: np.ndarray
    pitch_classes: np.ndarray
    key: MusicalKey | None
    grid: BeatGrid | None
    cursor: WarpCursor
    tilt_db_per_octave: float = 0.0
    key_fixed: bool = False
    beats: BeatEstimate | None = None
    heard_beats: BeatEstimate | None = None
    heard_map: BeatMap | None = None

    @property
    def source_end(self) -> int:
        return self.source_start + int(self.source.shape[1])


class Conductor:
    """Conduct mel columns (see the module docstring). ``params``: the images' conventions."""

    def __init__(self, params: SpectrogramParams) -> None:
        self.params = params
        self.columns_per_s = params.sample_rate / params.hop_samples
        self.centres_hz = band_centres_hz(params)
        self.max_lag_columns = params.chunk_columns + 64
        self.state = ConductorState(np.zeros((params.n_mels, 0), np.float32), 0, np.zeros(0, np.float32),
                                    np.zeros(12), None, None, WarpCursor(0, 0.0))

    def restore(self, state: ConductorState) -> None:
        """Go back to ``state`` (one :attr:`state` held earlier)."""
        self.state = state

    @property
    def found_key(self) -> MusicalKey | None:
        """The source's key as heard so far."""
        return self.state.key

    def hear_key(self, mel: np.ndarray) -> None:
        """Take the source's key from ``mel`` (n_mels, columns), all of it at once, and hold it
        (a decode has every image before it starts)."""
        pitch_classes = chroma(mel, self.centres_hz)
        self.state = replace(self.state, pitch_classes=pitch_classes, key=self._held_key(pitch_classes, None),
                             key_fixed=True)

    def hear_tempo(self, mel: np.ndarray, near_bpm: float | None = None) -> None:
        """Take the source's beats from ``mel`` (n_mels, columns: the columns the next calls will hand
        over, from the source's end on), all of it at once, and hold them (a decode has every image
        before it starts): one period and phase for the whole source, where each image's last
        seconds would give a period and phase that wander from image to image on music with few
        clear onsets. ``near_bpm``: the asked tempo (which octave). Each beat is then tracked
        (:func:`~riffcast.dsp.conductor.tempo.track_beats`) and the warp reads the source beat by
        beat, so a drifting source lands on the grid too. Music with no beat found leaves the
        estimate to each image, as before."""
        envelope = onset_envelope(np.asarray(mel, dtype=np.float32))
        beats = estimate_beats(envelope, self.state.source_end, self.columns_per_s, near_bpm)
        heard = beats.strength > 0
        tracked = track_beats(envelope, beats.period_columns, self.state.source_end) if heard else np.zeros(0)
        self.state = replace(self.state, heard_beats=beats if heard else None,
                             heard_map=BeatMap(tracked, beats.period_columns) if tracked.size >= 2 else None)

    def source_beats(self, near_bpm: float | None = None) -> BeatEstimate:
        """The source's beats as heard so far, continuing the last estimate."""
        state = self.state
        if state.heard_beats is not None:
            return state.heard_beats
        return estimate_beats(less_local_mean(state.flux), state.source_end - state.flux.size, self.columns_per_s,
                              near_bpm, state.beats)

    def conduct(self, mel: np.ndarray, at_column: int, controls: Controls) -> np.ndarray:
        """The columns ``mel`` (n_mels, columns) of stream columns ``[at_column, at_column + columns)``
        → the conducted columns for the same place, (n_mels, columns) float32. ``at_column`` may
        go back over columns given before (a repainted crossfade): those are replaced."""
        self._listen(np.asarray(mel, dtype=np.float32), at_column)
        columns = mel.shape[1]
        cursor = self.state.cursor
        if cursor.next_output != at_column:  # the first call, or repainted columns: read on from there
            cursor = WarpCursor(at_column, cursor.next_source - (cursor.next_output - at_column)
                                if cursor.next_output else float(at_column))
        if controls.bpm is None:
            positions = np.arange(at_column, at_column + columns, dtype=np.float64)
            cursor = WarpCursor(at_column + columns, float(at_column + columns))
        else:
            window = SourceWindow(self.state.source_start, self.state.source_end, self.max_lag_columns)
            positions, cursor = plan_positions(cursor, self._grid(controls.bpm, at_column), self._source_grid(controls),
                                               window, columns)
        return self._finish_output(positions, cursor, controls)

    def stretch(self, mel: np.ndarray, controls: Controls) -> np.ndarray:
        """The next decoded columns ``mel`` (n_mels, columns) → the output they complete (any
        width, maybe none yet): the source at the asked tempo."""
        self._listen(np.asarray(mel, dtype=np.float32), self.state.source_end)
        return self._stretch(controls, final=False)

    def finish(self, controls: Controls) -> np.ndarray:
        """The end of the source: the output still owed, (n_mels, columns)."""
        return self._stretch(controls, final=True)

    def _stretch(self, controls: Controls, *, final: bool) -> np.ndarray:
        state = self.state
        if controls.bpm is None:
            first = int(np.ceil(state.cursor.next_source))
            positions = np.arange(first, state.source_end, dtype=np.float64)
            cursor = WarpCursor(state.cursor.next_output + positions.size, float(state.source_end))
        else:
            window = SourceWindow(state.source_start, state.source_end)
            positions, cursor = plan_positions(state.cursor, self._grid(controls.bpm, state.cursor.next_output),
                                               self._source_grid(controls), window, None, final=final)
        return self._finish_output(positions, cursor, controls)

    def _listen(self, mel: np.ndarray, at_column: int) -> None:
        """Take in source columns: the buffer, the spectral flux (new columns only) and the chroma."""
        state = self.state
        if mel.ndim != 2 or mel.shape[0] != self.params.n_mels or mel.shape[1] == 0:
            raise ValueError(f"mel must have shape ({self.params.n_mels}, columns > 0), got {mel.shape}")
        if state.source.shape[1] == 0 or at_column < state.source_start or at_column > state.source_end:
            state = replace(state, source=np.zeros((self.params.n_mels, 0), np.float32), source_start=at_column,
                            flux=np.zeros(0, np.float32))
        kept = state.source[:, : at_column - state.source_start]
        new_from = state.source_end - at_column  # columns of mel beyond what the buffer had
        previous = state.source[:, state.source_end - state.source_start - 1] if state.source.shape[1] else None
        if new_from > 0 and new_from < mel.shape[1]:
            previous = mel[:, new_from - 1]
        fresh = mel[:, max(new_from, 0) :]
        flux = append_history(state.flux, spectral_flux(fresh, previous)) if fresh.shape[1] else state.flux
        source = np.concatenate([kept, mel], axis=1)
        keep_from = max(0, source.shape[1] - (self.max_lag_columns + self.params.chunk_columns + LOOKBACK_COLUMNS))
        keep_from = min(keep_from, max(0, int(np.floor(state.cursor.next_source)) - LOOKBACK_COLUMNS - state.source_start))
        pitch_classes = CHROMA_MEMORY * state.pitch_classes + (1.0 - CHROMA_MEMORY) * chroma(mel, self.centres_hz)
        self.state = replace(state, source=source[:, keep_from:], source_start=at_column - kept.shape[1] + keep_from,
                             flux=flux, pitch_classes=pitch_classes,
                             key=state.key if state.key_fixed else self._held_key(pitch_classes, state.key))

    @staticmethod
    def _held_key(pitch_classes: np.ndarray, held: MusicalKey | None) -> MusicalKey | None:
        scores = key_scores(pitch_classes)
        if not np.any(scores):
            return held
        best = int(np.argmax(scores))
        if held is not None and scores[best] - scores[held.tonic + 12 * held.minor] < KEY_HYSTERESIS:
            return held
        return MusicalKey(best % 12, best >= 12)

    def _grid(self, bpm: float, at_column: int) -> BeatGrid:
        """The output grid at ``bpm`` (a change of tempo keeps the phase of the grid before)."""
        period = 60.0 * self.columns_per_s / bpm
        grid = self.state.grid
        if grid is None:
            grid = BeatGrid(float(at_column), period)
        elif abs(grid.period_columns - period) > 1e-9:
            grid = grid.continued(period, at_column)
        self.state = replace(self.state, grid=grid)
        return grid

    def _source_grid(self, controls: Controls) -> BeatGrid | BeatMap:
        beats = self.source_beats(controls.bpm)
        self.state = replace(self.state, beats=beats)
        if self.state.heard_map is not None:
            return self.state.heard_map
        return BeatGrid(beats.origin_column, beats.period_columns)

    def _finish_output(self, positions: np.ndarray, cursor: WarpCursor, controls: Controls) -> np.ndarray:
        """Read the planned positions and apply stems, key and tilt; keep the cursor and tilt."""
        state = self.state
        tilt = tilt_for(controls.brightness)
        self.state = replace(state, cursor=cursor, tilt_db_per_octave=tilt)
        if positions.size == 0:
            return np.zeros((state.source.shape[0], 0), np.float32)
        if controls.drums is not Stem.ON or controls.bass is not Stem.ON:
            out = self._separated(positions, controls)
        else:
            out = resample_columns(state.source, positions - state.source_start)
        if controls.key is not None and state.key is not None:
            out = shift_pitch(out, semitones_to(state.key, controls.key), self.centres_hz)
        return apply_tilt(out, self.centres_hz, state.tilt_db_per_octave, tilt)

    def _separated(self, positions: np.ndarray, controls: Controls) -> np.ndarray:
        """The columns at ``positions`` with the stems applied, read with :data:`STEM_CONTEXT_COLUMNS`
        of source on each side where the source has them (a station's window is ~80 columns: the
        medians would otherwise see its edges mirrored)."""
        state, context = self.state, np.arange(1, STEM_CONTEXT_COLUMNS + 1, dtype=np.float64)
        before = positions[0] - context[::-1]
        after = positions[-1] + context
        before, after = before[before >= state.source_start], after[after <= state.source_end - 1]
        wide = resample_columns(state.source, np.concatenate([before, positions, after]) - state.source_start)
        return separate(wide, self.centres_hz, controls.drums, controls.bass)[:, before.size : before.size + positions.size]
