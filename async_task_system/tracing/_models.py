"""LLM spans for smolagents ``Model`` classes defined outside smolagents.

openinference-instrumentation-smolagents wraps ``generate`` only of the model classes
smolagents exports (``LiteLLMModel``, ...): a model of your own, or
``async_task_system.testing.ScriptedModel``, would leave no LLM span. This wraps them with
the instrumentor's own wrapper: the subclasses that exist now, and, through
``Model.__init_subclass__``, those defined or imported later. The instrumentor's
``uninstrument()`` restores the wrapped methods along with its own; the returned function
removes the hook. Best effort: with other instrumentor internals, nothing is wrapped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["instrument_other_models"]


def _nothing() -> None:
    pass


def instrument_other_models(instrumentor: Any) -> Callable[[], None]:
    """Wrap ``generate`` of every ``Model`` subclass outside the instrumentor's list; return an undo."""
    try:
        import wrapt
        from openinference.instrumentation.smolagents._wrappers import _ModelWrapper
        from smolagents.models import Model

        originals: dict[type, Any] = instrumentor._original_model_generate_methods
        wrapper = _ModelWrapper(tracer=instrumentor._tracer)
    except (ImportError, AttributeError):  # pragma: no cover - another instrumentor version
        return _nothing
    if originals is None:  # pragma: no cover - not instrumented
        return _nothing

    def wrap(cls: type) -> None:
        own = cls.__dict__.get("generate")
        if own is None or cls in originals or isinstance(own, wrapt.FunctionWrapper):
            return
        originals[cls] = own  # uninstrument() puts it back
        cls.generate = wrapt.FunctionWrapper(own, wrapper)

    pending, seen = [Model], set()
    while pending:
        for cls in pending.pop().__subclasses__():
            if cls not in seen:
                seen.add(cls)
                pending.append(cls)
                wrap(cls)

    had_hook = "__init_subclass__" in Model.__dict__
    previous_hook = Model.__dict__.get("__init_subclass__")

    def __init_subclass__(cls: type, **kwargs: Any) -> None:
        super(Model, cls).__init_subclass__(**kwargs)
        wrap(cls)

    Model.__init_subclass__ = classmethod(__init_subclass__)

    def undo() -> None:
        if had_hook:
            Model.__init_subclass__ = previous_hook
        else:
            del Model.__init_subclass__

    return undo
