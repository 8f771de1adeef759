"""``SandboxedPythonExecutor``: smolagents' ``LocalPythonExecutor`` with the lookups it misses closed.

smolagents refuses dunder attributes written in code, but some callables look attributes up
by name themselves, out of its sight: ``"{0.__init__.__globals__[os].environ}".format(f)``
walks from any function to every module. The same holds for ``str.format_map``,
``string.Formatter``, ``logging``'s ``{``-style formatters, ``operator.attrgetter`` and for
the frame attributes of generators (``g.gi_frame.f_globals``), which are not dunders at all.

The mechanism: the interpreter (``smolagents.local_python_executor``) does every attribute
lookup of model code through the name ``getattr`` in its own module, and every arithmetic
operator through ``evaluate_binop``/``evaluate_augassign``. Those names are rebound there,
once, to guards that act only while a ``SandboxedPythonExecutor`` runs code (a context
variable says so; plain ``LocalPythonExecutor`` users see no change). ``evaluate_ast`` is
wrapped too, so a function the code defined stays sandboxed when a task calls it later on
another thread (the executor's static tools carry a mark no code can name). The guard
looks at the value an attribute lookup yields, not at the name, so no spelling reaches it:

* ``str.format`` / ``str.format_map`` (bound or not) become versions that refuse a field
  with ``.`` or ``[`` (``"{0.x}"``, ``"{0[k]}"``, also nested in a format spec); plain,
  numbered, named fields, conversions and specs work as before;
* ``string.Formatter`` and its traversal methods, ``operator.attrgetter``/``methodcaller``
  become stubs that raise on use;
* whole modules that reach any object by name (``inspect``, ``gc``, ``pickle``, ``types``,
  ``logging``, whose formatters use ``str.format`` lookups...) import, but every attribute
  is such a stub, even if the agent authorized the import;
* frame, traceback, code, generator and coroutine internals (``gi_frame``, ``f_globals``,
  ``tb_frame``, ``co_code``...) and ``type.mro`` are refused;
* ``setattr`` refuses dunder names, as smolagents' ``getattr`` already does;
* ``**``, ``*``, ``<<`` and ``pow`` refuse an integer result above ``max_int_digits``
  (default 100,000 digits) before computing it: one such operation can hold the GIL for
  seconds, and smolagents counts it as one operation; ``*`` also refuses a repeated
  sequence over 50 million items (``"a" * 10**10``). ``max_int_digits=None`` turns both off.

Every refusal is an ``InterpreterError`` whose message says what was refused and what to
write instead, so the model reads it in its next step. What this does not promise is in the
README ("What the sandbox promises").
"""

from __future__ import annotations

import ast
import builtins
import contextvars
import math
import operator
import string
import threading
import types
from collections.abc import Callable
from typing import Any

from smolagents import local_python_executor as _lpe
from smolagents.local_python_executor import InterpreterError, LocalPythonExecutor, evaluate_python_code

from ..errors import InvalidArgumentError

__all__ = ["DEFAULT_MAX_INT_DIGITS", "REFUSED_MODULES", "SandboxedPythonExecutor", "check_max_int_digits", "safe_format",
           "sandbox_agent"]

DEFAULT_MAX_INT_DIGITS = 100_000
MAX_REPEAT_ITEMS = 50_000_000  # "a" * n and [0] * n, with the integer limit (in-process only)

# Modules whose attributes reach arbitrary objects by name or rebuild code: refused even if authorized.
REFUSED_MODULES = frozenset({
    "builtins", "code", "codeop", "copyreg", "ctypes", "dill", "gc", "importlib", "inspect", "marshal",
    "pdb", "pickle", "_pickle", "runpy", "shelve", "sys", "traceback", "types", "weakref", "_operator",
    "logging",  # its formatters (also ones the host installed) format records with str.format lookups
})

# Attributes of interpreter internals (frames, code, generators...) that lead to globals.
_INTERNAL_TYPES = (types.FrameType, types.TracebackType, types.CodeType, types.GeneratorType,
                   types.CoroutineType, types.AsyncGeneratorType)
_INTERNAL_PREFIXES = ("f_", "tb_", "co_", "gi_", "cr_", "ag_")

_ACTIVE: contextvars.ContextVar[SandboxedPythonExecutor | None] = contextvars.ContextVar(
    "async_task_system_sandbox", default=None)


class _Refused:
    """Stands in for a refused callable or module attribute: raises a readable error on use."""

    __slots__ = ("_message",)

    def __init__(self, message: str) -> None:
        object.__setattr__(self, "_message", message)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise InterpreterError(self._message)

    def __getattr__(self, name: str) -> Any:
        raise InterpreterError(self._message)

    def __getitem__(self, key: Any) -> Any:
        raise InterpreterError(self._message)

    def __iter__(self) -> Any:
        raise InterpreterError(self._message)

    def __repr__(self) -> str:
        return f"<refused by the sandbox: {self._message}>"


