"""The tamper guard (coursekit/guard.py), exercised in this process with ``sys.addaudithook``
replaced (the hook is called directly, never installed: it would refuse every later
subprocess of the test run) and a throwaway ``utils`` package in place of the course's
(conftest.py's ``fake_utils``): what it refuses, what it restores, what it installs."""
import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

from coursekit import guard, notebook


def test_audit_hook_refuses_denied_paths_and_processes(tmp_path):
    denied = tmp_path / "solutions"
    denied.mkdir()
    (tmp_path / "link").symlink_to(denied)
    hook = guard._audit_hook([str(denied), str(tmp_path / "grades")])
    for event, args in (("open", (str(denied / "01.ipynb"), "r")),
                        ("open", (str(denied),)),
                        ("open", (bytes(denied / "x"),)),
                        ("open", (denied / "x",)),
                        ("os.listdir", (str(tmp_path / "link"),)),
                        ("glob.glob/2", ("*", None, str(denied))),
                        ("shutil.copyfile", ("/etc/hostname", str(denied / "x"))),
                        ("os.rename", (str(tmp_path / "a"), str(tmp_path / "grades" / "b")))):
        with pytest.raises(PermissionError) as info:
            hook(event, args)
        assert str(info.value) in (f"the grader does not allow access to solutions/ ({event})",
                                   f"the grader does not allow access to grades/ ({event})")
    for event, args in (("open", (str(tmp_path / "solutions-other"),)),
                        ("open", (str(tmp_path / "solutionsx" / "y"),)),
                        ("open", (3,)), ("open", (None,)), ("open", (object(),)),
                        ("os.listdir", ()), ("glob.glob/2", ("*", None)),
                        ("import", (str(denied),)), ("os.rename", (str(tmp_path / "a"),))):
        assert hook(event, args) is None
    # a position the hook cannot read does not hide the next one
    for first in (None, 3, object()):
        with pytest.raises(PermissionError):
            hook("shutil.copyfile", (first, str(denied / "x")))
    for event in ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
                  "pty.spawn", "os.forkpty", "os.startfile"):
        with pytest.raises(PermissionError) as info:
            hook(event, ("ls",))
        assert str(info.value) == f"the grader does not allow starting processes ({event})"


def test_path_events_cover_every_way_to_read_or_copy():
    assert guard.PATH_EVENTS["glob.glob/2"] == (0, 2)
    assert guard.PATH_EVENTS["shutil.copytree"] == (0, 1)
    assert guard.PATH_EVENTS["shutil.make_archive"] == (0, 2)
    assert {"open", "os.listdir", "os.scandir", "os.chdir", "glob.glob", "os.link",
            "os.symlink", "os.rename", "shutil.copyfile", "shutil.move"} <= set(guard.PATH_EVENTS)
    assert all(positions and all(i in (0, 1, 2) for i in positions)
               for positions in guard.PATH_EVENTS.values())


def test_guarded_attributes():
    g = guard._State._guarded_attr
    assert g("builtins", "len") and g("builtins", "__import__") and g("builtins", "__build_class__")
    assert not g("builtins", "__name__") and not g("builtins", "_x")
    assert g("utils", "_helper") and g("utils.checks", "check") and not g("utils", "__file__")
    assert g("numpy", "mean") and not g("numpy", "_cache") and not g("torch", "__version__")


