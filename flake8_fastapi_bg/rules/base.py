"""The rule record: one definition per rule, the single source for checks, docs and tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, Optional, Tuple

DOCS_URL = "https://github.com/flake8-fastapi-bg/flake8-fastapi-bg/blob/main/docs/rules/{code}.md"


@dataclass(frozen=True)
class Example:
    """A snippet for the docs and the tests. `files` maps extra module paths to their source,
    for examples whose task lives in another module."""

    source: str
    files: Tuple[Tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Rule:
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
    check: Optional[Callable] = field(default=None, compare=False)
    fixable: bool = False
    # "task": check(facts: TaskFacts, settings) -> Optional[str], run once per scheduled task.
    # "module": check(context: engine.ModuleContext) -> Iterable[Finding], run once per module.
    # "engine": reported by the engine itself (FBG9xx); check is None.
    level: str = "task"
    # For task rules: witness(facts) -> the Evidence the message names (its chain is shown).
    witness: Optional[Callable] = field(default=None, compare=False)

    @property
    def url(self) -> str:
        return DOCS_URL.format(code=self.code)


REGISTRY: Dict[str, Rule] = {}


def register(rule: Rule) -> Rule:
    if rule.code in REGISTRY:
        raise ValueError(f"duplicate rule code {rule.code}")
    REGISTRY[rule.code] = rule
    return rule
