"""Output formats of the standalone command: text, json, sarif (2.1.0) and github annotations.

Each formatter takes the reported results (a display path and a `Finding`) and returns the text
to print. Lines are 1-based everywhere; columns are 1-based in every format (flake8 prints
`col + 1` too), counted in characters.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence
from urllib.parse import quote

from . import DOCS_URL, __version__
from .model import Edit, Finding, Hop

if TYPE_CHECKING:
    from .rules import Rule

HOME_URL = DOCS_URL.split("/blob/", 1)[0]
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
LEVEL = "warning"  # every finding is a warning: the linter reports, the user's gate decides

_BOLD, _RED, _CYAN, _RESET = "\033[1m", "\033[31m", "\033[36m", "\033[m"


@dataclass(frozen=True)
class Result:
    """One reported finding and the display path of its file."""

    path: str
    finding: Finding


def registry() -> Dict[str, "Rule"]:
    """The rules, imported on first need: they load libcst, which a run answered from the
    persistent cache never needs."""
    from .rules import REGISTRY

    return REGISTRY


def rule_for(code: str) -> Optional["Rule"]:
    return registry().get(code)


def rule_name(code: str) -> str:
    rule = rule_for(code)
    return rule.name if rule else ""


def rule_url(code: str) -> str:
    rule = rule_for(code)
    return rule.url if rule else DOCS_URL.format(code=code)


def format_text(results: Sequence[Result], color: bool = False, show_chain: bool = False) -> str:
    """flake8's default format: `path:line:col: CODE message`; with `show_chain`, the evidence
    chain of each finding follows on indented lines."""
    from .trail import chain_lines

    lines = []
    for r in results:
        f = r.finding
        if color:
            sep = f"{_CYAN}:{_RESET}"
            lines.append(f"{_BOLD}{r.path}{_RESET}{sep}{f.line}{sep}{f.col + 1}{sep} "
                         f"{_BOLD}{_RED}{f.code}{_RESET} {f.message}")
        else:
            lines.append(f"{r.path}:{f.line}:{f.col + 1}: {f.code} {f.message}")
        if show_chain and len(f.evidence) > 1:
            lines += chain_lines(f.evidence)
    return "".join(line + "\n" for line in lines)


def _json_edit(edit: Edit) -> Dict[str, Any]:
    return {"start": {"line": edit.start[0], "column": edit.start[1] + 1},
            "end": {"line": edit.end[0], "column": edit.end[1] + 1},
            "text": edit.text}


def _json_hop(hop: Hop) -> Dict[str, Any]:
    where = hop.where
    if where is None:
        return {"function": hop.function, "path": None, "line": None, "column": None,
                "role": hop.role, "reason": hop.reason}
    return {"function": hop.function, "path": where.path, "line": where.line,
            "column": where.col + 1, "role": hop.role, "reason": hop.reason}


def json_record(result: Result) -> Dict[str, Any]:
    """One result as the JSON format's object. Columns are 1-based; `end_column` is exclusive
    (the column after the reported node), as in SARIF."""
    f = result.finding
    fix = None
    if f.fix is not None:
        fix = {"description": f.fix.description, "edits": [_json_edit(e) for e in f.fix.edits]}
    return {"path": result.path, "line": f.line, "column": f.col + 1,
            "end_line": f.end_line, "end_column": f.end_col + 1 if f.end_col is not None else None,
            "code": f.code, "name": rule_name(f.code), "message": f.message, "url": rule_url(f.code),
            "fix": fix, "evidence": [_json_hop(h) for h in f.evidence]}


def format_json(results: Sequence[Result]) -> str:
    """A JSON list of result objects (see `json_record`)."""
    return json.dumps([json_record(r) for r in results], indent=2, ensure_ascii=False) + "\n"


def artifact_uri(path: str, base: Optional[Path] = None) -> str:
    """A SARIF artifact URI: relative to `base` (the current directory) with forward slashes
    when the file is under it, else an absolute `file:` URI."""
    base = (base or Path.cwd()).absolute()
    absolute = Path(os.path.abspath(path))
    try:
        relative = absolute.relative_to(base)
    except ValueError:
        return absolute.as_uri()
    return quote(PurePath(relative).as_posix(), safe="/")


def _sarif_rule(code: str) -> Dict[str, Any]:
    rule = rule_for(code)
    if rule is None:
        return {"id": code, "helpUri": rule_url(code),
                "shortDescription": {"text": code}, "defaultConfiguration": {"level": LEVEL}}
    from .docs import rule_page

    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.what},
        "helpUri": rule.url,
        "help": {"text": f"{rule.summary}\n\n{rule.why}\n\nUse instead: {rule.fix}\n\n{rule.url}",
                 "markdown": rule_page(rule)},
        "defaultConfiguration": {"level": LEVEL},
        "properties": {"tags": ["fastapi", "background-tasks"]},
    }


def _region(start: Sequence[int], end: Optional[Sequence[int]] = None) -> Dict[str, int]:
    region = {"startLine": start[0], "startColumn": start[1] + 1}
    if end is not None:
        region.update(endLine=end[0], endColumn=end[1] + 1)
    return region


def _finding_region(f: Finding) -> Dict[str, int]:
    end = (f.end_line, f.end_col) if f.end_line is not None and f.end_col is not None else None
    return _region((f.line, f.col), end)


def _hop_location(hop: Hop, base: Optional[Path], **extra: Any) -> Dict[str, Any]:
    location: Dict[str, Any] = dict(extra)
    where = hop.where
    if where is not None:
        uri = artifact_uri(where.path, base)
        location["physicalLocation"] = {"artifactLocation": {"uri": uri},
                                        "region": _region((where.line, where.col))}
    location["message"] = {"text": f"{hop.function}: {hop.reason}" if hop.reason else hop.function}
    return location


_DIGITS = re.compile(r"\d+")


def fingerprint(code: str, uri: str, key: str) -> str:
    """A hash of what a finding is about, not where: rule, file, task and leaf subject (or,
    without a key, the message with its numbers taken out, so line moves leave it alone)."""
    return hashlib.sha256(f"{code}\0{uri}\0{key}".encode("utf-8")).hexdigest()[:32]


def _sarif_result(result: Result, index: int, uri: str, base: Optional[Path] = None,
                  seen: Optional[Dict[str, int]] = None) -> Dict[str, Any]:
    f = result.finding
    record: Dict[str, Any] = {
        "ruleId": f.code,
        "ruleIndex": index,
        "level": LEVEL,
        "message": {"text": f.message},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri},
                                            "region": _finding_region(f)}}],
    }
    digest = fingerprint(f.code, uri, f.key or _DIGITS.sub("#", f.message))
    if seen is not None:  # the same finding twice in a file: number the repeats
        count = seen[digest] = seen.get(digest, 0) + 1
        digest = f"{digest}:{count}"
    record["partialFingerprints"] = {"fastapiBgFinding/v1": digest}
    if len(f.evidence) > 1:
        steps = [{"location": _hop_location(hop, base), "nestingLevel": 0 if hop.role == "site" else 1,
                  "kinds": [{"call": "enter"}.get(hop.role, "call")]}
                 for hop in f.evidence]
        record["codeFlows"] = [{"message": {"text": "from the registration to the evidence"},
                                "threadFlows": [{"locations": steps}]}]
        leaf = f.evidence[-1]
        if leaf.role == "leaf" and leaf.where is not None:
            record["relatedLocations"] = [_hop_location(leaf, base, id=0)]
    if f.fix is not None:
        replacements = [{"deletedRegion": _region(e.start, e.end), "insertedContent": {"text": e.text}}
                        for e in f.fix.edits]
        record["fixes"] = [{"description": {"text": f.fix.description},
                            "artifactChanges": [{"artifactLocation": {"uri": uri},
                                                 "replacements": replacements}]}]
    return record


def sarif_log(results: Sequence[Result], base: Optional[Path] = None) -> Dict[str, Any]:
    """The SARIF 2.1.0 log: every registered rule, and one result per finding."""
    codes = sorted(set(registry()) | {r.finding.code for r in results})
    index = {code: i for i, code in enumerate(codes)}
    seen: Dict[str, int] = {}
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "flake8-fastapi-bg", "version": __version__,
                                "semanticVersion": __version__, "informationUri": HOME_URL,
                                "rules": [_sarif_rule(code) for code in codes]}},
            "columnKind": "unicodeCodePoints",
            "results": [_sarif_result(r, index[r.finding.code], artifact_uri(r.path, base), base, seen)
                        for r in results],
        }],
    }


def format_sarif(results: Sequence[Result]) -> str:
    return json.dumps(sarif_log(results), indent=2, ensure_ascii=False) + "\n"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def format_github(results: Sequence[Result]) -> str:
    """GitHub Actions workflow commands: one `::warning` annotation per finding."""
    lines = []
    for r in results:
        f = r.finding
        title = f"{f.code} {rule_name(f.code)}".strip()
        path = PurePath(os.path.normpath(r.path)).as_posix()
        end = f",endLine={f.end_line}" if f.end_line is not None else ""
        if f.end_line == f.line and f.end_col is not None:  # GitHub takes end columns on one line
            end += f",endColumn={f.end_col + 1}"
        lines.append(f"::warning file={_escape_property(path)},line={f.line},col={f.col + 1}{end},"
                     f"title={_escape_property(title)}::{_escape_data(f.message)}")
    return "".join(line + "\n" for line in lines)


FORMATS: Dict[str, Callable[[Sequence[Result]], str]] = {
    "text": format_text,
    "json": format_json,
    "sarif": format_sarif,
    "github": format_github,
}


def render(fmt: str, results: Sequence[Result], color: bool = False, show_chain: bool = False) -> str:
    """The text of `results` in format `fmt` (one of `FORMATS`)."""
    if fmt == "text":
        return format_text(results, color, show_chain)
    return FORMATS[fmt](results)


__all__: List[str] = ["FORMATS", "Result", "render", "sarif_log", "json_record", "artifact_uri"]
