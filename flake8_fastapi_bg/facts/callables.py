"""What calling a task does: signature binding, call results, coroutines lost in sync wrappers.

Three questions of the FBG2xx rules about the callable a site schedules:

* `bind_problem`: can the site's arguments (after any `functools.partial` pre-bound ones) bind
  to the callable's signature? Python's own binding rules, answered only when every argument is
  visible — a `*iterable` or `**mapping` splat makes the answer unknowable, hence None.
* `not_callable_result`: the task expression is a call (`add_task(send(x))`): is what it returns
  certainly not callable? Only when the callee's returns prove it (no `return`, literals, a
  `None` annotation, a coroutine), never from a guess.
* `lost_coroutine`: a sync callable (lambda, def, sync decorator) that calls an `async def`
  and returns the coroutine unawaited.

Functions behind a decorator other than `staticmethod`/`classmethod` are opaque: a decorator
may replace the signature, the result, or make an async function sync.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, List, Optional, Sequence, Tuple

import libcst as cst

from ..convert import code_for
from ..collect import TaskSite, bind_arguments
from .routes import callable_function, is_generator
from ..scopes import FunctionScope, Scope, dotted, own_nodes
from ..values import PARTIAL, Bound, Cls, Coroutine, Evaluator, Func, Value, ext_name

_TRANSPARENT_DECORATORS = frozenset({"staticmethod", "classmethod"})
_WRAPS = frozenset({"functools.wraps"})
_MAX_TRACE = 4

# Library calls whose result is certainly not callable: the mistakes people actually make
# (`BackgroundTask(os.remove(path))`). Anything not listed is unknown, so silent.
NON_CALLABLE_RESULTS = {
    "asyncio.sleep": "a coroutine object",
    "builtins.print": "None",
    "json.dump": "None",
    "os.makedirs": "None",
    "os.remove": "None",
    "os.removedirs": "None",
    "os.rename": "None",
    "os.replace": "None",
    "os.rmdir": "None",
    "os.unlink": "None",
    "pathlib.Path.mkdir": "None",
    "pathlib.Path.rmdir": "None",
    "pathlib.Path.unlink": "None",
    "pathlib.Path.write_bytes": "an int",
    "pathlib.Path.write_text": "an int",
    "shutil.copy": "a path",
    "shutil.copyfile": "a path",
    "shutil.move": "a path",
    "shutil.rmtree": "None",
    "time.sleep": "None",
}
_BUILTIN_TYPES = {"str": "a str", "int": "an int", "float": "a float", "bool": "a bool",
                  "bytes": "bytes", "dict": "a dict", "list": "a list", "tuple": "a tuple",
                  "set": "a set", "frozenset": "a frozenset", "Dict": "a dict", "List": "a list",
                  "Tuple": "a tuple", "Set": "a set", "FrozenSet": "a frozenset"}


def is_opaque(scope: FunctionScope) -> bool:
    """Decorated by something that may change what the function is (not static/classmethod)."""
    node = scope.node
    if not isinstance(node, cst.FunctionDef):
        return False
    return any(dotted(d.decorator) not in _TRANSPARENT_DECORATORS for d in node.decorators)


def definition(scope: FunctionScope) -> str:
    """`app/tasks.py:4`: where a function's `def` line is."""
    node = scope.node
    anchor = node.name if isinstance(node, cst.FunctionDef) else node
    line, _ = scope.module.position(anchor, scope)
    return f"{scope.module.display}:{line}"


def function_of(value: Value) -> Optional[FunctionScope]:
    if isinstance(value, Bound):
        value = value.func
    return value.scope if isinstance(value, Func) else None


# -- FBG202: binding ---------------------------------------------------------------------------
@dataclass(frozen=True)
class CallShape:
    """The arguments a callable receives: how many positional ones, which keywords."""

    positional: int
    keywords: Tuple[str, ...]


def shape_of(args: Sequence[cst.Arg]) -> Optional[CallShape]:
    """None when a `*`/`**` splat hides what is passed."""
    positional, keywords = 0, []
    for arg in args:
        if arg.star:
            return None
        if arg.keyword is None:
            positional += 1
        else:
            keywords.append(arg.keyword.value)
    return CallShape(positional, tuple(keywords))


