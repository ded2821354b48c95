"""The grader's end of the re-check: student functions, classes and modules that live in the sandbox, used from here.

A hidden test (:mod:`grader.content.hidden`) receives the student's function or class and calls it. In the re-check it
receives a stand-in instead, and every call crosses to the sandbox (:mod:`grader.sandboxed.subject`) as data:

* a function becomes a :class:`RemoteFunction`;
* a class becomes a *stand-in class* of the same name and the same torch ancestry (``nn.Module``,
  ``autograd.Function``, …): ``Embedding(10, 3)`` builds the module in the sandbox, and what comes back is a
  *mirror*, a real ``nn.Module`` of that stand-in class (or of torch's own class, such as ``nn.Linear``) with real
  ``nn.Parameter`` objects holding the sandbox's values, shared where the student shared them, whose ``forward``
  calls back into the sandbox;
* an output that requires grad is attached to the mirror's parameters and to the inputs by :class:`_Attach`, whose
  backward asks the sandbox for the gradients (the student's own ``backward`` runs there);
* a parameter changed here (an optimiser step, an in-place edit) is sent back before the next call.

So ``lm_head.weight is embed.weight``, ``isinstance(model, nn.Module)``, an SGD step and ``gradcheck`` work on the
mirror as on the student's object, while the student's code never runs in the grader's process and nothing
student-made is unpickled: every comparison is done here, on tensors built from plain data.
"""

from __future__ import annotations

import builtins
import contextlib
import socket
import sys
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from grader.sandboxed.subject import Codec, class_path, public_attribute
from grader.sandboxed.wire import receive, receive_sized, send

CALL_SECONDS = 60        # one call of student code, unless the session is given the kernel's per-cell limit
REPLY_BYTES = 32 * 1024**2      # one reply from the student's process (the course's largest are well under 1 MB)
SESSION_BYTES = 512 * 1024**2   # all replies of one notebook's re-check: what the grader's memory may hold of it
# What one decoded value costs here at least (a float in a list: 24 bytes for the object, 8 for its slot, and more for
# containers): a reply is charged the larger of its size on the wire and its values decoded, so a reply of short
# numbers ("1,") costs what it takes in memory, not its 2 bytes each.
VALUE_BYTES = 40

_ALLOWED_BASES = {class_path(torch.autograd.Function): torch.autograd.Function}


class RemoteError(Exception):
    """An exception the student's code raised in the sandbox that has no builtin counterpart here, or a lost sandbox."""


def torch_class(path: str) -> type | None:
    """The torch class named by ``path``, if it is one of torch's modules or ``autograd.Function`` (nothing else is
    ever looked up by a name the sandbox sends)."""
    if path in _ALLOWED_BASES:
        return _ALLOWED_BASES[path]
    module_name, _, qualname = path.rpartition(".")
    if not module_name.startswith("torch.nn.modules."):
        return None
    found = getattr(nn, qualname, None)
    if isinstance(found, type) and issubclass(found, nn.Module) and class_path(found) == path:
        return found
    return None


