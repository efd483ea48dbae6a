"""The flake8 adapter: registers the options, reads the settings, runs the engine per file."""

from __future__ import annotations

import sys
from typing import Any, ClassVar, Generator, List, Tuple, Type

from . import __version__
from .engine import lint_source
from .settings import OPTIONS, ConfigError, Settings, option_values, settings_from_env_and_pyproject


class Plugin:
    name = "flake8-fastapi-bg"
    version = __version__
    settings: ClassVar[Settings] = Settings()

    def __init__(self, tree: Any, filename: str, lines: List[str]) -> None:
        # `tree` is flake8's ast; asking for it makes this a once-per-file plugin. The engine
        # parses with libcst itself, and only when the file can schedule a task.
        self.filename = filename
        self.lines = lines

    @classmethod
    def add_options(cls, option_manager: Any) -> None:
        for spec in OPTIONS:
            kwargs = {"parse_from_config": True, "help": spec.help + " (flake8-fastapi-bg)"}
            if spec.kind == "globs":
                kwargs["comma_separated_list"] = True
            option_manager.add_option(spec.flag, metavar=spec.metavar, default=None, **kwargs)

    @classmethod
    def parse_options(cls, options: Any) -> None:
        try:
            cls.settings = settings_from_env_and_pyproject(option_values(options))
        except ConfigError as exc:
            print(f"flake8-fastapi-bg: invalid configuration: {exc}", file=sys.stderr)
            raise SystemExit(2) from None

    def run(self) -> Generator[Tuple[int, int, str, Type["Plugin"]], None, None]:
        source = "".join(self.lines)
        path = None if self.filename in ("stdin", "-") else self.filename  # a Path only if needed
        for finding in lint_source(self.filename, source, self.settings, path, batch=True):
            yield finding.line, finding.col, finding.text, type(self)
