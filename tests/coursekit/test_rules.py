"""What the forbid rules read (coursekit/rules.py): imports, aliases, getattr with a fixed or a
computed name, text, answer cells that do not parse, functions that call each other, the
names an answer binds."""
import threading

import pytest

from coursekit import rules


SETUP = "import numpy as np\nimport torch\nimport torch.nn.functional as F\n"


LONG = "a" * 51  # "<LONG>.backward" is 60 characters


def found(rule, source, earlier=(), context=(SETUP,)):
    broken = rules.broken_rule([rule], [("answer-x", source)], list(earlier), list(context))
    return broken and broken.message().split("; your cell ")[1]


@pytest.mark.parametrize("rule, source, where", [
    # getattr with a constant name is the attribute, written as the student wrote it
    ("torch.nn.functional.cross_entropy", 'loss = getattr(F, "cross_entropy")(Z, y)\n',
     """'answer-x', line 1 uses getattr(F, "cross_entropy")"""),
    ("torch.nn.functional.relu", "act = getattr(torch.nn, 'functional').relu\n",
     "'answer-x', line 1 uses getattr(torch.nn, 'functional').relu"),
    ("torch.nn.functional.relu", "act = getattr(F, 'relu', None)\n",
     "'answer-x', line 1 uses getattr(F, 'relu', None)"),
    ("torch.nn.functional.relu", "act = getattr(F, 'softmax')\n", None),
    # an imported module's attributes, in order
    ("torch.nn.functional", "relu = __import__('torch').nn.functional.relu\n",
     "'answer-x', line 1 uses __import__('torch').nn.functional.relu"),
    ("sklearn", "from importlib import import_module\nm = import_module('sklearn')\n",
     "'answer-x', line 2 uses import_module('sklearn')"),
    # an attribute rule of several parts, on any object
    (".grad.zero_", "model(x).grad.zero_()\n", "'answer-x', line 1 uses model(x).grad.zero_"),
    (".grad.zero_", "model(x).zero_.grad\n", None),
    # a chain passed to a function is still a use
    ("torch.nn.functional.relu", "ys = list(map(F.relu, xs))\n",
     "'answer-x', line 1 uses F.relu"),
    # an import of a submodule binds its top package
    ("torch.nn.functional", "y = torch.nn.functional.relu(x)\n",
     "'answer-x', line 1 uses torch.nn.functional.relu"),
    ("torch.nn.functional", "from torch.nn import functional as nnf\n",
     "'answer-x', line 1 imports functional from torch.nn"),
    # a chain over several lines is shown on one; long ones are cut at 60 characters
    ("torch.nn.functional.relu", "y = (F\n     .relu)(x)\n", "'answer-x', line 1 uses F .relu"),
    (".backward", f"{LONG}.backward()\n", f"'answer-x', line 1 uses {LONG}.backward"),
    (".backward", f"{LONG}b.backward()\n", f"'answer-x', line 1 uses {LONG}b.backwa…"),
    # names local to a function are not the module's; aliases there are
    ("torch.nn.functional", "act = lambda F: F.relu\n", None),
    ("torch.nn.functional", "def f(x):\n    F = x * 2\n    return F.sum()\n", None),
    ("torch.nn.functional.relu", "def f(x):\n    nnf = torch.nn.functional\n"
     "    return nnf.relu(x)\n", "'answer-x', line 3 uses nnf.relu"),
    ("torch.nn.functional.relu", "def f(x):\n    global G\n    G = F.relu\n",
     "'answer-x', line 3 uses F.relu"),
    ("torch.nn.functional.relu", "class Net:\n    def __init__(self):\n"
     "        self.act = F.relu\n", "'answer-x', line 3 uses F.relu"),
])
def test_forbid_rules_getattr_imports_aliases_and_text(rule, source, where):
    context = ("import torch.nn\n",) if "torch.nn.functional.relu(x)" in source else (SETUP,)
    assert found(rule, source, context=context) == where


def test_forbid_rules_answer_cells_that_do_not_parse_and_dependencies():
    rule = "torch.nn.functional.relu"
    helper = ("answer-helper", "def helper(x):\n    return F.relu(x)\n")
    assert found(rule, "def (:\n", [helper]) is None
    assert found(rule, "y = helper(1)\n", [("answer-bad", "def (:\n"), helper]) == \
        "'answer-helper', line 2 uses F.relu"
    # the second statement's dependencies count too
    assert found(rule, "x = 1\ny = helper(x)\n", [helper]) == \
        "'answer-helper', line 2 uses F.relu"
    broken = rules.broken_rule([rule], [("answer-bad", "def (:\n"), ("answer-x", "y = F.relu\n")],
                               [], [SETUP])
    assert broken.message().endswith("your cell 'answer-x', line 1 uses F.relu")


def test_forbid_rules_functions_that_call_each_other():
    cycle = [("answer-f", "def f(n):\n    return g(n - 1) if n else 0\n"),
             ("answer-g", "def g(n):\n    return f(n) + F.relu(n)\n")]
    result = []
    worker = threading.Thread(target=lambda: result.append(
        found("torch.nn.functional.relu", "y = f(3)\n", cycle)), daemon=True)
    worker.start()
    worker.join(10)
    assert result == ["'answer-g', line 2 uses F.relu"]


@pytest.mark.parametrize("source, where", [
    ("fn = getattr(F, name)\n", "'answer-x', line 1 uses F"),
    ('fn = getattr(torch.nn.functional, "cross_" + "entropy")(Z, y)\n',
     "'answer-x', line 1 uses torch.nn.functional"),
    ("fn = getattr(F, name).__call__\n", "'answer-x', line 1 uses F"),
    ("fn = getattr(F, 'relu')\n", "'answer-x', line 1 uses getattr(F, 'relu')"),
])
def test_a_module_used_through_getattr_with_a_computed_name(source, where):
    """The attribute is unknown, but the forbidden module is used all the same (as with
    ``vars(F)[name]``)."""
    assert found("torch.nn.functional", source) == where


@pytest.mark.parametrize("source, names", [
    ("import torch.nn\nimport numpy.linalg as la\n", {"torch", "la"}),
    ("from math import *\n", set()),
    ("if (n := 3) > 2:\n    pass\n", {"n"}),
    ("try:\n    pass\nexcept ValueError as err:\n    pass\n", {"err"}),
])
def test_bound_names_of_imports_walrus_and_except(source, names):
    assert rules.bound_names(source) == names


@pytest.mark.parametrize("call, broken", [
    ("importlib.import_module('sklearn.')", False),  # not a module name: nothing imported
    ("importlib.import_module(name)", False),
    ("__import__(3)", False),
    ("importlib.import_module('.sklearn', 'pkg')", False),
    ("importlib.import_module('sklearn.linear_model')", True),
])
def test_import_calls_by_their_argument(call, broken):
    from coursekit import rules

    found = rules.broken_rule(["sklearn"], [("answer-x", f"import importlib\nm = {call}\n")],
                              [], [])
    assert (found is not None) is broken
