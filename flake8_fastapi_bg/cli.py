"""The standalone command, `flake8-fastapi-bg [PATHS...]`: a thin adapter over the engine.

It does what flake8 would do around the plugin — find the files, read the configuration, honour
`--select`/`--ignore` and `# noqa`, format the findings — and adds `--fix`/`--diff`,
`--explain` and machine-readable formats. Every finding comes from `engine.lint_source`
(through `adapter.lint_file`, the per-file step it shares with the flake8 plugin).

Exit status: 0 clean, 1 findings (or a file that could not be read, or `--diff` with changes),
2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import configparser
import difflib
import fnmatch
import io
import os
import re
import sys
import tokenize
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, NoReturn, Optional, Sequence, TextIO, Tuple

# flake8's own patterns and list splitting (flake8.defaults, flake8.utils) are imported where they
# are used: importing flake8 imports `logging` and `platform`, which a run on clean files never needs.
from . import __version__
from .adapter import lint_file
from .cache import Cache
from .edits import apply_fixes
from .model import Finding
from .output import FORMATS, Result, render
from .output import registry

if TYPE_CHECKING:
    from .rules import Rule
from .settings import OPTIONS, PREFIX, ConfigError, Settings, settings_from_env_and_pyproject

PROG = "flake8-fastapi-bg"
DEFAULT_EXCLUDE = (".git", ".hg", ".svn", ".tox", ".nox", ".venv", "venv", "__pycache__",
                   "node_modules", "build", "dist", ".eggs", "*.egg-info", ".mypy_cache",
                   ".pytest_cache", ".ruff_cache")
CONFIG_FILES = ("setup.cfg", "tox.ini", ".flake8")  # flake8's order
MAX_FIX_PASSES = 5  # overlapping fixes are applied on the next pass


class UsageError(Exception):
    """A bad command line: reported on stderr as one line, then a hint; exit status 2."""

    def __init__(self, message: str, hint: str = f"see '{PROG} --help'") -> None:
        super().__init__(message)
        self.hint = hint


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and a hint instead of the whole usage text."""

    def error(self, message: str) -> NoReturn:
        _usage_error(UsageError(message))
        sys.exit(2)


def _usage_error(exc: UsageError) -> None:
    print(f"{PROG}: error: {exc}", file=sys.stderr)
    print(f"hint: {exc.hint}", file=sys.stderr)


# --- configuration -------------------------------------------------------------------------


def find_flake8_config(start: Path) -> Optional[Path]:
    """The nearest setup.cfg/tox.ini/.flake8 with a `[flake8]` section, searching upward from
    `start` and stopping before the home directory, as flake8 does."""
    home = Path.home().absolute()
    directory = start.absolute()
    while True:
        for name in CONFIG_FILES:
            candidate = directory / name
            if candidate.is_file() and "flake8" in _read_ini(candidate, strict=False):
                return candidate
        if directory.parent == directory or directory.parent == home:
            return None
        directory = directory.parent


def _read_ini(path: Path, strict: bool = True) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as exc:
        if strict:
            raise ConfigError(f"{path}: cannot parse: {str(exc).splitlines()[0]}") from None
    return parser


def flake8_config_values(path: Path) -> Dict[str, str]:
    """The `fastapi-bg-*` keys of the `[flake8]` section, keyed by option name (no prefix)."""
    parser = _read_ini(path)
    if not parser.has_section("flake8"):
        return {}
    known = {spec.name for spec in OPTIONS}
    values = {}
    for key, raw in parser.items("flake8"):
        key = key.replace("_", "-")
        if not key.startswith(PREFIX):
            continue
        name = key[len(PREFIX):]
        if name not in known:
            raise ConfigError(f"{path}: unknown option {key!r} in [flake8]; known: "
                              f"{', '.join(PREFIX + n for n in sorted(known))}")
        values[name] = raw
    return values


def _normalise(values: Dict[str, object]) -> Dict[str, object]:
    # flake8 splits comma-separated lists on commas and whitespace (multi-line values too).
    kinds = {spec.name: spec.kind for spec in OPTIONS}
    return {name: ",".join(_comma_list(str(raw))) if kinds[name] == "globs"
            else str(raw).strip() for name, raw in values.items()}


