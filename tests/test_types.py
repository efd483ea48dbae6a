"""The package type-checks: mypy with the configuration in pyproject.toml ([tool.mypy], strict),
and every `type: ignore` left is one that libcst's type stubs force, with its reason."""

import re
import subprocess
import sys
from pathlib import Path
from typing import List, Set

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "flake8_fastapi_bg"
_IGNORE = re.compile(r"#\s*type:\s*ignore(?P<rest>.*)")
# `# type: ignore[code]  # libcst: why the stubs are wrong or too coarse here`
_WITH_REASON = re.compile(r"\[[a-z-]+(, ?[a-z-]+)*\]  # libcst: \S")


def _relaxed_modules() -> Set[str]:
    """The modules the mypy configuration exempts (ignore_errors) while they are rewritten."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    relaxed: Set[str] = set()
    for override in config["tool"]["mypy"].get("overrides", []):
        if override.get("ignore_errors"):
            modules = override["module"]
            relaxed.update([modules] if isinstance(modules, str) else modules)
    return relaxed


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


@pytest.mark.slow  # a subprocess of several seconds
def test_mypy_passes_on_the_package() -> None:
    run = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, f"mypy failed:\n{run.stdout}{run.stderr}"


def test_every_type_ignore_is_forced_by_libcst_and_says_why() -> None:
    relaxed = _relaxed_modules()
    unexplained: List[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if _module_name(path) in relaxed:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            found = _IGNORE.search(line)
            if found and not _WITH_REASON.match(found.group("rest")):
                unexplained.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not unexplained, ("a `type: ignore` must name its code and say which libcst stub forces "
                             "it (`# type: ignore[code]  # libcst: reason`):\n" + "\n".join(unexplained))


def test_the_relaxed_modules_exist() -> None:
    """An exemption outlives its module only by mistake: remove it with the module."""
    missing = [name for name in sorted(_relaxed_modules())
               if not (ROOT / Path(*name.split("."))).with_suffix(".py").exists()]
    assert not missing, f"[tool.mypy.overrides] exempts modules that do not exist: {missing}"
