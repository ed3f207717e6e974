"""Model sources: random builds, saving and loading folders and the HF cache, and the errors.

Nothing here reaches the network: downloads are off (HF_HUB_OFFLINE=1, every test) or, in
the download tests, the Hub client is replaced. GPU-only tests carry the ``gpu`` marker and skip without CUDA.
"""

from __future__ import annotations

import fnmatch
import shutil

import huggingface_hub
import numpy as np
import pytest
import torch
from huggingface_hub.utils import httpx as hub_http

from riffcast.generation.models import (
    CLIP_MAX_TOKENS,
    TINY_RANDOM,
    ModelError,
    build_full_random,
    build_tiny_random,
    byte_level_clip_tokenizer,
    cached_snapshot,
    download,
    is_offline,
    load_components,
    pick_device,
    pick_dtype,
    save_components,
)
from riffcast.generation.riffusion import RiffusionGenerator
from riffcast.generation.types import ImageRequest
from riffcast.steering.targets import Target

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No test may reach the Hub: downloads are off unless a test asks for ``online``."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def online(offline, monkeypatch):
    """Downloads allowed, but the Hub client is replaced in each test that uses this."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)


@pytest.fixture(scope="module")
def saved_tiny(tmp_path_factory):
    return save_components(build_tiny_random(seed=0), tmp_path_factory.mktemp("models") / "tiny")


def a_request() -> ImageRequest:
    init = np.tile(np.linspace(0, 255, 512), (512, 1)).astype(np.uint8)
    return ImageRequest(Target.from_text("lofi beat", seed=3), Target.from_text("string quartet", seed=4), 0.4, init)


# --- devices ---------------------------------------------------------------------------------


def test_pick_device_prefers_cuda_then_mps_then_cpu():
    if not torch.cuda.is_available() and not torch.backends.mps.is_available():
        assert pick_device(None) == "cpu"
    assert pick_device(None) == pick_device("auto")
    assert pick_device("cpu") == "cpu"


def test_pick_device_refuses_what_is_not_here():
    with pytest.raises(ModelError, match="unknown device"):
        pick_device("tpu-ish")
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="no CUDA GPU"):
            pick_device("cuda")


def test_pick_dtype_is_half_on_cuda_only():
    assert pick_dtype("cuda") == torch.float16
    assert pick_dtype("cuda:1") == torch.float16
    assert pick_dtype("cpu") == torch.float32
    assert pick_dtype("mps") == torch.float32


def test_is_offline_reads_the_environment_now(monkeypatch):
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert is_offline()
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert not is_offline()


# --- random models ---------------------------------------------------------------------------


def test_tiny_random_is_deterministic_per_seed_and_leaves_the_global_rng_alone():
    state = torch.get_rng_state()
    first, again, other = build_tiny_random(seed=0), build_tiny_random(seed=0), build_tiny_random(seed=1)
    assert torch.equal(torch.get_rng_state(), state)
    for name, weights in first.unet.state_dict().items():
        assert torch.equal(weights, again.unet.state_dict()[name])
    assert not torch.equal(first.vae.decoder.conv_in.weight, other.vae.decoder.conv_in.weight)


def test_tiny_random_has_riffusions_data_shapes():
    components = build_tiny_random()
    with torch.inference_mode():
        latents = components.vae.encode(torch.zeros(1, 3, 512, 512)).latent_dist.mean
    assert latents.shape == (1, 4, 64, 64)
    assert components.unet.config.cross_attention_dim == components.text_encoder.config.hidden_size
    assert components.unet.config.sample_size == 64
    assert components.scheduler_config["_class_name"] == "PNDMScheduler"


def test_byte_level_tokenizer_pads_any_text_to_77_known_ids():
    tokenizer = byte_level_clip_tokenizer()
    ids = tokenizer("Déjà vu — 🎷 jazz!", padding="max_length", max_length=CLIP_MAX_TOKENS, truncation=True).input_ids
    assert len(ids) == CLIP_MAX_TOKENS
    assert ids[0] == tokenizer.bos_token_id and tokenizer.eos_token_id in ids
    assert tokenizer.unk_token_id not in ids[1 : ids.index(tokenizer.eos_token_id)]
    assert max(ids) < len(tokenizer)


def test_full_random_has_riffusion_model_v1s_exact_shapes():
    components = build_full_random(device="meta")  # shapes only, no memory

    def count(network: torch.nn.Module) -> int:
        return sum(parameter.numel() for parameter in network.parameters())

    # Stable Diffusion 1.5's parameter counts.
    assert count(components.unet) == 859_520_964
    assert count(components.vae) == 83_653_863
    assert count(components.text_encoder) == 123_060_480
    assert components.unet.config.block_out_channels == (320, 640, 1280, 1280)
    assert components.unet.config.cross_attention_dim == 768
    assert components.vae.config.latent_channels == 4


# --- folders and the cache -------------------------------------------------------------------


def test_saved_folder_loads_back_offline_and_paints_the_same_image(saved_tiny):
    in_memory = RiffusionGenerator(build_tiny_random(seed=0), steps=4).paint(a_request()).image
    loaded = load_components(str(saved_tiny))
    assert loaded.source == str(saved_tiny)
    assert np.array_equal(RiffusionGenerator(loaded, steps=4).paint(a_request()).image, in_memory)


def test_hub_id_loads_from_the_cache_offline(saved_tiny, tmp_path):
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "models--someone--riffusion-copy"
    shutil.copytree(saved_tiny, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    assert cached_snapshot("someone/riffusion-copy", tmp_path) == repo / "snapshots" / commit
    assert cached_snapshot("someone/other-model", tmp_path) is None
    components = load_components("someone/riffusion-copy", cache_dir=tmp_path)
    assert torch.equal(components.unet.conv_in.weight, build_tiny_random(seed=0).unet.conv_in.weight)


def test_load_tiny_random_by_name():
    components = load_components(TINY_RANDOM, device="cpu", dtype=torch.float32)
    assert components.source == TINY_RANDOM and components.unet.dtype == torch.float32


def test_missing_folder_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="no model folder at"):
        load_components(str(tmp_path / "nowhere"))


def test_folder_missing_unet_is_a_model_error(saved_tiny, tmp_path):
    incomplete = shutil.copytree(saved_tiny, tmp_path / "incomplete")
    shutil.rmtree(incomplete / "unet")
    with pytest.raises(ModelError, match=r"incomplete model folder: .* missing unet/"):
        load_components(str(incomplete))


def test_folder_without_model_index_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="no model_index.json"):
        load_components(str(tmp_path))


def test_folder_with_unreadable_weights_is_a_model_error(saved_tiny, tmp_path):
    broken = shutil.copytree(saved_tiny, tmp_path / "broken")
    (broken / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(ModelError, match="incomplete model folder"):
        load_components(str(broken))


def test_unknown_hub_id_offline_says_to_download_elsewhere(tmp_path):
    with pytest.raises(ModelError, match=r"not in the Hugging Face cache.*riffcast download someone/no-such-model"):
        load_components("someone/no-such-model", cache_dir=tmp_path)


def test_unknown_name_is_a_model_error():
    with pytest.raises(ModelError, match="unknown model 'riffusion'"):
        load_components("riffusion")


# --- downloads (the Hub client is never reached) ---------------------------------------------


def test_download_offline_is_a_no_network_error():
    with pytest.raises(ModelError, match="no network"):
        download("riffusion/riffusion-model-v1")


def test_download_without_a_connection_is_a_no_network_error(online, tmp_path, monkeypatch):
    def unreachable(*args, **kwargs):
        raise hub_http.ConnectError("network is unreachable")

    monkeypatch.setattr(huggingface_hub.HfApi, "list_repo_files", unreachable)
    with pytest.raises(ModelError, match="no network"):
        download("riffusion/riffusion-model-v1", cache_dir=tmp_path)
    with pytest.raises(ModelError, match="no network"):  # load_components downloads what is not cached
        load_components("riffusion/riffusion-model-v1", cache_dir=tmp_path)


def test_download_fetches_only_the_diffusers_weights(online, tmp_path, monkeypatch):
    repo_files = [
        "model_index.json",
        "riffusion-model-v1.ckpt",
        "safety_checker/pytorch_model.bin",
        "unet/config.json",
        "unet/diffusion_pytorch_model.bin",
        "unet/diffusion_pytorch_model.safetensors",
        "vae/config.json",
        "vae/diffusion_pytorch_model.safetensors",
        "text_encoder/config.json",
        "text_encoder/pytorch_model.bin",
        "tokenizer/merges.txt",
        "tokenizer/vocab.json",
        "scheduler/scheduler_config.json",
    ]
    requested = {}

    def fake_snapshot_download(model_id, *, cache_dir=None, allow_patterns=None):
        requested.update(model_id=model_id, patterns=allow_patterns)
        return str(tmp_path)

    monkeypatch.setattr(huggingface_hub.HfApi, "list_repo_files", lambda self, model_id: repo_files)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    assert download("riffusion/riffusion-model-v1", cache_dir=tmp_path) == tmp_path
    fetched = {name for name in repo_files if any(fnmatch.fnmatch(name, p) for p in requested["patterns"])}
    assert fetched == {
        "model_index.json",
        "unet/config.json",
        "unet/diffusion_pytorch_model.safetensors",  # safetensors preferred over .bin
        "vae/config.json",
        "vae/diffusion_pytorch_model.safetensors",
        "text_encoder/config.json",
        "text_encoder/pytorch_model.bin",  # .bin only where there is no safetensors
        "tokenizer/merges.txt",
        "tokenizer/vocab.json",
        "scheduler/scheduler_config.json",
    }


# --- GPU -------------------------------------------------------------------------------------


@pytest.mark.gpu
@needs_cuda
def test_full_random_paints_on_cuda_in_half_precision():
    components = load_components("full-random", device="cuda", dtype=torch.float16)
    assert components.unet.dtype == torch.float16 and components.unet.device.type == "cuda"
    chunk = RiffusionGenerator(components, device="cuda", dtype=torch.float16, steps=4).paint(a_request())
    assert chunk.image.shape == (512, 512) and chunk.image.dtype == np.uint8
    assert {"text", "denoise", "decode"} <= chunk.timings_s.keys()
