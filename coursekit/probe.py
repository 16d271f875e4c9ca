"""A task's probes: what runs in the student's process, and the only thing that comes back.

The grader (``coursekit/grading/verdict.py``) starts one *probe process* per task: a child
of the warm zygote (``coursekit/warm.py``), in the OS sandbox, bounded like a kernel. It
sends the process a job (JSON): the notebook's code cells up to the task (setup, data and
answer cells; never a test cell), the source of the seminar's probe module
(``solutions/probes/NN_topic.py``) and the task; after the cells, a seed the grader picked.
The process runs the cells, then the task's probe on inputs drawn from the seed, and sends back the
probe's result as plain data (``coursekit/plain.py``) - or the exception that stopped it.
The same job with the solution's answer cells, in another process, gives the expected
values. Nothing decides here: the grader compares.

A probe module (the instructor's: never in a seminar or the release; the probe process
loads it before any cell runs; it holds no expected value)::

    from coursekit.probe import need, probe

    SKIP = ("sgd-plot",)           # instructor cells the probes never need (plots)

    @probe("ridge-grad", rtol=1e-10)
    def ridge_grad(ns, rng):       # ns: the notebook's globals; rng: numpy Generator(seed)
        f = need(ns, "ridge_loss_grad")
        X, y = rng.standard_normal((7, 2)), rng.standard_normal(7)
        loss, dw, db = f(X, y, rng.standard_normal(2), 0.3, 0.5)
        return {"loss on N=7": loss, "dw on N=7": dw, "type of the loss": type(loss).__name__}

The returned dict's keys are the labels of the grader's messages (the expected side's
keys: a student's process cannot rename them). A probe returns what the student's code
computed (and cheap facts about it, such as a type's name), never a pass or a fail.

Messages (length-prefixed JSON, both ways): grader -> process ``{"job": ...}``; process ->
grader ``{"cell": i}`` before cell i (and i = the number of cells before the probe); grader
-> process ``{"seed": s}`` (after the cells: none of them can know the probe's inputs; the
grader reads the process's CPU time here and at the result); process -> grader
``{"result": <tagged data>}`` or ``{"error": {ename, evalue, cell, line, phase}}``.
"""
from __future__ import annotations

import builtins
import os
import struct
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

from . import plain
from .notebook import CourseError

HEADER = struct.Struct("!I")


def probe(task: str, rtol: float = 1e-6, atol: float = 1e-9, reveal: bool = False,
          ops: tuple = (), score=None, timed: float | None = None):
    """Mark a function ``f(ns, rng) -> plain data`` as the probe of ``task``; ``rtol`` and
    ``atol``: the tolerance of its numbers; ``reveal``: say the expected string or bool
    when a student's differs.

    ``ops``: ATen operators (``"aten::convolution"``) the student's code may not dispatch
    while its answer cells and the probe run (the recorder; the task's ``forbid`` names are
    recorded too). ``score``: a dict (or a list of dicts) ``{"predictions": key, "truth":
    key, "metric": "accuracy" | "bits", "at_least" | "at_most": bar}``: the result's
    ``predictions`` (the student's) are scored against the *solution's* ``truth`` instead of
    being compared; other keys are compared as usual. ``timed``: the student's probe may
    take at most this many times the solution's CPU time, measured by the grader.

    A score may also say ``"examples": "images"`` (the noun of its message) and ``"hint":
    "start from an untrained model"`` (said when the bound fails). ``"accuracy"``: the
    predictions are labels (ints, the truth's shape) or scores (floats, the truth's shape +
    (C,): argmax); ``"bits"``: logits (floats, the truth's shape + (V,)), scored as the mean
    of -log2 softmax at the truth (``coursekit/grading/measure.py``). A mark that breaks
    this contract raises ValueError when the module loads."""
    scores = [] if score is None else [score] if isinstance(score, dict) else list(score)
    scores = [_score_spec(s, task) for s in scores]
    if timed is not None and not (isinstance(timed, (int, float)) and timed >= 1):
        raise ValueError(f"probe {task!r}: timed={timed!r} is not a factor >= 1")

    def mark(fn):
        fn.__probe__ = {"task": str(task), "rtol": float(rtol), "atol": float(atol),
                        "reveal": bool(reveal), "ops": tuple(str(o) for o in ops),
                        "score": [dict(s) for s in scores],
                        "timed": None if timed is None else float(timed)}
        return fn
    return mark


