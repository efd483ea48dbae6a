"""`# fastapi-bg: <tags>` annotations on function definitions.

A pragma sits on the `def` line, or on comment lines directly above the `def` or its
decorators. Tags: cpu-heavy, long-running, critical (mark work), best-effort (not critical),
light (not CPU-heavy, not long-running). Several are comma-separated.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, FrozenSet, Iterator, List, Optional, Sequence, Tuple

if TYPE_CHECKING:  # libcst is imported only where a file has a task site
    import libcst as cst

TAGS = ("best-effort", "cpu-heavy", "critical", "light", "long-running")
PRAGMA = re.compile(r"#\s*fastapi-bg\s*:\s*(?P<tags>[^#]*)", re.IGNORECASE)
_MENTION = "fastapi-bg"  # searched in the lower-cased text: 10x faster than an IGNORECASE regex


class PragmaError(ValueError):
    """A pragma with a tag that does not exist."""


def parse_tags(comment: str) -> Tuple[FrozenSet[str], List[str]]:
    """The known tags in one comment, and the unknown words found there."""
    match = PRAGMA.search(comment)
    if match is None:
        return frozenset(), []
    words = [w.strip().lower() for w in match.group("tags").split(",")]
    words = [w for w in words if w]
    known = frozenset(w for w in words if w in TAGS)
    unknown = [w for w in words if w not in TAGS]
    return known, unknown


def unknown_tags(source: str) -> Iterator[Tuple[int, int, str]]:
    """(line, column, word) of every unknown tag in the file's pragma comments.

    Only real comments count (a pragma quoted in a string or docstring is not one), so the
    file is tokenized — but only when the text mentions a pragma at all."""
    if _MENTION not in source.lower():
        return
    import io
    import tokenize

    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type != tokenize.COMMENT:
                continue
            match = PRAGMA.search(token.string)
            if match is None:
                continue
            for word in parse_tags(token.string)[1]:
                yield token.start[0], token.start[1] + match.start(), word
    except (tokenize.TokenError, SyntaxError, ValueError):
        return


def function_tags(node: cst.CSTNode) -> FrozenSet[str]:
    """The tags annotating a libcst FunctionDef (empty for lambdas)."""
    import libcst as cst

    if not isinstance(node, cst.FunctionDef):
        return frozenset()
    comments: List[Optional[str]] = []
    comments.extend(_adjacent_comments(node.leading_lines))
    for decorator in node.decorators:
        comments.extend(_adjacent_comments(decorator.leading_lines))
    comments.extend(_adjacent_comments(node.lines_after_decorators))
    body = node.body
    if isinstance(body, cst.IndentedBlock):
        comments.append(body.header.comment.value if body.header.comment else None)
    elif isinstance(body, cst.SimpleStatementSuite):  # the only other suite
        trailing = body.trailing_whitespace.comment
        comments.append(trailing.value if trailing else None)
    tags: FrozenSet[str] = frozenset()
    for comment in comments:
        if comment:
            tags |= parse_tags(comment)[0]
    return tags


def attach_header_comments(module: cst.Module) -> cst.Module:
    """`module` with the comment lines directly above its first statement moved from
    `Module.header` to that statement's `leading_lines`.

    libcst keeps every comment and blank line before a file's first statement in the module
    header, so a pragma right above the first `def` of a file (or of a statement parsed on its
    own) would be invisible to `function_tags`. Only the run not broken by a blank line moves;
    the generated code, and so every position, stays the same."""
    if not module.header or not module.body:
        return module
    header = list(module.header)
    split = len(header)
    while split > 0 and header[split - 1].comment is not None:
        split -= 1
    if split == len(header):
        return module
    first = module.body[0]
    if not hasattr(first, "leading_lines"):
        return module
    moved = first.with_changes(leading_lines=(*header[split:], *first.leading_lines))
    return module.with_changes(header=tuple(header[:split]), body=(moved, *module.body[1:]))


def _adjacent_comments(lines: Sequence[cst.EmptyLine]) -> List[str]:
    """Comment lines directly above the next line: the run not broken by a blank line."""
    run: List[str] = []
    for line in lines:
        if line.comment is None:
            run = []
        else:
            run.append(line.comment.value)
    return run
