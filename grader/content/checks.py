"""Comparisons with messages a student can act on.

Every check raises :class:`CheckFailed` (an ``AssertionError``) whose message says which property
failed, on which call, and what to look at. Student objects are never trusted: types are checked
exactly (``type(x) is np.ndarray``, not ``isinstance``), values are converted to plain arrays by
the checker before any comparison, and no comparison calls a method of the student's object.
"""

from __future__ import annotations

import itertools
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "CheckFailed",
    "describe",
    "expect",
    "expect_array",
    "expect_raises",
    "expect_tensor",
    "fmt_call",
    "names_shape",
]

_SMALL = 12  # arrays with at most this many elements are shown in full in messages


class CheckFailed(AssertionError):
    """A property of the student's code does not hold; the message explains which and where."""


def describe(value: Any, depth: int = 0) -> str:
    """Short, safe description of a value for a message: small arrays in full, large ones by shape, small lists and
    tuples three levels deep (building it costs little too: a value from the sandbox may hold one object many times)."""
    kind = type(value)
    if kind is np.ndarray:
        if value.size <= _SMALL and (value.size or value.ndim <= 1):   # an empty (0, 2) shows its shape
            body = " ".join(np.array2string(value, separator=", ", threshold=_SMALL).split())
            return f"array({body}, dtype={value.dtype})" if value.ndim else f"array({body})"
        return f"<{value.dtype} array of shape {value.shape}>"
    if kind.__module__.startswith("torch") and kind.__name__ in {"Tensor", "Parameter"} and value.device.type != "meta":
        if value.numel() <= _SMALL and (value.numel() or value.ndim <= 1):   # an empty (B, 0, d) shows its shape
            body = " ".join(np.array2string(value.detach().cpu().numpy(), separator=", ").split())
            return f"tensor({body}, dtype={value.dtype})"
        return f"<{value.dtype} tensor of shape {tuple(value.shape)}>"
    if kind is str and len(value) > 200:
        return repr(value[:200])[:-1] + "…'"
    if kind in (int, float, bool, str, type(None)) or issubclass(kind, np.generic):
        return repr(value)
    if kind in (list, tuple) and len(value) <= _SMALL:
        if depth >= 3:
            return "[…]" if kind is list else "(…)"
        inner = ", ".join(describe(v, depth + 1) for v in value)
        return f"[{inner}]" if kind is list else f"({inner}{',' if len(value) == 1 else ''})"
    return f"<{kind.__module__}.{kind.__qualname__} object>"


def brief(value: Any, limit: int = 300, depth: int = 0) -> str:
    """A value in a message as Python writes it — lists, tuples, dicts and sets too, long or not — cut after ``limit``
    characters, and cheap to build whatever it holds: 12 items of each container, three levels deep, anything else as
    :func:`describe` says it."""
    kind = type(value)
    if kind in (list, tuple, dict, set, frozenset):
        if depth >= 3:
            text = "…"
        elif kind is dict:
            parts = [f"{brief(k, limit, depth + 1)}: {brief(v, limit, depth + 1)}"
                     for k, v in itertools.islice(value.items(), _SMALL)]
            text = "{" + ", ".join(parts + ["…"] * (len(value) > _SMALL)) + "}"
        else:
            parts = [brief(v, limit, depth + 1) for v in itertools.islice(value, _SMALL)]
            inner = ", ".join(parts + ["…"] * (len(value) > _SMALL))
            inner += "," if kind is tuple and len(value) == 1 else ""
            text = (f"[{inner}]" if kind is list else f"({inner})" if kind is tuple
                    else f"{{{inner}}}" if value else f"{kind.__name__}()")
    else:
        text = describe(value)
    return text if len(text) <= limit else text[: limit - 2] + " …"


