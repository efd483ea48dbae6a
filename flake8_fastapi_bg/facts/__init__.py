"""The gathering stage of the FBG2xx rules: typed, frozen facts about how a module schedules
its tasks. The rules (`rules/fbg2*.py`) only judge these facts and word the message.

* `module.py`: `ModuleContext` (the module, its resolved sites, the engine parts) and
  `ModuleFacts`, the one object an FBG2xx rule receives: every fact below, gathered on first
  use and shared by the rules of the module;
* `sites.py`: how each site passes its task (FBG201, FBG202, FBG208) and how messages name it;
* `routes.py`: routes, dependencies, injected parameters and the syntax of function bodies;
* `responses.py`: task objects and the responses they reach (FBG204, FBG205, FBG209);
* `lifetimes.py` with `middlewares.py`: values closed before the task runs (FBG203);
* `websockets.py`: tasks added in WebSocket routes (FBG206);
* `dependencies.py`: tasks added after the `yield` of a dependency (FBG207);
* `flow.py`: statement order inside one function;
* `callables.py`: what calling a task does (binding, results, coroutines).
"""
