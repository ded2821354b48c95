"""Student classes and modules used from the grader while they live in the re-check sandbox
(grader.integrity.stand_ins).

A real re-check process in the real ``recheck`` sandbox runs a small student namespace; the grader's side gets
stand-in classes and mirrors. They must behave like the student's objects where the hidden tests look (identity of
shared parameters, torch types, gradients through the student's own backward, optimiser steps, exceptions), and
nothing the sandbox sends may make the grader build a class of its choosing.
"""

from __future__ import annotations

import collections
import contextlib
import json
import socket
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from grader.content.reference import tied as ref
from grader.grading.sandbox import Isolation, Limits
from grader.grading.zygote_client import Zygote
from grader.integrity import recheck
from grader.integrity.recheck import recheck_process
from grader.integrity.stand_ins import GraderCodec, RemoteError, RemoteFunction, Session, torch_class
from grader.sandboxed.wire import send

STUDENT = textwrap.dedent('''
    import importlib.util
    import numpy as np
    import torch
    from torch import nn

    GRADER_VISIBLE = importlib.util.find_spec("grader") is not None


    class TinyLM(nn.Module):
        def __init__(self, V, d, tie_weights=True):
            super().__init__()
            self.embed = nn.Embedding(V, d)
            self.hidden = nn.Linear(d, d)
            self.lm_head = nn.Linear(d, V, bias=False)
            if tie_weights:
                self.lm_head.weight = self.embed.weight

        def forward(self, ids):
            if ids.numel() and int(ids.max()) >= self.embed.num_embeddings:
                raise IndexError(f"id {int(ids.max())} is not below V = {self.embed.num_embeddings}")
            return self.lm_head(torch.tanh(self.hidden(self.embed(ids))))


    class Scale(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.weight = nn.Parameter(torch.full((d,), 2.0))

        def forward(self, x):
            return x * self.weight


    class Scaled(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.scale = Scale(d)

        def forward(self, x):
            return self.scale(x)


    class Lookup(torch.autograd.Function):
        @staticmethod
        def forward(ctx, ids, weight):
            ctx.save_for_backward(ids)
            ctx.V = weight.shape[0]
            return weight[ids]

        @staticmethod
        def backward(ctx, grad):
            (ids,) = ctx.saved_tensors
            out = torch.zeros(ctx.V, grad.shape[-1], dtype=grad.dtype)
            return None, out.index_add_(0, ids.reshape(-1), grad.reshape(-1, grad.shape[-1]))


    class LookupForgetsDuplicates(Lookup):
        @staticmethod
        def backward(ctx, grad):
            (ids,) = ctx.saved_tensors
            out = torch.zeros(ctx.V, grad.shape[-1], dtype=grad.dtype)
            out[ids.reshape(-1)] = grad.reshape(-1, grad.shape[-1])   # repeated ids overwrite
            return None, out


    class ReturnsZeros(torch.autograd.Function):         # wrong: zeros of the lookup's shape
        @staticmethod
        def forward(ctx, ids, weight, padding_idx=None):
            return weight[ids] * 0

        @staticmethod
        def backward(ctx, grad):
            return None, None, None


    class ZeroesItsTableFirst(ReturnsZeros):           # the same zeros, by zeroing the table the test passed in
        @staticmethod
        def forward(ctx, ids, weight, padding_idx=None):
            weight.data.zero_()
            return weight[ids] * 2


    def count_parameters(model):
        return sum(p.numel() for p in model.parameters())


    def count_state(model):
        return sum(t.numel() for t in model.state_dict().values())


    def where_am_i():
        return GRADER_VISIBLE


    def stash_a_key():
        """What a student would use to hand answers to the next one: the user keyring outlives every process."""
        import ctypes
        import platform
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        add_key = {"x86_64": 248, "aarch64": 217}[platform.machine()]
        return int(libc.syscall(add_key, b"user", b"answers", b"x", 1, ctypes.c_int(-4))), ctypes.get_errno()


    def linear_viewing(emb):
        linear = nn.Linear(*emb.weight.shape, bias=False)
        linear.weight = nn.Parameter(emb.weight.T)   # a view of the embedding's table: shares its storage
        return linear


    def linear_copying(emb):
        linear = nn.Linear(*emb.weight.shape, bias=False)
        linear.weight = nn.Parameter(emb.weight.detach().T.clone())
        return linear


    def draw(n):
        return torch.rand(n), np.random.rand(n)


    def doubles_the_first(a, b):                # changes its first argument in place, only reads its second
        a *= 2
        return float(b.sum())


    class DrawsInBackward(torch.autograd.Function):   # its backward moves the generators: no reply reports it
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            torch.rand(5)
            np.random.rand(5)
            return grad * 2


    def objects_left_to_the_collector():
        import gc
        return gc.get_freeze_count(), len(gc.get_objects())


    def pair_counts(ids):
        import collections
        return collections.Counter(zip(ids, ids[1:]))


    def apply_merges(ids, merges):
        for (a, b), new_id in merges.items():
            out, i = [], 0
            while i < len(ids):
                if ids[i:i + 2] == [a, b]:
                    out.append(new_id)
                    i += 2
                else:
                    out.append(ids[i])
                    i += 1
            ids = out
        return ids


    def known(pieces, vocab):
        return [p in vocab for p in pieces], sorted(vocab), type(vocab).__name__
''')