def task_shape(partials: Sequence[cst.Call], args: Sequence[cst.Arg]) -> Optional[CallShape]:
    """The task's arguments after `functools.partial` pre-binding: the innermost partial's
    arguments come first, and later keywords replace earlier ones (as partial does)."""
    positional, keywords = 0, {}
    for call in reversed(partials):  # resolve() lists the outermost partial first
        shape = shape_of(call.args[1:])
        if shape is None or call.args[0].keyword is not None or call.args[0].star:
            return None
        positional += shape.positional
        keywords.update(dict.fromkeys(shape.keywords))
    shape = shape_of(args)
    if shape is None:
        return None
    keywords.update(dict.fromkeys(shape.keywords))
    return CallShape(positional + shape.positional, tuple(keywords))


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def bind_problem(scope: FunctionScope, skip_first: bool, shape: CallShape) -> Optional[str]:
    """Why calling `scope` with `shape` raises TypeError, or None when it binds."""
    params = scope.params()
    positional = list(params.posonly_params) + list(params.params)
    posonly = {p.name.value for p in params.posonly_params}
    if skip_first:
        if not positional:
            return None  # a method without `self`: some other error, not ours to report
        posonly.discard(positional[0].name.value)
        positional = positional[1:]
    names = [p.name.value for p in positional]
    kwonly = {p.name.value: p for p in params.kwonly_params}
    varargs = isinstance(params.star_arg, cst.Param)
    varkw = params.star_kwarg is not None
    if shape.positional > len(names) and not varargs:
        return (f"it takes {_plural(len(names), 'positional argument')} but "
                f"{shape.positional} {'was' if shape.positional == 1 else 'were'} given")
    filled = set(names[:shape.positional])
    for keyword in shape.keywords:
        if keyword in names and keyword not in posonly:
            if keyword in filled:
                return f"got multiple values for argument '{keyword}'"
            filled.add(keyword)
        elif keyword in kwonly:
            filled.add(keyword)
        elif varkw:
            continue
        elif keyword in posonly:
            return f"positional-only argument '{keyword}' passed as a keyword"
        else:
            return f"unexpected keyword argument '{keyword}'"
    missing = [p.name.value for p in positional if p.default is None and p.name.value not in filled]
    missing += [name for name, p in kwonly.items() if p.default is None and name not in filled]
    if missing:
        quoted = ", ".join(f"'{m}'" for m in missing)
        return f"missing required argument{'s' if len(missing) > 1 else ''} {quoted}"
    return None


# -- FBG201: call results ---------------------------------------------------------------------
@dataclass(frozen=True)
class CalledTask:
    """`add_task(send(x))`: the task expression calls `name`, whose result is `result`."""

    name: str
    result: str  # "None", "a coroutine object", "a dict"
    call: Optional[cst.Call]  # the inner call, whose callee and arguments a fix passes instead
    function: bool  # the callee is a function (its body runs now), not a class
    awaited: bool = False
    where: Optional[str] = None  # where the callee is defined, for project functions

    @property
    def fixable(self) -> bool:
        """Passing the callee and its arguments instead runs the intended work after the
        response: the function is called for its effect (it returns None), or it is async.
        A function returning a value or a generator was probably meant for something else."""
        return self.function and self.call is not None and self.result in ("None", "a coroutine object")


