"""The untrusted half of the out-of-process re-check: runs inside the sandbox, next to student code.

Forked by the zygote (:mod:`grader.sandboxed.zygote`) for one notebook: it runs the notebook's student cells (every code
cell but the test cells, with all output discarded and errors ignored, as nbgrader would) in a fresh IPython shell, then
answers the grader's requests on the socket the grader handed over (:func:`main`): call a function, build an object of a
class, call an object, differentiate an earlier output. Only data crosses, as JSON (:class:`Codec`): numbers, strings,
lists, dicts and sets of them, arrays and tensors as (dtype, shape, bytes), modules as trees of those. Student objects
stay here, under a handle; nothing is pickled. What the grader does with the answers — comparing them with the
reference — happens in the grader's own process (:mod:`grader.integrity.recheck`, :mod:`grader.integrity.stand_ins`).

This module imports nothing from the ``grader`` package (which is not visible in the sandbox); the grader imports
its codec and framing.
"""

from __future__ import annotations

import base64
import collections
import functools
import io
import os
import signal
import socket
import sys
import time
import warnings
from typing import Any

if __package__:
    from grader.sandboxed import wire
else:  # inside the sandbox: a script next to wire.py, without the grader package
    import wire

# dicts of the standard library that cross as plain dicts (a student's Counter of pairs is an answer, not an object)
PLAIN_DICTS = (dict, collections.Counter, collections.OrderedDict, collections.defaultdict)
ARRAY_KINDS = "biufc"   # bool, signed, unsigned, float, complex: the only dtypes that cross
MAX_MESSAGE = 256 * 1024 * 1024   # what the grader sends here (it sends nothing near this)


# ------------------------------------------------------------------------------------------------ codec


class Opaque:
    """Stands in, in the grader's process, for a value of a type that does not cross the sandbox."""

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<a {self.type_name} object (only arrays, tensors, modules and plain values cross)>"


def class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def torch_bases(cls: type) -> list[str]:
    """The torch classes among ``cls``'s ancestors (itself included), nearest first."""
    return [class_path(k) for k in cls.__mro__ if k.__module__.split(".")[0] == "torch"]