_FORMAT_HINT = ("format fields may not look up attributes or items; pass the value itself, "
                "e.g. '{}'.format(obj.name) or '{}'.format(d[\"key\"]) instead of '{0.name}' or '{0[key]}'")


def _check_template(template: str) -> None:
    """Refuse a format string with an attribute or index field, at any nesting depth."""
    pending = [template]  # worklist: format specs may hold fields of their own
    while pending:
        text = pending.pop()
        try:
            parts = list(string.Formatter().parse(text))
        except ValueError as exc:
            raise InterpreterError(f"invalid format string {text!r}: {exc}") from None
        for _, field, spec, _ in parts:
            if field is not None and ("." in field or "[" in field):
                raise InterpreterError(f"field {{{field}}} refused by the sandbox: {_FORMAT_HINT}")
            if spec:
                pending.append(spec)


def safe_format(template: str, /, *args: Any, **kwargs: Any) -> str:
    """``str.format`` without attribute or index fields (``"{:.2f}"``, ``"{name}"`` work)."""
    if not isinstance(template, str):
        raise InterpreterError(f"format needs a str template, got {type(template).__name__}")
    _check_template(template)
    return str.format(template, *args, **kwargs)


def safe_format_map(template: str, mapping: Any, /) -> str:
    """``str.format_map`` without attribute or index fields."""
    if not isinstance(template, str):
        raise InterpreterError(f"format_map needs a str template, got {type(template).__name__}")
    _check_template(template)
    return str.format_map(template, mapping)


class _BoundSafe:
    """``"text".format`` as the sandbox hands it out: the safe version bound to its string."""

    __slots__ = ("_func", "_template")

    def __init__(self, func: Callable[..., str], template: str) -> None:
        self._func, self._template = func, template

    def __call__(self, *args: Any, **kwargs: Any) -> str:
        return self._func(self._template, *args, **kwargs)

    def __repr__(self) -> str:
        return f"<sandboxed {self._func.__name__} of {self._template[:40]!r}>"


def _refused_values() -> dict[int, tuple[Any, str]]:
    """id -> (object, why): callables that look attributes up by name or format with str.format."""
    table: dict[int, tuple[Any, str]] = {}

    def refuse(value: Any, name: str, why: str) -> None:
        table[id(value)] = (value, f"{name} is refused by the sandbox: {why}")

    for method in ("format", "vformat", "_vformat", "get_field", "get_value"):
        refuse(getattr(string.Formatter, method), f"string.Formatter.{method}",
               "it looks attributes up by name; use str.format with plain fields ('{}', '{0}', '{name}')")
    refuse(string.Formatter, "string.Formatter",
           "it looks attributes up by name; use str.format with plain fields ('{}', '{0}', '{name}')")
    for name in ("attrgetter", "methodcaller"):
        refuse(getattr(operator, name), f"operator.{name}",
               "it looks attributes up by name; write a lambda, e.g. lambda x: x.name")
    return table


_REFUSED = _refused_values()
_MARK = "<sandbox>"  # key in an executor's static tools; no identifier can name it
_INSTALL_LOCK = threading.Lock()
_installed = False


def _guard_value(obj: Any, name: str, value: Any) -> Any:
    """What model code gets for ``obj.name`` (already looked up as ``value``)."""
    if isinstance(obj, types.ModuleType) and obj.__name__ in REFUSED_MODULES and not name.startswith("__"):
        return _Refused(f"module {obj.__name__} is refused by the sandbox: it reaches any object by name")
    if isinstance(obj, _INTERNAL_TYPES) and name.startswith(_INTERNAL_PREFIXES):
        raise InterpreterError(f"attribute {name} of a {type(obj).__name__} object is refused by the sandbox: "
                               "it leads to the interpreter's globals")
    if name == "mro" and isinstance(obj, type):
        raise InterpreterError("type.mro is refused by the sandbox; use isinstance/issubclass")
    if value is str.format:
        return safe_format
    if value is str.format_map:
        return safe_format_map
    if type(value) is types.BuiltinMethodType and isinstance(getattr(value, "__self__", None), str):
        if value.__name__ == "format":
            return _BoundSafe(safe_format, value.__self__)
        if value.__name__ == "format_map":
            return _BoundSafe(safe_format_map, value.__self__)
    target = getattr(value, "__func__", value)  # bound Formatter methods too
    entry = _REFUSED.get(id(target))
    if entry is not None and entry[0] is target:
        return _Refused(entry[1])
    return value


