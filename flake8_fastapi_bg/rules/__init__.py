"""The rule registry. Importing this package registers every rule."""

from . import work  # noqa: F401  (registers FBG1xx)
from . import correctness  # noqa: F401  (registers FBG204-FBG207, FBG209)
from . import fbg201, fbg202, fbg203, fbg208  # noqa: F401  (register FBG2xx, one rule per module)
from . import diagnostics  # noqa: F401  (registers FBG9xx)
from .base import REGISTRY, EngineRule, Example, ModuleRule, Rule, TaskRule, Verdict, register

__all__ = ["REGISTRY", "EngineRule", "Example", "ModuleRule", "Rule", "TaskRule", "Verdict", "register"]
