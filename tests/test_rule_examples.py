"""Every rule's documented examples are tests: the bad one gives exactly one finding of the
rule's code, the good one none. The examples are what docs/rules/FBGnnn.md shows users."""

from __future__ import annotations

from pathlib import Path

import pytest

from flake8_fastapi_bg.engine import lint_source
from flake8_fastapi_bg.rules import REGISTRY, EngineRule
from flake8_fastapi_bg.settings import Settings

EXAMPLE_RULES = sorted(code for code, rule in REGISTRY.items() if not isinstance(rule, EngineRule))


def _codes(source: str, directory: Path) -> list:
    path = directory / "example.py"
    path.write_text(source, encoding="utf-8")
    return [f.code for f in lint_source(str(path), source, Settings(), path)]


def test_every_rule_family_has_examples() -> None:
    assert {c[:4] for c in EXAMPLE_RULES} == {"FBG1", "FBG2"}
    assert len(EXAMPLE_RULES) == 14


@pytest.mark.parametrize("code", EXAMPLE_RULES)
def test_bad_example_gives_exactly_its_finding(code: str, tmp_path: Path) -> None:
    assert _codes(REGISTRY[code].bad.source, tmp_path) == [code]


@pytest.mark.parametrize("code", EXAMPLE_RULES)
def test_good_example_is_silent(code: str, tmp_path: Path) -> None:
    assert _codes(REGISTRY[code].good.source, tmp_path) == []
