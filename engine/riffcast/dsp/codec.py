"""Riffusion spectrogram images both ways: audio → mel → PNG, and image → mel.

Pixel convention (riffusion-model-v1): one column per STFT frame, one row per mel band with
the lowest band at the bottom, ``pixel = 255 − 255·(mel / max)^0.25`` (white is silence),
greyscale repeated in RGB. The chunk's ``max`` and the spectrogram parameters are stored as
EXIF tags with the numbers riffusion's own tools use, so either side reads the other's
images; images without them (the model paints none) decode with an unknown absolute level,
which the stitcher reconciles at each join.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from riffcast.dsp.mel import riffusion_filterbank
from riffcast.dsp.params import SpectrogramParams
from riffcast.dsp.stft import magnitude_spectrogram

# EXIF tag numbers of riffusion-hobby's SpectrogramParams.ExifTags.
EXIF_SAMPLE_RATE = 11000
EXIF_STEREO = 11005
EXIF_STEP_SIZE_MS = 11010
EXIF_WINDOW_DURATION_MS = 11020
EXIF_PADDED_DURATION_MS = 11030
EXIF_NUM_FREQUENCIES = 11040
EXIF_MIN_FREQUENCY = 11050
EXIF_MAX_FREQUENCY = 11060
EXIF_POWER_FOR_IMAGE = 11070
EXIF_MAX_VALUE = 11080
PNG_TEXT_VALID_COLUMNS = "riffcast:valid_columns"
CHUNK_CONTEXT_COLUMNS = 6  # ≥ half a window of real audio each side of a chunk (see chunk_pixels)

_ACCEPTED_MODES = {"L", "LA", "RGB", "RGBA", "P"}


class ImageFormatError(ValueError):
    """An image that is not a spectrogram this codec can read (size, mode or parameters)."""


@dataclass(frozen=True)
class MelImage:
    """One image's worth of mel magnitude.

    mel: (n_mels, columns) float32, scaled so that the image's black level is 1.0.
    max_value: the absolute magnitude of that level, or ``None`` when the image does not say
        (the model's images): the level relative to neighbouring chunks is then unknown.
    """

    mel: np.ndarray
    max_value: float | None = None

    @property
    def columns(self) -> int:
        return int(self.mel.shape[1])


def audio_to_mel(audio: np.ndarray, params: SpectrogramParams) -> np.ndarray:
    """Mono audio (samples,) at ``params.sample_rate`` → absolute mel magnitude (n_mels, columns).

    One column per ``hop_samples`` of audio (``ceil(samples / hop)``), so 5.12 s is exactly
    one 512-column image and decoding gives back the length rounded up to a hop. (The
    centered STFT has one frame more, centred on the very last sample; it is dropped.)
    """
    columns = max(1, -(-np.asarray(audio).size // params.hop_samples))
    magnitude = magnitude_spectrogram(audio, params)[:, :columns]
    return (riffusion_filterbank(params, np.float32) @ magnitude).astype(np.float32)


def split_chunks(mel: np.ndarray, params: SpectrogramParams) -> list[np.ndarray]:
    """Cut (n_mels, frames) into chunks of ``params.chunk_columns``, in time order.

    The last one may be narrower; :func:`image_from_mel` pads it with silence to full width
    and records its real width, so decoding drops the padding again.
    """
    width = params.chunk_columns
    chunks = []
    for start in range(0, max(mel.shape[1], 1), width):
        chunks.append(mel[:, start : start + width])
    return chunks


def image_from_mel(mel: np.ndarray, params: SpectrogramParams) -> Image.Image:
    """Absolute mel magnitude (n_mels, columns ≤ chunk_columns) → RGB image with metadata.

    Narrower input is padded with silence to ``params.chunk_columns`` columns.
    """
    valid_columns = mel.shape[1]
    if mel.shape[0] != params.n_mels:
        raise ValueError(f"mel must have {params.n_mels} rows, got {mel.shape[0]}")
    if valid_columns < params.chunk_columns:
        mel = np.pad(mel, ((0, 0), (0, params.chunk_columns - valid_columns)))
    max_value = float(np.max(mel))
    image = Image.fromarray(pixels_from_mel(mel, params), mode="L").convert("RGB")
    exif = image.getexif()
    exif[EXIF_SAMPLE_RATE] = params.sample_rate
    exif[EXIF_STEREO] = False
    exif[EXIF_STEP_SIZE_MS] = round(1000 * params.hop_samples / params.sample_rate)
    exif[EXIF_WINDOW_DURATION_MS] = round(1000 * params.window_samples / params.sample_rate)
    exif[EXIF_PADDED_DURATION_MS] = round(1000 * params.n_fft / params.sample_rate)
    exif[EXIF_NUM_FREQUENCIES] = params.n_mels
    exif[EXIF_MIN_FREQUENCY] = int(params.f_min_hz)
    exif[EXIF_MAX_FREQUENCY] = int(params.f_max_hz)
    exif[EXIF_POWER_FOR_IMAGE] = float(params.image_power)
    exif[EXIF_MAX_VALUE] = max_value
    image.info[PNG_TEXT_VALID_COLUMNS] = str(valid_columns)
    return image


def save_png(image: Image.Image, path: Path) -> None:
    """Write ``image`` as PNG with its EXIF tags and riffcast's text chunk."""
    from PIL.PngImagePlugin import PngInfo

    text = PngInfo()
    if PNG_TEXT_VALID_COLUMNS in image.info:
        text.add_text(PNG_TEXT_VALID_COLUMNS, str(image.info[PNG_TEXT_VALID_COLUMNS]))
    image.save(path, format="PNG", exif=image.getexif(), pnginfo=text)


def open_image(path: Path) -> Image.Image:
    """Open an image file fully, or raise ``ImageFormatError`` / ``FileNotFoundError``."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        with Image.open(path) as image:
            image.load()
            return image
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ImageFormatError(f"{path}: not a readable image ({error})") from None


def mel_image_from(image: Image.Image, params: SpectrogramParams) -> MelImage:
    """Spectrogram image (height n_mels, any width) → :class:`MelImage`.

    Greyscale or RGB (the channels are averaged: the model paints them nearly equal);
    an alpha channel is ignored. Raises ``ImageFormatError`` for a wrong height or mode, or
    for metadata naming spectrogram parameters other than ``params``.
    """
    if image.mode not in _ACCEPTED_MODES:
        raise ImageFormatError(f"image mode {image.mode!r} is not supported (use greyscale or RGB)")
    if image.height != params.n_mels:
        raise ImageFormatError(
            f"image is {image.width}×{image.height}; a spectrogram must be {params.n_mels} pixels high"
        )
    exif = image.getexif()
    _check_parameters(exif, params)
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    mel = mel_from_pixels(rgb.mean(axis=2), params)
    valid = image.info.get(PNG_TEXT_VALID_COLUMNS)
    if valid is not None and str(valid).isdigit() and 0 < int(valid) <= mel.shape[1]:
        mel = mel[:, : int(valid)]
    max_value = exif.get(EXIF_MAX_VALUE)
    known = float(max_value) if isinstance(max_value, (int, float)) and max_value > 0 else None
    return MelImage(mel=np.ascontiguousarray(mel), max_value=known)


def chunk_pixels(audio: np.ndarray, params: SpectrogramParams, columns: int | None = None) -> np.ndarray:
    """The image of ``columns`` columns (default: a chunk) from their audio with real audio around
    them → (n_mels, columns) uint8, normalised to its own maximum.

    audio: ``columns × hop_samples + 2 × CHUNK_CONTEXT_COLUMNS × hop_samples`` samples, the
    columns' audio in the middle; the context keeps the edge columns' windows off the STFT's
    reflect padding, so consecutive pieces equal one continuous spectrogram cut in two.
    """
    columns = params.chunk_columns if columns is None else columns
    expected = (columns + 2 * CHUNK_CONTEXT_COLUMNS) * params.hop_samples
    if np.asarray(audio).shape != (expected,):
        raise ValueError(f"audio with context must have shape ({expected},), got {np.asarray(audio).shape}")
    mel = audio_to_mel(audio, params)[:, CHUNK_CONTEXT_COLUMNS : CHUNK_CONTEXT_COLUMNS + columns]
    return pixels_from_mel(mel, params)


def mel_from_pixels(pixels: np.ndarray, params: SpectrogramParams) -> np.ndarray:
    """Greyscale pixels (n_mels, columns) in image orientation → mel (n_mels, columns), float32.

    Row 0 of the result is the lowest band; the image's black level is 1.0.
    """
    grey = np.asarray(pixels, dtype=np.float32)[::-1]
    return np.ascontiguousarray(np.power((255.0 - grey) / 255.0, 1.0 / params.image_power), dtype=np.float32)


def pixels_from_mel(mel: np.ndarray, params: SpectrogramParams, *, max_value: float | None = None) -> np.ndarray:
    """Mel (n_mels, columns) → greyscale uint8 pixels in image orientation.

    The black level is ``max_value``, by default the mel's own maximum (as the model paints);
    ``max_value=1.0`` turns :func:`mel_from_pixels`'s output back into the same pixels.
    """
    max_value = float(np.max(mel)) if max_value is None else max_value
    scaled = mel / max_value if max_value > 0 else np.zeros_like(mel)
    pixels = np.round(255.0 - 255.0 * np.power(np.clip(scaled, 0.0, 1.0), params.image_power))
    return pixels.astype(np.uint8)[::-1].copy()


def _check_parameters(exif: Image.Exif, params: SpectrogramParams) -> None:
    expected = {
        EXIF_SAMPLE_RATE: ("sample rate", params.sample_rate),
        EXIF_STEP_SIZE_MS: ("step (ms)", round(1000 * params.hop_samples / params.sample_rate)),
        EXIF_WINDOW_DURATION_MS: ("window (ms)", round(1000 * params.window_samples / params.sample_rate)),
        EXIF_NUM_FREQUENCIES: ("mel bands", params.n_mels),
        EXIF_MAX_FREQUENCY: ("max frequency", int(params.f_max_hz)),
    }
    for tag, (name, value) in expected.items():
        stored = exif.get(tag)
        if stored is not None and stored != value:
            raise ImageFormatError(f"image was made with {name} {stored}, riffcast reads {value}")
    if exif.get(EXIF_STEREO):
        raise ImageFormatError("stereo spectrogram images are not supported")
