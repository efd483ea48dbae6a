"""Generated documentation is up to date, complete, and its examples are valid configuration."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fixture_grammar import codes_in

from flake8_fastapi_bg import docs
from flake8_fastapi_bg.cli import flake8_config_values
from flake8_fastapi_bg.rules import REGISTRY, EngineRule
from flake8_fastapi_bg.settings import OPTIONS, PREFIX, Settings, load_pyproject

ROOT = Path(__file__).resolve().parent.parent
REGENERATE = "run `python -m flake8_fastapi_bg.docs` to regenerate"
SECTIONS = ["## What it does", "## Why is this bad?", "## Example", "## Use instead", "## Options",
            "## References"]


def test_generated_files_are_up_to_date() -> None:
    stale = [str(p.relative_to(ROOT)) for p in docs.stale_files(ROOT)]
    assert not stale, f"stale generated files {stale}: {REGENERATE}"


@pytest.mark.slow  # a subprocess; test_generated_files_are_up_to_date checks the same in-process
def test_check_mode_of_the_generator() -> None:
    done = subprocess.run([sys.executable, "-m", "flake8_fastapi_bg.docs", "--check"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_generator_rewrites_stale_and_removes_orphan_pages(tmp_path: Path) -> None:
    for name in ("docs", "examples"):
        shutil.copytree(ROOT / name, tmp_path / name)
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    page = tmp_path / "docs" / "rules" / f"{min(REGISTRY)}.md"
    page.write_text(page.read_text(encoding="utf-8") + "hand edit\n", encoding="utf-8")
    (tmp_path / "docs" / "rules" / "FBG999.md").write_text("retired\n", encoding="utf-8")
    readme = tmp_path / "README.md"
    text = readme.read_text(encoding="utf-8")
    readme.write_text(text.replace("| [FBG101]", "| [FBGXXX]"), encoding="utf-8")
    assert set(docs.stale_files(tmp_path)) == {page, tmp_path / "docs/rules/FBG999.md", readme}
    assert docs.main(["--check", "--root", str(tmp_path)]) == 1
    assert docs.main(["--root", str(tmp_path)]) == 0
    assert docs.stale_files(tmp_path) == [] and not (tmp_path / "docs/rules/FBG999.md").exists()


@pytest.mark.slow
def test_generation_is_deterministic() -> None:
    assert docs.generated_files(ROOT) == docs.generated_files(ROOT)


def test_missing_readme_markers_are_an_error() -> None:
    with pytest.raises(ValueError, match="rules-table"):
        docs.replace_sections("no markers", {"rules-table": "x"})


@pytest.mark.parametrize("code", sorted(REGISTRY))
def test_rule_page_sections(code: str) -> None:
    rule = REGISTRY[code]
    page = docs.rule_page(rule)
    assert page.startswith(f"# {code}: {rule.name}\n")
    engine_sections = ["## What it does", "## Why is this bad?", "## What to do", "## Options",
                       "## References"]
    expected = SECTIONS if not isinstance(rule, EngineRule) else engine_sections
    positions = [page.find(f"\n{heading}\n") for heading in expected]
    assert -1 not in positions and positions == sorted(positions), positions
    if not isinstance(rule, EngineRule):
        assert rule.bad.source.strip() in page and rule.good.source.strip() in page
    for name in rule.options:
        assert any(spec.name == name for spec in OPTIONS), f"{code} names unknown option {name}"
        assert f"../configuration.md#{PREFIX}{name}" in page


def test_every_code_is_documented_changelogged_and_tested() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    fixtures = codes_in(sorted((ROOT / "tests" / "fixtures").rglob("*.py")))
    problems = []
    for code, rule in sorted(REGISTRY.items()):
        if f"[{code}](docs/rules/{code}.md)" not in readme:
            problems.append(f"{code} is not in README's rules table")
        if not (ROOT / "docs" / "rules" / f"{code}.md").is_file():
            problems.append(f"{code} has no docs/rules/{code}.md")
        if code not in changelog:
            problems.append(f"{code} is not in CHANGELOG.md")
        if not isinstance(rule, EngineRule) and code not in fixtures:  # FBG9xx need no fixture
            problems.append(f"{code} has no fixture under tests/fixtures (# expect: {code})")
    assert not problems, "\n".join(problems)


def test_changelog_keeps_a_changelog() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert text.startswith("# Changelog\n") and "\n## [Unreleased]\n" in text
    assert "keepachangelog.com" in text


def test_changelog_dates_the_version_of_pyproject() -> None:
    # The README's install examples pin a commit of a released version: the CHANGELOG says when.
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    version = re.search(r'^version = "([^"]+)"$', pyproject, re.M)
    assert version is not None
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert re.search(rf"^## \[{re.escape(version.group(1))}\] - \d{{4}}-\d{{2}}-\d{{2}}$", text, re.M)


def _blocks(text: str, language: str) -> list:
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.M | re.S)


def test_configuration_examples_are_valid(tmp_path: Path) -> None:
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    ini_blocks, toml_blocks = _blocks(page, "ini"), _blocks(page, "toml")
    assert len(ini_blocks) == len(toml_blocks) == len(OPTIONS)
    for spec, ini, toml in zip(OPTIONS, ini_blocks, toml_blocks):
        assert f"### `{PREFIX}{spec.name}`" in page and spec.help in page
        cfg = tmp_path / "setup.cfg"
        cfg.write_text(ini, encoding="utf-8")
        from_ini = flake8_config_values(cfg)
        assert set(from_ini) == {spec.name}
        pyproject = tmp_path / "pyproject.toml"
        pyproject.write_text(toml, encoding="utf-8")
        from_toml = load_pyproject(pyproject)
        assert from_toml == Settings.from_values(
            {k: ",".join(v.replace(",", " ").split()) for k, v in from_ini.items()})
        assert getattr(from_toml, spec.field) != getattr(Settings(), spec.field)


def test_configuration_ini_examples_parse_with_configparser() -> None:
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    for block in _blocks(page, "ini"):
        parser = configparser.RawConfigParser()
        parser.read_string(block)
        assert parser.sections() == ["flake8"]


def test_links_to_generated_pages_resolve() -> None:
    for source in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        text = source.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(((?!https?:)[^)#\s]+)(?:#[^)]*)?\)", text):
            assert (source.parent / target).exists(), f"{source.relative_to(ROOT)} links to missing {target}"


def test_knowledge_page_is_generated() -> None:
    page = docs.knowledge_page()
    assert page is not None
    assert (ROOT / "docs" / "knowledge-base.md").read_text(encoding="utf-8") == page