METRICS = ("accuracy", "bits")
_SCORE_KEYS = {"predictions", "truth", "metric", "at_least", "at_most", "examples", "hint"}


def _score_spec(s, task) -> dict:
    """``s`` checked against the contract of ``probe``'s ``score`` (ValueError)."""
    where = f"probe {task!r}: score {s!r}"
    if not isinstance(s, dict):
        raise ValueError(f"{where} is not a dict")
    if set(s) - _SCORE_KEYS:
        raise ValueError(f"{where} has unknown keys {sorted(set(s) - _SCORE_KEYS)}")
    for key in ("predictions", "truth"):
        if not isinstance(s.get(key), str):
            raise ValueError(f"{where} needs {key!r}: the result's key (a str)")
    if s["predictions"] == s["truth"]:
        raise ValueError(f"{where}: predictions and truth are the same key")
    if s.get("metric") not in METRICS:
        raise ValueError(f"{where}: metric {s.get('metric')!r} is not one of {METRICS}")
    bounds = [k for k in ("at_least", "at_most") if k in s]
    if len(bounds) != 1 or isinstance(s[bounds[0]], bool) or \
            not isinstance(s[bounds[0]], (int, float)) or s[bounds[0]] != s[bounds[0]]:
        raise ValueError(f"{where} needs one bound: at_least or at_most, a number")
    for key in ("examples", "hint"):
        if key in s and not isinstance(s[key], str):
            raise ValueError(f"{where}: {key!r} is not a str")
    return dict(s, **{bounds[0]: float(s[bounds[0]])})


def need(ns: dict, name: str):
    """``ns[name]``, or the NameError a notebook gives for a name never assigned."""
    if name not in ns:
        raise NameError(f"name '{name}' is not defined")
    return ns[name]


def load(source: str, where: str = "probes") -> tuple[dict, tuple]:
    """({task: (function, spec)}, SKIP) of a probe module's source."""
    ns: dict = {"__name__": "_grader_probes"}
    exec(compile(source, f"<{where}>", "exec"), ns)
    found = {}
    for value in list(ns.values()):
        spec = getattr(value, "__probe__", None)
        if isinstance(spec, dict) and callable(value):
            if spec["task"] in found:
                raise ValueError(f"{where}: two probes for task {spec['task']!r}")
            found[spec["task"]] = (value, spec)
    return found, tuple(ns.get("SKIP", ()))


PROBE_DIR = "probes"  # beside the solutions: <solutions>/probes/NN_topic.py


@dataclass
class Probes:
    """A seminar's probe module: its source, {task: spec} and the cells it skips."""
    source: str
    specs: dict
    skip: tuple = field(default_factory=tuple)


def load_probes(solution: Path, sem_tasks, steps) -> Probes | None:
    """The probe module of the solution notebook ``solution`` (None: the seminar has none
    and is graded in the kernel); CourseError when it does not fit the solution."""
    path = Path(solution).parent / PROBE_DIR / f"{Path(solution).stem}.py"
    if not path.is_file():
        return None
    source = path.read_text()
    try:
        found, skip = load(source, f"{PROBE_DIR}/{path.name}")
    except Exception as exc:  # noqa: BLE001 - the instructor's file: say what and where
        raise CourseError(f"{PROBE_DIR}/{path.name}: {type(exc).__name__}: {exc}") from None
    tasks = [t for t, _ in sem_tasks]
    kinds = {s.id: s.kind for s in steps}
    problems = [f"task {t!r} has no probe" for t in tasks if t not in found]
    problems += [f"a probe for {t!r}, which is no task" for t in found if t not in tasks]
    problems += [f"SKIP names {c!r}, which is not an instructor cell that is no test"
                 for c in skip if kinds.get(c) != "other"]
    if problems:
        raise CourseError(f"{PROBE_DIR}/{path.name}: " + "; ".join(problems))
    return Probes(source, {t: spec for t, (_, spec) in found.items()}, tuple(skip))


