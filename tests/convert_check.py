"""Differential check of `flake8_fastapi_bg.convert`: for every statement group of a source
text (as `slicing._statement_groups` forms them), the converted libcst tree must equal
libcst's own parse of the group in every field the analysis may read, in the pragma comments,
in each node's position (libcst's `PositionProvider`, shifted to the module's lines) and in
each expression's rendered code.

Whitespace and punctuation fields are not compared (the converter fills them with defaults),
except what the engine reads: comments above defs and decorators (`pragmas`), the comment
after a def's colon, the dots of a relative import, `async`, `*`/`**` of arguments and
parameters, and the number of parentheses around an expression.

    python tests/convert_check.py FILE_OR_DIR ...   # prints mismatches and a summary
"""

from __future__ import annotations

import ast
import dataclasses
import sys
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, List, Optional, Tuple

import libcst as cst

from flake8_fastapi_bg import convert, libcst_compat, slicing
from flake8_fastapi_bg.parsing import parse
from flake8_fastapi_bg.pragmas import _adjacent_comments

_WHITESPACE = frozenset({
    "lbrace", "rbrace", "lbracket", "rbracket", "footer", "comma", "semicolon", "equal", "colon",
    "first_colon", "second_colon", "newline", "indent", "empty_lines", "default_indent",
    "default_newline", "encoding", "has_trailing_newline", "last_line", "first_line",
    "trailing_comma", "separator", "dot", "posonly_ind", "whitespace", "leading_whitespace",
})
_COMMENTED = frozenset({"leading_lines", "lines_after_decorators"})  # compared as the pragmas read them
# Nodes whose positions are compared (what the engine positions: expressions and statements).
_POSITIONED = (cst.BaseExpression, cst.BaseSmallStatement, cst.BaseCompoundStatement,
               cst.SimpleStatementLine, cst.Arg, cst.ExceptHandler, cst.Param, cst.Annotation, cst.Decorator,
               cst.AssignTarget, cst.IndentedBlock, cst.SimpleStatementSuite, cst.Element, cst.DictElement,
               cst.SubscriptElement, cst.Index, cst.CompFor, cst.CompIf, cst.WithItem, cst.Parameters,
               cst.Else, cst.Finally)


class Report:
    def __init__(self) -> None:
        self.groups = 0
        self.converted = 0
        self.fallbacks: Counter[str] = Counter()
        self.mismatches: List[str] = []
        self.unpositioned: Counter[str] = Counter()
        self.fstrings: Counter[str] = Counter()  # "built", or why libcst parsed one


def check_text(text: str, where: str, report: Report) -> None:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return
    lines = slicing._LINE.findall(text)
    for start, end, _names, _star, _lone, statements, deep in slicing._statement_groups(tree, lines):
        if deep:
            continue
        report.groups += 1
        source = "".join(lines[start - 1:end])
        try:
            parsed = parse(source)
        except Exception:
            continue
        try:
            with _counting_fstrings(report):
                converted, converter = convert.convert(statements, lines)
        except convert.Unconvertible as error:
            report.fallbacks[str(error)] += 1
            continue
        except Exception as error:  # a crash is a mismatch too
            report.mismatches.append(f"{where}:{start}: converter crashed: {error!r}")
            continue
        report.converted += 1
        positions = libcst_compat.positions(parsed)
        pairs: List[Tuple[cst.CSTNode, cst.CSTNode]] = []
        found: List[str] = []
        _compare(converted, parsed, "module", found, pairs)
        for mine, theirs in pairs:
            if not isinstance(theirs, _POSITIONED):
                continue
            expected = positions.get(theirs)
            if expected is None:
                continue
            try:
                got = converter.range(mine)
                code = converter.code(mine) if isinstance(theirs, cst.BaseExpression) else None
            except Exception as error:
                shown = parsed.code_for_node(theirs)[:60]
                found.append(f"range of {type(theirs).__name__} {shown!r}: {error!r}")
                continue
            if got is None:
                report.unpositioned[type(theirs).__name__] += 1
                continue
            want = ((expected.start.line + start - 1, expected.start.column),
                    (expected.end.line + start - 1, expected.end.column))
            have = ((got.start.line, got.start.column), (got.end.line, got.end.column))
            if want != have:
                found.append(f"position of {type(theirs).__name__}: {have} != libcst {want}")
            if isinstance(theirs, cst.BaseExpression):
                if code is not None and code.split() != parsed.code_for_node(theirs).split():
                    shown = parsed.code_for_node(theirs)
                    found.append(f"code of {type(theirs).__name__}: {code!r} != {shown!r}")
        for problem in found[:5]:
            report.mismatches.append(f"{where}:{start}: {problem}")


