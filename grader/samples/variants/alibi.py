"""Correct variants for notebook alibi."""

from __future__ import annotations

from grader.samples.variants import Variant

VARIANTS: list[Variant] = []