# ----------------------------------------------------------------------------- the meta run
class DeviceError(RuntimeError):
    """A tensor on the CPU met one on the model's device in a run on ``meta``."""


def on_meta(run, *modules):
    """``run()`` once as on a GPU that holds no numbers: ``modules`` (``nn.Module``s, e.g.
    the student's model) are moved to the ``meta`` device first, and ``run`` must move
    everything it computes with there (call the student's loop with ``device="meta"``).
    An operator that gets a tensor on ``meta`` and one elsewhere (other than a 0-d tensor,
    or an index: a GPU takes those too) raises DeviceError, also when the student's code
    catches it; its text says which operator. As on a GPU, ``.item()``, ``float(t)``,
    ``.tolist()``, ``.cpu()`` and copies into CPU tensors work, but there are no numbers:
    they give NaN (floats), 0 or False, so control flow on values (an early stop, a NaN
    check) may take another path than on real data. Returns what ``run()`` returned (its
    tensors on ``meta``: report facts, such as shapes or ``"ran on meta": True``)::

        model = need(ns, "make_model")()
        on_meta(lambda: need(ns, "train")(model, X, y, epochs=1, device="meta"), model)
    """
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten

    aten = torch.ops.aten
    indexing = {aten.index.Tensor, aten.index_put_.default, aten.index_put.default,
                aten._index_put_impl_.default}

    def blank(t, device, out=None):  # what a copy off the device holds: no numbers
        fill = float("nan") if t.is_floating_point() or t.is_complex() else 0
        if out is not None:
            return out.fill_(fill)
        return torch.full(t.shape, fill, dtype=t.dtype, device=device)

    class Meta(TorchDispatchMode):
        error = None

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            tensors = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
            if func is aten._local_scalar_dense.default and tensors[0].is_meta:
                t = tensors[0]
                return float("nan") if t.is_floating_point() else bool(0) \
                    if t.dtype == torch.bool else 0
            if func is aten._to_copy.default and tensors[0].is_meta and \
                    torch.device(kwargs.get("device") or "meta").type != "meta":
                out = func(*args, **dict(kwargs, device="meta"))
                return blank(out, kwargs["device"])
            if func is aten.copy_.default and not tensors[0].is_meta and tensors[1].is_meta:
                return blank(tensors[0], None, out=tensors[0])
            devices = {t.device.type for t in tensors if t.is_meta or t.dim() > 0}
            if "meta" in devices and len(devices) > 1 and func not in indexing and \
                    func is not aten.copy_.default:
                others = sorted(devices - {"meta"})
                self.error = DeviceError(
                    f"aten::{func.__name__.split('.')[0]} got a tensor on {' and '.join(others)} "
                    "and one on the model's device (meta): a batch or a "
                    "tensor your code made was not moved to the model's device "
                    "(the grader runs your loop once with the model on the meta device; "
                    "use .to(device))")
                raise self.error
            return func(*args, **kwargs)

    for m in modules:
        m.to("meta")
    mode = Meta()
    with mode:
        out = run()
    if mode.error is not None:  # caught by the student's code: still the loop's error
        raise DeviceError(str(mode.error))
    return out


# ----------------------------------------------------------------------------- framing
def send(sock, message: dict) -> None:
    data = plain.dumps(message)
    sock.sendall(HEADER.pack(len(data)) + data)


def recv(sock) -> dict:
    """One message (blocking, the socket's own timeout); EOFError when it closes,
    plain.Malformed when it is not a JSON object of at most plain.MAX_BYTES."""
    def exact(n):
        buf = bytearray()
        while len(buf) < n:
            chunk = sock.recv(min(n - len(buf), 1 << 20))
            if not chunk:
                raise EOFError("the probe process closed its channel")
            buf += chunk
        return bytes(buf)

    (size,) = HEADER.unpack(exact(HEADER.size))
    if size > plain.MAX_BYTES:
        raise plain.Malformed(f"a message of {size} bytes (at most {plain.MAX_BYTES})")
    return plain.loads(exact(size))