class Codec:
    """Values to JSON-able descriptions and back, by exact type.

    Plain values, lists and tuples, dicts (the standard library's ``Counter``, ``OrderedDict`` and ``defaultdict``
    arrive as plain dicts; keys other than strings cross as ordered [key, value] items, and only plain values and tuples
    of them are accepted as keys), sets, ndarrays and numpy scalars of numeric dtype, tensors (dense, sparse COO, on the
    meta device), torch dtypes and sizes cross as data; modules cross as a tree of their parameters, buffers, submodules
    and plain attributes. An object seen twice in one message is sent once and referred to (``{"t": "ref"}``), so a
    parameter shared by two modules stays one object on the other side. Anything else becomes ``{"t": "opaque"}``.
    Decoding is strict: only known tags, numeric dtypes and consistent sizes. The two ends of the re-check extend this
    class: :class:`ServerCodec` here, ``grader.integrity.stand_ins.GraderCodec`` in the grader.
    """

    max_depth = 16
    # What one message may cost to decode, whatever its size on the wire: values counted every time they are used (an
    # object sent once and referred to 1,000 times counts 1,000 times, as printing it would), an array or tensor as 1
    # plus its elements up to 1,000 (what a message prints of it); and seconds, for dicts and sets whose keys were
    # chosen to collide in the hash table (each insertion then costs the size of the table).
    max_values = 2_000_000
    max_seconds = 5.0

    def __init__(self) -> None:
        self.memo: dict[int, int] = {}   # id(object) -> its key in the message being encoded
        self.refs: dict[int, Any] = {}   # key -> object, in the message being decoded
        self.weights: dict[int, int] = {}   # key -> how many values the object counts for
        self.values = 0
        self.stop = float("inf")   # (load sets it; decode alone counts values only)

    def dump(self, value: Any) -> Any:
        self.memo = {}
        return self.encode(value)

    def load(self, spec: Any) -> Any:
        self.refs, self.weights, self.values = {}, {}, 0
        self.stop = time.monotonic() + self.max_seconds
        return self.decode(spec)

    def _count(self, n: int) -> None:
        before = self.values
        self.values += n
        if self.values > self.max_values:
            raise ValueError(f"the message holds more than {self.max_values:,} values once objects referred to "
                             "more than once are counted each time")
        if before >> 6 != self.values >> 6 and time.monotonic() > self.stop:
            raise ValueError(f"the message took more than {self.max_seconds:g} s to decode")

    # -------------------------------------------------------------------------------------------- encoding

    def encode(self, value: Any, depth: int = 0) -> Any:
        import numpy as np

        kind = type(value)
        if value is None or kind in (bool, int, float, str):
            return value
        if depth > self.max_depth:
            return {"t": "opaque", "type": "a structure nested too deeply"}
        if kind in (tuple, list):
            return {"t": kind.__name__, "v": [self.encode(v, depth + 1) for v in value]}
        if isinstance(value, tuple) and _fields(kind):   # a namedtuple: its class name and fields cross too
            return {"t": "namedtuple", "name": kind.__name__, "fields": list(_fields(kind)),
                    "v": [self.encode(v, depth + 1) for v in value]}
        if isinstance(value, (tuple, list)) and kind.__module__ != "builtins" and not hasattr(value, "__dict__"):
            return {"t": "tuple" if isinstance(value, tuple) else "list", "v": [self.encode(v, depth + 1)
                                                                               for v in value]}
        if isinstance(value, dict) and (kind in PLAIN_DICTS or not hasattr(value, "__dict__")):
            if all(type(k) is str for k in value):
                return {"t": "dict", "v": {k: self.encode(v, depth + 1) for k, v in value.items()}}
            # other keys (a pair of ids, an int): the items in order, each key encoded like any value
            return {"t": "items", "v": [[self.encode(k, depth + 1), self.encode(v, depth + 1)]
                                        for k, v in value.items()]}
        if kind in (set, frozenset):
            return {"t": kind.__name__, "v": [self.encode(v, depth + 1) for v in value]}
        if kind is np.ndarray and value.dtype.kind in ARRAY_KINDS:
            return {"t": "nd", **_array(value)}
        if isinstance(value, np.generic) and kind.__module__ == "numpy" and value.dtype.kind in ARRAY_KINDS:
            return {"t": "npscalar", **_array(np.asarray(value))}
        torch = sys.modules.get("torch")
        if torch is not None:
            if kind in (torch.Tensor, torch.nn.Parameter):
                return self.encode_tensor(value)
            if kind is torch.dtype:
                return {"t": "dtype", "v": str(value).removeprefix("torch.")}
            if kind is torch.Size:
                return {"t": "size", "v": [int(n) for n in value]}
            if isinstance(value, torch.nn.Module):
                return self.encode_module(value, depth)
        return self.encode_other(value, depth)

    def encode_other(self, value: Any, depth: int) -> Any:
        return {"t": "opaque", "type": class_path(type(value))}

    def _seen(self, value: Any) -> dict[str, Any] | int:
        """``{"t": "ref"}`` if ``value`` was already sent in this message, else its new key."""
        if id(value) in self.memo:
            return {"t": "ref", "id": self.memo[id(value)]}
        key = self.memo[id(value)] = len(self.memo)
        return key

    def encode_tensor(self, t: Any) -> dict[str, Any]:
        import numpy as np
        import torch

        key = self._seen(t)
        if isinstance(key, dict):
            return key
        meta = {"t": "tensor", "id": key, "param": type(t) is torch.nn.Parameter,
                "requires_grad": bool(t.requires_grad), "torch_dtype": str(t.dtype).removeprefix("torch.")}
        if t.device.type == "meta":
            return {**meta, "device": "meta", "shape": list(t.shape)}
        if t.layout == torch.sparse_coo:
            return {**meta, "layout": "sparse_coo", "coalesced": bool(t.is_coalesced()), "size": list(t.shape),
                    "indices": _array(t._indices().detach().cpu().numpy()),
                    "values": Codec().encode(t._values().detach().cpu())}
        if t.layout != torch.strided:
            return {"t": "opaque", "type": f"a torch tensor with layout {t.layout}"}
        data = t.detach().cpu()
        if data.dtype == torch.bfloat16:
            data = data.float()
        return {**meta, **_array(np.asarray(data.numpy()))}

    def encode_module(self, module: Any, depth: int) -> dict[str, Any]:
        key = self._seen(module)
        if isinstance(key, dict):
            return key
        return {"t": "module", "id": key, "cls": class_path(type(module)), "bases": torch_bases(type(module)),
                "training": bool(getattr(module, "training", True)),
                "attrs": {k: self.encode(v, depth + 1) for k, v in vars(module).items() if public_attribute(k)},
                "params": [[n, None if p is None else self.encode(p, depth + 1)]
                           for n, p in module._parameters.items()],
                "buffers": [[n, None if b is None else self.encode(b, depth + 1),
                             n not in module._non_persistent_buffers_set] for n, b in module._buffers.items()],
                "children": [[n, None if c is None else self.encode(c, depth + 1)]
                             for n, c in module._modules.items()]}

    # -------------------------------------------------------------------------------------------- decoding

    def decode(self, value: Any) -> Any:
        self._count(1)
        if value is None or type(value) in (bool, int, float, str):
            return value
        if type(value) is not dict:
            raise ValueError(f"unexpected {type(value).__name__}")
        if "id" not in value or value.get("t") == "ref":
            return self._decode(value)
        before = self.values
        obj = self._decode(value)
        self.weights[int(value["id"])] = self.values - before + 1
        return obj

    def _decode(self, value: dict[str, Any]) -> Any:
        tag = value.get("t")
        if tag == "tuple":
            return tuple(self.decode(v) for v in value["v"])
        if tag == "list":
            return [self.decode(v) for v in value["v"]]
        if tag == "dict":
            return {str(k): self.decode(v) for k, v in value["v"].items()}
        if tag == "items":
            built: dict[Any, Any] = {}
            for item in value["v"]:   # one at a time: each decode counts, and the clock is read between insertions
                key, item_value = self._pair(item)
                built[key] = item_value
            return built
        if tag in ("set", "frozenset"):
            elements: set[Any] = set()
            for v in value["v"]:
                elements.add(self._key(self.decode(v)))
            return elements if tag == "set" else frozenset(elements)
        if tag == "namedtuple":
            items = [self.decode(v) for v in value["v"]]
            return _namedtuple(str(value["name"]), tuple(str(f) for f in value["fields"]))(*items)
        if tag in ("nd", "npscalar"):
            arr = _decode_array(value)
            self._count(min(arr.size, 1000))
            return arr if tag == "nd" else arr[()]
        if tag == "opaque":
            return Opaque(str(value.get("type", "?")))
        if tag == "ref":
            key = int(value["id"])
            if key not in self.refs:
                raise ValueError("reference to an object not sent")
            self._count(self.weights.get(key, 1))
            return self.refs[key]
        import torch

        if tag == "dtype":
            return _torch_dtype(value["v"])
        if tag == "size":
            return torch.Size(int(n) for n in value["v"])
        if tag == "tensor":
            tensor = self.decode_tensor(value)
            self._count(min(int(tensor.numel()), 1000))
            return self._remember(value, tensor)
        if tag == "module":
            return self.decode_module(value)
        return self.decode_other(value)

    def _pair(self, item: Any) -> tuple[Any, Any]:
        if type(item) is not list or len(item) != 2:
            raise ValueError("an item of a dict is a [key, value] pair")
        return self._key(self.decode(item[0])), self.decode(item[1])

    @staticmethod
    def _key(key: Any) -> Any:
        """A decoded dict key or set element: only plain values, numpy scalars and tuples of them."""
        if type(key) in (bool, int, float, str) or key is None or _is_number(key):
            return key
        if type(key) is tuple:
            for k in key:
                Codec._key(k)
            return key
        raise ValueError(f"a {type(key).__name__} cannot be a dict key or a set element")

    def decode_other(self, value: dict[str, Any]) -> Any:
        raise ValueError(f"unknown tag {value.get('t')!r}")

    def _remember(self, spec: dict[str, Any], obj: Any) -> Any:
        if "id" in spec:
            self.refs[int(spec["id"])] = obj
        return obj

    def decode_tensor(self, value: dict[str, Any]) -> Any:
        import torch

        dtype = _torch_dtype(value["torch_dtype"])
        if value.get("device") == "meta":
            t = torch.empty([int(n) for n in value["shape"]], dtype=dtype, device="meta")
        elif value.get("layout") == "sparse_coo":
            values = Codec().decode(value["values"])
            indices = torch.from_numpy(_decode_array(value["indices"]))
            # check_invariants: indices outside the size are refused here, not read or written out of bounds later
            t = torch.sparse_coo_tensor(indices, values, [int(n) for n in value["size"]], is_coalesced=False,
                                        check_invariants=True)
            t = t.coalesce() if value.get("coalesced") else t
        else:
            t = torch.from_numpy(_decode_array(value)).to(dtype)
        if value.get("param"):
            return torch.nn.Parameter(t, requires_grad=bool(value.get("requires_grad")))
        if value.get("requires_grad") and (t.is_floating_point() or t.is_complex()):
            t.requires_grad_(True)
        return t

    def decode_module(self, value: dict[str, Any]) -> Any:
        raise ValueError("modules are not accepted here")

    def fill_module(self, module: Any, value: dict[str, Any]) -> Any:
        """Give a freshly made ``module`` the parameters, buffers, submodules and attributes ``value`` describes."""
        import torch

        torch.nn.Module.__init__(module)
        self._remember(value, module)
        module.training = bool(value.get("training", True))
        names = set()
        for name, spec in value.get("params", []):
            p = None if spec is None else self.decode(spec)
            if p is not None and type(p) is not torch.nn.Parameter:
                raise ValueError(f"parameter {name!r} is not a Parameter")
            module.register_parameter(_name(name), p)
            names.add(name)
        for name, spec, persistent in value.get("buffers", []):
            b = None if spec is None else self.decode(spec)
            if b is not None and not isinstance(b, torch.Tensor):
                raise ValueError(f"buffer {name!r} is not a tensor")
            module.register_buffer(_name(name), b, persistent=bool(persistent))
            names.add(name)
        for name, spec in value.get("children", []):
            child = None if spec is None else self.decode(spec)
            if child is not None and not isinstance(child, torch.nn.Module):
                raise ValueError(f"submodule {name!r} is not a module")
            module.add_module(_name(name), child)
            names.add(name)
        for name, spec in value.get("attrs", {}).items():
            if public_attribute(name) and name not in names:
                object.__setattr__(module, name, self.decode(spec))
        return module