def load_settings(cli_values: Dict[str, object], start: Path, config: Optional[Path] = None,
                  isolated: bool = False) -> Settings:
    """Settings as flake8 would build them: `[flake8]` values overridden per option by the
    command line, on top of `[tool.flake8-fastapi-bg]` from the nearest pyproject.toml."""
    if isolated:
        return Settings.from_values(_normalise(cli_values))
    if config is not None and not config.is_file():
        raise ConfigError(f"{config}: no such configuration file")
    ini = config or find_flake8_config(start)
    values: Dict[str, object] = dict(flake8_config_values(ini)) if ini else {}
    values.update(cli_values)
    return settings_from_env_and_pyproject(_normalise(values), start=start)


# --- files -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceFile:
    """A decoded source: text with `\\n` newlines, and how to write it back."""

    text: str
    encoding: str = "utf-8"
    newline: str = "\n"

    def encode(self, text: str) -> bytes:
        return text.replace("\n", self.newline).encode(self.encoding)


def decode_source(data: bytes) -> SourceFile:
    """Decode like Python does: coding cookie or BOM (`tokenize.detect_encoding`), then
    universal newlines. Raises SyntaxError (bad cookie) or UnicodeDecodeError."""
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    text = data.decode(encoding)
    newline = "\r\n" if b"\r\n" in data else ("\r" if b"\r" in data else "\n")
    return SourceFile(text.replace("\r\n", "\n").replace("\r", "\n"), encoding, newline)


class Excluder:
    """flake8's exclude test for one run: a path is excluded when a pattern matches its base
    name, its absolute path, or the path as given (`fnmatch`). Patterns without wildcards, the
    most common ones, are compared by set lookup; the others with `fnmatch`."""

    def __init__(self, patterns: Sequence[str], here: str) -> None:
        plain = [p for p in patterns if not _WILDCARD.search(p)]
        self.globs = [(p, os.path.normpath(os.path.join(here, p)), os.path.normpath(p))
                      for p in patterns if _WILDCARD.search(p)]
        case = os.path.normcase
        self.names = {case(p) for p in plain}
        self.absolute = {case(os.path.normpath(os.path.join(here, p))) for p in plain}
        self.given = {case(os.path.normpath(p)) for p in plain}
        self.here = here
        self.empty = not patterns

    def __call__(self, path: str) -> bool:
        if self.empty:
            return False
        case = os.path.normcase
        normal = os.path.normpath(path)
        name = os.path.basename(normal)
        full = os.path.normpath(os.path.join(self.here, path))
        if case(name) in self.names or case(full) in self.absolute or case(normal) in self.given:
            return True
        return any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(full, absolute)
                   or fnmatch.fnmatch(normal, given) for p, absolute, given in self.globs)


_WILDCARD = re.compile(r"[*?\[]")


def discover(paths: Sequence[str], exclude: Sequence[str], base: Path) -> Iterator[str]:
    """Display paths of the files to lint: named files as given (unless excluded), and the
    `.py` files under named directories, skipping `DEFAULT_EXCLUDE` and `exclude`."""
    here = os.getcwd()
    excluded = Excluder(exclude, here)
    skipped = Excluder(tuple(DEFAULT_EXCLUDE) + tuple(exclude), here)
    for given in paths:
        if given == "-" or not (base / given).is_dir():
            if given == "-" or not excluded(given):
                yield given
            continue
        found = []
        root = str(base / given)
        for directory, dirnames, filenames in os.walk(root):
            relative = directory[len(root):].lstrip(os.sep)  # os.walk joins below `root`
            shown = os.path.join(given, relative) if relative else given
            dirnames[:] = sorted(d for d in dirnames if not skipped(os.path.join(shown, d)))
            found += [os.path.join(shown, f) for f in filenames
                      if f.endswith(".py") and not excluded(os.path.join(shown, f))]
        yield from sorted(found)


# --- filtering: --select/--ignore and # noqa ------------------------------------------------------


class Selector:
    """flake8's decision: a code is reported when the longest matching `select` prefix is
    longer than the longest matching `ignore` prefix."""

    def __init__(self, select: Sequence[str] = ("FBG",), ignore: Sequence[str] = ()) -> None:
        for flag, codes in (("--select", select), ("--ignore", ignore)):
            for code in codes:
                check_code_prefix(flag, code)
        self.select, self.ignore = tuple(select), tuple(ignore)

    def __call__(self, code: str) -> bool:
        selected = max((len(p) for p in self.select if code.startswith(p)), default=-1)
        ignored = max((len(p) for p in self.ignore if code.startswith(p)), default=-1)
        return selected >= 0 and selected > ignored


