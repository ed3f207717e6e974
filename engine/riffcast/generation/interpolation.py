"""Blending text embeddings and seed noises: linear, spherical and weighted.

All three return exactly an input at the ends (``t = 0`` gives ``a``, ``t = 1`` gives ``b``,
a single weight gives the single embedding), so a chunk at alpha 0 is the start target alone.
"""

from __future__ import annotations

import math
from typing import TypeVar

import torch

Blendable = TypeVar("Blendable", float, torch.Tensor)

# Above this cosine the two directions are treated as parallel and lerped: slerp's
# sin(θ) denominator would lose all its precision.
PARALLEL_COSINE = 0.9995


def lerp(a: Blendable, b: Blendable, t: float) -> Blendable:
    """Linear interpolation ``(1 − t)·a + t·b``, exact at ``t = 0`` and ``t = 1``.

    Works for floats and for tensors of one shape (any dtype, any device).
    """
    return a * (1.0 - t) + b * t


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation between two tensors of one shape, seen as flat vectors.

    Walks the great circle from ``a`` to ``b`` (Shoemake 1985), the way Riffusion blends seed
    noises: the blend of two Gaussian noises keeps a Gaussian's norm, where a lerp would shrink
    it towards the middle. Nearly parallel inputs fall back to :func:`lerp`. The angle and the
    two coefficients are computed in float64; the result has ``a``'s dtype and device.
    """
    if a.shape != b.shape:
        raise ValueError(f"slerp needs tensors of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    a64, b64 = a.reshape(-1).double(), b.reshape(-1).double()
    norms = float(torch.linalg.vector_norm(a64) * torch.linalg.vector_norm(b64))
    cosine = float(torch.dot(a64, b64)) / norms if norms > 0 else 1.0
    if abs(cosine) > PARALLEL_COSINE:
        return lerp(a, b, t)
    theta = math.acos(cosine)
    sin_theta = math.sin(theta)
    weight_a = math.sin((1.0 - t) * theta) / sin_theta
    weight_b = math.sin(t * theta) / sin_theta
    return a * weight_a + b.to(a.dtype) * weight_b


def blend_weighted(embeddings: list[torch.Tensor], weights: list[float]) -> torch.Tensor:
    """Σ wᵢ·eᵢ with the weights normalised to sum 1; one embedding comes back unchanged.

    embeddings: tensors of one shape, e.g. CLIP states (1, 77, 768).
    weights: one finite weight > 0 per embedding.
    """
    if not embeddings or len(embeddings) != len(weights):
        raise ValueError(f"need one weight per embedding, got {len(embeddings)} embeddings and {len(weights)} weights")
    if any(not math.isfinite(weight) or weight <= 0 for weight in weights):
        raise ValueError(f"weights must be finite and > 0, got {weights}")
    total = math.fsum(weights)
    blend = embeddings[0] * (weights[0] / total)
    for embedding, weight in zip(embeddings[1:], weights[1:]):
        blend = blend + embedding * (weight / total)
    return blend