MAX_FIELDS = 64


@functools.lru_cache(maxsize=256)
def _namedtuple(name: str, fields: tuple[str, ...]) -> type:
    """A namedtuple class for a result's name and fields, made once (making one costs ~1 ms; a reply may hold
    thousands); at most :data:`MAX_FIELDS` fields."""
    if len(fields) > MAX_FIELDS:
        raise ValueError(f"a namedtuple of {len(fields)} fields (at most {MAX_FIELDS} cross)")
    return collections.namedtuple(name, fields)   # (it checks the names)


def _fields(kind: type) -> tuple[str, ...]:
    fields = getattr(kind, "_fields", None)
    return fields if isinstance(fields, tuple) and all(type(f) is str for f in fields) else ()


def public_attribute(name: Any) -> bool:
    """An attribute that crosses with a module or object: a public name, not ``training`` nor an instance-level
    ``forward``."""
    return type(name) is str and name.isidentifier() and not name.startswith("_") and name not in ("training",
                                                                                                   "forward")


def _name(name: Any) -> str:
    if type(name) is not str or not name or "." in name:
        raise ValueError(f"bad member name {name!r}")
    return name


def _torch_dtype(name: Any) -> Any:
    import torch

    dtype = getattr(torch, str(name), None)
    if type(dtype) is not torch.dtype:
        raise ValueError("unknown torch dtype")
    return dtype


