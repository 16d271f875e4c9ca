"""What the grader installs inside a grading kernel before any notebook cell runs.

Not imported by the grader: ``coursekit.sandbox`` sends this file's source to the kernel,
runs it in a namespace of its own and calls ``install``. Nothing is bound in the
notebook's namespace; the kernel-side state is reachable as
``sys.modules["_grader_<token>"]`` (a random token per kernel) for the grader's own
(history-free) calls ``sync``.

1. **Out of reach** (``sys.addaudithook``, which cannot be removed): opening, listing,
   globbing, copying, linking or renaming any path whose real path lies under one of the
   denied folders (the checkout's ``solutions/``, ``tests/``, ``.git``, ``build/``,
   ``grades/``, the submissions being graded) raises ``PermissionError``, and so does
   starting a process (``subprocess``, ``os.system``, ``os.exec*``, ``os.posix_spawn``,
   ``os.spawn*``): a seminar never needs one.
2. **Tamper guard**: ``install`` imports NumPy, ``utils`` and its light submodules (those
   that do not import torch at their top level, directly or through another ``utils``
   module: ``light_modules``) and takes their snapshot before any notebook cell, so that
   the guard never pays for torch's import in a cold kernel; torch, and the ``utils``
   modules built on it, are imported and snapshotted at the first ``sync`` after the
   setup cell imported torch, still before any student cell. ``sync(capture, restore)``
   records, after an instructor cell ran, the values of the names it bound (and the code
   of functions among them), and puts them back before the next instructor cell,
   together with every attribute of the guarded modules (``utils`` and its submodules,
   NumPy, torch, their testing modules, ``torch.nn.functional``, ``math``,
   ``builtins``) and of ``torch.Tensor`` / ``torch.nn.Module`` that a student cell
   replaced, and it removes student names that shadow a builtin (``type``, ``abs``,
   ``float``).

A guard against shortcuts (a student cell that peeks at the solution or patches a
check), not a security boundary: code that sets out to break it can (``ctypes``, ``gc``).
"""
import builtins
import os
import sys
import types

GUARDED = ("builtins", "math", "numpy", "numpy.testing", "torch", "torch.testing",
           "torch.nn.functional", "utils")  # and every utils.* submodule
EAGER = ("math", "numpy", "numpy.testing", "utils")  # and utils.*: snapshot at start
HEAVY = ("torch",)  # a utils module importing one of these waits for the notebook's import
CLASSES = (("torch", "Tensor"), ("torch.nn", "Module"))
BUILTIN_KEEP = ("__import__", "__build_class__")  # the dunders of builtins we restore

# audit event -> positions of its path arguments
PATH_EVENTS = {
    "open": (0,), "os.listdir": (0,), "os.scandir": (0,), "os.chdir": (0,),
    "glob.glob": (0,), "glob.glob/2": (0, 2), "os.link": (0, 1), "os.symlink": (0,),
    "os.rename": (0, 1), "os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,),
    "os.truncate": (0,), "os.chmod": (0,), "os.chown": (0,), "os.utime": (0,),
    "os.listxattr": (0,), "os.getxattr": (0,), "os.setxattr": (0,),
    "os.removexattr": (0,), "shutil.copyfile": (0, 1), "shutil.copymode": (0, 1),
    "shutil.copystat": (0, 1), "shutil.copytree": (0, 1), "shutil.rmtree": (0,),
    "shutil.move": (0, 1), "shutil.make_archive": (0, 2), "shutil.unpack_archive": (0, 1),
}
SPAWN_EVENTS = frozenset({"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn",
                          "os.spawn", "os.startfile", "pty.spawn", "os.forkpty"})


def _audit_hook(denied):
    """The hook: PermissionError for a denied path or a new process."""
    denied = tuple(denied)
    watched = frozenset(PATH_EVENTS) | SPAWN_EVENTS
    realpath, fspath, fsdecode, events = os.path.realpath, os.fspath, os.fsdecode, PATH_EVENTS

    def hook(event, args):
        if event not in watched:
            return
        if event in SPAWN_EVENTS:
            raise PermissionError(f"the grader does not allow starting processes ({event})")
        for i in events[event]:
            if i >= len(args):
                continue
            path = args[i]
            if path is None or isinstance(path, int):
                continue
            try:
                path = fsdecode(fspath(path))
            except TypeError:
                continue
            real = realpath(path)
            for d in denied:
                if real == d or real.startswith(d + os.sep):
                    raise PermissionError(f"the grader does not allow access to "
                                          f"{os.path.basename(d)}/ ({event})")

    return hook


