"""Markdown tables, as the benchmarks print them (the README quotes them)."""

from __future__ import annotations

import math


def header(columns: list[str], align: str) -> str:
    """A table's two first lines; ``align`` has one letter per column: ``l`` (``---``) or ``r`` (``---:``)."""
    if len(align) != len(columns):
        raise ValueError("one alignment letter per column")
    return row(columns) + "\n|" + "".join("---:|" if a == "r" else "---|" for a in align)


def row(cells: list[str]) -> str:
    """``| a | b |``"""
    return "| " + " | ".join(cells) + " |"


def ratio(value: float, reference: float) -> str:
    """``value / reference`` as ``1.23×``, or ``—`` when either is not finite or the reference is not > 0."""
    if not (math.isfinite(value) and math.isfinite(reference)) or reference <= 0:
        return "—"
    return f"{value / reference:.2f}×"
