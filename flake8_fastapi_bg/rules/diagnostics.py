"""FBG9xx: diagnostics about the linter itself, reported by the engine (no check function)."""

from __future__ import annotations

from .base import EngineRule, Example, register

_NONE = Example("")

register(EngineRule(
    code="FBG901", name="internal-error",
    summary="The linter failed while analysing this file; the file was not checked.",
    what=("Reported on line 1 of a file when flake8-fastapi-bg hits an internal error while "
          "analysing it. The message names the exception and where it was raised. The rest of "
          "the flake8 run goes on: one odd file never breaks a CI gate."),
    why=("A linter that crashes teaches a team to switch it off, and one that fails silently "
         "hides the problems it exists to find. This finding keeps both visible."),
    bad=_NONE, good=_NONE,
    fix=("Report it with the file (or a reduced version of it) at the project's issue tracker. "
         "Until it is fixed, `# noqa: FBG901` on line 1 or `--extend-ignore FBG901` silences it."),
))

register(EngineRule(
    code="FBG902", name="unknown-pragma-tag",
    summary="A `# fastapi-bg:` comment names a tag that does not exist.",
    what=("Flags a `# fastapi-bg:` pragma comment with a tag other than `cpu-heavy`, "
          "`long-running`, `critical`, `best-effort` or `light` (a typo such as `cpu_heavy`)."),
    why="A misspelt pragma silently does nothing, so the task it was meant to mark is misjudged.",
    bad=_NONE, good=_NONE,
    fix="Use one of the known tags; several are comma-separated: `# fastapi-bg: critical, light`.",
))

register(EngineRule(
    code="FBG903", name="module-not-analysed",
    summary="A task needs a project module that the linter left unanalysed; its findings may be incomplete.",
    what=("Reported at a task site when resolving the task or following its calls needed a project "
          "module that was not analysed because it exceeds a bound on the work per module: "
          "nested too deeply for Python's parser (a generated expression of thousands of terms), "
          "or larger than 4 MiB. The message names the module, why it was left out and where "
          "the task's analysis needed it (a call into it, a function of it run in a thread, a "
          "decorator from it, or the site when the task itself is defined there). A skipped "
          "module that no task reaches is not reported, nor is a module that does not exist (a "
          "library, a missing file), nor one that cannot be read or has a syntax error (Python "
          "could not import it either, and flake8 reports E999 on it)."),
    why=("Without the bound, one generated module could stall a CI gate for minutes. With it, "
         "whatever the task does inside that module goes unseen: a blocking or CPU-heavy call "
         "there is not reported, so the absence of FBG1xx findings on this task proves less "
         "than usual."),
    bad=_NONE, good=_NONE,
    fix=("Keep generated tables and deeply nested expressions out of the modules tasks call "
         "(load the data from a file, or build the expression in a loop), or move the code the "
         "task needs into a module of its own. If the module must stay as it is, "
         "`# noqa: FBG903` on the site acknowledges it."),
))
