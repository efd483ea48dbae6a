"""The engine: one linted file in, findings out. The flake8 plugin and the standalone command
are thin adapters over `lint_source`.

text test (`prefilter`) -> parse -> collect the task sites -> resolve each task (the callable
that runs) -> analyse it (`TaskFacts`, judged by the `TaskRule`s) -> the module's `ModuleFacts`
(gathered by `facts/` when a `ModuleRule` asks, judged into `Verdict`s) -> findings.
Nothing raises out of `lint_source`: an internal error becomes an FBG901 finding on the file.
The engine changes no process-wide state of its host; what a process loads before forking
workers is the flake8 adapter's decision (`plugin.prepare`).
"""

from __future__ import annotations

import ast
import traceback
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from . import pragmas
from .model import Finding
from .prefilter import may_schedule_tasks
from .settings import Settings

if TYPE_CHECKING:
    from .analyse import Analyser, NodeWhere, ResolvedTask
    from .collect import TaskSite
    from .facts.module import ModuleContext
    from .knowledge import KnowledgeBase
    from .model import Fix, TaskFacts
    from .parsing import ModuleInfo
    from .rules import TaskRule, Verdict
    from .values import Evaluator

ISSUES_URL = "https://github.com/flake8-fastapi-bg/flake8-fastapi-bg/issues"


def lint_source(display: str, source: str, settings: Settings,
                path: "Optional[Path | str]" = None, *,
                tree: Optional[ast.Module] = None, may_schedule: Optional[bool] = None) -> List[Finding]:
    """Findings for one file. `display` is the name to report; `path` locates the project;
    `tree`, if the host has one, is Python's `ast` of `source`; `may_schedule`, if the host has
    it, is the text test's answer on `source` (`prefilter.may_schedule_tasks`), else the engine
    runs the test. The host's process is left as it was: no garbage-collector, recursion-limit
    or signal settings are changed."""
    try:
        findings = list(_pragma_findings(source))
        if may_schedule is None:
            may_schedule = may_schedule_tasks(source)
        if may_schedule:
            try:
                findings.extend(_lint(display, source, settings, path, tree))
            except RecursionError:
                if not _too_deep(source):
                    raise  # ordinary code: a bug of ours, reported by the barrier below
                # nested deeper than libcst's recursive passes can follow: no opinion
        return _unique_sorted(findings)
    except Exception as exc:  # the barrier: a linter must never crash the run
        return [internal_error(exc)]


_DEEP = 150  # syntax-tree depth beyond which libcst's recursive passes may fail


def _too_deep(source: str) -> bool:
    """True when Python rejects the file's nesting or its syntax tree is deeper than `_DEEP`."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return True  # flake8 reports E999
    stack: List[Tuple[ast.AST, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > _DEEP:
            return True
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return False


def internal_error(exc: BaseException) -> Finding:
    frames = traceback.extract_tb(exc.__traceback__)
    here = next((f"{Path(f.filename).name}:{f.lineno}" for f in reversed(frames)
                 if "flake8_fastapi_bg" in f.filename), "?")
    detail = str(exc).splitlines()[0][:120] if str(exc) else ""
    return Finding("FBG901", 1, 0,
                   f"internal error while analysing this file: {type(exc).__name__}"
                   f"{': ' + detail if detail else ''} (at {here}); the file was not checked "
                   f"for background-task problems — please report it at {ISSUES_URL}")


def _pragma_findings(source: str) -> Iterator[Finding]:
    for line, col, word in pragmas.unknown_tags(source):
        yield Finding("FBG902", line, col,
                      f"unknown '# fastapi-bg:' tag '{word}'; known tags: {', '.join(pragmas.TAGS)}")


def _unique_sorted(findings: Sequence[Finding]) -> List[Finding]:
    seen: Dict[Tuple[int, int, str, str], Finding] = {}
    for finding in findings:
        seen.setdefault((finding.line, finding.col, finding.code, finding.message), finding)
    return [seen[k] for k in sorted(seen)]


@lru_cache(maxsize=8)
def knowledge_for(settings: Settings) -> KnowledgeBase:
    from .knowledge import KnowledgeBase

    kb = KnowledgeBase.default()
    for category, globs, option in (("cpu", settings.cpu_heavy, "cpu-heavy"),
                                    ("long", settings.long_running, "long-running"),
                                    ("critical", settings.critical, "critical")):
        if globs:
            kb = kb.extended(category, globs, f"matches fastapi-bg-{option}")
    return kb


def inventory_source(display: str, source: str, settings: Settings,
                     path: "Optional[Path | str]" = None) -> List[SiteFacts]:
    """Every task site of one file, for `--inventory`: a list of `SiteFacts`, from the same
    pipeline as `lint_source` (whose findings they carry). An internal error raises."""
    sites: List[SiteFacts] = []
    if may_schedule_tasks(source):
        try:
            _lint(display, source, settings, path, None, sites)
        except RecursionError:
            if not _too_deep(source):
                raise
    return sites


class SiteFacts:
    """One task site as the engine saw it: the module context, the site, the resolved task, its
    facts, where it is reported, and the findings on it (after redundant ones are dropped)."""

    def __init__(self, context: ModuleContext, site: TaskSite, task: ResolvedTask, facts: TaskFacts,
                 where: NodeWhere, findings: List[Finding]) -> None:
        self.context, self.site, self.task, self.facts = context, site, task, facts
        self.where, self.findings = where, findings

    @property
    def never_runs(self) -> bool:
        return id(self.site.call) in self.context.never_runs


def _contains(finding: Finding, here: Tuple[int, int]) -> bool:
    """The finding's reported node spans the position `here` (line, col)."""
    if finding.end_line is None or finding.end_col is None:
        return False
    return (finding.line, finding.col) <= here < (finding.end_line, finding.end_col)