def not_callable_result(expr: cst.BaseExpression, scope: Scope, evaluator: Evaluator,
                        value: Value) -> Optional[CalledTask]:
    """The call in a task expression whose result is certainly not callable, or None."""
    awaited = isinstance(expr, cst.Await)
    inner = expr.expression if isinstance(expr, cst.Await) else expr
    if not isinstance(inner, cst.Call):
        if isinstance(value, Coroutine) and _bound_once(inner, scope):  # `coro = notify(x); add_task(coro)`
            func = function_of(value.func)
            if func is not None and not is_opaque(func):
                return CalledTask(func.name, "a coroutine object", None, True, False, definition(func))
        return None
    callee = evaluator.expr(inner.func, scope)
    name = dotted(inner.func) or _short(inner.func)
    func = function_of(callee)
    if func is not None:
        if is_opaque(func):
            return None
        if func.is_async and not awaited:
            result = "an async generator" if _is_generator(func) else "a coroutine object"
            return CalledTask(name, result, inner, True, False, definition(func))
        if func.is_async != awaited:
            return None  # awaiting a sync function's result: something else is going on
        returned = returned_kind(func, evaluator)
        return CalledTask(name, returned, inner, True, awaited, definition(func)) if returned else None
    if awaited:
        return None
    if isinstance(callee, Cls):
        made = _instance_not_callable(callee, evaluator)
        return CalledTask(name, made, inner, False, False) if made else None
    qualname = ext_name(callee)
    if qualname in NON_CALLABLE_RESULTS:
        return CalledTask(name, NON_CALLABLE_RESULTS[qualname], inner, True)
    return None


def _bound_once(expr: cst.BaseExpression, scope: Scope) -> bool:
    if not isinstance(expr, cst.Name):
        return False
    found = scope.lookup(expr.value)
    return found is not None and len(found[1].local(expr.value)) == 1


def _short(node: cst.CSTNode) -> str:
    text = code_for(node)
    return text if len(text) <= 30 else text[:27] + "..."


def _instance_not_callable(cls: Cls, evaluator: Evaluator) -> Optional[str]:
    """Why an instance of a project class is certainly not callable, or None."""
    for klass in evaluator.mro(cls.scope):
        node = klass.node
        assert isinstance(node, cst.ClassDef)
        if node.keywords or any(dotted(d.decorator) not in ("dataclass", "dataclasses.dataclass")
                                for d in node.decorators):
            return None  # a metaclass or a class decorator may change what the class makes
        bases = [evaluator.expr(b.value, klass.parent or klass) for b in node.bases]
        if any(not isinstance(b, Cls) and ext_name(b) != "builtins.object" for b in bases):
            return None  # a base we cannot see may define __call__
        if klass.local("__call__") or klass.local("__getattr__"):
            return None
    return f"an instance of {cls.scope.name}, which has no __call__"


def _is_generator(func: FunctionScope) -> bool:
    return isinstance(func.node, cst.FunctionDef) and is_generator(func.node)


def returned_kind(func: FunctionScope, evaluator: Evaluator) -> Optional[str]:
    """What a project function certainly returns when it is not callable, else None."""
    node = func.node
    if isinstance(node, cst.Lambda):
        return _literal_kind(node.body)
    if _is_generator(func):
        return "a generator" if not func.is_async else None
    if not isinstance(node, cst.FunctionDef):
        return None
    if node.returns is not None:
        return _annotation_kind(node.returns.annotation)
    if _is_stub(node):
        return None  # an abstract or placeholder method: an override decides what it returns
    values = [r.value for r in _returns(node)]
    if all(v is None for v in values):
        return "None"
    kinds = {_literal_kind(v) if v is not None else "None" for v in values}
    if None in kinds:
        return None
    return kinds.pop() if len(kinds) == 1 else "a value that is not callable"


def _is_stub(node: cst.FunctionDef) -> bool:
    """A body of only a docstring, `pass`, `...` and `raise`."""
    body = node.body.body if isinstance(node.body, cst.IndentedBlock) else [node.body]
    for statement in body:
        smalls: Sequence[cst.CSTNode] = statement.body \
            if isinstance(statement, (cst.SimpleStatementLine, cst.SimpleStatementSuite)) else [statement]
        for small in smalls:
            if isinstance(small, (cst.Pass, cst.Raise)):
                continue
            if isinstance(small, cst.Expr) and isinstance(small.value, (cst.Ellipsis, cst.SimpleString,
                                                                        cst.ConcatenatedString)):
                continue
            return False
    return True


def _annotation_kind(annotation: cst.BaseExpression) -> Optional[str]:
    if isinstance(annotation, cst.Name) and annotation.value == "None":
        return "None"
    base = annotation.value if isinstance(annotation, cst.Subscript) else annotation
    name = (dotted(base) or "").rpartition(".")[2]
    return _BUILTIN_TYPES.get(name)


