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