def _lint(display: str, source: str, settings: Settings, path: "Optional[Path | str]",
          tree: Optional[ast.Module] = None, inventory: Optional[List[SiteFacts]] = None) -> List[Finding]:
    # libcst is imported only here, for files that passed the text test.
    import libcst as cst

    from . import rules
    from .analyse import Analyser, NodeWhere, resolve
    from .collect import collect_sites
    from .facts.module import ModuleContext, ModuleFacts
    from .parsing import parse, parse_is_bounded
    from .project import display_path, project_for
    from .values import Evaluator

    file_path = Path(path) if path is not None else Path(display)
    project = project_for(file_path)
    name, is_package = project.module_name_for(file_path)
    exists = file_path if file_path.exists() else None
    if exists is not None:
        # Named as a reached module is (`Project._load`), not as the host calls it (flake8's
        # `./app/x.py`): a message naming this file reads the same whichever process, and
        # whichever file it linted first, wrote it.
        display = display_path(exists)
    # A file an earlier linted file's task reached is already loaded: that object serves.
    shared = project.adopt_reached(name, exists, display, source, is_package) if exists is not None else None
    info: ModuleInfo
    if shared is not None:
        info = shared
    else:
        tree = _ast_of(source, tree)
        module = None
        if tree is None:
            if not _whole_parse_is_bounded(source, parse_is_bounded):
                return []  # nested too deep for libcst to parse in bounded time: no opinion
            try:
                module = parse(source)
            except (cst.ParserSyntaxError, RecursionError):
                return []  # flake8 reports E999 for real syntax errors; nothing to add
        if tree is not None:
            # Only the statements that may hold a site are parsed with libcst, and what they use.
            info = project.adopt_sliced(name, exists, display, source, tree, is_package)
        else:
            assert module is not None  # parsed whole above
            info = project.adopt(name, exists, display, module, is_package, source)
    kb = knowledge_for(settings)
    evaluator = Evaluator(project, kb)
    analyser = Analyser(evaluator, kb, settings)
    task_rules = [r for _, r in sorted(rules.REGISTRY.items()) if isinstance(r, rules.TaskRule)]
    module_rules = [r for _, r in sorted(rules.REGISTRY.items()) if isinstance(r, rules.ModuleRule)]
    findings: List[Finding] = []
    context = ModuleContext(info, evaluator, analyser, settings)
    reported: List[Tuple[TaskSite, Finding]] = []  # of the task rules, until the module rules have run
    for site in collect_sites(evaluator, info.scope):
        task = resolve(site, evaluator)
        context.sites.append((site, task))
        # Positioning costs a render of the statement: done only if a rule reports the site.
        where = NodeWhere(info, site.call, site.scope)
        facts = analyser.facts(site, task, where)
        if inventory is not None:
            inventory.append(SiteFacts(context, site, task, facts, where, []))
        for rule in task_rules:
            message = rule.check(facts, settings)
            if message:
                reported.append((site, _task_finding(rule, message, analyser, site, task, facts, where)))
        if facts.unanalysed:
            reported.append((site, _unanalysed_finding(analyser, site, task, facts, where)))
    module_facts = ModuleFacts(context)
    for module_rule in module_rules:
        for verdict in module_rule.check(module_facts, settings):
            context.never_runs.update(id(node) for node in verdict.never_run)
            findings.append(_module_finding(module_rule.code, verdict, context))
    # A task that never runs (FBG204-FBG207) does none of its work: say only that.
    findings.extend(f for site, f in reported if id(site.call) not in context.never_runs)
    if inventory is not None:  # each site gets the findings reported at it, or about its task
        for record in inventory:
            here = (record.where.line, record.where.col)
            record.findings = [f for f in findings if (f.line, f.col) == here
                               or (f.code == "FBG209" and _contains(f, here))]
            if record.never_runs and not any(f.code.startswith("FBG2") for f in record.findings):
                # FBG204/FBG205 are reported at the construction or the response: the nearest
                # one that names the task
                named = [f for f in findings if f.code in ("FBG204", "FBG205")
                         and f"{record.facts.name}" in f.message]
                record.findings += sorted(named, key=lambda f: abs(f.line - here[0]))[:1]
    return findings


