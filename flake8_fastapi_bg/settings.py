"""Options: defined once, registered with flake8 and the standalone command, validated once.

Each option is an `OptionSpec`; the flake8 adapter, the standalone command's argument parser,
the pyproject.toml reader and the generated configuration reference all read `OPTIONS`.
`Settings` is the frozen record the engine receives.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

PREFIX = "fastapi-bg-"


class ConfigError(ValueError):
    """Invalid configuration, reported as one clear line."""


@dataclass(frozen=True)
class OptionSpec:
    name: str  # key without the prefix, as in pyproject.toml
    kind: str  # "globs", "version", "int", "path", "flag"
    default: Any
    help: str
    metavar: str = ""

    @property
    def flag(self) -> str:
        return f"--{PREFIX}{self.name}"

    @property
    def dest(self) -> str:
        return (PREFIX + self.name).replace("-", "_")

    @property
    def field(self) -> str:
        return self.name.replace("-", "_")


OPTIONS: Tuple[OptionSpec, ...] = (
    OptionSpec("cpu-heavy", "globs", (),
               "Qualified-name globs of functions that are CPU-heavy; a task matches when its own "
               "name matches or it calls a matching function (FBG101).", "GLOBS"),
    OptionSpec("long-running", "globs", (),
               "Qualified-name globs of functions that run long; a task matches when its own "
               "name matches or it calls a matching function (FBG103).", "GLOBS"),
    OptionSpec("critical", "globs", (),
               "Qualified-name globs of work that must not be lost; a task matches when its own "
               "name matches or it calls a matching function (FBG104).", "GLOBS"),
    OptionSpec("best-effort", "globs", (),
               "Qualified-name globs of tasks that are not critical: suppresses FBG104.", "GLOBS"),
    OptionSpec("light", "globs", (),
               "Qualified-name globs of tasks that are light: suppresses FBG101 and FBG103.", "GLOBS"),
    OptionSpec("fastapi-version", "version", None,
               "FastAPI version whose semantics apply (FBG203). Default: the installed version, "
               "else the newest known.", "VERSION"),
    OptionSpec("max-depth", "int", 8,
               "How many call levels to follow from a task into project code.", "N"),
    OptionSpec("cache-dir", "path", None,
               "Directory of the persistent cache of findings. Default: .fastapi_bg_cache at the "
               "project root, or the FLAKE8_FASTAPI_BG_CACHE_DIR environment variable.", "DIR"),
    OptionSpec("no-cache", "flag", False,
               "Neither read nor write the persistent cache of findings."),
)

NEWEST_KNOWN_FASTAPI = (0, 165, 0)
_GLOB = re.compile(r"^[A-Za-z0-9_.*?\[\]!-]+$")
_VERSION = re.compile(r"^\d+(\.\d+){0,2}$")


@dataclass(frozen=True)
class Settings:
    cpu_heavy: Tuple[str, ...] = ()
    long_running: Tuple[str, ...] = ()
    critical: Tuple[str, ...] = ()
    best_effort: Tuple[str, ...] = ()
    light: Tuple[str, ...] = ()
    fastapi_version: Optional[Tuple[int, ...]] = None
    max_depth: int = 8
    cache_dir: Optional[str] = None  # the persistent cache's (cache.py): no effect on findings
    no_cache: bool = False
    extra: Dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def effective_fastapi_version(self) -> Tuple[int, ...]:
        return self.fastapi_version or installed_fastapi_version() or NEWEST_KNOWN_FASTAPI

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> "Settings":
        """Build settings from raw option values keyed by pyproject name or field name."""
        kwargs: Dict[str, Any] = {}
        for spec in OPTIONS:
            raw = values.get(spec.name, values.get(spec.field))
            if raw is None:
                continue
            kwargs[spec.field] = _convert(spec, raw)
        return cls(**kwargs)

    def merged(self, other: "Settings") -> "Settings":
        """`other` on top of self: glob lists add up, set scalars of `other` win."""
        changes: Dict[str, Any] = {}
        for spec in OPTIONS:
            mine, theirs = getattr(self, spec.field), getattr(other, spec.field)
            if spec.kind == "globs":
                changes[spec.field] = tuple(dict.fromkeys(mine + theirs))
            elif theirs != spec.default and theirs is not None:
                changes[spec.field] = theirs
        return replace(self, **changes)


def _convert(spec: OptionSpec, raw: Any) -> Any:
    where = f"{PREFIX}{spec.name}"
    if spec.kind == "globs":
        if not isinstance(raw, (str, list, tuple)):
            raise ConfigError(f"{where}: {raw!r} is not a list of qualified-name globs")
        items = raw.split(",") if isinstance(raw, str) else list(raw)
        globs = tuple(str(i).strip() for i in items if str(i).strip())
        for glob in globs:
            if not _GLOB.match(glob) or glob.count("[") != glob.count("]") or ".." in glob:
                raise ConfigError(f"{where}: {glob!r} is not a qualified-name glob "
                                  f"(like 'app.billing.*' or 'stripe.*')")
        return globs
    if spec.kind == "version":
        text = str(raw).strip()
        if not _VERSION.match(text):
            raise ConfigError(f"{where}: {text!r} is not a version (like '0.115' or '0.115.2')")
        return tuple(int(p) for p in text.split("."))
    if spec.kind == "int":
        try:
            number = int(str(raw).strip())
        except ValueError:
            raise ConfigError(f"{where}: {raw!r} is not a whole number") from None
        if not 0 <= number <= 50:
            raise ConfigError(f"{where}: {number} is out of range (0 to 50)")
        return number
    if spec.kind == "path":
        text = str(raw).strip()
        if not text:
            raise ConfigError(f"{where}: an empty path")
        return text
    if spec.kind == "flag":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"{where}: {raw!r} is not true or false")
    raise AssertionError(spec.kind)


_installed: Dict[str, Optional[Tuple[int, ...]]] = {}


def installed_fastapi_version() -> Optional[Tuple[int, ...]]:
    """The version of the FastAPI that this Python would import, or None."""
    if "fastapi" not in _installed:
        text = _declared_version("fastapi")
        if text is None:
            try:
                from importlib.metadata import version

                text = version("fastapi")
            except Exception:
                text = None
        numbers = re.findall(r"\d+", text or "")[:3]
        _installed["fastapi"] = tuple(int(p) for p in numbers) if numbers else None
    return _installed["fastapi"]


_VERSION_LINE = re.compile(r"""^__version__\s*=\s*["']([0-9][^"']*)["']""", re.M)


def _declared_version(package: str) -> Optional[str]:
    """`__version__` as the package's `__init__.py` declares it (FastAPI's own source of its
    version), found through the import system without importing the package: much cheaper
    than `importlib.metadata`, which reads every distribution's metadata on the path."""
    try:
        from importlib.util import find_spec

        spec = find_spec(package)
        if spec is None or not spec.origin or not spec.origin.endswith("__init__.py"):
            return None
        with open(spec.origin, encoding="utf-8") as handle:
            found = _VERSION_LINE.search(handle.read(20_000))
        return found.group(1) if found else None
    except Exception:
        return None


