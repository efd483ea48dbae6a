"""The flake8 adapter: registers the options, reads the settings, runs the engine per file
(`adapter.lint_file`, the per-file step it shares with the standalone command)."""

from __future__ import annotations

import argparse
import ast
import gc
import io
import multiprocessing
import os
import sys
import tokenize
from typing import TYPE_CHECKING, Any, ClassVar, Dict, Generator, List, Optional, Tuple, Type

from . import __version__
from .adapter import lint_file
from .engine import knowledge_for
from .prefilter import may_schedule_tasks
from .settings import OPTIONS, ConfigError, Settings, option_values, settings_from_env_and_pyproject

if TYPE_CHECKING:
    from flake8.options.manager import OptionManager

    from .cache import Cache


class Plugin:
    name = "flake8-fastapi-bg"
    version = __version__
    settings: ClassVar[Settings] = Settings()
    show_chain: ClassVar[bool] = False
    cache: ClassVar[Optional["Cache"]] = None  # set by parse_options
    reads_stdin: ClassVar[bool] = False

    def __init__(self, tree: ast.Module, filename: str, lines: List[str]) -> None:
        # `tree` is flake8's ast; asking for it makes this a once-per-file plugin. The engine
        # parses with libcst itself, and only when the file can schedule a task; the ast tells
        # it where the top-level statements start, for the positions of findings.
        self.tree = tree
        self.filename = filename
        self.lines = lines

    @classmethod
    def add_options(cls, option_manager: OptionManager) -> None:
        for spec in OPTIONS:
            kwargs: Dict[str, Any] = {"parse_from_config": True, "help": spec.help + " (flake8-fastapi-bg)"}
            if spec.kind == "globs":
                kwargs["comma_separated_list"] = True
            if spec.kind == "flag":
                kwargs["action"] = "store_true"
            else:
                kwargs["metavar"] = spec.metavar
            option_manager.add_option(spec.flag, default=None, **kwargs)
        option_manager.add_option(
            "--fastapi-bg-show-chain", action="store_true", default=False, parse_from_config=True,
            help="print each FBG finding's evidence chain (site, project calls, evidence) on "
            "indented lines below it (flake8-fastapi-bg)")

    @classmethod
    def parse_options(cls, options: argparse.Namespace) -> None:
        cls.show_chain = bool(getattr(options, "fastapi_bg_show_chain", False))
        try:
            cls.settings = settings_from_env_and_pyproject(option_values(options))
        except ConfigError as exc:
            print(f"flake8-fastapi-bg: invalid configuration: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        from .cache import Cache

        # flake8 shows the evidence only with --fastapi-bg-show-chain: without it, neither its
        # positions are rendered nor is it stored.
        cls.cache = Cache(cls.settings, evidence=cls.show_chain)
        # Standard input is never cached, whatever `--stdin-display-name` calls it.
        cls.reads_stdin = "-" in list(getattr(options, "filenames", None) or ())
        try:
            if _forks_workers(options) and _files_passing_text_test(options, 2, cls.cache):
                prepare(cls.settings)
        except Exception:  # only an optimisation: without it each worker loads what it needs
            pass
        finally:
            cls.cache.close()  # the workers open their own connection: none crosses a fork

    def run(self) -> Generator[Tuple[int, int, str, Type["Plugin"]], None, None]:
        source = "".join(self.lines)
        path = None if self.filename in ("stdin", "-") else self.filename  # a Path only if needed
        findings = lint_file(self.filename, source, self.settings, path, self.cache, tree=self.tree,
                             cacheable=not self.reads_stdin)
        for finding in findings:
            text = finding.text
            if self.show_chain and len(finding.evidence) > 1:
                from .trail import chain_lines

                text = "\n".join([text, *chain_lines(finding.evidence)])
            yield finding.line, finding.col, text, type(self)


def prepare(settings: Settings) -> None:
    """Load now what analysing a file needs: libcst, the analysis modules, the knowledge base.

    Called only in flake8's main process, when it will fork workers (`--jobs` on Linux): the
    workers share the parent's copy instead of each paying for its own, most of it importing
    libcst. What is loaded lives until the process ends, so after one collection (nothing that
    is already garbage gets frozen) it is frozen out of the collector, as the `gc`
    documentation advises before a fork: the workers' collections do not walk it, nor copy its
    pages. This process policy is the flake8 adapter's alone; the engine never touches `gc`.
    The caller decides that some file will need it: a process that only lints clean files
    must never import libcst."""
    from . import analyse, collect, rules, scopes, values  # noqa: F401
    from .parsing import parse_trusted

    knowledge_for(settings)
    settings.effective_fastapi_version  # noqa: B018 (finds the installed FastAPI's version once)
    parse_trusted("pass\n")  # the parser's own first-use setup
    if gc.isenabled() and hasattr(gc, "freeze"):  # a host that turned the collector off keeps it off
        gc.collect()
        gc.freeze()


# flake8's main process reads at most this many files to decide whether to load the engine
# before its workers fork: a small, bounded cost on clean trees (a text test per file), for a
# saving of the engine's import and set-up in every worker after the first.
_SCAN_LIMIT = 2000


def _forks_workers(options: argparse.Namespace) -> bool:
    """flake8 will check files in worker processes forked from this one: `--jobs` above one,
    not stdin, the `fork` start method (Linux before Python 3.14), and this is not a worker
    that re-reads the options itself (the other start methods)."""
    jobs = getattr(options, "jobs", None)
    filenames = list(getattr(options, "filenames", None) or ())
    if jobs is None or "-" in filenames or multiprocessing.parent_process() is not None:
        return False
    count = (os.cpu_count() or 1) if jobs.is_auto else jobs.n_jobs
    method = multiprocessing.get_start_method(allow_none=True) or multiprocessing.get_all_start_methods()[0]
    return count > 1 and method == "fork"


def _files_passing_text_test(options: argparse.Namespace, wanted: int,
                             cache: Optional["Cache"] = None) -> bool:
    """At least `wanted` of the files flake8 will check pass the engine's text test (of the
    first `_SCAN_LIMIT`) and are not answered by the persistent cache. With one, a single
    worker would load the engine anyway."""
    from flake8.discover_files import expand_paths

    files = expand_paths(paths=options.filenames, stdin_display_name=options.stdin_display_name,
                         filename_patterns=options.filename,
                         exclude=[*options.exclude, *options.extend_exclude])
    found = 0
    for scanned, name in enumerate(files):
        if scanned >= _SCAN_LIMIT:
            break
        try:
            with open(name, "rb") as handle:
                data = handle.read()
        except OSError:
            continue
        if may_schedule_tasks(data.decode("latin-1")):  # the test's words are ASCII
            if cache is not None and cache.holds(name, _as_flake8_reads(data), name):
                continue
            found += 1
            if found >= wanted:
                return True
    return False


def _as_flake8_reads(data: bytes) -> str:
    """The text flake8 hands the plugin for a file of `data` (its lines, joined): decoded as
    the coding cookie says, universal newlines. A mismatch only costs a prepared engine."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        return data.decode(encoding).replace("\r\n", "\n").replace("\r", "\n")
    except (SyntaxError, LookupError, UnicodeDecodeError):
        return ""