# ----------------------------------------------------------------------------- the process
def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` (all its threads, and its children it
    waited for), from ``/proc/<pid>/stat``: what the kernel counted, which nothing in the
    process can change; None where there is no such file."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
        fields = raw[raw.rindex(b")") + 2:].split()  # after the name, which may hold ")"
        ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime
        return ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _text(exc) -> str:
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - a student's exception whose __str__ raises
        text = ""
    return text[:1000]


def _error(exc, phase: str, at: str, answers) -> dict:
    """What the grader needs to word the exception: its type and text, and the innermost
    frame in one of the answer cells (cell id, line)."""
    cell, line = None, None
    tb = exc.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if name.startswith("<cell ") and name[6:-1] in answers:
            cell, line = name[6:-1], tb.tb_lineno
        tb = tb.tb_next
    return {"ename": type(exc).__name__[:100], "evalue": _text(exc), "cell": cell,
            "line": line, "phase": phase, "at": at}


def run(sock) -> int:
    """Run one job received on ``sock`` (module docstring); the exit code to use."""
    import numpy as np

    job = recv(sock)["job"]
    probes, _ = load(job["probes"], "grader probes")
    fn = probes[job["task"]][0]
    answers, own = set(job["answers"]), set(job["own"])
    main = types.ModuleType("__main__")
    main.__dict__["__builtins__"] = builtins
    sys.modules["__main__"] = main
    ns = main.__dict__
    plt = sys.modules.get("matplotlib.pyplot")
    for i, (cid, src) in enumerate(job["cells"]):
        send(sock, {"cell": i})
        try:
            exec(compile(src, f"<cell {cid}>", "exec"), ns)
        except BaseException as exc:  # noqa: BLE001 - a notebook goes on after an error
            if cid in own:
                send(sock, {"error": _error(exc, "cell", cid, answers)})
                return 0
        finally:
            if plt is not None or "matplotlib.pyplot" in sys.modules:
                plt = sys.modules["matplotlib.pyplot"]
                plt.close("all")
    send(sock, {"cell": len(job["cells"])})
    try:
        seed = recv(sock)["seed"]  # only now: no cell knows the probe's inputs
        result = plain.encode(fn(ns, np.random.default_rng(seed)))
    except BaseException as exc:  # noqa: BLE001 - reported, and the task fails
        send(sock, {"error": _error(exc, "probe", job["task"], answers)})
        return 0
    send(sock, {"result": result})
    return 0


def start(sock, msg: dict, prepare) -> None:
    """The warm zygote's child turned probe process: bounded (``prepare``: the warm child's
    folders, silence, memory limit and threads), confined and guarded like a kernel
    before the job arrives; never returns."""
    try:
        sandbox = msg.get("sandbox")
        prepare(msg["cwd"], msg["memory_mb"], msg["threads"], sandbox)
        if sandbox is not None:
            from . import confine

            confine.set_dumpable(True)
            confine.install(sandbox["disk_mb"])
        from pathlib import Path  # of the guard, its audit hook only: no cell to restore

        guard: dict = {"__name__": "_grader_guard"}
        exec(compile(Path(__file__).with_name("guard.py").read_text(), "<grader guard>",
                     "exec"), guard)
        sys.addaudithook(guard["_audit_hook"](os.path.realpath(d) for d in
                                              msg["probe"]["deny"]))
    except BaseException:  # noqa: BLE001 - report nothing: "the process died"
        os._exit(70)
    child(sock)


def child(sock) -> None:
    """The body of a probe process (already bounded and confined); never returns."""
    code = 70
    try:
        code = run(sock)
    except BaseException:  # noqa: BLE001 - nothing reported: "the process died"
        code = 70
    finally:
        try:
            sock.close()
        finally:
            os._exit(code)