def find_pyproject(start: Optional[Path] = None) -> Optional[Path]:
    current = (start or Path.cwd()).absolute()
    for candidate in (current, *current.parents):
        path = candidate / "pyproject.toml"
        if path.is_file():
            return path
    return None


def load_pyproject(path: Optional[Path]) -> Settings:
    """Settings from `[tool.flake8-fastapi-bg]` in a pyproject.toml (empty when absent)."""
    if path is None:
        return Settings()
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise ConfigError(f"{path}: 'tool' must be a table")
    table = tool.get("flake8-fastapi-bg", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.flake8-fastapi-bg] must be a table")
    known = {spec.name for spec in OPTIONS}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) in [tool.flake8-fastapi-bg]: {', '.join(unknown)}; "
                          f"known: {', '.join(sorted(known))}")
    for spec in OPTIONS:
        if spec.name in table:
            _check_toml_type(path, spec, table[spec.name])
    return Settings.from_values(table)


_TOML_TYPES = {"globs": "a list of strings", "version": "a string (like \"0.115\")",
               "int": "a whole number", "path": "a string", "flag": "true or false"}


def _check_toml_type(path: Path, spec: OptionSpec, value: Any) -> None:
    """TOML values have types: refuse the ones `_convert` would misread (a list of numbers as
    globs, `0.120` read as the float 0.12, `true` as a depth)."""
    if spec.kind == "globs":
        ok = isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
    elif spec.kind in ("version", "path"):
        ok = isinstance(value, str)
    elif spec.kind == "flag":
        ok = isinstance(value, bool)
    else:
        ok = isinstance(value, int) and not isinstance(value, bool)
    if not ok:
        raise ConfigError(f"{path}: {spec.name} in [tool.flake8-fastapi-bg] must be "
                          f"{_TOML_TYPES[spec.kind]}, "
                          f"not {_toml_type_name(value)} {value!r}")


def _toml_type_name(value: Any) -> str:
    for kind, name in ((bool, "a boolean"), (int, "an integer"), (float, "a float"), (str, "a string"),
                       (list, "an array"), (dict, "a table")):
        if isinstance(value, kind):
            return name
    return type(value).__name__


def settings_from_env_and_pyproject(overrides: Optional[Mapping[str, Any]] = None,
                                    start: Optional[Path] = None) -> Settings:
    base = load_pyproject(find_pyproject(start))
    if not overrides:
        return base
    return base.merged(Settings.from_values(overrides))


def option_values(namespace: argparse.Namespace) -> Dict[str, Any]:
    """Raw option values from an argparse/flake8 namespace, keyed by pyproject name."""
    values: Dict[str, Any] = {}
    for spec in OPTIONS:
        raw = getattr(namespace, spec.dest, None)
        if raw is None or raw is False or raw == [] or raw == "":
            continue
        if spec.kind == "globs" and isinstance(raw, (list, tuple)):
            raw = ",".join(str(r) for r in raw)
        values[spec.name] = raw
    return values


def describe_defaults(spec: OptionSpec) -> str:
    if spec.kind == "version":
        return "installed FastAPI, else newest"
    if spec.kind == "globs":
        return "(none)"
    if spec.kind == "path":
        return "`.fastapi_bg_cache` at the project root"
    if spec.kind == "flag":
        return "off"
    return str(spec.default)


__all__ = ["OPTIONS", "OptionSpec", "Settings", "ConfigError", "PREFIX", "load_pyproject",
           "find_pyproject", "settings_from_env_and_pyproject", "option_values", "Sequence"]