def fmt_call(name: str, *args: Any, **kwargs: Any) -> str:
    """``fmt_call("one_hot", ids, num_classes=5)`` -> ``one_hot(array([1, 2]), num_classes=5)``."""
    parts = [describe(a) for a in args] + [f"{k}={describe(v)}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"


def expect(condition: bool, message: str) -> None:
    """Fail with ``message`` unless ``condition`` holds."""
    if not condition:
        raise CheckFailed(message)


def _first_mismatch(got: np.ndarray, expected: np.ndarray, close: np.ndarray) -> str:
    index = tuple(int(i) for i in np.argwhere(~close)[0])
    count = int((~close).sum())
    where = index if len(index) != 1 else index[0]
    return (
        f"{count} of {close.size} values differ; the first is at index {where}: "
        f"got {got[index]!r}, expected {expected[index]!r}"
    )


def expect_array(
    got: Any,
    expected: np.ndarray,
    call: str,
    *,
    exact: bool = False,
    rtol: float = 1e-6,
    atol: float = 1e-6,
    check_dtype: bool = True,
    hint: str = "",
) -> None:
    """``got`` must be a numpy array equal to ``expected`` in shape, dtype and values.

    ``exact=True`` demands bit-identical values (what a lookup gives); otherwise values are compared
    with ``rtol``/``atol``. The message names the first mismatching index.
    """
    suffix = f" {hint}" if hint else ""
    if type(got) is not np.ndarray:
        raise CheckFailed(
            f"{call} returned {describe(got)}; expected a numpy array (np.ndarray).{suffix}"
        )
    _compare(np.array(got, copy=True), expected, call, exact, rtol, atol, check_dtype, suffix)


def expect_tensor(
    got: Any,
    expected: Any,
    call: str,
    *,
    exact: bool = False,
    rtol: float = 1e-6,
    atol: float = 1e-6,
    check_dtype: bool = True,
    hint: str = "",
) -> None:
    """``got`` must be a ``torch.Tensor`` equal to ``expected`` (a tensor or array) in shape, dtype and values."""
    import torch

    suffix = f" {hint}" if hint else ""
    if type(got) is not torch.Tensor and type(got) is not torch.nn.Parameter:
        raise CheckFailed(f"{call} returned {describe(got)}; expected a torch.Tensor.{suffix}")
    if check_dtype and type(expected) is torch.Tensor and got.dtype != expected.dtype:
        raise CheckFailed(f"{call} returned dtype {got.dtype}; expected {expected.dtype}.{suffix}")
    got_np = got.detach().cpu().numpy().copy()  # type is exact, so these are torch's own methods
    exp_np = expected.detach().cpu().numpy() if type(expected) is torch.Tensor else np.asarray(expected)
    _compare(got_np, exp_np, call, exact, rtol, atol, False, suffix)


def _compare(
    got: np.ndarray,
    expected: np.ndarray,
    call: str,
    exact: bool,
    rtol: float,
    atol: float,
    check_dtype: bool,
    suffix: str,
) -> None:
    if got.shape != expected.shape:
        raise CheckFailed(f"{call} returned shape {got.shape}; expected {expected.shape}.{suffix}")
    if check_dtype and got.dtype != expected.dtype:
        raise CheckFailed(f"{call} returned dtype {got.dtype}; expected {expected.dtype}.{suffix}")
    if got.size == 0:
        return
    if exact:
        same = (got == expected) | (np.isnan(got) & np.isnan(expected)) if got.dtype.kind == "f" else got == expected
        if not same.all():
            raise CheckFailed(f"{call} is not bit-identical to the expected values: "
                              f"{_first_mismatch(got, expected, same)}.{suffix}")
        return
    if got.dtype.kind not in "biuf" or expected.dtype.kind not in "biuf":
        raise CheckFailed(f"{call} returned values of dtype {got.dtype}; expected numbers.{suffix}")
    close = np.isclose(got.astype(np.float64), expected.astype(np.float64), rtol=rtol, atol=atol)
    if not close.all():
        raise CheckFailed(f"{call} returned wrong values: {_first_mismatch(got, expected, close)}.{suffix}")


def copy_input(value: Any) -> Any:
    """What student code is given in place of ``value``: a copy of an array or of a tensor that takes no part in
    autograd (what it does to it cannot change the test's own inputs); anything else as it is."""
    if type(value) is np.ndarray:
        return value.copy()
    torch = sys.modules.get("torch")
    if (torch is not None and type(value) is torch.Tensor and not value.requires_grad
            and value.layout == torch.strided and value.device.type != "meta"):
        return value.clone()
    return value


def same_value(before: Any, after: Any) -> bool:
    """An array or tensor and its copy hold the same values (NaN equal to NaN)."""
    if isinstance(before, np.ndarray):
        return before.shape == after.shape and bool(np.array_equal(before, after, equal_nan=before.dtype.kind in "fc"))
    torch = sys.modules["torch"]
    return before.shape == after.shape and bool(torch.equal(before, after) or (
        before.is_floating_point() and torch.equal(torch.isnan(before), torch.isnan(after))
        and torch.equal(before.nan_to_num(), after.nan_to_num())))


def names_shape(shape: tuple[int, ...]) -> list[str | re.Pattern[str]]:
    """What counts as naming ``shape`` in a message: its numbers in order, in any rendering a student writes.

    ``(3, 4)``, ``[3, 4]``, ``torch.Size([3, 4])``, ``3x4``, ``3 × 4`` all name ``(3, 4)``; ``(3,)``, ``[3]`` and a bare
    ``3`` name ``(3,)``. The first entry is the pattern that decides; the strings after it are what the report shows.
    """
    numbers = [str(int(n)) for n in shape]
    between = r"[\s,×x*()\[\]]{1,6}"  # separators of one rendering: spaces, commas, brackets, x, ×, *
    pattern = re.compile(r"(?<!\d)" + between.join(numbers) + r"(?!\d)") if numbers else re.compile(r"\(\)|\[\]")
    return [pattern, str(tuple(shape)), str(list(shape))]


def _named(alternative: str | re.Pattern[str], message: str) -> bool:
    return bool(alternative.search(message)) if isinstance(alternative, re.Pattern) else alternative in message


def _spelled(alternatives: Sequence[str | re.Pattern[str]]) -> str:
    """How a report spells what would have counted: the strings among the alternatives, in brackets (none for
    patterns alone)."""
    words = [a for a in alternatives if isinstance(a, str)]
    return f" ({' or '.join(words)})" if words else ""


def expect_raises(
    exc_type: type[BaseException],
    fn: Callable[..., Any],
    args: Sequence[Any],
    call: str,
    *,
    mentions: Mapping[str, Sequence[str | re.Pattern[str]]] | None = None,
    hint: str = "",
) -> None:
    """Calling ``fn(*args)`` must raise ``exc_type`` (or a subclass). ``fn`` gets copies of the arrays (copy_input).

    ``mentions`` maps what the message must name to what counts as naming it (substrings, or compiled patterns
    such as :func:`names_shape` gives): ``{"the bad id": ["9"], "V": ["7"]}`` demands both "9" and "7" in the
    message. Ask only for what the exercise text asks the message to name.
    """
    suffix = f" {hint}" if hint else ""
    try:
        result = fn(*map(copy_input, args))
    except exc_type as err:
        message = str(err)
        missing = [
            what + _spelled(alternatives)
            for what, alternatives in (mentions or {}).items()
            if not any(_named(a, message) for a in alternatives)
        ]
        if missing:
            raise CheckFailed(
                f"{call} raised {type(err).__name__}({message!r}), but the message should name "
                f"{' and '.join(missing)} so the reader knows what was wrong.{suffix}"
            ) from None
        return
    except NotImplementedError:
        raise
    except Exception as err:  # the wrong exception type is the failure being reported
        raise CheckFailed(
            f"{call} raised {type(err).__name__}({str(err)!r}); expected {exc_type.__name__}.{suffix}"
        ) from None
    raise CheckFailed(
        f"{call} returned {describe(result)} instead of raising {exc_type.__name__}.{suffix}"
    )
