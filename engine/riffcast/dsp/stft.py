"""Forward STFT magnitude at Riffusion's settings (the analysis side of the codec)."""

from __future__ import annotations

import numpy as np

from riffcast.dsp.params import SpectrogramParams

# Frames transformed together. Each block's temporaries — the frames zero-padded to the FFT size
# (float64) and their spectrum (complex128) — take 32 × 17 640 × 8 bytes ≈ 4.3 MiB each; with 256
# they took 34 MiB each and a synth chunk's encoding peaked 133 MiB above its result (every
# chunk, 5.12 s apart). Each frame's FFT does not depend on the block it is in, so the output
# is the same whatever this number is.
_FRAMES_PER_BLOCK = 32


def hann_window(length: int) -> np.ndarray:
    """Periodic Hann window (torch/librosa default), shape (length,), float64, peak at length/2."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(length) / length)


def frame_count(n_samples: int, hop_samples: int) -> int:
    """Frames of a centered STFT: one every ``hop_samples``, the first centered on sample 0."""
    return 1 + n_samples // hop_samples


def magnitude_spectrogram(
    audio: np.ndarray, params: SpectrogramParams, *, fft_size: int | None = None
) -> np.ndarray:
    """|STFT| of mono ``audio`` (samples,) → (fft_size // 2 + 1, frames), float32.

    Centered frames with reflect padding, a periodic Hann window of ``params.window_samples``
    zero-padded to ``fft_size`` (``params.n_fft`` by default), as torchaudio's
    ``Spectrogram(power=None)`` followed by ``abs`` computes it for Riffusion.
    """
    fft_size = params.n_fft if fft_size is None else fft_size
    audio = np.asarray(audio, dtype=np.float64)
    if audio.ndim != 1:
        raise ValueError(f"audio must be mono, shape (samples,), got {audio.shape}")
    half = params.window_samples // 2
    frames_total = frame_count(audio.size, params.hop_samples)
    if audio.size <= half:  # reflect padding needs more samples than it pads
        audio = np.pad(audio, (0, half + 1 - audio.size))
    padded = np.pad(audio, half, mode="reflect")
    window = hann_window(params.window_samples)
    windows = np.lib.stride_tricks.sliding_window_view(padded, params.window_samples)
    out = np.empty((fft_size // 2 + 1, frames_total), dtype=np.float32)
    for start in range(0, frames_total, _FRAMES_PER_BLOCK):
        stop = min(start + _FRAMES_PER_BLOCK, frames_total)
        block = windows[start * params.hop_samples : (stop - 1) * params.hop_samples + 1 : params.hop_samples]
        spectrum = np.fft.rfft(block * window, n=fft_size, axis=1)
        out[:, start:stop] = np.abs(spectrum).T
    return out
