"""The per-file step both adapters share: the flake8 plugin (`Plugin.run`) and the standalone
command (`cli.Linter.report`) lint each file of a batch through `lint_file`.

It runs the text test (`prefilter.may_schedule_tasks`) once and hands its answer to the
adapters' collector policy (`collector.analysing`), to the persistent cache (`Cache.lint`) and
to the engine, which would each run it again otherwise. The engine never touches `gc`: the
policy stays here, on the adapters' side, and `engine.lint_source` stays usable on its own
(tests, other hosts), running the text test itself when it is not given the answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, List, Optional

from . import engine
from .collector import analysing
from .model import Finding
from .prefilter import may_schedule_tasks
from .settings import Settings

if TYPE_CHECKING:
    from .cache import Cache


def lint_file(display: str, source: str, settings: Settings, path: "Optional[Path | str]",
              cache: "Optional[Cache]", *, tree: Any = None, cacheable: bool = True) -> List[Finding]:
    """The findings of one file of a batch (before `# noqa` and selection): from `cache` when it
    holds them, else from the engine. `tree` is the host's `ast` of `source`, if any;
    `cacheable=False` for standard input."""
    may_schedule = may_schedule_tasks(source)
    with analysing(may_schedule):
        if cache is not None:
            return cache.lint(display, source, path, tree=tree, cacheable=cacheable,
                              may_schedule=may_schedule)
        return engine.lint_source(display, source, settings, path, tree=tree, may_schedule=may_schedule)
