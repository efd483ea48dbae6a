"""The rule registry. Importing this package registers every rule."""

from . import work  # noqa: F401  (registers FBG1xx)
from . import fbg201, fbg202, fbg203, fbg204, fbg205, fbg206, fbg207, fbg208, fbg209  # noqa: F401  (FBG2xx)
from . import diagnostics  # noqa: F401  (registers FBG9xx)
from .base import REGISTRY, EngineRule, Example, ModuleRule, Rule, TaskRule, Verdict, register

__all__ = ["REGISTRY", "EngineRule", "Example", "ModuleRule", "Rule", "TaskRule", "Verdict", "register"]