def check_code_prefix(flag: str, code: str) -> None:
    """A `--select`/`--ignore` value must be a code prefix that matches at least one rule: a
    typo must not silently turn a CI gate off (or select nothing)."""
    if code and "FBG".startswith(code):  # every code starts with FBG: no need to load the rules
        return
    from flake8.defaults import VALID_CODE_PREFIX

    valid = VALID_CODE_PREFIX.match(code) is not None
    if valid and any(rule.startswith(code) for rule in registry()):
        return
    close = difflib.get_close_matches(code.upper(), sorted(registry()), n=1)
    guess = f"did you mean {close[0]}? " if close else ""
    problem = "matches no rule" if valid else "is not a code prefix"
    raise UsageError(f"{flag} {code!r} {problem}",
                     f"{guess}'{PROG} --list-rules' lists the codes; prefixes like FBG or FBG1 work")


def physical_lines(text: str) -> List[str]:
    """The lines as flake8 reads them: split on newlines only (not on form feeds)."""
    return io.StringIO(text).readlines()


def noqa_lines(text: str) -> Dict[int, str]:
    """flake8's map from a line number to the text searched for `# noqa`: the physical line,
    or all the lines of a token that spans several (a multi-line string)."""
    lines = physical_lines(text)
    mapping: Dict[int, str] = {}
    low, high = len(lines) + 2, -1
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type in (tokenize.ENDMARKER, tokenize.DEDENT):
                continue
            low, high = min(low, token.start[0]), max(high, token.end[0])
            if token.type in (tokenize.NL, tokenize.NEWLINE):
                joined = "".join(lines[low - 1:high])
                mapping.update(dict.fromkeys(range(low, high + 1), joined))
                low, high = len(lines) + 2, -1
    except (tokenize.TokenError, SyntaxError):
        return {}
    return mapping


def is_noqa(finding: Finding, line_text: str) -> bool:
    """flake8's inline rule: a bare `# noqa` silences everything, `# noqa: A,B` the codes
    that start with one of the listed codes."""
    from flake8.defaults import NOQA_INLINE_REGEXP

    match = NOQA_INLINE_REGEXP.search(line_text)
    if match is None:
        return False
    codes = match.group("codes")
    return codes is None or finding.code.startswith(tuple(_comma_list(codes)))


# --- linting ------------------------------------------------------------------------------------------


def is_file_noqa(text: str) -> bool:
    """flake8's file rule: a `# flake8: noqa` line skips the whole file."""
    from flake8.defaults import NOQA_FILE

    return any(NOQA_FILE.match(line) for line in physical_lines(text))


_FLAKE8_WORD = re.compile("flake8", re.I)  # `# flake8: noqa` needs it: most files are passed at once
_NOQA_WORD = re.compile("noqa", re.I)  # so does every `# noqa`: without it, no line is tokenized


@dataclass
class FileReport:
    display: str
    findings: List[Finding]
    source: Optional[SourceFile] = None
    fixed_text: Optional[str] = None  # set when fixes changed the text
    fixed: int = 0


@dataclass
class Linter:
    """Runs the engine on files and keeps what flake8 would report."""

    settings: Settings
    selector: Selector = field(default_factory=Selector)
    disable_noqa: bool = False
    fix: bool = False
    cache: Optional[Cache] = None  # the persistent cache (none while fixing)
    stdin: bool = False  # the file comes from standard input: never cached

    def report(self, display: str, text: str, path: Optional[Path]) -> List[Finding]:
        if not self.disable_noqa and _FLAKE8_WORD.search(text) and is_file_noqa(text):
            return []  # `# flake8: noqa` skips the whole file (lines split only when it may)
        found = lint_file(display, text, self.settings, path, self.cache, cacheable=not self.stdin)
        findings = [f for f in found if self.selector(f.code)]
        if self.disable_noqa or not findings or not _NOQA_WORD.search(text):
            return findings
        lines = physical_lines(text)
        mapping = noqa_lines(text)
        return [f for f in findings if not is_noqa(f, mapping.get(f.line) or _line(lines, f.line))]

    def check(self, display: str, source: SourceFile, path: Optional[Path]) -> FileReport:
        findings = self.report(display, source.text, path)
        report = FileReport(display, findings, source)
        text = source.text
        for _ in range(MAX_FIX_PASSES if self.fix else 0):
            fixable = [f for f in findings if f.fix is not None]
            candidate, count = apply_fixes(text, fixable) if fixable else (text, 0)
            if count == 0 or candidate == text or _breaks(text, candidate, display):
                break
            text, report.fixed = candidate, report.fixed + count
            findings = report.findings = self.report(display, text, path)
        if text != source.text:
            report.fixed_text = text
        return report