def recheck_zygote(tmp_path_factory: pytest.TempPathFactory, name: str) -> tuple[Zygote, Path]:
    """A re-check zygote and the folder its children work in, laid out as a grading worker lays them out
    (grader.grading.executor): the socket in a folder of the grader's alone, the work folder the only writable one."""
    root = tmp_path_factory.mktemp(name)
    (root / "control").mkdir(mode=0o700)
    work = root / "rwork"
    work.mkdir()
    return Zygote(root / "control" / "subject.sock", Isolation(limits=Limits()), "subject", writable=[work]), work


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    zygote, work = recheck_zygote(tmp_path_factory, "remote")
    with recheck_process(zygote, work, Limits().as_dict(), 60, time.monotonic() + 300, [STUDENT]) as session:
        assert session.conn is not None, session.lost
        yield session
    zygote.stop()


def test_student_code_runs_in_the_sandbox_not_here(session: Session) -> None:
    assert session.subject("where_am_i")() is False, "the grader package must not be visible to student code"
    assert isinstance(session.subject("count_parameters"), RemoteFunction)


def test_the_zygotes_heap_is_frozen_out_of_the_childs_garbage_collections(session: Session) -> None:
    """grader.sandboxed.zygote freezes what it imported before forking: a child's collections walk only its own
    objects (and so do not copy the zygote's ~300 MB of torch page by page)."""
    frozen, tracked = session.subject("objects_left_to_the_collector")()
    assert frozen > 100_000, f"only {frozen} objects frozen: is gc.freeze() still called before the zygote forks?"
    assert tracked < frozen, f"the child's collector tracks {tracked} objects, the zygote's {frozen} included?"


def test_a_module_mirror_has_the_students_structure_and_sharing(session: Session) -> None:
    TinyLM = session.subject("TinyLM")
    assert isinstance(TinyLM, type) and issubclass(TinyLM, nn.Module) and TinyLM.__name__ == "TinyLM"
    tied, untied = TinyLM(11, 4), TinyLM(11, 4, tie_weights=False)
    assert type(tied) is TinyLM and type(tied.embed) is nn.Embedding and type(tied.lm_head) is nn.Linear
    assert tied.lm_head.weight is tied.embed.weight, "a parameter shared in the sandbox is one object here"
    assert type(tied.embed.weight) is nn.Parameter and tied.embed.weight.shape == (11, 4)
    assert [n for n, _ in tied.named_parameters()] == ["embed.weight", "hidden.weight", "hidden.bias"]
    assert untied.lm_head.weight is not untied.embed.weight
    assert tied.embed.num_embeddings == 11 and tied.lm_head.bias is None


def test_a_class_first_met_as_a_submodule_can_still_be_built(session: Session) -> None:
    outer = session.subject("Scaled")(3)
    Scale = session.subject("Scale")
    assert type(outer.scale) is Scale, "one stand-in class per student class"
    torch.testing.assert_close(Scale(2)(torch.ones(2)), torch.full((2,), 2.0))