def _getattr(obj: Any, name: str, *default: Any) -> Any:
    """The interpreter's ``getattr`` while a sandboxed executor runs (builtins' otherwise)."""
    if _ACTIVE.get() is None:
        return builtins.getattr(obj, name, *default)
    value = builtins.getattr(obj, name, *default)
    return _guard_value(obj, name, value)


def _int_digits_bound(op: type, left: Any, right: Any) -> float:
    """Upper bound on the decimal digits of ``left op right`` for ints; 0 when not an int operation."""
    if not (isinstance(left, int) and isinstance(right, int)):
        return 0
    bits = max(left.bit_length(), 1)
    if op is ast.Pow:
        if right <= 0 or abs(left) <= 1:
            return 0
        return bits * right * math.log10(2)
    if op is ast.Mult:
        return (bits + right.bit_length()) * math.log10(2)
    if op is ast.LShift:
        return (bits + max(right, 0)) * math.log10(2)
    return 0


def _check_size(op: type, left: Any, right: Any) -> None:
    executor = _ACTIVE.get()
    if executor is None or executor.max_int_digits is None:
        return
    if op is ast.Mult and isinstance(left, int) != isinstance(right, int):  # "ab" * n, [0] * n
        sequence, times = (right, left) if isinstance(left, int) else (left, right)
        if isinstance(sequence, (str, bytes, bytearray, list, tuple)) and len(sequence) * times > MAX_REPEAT_ITEMS:
            raise InterpreterError(
                f"sequence too large: * would give {len(sequence) * times:,} items, above the sandbox's limit of "
                f"{MAX_REPEAT_ITEMS:,}")
        return
    digits = _int_digits_bound(op, left, right)
    if digits > executor.max_int_digits:
        symbol = {ast.Pow: "**", ast.Mult: "*", ast.LShift: "<<"}[op]
        raise InterpreterError(
            f"integer result too large: {symbol} would give about {digits:,.0f} digits, above the sandbox's "
            f"limit of {executor.max_int_digits:,}; work with logarithms, modular pow(a, b, m) or floats")


_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.Mod: operator.mod, ast.Pow: operator.pow, ast.FloorDiv: operator.floordiv,
           ast.BitAnd: operator.and_, ast.BitOr: operator.or_, ast.BitXor: operator.xor,
           ast.LShift: operator.lshift, ast.RShift: operator.rshift}
_GROWING = (ast.Pow, ast.Mult, ast.LShift)


def _install() -> None:
    """Rebind the interpreter's ``getattr``, ``evaluate_binop`` and ``evaluate_augassign`` (once)."""
    global _installed
    with _INSTALL_LOCK:
        if _installed:
            return
        original_binop, original_augassign = _lpe.evaluate_binop, _lpe.evaluate_augassign

        def evaluate_binop(binop: ast.BinOp, state: Any, static_tools: Any, custom_tools: Any,
                           authorized_imports: Any) -> Any:
            if _ACTIVE.get() is None or type(binop.op) not in _BINARY:
                return original_binop(binop, state, static_tools, custom_tools, authorized_imports)
            left = _lpe.evaluate_ast(binop.left, state, static_tools, custom_tools, authorized_imports)
            right = _lpe.evaluate_ast(binop.right, state, static_tools, custom_tools, authorized_imports)
            _check_size(type(binop.op), left, right)
            return _BINARY[type(binop.op)](left, right)

        def evaluate_augassign(expression: ast.AugAssign, state: Any, static_tools: Any, custom_tools: Any,
                               authorized_imports: Any) -> Any:
            if _ACTIVE.get() is not None and isinstance(expression.op, _GROWING):
                # x **= y as x = x ** y, so the operator goes through the size check
                value = ast.BinOp(left=expression.target, op=expression.op, right=expression.value)
                ast.copy_location(value, expression)
                assign = ast.copy_location(ast.Assign(targets=[expression.target], value=value), expression)
                return _lpe.evaluate_assign(assign, state, static_tools, custom_tools, authorized_imports)
            return original_augassign(expression, state, static_tools, custom_tools, authorized_imports)

        original_evaluate_ast = _lpe.evaluate_ast

        def evaluate_ast(expression: ast.AST, state: Any, static_tools: Any, custom_tools: Any,
                         authorized_imports: Any = _lpe.BASE_BUILTIN_MODULES) -> Any:
            if type(expression) is ast.Await and (_ACTIVE.get() is not None or (
                    type(static_tools) is dict and _MARK in static_tools)):
                call = ast.unparse(expression.value)[:200]
                raise InterpreterError(f"Await is not supported: async tools are called without await, as "
                                            f"plain functions that wait for their result: write {call} instead "
                                            f"of await {call}")
            # Code defined in a sandboxed run can be called later from another thread or context
            # (a function handed to a task): its static tools carry the sandbox along.
            if _ACTIVE.get() is None and type(static_tools) is dict:
                executor = static_tools.get(_MARK)
                if executor is not None:
                    token = _ACTIVE.set(executor)
                    try:
                        return original_evaluate_ast(expression, state, static_tools, custom_tools,
                                                     authorized_imports)
                    finally:
                        _ACTIVE.reset(token)
            return original_evaluate_ast(expression, state, static_tools, custom_tools, authorized_imports)

        _lpe.getattr = _getattr  # module global: shadows the builtin for the interpreter's lookups only
        _lpe.evaluate_ast = evaluate_ast
        _lpe.evaluate_binop = evaluate_binop
        _lpe.evaluate_augassign = evaluate_augassign
        _installed = True