def test_state_restores_modules_functions_names_and_builtins(monkeypatch, fake_utils):
    import math

    import utils
    import utils.light as light

    ns = {"print": print, "keep": 1}
    st = guard._State(["len"], ns)
    assert st.initial == {"print": print}
    st.snapshot_modules()
    assert {"math", "builtins", "utils", "utils.light"} <= set(st.modules)
    assert "VALUE" in st.modules["utils"][1] and "f" in st.modules["utils.light"][1]
    seen = st.seen
    assert seen == len(sys.modules)
    # an instructor cell bound `data` and `check`
    def check(x):
        return x > 0
    ns.update(data=[1, 2], check=check)
    st.capture(["data", "check", "gone"], ns)
    assert st.names == {"data": [1, 2], "check": check}
    # a student cell tampers with everything
    original_f, original_code = light.f, light.f.__code__
    monkeypatch.setattr(math, "sqrt", lambda x: 0)
    utils.VALUE = 99
    light.f.__code__ = (lambda: "patched").__code__
    check.__defaults__ = (5,)
    ns["data"] = []
    ns["check"] = lambda x: True
    ns["type"] = lambda x: float
    ns["len"] = "the solution's own len"
    ns["print"] = "mine"
    ns["__builtins__"] = {}
    st.restore(ns)
    assert math.sqrt(4) == 2.0 and utils.VALUE == 1
    assert light.f is original_f and light.f.__code__ is original_code and light.f() == "light"
    assert check.__defaults__ is None and ns["check"] is check and ns["data"] == [1, 2]
    assert "type" not in ns and ns["len"] == "the solution's own len"
    assert ns["print"] is print and ns["__builtins__"] is __import__("builtins")
    assert ns["keep"] == 1
    st.capture(["data"], {})  # the cell deleted it: not brought back
    assert "data" not in st.names
    st.snapshot_modules()
    assert st.seen == seen  # nothing imported since: no new look


def test_state_restores_class_methods(monkeypatch):
    fake_torch = types.ModuleType("torch")

    class Tensor:
        def add(self):
            return "add"
    fake_torch.Tensor = Tensor
    monkeypatch.setitem(sys.modules, "torch", fake_torch)
    st = guard._State([], {})
    st.snapshot_modules()
    assert "torch.Tensor" in st.classes and "torch" in st.modules
    Tensor.add = lambda self: "patched"
    Tensor.extra = lambda self: "new"
    st.restore({})
    assert Tensor().add() == "add" and not hasattr(Tensor, "extra")


def test_install_snapshots_light_utils_and_answers_sync(monkeypatch, fake_utils):
    hooks = []
    monkeypatch.setattr(sys, "addaudithook", hooks.append)
    monkeypatch.delitem(sys.modules, "_grader_t0", raising=False)
    guard.install(["/nowhere/solutions"], "t0", ["x"])
    handle = sys.modules.pop("_grader_t0")
    assert handle.__name__ == "_grader_t0" and len(hooks) == 1
    assert "utils.light" in sys.modules and "utils._private" not in sys.modules
    assert "utils.broken" not in sys.modules
    # what imports the heavy package (torch) waits for the notebook to import it
    assert not {"fakeheavy", "utils.heavy", "utils.onheavy"} & set(sys.modules)
    with pytest.raises(PermissionError):
        hooks[0]("open", ("/nowhere/solutions/a",))
    import utils.light as light
    light.X = 5
    handle.sync([], False)
    assert light.X == 5  # remembered only
    handle.sync()
    assert light.X == 5  # restore is off unless asked for
    handle.sync([], True)
    assert light.X == 2  # restored
    handle.sync([], True)
    assert "utils.heavy" not in sys.modules  # still no fakeheavy: still waiting
    import fakeheavy  # noqa: F401 - the setup cell imports torch
    handle.sync([], False)  # the sync after it imports and snapshots the rest
    import utils.heavy as heavy
    import utils.onheavy as onheavy
    heavy.X, onheavy.Y = "patched", "patched"
    handle.sync([], True)
    assert (heavy.X, onheavy.Y) == ("heavy", "heavy")


