"""Run every fixture through the engine and compare with its `# expect:` comments."""

from __future__ import annotations

from pathlib import Path
from typing import Dict

import pytest
from fixture_grammar import compare, expectations, options

from flake8_fastapi_bg.engine import lint_source
from flake8_fastapi_bg.settings import Settings, load_pyproject

FIXTURES = Path(__file__).parent / "fixtures"
SINGLE = sorted(p for p in FIXTURES.glob("*.py"))
PROJECTS = sorted(p for p in (FIXTURES / "projects").iterdir() if p.is_dir())


def _lint(path: Path, settings: Settings):
    source = path.read_text(encoding="utf-8")
    return [(f.line, f.code, f.message) for f in lint_source(str(path), source, settings, path)]


@pytest.mark.parametrize("path", SINGLE, ids=[p.name for p in SINGLE])
def test_single_file_fixture(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    settings = Settings.from_values(options(source))
    problems = compare(path.name, expectations(source), _lint(path, settings))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("project", PROJECTS, ids=[p.name for p in PROJECTS])
def test_project_fixture(project: Path) -> None:
    files = sorted(project.rglob("*.py"))
    settings = load_pyproject(project / "pyproject.toml") if (project / "pyproject.toml").exists() \
        else Settings()
    extra: Dict[str, str] = {}
    for path in files:
        extra.update(options(path.read_text(encoding="utf-8")))
    if extra:
        settings = settings.merged(Settings.from_values(extra))
    problems = []
    for path in files:
        source = path.read_text(encoding="utf-8")
        problems += compare(str(path.relative_to(project)), expectations(source), _lint(path, settings))
    assert not problems, "\n".join(problems)


def test_every_fixture_project_has_expectations_or_says_silent() -> None:
    for project in PROJECTS:
        texts = [p.read_text(encoding="utf-8") for p in project.rglob("*.py")]
        assert any("expect:" in t or "silent" in t for t in texts), project
