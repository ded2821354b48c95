"""The untrusted half of the out-of-process re-check: runs inside the sandbox, next to student code.

Forked by the zygote (:mod:`grader.zygote`) for one notebook: it runs the notebook's student cells (every code cell
but the test cells, with all output discarded and errors ignored, as nbgrader would) in a fresh namespace, then
answers calls on a Unix socket: ``{"fn": name, "args": [...], "kwargs": {...}}`` → the function's value or the
exception it raised. Only plain data crosses: JSON with numbers, strings, lists, and arrays/tensors as
(dtype, shape, bytes). A value of any other type is reported by its type name, never pickled. What the grader does
with the answers — comparing them with the reference — happens in the grader's own process (:mod:`grader.recheck`).

This module imports nothing from the ``grader`` package (which is not visible in the sandbox); the grader imports
its codec (:func:`encode`, :func:`decode`).
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import struct
import sys
from typing import Any

ARRAY_KINDS = "biufc"   # bool, signed, unsigned, float, complex: the only dtypes that cross
MAX_MESSAGE = 256 * 1024 * 1024


# ------------------------------------------------------------------------------------------------ codec


def encode(value: Any, depth: int = 0) -> Any:
    """A JSON-able description of ``value``, by exact type; anything unknown becomes {"t": "opaque"}."""
    import numpy as np

    kind = type(value)
    if value is None or kind in (bool, int, float, str):
        return value
    if depth > 8:
        return {"t": "opaque", "type": "a structure nested too deeply"}
    if kind in (tuple, list):
        return {"t": kind.__name__, "v": [encode(v, depth + 1) for v in value]}
    if kind is dict and all(type(k) is str for k in value):
        return {"t": "dict", "v": {k: encode(v, depth + 1) for k, v in value.items()}}
    if kind is np.ndarray and value.dtype.kind in ARRAY_KINDS:
        return {"t": "nd", **_array(value)}
    if isinstance(value, np.generic) and kind.__module__ == "numpy" and value.dtype.kind in ARRAY_KINDS:
        return {"t": "npscalar", **_array(np.asarray(value))}
    torch = sys.modules.get("torch")
    if torch is not None:
        if kind in (torch.Tensor, torch.nn.Parameter):
            return _tensor(value, torch, np)
        if kind is torch.dtype:
            return {"t": "dtype", "v": str(value).removeprefix("torch.")}
        if kind is torch.Size:
            return {"t": "size", "v": [int(n) for n in value]}
    return {"t": "opaque", "type": f"{kind.__module__}.{kind.__qualname__}"}


def _array(arr: Any) -> dict[str, Any]:
    import numpy as np

    arr = np.array(arr, order="C", copy=True)  # (ascontiguousarray would turn a 0-d array into 1-d)
    return {"dtype": arr.dtype.str, "shape": list(arr.shape), "data": base64.b64encode(arr.tobytes()).decode()}


def _tensor(t: Any, torch: Any, np: Any) -> dict[str, Any]:
    meta = {"t": "tensor", "param": type(t) is torch.nn.Parameter, "requires_grad": bool(t.requires_grad),
            "torch_dtype": str(t.dtype).removeprefix("torch.")}
    if t.layout == torch.sparse_coo:
        coalesced = bool(t.is_coalesced())
        return {**meta, "layout": "sparse_coo", "coalesced": coalesced, "size": list(t.shape),
                "indices": _array(t._indices().detach().cpu().numpy()),
                "values": encode(t._values().detach().cpu())}
    if t.layout != torch.strided:
        return {"t": "opaque", "type": f"a torch tensor with layout {t.layout}"}
    data = t.detach().cpu()
    if data.dtype == torch.bfloat16:
        data = data.float()
        meta["torch_dtype"] = "bfloat16"
    return {**meta, **_array(data.numpy())}


class Opaque:
    """Stands in, in the grader's process, for a value of a type that does not cross the sandbox."""

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<a {self.type_name} object (only arrays, tensors and plain values are compared)>"


def _decode_array(spec: dict[str, Any]) -> Any:
    import numpy as np

    dtype = np.dtype(str(spec["dtype"]))
    if dtype.kind not in ARRAY_KINDS or dtype.hasobject:
        raise ValueError(f"refused dtype {dtype}")
    shape = tuple(int(n) for n in spec["shape"])
    if any(n < 0 for n in shape):
        raise ValueError("negative dimension")
    data = base64.b64decode(spec["data"])
    if len(data) != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
        raise ValueError("array data does not match its shape")
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


def decode(value: Any) -> Any:
    """The inverse of :func:`encode`, strict: only known tags, numeric dtypes and consistent sizes."""
    if value is None or type(value) in (bool, int, float, str):
        return value
    if type(value) is not dict:
        raise ValueError(f"unexpected {type(value).__name__}")
    tag = value.get("t")
    if tag == "tuple":
        return tuple(decode(v) for v in value["v"])
    if tag == "list":
        return [decode(v) for v in value["v"]]
    if tag == "dict":
        return {str(k): decode(v) for k, v in value["v"].items()}
    if tag in ("nd", "npscalar"):
        arr = _decode_array(value)
        return arr if tag == "nd" else arr[()]
    if tag == "opaque":
        return Opaque(str(value.get("type", "?")))
    import torch

    if tag == "dtype":
        dtype = getattr(torch, str(value["v"]), None)
        if type(dtype) is not torch.dtype:
            raise ValueError("unknown torch dtype")
        return dtype
    if tag == "size":
        return torch.Size(int(n) for n in value["v"])
    if tag == "tensor":
        dtype = getattr(torch, str(value["torch_dtype"]), None)
        if type(dtype) is not torch.dtype:
            raise ValueError("unknown torch dtype")
        if value.get("layout") == "sparse_coo":
            values = decode(value["values"])
            indices = torch.from_numpy(_decode_array(value["indices"]))
            t = torch.sparse_coo_tensor(indices, values, [int(n) for n in value["size"]], is_coalesced=False)
            return t.coalesce() if value.get("coalesced") else t
        t = torch.from_numpy(_decode_array(value)).to(dtype)
        if value.get("param"):
            return torch.nn.Parameter(t, requires_grad=bool(value.get("requires_grad")))
        if value.get("requires_grad") and (t.is_floating_point() or t.is_complex()):
            t.requires_grad_(True)
        return t
    raise ValueError(f"unknown tag {tag!r}")