def _literal_kind(value: cst.BaseExpression) -> Optional[str]:
    if isinstance(value, cst.Name):
        return {"None": "None", "True": "a bool", "False": "a bool"}.get(value.value)
    kinds = ((cst.Integer, "an int"), (cst.Float, "a float"), (cst.Imaginary, "a number"),
             ((cst.SimpleString, cst.ConcatenatedString, cst.FormattedString), "a str"),
             ((cst.Dict, cst.DictComp), "a dict"), ((cst.List, cst.ListComp), "a list"),
             ((cst.Set, cst.SetComp), "a set"), (cst.Tuple, "a tuple"),
             (cst.GeneratorExp, "a generator"), (cst.Comparison, "a bool"))
    for types, kind in kinds:
        if isinstance(value, types):
            return kind
    if isinstance(value, cst.UnaryOperation) and isinstance(value.operator, cst.Not):
        return "a bool"
    return None


def _returns(node: cst.FunctionDef) -> List[cst.Return]:
    return own_nodes(node, cst.Return)


# -- FBG208: coroutines lost in sync wrappers -------------------------------------------------
@dataclass(frozen=True)
class LostCoroutine:
    kind: str  # "lambda", "function" (a sync def), "decorator" (a sync decorator's wrapper)
    wrapper: str  # the sync function's or decorator's name ("<lambda>" for a lambda)
    target: FunctionScope  # the async def whose coroutine is dropped
    call: Optional[cst.Call] = None  # for a lambda: its body call, for the fix


def lost_coroutine(site: TaskSite, value: Value, raw: Value, evaluator: Evaluator) -> Optional[LostCoroutine]:
    """A sync task callable that calls an `async def` and drops the coroutine."""
    func = function_of(value)
    if func is None:
        return None
    node = func.node
    if isinstance(node, cst.Lambda):
        body = node.body
        if isinstance(body, cst.Call):
            target = _coroutine_target(body, func, evaluator)
            if target is not None:
                return LostCoroutine("lambda", "<lambda>", target, body)
        return None
    if func.is_async:
        return _sync_decorator_of(func, evaluator)
    if is_opaque(func) and not _only_wraps(func):
        return None
    for call in _dropped_calls(node):
        target = _coroutine_target(call, func, evaluator)
        if target is not None:
            return LostCoroutine("function", func.name, target)
    outer = func.parent
    if isinstance(outer, FunctionScope) and isinstance(outer.node, cst.FunctionDef) and site.callable_expr:
        target = _wrapped_argument(site.callable_expr, site.callable_scope, func, outer, evaluator)
        if target is not None:
            return LostCoroutine("decorator", outer.name, target)
    return None


def _coroutine_target(call: cst.Call, scope: Scope, evaluator: Evaluator) -> Optional[FunctionScope]:
    """The `async def` that `call` calls (so the call makes a coroutine), or None. Only the callee
    is evaluated: what a sync callee returns does not matter here."""
    target = callable_function(evaluator.expr(call.func, scope), evaluator)
    if target is not None and target.is_async and not is_opaque(target) and not _is_generator(target):
        return target
    return None


def _only_wraps(func: FunctionScope) -> bool:
    node = func.node
    assert isinstance(node, cst.FunctionDef)
    for decorator in node.decorators:
        expr = decorator.decorator
        if isinstance(expr, cst.Call):
            expr = expr.func
        if (dotted(expr) or "").rpartition(".")[2] != "wraps" and dotted(expr) not in _TRANSPARENT_DECORATORS:
            return False
    return True


def _dropped_calls(node: cst.CSTNode) -> List[cst.Call]:
    """Calls whose result a sync def returns or discards as a statement (not in nested defs)."""
    return [statement.value for statement in own_nodes(node, (cst.Return, cst.Expr))
            if isinstance(statement, (cst.Return, cst.Expr)) and isinstance(statement.value, cst.Call)]