class GraderCodec(Codec):
    """The grader's codec: modules from the sandbox become mirrors; mirrors go back as handles."""

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session
        self.leaves: list[torch.Tensor] = []
        self.sent: dict[str, dict[int, torch.Tensor]] = {}   # "args"/"kwargs" -> key -> the tensor sent under it
        self._part = ""

    def dump(self, value: Any, part: str = "") -> Any:
        """``value`` described; ``part`` ("args" or "kwargs" of a call) remembers its tensors, so that a result
        that shares storage with one of them can be rebuilt as a view of it (:meth:`decode_tensor`)."""
        self.leaves = []
        self._part = part
        if part:
            self.sent[part] = {}
        try:
            return super().dump(value)
        finally:
            self._part = ""

    def encode_tensor(self, t: Any) -> dict[str, Any]:
        spec = super().encode_tensor(t)
        if spec.get("t") == "tensor" and t.requires_grad:
            self.leaves.append(t)
        if self._part and spec.get("t") == "tensor":
            self.sent[self._part][int(spec["id"])] = t
        return spec

    def encode_module(self, module: Any, depth: int) -> dict[str, Any]:
        handle = self.session.handle_of(module)
        return {"t": "handle", "h": handle} if handle else super().encode_module(module, depth)

    def encode_other(self, value: Any, depth: int) -> Any:
        handle = self.session.handle_of(value)
        return {"t": "handle", "h": handle} if handle else super().encode_other(value, depth)

    def decode_tensor(self, value: dict[str, Any]) -> Any:
        t = self._view(value)
        if t is None:
            t = super().decode_tensor(value)
        if "pid" not in value:
            return t
        return self.session.parameter(int(value["pid"]), t)

    def _view(self, value: dict[str, Any]) -> Any:
        """A tensor the student's code returned as a view of one of the call's arguments (a ``Parameter`` wrapping
        ``emb.weight.T``): the same view of the argument here, so that the sharing is as real as over there. None
        when it is not one, or the view does not fit the argument (then its values, sent too, are used)."""
        where = value.get("view_of")
        if not isinstance(where, list) or len(where) != 2:
            return None
        base = self.sent.get(str(where[0]), {}).get(where[1]) if isinstance(where[1], int) else None
        try:
            size, stride, offset = ([int(n) for n in value["view"][0]], [int(n) for n in value["view"][1]],
                                    int(value["view"][2]))
            if (base is None or base.layout != torch.strided or not base.is_contiguous() or base.storage_offset()
                    or str(base.dtype).removeprefix("torch.") != value.get("torch_dtype")):
                return None
            view = base.detach().as_strided(size, stride, offset)
        except (KeyError, TypeError, ValueError, IndexError, RuntimeError):
            return None
        if value.get("param"):
            return nn.Parameter(view, requires_grad=bool(value.get("requires_grad")))
        return view.requires_grad_(bool(value.get("requires_grad")) and view.is_floating_point())

    def decode_module(self, value: dict[str, Any]) -> Any:
        handle = int(value["h"])
        mirror = self.session.mirrors.get(handle)
        if mirror is None:
            cls = torch_class(str(value.get("cls"))) or self.session.stand_in(str(value.get("cls")),
                                                                              value.get("bases", []))
            if not issubclass(cls, nn.Module):
                raise ValueError("a module of a class that is not a module")
            mirror = object.__new__(cls)
        self.fill_module(mirror, value)
        object.__setattr__(mirror, "forward", RemoteMethod(self.session, handle))
        self.session.remember(handle, mirror)
        return mirror

    def decode_other(self, value: dict[str, Any]) -> Any:
        if value.get("t") != "object":
            return super().decode_other(value)
        handle = int(value["h"])
        mirror = self.session.mirrors.get(handle)
        if mirror is None:
            mirror = object.__new__(self.session.stand_in(str(value.get("cls")), []))
            self.session.remember(handle, mirror)
        self._remember(value, mirror)
        for name, spec in value.get("attrs", {}).items():
            if public_attribute(name):
                object.__setattr__(mirror, name, self.decode(spec))
        return mirror


class RemoteMethod:
    """A mirror's ``forward``: calling the student's object in the sandbox (its hooks and ``__call__`` included)."""

    def __init__(self, session: Session, handle: int) -> None:
        self.session, self.handle = session, handle

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.session.call({"handle": self.handle}, args, kwargs)


class RemoteFunction:
    """What a ``grade_*`` function receives in place of the student's function: a call goes to the sandbox."""

    def __init__(self, session: Session, name: str) -> None:
        self.session = session
        self.__name__ = self.__qualname__ = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.session.call({"fn": self.__name__}, args, kwargs)

    def __repr__(self) -> str:
        return f"<the student's {self.__name__}, run in the re-check sandbox>"


class _Attach(torch.autograd.Function):
    """Connects a tensor computed in the sandbox to the autograd graph here: identity forward, remote backward."""

    @staticmethod
    def forward(ctx: Any, session: Session, grad_id: int, holder: list[torch.Tensor], *leaves: torch.Tensor
                ) -> torch.Tensor:
        ctx.session, ctx.grad_id, ctx.count = session, grad_id, len(leaves)
        return holder[0].detach()

    @staticmethod
    def backward(ctx: Any, upstream: torch.Tensor) -> tuple[Any, ...]:
        return (None, None, None, *ctx.session.backward(ctx.grad_id, upstream, ctx.count))


