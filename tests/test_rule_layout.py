"""The shape of the rules: each check sits next to its record and judges typed, frozen facts;
no rule walks the syntax tree or reaches into another module's private names."""

from __future__ import annotations

import ast
import dataclasses
import importlib
from pathlib import Path

import pytest

from flake8_fastapi_bg.rules import REGISTRY, EngineRule, ModuleRule, TaskRule

PACKAGE = Path(__file__).parent.parent / "flake8_fastapi_bg"
RULE_MODULES = sorted(p for p in (PACKAGE / "rules").glob("*.py") if p.stem not in ("__init__", "base"))
# What judging needs; the syntax tree and the evaluator belong to the gatherers.
FORBIDDEN = ("libcst", "syntax", "scopes", "values", "collect", "analyse", "project")
FACT_MODULES = ("sites", "responses", "lifetimes", "websockets", "dependencies")


@pytest.mark.parametrize("path", RULE_MODULES, ids=lambda p: p.stem)
def test_rule_modules_import_only_facts_and_public_names(path: Path) -> None:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            assert not any(a.name.split(".")[0] in FORBIDDEN for a in node.names), (path.name, ast.dump(node))
        elif isinstance(node, ast.ImportFrom):
            module = (node.module or "").split(".")
            assert not (node.level == 2 and module[0] in FORBIDDEN), (path.name, node.module)
            assert module[0] != "libcst", path.name
            assert not any(a.name.startswith("_") for a in node.names), (path.name, node.module)


@pytest.mark.parametrize("code", sorted(REGISTRY))
def test_each_check_sits_next_to_its_record(code: str) -> None:
    rule = REGISTRY[code]
    if isinstance(rule, ModuleRule):
        assert rule.check.__module__ == f"flake8_fastapi_bg.rules.{code.lower()}"
    elif isinstance(rule, TaskRule):
        assert rule.check.__module__ == "flake8_fastapi_bg.rules.work"
    else:
        assert isinstance(rule, EngineRule) and code.startswith("FBG9")


@pytest.mark.parametrize("name", FACT_MODULES)
def test_facts_are_frozen(name: str) -> None:
    module = importlib.import_module(f"flake8_fastapi_bg.facts.{name}")
    classes = [c for c in vars(module).values()
               if isinstance(c, type) and c.__module__ == module.__name__ and dataclasses.is_dataclass(c)]
    assert classes
    for cls in classes:
        assert cls.__dataclass_params__.frozen, cls.__name__  # type: ignore[attr-defined]
