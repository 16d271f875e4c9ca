"""What the recorder of a probe process reports (``coursekit/recorder.py``), as the grader
reads it; and the check of a probe's ``ops`` (ATen operators that must exist and reach the
recorder).

A record is a list of at most ``MAX_ENTRIES`` entries ``{"rule", "what", "cell",
"line"}``: the first use of each forbidden thing by the student's code (``rule``: one of
the task's ``forbid`` rules or ``ops``, or ``TAMPER`` when the recorder itself was
removed), ``what`` ran, and the innermost answer cell and line it ran from (None when the
code that ran it was built at run time).
"""
from __future__ import annotations

TAMPER = "the recorder"  # the rule of an entry saying the recorder itself was attacked
MAX_ENTRIES = 64


# ----------------------------------------------------------------------------- ops
def op_problems(ops, where: str = "probe") -> list[str]:
    """Problems with a probe's ``ops``: each must name an ATen operator
    (``"aten::convolution"`` or an overload ``"aten::add.Tensor"``) that reaches the
    recorder (a composite operator is decomposed before any dispatch mode sees it)."""
    problems = []
    if not ops:
        return problems
    import torch

    for op in ops:
        ns, _, rest = str(op).partition("::")
        name, _, overload = rest.partition(".")
        if ns != "aten" or not name:
            problems.append(f"{where}: ops entry {op!r} is not an ATen operator name "
                            "('aten::convolution')")
            continue
        packet = getattr(torch.ops.aten, name, None) if hasattr(torch.ops.aten, name) else None
        if packet is None or (overload and overload not in packet.overloads()):
            problems.append(f"{where}: ops entry {op!r} is no ATen operator of this torch "
                            f"({torch.__version__})")
            continue
        overloads = [overload] if overload else packet.overloads()
        full = [f"aten::{name}" + (f".{o}" if o != "default" else "") for o in overloads]
        if all(torch._C._dispatch_has_kernel_for_dispatch_key(f, "CompositeImplicitAutograd")
               for f in full):
            problems.append(f"{where}: ops entry {op!r} is decomposed before the recorder "
                            "sees it (CompositeImplicitAutograd): name the operator it "
                            "becomes (e.g. aten::convolution for aten::conv2d)")
    return problems


# ----------------------------------------------------------------------------- the grader
def check(record, rules, answers) -> list:
    """The record as the grader takes it (``ValueError`` when malformed): a list of at most
    MAX_ENTRIES dicts, each rule one of the task's (or TAMPER), cell an answer or None."""
    allowed = set(rules) | {TAMPER}
    if type(record) is not list or len(record) > MAX_ENTRIES:
        raise ValueError("a record of the wrong form")
    for e in record:
        if type(e) is not dict or set(e) != {"rule", "what", "cell", "line"} or \
                type(e["rule"]) is not str or e["rule"] not in allowed or \
                type(e["what"]) is not str or len(e["what"]) > 200 or \
                not (e["cell"] is None or (type(e["cell"]) is str and e["cell"] in answers)) \
                or not (e["line"] is None or type(e["line"]) is int):
            raise ValueError("a record entry of the wrong form")
    return record


def message(record, not_allowed: str = "") -> str:
    """The verdict's message for a non-empty record: what ran and where."""
    e = record[0]
    where = f" (in your cell '{e['cell']}', line {e['line']})" if e["cell"] else \
        " (in code your answer ran)"
    if e["rule"] == TAMPER:
        text = f"the recorder of what runs was removed: {e['what']}{where}"
    else:
        rule = f"{e['rule']} (on any object)" if e["rule"].startswith(".") else e["rule"]
        text = f"rule broken: this task must not use {rule}; your code ran {e['what']}{where}"
    if len(record) > 1:
        text += f"; also {', '.join(x['rule'] for x in record[1:4])}"
    if not_allowed:
        text += f". {not_allowed}"
    return text


def not_allowed_line(nb, task: str) -> str:
    """The ``**Not allowed:**`` line(s) of ``task``'s markdown in notebook ``nb``."""
    from .notebook import NOT_ALLOWED
    from .notebook import task_metadata

    markdown = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            markdown.append(cell.source)
            continue
        meta = task_metadata(cell) if cell.cell_type == "code" else None
        if meta is None:
            continue
        if meta["task"] == task:
            lines = [ln.strip().lstrip("-*> ").strip() for src in markdown
                     for ln in src.split("\n") if NOT_ALLOWED in ln]
            return " ".join(lines).replace("**", "")
        markdown = []
    return ""
