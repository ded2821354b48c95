"""Correct variants for notebook lookup."""

from __future__ import annotations

from grader.samples.variants import Variant

VARIANTS: list[Variant] = []