def _array(arr: Any) -> dict[str, Any]:
    import numpy as np

    arr = np.array(arr, order="C", copy=True)  # (ascontiguousarray would turn a 0-d array into 1-d)
    return {"dtype": arr.dtype.str, "shape": list(arr.shape), "data": base64.b64encode(arr.tobytes()).decode()}


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


def encode(value: Any) -> Any:
    """A plain value's description (:class:`Codec` without objects)."""
    return Codec().dump(value)


def decode(value: Any) -> Any:
    return Codec().load(value)


# ------------------------------------------------------------------------------------------------ framing


# ------------------------------------------------------------------------------------------------ the student's side


class ServerCodec(Codec):
    """The sandbox's codec: student objects stay here, under a handle; the grader gets their description.

    A module (or an object of a class the student defined) crosses as its tree with a handle per module, so the
    grader can build a stand-in that calls back here; a parameter carries a ``pid`` so the grader can send back new
    values (an optimiser step) and ask for gradients. Tensors that arrive with ``requires_grad`` are collected, in
    order, as the leaves a later backward call differentiates with respect to.
    """

    def __init__(self) -> None:
        super().__init__()
        self.objects: dict[int, Any] = {}    # handle -> object (kept alive, so ids stay unique)
        self.handles: dict[int, int] = {}    # id(object) -> handle
        self.params: dict[int, Any] = {}     # pid -> Parameter
        self.pids: dict[int, int] = {}       # id(Parameter) -> pid
        self.leaves: list[Any] = []
        self.classes: dict[str, type] = {}
        self.bases: list[tuple[str, int, Any]] = []   # the call's argument tensors, while its result is encoded

    def load(self, spec: Any) -> Any:
        self.leaves = []
        return super().load(spec)

    def handle(self, obj: Any) -> int:
        if id(obj) not in self.handles:
            self.handles[id(obj)] = len(self.objects) + 1
            self.objects[self.handles[id(obj)]] = obj
        return self.handles[id(obj)]

    def tensors_received(self, part: str) -> list[tuple[str, int, Any]]:
        """The tensors of the message just decoded, as (part, key, tensor): what a result may be a view of."""
        import torch

        return [(part, key, obj) for key, obj in self.refs.items() if isinstance(obj, torch.Tensor)]

    def encode_tensor(self, t: Any) -> dict[str, Any]:
        import torch

        spec = super().encode_tensor(t)
        if spec.get("t") == "tensor" and "data" in spec:
            for part, key, base in self.bases:
                if _view_of(t, base):
                    spec["view_of"] = [part, key]
                    spec["view"] = [list(t.shape), list(t.stride()), int(t.storage_offset())]
                    break
        if type(t) is torch.nn.Parameter and spec.get("t") == "tensor":
            if id(t) not in self.pids:
                self.pids[id(t)] = len(self.params) + 1
                self.params[self.pids[id(t)]] = t
            spec["pid"] = self.pids[id(t)]
        return spec

    def encode_module(self, module: Any, depth: int) -> dict[str, Any]:
        spec = super().encode_module(module, depth)
        if spec.get("t") == "module":
            spec["h"] = self.handle(module)
        return spec

    def encode_other(self, value: Any, depth: int) -> Any:
        """An object of a class the student defined: its public attributes and a handle to call it by."""
        kind = type(value)
        if kind.__module__ != "__main__" or not hasattr(value, "__dict__"):
            return super().encode_other(value, depth)
        key = self._seen(value)
        if isinstance(key, dict):
            return key
        return {"t": "object", "id": key, "h": self.handle(value), "cls": class_path(kind),
                "attrs": {k: self.encode(v, depth + 1) for k, v in vars(value).items() if public_attribute(k)}}

    def decode_tensor(self, value: dict[str, Any]) -> Any:
        t = super().decode_tensor(value)
        if t.requires_grad:
            self.leaves.append(t)
        return t

    def decode_module(self, value: dict[str, Any]) -> Any:
        """A module the grader sends (e.g. for ``count_parameters``): rebuilt with torch's own classes where it used
        them, and a plain ``nn.Module`` of the same name for its own."""
        cls = self._class(str(value.get("cls", "")))
        return self.fill_module(object.__new__(cls), value)

    def decode_other(self, value: dict[str, Any]) -> Any:
        if value.get("t") == "handle":
            obj = self.objects.get(int(value["h"]))
            if obj is None:
                raise ValueError("unknown handle")
            return self._remember(value, obj)
        return super().decode_other(value)

    def _class(self, path: str) -> type:
        import importlib

        import torch

        if path not in self.classes:
            module_name, _, qualname = path.rpartition(".")
            found = None
            if module_name.split(".")[0] == "torch":
                found = getattr(importlib.import_module(module_name), qualname, None)
            if not (isinstance(found, type) and issubclass(found, torch.nn.Module)):
                found = type(qualname, (torch.nn.Module,), {"__module__": module_name, "__qualname__": qualname})
            self.classes[path] = found
        return self.classes[path]