def _line(lines: List[str], number: int) -> str:
    return lines[number - 1] if 0 < number <= len(lines) else ""


def _compiles(text: str, display: str) -> bool:
    try:
        compile(text, display, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return False
    return True


def _breaks(before: str, after: str, display: str) -> bool:
    """A safety net: refuse a fix that turns compiling code into code that does not compile."""
    if _compiles(after, display) or not _compiles(before, display):
        return False
    print(f"{PROG}: {display}: a fix produced invalid code; left unchanged — please report "
          f"this", file=sys.stderr)
    return True


def unified_diff(display: str, before: str, after: str) -> str:
    name = Path(os.path.normpath(display)).as_posix()
    lines = difflib.unified_diff(io.StringIO(before).readlines(), io.StringIO(after).readlines(),
                                 f"a/{name}", f"b/{name}")
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                   for line in lines)


# --- command line ----------------------------------------------------------------------------------


def _comma_list(value: str) -> List[str]:
    """A comma-separated list split as flake8 splits it (on commas and whitespace). flake8.utils
    is imported on first use: it imports `platform`, which a run given no list never needs."""
    from flake8.utils import parse_comma_separated_list

    return parse_comma_separated_list(value)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog=PROG, description="Find the wrong work in FastAPI BackgroundTasks, and tasks that "
        "break or never run. Runs the same checks as the flake8 plugin (codes FBG).")
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="files or directories to lint (default: .); - reads standard input")
    out = parser.add_argument_group("output")
    out.add_argument("--format", choices=sorted({*FORMATS, "markdown"}), default="text",
                     help="default: text; markdown is for --inventory only")
    out.add_argument("--output-file", metavar="FILE", help="write the report to FILE")
    out.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                     help="colour text output: auto (a terminal, NO_COLOR unset), always, never")
    out.add_argument("--show-chain", action="store_true",
                     help="text format: print each finding's evidence chain (site, project calls, "
                     "evidence) on indented lines below it")
    out.add_argument("--exit-zero", action="store_true", help="exit 0 even when there are findings")
    sel = parser.add_argument_group("selection")
    sel.add_argument("--select", type=_comma_list, default=["FBG"], metavar="CODES",
                     help="comma-separated code prefixes to report (default: FBG)")
    sel.add_argument("--ignore", type=_comma_list, default=[], metavar="CODES",
                     help="comma-separated code prefixes not to report")
    sel.add_argument("--exclude", type=_comma_list, action="append", default=[], metavar="GLOBS",
                     help=f"more file or directory globs to skip (always skipped: "
                     f"{', '.join(DEFAULT_EXCLUDE)})")
    sel.add_argument("--disable-noqa", action="store_true", help="ignore # noqa comments")
    sel.add_argument("--stdin-display-name", default="stdin", metavar="NAME",
                     help="the name of the file read from standard input (-)")
    fixes = parser.add_mutually_exclusive_group()
    fixes.add_argument("--fix", action="store_true", help="apply the safe fixes in place")
    fixes.add_argument("--diff", action="store_true",
                       help="print the fixes as a unified diff without writing (exit 1 if any)")
    cfg = parser.add_argument_group("configuration (see docs/configuration.md)")
    cfg.add_argument("--config", type=Path, metavar="FILE",
                     help="read this setup.cfg/tox.ini/.flake8 instead of searching for one")
    cfg.add_argument("--isolated", action="store_true",
                     help="ignore setup.cfg, tox.ini, .flake8 and pyproject.toml")
    for spec in OPTIONS:
        flags = [spec.flag]
        if spec.kind in ("path", "flag"):  # the cache's: --cache-dir, --no-cache
            flags.insert(0, f"--{spec.name}")
        if spec.kind == "flag":
            cfg.add_argument(*flags, dest=spec.dest, action="store_true", default=None, help=spec.help)
            continue
        extra: Dict[str, Any] = {"action": "append"} if spec.kind == "globs" else {}
        cfg.add_argument(*flags, dest=spec.dest, metavar=spec.metavar, help=spec.help, **extra)
    info = parser.add_argument_group("information")
    info.add_argument("--inventory", action="store_true",
                      help="list every background task site (route, task, where it runs, class, "
                      "evidence, resolution) instead of the findings; formats text, json, markdown")
    info.add_argument("--explain", metavar="RULE",
                      help="print the documentation of a rule, by code or name (FBG104, critical-task)")
    info.add_argument("--list-rules", action="store_true", help="list every rule")
    info.add_argument("--verbose", "-v", action="store_true",
                      help="print what the persistent cache did to standard error "
                      "(cache: N hits, N misses (N files analysed))")
    info.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    return parser