def test_forward_backward_and_an_optimiser_step_match_a_local_replica(session: Session) -> None:
    torch.manual_seed(3)
    model = session.subject("TinyLM")(9, 5)
    replica = ref.TinyLM(9, 5)
    replica.load_state_dict({k: v.detach().clone() for k, v in model.state_dict().items()})
    ids, targets = torch.tensor([[1, 8, 1], [3, 0, 2]]), torch.tensor([2, 2, 5, 1, 7, 0])
    for step in range(3):
        for net in (model, replica):
            net.zero_grad()
            F.cross_entropy(net(ids).reshape(-1, 9), targets).backward()
        torch.testing.assert_close(model.embed.weight.grad, replica.embed.weight.grad, msg=f"step {step}")
        torch.testing.assert_close(model.hidden.bias.grad, replica.hidden.bias.grad, msg=f"step {step}")
        for net in (model, replica):
            with torch.no_grad():
                for p in net.parameters():
                    p.sub_(0.5 * p.grad)   # the sandbox must see this step before the next forward
    torch.testing.assert_close(model(ids), replica(ids))
    with torch.no_grad():
        assert not model(ids).requires_grad


def test_the_students_backward_runs_in_the_sandbox(session: Session) -> None:
    weight = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    ids = torch.tensor([2, 0, 2, 3, 2])
    good, bad = session.subject("Lookup"), session.subject("LookupForgetsDuplicates")
    assert issubclass(good, torch.autograd.Function)
    assert torch.autograd.gradcheck(lambda w: good.apply(ids, w), (weight,))
    with pytest.raises(RuntimeError, match="Jacobian mismatch"):
        torch.autograd.gradcheck(lambda w: bad.apply(ids, w), (weight,))


def test_exceptions_cross_by_type_and_message(session: Session) -> None:
    model = session.subject("TinyLM")(6, 2)
    with pytest.raises(IndexError, match="id 7 is not below V = 6"):
        model(torch.tensor([1, 7]))
    with pytest.raises(NameError):
        session.subject("not_defined_anywhere")(1)


def test_modules_sent_to_the_sandbox_keep_shared_and_frozen_parameters_and_buffers(session: Session) -> None:
    count, count_state = session.subject("count_parameters"), session.subject("count_state")
    for tie in (True, False):
        model = ref.TinyLM(10, 4, tie_weights=tie)
        assert count(model) == ref.count_parameters(model)
    shared = nn.Module()
    shared.first = nn.Linear(4, 4)
    shared.again = shared.first
    shared.frozen = nn.Parameter(torch.ones(3), requires_grad=False)
    shared.norm = nn.BatchNorm1d(4)
    assert count(shared) == 20 + 3 + 8
    assert count_state(shared) == sum(t.numel() for t in shared.state_dict().values()), "buffers stay buffers"
    assert count(ref.gpt2_small_skeleton(True)) == 124_439_808, "meta tensors cross without data"


def test_the_sandbox_cannot_make_the_grader_build_a_class_of_its_choosing(session: Session) -> None:
    for path in ("os.system", "subprocess.Popen", "builtins.eval", "grader.content.reference.tied.TinyLM",
                 "torch.nn.modules.module.os", "torch.nn.functional.embedding"):
        assert torch_class(path) is None, path
    codec = GraderCodec(session)
    spec = {"t": "module", "id": 0, "h": 10_000, "cls": "grader.content.reference.tied.TinyLM",
            "bases": ["subprocess.Popen", "torch.nn.modules.module.Module"], "training": True,
            "attrs": {"__class__": "str", "_parameters": 1, "forward": "x", "size": 3},
            "params": [], "buffers": [], "children": []}
    mirror = codec.load(spec)
    assert type(mirror).__module__ == "grader.content.reference.tied" and type(mirror).__bases__ == (nn.Module,)
    assert type(mirror) is not ref.TinyLM and mirror.size == 3
    assert isinstance(mirror._parameters, dict), "private attributes are never set from the sandbox"
    with pytest.raises(ValueError):
        codec.load({"t": "module", "id": 0, "h": 10_001, "cls": "x.Y", "bases": [], "training": True,
                    "attrs": {}, "params": [["w", {"t": "nd", "dtype": "<f8", "shape": [1], "data": "AAAAAAAAAAA="}]],
                    "buffers": [], "children": []})


def test_a_lost_sandbox_is_an_error_not_a_hang() -> None:
    ours, theirs = socket.socketpair()
    with theirs:
        started = time.monotonic()
        lost = Session(ours, started + 0.3)   # the other end never says hello
        assert time.monotonic() - started < 2, "waiting for the student cells must end at the deadline"
        with pytest.raises(RemoteError, match="did not finish"):
            lost.subject("TinyLM")


