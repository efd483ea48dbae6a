"""The rule records: one definition per rule, the single source for checks, docs and tests.

Three kinds, told apart by their type (the engine dispatches on it):

* `TaskRule` (FBG1xx): `check(facts: TaskFacts, settings) -> Optional[str]`, run once per
  scheduled task; `witness(facts)` names the evidence the message rests on.
* `ModuleRule` (FBG2xx): `check(facts: facts.ModuleFacts, settings) -> Iterable[Verdict]`, run
  once per module over the typed facts the gatherers of `facts/` produce.
* `EngineRule` (FBG9xx): reported by the engine itself; no check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Dict, Iterable, Optional, Tuple

if TYPE_CHECKING:
    import libcst as cst

    from ..facts.module import ModuleFacts
    from ..model import Evidence, Fix, TaskFacts
    from ..settings import Settings

from .. import DOCS_URL

TaskCheck = Callable[["TaskFacts", "Settings"], Optional[str]]
Witness = Callable[["TaskFacts"], Optional["Evidence"]]
ModuleCheck = Callable[["ModuleFacts", "Settings"], Iterable["Verdict"]]


@dataclass(frozen=True)
class Example:
    """A snippet for the docs and the tests. `files` maps extra module paths to their source,
    for examples whose task lives in another module."""

    source: str
    files: Tuple[Tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Rule:
    """What every rule has: its code, name and documentation."""

    code: str
    name: str
    summary: str  # one line: what the rule flags
    what: str  # "What it does"
    why: str  # "Why is this bad?"
    bad: Example  # must produce exactly one finding of this code
    good: Example  # must produce none
    fix: str  # "Use instead" prose, shown above the good example
    options: Tuple[str, ...] = ()  # names of fastapi-bg-* options that affect the rule
    references: Tuple[Tuple[str, str], ...] = ()  # (title, url)
    fixable: bool = False
    # For fixable rules: when `--fix` applies, after "Fix available" (empty: the standard line).
    fix_scope: str = ""

    @property
    def url(self) -> str:
        return DOCS_URL.format(code=self.code)


def _no_task_check(facts: "TaskFacts", settings: "Settings") -> Optional[str]:
    raise TypeError("a TaskRule needs a check")


def _no_module_check(facts: "ModuleFacts", settings: "Settings") -> Iterable["Verdict"]:
    raise TypeError("a ModuleRule needs a check")


@dataclass(frozen=True)
class TaskRule(Rule):
    """FBG1xx: judges one scheduled task from its `TaskFacts`."""

    check: TaskCheck = field(default=_no_task_check, compare=False)
    witness: Optional[Witness] = field(default=None, compare=False)


@dataclass(frozen=True)
class ModuleRule(Rule):
    """FBG2xx: judges how a module schedules its tasks, from its `ModuleFacts`."""

    check: ModuleCheck = field(default=_no_module_check, compare=False)


@dataclass(frozen=True)
class EngineRule(Rule):
    """FBG9xx: a diagnostic the engine reports itself."""


@dataclass(frozen=True)
class Verdict:
    """What a module rule reports: the node it is reported at (the engine turns it into a
    position), the message (without the code) and a fix; `never_run` holds the site calls
    whose tasks never run, whose FBG1xx findings the engine then drops."""

    node: "cst.CSTNode"
    message: str
    fix: Optional["Fix"] = None
    never_run: Tuple["cst.CSTNode", ...] = ()


REGISTRY: Dict[str, Rule] = {}


def register(rule: Rule) -> Rule:
    if rule.code in REGISTRY:
        raise ValueError(f"duplicate rule code {rule.code}")
    if isinstance(rule, TaskRule) and rule.check is _no_task_check \
            or isinstance(rule, ModuleRule) and rule.check is _no_module_check:
        raise ValueError(f"rule {rule.code} has no check")
    REGISTRY[rule.code] = rule
    return rule
