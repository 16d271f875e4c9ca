"""What a notebook cell binds and uses, read from its syntax tree (for the grader).

- ``bound_names(source)``: the names a cell binds at top level (assignments, imports,
  ``def``/``class``, loop and ``with`` targets, ``global`` inside its functions). The
  tamper guard restores the names instructor cells bind.
- ``broken_rule(forbid, own, earlier, context)``: the first use of a forbidden name in a
  task's answer cells and in the answer-cell functions and classes they use
  (transitively), with imports and aliases resolved (``F.cross_entropy`` is
  ``torch.nn.functional.cross_entropy``; ``getattr(F, "cross_entropy")``,
  ``importlib.import_module("sklearn")`` and ``import sklearn`` count). A rule
  ``"a.b"`` matches ``a.b`` and anything under it; a rule ``".m"`` matches the
  attribute ``m`` of any object (``loss.backward()`` for ``".backward"``).
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass

RULE = re.compile(r"^\.?[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.ListComp,
           ast.SetComp, ast.DictComp, ast.GeneratorExp)


def parse(source: str) -> ast.Module | None:
    """The syntax tree of a cell; IPython magics are translated first; None if invalid."""
    try:
        return ast.parse(source)
    except SyntaxError:
        pass
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return ast.parse(TransformerManager().transform_cell(source))
    except Exception:  # noqa: BLE001 - a cell that does not parse binds and uses nothing
        return None


def _bound(node, names: set) -> None:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        names.add(node.name)
        names.update(n for g in ast.walk(node) if isinstance(g, ast.Global) for n in g.names)
        return
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        names.update(a.asname or a.name.split(".")[0] for a in node.names if a.name != "*")
        return
    if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
        names.add(node.id)
    elif isinstance(node, ast.NamedExpr):
        names.add(node.target.id)
    elif isinstance(node, ast.ExceptHandler) and node.name:
        names.add(node.name)
    if isinstance(node, _SCOPES):
        return
    for child in ast.iter_child_nodes(node):
        _bound(child, names)


def bound_names(source_or_tree) -> set:
    """Names bound at the top level of a cell (see the module docstring)."""
    tree = parse(source_or_tree) if isinstance(source_or_tree, str) else source_or_tree
    names = set()
    if tree is not None:
        _bound(tree, names)
    return names


# ----------------------------------------------------------------------------- uses
def _dotted(node) -> str | None:
    """'a.b.c' for a constant string argument naming a module."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and \
            RULE.match(node.value) and not node.value.startswith("."):
        return node.value
    return None


def _chain(node):
    """(head, [attr, ...]) of a Name/Attribute chain; head is a Name id, an absolute
    module ('=torch.nn'), or None when the chain starts at another expression."""
    attrs = []
    while True:
        if isinstance(node, ast.Attribute):
            attrs.append(node.attr)
            node = node.value
        elif _is_named_getattr(node):
            attrs.append(node.args[1].value)
            node = node.args[0]
        elif isinstance(node, ast.Call) and node.args and (module := _dotted(node.args[0])) \
                and _is_import_call(node.func):
            return "=" + module, attrs[::-1]
        elif isinstance(node, ast.Name):
            return node.id, attrs[::-1]
        else:
            return None, attrs[::-1]


def _is_named_getattr(node) -> bool:
    """``getattr(x, "name")`` or ``getattr(x, "name", default)``: a constant name."""
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
        node.func.id == "getattr" and len(node.args) >= 2 and \
        isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)


def _is_import_call(func) -> bool:
    """``__import__(...)`` or ``importlib.import_module(...)`` / ``import_module(...)``."""
    return (isinstance(func, ast.Name) and func.id in ("__import__", "import_module")) or \
        (isinstance(func, ast.Attribute) and func.attr == "import_module")


def _is_chain(node) -> bool:
    return isinstance(node, (ast.Attribute, ast.Name)) or (
        isinstance(node, ast.Call) and ((isinstance(node.func, ast.Name) and node.func.id ==
                                        "getattr") or _is_import_call(node.func)))


def _chain_roots(tree):
    """Every maximal chain in ``tree`` (not the inner part of a longer one)."""
    inner = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_chain(node.value):
            inner.add(id(node.value))
        elif _is_named_getattr(node) and _is_chain(node.args[0]):
            # getattr(F, "relu") extends the chain F; getattr(F, name) does not: F is
            # then a use of its own
            inner.add(id(node.args[0]))
    for node in ast.walk(tree):
        if _is_chain(node) and id(node) not in inner and not (
                isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load)):
            yield node


class Aliases:
    """name -> the dotted names it may stand for, from imports and ``x = a.b`` lines."""

    def __init__(self):
        self.names: dict[str, set] = {}
        self.star: set = set()  # modules imported with *

    def add_trees(self, trees) -> None:
        trees = [t for t in trees if t is not None]
        for tree in trees:
            self._imports(tree)
        for _ in range(3):  # x = torch.nn.functional; y = x.relu
            for tree in trees:
                self._assigns(tree)

    def _imports(self, tree) -> None:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.asname:
                        self.names.setdefault(a.asname, set()).add(a.name)
                    else:
                        top = a.name.split(".")[0]
                        self.names.setdefault(top, set()).add(top)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for a in node.names:
                    if a.name == "*":
                        self.star.add(node.module)
                    else:
                        self.names.setdefault(a.asname or a.name, set()).add(
                            f"{node.module}.{a.name}")

    def _assigns(self, tree) -> None:
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and _is_chain(node.value):
                full = self.resolve(node.value)
                for target in node.targets:
                    if isinstance(target, ast.Name) and full:
                        self.names.setdefault(target.id, set()).update(full)

    def resolve(self, node, shadow=frozenset()) -> set:
        """The dotted names a chain may stand for; ``shadow``: the local names of the
        enclosing functions (a parameter ``F`` is not ``torch.nn.functional``)."""
        head, attrs = _chain(node)
        if head is None or head in shadow:
            return set()
        if head.startswith("="):
            bases = {head[1:]}
        else:
            bases = set(self.names.get(head, ()))
            bases |= {f"{m}.{head}" for m in self.star}
        return {".".join([b, *attrs]) for b in bases}