def test_a_sandbox_that_trickles_its_answer_is_cut_off_at_the_deadline() -> None:
    """Timeouts are for the whole answer, not per recv(): one byte at a time does not keep the grader waiting."""
    ours, theirs = socket.socketpair()
    done = threading.Event()

    def trickle() -> None:
        send(theirs, {"ready": True})
        while not done.is_set():
            with contextlib.suppress(OSError):
                theirs.send(b"\x00")
            time.sleep(0.05)

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        session = Session(ours, time.monotonic() + 1.0)
        started = time.monotonic()
        with pytest.raises(RemoteError, match="did not answer in time"):
            session.subject("one_hot")
        assert time.monotonic() - started < 3
        with pytest.raises(RemoteError):   # and the session stays lost: nothing after it is believed
            session.subject("one_hot")
    finally:
        done.set()
        thread.join()
        theirs.close()


def test_a_malformed_hello_is_a_lost_sandbox() -> None:
    ours, theirs = socket.socketpair()
    with theirs:
        send(theirs, {"ready": "yes", "tests": {"one_hot_visible": ""}})   # the old protocol's list of tests
        session = Session(ours, time.monotonic() + 2)
        assert session.conn is None and session.lost


def test_a_result_that_views_an_argument_shares_its_storage_here_too(session: Session) -> None:
    """A student's layer that wraps ``emb.weight.T`` changes when the embedding does, here as over there: what a
    hidden test checks of sharing holds on the mirror (a copy would look independent and score higher)."""
    for name, shared in (("linear_viewing", True), ("linear_copying", False)):
        emb = nn.Embedding(5, 3)
        linear = session.subject(name)(emb)
        torch.testing.assert_close(linear.weight.detach(), emb.weight.detach().T)
        with torch.no_grad():
            emb.weight.add_(1.0)
        moved = torch.equal(linear.weight.detach(), emb.weight.detach().T)
        assert moved is shared, f"{name}: the mirror's weight {'must' if shared else 'must not'} follow the embedding"


def test_the_random_generators_go_on_across_the_sandbox_as_in_one_process(session: Session) -> None:
    """Seeded here, drawn over there, drawn here again: the same numbers as one process would give."""
    import numpy as np

    torch.manual_seed(7)
    np.random.seed(7)
    remote_t, remote_n = session.subject("draw")(3)
    after_t, after_n = torch.rand(2), np.random.rand(2)
    torch.manual_seed(7)
    np.random.seed(7)
    local_t, local_n = torch.rand(3), np.random.rand(3)
    torch.testing.assert_close(remote_t, local_t)
    np.testing.assert_array_equal(remote_n, local_n)
    torch.testing.assert_close(after_t, torch.rand(2))
    np.testing.assert_array_equal(after_n, np.random.rand(2))