def _cli_values(args: argparse.Namespace) -> Dict[str, object]:
    values: Dict[str, object] = {}
    for spec in OPTIONS:
        raw = getattr(args, spec.dest)
        if raw is not None:
            values[spec.name] = ",".join(raw) if isinstance(raw, list) else raw
    return values


def _list_rules() -> str:
    rules = registry()
    width = max((len(r.name) for r in rules.values()), default=0)
    return "".join(f"{code}  {rules[code].name:<{width}}  {rules[code].summary}"
                   f"{'  [fix]' if rules[code].fixable else ''}\n" for code in sorted(rules))


def find_rule(code_or_name: str) -> Optional["Rule"]:
    """The rule with this code (any case) or name (`critical-task`, `critical_task`)."""
    key = code_or_name.strip()
    rules = registry()
    by_name = {rule.name: rule for rule in rules.values()}
    return rules.get(key.upper()) or by_name.get(key.lower().replace("_", "-"))


def _explain(code_or_name: str) -> str:
    from .docs import rule_page

    rule = find_rule(code_or_name)
    if rule is None:
        rules = registry()
        choices = {name.lower(): name for name in (*(r.name for r in rules.values()), *rules)}
        close = [choices[c] for c in difflib.get_close_matches(code_or_name.strip().lower(), choices, n=1)]
        guess = f"did you mean {close[0]}? " if close else ""
        raise UsageError(f"--explain: no rule is called {code_or_name!r}",
                         f"{guess}'{PROG} --list-rules' lists every code and name")
    return plain_text(rule_page(rule))


_COMMENT = re.compile(r"<!--.*?-->\n*", re.S)
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")


def plain_text(page: str) -> str:
    """A generated rule page for a terminal: no HTML comments, headings underlined, links as
    their text (and the address, for a web link), code blocks indented, no emphasis marks."""
    def link(match: "re.Match[str]") -> str:
        text, target = match.group(1), match.group(2)
        return f"{text} ({target})" if target.startswith(("http://", "https://")) else text

    out: List[str] = []
    in_code = False
    for line in _COMMENT.sub("", page).splitlines():
        if line.startswith("```"):
            in_code = not in_code
            continue
        if in_code:
            out.append(f"    {line}" if line else "")
        elif line.startswith("#"):
            title = line.lstrip("#").strip()
            out += [title, ("=" if line.startswith("# ") else "-") * len(title)]
        else:
            out.append(_LINK.sub(link, line).replace("**", ""))
    return "\n".join(out).rstrip("\n") + "\n"


def _read(display: str, args: argparse.Namespace) -> Tuple[str, SourceFile, Optional[Path]]:
    if display == "-":
        name = args.stdin_display_name
        source = decode_source(sys.stdin.buffer.read())
        return name, source, None if name in ("stdin", "-") else Path(name)
    return shown(display), decode_source(Path(display).read_bytes()), Path(display)