def showable(value: Any) -> Any:
    """``value``, or a note if ``str(value)`` fails: smolagents shows a step's last value with
    ``str()``, and an exception there (an int over Python's 4,300-digit limit, a broken
    ``__str__``) would end the whole run instead of the step."""
    try:
        str(value)
    except Exception as exc:
        return f"<a {type(value).__name__} that cannot be shown: {type(exc).__name__}: {exc}>"
    return value


def _nodunder_setattr(obj: Any, name: str, value: Any) -> None:
    if isinstance(name, str) and name.startswith("__") and name.endswith("__"):
        raise InterpreterError(f"Forbidden access to dunder attribute: {name}")
    setattr(obj, name, value)


def _safe_pow(base: Any, exp: Any, mod: Any = None) -> Any:
    if mod is None:
        _check_size(ast.Pow, base, exp)
        return pow(base, exp)
    return pow(base, exp, mod)


class SandboxedPythonExecutor(LocalPythonExecutor):
    """``LocalPythonExecutor`` with the sandbox described in this module's docstring.

    Same arguments as ``LocalPythonExecutor`` plus ``max_int_digits`` (None: no limit).
    """

    def __init__(self, additional_authorized_imports: list[str] | None = None, *,
                 max_int_digits: int | None = DEFAULT_MAX_INT_DIGITS, **kwargs: Any) -> None:
        check_max_int_digits(max_int_digits)
        _install()
        super().__init__(list(additional_authorized_imports or []), **kwargs)
        self.max_int_digits = max_int_digits

    def send_tools(self, tools: dict[str, Any]) -> None:
        super().send_tools(tools)
        self.static_tools[_MARK] = self  # not a name code can write: see _install's evaluate_ast
        if self.static_tools.get("setattr") is setattr:
            self.static_tools["setattr"] = _nodunder_setattr
        if self.static_tools.get("pow") is pow:
            self.static_tools["pow"] = _safe_pow

    def __call__(self, code_action: str) -> Any:
        token = _ACTIVE.set(self)
        try:
            if self.timeout_seconds is None:
                result = super().__call__(code_action)
            else:
                # smolagents' timeout runs the code on a fresh thread, which would not see _ACTIVE:
                # run it there inside a copy of this context.
                context = contextvars.copy_context()
                limit = _lpe.timeout(self.timeout_seconds)
                output, is_final = limit(lambda: context.run(self._evaluate, code_action))()
                result = _lpe.CodeOutput(output=output, logs=str(self.state["_print_outputs"]),
                                         is_final_answer=is_final)
        finally:
            _ACTIVE.reset(token)
        if not result.is_final_answer:
            result.output = showable(result.output)
        return result

    def _evaluate(self, code_action: str) -> tuple[Any, bool]:
        return evaluate_python_code(
            code_action, static_tools=self.static_tools, custom_tools=self.custom_tools, state=self.state,
            authorized_imports=self.authorized_imports, max_print_outputs_length=self.max_print_outputs_length,
            timeout_seconds=None)


def check_max_int_digits(value: Any) -> int | None:
    """None (no limit) or an int >= 1: the most digits an integer result of the model's code may have."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise InvalidArgumentError(f"max_int_digits must be an int >= 1 or None (no limit), got {value!r}")
    return value


def sandbox_agent(agent: Any) -> Any:
    """Give ``agent`` (and its managed agents) a ``SandboxedPythonExecutor`` where it has smolagents'
    plain ``LocalPythonExecutor``, with the same settings; other executors are left alone. Returns ``agent``."""
    executor = getattr(agent, "python_executor", None)
    if type(executor) is LocalPythonExecutor:
        agent.python_executor = SandboxedPythonExecutor(
            executor.additional_authorized_imports, max_print_outputs_length=executor.max_print_outputs_length,
            additional_functions=executor.additional_functions, timeout_seconds=executor.timeout_seconds)
    for sub in (getattr(agent, "managed_agents", None) or {}).values():
        sandbox_agent(sub)
    return agent
