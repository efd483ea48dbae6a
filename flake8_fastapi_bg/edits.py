"""Applying fixes: text edits by (line, col) position, last first, overlapping ones skipped."""

from __future__ import annotations

from typing import Iterable, List, Tuple

from .model import Edit, Finding


def _offset(line_starts: List[int], position: Tuple[int, int]) -> int:
    line, col = position
    return line_starts[line - 1] + col


def apply_edits(source: str, edits: Iterable[Edit]) -> Tuple[str, int]:
    """`source` with the non-overlapping `edits` applied, and how many were applied.

    Columns are counted in characters of the line, as libcst reports them."""
    lines = source.splitlines(keepends=True)
    starts, total = [], 0
    for line in lines:
        starts.append(total)
        total += len(line)
    starts.append(total)
    spans = sorted(((_offset(starts, e.start), _offset(starts, e.end), e.text) for e in edits),
                   reverse=True)
    applied, limit = 0, len(source) + 1
    for begin, end, text in spans:
        if end > limit or begin > end:
            continue  # overlaps an edit already applied (or malformed): leave it for next run
        source = source[:begin] + text + source[end:]
        limit = begin
        applied += 1
    return source, applied


def apply_fixes(source: str, findings: Iterable[Finding]) -> Tuple[str, int]:
    """Apply the fixes attached to `findings`; returns the new source and the fix count."""
    edits = [edit for f in findings if f.fix is not None for edit in f.fix.edits]
    return apply_edits(source, edits)
