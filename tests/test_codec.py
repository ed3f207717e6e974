"""Tests for the Riffusion codec: mel filterbank, STFT, image conventions and audio files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
from PIL import Image

from riffcast.audio_io import AudioFileError, read_audio, write_audio
from riffcast.dsp.codec import (
    EXIF_MAX_VALUE,
    EXIF_SAMPLE_RATE,
    PNG_TEXT_VALID_COLUMNS,
    ImageFormatError,
    audio_to_mel,
    image_from_mel,
    mel_image_from,
    open_image,
    save_png,
    split_chunks,
)
from riffcast.dsp.mel import mel_filterbank, riffusion_filterbank
from riffcast.dsp.params import RIFFUSION_V1 as P
from riffcast.dsp.stft import frame_count, magnitude_spectrogram
from riffcast.generation.demo_music import render_demo_song

SR = P.sample_rate
PIXEL_STEP = 0.5 / 255 + 1e-6  # uint8 quantisation, in the power-0.25 domain


# --------------------------------------------------------------------------- helpers


def power_domain(mel: np.ndarray) -> np.ndarray:
    """Mel scaled to [0, 1] → the image's brightness domain, (mel)^0.25."""
    return np.power(np.clip(np.asarray(mel, dtype=np.float64), 0.0, None), P.image_power)


def grey_pixels(image: Image.Image) -> np.ndarray:
    """(rows, columns) uint8 of a greyscale-in-RGB image, after checking the channels agree."""
    rgb = np.asarray(image.convert("RGB"))
    assert np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2])
    return rgb[..., 0]


def roundtrip_png(mel: np.ndarray, path: Path):
    """mel → image_from_mel → save_png → open_image → mel_image_from."""
    save_png(image_from_mel(mel, P), path)
    return mel_image_from(open_image(path), P)


def sine(freq_hz: float, n: int, rate: int, amplitude: float = 0.5) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * freq_hz * np.arange(n) / rate)).astype(np.float32)


def peak_frequency(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.argmax(spectrum) * rate / x.size)


@pytest.fixture(scope="module")
def music_mel() -> np.ndarray:
    """Absolute mel of demo music, 512 + 177 columns (two chunks, the last one narrow)."""
    audio = render_demo_song((512 + 177) * P.hop_samples / SR, sample_rate=SR)
    mel = audio_to_mel(audio, P)
    assert mel.shape == (512, 512 + 177)
    return mel


@pytest.fixture(scope="module")
def music_image(music_mel: np.ndarray) -> Image.Image:
    return image_from_mel(music_mel[:, :512], P)


# --------------------------------------------------------------------------- mel / STFT


def test_filterbank_matches_librosa() -> None:
    librosa = pytest.importorskip("librosa")
    reference = librosa.filters.mel(
        sr=44100, n_fft=17640, n_mels=512, fmin=0, fmax=10000, htk=True, norm=None
    )
    ours = riffusion_filterbank(P)
    direct = mel_filterbank(sample_rate=44100, n_fft=17640, n_mels=512, f_min_hz=0.0, f_max_hz=10000.0)
    assert ours.shape == direct.shape == reference.shape == (512, 8821)
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-6)
    np.testing.assert_allclose(direct, reference, rtol=0, atol=1e-6)
    assert np.all(ours.sum(axis=1) > 0)  # every band has weight (none empty at this resolution)


