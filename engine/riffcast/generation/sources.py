"""Model sources that can be named without loading anything: the built-in random models and
the Hugging Face cache. Imports neither torch nor diffusers, so ``--generator auto`` can tell
in milliseconds that there are no weights here and start the synth."""

from __future__ import annotations

import os
import re
from pathlib import Path

DEFAULT_MODEL_ID = "riffusion/riffusion-model-v1"
TINY_RANDOM = "tiny-random"
FULL_RANDOM = "full-random"


def cached_snapshot(model_id: str, cache_dir: str | Path | None = None) -> Path | None:
    """The cached snapshot folder of ``model_id``'s main revision, or None; no network call.

    A folder is returned as soon as its ``model_index.json`` is cached; loading it says which
    parts are missing when a download was cut short.

    A model with no folder in the cache is answered without importing ``huggingface_hub``
    (about 0.1–0.2 s of a station's start); everything else is left to it.
    """
    if _surely_not_cached(model_id, cache_dir):
        return None
    from huggingface_hub import try_to_load_from_cache  # the `riffusion` extra

    found = try_to_load_from_cache(model_id, "model_index.json", cache_dir=cache_dir)
    return Path(found).parent if isinstance(found, str) else None


# A repo id huggingface_hub accepts as it is (its own check is stricter about some of these;
# anything else goes to it, so it still raises for an invalid id).
_PLAIN_REPO_ID = re.compile(r"[A-Za-z0-9_.-]{1,96}/[A-Za-z0-9_.-]{1,96}")


def hub_cache_dir() -> Path:
    """The folder huggingface_hub caches in, resolved as its ``constants.HF_HUB_CACHE`` is
    (HF_HUB_CACHE, else HUGGINGFACE_HUB_CACHE, else HF_HOME/hub, HF_HOME defaulting to
    $XDG_CACHE_HOME/huggingface or ~/.cache/huggingface)."""
    home = os.path.expanduser(
        os.getenv("HF_HOME", os.path.join(os.getenv("XDG_CACHE_HOME", "~/.cache"), "huggingface"))
    )
    return Path(os.getenv("HF_HUB_CACHE", os.getenv("HUGGINGFACE_HUB_CACHE", os.path.join(home, "hub"))))


def has_cache_folder(model_id: str, cache_dir: str | Path | None = None) -> bool:
    """Whether the cache has a folder named for ``model_id`` (what it holds is not looked at):
    the answer where ``huggingface_hub``, which reads the cache, is not installed."""
    folder = Path(cache_dir) if cache_dir is not None else hub_cache_dir()
    return (folder / ("models--" + model_id.replace("/", "--"))).is_dir()


def _surely_not_cached(model_id: str, cache_dir: str | Path | None) -> bool:
    """True when the cache has no folder at all for this plain ``owner/name`` id."""
    if not _PLAIN_REPO_ID.fullmatch(model_id) or "--" in model_id or ".." in model_id or model_id.endswith(".git"):
        return False
    return not has_cache_folder(model_id, cache_dir)
