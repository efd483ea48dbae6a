"""`flake8-fastapi-bg --inventory`: every place the app schedules work after the response.

For each task site: where it is, the route (method and path, when the decorator says them),
the task's qualified name, where it runs (thread pool or event loop), its classification with
the strongest evidence, and whether the linter resolved the callable (and why not). As a text
table, JSON or Markdown. The facts come from the engine's own pipeline
(`engine.inventory_source`): the inventory and the findings never disagree.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Tuple

import libcst as cst

from .convert import code_for

if TYPE_CHECKING:
    from pathlib import Path

    from .engine import SiteFacts
    from .model import Finding
    from .settings import Settings

CLASSES = ("broken", "critical", "cpu-heavy", "blocking", "long-running", "delayed", "fine")
_BY_CODE = {"FBG101": "cpu-heavy", "FBG102": "blocking", "FBG103": "long-running",
            "FBG104": "critical", "FBG105": "delayed"}


@dataclass(frozen=True)
class Entry:
    """One row of the inventory."""

    path: str
    line: int
    column: int  # 1-based
    route: str  # "POST /orders", "GET ?" (path not a literal), "" (not in a route)
    task: str  # qualified name, else the expression as written (`func`, `getattr(work, 'log')`)
    runs_in: str  # "thread pool", "event loop", "unknown"
    classification: str  # one of CLASSES: the most serious of `classes`
    classes: Tuple[str, ...]
    evidence: str  # the strongest evidence: the first finding's message, or ""
    codes: Tuple[str, ...]  # the codes reported on the site
    resolution: str  # "resolved", or "unresolved: why"


def entries_for(display: str, source: str, settings: Settings,
                path: Optional[Path | str] = None) -> List[Entry]:
    """The inventory rows of one file."""
    from .engine import inventory_source

    return [_entry(record) for record in inventory_source(display, source, settings, path)]


def _entry(record: SiteFacts) -> Entry:
    facts, findings = record.facts, record.findings
    classes = [_BY_CODE[f.code] for f in findings if f.code in _BY_CODE]
    broken = record.never_runs or any(f.code.startswith("FBG2") for f in findings)
    if broken:
        classes.insert(0, "broken")
    ordered = tuple(c for c in CLASSES if c in classes) or ("fine",)
    first = next((f for f in findings if _class_of(f) == ordered[0]), None)
    runs_in = "event loop" if facts.is_async else "thread pool" if facts.is_async is False else "unknown"
    if facts.is_async is None and facts.library_callable:
        runs_in = "library callable"
    if facts.offloaded_via:
        runs_in += f" (via {facts.offloaded_via})"
    task = facts.qualname or facts.library_callable or _written(record)
    handed = list(getattr(record.task, "handed", None) or ())
    if handed:  # `add_task(run_async, crawl, url)`: the work is what the task is given
        task += " -> " + ", ".join(scope.qualname for scope, _ in handed)
        runs_in += "; " + ", ".join(f"{scope.name} {_RUNS[how]}" for scope, how in handed)
    return Entry(path=facts.where.path, line=facts.where.line, column=facts.where.col + 1,
                 route=_route(record), task=task,
                 runs_in=runs_in, classification=ordered[0], classes=ordered,
                 evidence=_evidence(first) if first is not None else "",
                 codes=tuple(sorted({f.code for f in findings})), resolution=_resolution(record))


_RUNS = {"call": "in the same place", "thread": "in a thread", "process": "in a process"}


def _written(record: SiteFacts) -> str:
    """An unresolved task as the site writes it (`func`, `send_welcome(email)`), shortened."""
    facts, expr = record.facts, record.site.callable_expr
    if facts.name not in ("<unknown>", "") or expr is None:
        return facts.name or "<unknown>"
    return _source(expr)


def _source(node: cst.CSTNode, limit: int = 40) -> str:
    text = " ".join(code_for(node).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _evidence(finding: Finding) -> str:
    """The strongest evidence in a few words: the leaf of the chain (what was found, where),
    else the message without its advice."""
    leaf = finding.evidence[-1] if finding.evidence else None
    if leaf is not None and leaf.role == "leaf":
        where = f" at {leaf.path}:{leaf.line}" if leaf.where is not None else ""
        return f"{finding.code}: {leaf.reason}{where}"
    return f"{finding.code}: {finding.message.split('; ')[0]}"


def _class_of(finding: Finding) -> str:
    return _BY_CODE.get(finding.code, "broken" if finding.code.startswith("FBG2") else "")


def _route(record: SiteFacts) -> str:
    try:
        facts = record.context.routes
        function = facts.enclosing_function(record.site.scope)
        route = facts.route(function) if function is not None else None
    except Exception:  # the inventory never fails over a route
        return ""
    if route is None:
        return ""
    found = []
    for decorator in getattr(route.scope.node, "decorators", ()):
        expr = decorator.decorator
        if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute):
            method = expr.func.attr.value
            if method == "websocket" or method.upper() in _METHODS:
                where = _literal_path(expr)
                found.append(f"{'WEBSOCKET' if method == 'websocket' else method.upper()} {where}")
    if not found:
        return "WEBSOCKET ?" if route.kind == "websocket" else "? ?"
    # the first decorator's, and how many more paths the same function serves
    return found[0] + (f" (+{len(found) - 1})" if len(found) > 1 else "")


_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "API_ROUTE"}


def _literal_path(call: cst.Call) -> str:
    for arg in call.args:
        if (arg.keyword is None or arg.keyword.value == "path") and not arg.star:
            value = arg.value
            if isinstance(value, cst.SimpleString):
                text = value.evaluated_value
                if text == "":
                    return '""'  # the router's prefix itself
                return text if isinstance(text, str) else "?"
            return "?"
    return "?"


def _resolution(record: SiteFacts) -> str:
    facts, site = record.facts, record.site
    if facts.resolved:
        return "resolved"
    if site.callable_expr is None:
        return "unresolved: the callable is forwarded through *args"
    if isinstance(site.callable_expr, cst.Call):
        return "unresolved: the task is what a call returns"
    expr, node = site.callable_expr, getattr(site.scope, "node", None)
    if isinstance(expr, cst.Name) and isinstance(node, cst.FunctionDef) \
            and expr.value in {p.name.value for p in _params(node.params)}:
        return f"unresolved: `{expr.value}` is a parameter of '{node.name.value}' (see its callers' sites)"
    return f"unresolved: what `{_source(site.callable_expr)}` holds is not known"


def _params(params: cst.Parameters) -> List[cst.Param]:
    found = [*params.posonly_params, *params.params, *params.kwonly_params]
    return found + [p for p in (params.star_arg, params.star_kwarg) if isinstance(p, cst.Param)]


# -- rendering ---------------------------------------------------------------------------------

def summary(entries: Sequence[Entry]) -> str:
    counts = Counter(e.classification for e in entries)
    parts = [f"{counts[c]} {c}" for c in CLASSES if counts[c]]
    unresolved = sum(1 for e in entries if e.resolution != "resolved")
    return (f"{len(entries)} background task site(s): {', '.join(parts) or 'none'}; "
            f"{unresolved} unresolved")


_HEADER = ("site", "route", "task", "runs in", "class", "resolution")


def _row(e: Entry) -> List[str]:
    return [f"{e.path}:{e.line}", e.route or "-", e.task, e.runs_in, e.classification,
            e.resolution]


def format_text(entries: Sequence[Entry]) -> str:
    """A table, then the evidence of each site that is not fine, then the summary line."""
    header = list(_HEADER)
    rows = [_row(e) for e in entries]
    widths = [max([len(header[i])] + [len(r[i]) for r in rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip()
             for line in [header, ["-" * w for w in widths], *rows]]
    notable = [e for e in entries if e.evidence]
    if notable:
        lines.append("")
        lines += [f"{e.path}:{e.line}: {e.classification}: {e.evidence}" for e in notable]
    lines += ["", summary(entries)]
    return "\n".join(lines) + "\n"


def format_json(entries: Sequence[Entry]) -> str:
    counts = Counter(e.classification for e in entries)
    data: Dict[str, object] = {
        "sites": [dict(asdict(e), classes=list(e.classes), codes=list(e.codes)) for e in entries],
        "summary": {"total": len(entries), **{c: counts[c] for c in CLASSES},
                    "unresolved": sum(1 for e in entries if e.resolution != "resolved")},
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def format_markdown(entries: Sequence[Entry]) -> str:
    lines = ["| Site | Route | Task | Runs in | Class | Evidence | Resolution |",
             "|---|---|---|---|---|---|---|"]
    for e in entries:
        lines.append(f"| `{_md(e.path)}:{e.line}` | {_md(e.route) or '-'} | `{_md(e.task)}` | "
                     f"{e.runs_in} | {e.classification} | {_md(e.evidence) or '-'} | "
                     f"{_md(e.resolution)} |")
    lines += ["", summary(entries)]
    return "\n".join(lines) + "\n"


FORMATS = {"text": format_text, "json": format_json, "markdown": format_markdown}


def render(fmt: str, entries: Sequence[Entry]) -> Optional[str]:
    """The inventory in `fmt`, or None when the inventory has no such format."""
    formatter = FORMATS.get(fmt)
    return formatter(entries) if formatter is not None else None