def _view_of(t: Any, base: Any) -> bool:
    """``t`` is a view of ``base`` (a tensor received whole: contiguous, from the start of its own storage)."""
    import torch

    return (t is not base and t.layout == torch.strided and base.layout == torch.strided
            and t.device.type == "cpu" and base.device.type == "cpu" and t.dtype == base.dtype
            and base.is_contiguous() and base.storage_offset() == 0 and base.numel() > 0
            and t.untyped_storage().data_ptr() == base.untyped_storage().data_ptr() != 0)


MAX_WARNINGS = 20   # per call: enough to tell that it warned, and what


class _CellTimeout(BaseException):
    pass


def _on_alarm(*_: Any) -> None:
    raise _CellTimeout


def new_shell() -> Any:
    """A real IPython shell to run the student's cells in, as the kernel does (magics such as ``%%time`` included),
    without a history file. As in the kernel, the working folder is on ``sys.path`` (a module the notebook wrote
    imports) and ``%matplotlib inline`` works (plots go nowhere here)."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    class ReplayShell(InteractiveShell):
        def enable_gui(self, gui: Any = None) -> None:   # the kernel's inline backend needs no event loop
            return None

    config = Config()
    config.HistoryManager.enabled = False
    if "" not in sys.path:
        sys.path.insert(0, "")
    return ReplayShell.instance(config=config)


def run_cells(shell: Any, cells: list[str], seconds: int) -> None:
    """Run the student's cells in order in ``shell``, each stopped after ``seconds`` as the kernel's would be; errors
    never stop the next cell. Output goes nowhere (stdout and stderr are /dev/null here)."""
    signal.signal(signal.SIGALRM, _on_alarm)
    for source in cells:
        signal.alarm(max(1, int(seconds)))
        try:
            shell.run_cell(source, store_history=False)
        except BaseException:  # whatever a student cell raised past the shell is its outcome
            pass
        finally:
            signal.alarm(0)


def _message(err: BaseException) -> str:
    try:
        return str(err)[:4000]
    except Exception:  # an exception whose message itself fails
        return "(its message could not be read)"


def _raised(err: BaseException) -> dict[str, Any]:
    return {"types": [class_path(k) for k in type(err).__mro__], "message": _message(err)}


class Server:
    """Answers the grader's requests about the student's namespace; see :func:`main` for the protocol."""

    MAX_GRAPHS = 4096

    def __init__(self, shell: Any, cell_seconds: int) -> None:
        self.shell = shell
        self.namespace: dict[str, Any] = shell.user_ns
        self.cell_seconds = cell_seconds
        self.codec = ServerCodec()
        self.graphs: dict[int, tuple[Any, list[Any]]] = {}   # grad id -> (output, what it is differentiated by)
        self.next_graph = 0

    def answer(self, message: dict[str, Any]) -> dict[str, Any]:
        if "run" in message:
            cells = message["run"]
            if type(cells) is not list or not all(type(c) is str for c in cells):
                return {"error": "bad request: run takes a list of cell sources"}
            try:
                self.take_rng_states(message)
            except Exception as err:
                return {"error": f"bad request: {err!r}"}
            run_cells(self.shell, cells, self.cell_seconds)
            import torch

            return {"ran": len(cells), "default_dtype": str(torch.get_default_dtype()).removeprefix("torch."),
                    **(rng_states() if message.get("rng", True) else {})}
        if "probe" in message:
            return self.probe(str(message["probe"]))
        if "value" in message:
            name = str(message["value"])
            if name not in self.namespace:
                return {"missing": True}
            return {"value": self.codec.dump(self.namespace[name])}
        if "backward" in message:
            return self.backward(message)
        return self.call(message)

    def probe(self, name: str) -> dict[str, Any]:
        """Is ``name`` defined out here, and what is it (a class and its torch ancestors, or a function)?"""
        value = self.namespace.get(name)
        if value is None:
            return {"defined": False}
        if isinstance(value, type):
            return {"defined": True, "kind": "class", "cls": class_path(value), "bases": torch_bases(value)}
        return {"defined": True, "kind": "callable" if callable(value) else "value"}

    def target(self, message: dict[str, Any]) -> Any:
        if "handle" in message:
            return self.codec.objects.get(int(message["handle"]))
        fn = self.namespace.get(str(message.get("fn", "")))
        if fn is not None and message.get("attr"):
            return getattr(fn, str(message["attr"]), None)
        return fn

    def call(self, message: dict[str, Any]) -> dict[str, Any]:

        fn = self.target(message)
        if fn is None:
            return {"missing": True}
        codec = self.codec
        try:
            import numpy as np
            import torch

            for pid, spec in (message.get("sync") or {}).items():
                self.sync(int(pid), Codec().load(spec))
            args = codec.load(message.get("args", {"t": "list", "v": []}))
            leaves, bases = codec.leaves, codec.tensors_received("args")
            kwargs = codec.load(message.get("kwargs", {"t": "dict", "v": {}}))
            leaves = leaves + codec.leaves + [codec.params[int(p)] for p in message.get("wrt", [])]
            codec.bases = bases + codec.tensors_received("kwargs")
            self.take_rng_states(message)
            started_from = torch.get_rng_state(), np.random.get_state()
        except Exception as err:  # a malformed request is the grader's bug, reported as such
            return {"error": f"bad request: {err!r}"}
        # Copies to tell later which arrays the call changed in place. Not part of the request: a copy that cannot
        # be made (memory) is no fault of the request or of the student's code, and that array is sent back anyway.
        before = [_copy_or_send(a) for a in args]
        reply: dict[str, Any]
        # Warnings cross as data: a hidden test that checks "numpy did not warn" sees here what it sees in the kernel.
        # Under the student's own warning filters (one that silences a warning silences it here as in the kernel);
        # what the call writes to stderr crosses too (a logging.warning shows in the kernel's test cell).
        stderr, real_stderr = io.StringIO(), sys.stderr
        with warnings.catch_warnings(record=True) as caught:
            sys.stderr = stderr
            try:
                with torch.set_grad_enabled(bool(message.get("grad", False))):
                    value = fn(*args, **kwargs)
                reply = {"value": codec.dump(value)}
                if type(value) in (torch.Tensor, torch.nn.Parameter) and value.requires_grad and leaves:
                    self.next_graph += 1
                    self.graphs[self.next_graph] = (value, leaves)
                    self.graphs.pop(self.next_graph - self.MAX_GRAPHS, None)
                    reply["grad_id"] = self.next_graph
            except BaseException as err:  # whatever the student's code raised is an answer too
                reply = {"raised": _raised(err)}
            finally:
                sys.stderr = real_stderr
        reply["warnings"] = [{"category": w.category.__name__, "message": _message(w.message)[:500]}
                             for w in caught[:MAX_WARNINGS]]
        reply["stderr"] = stderr.getvalue()[:4000]
        # The arrays it changed in place go back (an SGD step changes the grader's too); unchanged ones need not.
        reply["args_after"] = [None if copy is None or (copy is not _SEND and _unchanged(a, copy)) else Codec().dump(a)
                               for a, copy in zip(args, before, strict=True)]
        codec.bases = []
        # Most calls draw nothing: then say so rather than send both generators' states (7.5 KB to encode here and
        # decode there, on every call).
        if _same_generators(started_from, (torch.get_rng_state(), np.random.get_state())):
            return {**reply, "rng_same": True}
        return {**reply, **rng_states()}

    @staticmethod
    def take_rng_states(message: dict[str, Any]) -> None:
        """Start from the grader's random generators (where the notebook's would be in the kernel)."""
        import numpy as np
        import torch

        if "torch_rng" in message:
            torch.set_rng_state(Codec().load(message["torch_rng"]))
        if "numpy_rng" in message:
            np.random.set_state(Codec().load(message["numpy_rng"]))

    def sync(self, pid: int, value: Any) -> None:
        """The grader changed a parameter (an optimiser step, an in-place edit): take its new value."""
        import torch

        param = self.codec.params[pid]
        with torch.no_grad():
            if param.shape == value.shape and param.dtype == value.dtype:
                param.copy_(value)
            else:
                param.data = value.detach().clone()
        param.requires_grad_(bool(value.requires_grad))

    def backward(self, message: dict[str, Any]) -> dict[str, Any]:
        """Gradients of an earlier output with respect to its leaves, for the given upstream gradient."""
        import torch

        graph = self.graphs.get(int(message["backward"]))
        if graph is None:
            return {"error": "bad request: that output is no longer kept"}
        out, leaves = graph
        try:
            upstream = Codec().load(message["grad"])
        except Exception as err:
            return {"error": f"bad request: {err!r}"}
        wanted = [leaf for leaf in leaves if leaf.requires_grad]
        try:
            grads = iter(torch.autograd.grad([out], wanted, [upstream], allow_unused=True, retain_graph=True))
            return {"grads": [Codec().dump(next(grads)) if leaf.requires_grad else None for leaf in leaves]}
        except BaseException as err:  # the student's backward failed: that is the answer
            return {"raised": _raised(err)}


def main(request: dict[str, Any], conn: socket.socket) -> None:
    """Answer requests on ``conn`` (a socket the grader handed over) until the grader hangs up: run the student's
    cells when told to, and answer about what they defined.

    Requests: ``{"run": [source, …]}`` → run the next student cells (``{"ran": n}``); ``{"probe": name}`` → is it
    defined and is it a class; ``{"value": name}`` → its value;
    ``{"fn": name | "handle": h, "attr"?, "args", "kwargs", "sync"?, "wrt"?, "grad"?, "torch_rng"?}`` →
    ``{"value"}`` or ``{"raised"}`` (and ``grad_id`` when the value is a tensor that requires grad; the generators'
    states after the call, or ``rng_same`` when the call drew nothing);
    ``{"backward": grad_id, "grad": upstream}`` → ``{"grads": [...]}``. Nothing the grader scores is decided here:
    every test runs in the grader's process, which only asks.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.environ["NBGRADER_EXECUTION"] = "autograde"
    answers = Server(new_shell(), int(request.get("cell_seconds", 120)))
    conn.settimeout(None)
    wire.send(conn, {"ready": True, **rng_states()})   # a fresh process's generators: where the notebook starts
    while True:
        message = wire.receive(conn, limit=MAX_MESSAGE)
        if message is None:
            break
        wire.send(conn, answers.answer(message))