def test_magnitude_spectrogram_matches_torch_stft() -> None:
    torch = pytest.importorskip("torch")
    n = 22050 + 123  # 0.5 s and a bit, not a multiple of the hop
    t = np.arange(n) / SR
    chirp = np.sin(2 * np.pi * (100 * t + 0.5 * 8000 * t**2 / t[-1])).astype(np.float32)
    reference = torch.stft(
        torch.from_numpy(chirp.astype(np.float64)),
        n_fft=17640,
        hop_length=441,
        win_length=4410,
        window=torch.hann_window(4410, dtype=torch.float64),
        center=True,
        pad_mode="reflect",
        return_complex=True,
    ).abs().numpy()
    ours = magnitude_spectrogram(chirp, P)
    assert ours.dtype == np.float32
    assert ours.shape == reference.shape == (8821, 1 + n // 441)
    assert frame_count(n, 441) == 1 + n // 441
    error = np.max(np.abs(ours.astype(np.float64) - reference))
    assert error <= 1e-4 * reference.max()


# --------------------------------------------------------------------------- image conventions


def test_image_from_mel_pixel_convention() -> None:
    bands = np.arange(512, dtype=np.float64)[:, None]
    columns = np.arange(512, dtype=np.float64)[None, :]
    mel = (bands + 1.0) * (1.0 + columns / 100.0)  # increases with band and time, not symmetric
    mel[:, 0] = 0.0  # one silent column
    image = image_from_mel(mel, P)
    assert image.mode == "RGB" and image.size == (512, 512)
    grey = grey_pixels(image)
    peak = mel.max()
    expected = np.round(255.0 - 255.0 * (mel / peak) ** 0.25).astype(np.uint8)[::-1]
    np.testing.assert_array_equal(grey, expected)
    # Orientation: the maximum (top band, last column) is black at the top right; band 0 is
    # the bottom row; silence is white.
    assert grey[0, 511] == 0
    assert np.all(grey[:, 0] == 255)
    assert grey[511, 1] == expected[511, 1] > grey[0, 1]  # bottom row = lowest band = faintest
    exif = image.getexif()
    assert exif[EXIF_MAX_VALUE] == pytest.approx(peak)
    assert exif[EXIF_SAMPLE_RATE] == 44100
    assert (EXIF_MAX_VALUE, EXIF_SAMPLE_RATE) == (11080, 11000)


def test_image_from_mel_rejects_wrong_band_count() -> None:
    with pytest.raises(ValueError, match="512"):
        image_from_mel(np.ones((256, 10)), P)


def test_split_chunks_widths_in_time_order() -> None:
    mel = np.tile(np.arange(1200, dtype=np.float32), (512, 1))
    chunks = split_chunks(mel, P)
    assert [chunk.shape for chunk in chunks] == [(512, 512), (512, 512), (512, 176)]
    np.testing.assert_array_equal(np.concatenate(chunks, axis=1), mel)


# --------------------------------------------------------------------------- round trips


def test_png_roundtrip_full_chunk(music_mel: np.ndarray, tmp_path: Path) -> None:
    mel = music_mel[:, :512]
    chunk = roundtrip_png(mel, tmp_path / "full.png")
    assert chunk.mel.shape == (512, 512) and chunk.mel.dtype == np.float32
    assert chunk.columns == 512
    assert chunk.max_value == pytest.approx(float(mel.max()), rel=1e-6)
    error = np.abs(power_domain(chunk.mel) - power_domain(mel / mel.max()))
    assert error.max() <= PIXEL_STEP


def test_png_roundtrip_narrow_last_chunk(music_mel: np.ndarray, tmp_path: Path) -> None:
    mel = music_mel[:, 512:]
    assert mel.shape[1] == 177
    path = tmp_path / "last.png"
    chunk = roundtrip_png(mel, path)
    assert Image.open(path).size == (512, 512)
    assert Image.open(path).info[PNG_TEXT_VALID_COLUMNS] == "177"
    assert chunk.columns == 177
    assert chunk.max_value == pytest.approx(float(mel.max()), rel=1e-6)
    error = np.abs(power_domain(chunk.mel) - power_domain(mel / mel.max()))
    assert error.max() <= PIXEL_STEP


def test_greyscale_png_decodes_like_rgb(music_image: Image.Image, tmp_path: Path) -> None:
    rgb = mel_image_from(music_image, P)
    path = tmp_path / "grey.png"
    music_image.convert("L").save(path, exif=music_image.getexif())
    grey_image = open_image(path)
    assert grey_image.mode == "L"
    grey = mel_image_from(grey_image, P)
    np.testing.assert_array_equal(grey.mel, rgb.mel)
    assert grey.max_value == pytest.approx(rgb.max_value)


def test_jpeg_decodes_within_loose_tolerance(music_image: Image.Image, tmp_path: Path) -> None:
    rgb = mel_image_from(music_image, P)
    path = tmp_path / "chunk.jpg"
    music_image.save(path, format="JPEG", quality=95, exif=music_image.getexif())
    jpeg = mel_image_from(open_image(path), P)
    assert jpeg.mel.shape == (512, 512)
    assert jpeg.max_value == pytest.approx(rgb.max_value)
    error = np.abs(power_domain(jpeg.mel) - power_domain(rgb.mel))
    assert error.mean() < 1.5 / 255  # measured ≈ 0.7 / 255 at quality 95
    assert np.percentile(error, 99) < 6 / 255  # measured 3 / 255


def test_image_without_exif_has_unknown_level(music_image: Image.Image, tmp_path: Path) -> None:
    path = tmp_path / "model.png"
    Image.fromarray(np.asarray(music_image)).save(path)  # pixels only, as the model paints them
    chunk = mel_image_from(open_image(path), P)
    assert chunk.max_value is None
    assert chunk.columns == 512
    np.testing.assert_array_equal(chunk.mel, mel_image_from(music_image, P).mel)


# --------------------------------------------------------------------------- image errors


def test_wrong_height_is_refused() -> None:
    with pytest.raises(ImageFormatError, match="512"):
        mel_image_from(Image.new("RGB", (512, 256), "white"), P)


@pytest.mark.parametrize("mode", ["F", "I;16", "CMYK"])
def test_unsupported_mode_is_refused(mode: str) -> None:
    with pytest.raises(ImageFormatError, match="mode"):
        mel_image_from(Image.new(mode, (512, 512)), P)


def test_other_sample_rate_in_exif_is_refused(music_image: Image.Image, tmp_path: Path) -> None:
    exif = music_image.getexif()
    exif[EXIF_SAMPLE_RATE] = 22050
    path = tmp_path / "22k.png"
    music_image.save(path, exif=exif)
    with pytest.raises(ImageFormatError, match="22050"):
        mel_image_from(open_image(path), P)


def test_open_image_errors(tmp_path: Path) -> None:
    text = tmp_path / "x.png"
    text.write_text("not an image\n")
    with pytest.raises(ImageFormatError, match="x.png"):
        open_image(text)
    with pytest.raises(FileNotFoundError):
        open_image(tmp_path / "missing.png")


# --------------------------------------------------------------------------- audio files


def test_read_audio_averages_channels(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    stereo = rng.uniform(-0.5, 0.5, size=(4410, 2)).astype(np.float32)
    path = tmp_path / "stereo.wav"
    soundfile.write(path, stereo, SR, subtype="FLOAT")
    mono = read_audio(path, SR)
    assert mono.dtype == np.float32 and mono.shape == (4410,)
    np.testing.assert_allclose(mono, stereo.mean(axis=1), atol=1e-7)


def test_read_audio_resamples_stereo_48k(tmp_path: Path) -> None:
    n = 48000 * 2
    left = sine(1000.0, n, 48000, amplitude=0.6)
    path = tmp_path / "48k.wav"
    soundfile.write(path, np.stack([left, np.zeros_like(left)], axis=1), 48000, subtype="FLOAT")
    mono = read_audio(path, SR)
    assert abs(mono.size - n * SR / 48000) <= 2
    assert peak_frequency(mono, SR) == pytest.approx(1000.0, abs=1.0)
    middle = mono[SR // 2 : -SR // 2]
    assert np.max(np.abs(middle)) == pytest.approx(0.3, abs=0.01)  # mean of 0.6 and silence


@pytest.mark.parametrize("suffix", [".wav", ".flac"])
def test_write_read_roundtrip(tmp_path: Path, suffix: str) -> None:
    samples = sine(440.0, 20000, SR) + sine(3000.0, 20000, SR, amplitude=0.2)
    path = tmp_path / f"tone{suffix}"
    write_audio(path, samples, SR)
    info = soundfile.info(path)
    assert (info.samplerate, info.channels, info.subtype) == (SR, 1, "PCM_16")
    back = read_audio(path, SR)
    assert back.shape == samples.shape
    np.testing.assert_allclose(back, samples, atol=1.0 / 32767)


def test_write_audio_clips(tmp_path: Path) -> None:
    path = tmp_path / "loud.wav"
    write_audio(path, np.array([2.0, -3.0, 0.5], dtype=np.float32), SR)
    back = read_audio(path, SR)
    np.testing.assert_allclose(back, [1.0, -1.0, 0.5], atol=1.0 / 32767)


@pytest.mark.parametrize("name", ["out.aac", "out.xyz", "out"])
def test_write_audio_unknown_suffix(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    with pytest.raises(AudioFileError, match="unknown audio format"):
        write_audio(path, np.zeros(10, dtype=np.float32), SR)
    assert not path.exists()


def test_read_audio_errors_name_the_path(tmp_path: Path) -> None:
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio\n" * 10)
    with pytest.raises(AudioFileError, match="notes.wav"):
        read_audio(text, SR)
    with pytest.raises(AudioFileError, match="missing.wav"):
        read_audio(tmp_path / "missing.wav", SR)
