"""The fixture grammar, shared by every fixture test.

A fixture is a Python file whose expected findings are trailing comments on the reported line:

    background_tasks.add_task(resize_image, path)  # expect: FBG101
    bg.add_task(charge, x)  # expect: FBG104 "stripe.Charge.create", FBG202

Each code may carry a quoted substring that the message must contain. Lines without `expect:`
must produce no finding. Options come from comment lines anywhere in the file:

    # option: critical = app.billing.*
    # option: fastapi-version = 0.110

A multi-module fixture is a folder under `tests/fixtures/projects/`; every .py file in it uses
the same grammar, and options go in the folder's `pyproject.toml` or in any file of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Set, Tuple

EXPECT = re.compile(r"#.*?\bexpect:\s*(?P<body>.*)$")
ITEM = re.compile(r'(?P<code>FBG\d{3})(?:\s+"(?P<text>[^"]*)")?')
OPTION = re.compile(r"^\s*#\s*option:\s*(?P<key>[a-z-]+)\s*=\s*(?P<value>.*?)\s*$")


@dataclass(frozen=True)
class Expected:
    line: int
    code: str
    text: str = ""


def expectations(source: str) -> List[Expected]:
    found = []
    for number, line in enumerate(source.splitlines(), start=1):
        match = EXPECT.search(line)
        if match is None:
            continue
        for item in ITEM.finditer(match.group("body")):
            found.append(Expected(number, item.group("code"), item.group("text") or ""))
    return found


def options(source: str) -> Dict[str, str]:
    return {m.group("key"): m.group("value") for m in map(OPTION.match, source.splitlines()) if m}


def compare(path: str, expected: List[Expected], actual: List[Tuple[int, str, str]]) -> List[str]:
    """Human-readable mismatches between expected and (line, code, message) findings."""
    problems = []
    remaining = list(actual)
    for item in expected:
        hit = next((a for a in remaining if a[0] == item.line and a[1] == item.code
                    and item.text in a[2]), None)
        if hit is None:
            near = [a for a in actual if a[0] == item.line]
            wanted = f" containing {item.text!r}" if item.text else ""
            problems.append(f"{path}:{item.line}: expected {item.code}{wanted}; got {near or 'nothing'}")
        else:
            remaining.remove(hit)
    for line, code, message in remaining:
        problems.append(f"{path}:{line}: unexpected {code} {message}")
    return problems


def codes_in(paths: List[Path]) -> Set[str]:
    codes: Set[str] = set()
    for path in paths:
        codes.update(e.code for e in expectations(path.read_text(encoding="utf-8")))
    return codes
