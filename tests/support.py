"""Helpers shared by the test modules, imported as `support` (tests/conftest.py puts this
folder on `sys.path`)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Set, Tuple


# A project helper that a task reaches, before and after an edit three modules away makes it
# critical work: the tests of the cache and of a file both linted and reached swap one for the
# other and expect FBG104 to come and go (the edit is found by content, not only by stamps).
QUIET_HELPER = """\
import logging


def note(order_id):
    logging.getLogger(__name__).info("order %s", order_id)
"""

STRIPE_HELPER = """\
import stripe


def note(order_id):
    stripe.PaymentIntent.create(amount=order_id)
"""


def write_tree(root: Path, files: Dict[str, str], *, dedent: bool = False, marker: bool = False) -> Path:
    """Write `files` ({relative path: text}) under `root`, making folders as needed. `dedent`:
    the texts are indented literals (dedented, leading blank lines dropped); `marker`: an empty
    `pyproject.toml` makes `root` the project's root."""
    if marker:
        (root / "pyproject.toml").write_text("")
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip() if dedent else text, encoding="utf-8")
    return root


def clean_env() -> Dict[str, str]:
    """This environment without the caller's FLAKE8_* settings, and without colour. The
    persistent cache's directory is kept: the test session points it at a temporary one
    (conftest.py), so that no run leaves a cache in the checkout."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("FLAKE8") or k == "FLAKE8_FASTAPI_BG_CACHE_DIR"}
    env["NO_COLOR"] = "1"
    return env


def forget_projects() -> None:
    """Drop every Project and its parsed modules: the next lint starts cold."""
    from flake8_fastapi_bg import project

    project._project_for_dir.cache_clear()
    project._project_for_roots.cache_clear()


def run_python(*args: str, cwd: Optional[Path] = None, stdin: str = "",
               timeout: float = 300) -> subprocess.CompletedProcess:
    """This interpreter with `args` in a new process and a clean environment, in `cwd`."""
    return subprocess.run([sys.executable, *args], cwd=cwd, input=stdin, capture_output=True,
                          text=True, env=clean_env(), timeout=timeout)


def fail_analysis(monkeypatch, hook: Callable[[str], None]) -> None:
    """Call `hook(display)` as the engine starts analysing a file (after the text test): a
    fault injected there, or a record of the files analysed. Nothing in the package helps."""
    from flake8_fastapi_bg import engine

    analyse = engine._lint

    def hooked(display: str, *args: Any, **kwargs: Any) -> Any:
        hook(display)
        return analyse(display, *args, **kwargs)

    monkeypatch.setattr(engine, "_lint", hooked)


class Parses:
    """What libcst parses while the engine runs, counted by monkeypatching libcst and the
    slicing module (the package keeps no counters):

    - `calls`: every libcst parse, of a whole module or of one statement group or method;
    - `sources`: the text of each of those parses;
    - `made`: the text of every libcst tree made, parsed (as in `sources`) or built from `ast`
      (`convert`, a statement group of a reached module);
    - `groups`: (module name, linted, group index) of each statement group parsed, in order;
    - `modules`: for each (module name, linted), the distinct `SlicedModuleInfo` objects that
      parsed some group (more than one: the module was summarised and parsed twice).
    """

    def __init__(self, monkeypatch) -> None:
        import libcst as cst

        from flake8_fastapi_bg import slicing

        self.calls = 0
        self.sources: List[str] = []
        self.made: List[str] = []
        self.groups: List[Tuple[str, bool, int]] = []
        self.modules: Dict[Tuple[str, bool], Set[int]] = {}
        parse_module = cst.parse_module

        def counting(source: "str | bytes", *args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            self.sources.append(source if isinstance(source, str) else source.decode("utf-8", "replace"))
            self.made.append(self.sources[-1])
            return parse_module(source, *args, **kwargs)

        convert = slicing.SlicedModuleInfo._convert

        def converting(info: Any, index: int) -> Any:
            built = convert(info, index)
            if built is not None:
                self.made.append(info._source(*info._groups[index]))
            return built

        statements = slicing.SlicedModuleInfo.statements

        def recording(info: Any, index: int) -> Any:
            if index not in info._parsed:
                self.groups.append((info.name, info.linted, index))
                self.modules.setdefault((info.name, info.linted), set()).add(id(info))
            return statements(info, index)

        monkeypatch.setattr(cst, "parse_module", counting)
        monkeypatch.setattr(slicing.SlicedModuleInfo, "statements", recording)
        monkeypatch.setattr(slicing.SlicedModuleInfo, "_convert", converting)

    def reached(self) -> Set[str]:
        """The modules, other than linted files, that some group was parsed of."""
        return {name for name, linted, _ in self.groups if not linted}

    def linted(self) -> Set[str]:
        return {name for name, linted, _ in self.groups if linted}

    def parsed_twice(self) -> List[str]:
        """Modules parsed again as the same kind (reached, or linted), or groups parsed twice."""
        twice = [name for (name, _), infos in self.modules.items() if len(infos) > 1]
        seen: Set[Tuple[str, bool, int]] = set()
        for group in self.groups:
            if group in seen:
                twice.append(group[0])
            seen.add(group)
        return twice