def shown(path: str) -> str:
    """A file's path as findings show it: relative to the current directory, like the paths in
    the evidence of a message (`at app/services/billing.py:9`), so `.`, `./app` and an absolute
    path all write `app/routes/x.py`."""
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Lint, fix and report; returns the exit status."""
    if args.fix and "-" in args.paths:
        raise UsageError("--fix cannot rewrite standard input",
                         f"'{PROG} --diff -' prints the fixes as a diff instead")
    if not args.select:
        raise UsageError("--select is empty, so nothing would be reported",
                         "leave --select out to report every FBG code")
    selector = Selector(args.select, args.ignore)
    settings = load_settings(_cli_values(args), Path.cwd(), args.config, args.isolated)
    if args.inventory:
        return run_inventory(args, settings, out)
    if args.format == "markdown":
        raise UsageError("--format markdown is for --inventory",
                         "the findings come as text, json, sarif or github")
    fixing = bool(args.fix or args.diff)
    # Fixing rewrites files between analyses: it runs without the cache.
    cache = None if fixing else Cache(settings)
    linter = Linter(settings, selector, args.disable_noqa, fix=fixing, cache=cache)
    exclude = [p for group in args.exclude for p in group]
    results: List[Result] = []
    failed = changed = fixed = 0
    for given in discover(args.paths or ["."], exclude, Path()):
        try:
            display, source, path = _read(given, args)
        except (OSError, SyntaxError, UnicodeDecodeError) as exc:
            print(f"{PROG}: cannot read {given}: {exc}", file=sys.stderr)
            failed += 1
            continue
        linter.stdin = given == "-"
        report = linter.check(display, source, path)
        if report.fixed_text is not None:
            changed += 1
            fixed += report.fixed
            if args.diff:
                out.write(unified_diff(display, source.text, report.fixed_text))
            elif path is not None:
                path.write_bytes(source.encode(report.fixed_text))
        results += [Result(display, f) for f in report.findings]
    if cache is not None:
        cache.close()
        if args.verbose:
            print(cache.stats.line(), file=sys.stderr)
    if args.diff:
        return 1 if (changed or failed) and not args.exit_zero else 0
    color = args.color == "always" or (args.color == "auto" and args.output_file is None
                                       and out.isatty() and "NO_COLOR" not in os.environ)
    out.write(render(args.format, results, color, args.show_chain))
    if args.fix and fixed:
        print(f"{PROG}: fixed {fixed} finding(s) in {changed} file(s); "
              f"{len(results)} remaining", file=sys.stderr)
    return 1 if (results or failed) and not args.exit_zero else 0


def run_inventory(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """`--inventory`: every task site of the files, in text, json or markdown; exit 0 (1 when
    a file could not be read)."""
    from . import inventory

    if args.fix or args.diff:
        raise UsageError("--inventory lists the task sites; it does not fix them",
                         "run --fix or --diff without --inventory")
    if args.format not in inventory.FORMATS:
        raise UsageError(f"--inventory has no {args.format} format",
                         f"choose one of {', '.join(sorted(inventory.FORMATS))}")
    exclude = [p for group in args.exclude for p in group]
    entries: List[inventory.Entry] = []
    failed = 0
    for given in discover(args.paths or ["."], exclude, Path()):
        try:
            display, source, path = _read(given, args)
            entries += inventory.entries_for(display, source.text, settings, path)
        except (OSError, SyntaxError, UnicodeDecodeError) as exc:
            print(f"{PROG}: cannot read {given}: {exc}", file=sys.stderr)
            failed += 1
        except Exception as exc:  # a bug of ours: say so, and list the other files
            print(f"{PROG}: {given}: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
            failed += 1
    out.write(inventory.render(args.format, entries) or "")
    return 1 if failed and not args.exit_zero else 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The console entry point; returns the exit status."""
    args = build_parser().parse_args(argv)  # a bad command line exits 2 here (Parser.error)
    try:
        if args.list_rules:
            sys.stdout.write(_list_rules())
            return 0
        if args.explain:
            sys.stdout.write(_explain(args.explain))
            return 0
        if args.output_file:
            with open(args.output_file, "w", encoding="utf-8", newline="\n") as out:
                return run(args, out)
        return run(args, sys.stdout)
    except UsageError as exc:
        _usage_error(exc)
        return 2
    except ConfigError as exc:
        print(f"{PROG}: invalid configuration: {exc}", file=sys.stderr)
        return 2