class _State:
    def __init__(self, solution_names, ns):
        self.names = {}  # user name -> value bound by an instructor cell
        self.code = {}  # id(function) -> (function, __code__, __defaults__, __kwdefaults__)
        self.modules = {}  # module name -> (module, {attr: value})
        self.classes = {}  # qualified name -> (class, {attr: value})
        self.solution_names = frozenset(solution_names)
        self.seen = 0  # len(sys.modules) at the last snapshot
        # what IPython itself puts there (exit, quit, open, get_ipython): kept as it was
        self.initial = {k: v for k, v in ns.items() if k in _BUILTIN_NAMES}

    # ------------------------------------------------------------- snapshots
    def _remember_function(self, value):
        if isinstance(value, types.FunctionType):
            self.code.setdefault(id(value), (value, value.__code__, value.__defaults__,
                                             value.__kwdefaults__))

    def snapshot_modules(self):
        if len(sys.modules) == self.seen:  # nothing imported since the last look
            return
        self.seen = len(sys.modules)
        for name in list(sys.modules):
            if name in self.modules or not (name in GUARDED or name.startswith("utils.")):
                continue
            mod = sys.modules[name]
            if not isinstance(mod, types.ModuleType):
                continue
            attrs = {k: v for k, v in vars(mod).items() if self._guarded_attr(name, k)}
            self.modules[name] = (mod, attrs)
            if name == "utils" or name.startswith("utils."):
                for v in attrs.values():
                    self._remember_function(v)
        for modname, cls in CLASSES:
            key = f"{modname}.{cls}"
            mod = sys.modules.get(modname)
            if key not in self.classes and mod is not None and hasattr(mod, cls):
                klass = getattr(mod, cls)
                self.classes[key] = (klass, dict(vars(klass)))

    @staticmethod
    def _guarded_attr(module, attr):
        if module == "builtins":
            return not attr.startswith("_") or attr in BUILTIN_KEEP
        if module == "utils" or module.startswith("utils."):
            return not (attr.startswith("__") and attr.endswith("__"))
        return not attr.startswith("_")  # NumPy and torch keep private caches

    def capture(self, names, ns):
        for n in names:
            if n in ns:
                self.names[n] = ns[n]
                self._remember_function(ns[n])
            else:  # the cell deleted it (del big_tensor): do not bring it back
                self.names.pop(n, None)
        self.snapshot_modules()

    # ------------------------------------------------------------- restoring
    def restore(self, ns):
        for name, (mod, attrs) in self.modules.items():
            sys.modules[name] = mod
            current = vars(mod)
            for k, v in attrs.items():
                if current.get(k, _MISSING) is not v:
                    setattr(mod, k, v)
        for klass, attrs in self.classes.values():  # a method added or replaced
            current = vars(klass)
            for k in [k for k in current if k not in attrs]:
                type.__delattr__(klass, k)
            for k, v in attrs.items():
                if k not in ("__dict__", "__weakref__", "__doc__") and \
                        current.get(k, _MISSING) is not v:
                    type.__setattr__(klass, k, v)
        for fn, code, defaults, kwdefaults in self.code.values():
            if fn.__code__ is not code:
                fn.__code__ = code
            if fn.__defaults__ is not defaults:
                fn.__defaults__ = defaults
            if fn.__kwdefaults__ is not kwdefaults:
                fn.__kwdefaults__ = kwdefaults
        for name, value in self.names.items():
            if ns.get(name, _MISSING) is not value:
                ns[name] = value
        for name in [n for n in ns if n in _BUILTIN_NAMES and n not in self.solution_names]:
            if name not in self.initial:
                del ns[name]
            elif ns[name] is not self.initial[name]:
                ns[name] = self.initial[name]
        ns["__builtins__"] = builtins


_MISSING = object()
_BUILTIN_NAMES = frozenset(n for n in dir(builtins) if not n.startswith("_"))


def light_modules(utils) -> tuple[list, list]:
    """([light], [heavy]) submodule names of the ``utils`` package (not ``_private``
    ones): heavy when its top level (outside functions and classes) imports a ``HEAVY``
    package or a heavy ``utils`` module; read from the source, nothing imported."""
    import ast
    import pkgutil

    needs = {}
    for info in pkgutil.iter_modules(getattr(utils, "__path__", [])):
        if info.name.startswith("_"):
            continue
        try:
            spec = info.module_finder.find_spec(info.name)
            with open(spec.origin, encoding="utf-8") as f:
                tree = ast.parse(f.read())
        except Exception:  # noqa: BLE001 - unreadable: its import fails where it is used
            needs[info.name] = set()
            continue
        found, todo = set(), list(tree.body)
        while todo:
            node = todo.pop()
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = "utils" if node.level else node.module or ""
                base = f"{base}.{node.module}" if node.level and node.module else base
                found |= {base} | {f"{base}.{a.name}" for a in node.names}
            todo += list(ast.iter_child_nodes(node))
        needs[info.name] = found
    heavy = set()
    while True:
        more = {n for n, found in needs.items() if n not in heavy and any(
            m.split(".")[0] in HEAVY or (m.startswith("utils.") and m[6:] in heavy)
            for m in found)}
        if not more:
            break
        heavy |= more
    return sorted(set(needs) - heavy), sorted(heavy)


def _import_utils(names) -> None:
    for name in names:
        try:
            __import__(f"utils.{name}")
        except Exception:  # noqa: BLE001 - a broken helper module fails where it is used
            pass


def install(denied, token, solution_names=()):
    """Called once, first thing in a fresh kernel."""
    sys.addaudithook(_audit_hook(os.path.realpath(d) for d in denied))
    ip = sys.modules.get("IPython")
    shell = ip.get_ipython() if ip is not None else None
    ns = shell.user_ns if shell is not None else {}
    state = _State(solution_names, ns)
    for name in EAGER:
        try:
            __import__(name)
        except ImportError:
            pass
    light, heavy = light_modules(sys.modules.get("utils"))
    _import_utils(light)  # snapshot before any student cell can patch them
    state.snapshot_modules()
    handle = types.ModuleType(f"_grader_{token}")

    def sync(capture=(), restore=False):
        """After an instructor cell: remember what it bound; before one: restore."""
        if heavy and any(h in sys.modules for h in HEAVY):  # the setup cell imported torch
            _import_utils(heavy)
            heavy.clear()
        state.capture(capture, ns)
        if restore:
            state.restore(ns)

    handle.sync = sync
    sys.modules[handle.__name__] = handle