@contextmanager
def _counting_fstrings(report: Report) -> Iterator[None]:
    """Counts the f-strings `convert` builds, and why it gives the others to libcst."""
    build = convert.Converter._fstring

    def counted(self: convert.Converter, node: ast.JoinedStr) -> Any:
        found = build(self, node)
        report.fstrings["built" if not isinstance(found, str) else found] += 1
        return found

    setattr(convert.Converter, "_fstring", counted)
    try:
        yield
    finally:
        setattr(convert.Converter, "_fstring", build)


def _compare(mine: Any, theirs: Any, path: str, found: List[str],
             pairs: List[Tuple[cst.CSTNode, cst.CSTNode]]) -> None:
    if isinstance(theirs, cst.CSTNode):
        if type(mine) is not type(theirs):
            found.append(f"{path}: {type(mine).__name__} != libcst {type(theirs).__name__}")
            return
        pairs.append((mine, theirs))
        for field in dataclasses.fields(theirs):
            name = field.name
            if name in _WHITESPACE or name.startswith("whitespace"):
                continue
            a, b = getattr(mine, name), getattr(theirs, name)
            here = f"{path}.{name}"
            if name in _COMMENTED:
                if _adjacent_comments(a) != _adjacent_comments(b):
                    found.append(f"{here}: comments {_adjacent_comments(a)} != {_adjacent_comments(b)}")
                continue
            if name in ("lpar", "rpar"):
                if _count(a) != _count(b):
                    found.append(f"{here}: {_count(a)} parentheses != libcst {_count(b)}")
                continue
            if name == "header" and isinstance(theirs, cst.IndentedBlock) \
                    or name == "trailing_whitespace" and isinstance(theirs, cst.SimpleStatementSuite):
                if _comment(a) != _comment(b):
                    found.append(f"{here}: comment {_comment(a)!r} != {_comment(b)!r}")
                continue
            if name in ("header", "trailing_whitespace", "lines_after_decorators", "leading_lines"):
                continue
            if name == "relative":
                if len(a) != len(b):
                    found.append(f"{here}: {len(a)} dots != libcst {len(b)}")
                continue
            _compare(a, b, here, found, pairs)
        return
    if isinstance(theirs, (list, tuple)):
        if not isinstance(mine, (list, tuple)) or len(mine) != len(theirs):
            found.append(f"{path}: {len(mine) if isinstance(mine, (list, tuple)) else mine!r} items "
                         f"!= libcst {len(theirs)}")
            return
        for index, (a, b) in enumerate(zip(mine, theirs)):
            _compare(a, b, f"{path}[{index}]", found, pairs)
        return
    if mine != theirs and not (isinstance(theirs, cst.MaybeSentinel) and mine in (None, theirs)):
        found.append(f"{path}: {mine!r} != libcst {theirs!r}")


def _count(parens: Any) -> int:
    if isinstance(parens, (list, tuple)):
        return len(parens)
    return 0 if isinstance(parens, cst.MaybeSentinel) else 1


def _comment(whitespace: Any) -> Optional[str]:
    comment = getattr(whitespace, "comment", None)
    return comment.value if comment is not None else None


def files(paths: List[str]) -> Iterator[Path]:
    for name in paths:
        path = Path(name)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*.py") if p.is_file())
        else:
            yield path


def main(paths: List[str]) -> int:
    """`--every N`: only every Nth file, in sorted order (a sample of a large tree)."""
    every = 1
    if paths[:1] == ["--every"]:
        every, paths = int(paths[1]), paths[2:]
    report = Report()
    count = 0
    for index, path in enumerate(files(paths)):
        if index % every:
            continue
        try:
            text = path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        count += 1
        check_text(text.lstrip("\ufeff"), str(path), report)
    for line in report.mismatches[:300]:
        print(line)
    print(f"{count} files, {report.groups} groups, {report.converted} converted, "
          f"{len(report.mismatches)} mismatches; fallbacks {dict(report.fallbacks.most_common(12))}; "
          f"unpositioned {dict(report.unpositioned.most_common(12))}; "
          f"f-strings {dict(report.fstrings.most_common(12))}")
    return 1 if report.mismatches else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