def test_a_call_that_draws_nothing_says_so_and_both_sides_go_on_alike(session: Session,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A call that draws nothing over there replies ``rng_same`` instead of both generators' states; the calls after
    it, which then send none, still draw what one process would draw after the seed."""
    import numpy as np

    replies: list[dict] = []
    request = session._request

    def recorded(*args: object, **kwargs: object) -> dict:
        replies.append(request(*args, **kwargs))
        return replies[-1]

    monkeypatch.setattr(session, "_request", recorded)
    count, draw = session.subject("count_parameters"), session.subject("draw")
    torch.manual_seed(5)
    np.random.seed(5)
    layer = nn.Linear(2, 3)                 # draws here
    assert count(layer) == count(layer) == 9
    remote_t, remote_n = draw(3)
    assert [r.get("rng_same") for r in replies[-3:]] == [True, True, None], replies[-3:]
    assert "torch_rng" in replies[-1] and "torch_rng" not in replies[-2]
    torch.manual_seed(5)
    np.random.seed(5)
    nn.Linear(2, 3)
    torch.testing.assert_close(remote_t, torch.rand(3))
    np.testing.assert_array_equal(remote_n, np.random.rand(3))


def test_what_a_backward_draws_over_there_does_not_move_the_next_calls_generators(session: Session) -> None:
    """The generators cross with a call and its reply; a request whose reply does not report them (a backward) may
    have moved them over there: the next call starts from the grader's again, as every call always did."""
    import numpy as np

    torch.manual_seed(11)
    np.random.seed(11)
    x = torch.ones(3, requires_grad=True)
    session.subject("DrawsInBackward").apply(x).sum().backward()
    torch.testing.assert_close(x.grad, torch.full((3,), 2.0))
    remote_t, remote_n = session.subject("draw")(4)
    torch.manual_seed(11)
    np.random.seed(11)
    torch.testing.assert_close(remote_t, torch.rand(4))
    np.testing.assert_array_equal(remote_n, np.random.rand(4))


def test_the_generators_are_sent_unless_the_sandbox_reported_the_same_in_its_last_reply() -> None:
    """A call sends the grader's generators, except right after a reply that reported them (and was taken) with
    nothing drawn here since, or a reply that says the call drew nothing there (``rng_same``); a reply whose
    generators do not decode, or one that reports none, means they are sent again."""
    from grader.integrity.stand_ins import _rng_states
    from grader.sandboxed.subject import Codec
    from grader.sandboxed.wire import receive

    ours, theirs = socket.socketpair()
    good = {"value": Codec().dump(1)}
    replies = [{"kind": "callable"}, {**good, **_rng_states()}, {**good, **_rng_states()}, {**good, **_rng_states()},
               {**good, "torch_rng": "not a state", "numpy_rng": {"t": "nd"}}, {**good, **_rng_states()},
               {"defined": False}, {**good, **_rng_states()}, {**good, "rng_same": True}, good,
               {**good, "rng_same": True}]
    received = []

    def subject() -> None:
        send(theirs, {"ready": True, **_rng_states()})
        for reply in replies:
            received.append(receive(theirs, time.monotonic() + 10))
            send(theirs, reply)

    thread = threading.Thread(target=subject, daemon=True)
    thread.start()
    session = Session(ours, time.monotonic() + 10)
    try:
        with recheck.rng_kept():
            f = session.subject("f")   # a probe: nothing known of the generators over there after it
            f()                        # sent; the reply's are taken
            f()                        # both hold the same: not sent
            torch.rand(1)
            f()                        # drawn here since: sent
            f()                        # its reply's generators do not decode
            f()                        # so they are sent again
            session.subject("g")       # another probe
            f()                        # sent
            f()                        # not sent; the reply says the call drew nothing
            f()                        # so not sent; the reply reports nothing
            f()                        # so they are sent
        thread.join(10)
        sent = [("torch_rng" in m, "numpy_rng" in m) for m in received[1:] if "fn" in m]
        assert sent == [(True, True), (False, False), (True, True), (False, False), (True, True), (True, True),
                        (False, False), (False, False), (True, True)], sent
    finally:
        session.close()
        theirs.close()


HONEST_ODDITIES = [
    "%matplotlib inline\ndef after_a_magic():\n    return 1",
    "%%writefile helper_module.py\ndef helper():\n    return 2",
    "from helper_module import helper\ndef uses_a_module_it_wrote():\n    return helper()",
    "import warnings\nwarnings.filterwarnings('ignore')\ndef warns_but_silenced():\n"
    "    warnings.warn('silenced by the student')\n    return 3",
    "class BadId(ValueError, IndexError):\n    pass\ndef raises_two_kinds():\n    raise BadId('id 9 is not below 4')",
    "from typing import NamedTuple\nimport numpy as np\nclass Pair(NamedTuple):\n    left: np.ndarray\n"
    "    right: float\ndef named_pair():\n    return Pair(np.ones(2), 0.5)",
    "import logging\ndef logs_a_warning():\n    logging.warning('careful')\n    return 4",
]


def test_honest_notebook_habits_behave_as_in_the_kernel(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Magics, a module the notebook writes and imports, the student's own warning filters, exceptions of two
    builtin kinds, namedtuples and what a call writes to stderr cross as they would in one kernel."""
    import io
    import warnings

    zygote, work = recheck_zygote(tmp_path_factory, "oddities")
    try:
        with recheck_process(zygote, work, Limits().as_dict(), 60, time.monotonic() + 300,
                             HONEST_ODDITIES) as s:
            assert s.subject("after_a_magic")() == 1
            assert s.subject("uses_a_module_it_wrote")() == 2
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                assert s.subject("warns_but_silenced")() == 3
            assert not caught, "the student's own filter silenced it in their process"
            with pytest.raises(IndexError, match="id 9"):
                s.subject("raises_two_kinds")()
            with pytest.raises(ValueError):
                s.subject("raises_two_kinds")()
            pair = s.subject("named_pair")()
            left, right = pair
            assert pair.right == 0.5 and right == 0.5 and left.tolist() == [1.0, 1.0]
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                assert s.subject("logs_a_warning")() == 4
            assert "careful" in err.getvalue(), "what it logged shows on stderr, as in the kernel's test cell"
    finally:
        zygote.stop()


def test_nothing_passes_from_one_notebooks_recheck_to_the_next(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The grader's random generators are where they were before a notebook, and each notebook starts from a fresh
    process's: a student who writes into them cannot hand anything to whoever is graded next."""
    import numpy as np

    zygote, work = recheck_zygote(tmp_path_factory, "courier")
    courier = ("import numpy as np\ndef write():\n"
               "    np.random.set_state(('MT19937', np.full(624, 7, dtype=np.uint32), 624))\n    return 1")
    try:
        with recheck_process(zygote, work, {}, 60, time.monotonic() + 120, [courier]) as first:
            first.subject("write")()
            assert (np.random.get_state()[1] == 7).all(), "within a notebook the generators go on as in one process"
        with recheck.rng_kept(), recheck_process(zygote, work, {}, 60, time.monotonic() + 120) as second:
            assert not (np.random.get_state()[1] == 7).all(), "the next notebook starts from a fresh process's state"
            assert second.conn is not None
    finally:
        zygote.stop()


def test_a_reply_too_large_for_the_graders_memory_is_refused(tmp_path_factory: pytest.TempPathFactory) -> None:
    """One reply over the limit ends the session; so do replies that add up to more than a session's budget, counted
    by what they decode to here, not by their size on the wire (a list of short numbers is small as JSON only)."""
    zygote, work = recheck_zygote(tmp_path_factory, "large")
    big = "def big():\n    return ['x' * 1000] * 40_000   # 40 MB of JSON"
    many = "def many():\n    return list(range(10)) * 50_000   # 500,000 numbers, ~1 MB of JSON"
    try:
        with recheck_process(zygote, work, {}, 60, time.monotonic() + 120, [big]) as session:
            with pytest.raises(RemoteError, match="broke the connection"):
                session.subject("big")()
            assert session.conn is None, "nothing after a refused reply is believed"
        with recheck_process(zygote, work, {}, 60, time.monotonic() + 120, [many]) as session:
            session.bytes_left = 4 * 1024**2   # (a smaller budget than a notebook's, for a test that is quick)
            assert len(session.subject("many")()) == 500_000, "a reply within the budget is read"
            assert session.bytes_left < 0, f"500,000 decoded numbers cost more than 4 MB ({session.bytes_left})"
            with pytest.raises(RemoteError, match="MB of replies in all"):
                session.subject("many")()
            assert session.conn is None
    finally:
        zygote.stop()


def test_ipc_objects_a_student_leaves_are_gone_for_the_next(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A System V shared memory segment outlives the process that made it: the clean-up between students removes it,
    so nothing can be handed to whoever is graded next on the worker."""
    zygote, work = recheck_zygote(tmp_path_factory, "ipc")
    shm = ("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
           "def make():\n    return libc.shmget(0x5EED, 4096, 0o1666)   # IPC_CREAT | 0666\n"
           "def find():\n    return libc.shmget(0x5EED, 0, 0)")
    try:
        with recheck_process(zygote, work, {}, 60, time.monotonic() + 120, [shm]) as first:
            assert first.subject("make")() >= 0 and first.subject("find")() >= 0
        with recheck_process(zygote, work, {}, 60, time.monotonic() + 120, [shm]) as second:
            assert second.subject("find")() == -1, "the segment the previous student made is still there"
    finally:
        zygote.stop()


def test_every_student_process_starts_from_the_same_random_generators(tmp_path_factory: pytest.TempPathFactory
                                                                    ) -> None:
    """Every child of a zygote — a kernel, a re-check process — starts from the same generators
    (grader.sandboxed.zygote._same_random_start: a fresh process's torch seed, numpy and random seeded 0), so
    unseeded code draws the same numbers in the kernel and out of it."""
    import numpy as np

    from grader.sandboxed.zygote import TORCH_DEFAULT_SEED

    with recheck.rng_kept():
        torch.manual_seed(TORCH_DEFAULT_SEED)
        np.random.seed(0)
        expected = torch.rand(3), np.random.rand(3)
    zygote, work = recheck_zygote(tmp_path_factory, "seeds")
    draw = "import numpy as np\nimport torch\ndef draw():\n    return torch.rand(3), np.random.rand(3)"
    try:
        for _ in range(2):   # two students, one after the other
            with recheck.rng_kept(), recheck_process(zygote, work, {}, 60, time.monotonic() + 120,
                                                     [draw]) as fresh:
                got = fresh.subject("draw")()
            torch.testing.assert_close(got[0], expected[0])
            np.testing.assert_array_equal(got[1], expected[1])
    finally:
        zygote.stop()


def test_no_student_process_can_store_a_key_in_a_kernel_keyring(session: Session) -> None:
    """Keyrings belong to a user id, not a process: every student of a worker has the same one, so the sandbox's
    seccomp filter refuses the key calls (EPERM)."""
    import errno

    assert session.subject("stash_a_key")() == (-1, errno.EPERM)


@pytest.mark.parametrize("value", [
    {(97, 98): 256, (256, 99): 257}, collections.Counter([(1, 2), (1, 2), (3, 4)]), collections.OrderedDict(a=1),
    collections.defaultdict(int, {(5, 5): 2}), {1: "one", 2.5: None, -3: [1, 2]}, {"a": {(1, 2): 3}}, {"x", "y"},
    frozenset({(1, 2), (3, 4)}), {}, set(),
], ids=lambda v: type(v).__name__)
def test_dicts_with_any_plain_keys_and_sets_cross_as_data_in_order(value: object) -> None:
    """Notebook 07's merges {(a, b): id}, a student's Counter of pairs, a vocabulary as a set: plain data, in order."""
    from grader.sandboxed.subject import Codec

    codec = Codec()
    back = codec.load(json.loads(json.dumps(codec.dump(value))))
    assert back == value and type(back) in (dict, set, frozenset)
    if isinstance(value, dict):
        assert list(back) == list(value), "a dict's order crosses too (training breaks ties by it)"
        assert type(back) is dict, "a Counter, OrderedDict or defaultdict arrives as a plain dict"


@pytest.mark.parametrize("spec", [
    {"t": "items", "v": [[{"t": "list", "v": [1]}, 2]]}, {"t": "items", "v": [[1]]}, {"t": "items", "v": [1]},
    {"t": "set", "v": [{"t": "dict", "v": {}}]}, {"t": "set", "v": [{"t": "opaque", "type": "x"}]},
    {"t": "items", "v": [[{"t": "tuple", "v": [{"t": "set", "v": []}]}, 0]]},
], ids=["list-key", "short-item", "bare-item", "dict-in-set", "opaque-in-set", "set-in-tuple-key"])
def test_only_plain_keys_and_set_elements_are_decoded(spec: dict) -> None:
    from grader.sandboxed.subject import Codec

    with pytest.raises(ValueError):
        Codec().load(spec)


def test_merges_pair_counts_and_vocabularies_cross_the_sandbox(session: Session) -> None:
    counts = session.subject("pair_counts")([5, 1, 5, 1, 2])
    assert type(counts) is dict and list(counts.items()) == [((5, 1), 2), ((1, 5), 1), ((1, 2), 1)]
    assert session.subject("apply_merges")([97, 98, 99], {(97, 98): 256, (256, 99): 257}) == [257]
    seen, ordered, kind = session.subject("known")(["##ing", "x"], {"##ing", "play"})
    assert seen == [True, False] and ordered == ["##ing", "play"] and kind == "set"
    assert session.subject("known")(["a"], {"a": 0})[2] == "dict"


@pytest.mark.parametrize("index", [4, 10**8, -1])
def test_a_sparse_tensor_whose_indices_leave_its_size_is_refused(index: int) -> None:
    """A sparse gradient or argument from the sandbox with an index outside its size would be read or written out of
    bounds by torch later (index 10**8: a segmentation fault of the grader); the codec refuses it when decoding."""
    from grader.sandboxed.subject import Codec

    codec = Codec()
    honest = torch.sparse_coo_tensor(torch.tensor([[3], [2]]), torch.tensor([1.0]), (4, 3), check_invariants=True)
    spec = codec.dump(honest)
    spec["indices"] = codec.dump(torch.tensor([[index], [0]]).numpy())
    spec["indices"].pop("t", None)
    with pytest.raises(RuntimeError):
        codec.load(spec)
    assert codec.load(codec.dump(honest)).to_dense()[3, 2] == 1.0


def test_changing_the_tests_tensor_in_place_gains_nothing(session: Session, capsys: pytest.CaptureFixture) -> None:
    """A change the student's code makes to an argument in place is sent back to the grader's tensor (an optimiser
    step must be); a hidden test takes what it expects before the call. Zeroing the table it was given, then returning
    its rows times 2, scores what returning zeros scores (it scored more when the expected rows were read after the
    call: 0 == 2 * 0; hostile review of 07)."""
    from grader.content.hidden.sparse import grade_embedding_function

    zeros = grade_embedding_function(session.subject("ReturnsZeros"), points=2)
    cheat = grade_embedding_function(session.subject("ZeroesItsTableFirst"), points=2)
    assert cheat <= zeros < 2, (cheat, zeros, capsys.readouterr().out[-2000:])


def test_an_argument_changed_in_place_comes_back_and_one_left_alone_does_not(session: Session,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """An array the student's function changes in place is sent back and written into the grader's (numpy and
    torch alike); one it only reads, NaN included, is not sent back at all."""
    import numpy as np

    replies: list[dict] = []
    request = session._request

    def recorded(*args: object, **kwargs: object) -> dict:
        replies.append(request(*args, **kwargs))
        return replies[-1]

    monkeypatch.setattr(session, "_request", recorded)
    doubles = session.subject("doubles_the_first")
    for a, b in ((np.arange(3.0), np.array([1.0, np.nan])), (torch.arange(3.0), torch.tensor([1.0, np.nan]))):
        doubles(a, b)
        assert a.tolist() == [0.0, 2.0, 4.0], "a change made in place over there must reach the grader's array"
        after = replies[-1]["args_after"]
        assert after[0] is not None and after[1] is None, after


def test_a_message_that_costs_too_much_to_decode_is_refused_in_bounded_time() -> None:
    """What the grader decodes is bounded by what it costs, not only by its size on the wire: dict keys chosen to
    collide in the hash table (k·(2⁶¹−1) all hash to 0; each insertion then costs the table's size) stop at the
    codec's time limit, and one tensor referred to 5,000 times (120 KB on the wire, 61 MB once printed) is refused
    for the values it stands for (hostile review of 07)."""
    from grader.sandboxed.subject import Codec

    codec = Codec()
    modulus = (1 << 61) - 1
    colliding = {"t": "items", "v": [[i * modulus, 0] for i in range(1, 200_001)]}   # (built before the clock starts)
    started = time.monotonic()
    with pytest.raises(ValueError, match="to decode"):
        codec.load(colliding)
    # Bounded, not timed: the limit is wall time, so a loaded machine adds its delays; without the limit this takes
    # minutes (200,000 insertions into a table of colliding keys).
    assert time.monotonic() - started < codec.max_seconds + 10
    with pytest.raises(ValueError, match="values once objects referred to"):
        codec.load(json.loads(json.dumps(codec.dump([torch.zeros(30, 30)] * 5000))))
    honest = {(97, 98): 256, (256, 99): 257, "table": torch.zeros(100, 768), "rows": [torch.ones(3)] * 50}
    back = codec.load(json.loads(json.dumps(codec.dump(honest))))
    assert back.keys() == honest.keys() and back["rows"][49] is back["rows"][0]


def test_a_returned_value_in_a_message_is_short_and_cheap_to_write() -> None:
    """A hidden test's message quotes what the student's code returned; a value that holds one list twelve times at
    every level (a few bytes once shared; 12**12 leaves printed in full) is written in at most 300 characters."""
    from grader.content.checks import brief, describe

    value: list = []
    for _ in range(12):
        value = [value] * 12      # 12**12 leaves once expanded
    assert len(brief(value)) <= 300 and len(brief("x" * 10**7)) <= 300
    assert len(describe(value)) < 20_000, "describe shows three levels of at most 12 items: 12**3 at most"
    assert brief({(97, 98): 256}) == "{(97, 98): 256}" and brief((1,)) == "(1,)"
    assert brief(["▁a", "bc"]) == "['▁a', 'bc']"


def test_generator_states_that_cannot_be_compared_count_as_different() -> None:
    """The "the call drew nothing" shortcut never errs towards "same": states it cannot compare (a numpy state of
    another shape, a missing torch state) are different, and both are then sent, as without the shortcut."""
    import numpy as np

    from grader.sandboxed.subject import _same_generators

    now = (torch.get_rng_state(), np.random.get_state())
    assert _same_generators(now, (torch.get_rng_state(), np.random.get_state()))
    torch.rand(1)
    assert not _same_generators(now, (torch.get_rng_state(), np.random.get_state()))
    assert not _same_generators(now, (None, np.random.get_state()))
    assert not _same_generators(now, (now[0], ("MT19937",)))
