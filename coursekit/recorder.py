"""The recorder of what runs in a probe process (issue 25, "Rules on what runs"; README,
"Verdicts out of the student's process": what it records, when, and what a student who
attacks it can still do).

A task's ``forbid`` rules (``"numpy.linalg.inv"``, ``"torch"``, ``".backward"``) are resolved
to objects in the fresh process before any cell runs and recorded by a profile hook
(``sys.setprofile``, and ``threading.setprofile``; 3.12's ``sys.monitoring`` is not used):
functions by code object, builtins by identity, classes by their methods' code, modules by
the files of the code entered and the module of the builtins called, ``".m"`` by the name
of a library function or builtin method. A probe's ``ops`` (``"aten::convolution"``) are
recorded by a ``TorchDispatchMode`` (also the operators autograd's backward runs below
Python on this thread). A use counts only while the student's code is on the stack
(``is_student``: the answer cells, code the student built at run time whatever file name it
claims, files outside the libraries); the instructor's cells and the probes are trusted by
identity. Counting starts at the task's first answer cell (``arm``); calls that remove the
hook or the mode are recorded as ``TAMPER`` at any time, and so is a hook or mode missing
at the end. ``finish()`` returns the record (``coursekit/record.py`` reads it).
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import re
import sys
import sysconfig
import threading
import types
from pathlib import Path

from .record import MAX_ENTRIES, TAMPER

_WATCH = frozenset({"compile", "code.__new__"})
_TORCH_TAMPER = re.compile(r"^_(pop_torch_dispatch_stack|set_dispatch_mode|unset_dispatch_mode|"
                           r"dispatch_tls_set_dispatch_key_(ex|in)cluded)$")
_FUNC_TYPES = (types.FunctionType, types.MethodType)
_RESUMABLE = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR


def _library_roots() -> tuple:
    """Folders of code no student wrote: Python's, the environment's, the course's."""
    repo = Path(__file__).resolve().parent.parent
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             str(repo / "utils"), str(repo / "coursekit")}
    paths |= {v for k, v in sysconfig.get_paths().items() if k in ("stdlib", "platstdlib",
                                                                  "purelib", "platlib")}
    return tuple(sorted({os.path.join(q, "") for p in paths if p
                         for q in (p, os.path.realpath(p))}))


def _codes(obj, seen=None) -> list:
    """Code objects of a function, class or code object, with the ones nested in them."""
    seen = set() if seen is None else seen
    out = []
    if isinstance(obj, (staticmethod, classmethod)):
        obj = obj.__func__
    if isinstance(obj, property):
        return [c for f in (obj.fget, obj.fset, obj.fdel) if f for c in _codes(f, seen)]
    while isinstance(obj, _FUNC_TYPES) or hasattr(obj, "__wrapped__"):
        if isinstance(obj, types.MethodType):
            obj = obj.__func__
        if isinstance(obj, types.FunctionType):
            out += _codes(obj.__code__, seen)
        nxt = getattr(obj, "__wrapped__", None)
        if nxt is None or nxt is obj:
            break
        obj = nxt
    if isinstance(obj, types.CodeType) and id(obj) not in seen:
        seen.add(id(obj))
        out.append(obj)
        for c in obj.co_consts:
            if isinstance(c, types.CodeType):
                out += _codes(c, seen)
    return out


def _owner(fn) -> str:
    """The module a builtin belongs to ('' when unknown)."""
    mod, s = getattr(fn, "__module__", None), getattr(fn, "__self__", None)
    if isinstance(mod, str) and mod:
        return mod
    if isinstance(s, types.ModuleType):
        return s.__name__
    return (s.__module__ if isinstance(s, type) else type(s).__module__) if s is not None else ""


def _helper(fn, module: str) -> bool:
    """A private builtin of another module imported into ``module`` (``torch.autograd``
    holds ``torch._C._has_torch_function``, which every torch function calls): not the
    module's own computation."""
    owner = _owner(fn)
    return getattr(fn, "__name__", "").startswith("_") and not (
        owner == module or owner.startswith(module + "."))


def _what(fn) -> str:
    return f"{_owner(fn)}.{getattr(fn, '__qualname__', None) or getattr(fn, '__name__', '?')}"


