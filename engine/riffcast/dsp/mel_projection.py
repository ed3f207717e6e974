"""The magnitude step of the phase stage: the nearest magnitude that has the image's mel.

A mel image fixes each frame's band energies, not its linear magnitude. The min-norm inverse
(:class:`riffcast.dsp.mel.MelInverter`) is one magnitude with that mel, smoothed within each
band; projecting onto it in every Fast Griffin-Lim iteration throws away what the frames'
consistency could tell (a tone's peak inside a wide band). Here the iterations instead move
the rebuilt magnitude |t| to the nearest magnitude whose bands are the target's,
``s = |t| + Fᵀ(FFᵀ)⁻¹(m − F|t|)`` clipped at 0, with ``m = F·target``: the mel stays the
image's, the detail within the bands comes from consistency. (Joint mel inversion and phase
retrieval: Masuyama, Ueno & Ono, "Mel-spectrogram inversion via alternating direction method
of multipliers", 2023.) Measured in ``benchmarks/inversion_real.py``.

The filters are triangles: a bin lies in at most two neighbouring bands, so ``F·|t|`` costs two
multiply-adds a bin and ``FFᵀ`` is tridiagonal, solved in O(bands) per frame with the factors
precomputed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from riffcast.dsp import kernels


class MagnitudeStep(Enum):
    """What each phase iteration holds the magnitude to."""

    BINS = "bins"  # every bin to the min-norm inverse of the mel (classic Fast Griffin-Lim)
    BANDS = "bands"  # the nearest magnitude with the image's mel (this module)


_RIDGE = 1e-6  # relative to the mean diagonal of F Fᵀ: bands that hold no bin stay solvable


@dataclass(frozen=True, eq=False)
class MelProjection:
    """Triangular filters F (bands, bins) in the sparse form the kernels use.

    The bins whose lower band is k are ``band_start[k] ≤ b < band_start[k + 1]`` (bins go up in
    frequency, so do their bands); ``weight_low[b]``, ``weight_high[b]``: a bin's weights into
    that band and the next (0 where there is none). ``off_diagonal``,
    ``inverse_pivot``, ``upper``: the Thomas factors of FFᵀ + ridge·I.
    """

    band_start: np.ndarray  # (bands + 1,) int64
    weight_low: np.ndarray  # (bins,) float32
    weight_high: np.ndarray  # (bins,) float32
    off_diagonal: np.ndarray  # (bands − 1,) float64
    inverse_pivot: np.ndarray  # (bands,) float64
    upper: np.ndarray  # (bands − 1,) float64

    @classmethod
    def from_filterbank(cls, filters: np.ndarray) -> MelProjection:
        """From dense triangular filters (bands, bins), each bin in at most two adjacent bands."""
        filters = np.asarray(filters, dtype=np.float64)
        n_bands, n_bins = filters.shape
        band_low = np.zeros(n_bins, dtype=np.int64)
        weight_low = np.zeros(n_bins, dtype=np.float32)
        weight_high = np.zeros(n_bins, dtype=np.float32)
        for b in range(n_bins):
            bands = np.flatnonzero(filters[:, b])
            if bands.size == 0:  # the band below with weights 0 (DC: band 0)
                band_low[b] = band_low[b - 1] if b else 0
                continue
            if bands.size > 2 or bands[-1] - bands[0] > 1 or (b and bands[0] < band_low[b - 1]):
                raise ValueError(f"bin {b} weighs into bands {bands.tolist()}: not triangular filters")
            band_low[b] = bands[0]
            weight_low[b] = filters[bands[0], b]
            if bands[0] + 1 < n_bands:
                weight_high[b] = filters[bands[0] + 1, b]
        diagonal = np.einsum("kb,kb->k", filters, filters)
        off_diagonal = np.einsum("kb,kb->k", filters[:-1], filters[1:])
        diagonal = diagonal + _RIDGE * diagonal.mean()
        inverse_pivot = np.empty(n_bands)
        upper = np.empty(n_bands - 1)
        pivot = diagonal[0]
        for k in range(n_bands):
            if k > 0:
                pivot = diagonal[k] - off_diagonal[k - 1] * upper[k - 1]
            inverse_pivot[k] = 1.0 / pivot
            if k < n_bands - 1:
                upper[k] = off_diagonal[k] / pivot
        band_start = np.searchsorted(band_low, np.arange(n_bands + 1)).astype(np.int64)
        return cls(band_start, weight_low, weight_high, off_diagonal, inverse_pivot, upper)

    @property
    def n_bands(self) -> int:
        return int(self.inverse_pivot.size)

    @property
    def n_bins(self) -> int:
        return int(self.weight_low.size)

    def band_sums(self, magnitude: np.ndarray) -> np.ndarray:
        """F·magnitude per frame: (F, bins) float32 → (bands, F) float64 (frames last)."""
        out = np.empty((self.n_bands, magnitude.shape[0]))
        bins_first = np.ascontiguousarray(magnitude.T, dtype=np.float32)
        kernels.band_sums(bins_first, self.band_start, self.weight_low, self.weight_high, out)
        return out

    def step(
        self, rebuilt: np.ndarray, previous: np.ndarray, band_target: np.ndarray, momentum: np.float32,
        coefficients: np.ndarray,
    ) -> None:
        """One FGLA update with this magnitude step, in place (see ``kernels.fgla_mel_step``)."""
        kernels.fgla_mel_step(
            rebuilt, previous, band_target, momentum, self.band_start, self.weight_low,
            self.weight_high, self.off_diagonal, self.inverse_pivot, self.upper, coefficients,
        )