def _same_generators(a: tuple[Any, Any], b: tuple[Any, Any]) -> bool:
    """Whether two (torch state, numpy state) pairs, as ``torch.get_rng_state()`` and ``np.random.get_state()``
    give them, are the same. What cannot be compared counts as different: then both states are sent, as before
    this shortcut existed."""
    import numpy as np
    import torch

    try:
        (torch_a, (kind_a, keys_a, *rest_a)), (torch_b, (kind_b, keys_b, *rest_b)) = a, b
        return bool(torch.equal(torch_a, torch_b) and kind_a == kind_b and np.array_equal(keys_a, keys_b)
                    and rest_a == rest_b)
    except Exception:
        return False


def rng_states() -> dict[str, Any]:
    """torch's and numpy's global random generators here, for the grader to go on from."""
    import numpy as np
    import torch

    return {"torch_rng": Codec().dump(torch.get_rng_state()), "numpy_rng": Codec().dump(np.random.get_state())}


_SEND = object()   # "send this argument back whatever happens": its copy could not be made


def _copy_or_send(value: Any) -> Any:
    """:func:`_copy_of_array`, or :data:`_SEND` when the copy cannot be made (out of memory for a large array)."""
    try:
        return _copy_of_array(value)
    except Exception:
        return _SEND


def _copy_of_array(value: Any) -> Any:
    """A copy of an argument the grader would write back (a numpy array, a tensor), to tell after the call whether
    the student's function changed it; None for anything else."""
    if not _is_array(value):
        return None
    return value.copy() if type(value).__module__ == "numpy" else value.detach().clone()


def _unchanged(value: Any, copy: Any) -> bool:
    """Whether an array argument still holds what :func:`_copy_of_array` copied: same shape, dtype and values (NaN
    where NaN was). What cannot be compared counts as changed, and is sent."""
    import numpy as np

    try:
        if type(value) is np.ndarray:
            return (value.shape == copy.shape and value.dtype == copy.dtype
                    and bool(np.array_equal(value, copy, equal_nan=value.dtype.kind in "fc")))
        now = value.detach()
        if now.shape != copy.shape or now.dtype != copy.dtype:
            return False
        if now.is_floating_point() or now.is_complex():
            return bool(((now == copy) | (now.isnan() & copy.isnan())).all())
        return bool(now.equal(copy))
    except Exception:
        return False


def _is_array(value: Any) -> bool:
    import numpy as np

    torch = sys.modules.get("torch")
    return type(value) is np.ndarray or (torch is not None and type(value) in (torch.Tensor, torch.nn.Parameter))


def _is_number(value: Any) -> bool:
    """A numpy scalar (what a student's ``np.int64`` id arrives as)."""
    np = sys.modules.get("numpy")
    return np is not None and isinstance(value, np.generic) and type(value).__module__ == "numpy"