# ------------------------------------------------------------------------------------------------ framing


def send(conn: socket.socket, message: dict[str, Any]) -> None:
    data = json.dumps(message).encode()
    conn.sendall(struct.pack("!Q", len(data)) + data)


def receive(conn: socket.socket) -> dict[str, Any] | None:
    header = _exactly(conn, 8)
    if header is None:
        return None
    (size,) = struct.unpack("!Q", header)
    if size > MAX_MESSAGE:
        raise ValueError(f"message of {size} bytes refused")
    data = _exactly(conn, size)
    if data is None:
        return None
    message = json.loads(data)
    if type(message) is not dict:
        raise ValueError("message is not an object")
    return message


def _exactly(conn: socket.socket, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = conn.recv(min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


# ------------------------------------------------------------------------------------------------ the server


class _CellTimeout(BaseException):
    pass


def _on_alarm(*_: Any) -> None:
    raise _CellTimeout


def run_source(source: str, namespace: dict[str, Any], seconds: int, label: str) -> str:
    """Run one cell's source in ``namespace`` with a time limit; "" if it ran, else what it raised (errors never stop
    the next cell: SystemExit and KeyboardInterrupt included)."""
    from IPython.core.inputtransformer2 import TransformerManager

    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(seconds)
    try:
        exec(compile(TransformerManager().transform_cell(source), label, "exec"), namespace)  # running it is the job
        return ""
    except _CellTimeout:
        return f"stopped after {seconds} s"
    except BaseException as err:  # whatever a student cell or a test raised is its outcome
        try:
            return f"{type(err).__name__}: {str(err)[:500]}"
        except Exception:  # an exception whose message itself fails
            return type(err).__name__
    finally:
        signal.alarm(0)


def _plain_results(fn: Any) -> Any:
    """``fn`` whose return value goes through the codec: an exact ndarray/tensor/number, or an opaque stand-in."""
    def plain(*args: Any, **kwargs: Any) -> Any:
        return decode(encode(fn(*args, **kwargs)))
    return plain


def _mro_names(err: BaseException) -> list[str]:
    return [f"{k.__module__}.{k.__qualname__}" for k in type(err).__mro__]


def main(request: dict[str, Any]) -> None:
    """Run the student cells, then serve calls on ``request["socket"]`` until the grader hangs up."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.environ["NBGRADER_EXECUTION"] = "autograde"
    namespace: dict[str, Any] = {"__name__": "__main__"}
    seconds = int(request.get("cell_seconds", 60))
    for index, source in enumerate(request["cells"]):
        run_source(source, namespace, seconds, f"<cell {index}>")
    # The tests see plain values only (no subclass, no custom __eq__), through a view of the namespace of their own:
    # the student's functions still call each other unwrapped.
    view = dict(namespace)
    for name in request.get("plain", []):
        if callable(namespace.get(name)):
            view[name] = _plain_results(namespace[name])
    tests = {str(grade_id): run_source(source, dict(view), seconds, "<test>")
             for grade_id, source in request.get("tests", [])}
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(request["socket"])
    server.listen(1)
    conn, _ = server.accept()
    send(conn, {"ready": True, "tests": tests})
    import numpy as np

    while True:
        message = receive(conn)
        if message is None:
            break
        name = str(message.get("fn", ""))
        fn = namespace.get(name)
        if message.get("probe"):  # is the name defined out here at all (a class the re-check cannot call)?
            send(conn, {"defined": fn is not None, "type": type(fn).__name__})
            continue
        if fn is None:
            send(conn, {"missing": True})
            continue
        try:
            args = decode(message.get("args", {"t": "list", "v": []}))
            kwargs = decode(message.get("kwargs", {"t": "dict", "v": {}}))
            if "torch_rng" in message:
                import torch

                torch.set_rng_state(decode(message["torch_rng"]))
            if "numpy_seed" in message:
                np.random.seed(int(message["numpy_seed"]))
        except Exception as err:  # a malformed request is the grader's bug, reported as such
            send(conn, {"error": f"bad request: {err!r}"})
            continue
        reply: dict[str, Any]
        try:
            value = fn(*args, **kwargs)
            reply = {"value": encode(value)}
        except BaseException as err:  # whatever the student's code raised is an answer too
            try:
                text = str(err)[:4000]
            except Exception:  # an exception whose message itself fails
                text = "(its message could not be read)"
            reply = {"raised": {"types": _mro_names(err), "message": text}}
        reply["args_after"] = [encode(a) if _is_array(a) else None for a in args]
        torch_module = sys.modules.get("torch")
        if torch_module is not None:
            reply["torch_rng"] = encode(torch_module.get_rng_state())
        send(conn, reply)


def _is_array(value: Any) -> bool:
    import numpy as np

    torch = sys.modules.get("torch")
    return type(value) is np.ndarray or (torch is not None and type(value) in (torch.Tensor, torch.nn.Parameter))