class Recorder:
    """Records uses of ``forbid`` rules and ATen ``ops`` by the student's code (module
    docstring). ``answers``: the seminar's answer cell ids."""

    def __init__(self, forbid=(), ops=(), answers=(), library=()):
        self.forbid, self.ops = tuple(forbid), tuple(ops)
        self.answer_files = {f"<cell {a}>" for a in answers}
        self.roots = _library_roots() + tuple(library)  # files of code nobody forged
        self.student_files = set(self.answer_files)
        self.trusted: dict = {}  # id(code) -> code: the instructor's cells and the probes
        self.codes: dict = {}  # id(code) -> (rule, code)
        self.builtins: dict = {}  # id(builtin) -> (rule, builtin)
        self.methods: dict = {}  # method name -> rule (".m" rules)
        self.prefixes: list = []  # (file or folder, rule): module rules
        self.modnames: list = []  # (module name, rule): module rules, for builtins
        self.bound: dict = {}  # (type, name) -> rule: methods of C classes
        self.unresolved: list = []
        self.record: list = []
        self.seen_rules: set = set()
        self.armed = self.active = False
        self.quiet = 0
        self._student_cache: dict = {}
        self._call_cache: dict = {}
        self._c_cache: dict = {}  # id(builtin) -> (builtin, rule or None)
        self._m_cache: dict = {}  # (class, method name) -> rule or None
        self._tamper_builtins: dict = {id(sys.setprofile): sys.setprofile}
        self._tamper_codes = {id(c): c for f in (threading.setprofile, getattr(
            threading, "setprofile_all_threads", None)) for c in _codes(f)}
        self._mode = self._profile = None
        self._last = (None, (None, None))  # a frame, and _student_frame's answer for it
        for rule in self.forbid:
            try:
                self._resolve(rule)
            except Exception as exc:  # noqa: BLE001 - the syntax check still holds it
                self.unresolved.append(f"{rule}: {type(exc).__name__}: {exc}")
        if self.ops:
            self._torch_tamper()

    # ------------------------------------------------------------------------- rules
    def _resolve(self, rule: str) -> None:
        if rule.startswith("."):
            self.methods[rule.rsplit(".", 1)[-1]] = rule
            return
        parts = rule.split(".")
        for k in range(len(parts), 0, -1):
            name = ".".join(parts[:k])
            if name in sys.modules:
                break
            if k == len(parts) and (k == 1 or ".".join(parts[:k - 1]) in sys.modules):
                try:
                    spec = importlib.util.find_spec(name)
                except (ImportError, ValueError):  # an attribute, not a module
                    spec = None
                if spec is not None and spec.origin:  # a module not imported yet: files
                    self._module_files(spec.origin, spec.submodule_search_locations, rule)
                    self.modnames.append((name, rule))
                    return
        else:
            k = 1
        obj = importlib.import_module(".".join(parts[:k]))
        for p in parts[k:]:
            obj = getattr(obj, p)
        self._add(obj, rule)

    def _module_files(self, origin, locations, rule) -> None:
        if locations:
            for loc in locations:
                self.prefixes.append((os.path.join(os.path.realpath(loc), ""), rule))
                self.prefixes.append((os.path.join(loc, ""), rule))
        elif origin:
            self.prefixes += [(os.path.realpath(origin), rule), (origin, rule)]

    def _add(self, obj, rule: str) -> None:
        if isinstance(obj, types.ModuleType):
            file = getattr(obj, "__file__", None)
            if file is None:  # a module-like object (torch.ops, torch._VF): its class's file
                file = getattr(sys.modules.get(type(obj).__module__), "__file__", None)
                locs = None
            else:
                locs = getattr(obj, "__path__", None)
            if file:
                self._module_files(file, list(locs) if locs else None, rule)
            self.modnames.append((obj.__name__, rule))
            for name in vars(obj).get("__all__", ()):  # its API, defined elsewhere or not
                v = vars(obj).get(name)  # (getattr could import a lazy submodule)
                if isinstance(v, types.FunctionType):
                    self._add(v, rule)
            for v in list(vars(obj).values()):  # its builtins, whatever module they name,
                if isinstance(v, types.BuiltinFunctionType) and \
                        isinstance(getattr(v, "__self__", None), types.ModuleType | type(None)) \
                        and not _helper(v, obj.__name__):  # but another's private helpers
                    self.builtins.setdefault(id(v), (rule, v))
            return
        if isinstance(obj, type):
            for name, v in vars(obj).items():
                found = _codes(v)
                for c in found:
                    self.codes.setdefault(id(c), (rule, c))
                if not found and callable(v) and not isinstance(v, type):
                    self.bound[(obj, name)] = rule
            return
        found = _codes(obj)
        for c in found:
            self.codes.setdefault(id(c), (rule, c))
        if isinstance(obj, types.BuiltinFunctionType):
            self.builtins[id(obj)] = (rule, obj)
        elif not found:
            raise ValueError(f"{type(obj).__name__} is neither a function, a class nor a module")

    def _torch_tamper(self) -> None:
        torch_c = sys.modules.get("torch._C")
        if torch_c is not None:
            for name, v in vars(torch_c).items():
                if _TORCH_TAMPER.search(name) and isinstance(v, types.BuiltinFunctionType):
                    self._tamper_builtins[id(v)] = v
        pd = sys.modules.get("torch.utils._python_dispatch")
        if pd is not None:  # popping the mode, in Python
            for f in (pd._pop_mode, pd._pop_mode_temporarily, pd._disable_current_modes,
                      pd.TorchDispatchMode.__exit__):
                self._tamper_codes.update((id(c), c) for c in _codes(f))

    # ------------------------------------------------------------------------- frames
    def trust(self, obj) -> None:
        """Mark the instructor's code (a cell's code object, the probe functions) trusted."""
        for c in _codes(obj):
            self.trusted[id(c)] = c
        self._student_cache.clear()
        self._last = (None, (None, None))

    def is_student(self, code) -> bool:
        key = id(code)
        hit = self._student_cache.get(key)
        if hit is not None and hit[0] is code:
            return hit[1]
        if key in self.trusted:
            mine = False
        else:
            name = code.co_filename
            if name in self.student_files:
                mine = True
            elif name.startswith("<"):
                mine = False  # generated by library code (dataclasses, frozen modules)
            else:
                mine = not (os.path.isabs(name) and name.startswith(self.roots))
        self._student_cache[key] = (code, mine)
        return mine

    def _student_frame(self, frame):
        """(innermost student frame, innermost answer-cell frame) on the stack from frame;
        the last frame's answer is kept (a loop of the instructor's calls: one walk)."""
        if frame is self._last[0]:
            return self._last[1]
        found = self._walk(frame)
        if not frame.f_code.co_flags & _RESUMABLE:  # a generator's f_back changes
            self._last = (frame, found)
        return found

    def _walk(self, frame):
        first = None
        while frame is not None:
            code = frame.f_code
            if self.is_student(code):
                if first is None:
                    first = frame
                if code.co_filename in self.answer_files:
                    return first, frame
            frame = frame.f_back
        return first, None

    def _note(self, rule: str, what: str, frame) -> None:
        if rule in self.seen_rules or len(self.record) >= MAX_ENTRIES:
            return
        mine, cell = self._student_frame(frame)
        if mine is None:
            return
        self.seen_rules.add(rule)
        cid = cell.f_code.co_filename[6:-1] if cell is not None else None
        self.record.append({"rule": rule, "what": what[:200], "cell": cid,
                            "line": cell.f_lineno if cell is not None else None})

    # ------------------------------------------------------------------------- hooks
    def _hook(self):
        """The profile function: a closure on the tables (the hot path: every call)."""
        calls, cs, ms, seen = self._call_cache, self._c_cache, self._m_cache, self.seen_rules
        tamper, classify, c_rule, note = (self._tamper_builtins, self._classify,
                                          self._c_rule, self._note)
        lasting = (types.ModuleType, type)

        def profile(frame, event, arg):
            if event == "c_call":
                if self.quiet or not self.active:
                    return
                key = id(arg)
                if key in tamper:
                    return note(TAMPER, f"{_what(arg)} (the recorder was removed)", frame)
                if not self.armed:
                    return
                hit = cs.get(key)
                if hit is None or hit[0] is not arg:
                    s = getattr(arg, "__self__", None)
                    if s is None or isinstance(s, lasting):  # cached by identity
                        hit = cs[key] = (arg, c_rule(arg, s))
                    else:  # a bound method, made for this call: by its class and name
                        k = (type(s), getattr(arg, "__name__", ""))
                        if k not in ms:
                            ms[k] = c_rule(arg, s)
                        hit = (arg, ms[k])
                if hit[1] is not None and hit[1] not in seen:
                    note(hit[1], _what(arg), frame)
            elif event == "call":
                if self.quiet or not self.active:
                    return
                code = frame.f_code
                hit = calls.get(id(code))
                if hit is None or hit[0] is not code:
                    hit = calls[id(code)] = (code, classify(code))
                rule = hit[1]
                if rule is None or rule in seen:
                    return
                what = f"{frame.f_globals.get('__name__', '?')}." \
                    f"{getattr(code, 'co_qualname', code.co_name)}"
                if rule == TAMPER:
                    what = f"{what} (the recorder was removed)"
                elif not self.armed or (rule.startswith(".") and self.is_student(code)):
                    return
                note(rule, what, frame.f_back)
        return profile

    def _c_rule(self, fn, s):
        hit = self.builtins.get(id(fn))
        if hit is not None and hit[1] is fn:
            return hit[0]
        name = getattr(fn, "__name__", "")
        if name in self.methods:
            return self.methods[name]
        rule = None
        if self.bound:
            rule = self.bound.get((s, name)) if isinstance(s, type) else None
            for t in (type(s).__mro__ if s is not None and not isinstance(s, type) else ()):
                rule = rule or self.bound.get((t, name))
        if rule is None and self.modnames:
            owner = _owner(fn)
            rule = next((r for m, r in self.modnames if owner == m or
                         owner.startswith(m + ".")), None)
        return rule

    def _classify(self, code):
        key = id(code)
        if key in self._tamper_codes:
            return TAMPER
        if key in self.codes:
            return self.codes[key][0]
        name = code.co_filename
        for prefix, rule in self.prefixes:
            if name.startswith(prefix) and not self.is_student(code):
                return rule
        return self.methods.get(code.co_name)

    def _audit(self, event, args):
        if not self.active or event not in _WATCH:
            return
        try:
            name = args[1]
            if isinstance(name, bytes):
                name = os.fsdecode(name)
            if not isinstance(name, str) or name in self.student_files:
                return
            caller = sys._getframe(2)  # 0: here, 1: _dispatch_audit, 2: who compiled
            if self.is_student(caller.f_code):
                self.student_files.add(name)  # code the student built, whatever it claims
                self._last = (None, (None, None))
                self._student_cache.clear()
                self._call_cache.clear()
                self._c_cache.clear()
        except Exception:  # noqa: BLE001 - an audit hook must not break the event
            pass

    def _op(self, func):
        name = func._schema.name
        rule = name if name in self.ops else str(func) if str(func) in self.ops else None
        if rule is not None and self.armed and rule not in self.seen_rules:
            self._note(rule, str(func), sys._getframe(2))

    # ------------------------------------------------------------------------- life
    def install(self) -> "Recorder":
        """Start recording (profile hooks, audit hook, the dispatch mode for ``ops``)."""
        self.active = True
        if not getattr(Recorder, "_audit_hooks", None):
            Recorder._audit_hooks = []
            sys.addaudithook(_dispatch_audit)
        Recorder._audit_hooks.append(self)
        if self.ops:
            self._mode = _mode_for(self)
            self._mode.__enter__()
        self._profile = self._hook()
        threading.setprofile(self._profile)
        sys.setprofile(self._profile)
        return self

    def arm(self) -> None:
        """Count from now on (the task's first answer cell, or the probe)."""
        self.armed = True

    def finish(self) -> list:
        """Stop recording; the record (plain data), with an entry when the recorder was
        removed before the end."""
        hook = sys.getprofile()
        self.active = self.armed = False
        self._last = (None, (None, None))
        sys.setprofile(None)
        threading.setprofile(None)
        gone = []
        if hook is not self._profile:
            gone.append("the profile hook")
        if self._mode is not None:
            from torch.utils._python_dispatch import _get_current_dispatch_mode_stack

            stack = _get_current_dispatch_mode_stack()
            if self._mode not in stack:
                gone.append("the dispatch mode")
            elif stack[-1] is self._mode:
                self._mode.__exit__(None, None, None)
        self.active = self.armed = False
        if gone and TAMPER not in self.seen_rules:
            self.seen_rules.add(TAMPER)
            self.record.append({"rule": TAMPER, "what": f"{' and '.join(gone)} of the "
                                "recorder removed (the recorder was removed)", "cell": None,
                                "line": None})
        return list(self.record)


def _dispatch_audit(event, args):
    if event in _WATCH:
        for rec in getattr(Recorder, "_audit_hooks", ()):
            if rec.active:
                rec._audit(event, args)


def _mode_for(rec: Recorder):
    from torch.utils._python_dispatch import TorchDispatchMode

    def dispatch(self, func, types, args=(), kwargs=None):
        rec.quiet += 1
        try:
            if func._schema.name in rec.ops or str(func) in rec.ops:
                rec._op(func)
            return func._op(*args, **(kwargs or {}))  # the C++ operator: no Python frame
        finally:
            rec.quiet -= 1

    class _Ops(TorchDispatchMode):
        pass

    _Ops.__torch_dispatch__ = dispatch  # unwrapped: torch wraps a subclass's own in more frames
    return _Ops()


def start(forbid, ops, answers) -> Recorder | None:
    """A Recorder installed for a task (None when it has neither rules nor ops)."""
    if not forbid and not ops:
        return None
    return Recorder(forbid, ops, answers).install()