class Session:
    """The grader's end of the socket to one re-check process, and the mirrors of the objects that live there."""

    def __init__(self, conn: socket.socket, deadline: float, start_deadline: float | None = None,
                 call_seconds: float = CALL_SECONDS) -> None:
        """``conn``: the grader's end of the socket pair whose other end the re-check process answers on.
        ``deadline``: when the whole exchange must be over (``time.monotonic()``); ``start_deadline``: when the
        process must have said it is ready (default: ``deadline``); ``call_seconds``: what one call may take (a
        test cell in the kernel may take no longer as a whole). No wait here ever outlasts them."""
        self.conn: socket.socket | None = None
        self.deadline = deadline
        self.call_seconds = call_seconds
        self.bytes_left = SESSION_BYTES
        self.reply_size = 0   # the last reply's size on the wire, not yet set against the values decoded from it
        self.default_dtype = torch.float32   # torch's default dtype in the student's process, after the last cells
        self.lost = ""
        self.codec = GraderCodec(self)
        self.mirrors: dict[int, Any] = {}                          # handle -> mirror
        self.handles: dict[int, int] = {}                          # id(mirror) -> handle (mirrors are kept alive)
        self.params: dict[int, tuple[nn.Parameter, torch.Tensor]] = {}   # pid -> (mirror's parameter, last sent)
        self.pids: dict[int, int] = {}                             # id(parameter) -> pid
        self.remote_names: dict[str, str] = {}                     # class path -> its name in the student's cells
        self.classes: dict[str, type] = {}
        # The random generators both processes hold (as _rng_raw gives them), known only from a reply that reported
        # the sandbox's and was taken here, until the next request: a request sends the grader's only if they differ.
        self.rng_shared: tuple[torch.Tensor, tuple] | None = None
        self._hello(conn, min(deadline, start_deadline or deadline))

    def _hello(self, conn: socket.socket, deadline: float) -> None:
        try:
            hello = receive(conn, deadline, limit=REPLY_BYTES)
        except TimeoutError:
            hello, self.lost = None, "the student cells did not finish within the time the kernel allows them"
        except (OSError, ValueError, RecursionError) as err:
            hello, self.lost = None, f"the re-check process failed to start ({type(err).__name__})"
        if not isinstance(hello, dict) or hello.get("ready") is not True:
            self.lost = self.lost or "the re-check process ended while running the student cells"
            with contextlib.suppress(OSError):
                conn.close()
            return
        self.conn = conn
        # The notebook starts from a fresh process's random generators, whoever was graded before on this worker.
        self._take_rng(hello)

    # -------------------------------------------------------------------------------------------- what tests receive

    def subject(self, name: str) -> Any:
        """What a hidden test receives for the student's ``name``: a stand-in class for a class, else a proxy."""
        reply = self._request({"probe": name}, name)
        if reply.get("kind") == "class":
            self.remote_names[str(reply.get("cls"))] = name
            return self.stand_in(str(reply.get("cls")), reply.get("bases", []))
        if reply.get("kind") == "value":
            return self.value(name)
        return RemoteFunction(self, name)

    def run_cells(self, cells: list[str], cell_seconds: int, rng: bool = True) -> None:
        """Run the next of the student's cells over there (each within ``cell_seconds``, as in the kernel), from
        the random generators' state here, which then goes on from where those cells left it (``rng=False``: cells
        run for what they define only, the generators here untouched). A process that does not come back in time is
        lost: every later request fails, and its tests are unverified."""
        if cells:
            reply = self._request({"run": cells, "rng": rng, **(self._rng_to_send() if rng else {})},
                                  "the student cells", seconds=cell_seconds * len(cells) + 5)
            if rng:
                self._take_rng(reply)
            with contextlib.suppress(Exception):
                self.default_dtype = _default_dtype(reply.get("default_dtype"))

    def value(self, name: str) -> Any:
        """The value the student's cells gave ``name`` (an array, a number, a module's mirror…), as data."""
        reply = self._request({"value": name}, name)
        try:
            return self._decoded(self.codec, reply.get("value"))
        except Exception as err:  # whatever does not decode is not the student's value
            raise RemoteError(f"the value of {name} could not be read: {err}") from None

    def stand_in(self, path: str, bases: list[Any]) -> type:
        """A local class named like the student's ``path``, subclassing the nearest torch class it subclasses.

        Calling it builds the object in the sandbox (when it is a class the tests were given: :meth:`subject`) and
        returns its mirror; an ``autograd.Function`` stand-in's ``apply`` runs the student's in the sandbox. The
        class may have been made earlier, for a mirror's submodule: its name is looked up when it is called.
        """
        if path in self.classes:
            return self.classes[path]
        base = next((cls for cls in map(torch_class, map(str, bases)) if cls is not None), object)
        module_name, _, qualname = path.rpartition(".")
        session = self

        def remote_name() -> str:
            if path not in session.remote_names:
                raise TypeError(f"{qualname} can only be built in the student's process")
            return session.remote_names[path]

        def construct(cls: type, *args: Any, **kwargs: Any) -> Any:
            return session.call({"fn": remote_name()}, args, kwargs)

        def call(obj: Any, *args: Any, **kwargs: Any) -> Any:
            return session.call({"handle": session.handle_of(obj)}, args, kwargs)

        def apply(cls: type, *args: Any, **kwargs: Any) -> Any:
            return session.call({"fn": remote_name(), "attr": "apply"}, args, kwargs)

        namespace: dict[str, Any] = {"__module__": module_name, "__qualname__": qualname,
                                     "__new__": construct, "__init__": lambda self, *a, **k: None}
        if base is torch.autograd.Function:
            namespace = {"__module__": module_name, "__qualname__": qualname, "apply": classmethod(apply),
                         "forward": staticmethod(_elsewhere), "backward": staticmethod(_elsewhere)}
        elif base is object:
            namespace["__call__"] = call
        self.classes[path] = type(base)(qualname or "Student", (base,), namespace)
        return self.classes[path]

    def handle_of(self, obj: Any) -> int | None:
        return self.handles.get(id(obj))

    def remember(self, handle: int, mirror: Any) -> None:
        self.mirrors[handle] = mirror
        self.handles[id(mirror)] = handle

    def parameter(self, pid: int, value: torch.Tensor) -> nn.Parameter:
        """The mirror's parameter ``pid``: the same object each time the sandbox sends it, with the value it sent."""
        if pid in self.params:
            param = self.params[pid][0]
            with torch.no_grad():
                if param.shape == value.shape and param.dtype == value.dtype:
                    param.copy_(value)
                else:
                    param.data = value.detach()
            param.requires_grad_(value.requires_grad)
        else:
            param = value if type(value) is nn.Parameter else nn.Parameter(value, requires_grad=value.requires_grad)
            self.pids[id(param)] = pid
        self.params[pid] = (param, _snapshot(param))
        return param

    # -------------------------------------------------------------------------------------------- calls

    def call(self, target: dict[str, Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Call the student's function, class, ``apply`` or object ``target`` in the sandbox; return its value here."""
        label = str(target.get("fn") or type(self.mirrors.get(target.get("handle", 0))).__name__)
        if self.conn is None:
            raise RemoteError(f"not re-checked: {self.lost}")
        grad = torch.is_grad_enabled()
        encoded_args = self.codec.dump(list(args), "args")
        leaves = self.codec.leaves
        encoded_kwargs = self.codec.dump(dict(kwargs), "kwargs")
        leaves = leaves + self.codec.leaves
        wrt = self._trainable(target, args, kwargs)
        message = {**target, "args": encoded_args, "kwargs": encoded_kwargs, "grad": grad, "sync": self._changed(),
                   "wrt": [pid for pid, _ in wrt], **self._rng_to_send()}
        reply = self._request(message, label)
        self._take_rng(reply)
        _write_back(args, reply.get("args_after") or [])
        _warn_again(reply.get("warnings"))
        if isinstance(reply.get("stderr"), str) and reply["stderr"]:
            sys.stderr.write(reply["stderr"][:4000])   # what it wrote over there, as the kernel's cell would show it
        if "raised" in reply:
            raise _exception(reply["raised"])
        try:
            value = self._decoded(self.codec, reply["value"])
        except Exception as err:  # whatever the sandbox sent that does not decode is a failed call, not our crash
            raise RemoteError(f"the value {label}() returned could not be read: {err}") from None
        differentiable = leaves + [param for _, param in wrt]
        if grad and "grad_id" in reply and isinstance(value, torch.Tensor) and differentiable:
            value = _Attach.apply(self, int(reply["grad_id"]), [value], *differentiable)
        return value

    def backward(self, grad_id: int, upstream: torch.Tensor, count: int) -> list[torch.Tensor | None]:
        """The gradients of the sandbox's output ``grad_id`` with respect to its leaves, for ``upstream``."""
        reply = self._request({"backward": grad_id, "grad": Codec().dump(upstream.detach())}, "backward")
        if "raised" in reply:
            raise _exception(reply["raised"])
        grads = [None if g is None else self._decoded(Codec(), g) for g in reply.get("grads", [])]
        if len(grads) != count:
            raise RemoteError("the sandbox sent gradients for the wrong number of inputs")
        return grads

    def _trainable(self, target: dict[str, Any], args: tuple[Any, ...], kwargs: dict[str, Any]
                   ) -> list[tuple[int, nn.Parameter]]:
        """The mirror parameters this call may be differentiated by: those of the called object and of mirrors
        passed as arguments, each once."""
        modules = [self.mirrors.get(target.get("handle", 0)), *args, *kwargs.values()]
        params: dict[int, nn.Parameter] = {}
        for module in modules:
            if isinstance(module, nn.Module) and self.handle_of(module):
                for param in nn.Module.parameters(module):   # (a student attribute may shadow the method)
                    params.setdefault(id(param), param)
        return [(self.pids[id(p)], p) for p in params.values() if id(p) in self.pids and p.requires_grad]

    def _changed(self) -> dict[str, Any]:
        """Mirror parameters changed here since the sandbox last saw them (an optimiser step, an in-place edit)."""
        changed = {}
        for pid, (param, sent) in self.params.items():
            if param.device.type == "meta":
                continue
            same = (param.shape == sent.shape and param.dtype == sent.dtype
                    and param.requires_grad == sent.requires_grad and torch.equal(param.detach(), sent))
            if not same:
                changed[str(pid)] = Codec().dump(param)
                self.params[pid] = (param, _snapshot(param))
        return changed

    def _request(self, message: dict[str, Any], label: str, seconds: float | None = None) -> dict[str, Any]:
        """One request and its reply, within ``seconds`` (default: one call's) and the session's deadline; a lost,
        late or malformed reply ends the session (every later request fails at once)."""
        if self.conn is not None and self.bytes_left <= 0:
            self.close()
            self.lost = (f"the student's process sent more than {SESSION_BYTES // 1024**2} MB of replies in all "
                         "(counted as decoded here)")
        if self.conn is None:
            raise RemoteError(f"not re-checked: {self.lost}")
        self.rng_shared = None   # whatever it runs over there may move the generators there, unreported
        deadline = min(time.monotonic() + (seconds or self.call_seconds), self.deadline)
        try:
            self.conn.settimeout(max(0.001, deadline - time.monotonic()))
            send(self.conn, message)
            reply, size = receive_sized(self.conn, deadline, limit=min(REPLY_BYTES, self.bytes_left))
            self.bytes_left -= size
            self.reply_size = size
        except (OSError, ValueError, RecursionError) as err:  # (TimeoutError is an OSError)
            reply = None
            self.lost = f"{label} did not answer in time or broke the connection ({type(err).__name__})"
        if reply is None:
            self.close()
            self.lost = self.lost or f"the re-check process ended while working on {label}"
            raise RemoteError(self.lost)
        if reply.get("missing"):
            raise NameError(f"name '{label}' is not defined")
        if "error" in reply:
            raise RuntimeError(f"re-check protocol: {reply['error']}")
        return reply

    def _decoded(self, codec: Codec, spec: Any) -> Any:
        """``spec`` from the last reply, decoded by ``codec``; what its values cost here beyond the reply's size on
        the wire is charged to the session's budget (the request after the one that spends it fails)."""
        value = codec.load(spec)
        self.bytes_left -= max(0, codec.values * VALUE_BYTES - self.reply_size)
        self.reply_size = max(0, self.reply_size - codec.values * VALUE_BYTES)   # (several decodes of one reply)
        return value

    def _rng_to_send(self) -> dict[str, Any]:
        """The grader's random generators for the student's code over there to start from; nothing when the sandbox
        is known to hold the same already (its last reply reported them, they were taken here, nothing has drawn
        from them here since, and no request went there after that reply)."""
        now = _rng_raw()
        if self.rng_shared is not None and _same_rng(self.rng_shared, now):
            return {}
        return _rng_states(now)

    def _take_rng(self, reply: dict[str, Any]) -> None:
        """Go on from the sandbox's generators; both processes hold the same only if both were taken. A call's
        reply may say instead that the call drew nothing (``rng_same``): the sandbox holds what it started the call
        from, which is what this process holds (sent with the request, or known to be shared), and nothing here has
        drawn while it waited."""
        if reply.get("rng_same") is True:
            self.rng_shared = _rng_raw()
            return
        self.rng_shared = _rng_raw() if _take_rng_states(reply) else None

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(OSError):
                self.conn.close()
            self.conn = None


def _default_dtype(name: Any) -> torch.dtype:
    dtype = getattr(torch, str(name), None)
    if dtype not in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        raise ValueError("not a default dtype")
    return dtype


def _rng_raw() -> tuple[torch.Tensor, tuple]:
    """torch's and numpy's global random generators here: (torch's state, a uint8 tensor; numpy's state tuple)."""
    return torch.get_rng_state(), np.random.get_state()


def _same_rng(a: tuple[torch.Tensor, tuple], b: tuple[torch.Tensor, tuple]) -> bool:
    (torch_a, (kind_a, keys_a, *rest_a)), (torch_b, (kind_b, keys_b, *rest_b)) = a, b
    return (torch.equal(torch_a, torch_b) and kind_a == kind_b and np.array_equal(keys_a, keys_b)
            and rest_a == rest_b)


def _rng_states(raw: tuple[torch.Tensor, tuple] | None = None) -> dict[str, Any]:
    """torch's and numpy's global random generators here (or ``raw``), for the student's code over there to start
    from."""
    torch_state, numpy_state = raw or _rng_raw()
    return {"torch_rng": Codec().dump(torch_state), "numpy_rng": Codec().dump(numpy_state)}


def _take_rng_states(reply: dict[str, Any]) -> bool:
    """The generators go on from where the student's code left them, as they would in the kernel; whether both
    were taken (a reply without them, or with what does not decode, leaves the generators here as they were)."""
    taken = 0
    with contextlib.suppress(Exception):
        torch.set_rng_state(Codec().load(reply["torch_rng"]))
        taken += 1
    with contextlib.suppress(Exception):
        np.random.set_state(Codec().load(reply["numpy_rng"]))
        taken += 1
    return taken == 2


def _snapshot(param: nn.Parameter) -> torch.Tensor:
    """What the sandbox holds of ``param``: its values and whether it requires grad (compared before each call)."""
    return param.detach().clone().requires_grad_(param.requires_grad)


def _elsewhere(*_: Any, **__: Any) -> Any:
    raise RuntimeError("the student's autograd.Function runs in the re-check sandbox: use apply()")


def _warn_again(warned: Any) -> None:
    """The warnings the student's code raised in the sandbox, raised here: by a builtin category of that name, else
    as a UserWarning (the sandbox names a category; it never chooses a class of ours)."""
    if not isinstance(warned, list):
        return
    import warnings

    for item in warned[:20]:
        if not isinstance(item, dict):
            continue
        category = getattr(builtins, str(item.get("category", "")), None)
        if not (isinstance(category, type) and issubclass(category, Warning)):
            category = UserWarning
        warnings.warn(str(item.get("message", ""))[:500], category, stacklevel=2)


def _exception(raised: dict[str, Any]) -> BaseException:
    """The student's exception as the builtin Exception classes it derives from (never SystemExit or
    KeyboardInterrupt): one of them, or a class of both where it has two (``class Bad(ValueError, IndexError)`` is
    caught by ``except IndexError`` here as there)."""
    message = str(raised.get("message", ""))
    bases: list[type] = []
    for name in raised.get("types", []):
        module, _, qualname = str(name).rpartition(".")
        cls = getattr(builtins, qualname, None) if module == "builtins" else None
        if (isinstance(cls, type) and issubclass(cls, Exception) and cls is not Exception
                and not any(issubclass(b, cls) for b in bases)):
            bases.append(cls)
    first = str((raised.get("types") or ["?"])[0])
    if len(bases) > 1:
        try:
            return type(first.rpartition(".")[2] or "StudentError", tuple(bases), {})(message)
        except TypeError:  # builtins whose layouts cannot be combined: the nearest one
            pass
    if bases:
        return bases[0](message)
    return RemoteError(f"{first}: {message}")


def _write_back(args: tuple[Any, ...], after: list[Any]) -> None:
    """Arguments the student's function changed in place (e.g. an SGD step) change here too."""
    import numpy as np

    for arg, spec in zip(args, after, strict=False):
        if spec is None:
            continue
        try:
            new = Codec().load(spec)
        except ValueError:
            continue
        if type(arg) is np.ndarray and type(new) is np.ndarray and new.shape == arg.shape:
            if not np.array_equal(arg, new, equal_nan=arg.dtype.kind in "fc"):
                np.copyto(arg, new.astype(arg.dtype, copy=False))
        elif (isinstance(arg, torch.Tensor) and isinstance(new, torch.Tensor) and new.shape == arg.shape
              and arg.layout == torch.strided and arg.device.type != "meta"
              and not torch.equal(arg.detach(), new.to(arg.dtype))):
            with torch.no_grad():
                arg.copy_(new.to(arg.dtype))


__all__ = ["CALL_SECONDS", "RemoteError", "RemoteFunction", "Session", "torch_class"]