def _module_finding(code: str, verdict: Verdict, context: ModuleContext) -> Finding:
    """A module rule's finding, spanning the node it is reported at."""
    scope = next((site.scope for site, _ in context.sites if site.call is verdict.node), None)  # a hint
    (line, col), (end_line, end_col) = context.info.span(verdict.node, scope)
    return Finding(code, line, col, verdict.message, verdict.fix, end_line=end_line, end_col=end_col)


def _task_finding(rule: TaskRule, message: str, analyser: Analyser, site: TaskSite, task: ResolvedTask,
                  facts: TaskFacts, where: NodeWhere) -> Finding:
    """A task rule's finding, with the end of the reported call and the evidence chain."""
    from .trail import hops_for

    leaf = rule.witness(facts) if rule.witness is not None else None
    (line, col), (end_line, end_col) = where.module.span(site.call, site.scope)
    key = f"{facts.qualname or facts.name}|{leaf.subject if leaf is not None else ''}"
    fix = _plain_def_fix(where.module, task, analyser.evaluator) if rule.code == "FBG102" else None
    return Finding(rule.code, line, col, message, fix, end_line=end_line, end_col=end_col,
                   evidence=hops_for(analyser, site, task, facts, where, leaf), key=key)


def _unanalysed_finding(analyser: Analyser, site: TaskSite, task: ResolvedTask, facts: TaskFacts,
                        where: NodeWhere) -> Finding:
    """FBG903 at the site: the modules its task needed that were left unanalysed, why, and
    where the analysis needed each one (also as the evidence's leaves)."""
    from .model import Hop
    from .trail import hops_for

    first = facts.unanalysed[0]
    if len(facts.unanalysed) == 1:
        what = f"needs {first.path}, which was not analysed ({first.reason}; needed at {first.where})"
    else:
        what = "needs modules that were not analysed: " + ", ".join(
            f"{u.path} ({u.reason}; needed at {u.where})" for u in facts.unanalysed)
    (line, col), (end_line, end_col) = where.module.span(site.call, site.scope)
    hops = hops_for(analyser, site, task, facts, where, None) + tuple(
        Hop(u.function, "leaf", f"needs {u.path} ({u.reason})", u.where) for u in facts.unanalysed)
    return Finding("FBG903", line, col,
                   f"background task '{facts.name}' {what}; its findings may be incomplete",
                   end_line=end_line, end_col=end_col, evidence=hops,
                   key=f"{facts.qualname or facts.name}|{'|'.join(u.path for u in facts.unanalysed)}")


def _plain_def_fix(info: ModuleInfo, task: ResolvedTask,
                   evaluator: Optional[Evaluator] = None) -> Optional[Fix]:
    """FBG102's fix: the async task that never awaits becomes a plain def (see fixes.py). Only
    for a task defined in the linted file: the fix rewrites that file."""
    from .fixes import plain_def_fix

    func = task.func
    if func is None or task.offload is not None or info.path is None:
        return None
    roots = list(info.project.roots)
    roots += [r.parent for r in roots if r.name == "src"]  # tests beside a src/ layout
    try:
        return plain_def_fix(info, func.scope, roots, evaluator)
    except Exception:  # a fix is an extra: the finding stands without it
        return None


def _ast_of(source: str, tree: Optional[ast.Module]) -> Optional[ast.Module]:
    """Python's `ast` of the linted file: the host's (flake8 has one), else parsed here (a tenth
    of a libcst parse); None for syntax this Python does not read (libcst parses it whole)."""
    if isinstance(tree, ast.Module):
        return tree
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _whole_parse_is_bounded(source: str, bounded: Callable[[str, BaseException], bool]) -> bool:
    """Whether libcst may parse the linted file whole: `parsing.parse_is_bounded` of the error
    Python's `ast` gives on it (a rare path: `ast` reads all but newer syntax and odd input)."""
    try:
        ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
        return bounded(source, error)
    return True
