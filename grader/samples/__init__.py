"""Submissions made up to prove the grader: mistakes (mutants/), correct variants (variants/), hostile cases."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Sequence
from typing import Any


def collect(package: str, path: Sequence[str], attribute: str, kind: str) -> list[Any]:
    """The ``attribute`` list of every module of ``package`` (at ``path``), in notebook order (each notebook's in the
    order its module lists them): a new module needs no registering. Names must be unique (``ValueError``)."""
    items = [item for info in sorted(pkgutil.iter_modules(path), key=lambda info: info.name)
             for item in getattr(importlib.import_module(f"{package}.{info.name}"), attribute)]
    items.sort(key=lambda item: item.notebook)  # stable
    names = [item.name for item in items]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"{kind} names must be unique: {sorted(duplicates)}")
    return items


def named(items: Sequence[Any], name: str, kind: str) -> Any:
    """The item of ``items`` called ``name`` (``KeyError`` if there is none)."""
    for item in items:
        if item.name == name:
            return item
    raise KeyError(f"no {kind} named {name!r}")