def _sync_decorator_of(func: FunctionScope, evaluator: Evaluator) -> Optional[LostCoroutine]:
    """`@logged async def notify(...)` where `logged` returns a sync wrapper calling it."""
    node = func.node
    assert isinstance(node, cst.FunctionDef)
    if func.parent is None:
        return None
    for decorator in node.decorators:
        expr = decorator.decorator
        if isinstance(expr, cst.Call):
            continue  # a decorator factory: its inner workings are one level further away
        decorator_func = function_of(evaluator.expr(expr, func.parent))
        if decorator_func is None or decorator_func.is_async or is_opaque(decorator_func) \
                or not isinstance(decorator_func.node, cst.FunctionDef):
            continue
        params = list(decorator_func.params().posonly_params) + list(decorator_func.params().params)
        if params and _returns_sync_wrapper_calling(decorator_func, params[0].name.value, evaluator):
            return LostCoroutine("decorator", decorator_func.name, func)
    return None


def _returns_sync_wrapper_calling(decorator: FunctionScope, param: str, evaluator: Evaluator) -> bool:
    """Every `return` of `decorator` gives a nested sync def that returns `param(...)`."""
    node = decorator.node
    assert isinstance(node, cst.FunctionDef)
    returns = [r.value for r in _returns(node)]
    if not returns:
        return False
    for value in returns:
        wrapper = function_of(evaluator.expr(value, decorator)) if value is not None else None
        if wrapper is None or wrapper.parent is not decorator or wrapper.is_async:
            return False
        if is_opaque(wrapper) and not _only_wraps(wrapper):
            return False
        if not any(_calls_param(call, wrapper, decorator, param) for call in _wrapper_calls(wrapper)):
            return False
    return True


def _wrapper_calls(wrapper: FunctionScope) -> List[cst.Call]:
    node = wrapper.node
    if isinstance(node, cst.Lambda):
        return [node.body] if isinstance(node.body, cst.Call) else []
    return _dropped_calls(node)


def _calls_param(call: cst.Call, wrapper: FunctionScope, decorator: FunctionScope, param: str) -> bool:
    if not isinstance(call.func, cst.Name) or call.func.value != param:
        return False
    found = wrapper.lookup(param)
    return found is not None and found[0].kind == "param" and found[1] is decorator


def _wrapped_argument(expr: cst.BaseExpression, scope: Scope, wrapper: FunctionScope,
                      decorator: FunctionScope, evaluator: Evaluator) -> Optional[FunctionScope]:
    """`partial(logged(notify), x)` or `task = logged(notify)`: the async def given to the
    decorator that made the sync `wrapper` the task runs."""
    for call, where in _producing_calls(expr, scope, evaluator, 0):
        if function_of(evaluator.expr(call.func, where)) is not decorator:
            continue
        if not any(_calls_param(c, wrapper, decorator, p) for c in _wrapper_calls(wrapper)
                   for p in bind_arguments(decorator, call.args, skip_self=False)):
            continue
        for param, arg in bind_arguments(decorator, call.args, skip_self=False).items():
            if any(_calls_param(c, wrapper, decorator, param) for c in _wrapper_calls(wrapper)):
                target = function_of(evaluator.expr(arg.value, where))
                if target is not None and target.is_async and not is_opaque(target):
                    return target
    return None


def _producing_calls(expr: cst.BaseExpression, scope: Scope, evaluator: Evaluator,
                     depth: int) -> Iterator[Tuple[cst.Call, Scope]]:
    """The calls an expression's value comes from, through partials and single assignments."""
    if depth > _MAX_TRACE:
        return
    if isinstance(expr, cst.Call):
        if ext_name(evaluator.expr(expr.func, scope)) in PARTIAL and expr.args:
            yield from _producing_calls(expr.args[0].value, scope, evaluator, depth + 1)
        else:
            yield expr, scope
    elif isinstance(expr, cst.Name):
        found = scope.lookup(expr.value)
        if found is None:
            return
        binding, where = found
        if binding.kind == "assign" and binding.value is not None and len(where.local(expr.value)) == 1:
            yield from _producing_calls(binding.value, where, evaluator, depth + 1)


__all__ = ["CallShape", "CalledTask", "LostCoroutine", "bind_problem", "definition", "function_of",
           "is_opaque", "lost_coroutine", "not_callable_result", "returned_kind", "shape_of",
           "task_shape"]