def _matches(rule: str, full: set, attrs: list) -> bool:
    if rule.startswith("."):
        want = rule[1:].split(".")
        return any(attrs[i:i + len(want)] == want for i in range(len(attrs) - len(want) + 1))
    return any(f == rule or f.startswith(rule + ".") for f in full)


def _imported(node):
    """(dotted name, text) for what an import statement brings in."""
    if isinstance(node, ast.Import):
        return [(a.name, f"imports {a.name}") for a in node.names]
    if isinstance(node, ast.ImportFrom) and node.module and not node.level:
        return [(f"{node.module}.{a.name}" if a.name != "*" else node.module,
                 f"imports {a.name} from {node.module}") for a in node.names]
    return []


@dataclass
class Broken:
    rule: str
    cell: str
    line: int
    text: str

    def message(self) -> str:
        what = f"{self.rule} (on any object)" if self.rule.startswith(".") else self.rule
        return (f"rule broken: this task must not use {what}; your cell '{self.cell}', "
                f"line {self.line} {self.text}")


def _locals(fn) -> frozenset:
    """A function's parameters and the names its body binds to anything but an alias."""
    a = fn.args
    names = {x.arg for x in a.posonlyargs + a.args + a.kwonlyargs}
    names |= {x.arg for x in (a.vararg, a.kwarg) if x is not None}
    body = fn.body if isinstance(fn.body, list) else [fn.body]
    aliased, declared = set(), set()
    for node in (n for stmt in body for n in ast.walk(stmt)):
        if isinstance(node, ast.Assign) and _is_chain(node.value):
            aliased.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            declared.update(node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return frozenset(names - aliased - declared)


def _scoped_roots(stmt):
    """(chain, names local to the enclosing functions) for every maximal chain."""
    shadow_of = {}

    def visit(node, shadow):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            shadow = shadow | _locals(node)
        shadow_of[id(node)] = shadow
        for child in ast.iter_child_nodes(node):
            visit(child, shadow)

    visit(stmt, frozenset())
    for node in _chain_roots(stmt):
        yield node, shadow_of.get(id(node), frozenset())


def _violation(forbid, stmt, source: str, cell: str, aliases: Aliases) -> Broken | None:
    found = []
    for node in ast.walk(stmt):
        for name, text in _imported(node):
            for rule in forbid:
                if not rule.startswith(".") and _matches(rule, {name}, []):
                    found.append((node.lineno, node.col_offset, rule, text))
    for node, shadow in _scoped_roots(stmt):
        full, attrs = aliases.resolve(node, shadow), _chain(node)[1]
        for rule in forbid:
            if _matches(rule, full, attrs):
                text = ast.get_source_segment(source, node) or ast.unparse(node)
                text = " ".join(text.split())
                found.append((node.lineno, node.col_offset, rule,
                              "uses " + (text if len(text) <= 60 else text[:59] + "…")))
    if not found:
        return None
    line, _, rule, text = min(found)
    return Broken(rule, cell, line, text)


def _used_names(stmt) -> set:
    return {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)
            and isinstance(n.ctx, ast.Load)}


def broken_rule(forbid, own: list, earlier: list, context: list) -> Broken | None:
    """The first broken ``forbid`` rule, or None.

    own: [(cell id, source)] the task's answer cells (checked whole); earlier: the
    answer cells run before them (their statements are checked when the task's code uses
    a name they bind, transitively); context: sources of the other cells run so far (their
    imports and aliases count)."""
    if not forbid:
        return None
    trees = {cid: (parse(source), source) for cid, source in own + earlier}
    aliases = Aliases()
    aliases.add_trees([t for t, _ in trees.values()] + [parse(s) for s in context])
    defs = {}  # name -> [(cell id, statement)] from the earlier answer cells
    for cid, _ in earlier:
        tree = trees[cid][0]
        for stmt in tree.body if tree is not None else ():
            for name in bound_names(ast.Module(body=[stmt], type_ignores=[])):
                defs.setdefault(name, []).append((cid, stmt))
    todo = [(cid, stmt) for cid, _ in own if trees[cid][0] is not None
            for stmt in trees[cid][0].body]
    seen = {id(stmt) for _, stmt in todo}
    i = 0
    while i < len(todo):
        cid, stmt = todo[i]
        i += 1
        for name in _used_names(stmt):
            for dep in defs.get(name, ()):
                if id(dep[1]) not in seen:
                    seen.add(id(dep[1]))
                    todo.append(dep)
    for cid, stmt in todo:
        broken = _violation(forbid, stmt, trees[cid][1], cid, aliases)
        if broken is not None:
            return broken
    return None
