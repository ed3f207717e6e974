"""Model sources that can be named without loading anything: the built-in random models and
the Hugging Face cache. Imports neither torch nor diffusers, so ``--generator auto`` can tell
in milliseconds that there are no weights here and start the synth."""

from __future__ import annotations

from pathlib import Path

DEFAULT_MODEL_ID = "riffusion/riffusion-model-v1"
TINY_RANDOM = "tiny-random"
FULL_RANDOM = "full-random"


def cached_snapshot(model_id: str, cache_dir: str | Path | None = None) -> Path | None:
    """The cached snapshot folder of ``model_id``'s main revision, or None; no network call.

    A folder is returned as soon as its ``model_index.json`` is cached; loading it says which
    parts are missing when a download was cut short.
    """
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(model_id, "model_index.json", cache_dir=cache_dir)
    return Path(found).parent if isinstance(found, str) else None