def test_install_leaves_torch_to_the_setup_cell():
    """The course's own utils: the guard, installed in a fresh process, snapshots the light
    modules and imports no torch (whose import, seconds in a cold kernel, would count
    against the guard's install limit); the modules built on torch wait for it."""
    code = ("import json, sys\n"
            f"exec(compile(open({str(Path(guard.__file__))!r}).read(), 'guard', 'exec'))\n"
            "install([], 'tok')\n"
            "import utils\n"
            "print(json.dumps({'torch': 'torch' in sys.modules, 'split': light_modules(utils),"
            "'loaded': sorted(m for m in sys.modules if m.startswith('utils.'))}))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=notebook.REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    light, heavy = got["split"]
    assert {"charlm", "rnn", "stacked", "transformer"} <= set(heavy)
    assert {"checks", "data", "seed", "training", "text", "check"} <= set(light)
    assert not set(light) & set(heavy) and not got["torch"]
    assert got["loaded"] == sorted(f"utils.{m}" for m in light)


def test_install_works_on_the_ipython_namespace(monkeypatch, fake_utils):
    ns = {"len": len}
    shell = types.SimpleNamespace(user_ns=ns)
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    monkeypatch.setattr(sys, "addaudithook", lambda hook: None)
    monkeypatch.delitem(sys.modules, "_grader_t1", raising=False)
    guard.install([], "t1", ["data"])
    handle = sys.modules.pop("_grader_t1")
    ns["data"] = [1]
    handle.sync(["data"], False)  # an instructor cell bound it
    ns["data"] = []  # a student cell rebinds it
    ns["abs"] = "mine"  # and shadows a builtin
    handle.sync([], True)
    assert ns == {"len": len, "data": [1], "__builtins__": __import__("builtins")}


def test_install_without_a_utils_package(monkeypatch, tmp_path):
    for k in [k for k in sys.modules if k == "utils" or k.startswith("utils.")]:
        monkeypatch.delitem(sys.modules, k)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if not (
        __import__("pathlib").Path(p or ".") / "utils").is_dir()])
    monkeypatch.setattr(sys, "meta_path", [f for f in sys.meta_path
                                           if "editable" not in type(f).__module__
                                           and "editable" not in getattr(f, "__module__", "")])
    monkeypatch.setattr(sys, "addaudithook", lambda hook: None)
    monkeypatch.delitem(sys.modules, "_grader_t2", raising=False)
    guard.install([], "t2")
    assert "utils" not in sys.modules
    assert callable(sys.modules.pop("_grader_t2").sync)


def test_guarded_attributes_of_utils_submodules():
    g = guard._State._guarded_attr
    assert g("utils.checks", "_helper") and g("utils.data", "_cache")  # private helpers too
    assert g("utils.checks", "__private") and g("utils", "trailing__")  # not dunders
    assert not g("utils.checks", "__name__") and not g("numpy.testing", "_private")


def test_state_restores_deleted_values_even_none_and_function_defaults(fake_utils):
    (fake_utils / "__init__.py").write_text(
        "NOTHING = None\n\ndef g(a=1, *, b=2):\n    return a + b\n")
    import utils

    ns = {}
    st = guard._State([], ns)
    st.snapshot_modules()
    ns["best"] = None  # an instructor cell bound best = None
    st.capture(["best"], ns)
    # a student cell deletes them and patches the helper's code and defaults
    del ns["best"], utils.NOTHING
    utils.g.__code__ = (lambda a=0, *, b=0: -1).__code__
    utils.g.__defaults__, utils.g.__kwdefaults__ = (10,), {"b": 20}
    st.restore(ns)
    assert ns["best"] is None and utils.NOTHING is None
    assert utils.g.__defaults__ == (1,) and utils.g.__kwdefaults__ == {"b": 2}
    assert utils.g() == 3


def test_a_later_snapshot_keeps_the_first_values(fake_utils, monkeypatch):
    """Modules imported after the first snapshot are added; what was snapshotted before
    (utils, torch.Tensor) is not re-read with a student's changes in it."""
    (fake_utils / "later.py").write_text("X = 'later'\n")
    fake_torch = types.ModuleType("torch")

    class Tensor:
        cache = None

        def add(self):
            return "add"
    fake_torch.Tensor = Tensor
    monkeypatch.setitem(sys.modules, "torch", fake_torch)
    import utils

    st = guard._State([], {})
    st.snapshot_modules()
    utils.VALUE = 99  # a student cell tampers
    Tensor.add = lambda self: "patched"
    del Tensor.cache
    sys.modules["utils.weird"] = object()  # not a module: skipped, the later ones still read
    import utils.later as later

    st.capture([], {})  # after the next instructor cell: a new look (utils.later appeared)
    assert "utils.later" in st.modules and "utils.weird" not in st.modules
    later.X = "patched"
    st.restore({})
    assert utils.VALUE == 1 and later.X == "later"
    assert Tensor().add() == "add" and Tensor.cache is None
