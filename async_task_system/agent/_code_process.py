"""The child side of ``SubprocessPythonExecutor`` (run as ``python _code_process.py READ_FD WRITE_FD``).

It holds the interpreter state and runs each step's code in a ``SandboxedPythonExecutor``;
tool calls go back to the parent as plain data. Not imported by the library itself.
"""

from __future__ import annotations

import pickle
import sys
from typing import Any

_MAX_ID_CHARS = 100  # a task id is far shorter; longer strings are not sent
_MAX_SENT_VARIABLES = 1000


def _die_with_parent() -> None:
    """Exit soon after the parent dies, also while the code sleeps or loops (between two reads of
    the pipe). Not prctl(PR_SET_PDEATHSIG): that fires when the parent *thread* that started us
    exits, which would kill the child of an agent built on one thread and run on another."""
    import os
    import threading
    import time

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(read_fd: int, write_fd: int) -> None:
    from multiprocessing.connection import Connection

    from smolagents.local_python_executor import InterpreterError

    from async_task_system.agent._sandbox import SandboxedPythonExecutor
    from async_task_system.agent._subprocess_executor import loads_plain, safe_repr

    reader, writer = Connection(read_fd, writable=False), Connection(write_fd, readable=False)
    executor: SandboxedPythonExecutor | None = None
    errors: dict[str, type] = {}

    def plain(value: Any, what: str) -> Any:
        data = pickle.dumps(value)
        loads_plain(data)  # raises if the parent would refuse it
        return data

    def to_parent(message: tuple[Any, ...]) -> None:
        writer.send_bytes(pickle.dumps(message))

    def remote_error(type_name: str, message: str) -> Exception:
        if type_name == "InterpreterError":
            return InterpreterError(message)
        builtin = getattr(__builtins__, type_name, None) if not isinstance(__builtins__, dict) \
            else __builtins__.get(type_name)
        if isinstance(builtin, type) and issubclass(builtin, Exception):
            return builtin(message)
        cls = errors.setdefault(type_name, type(type_name, (Exception,), {}))
        return cls(message)

    def short_strings() -> dict[str, str]:
        """The code's variables that may hold a task id (short strings), sent with each tool call:
        the parent reads a placeholder such as ``'$paris'`` against them."""
        found: dict[str, str] = {}
        for key, value in (executor.state if executor is not None else {}).items():
            if type(key) is str and type(value) is str and len(value) <= _MAX_ID_CHARS and not key.startswith("_"):
                found[key] = value
                if len(found) >= _MAX_SENT_VARIABLES:
                    break
        return found

    class ToolProxy:
        """Calls the parent's tool of this name."""

        def __init__(self, name: str) -> None:
            self.name = name

        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            try:
                data = plain(("call", self.name, list(args), kwargs, short_strings()), "arguments")
            except Exception as exc:
                raise InterpreterError(
                    f"the arguments to {self.name} must be plain data (str, numbers, lists, dicts, sets...) "
                    f"because the code runs in a separate process: {exc}") from None
            writer.send_bytes(data)
            reply = pickle.loads(reader.recv_bytes())  # the parent is trusted
            if reply[0] == "raise":
                raise remote_error(reply[1], reply[2])
            return reply[1]

        def __repr__(self) -> str:
            return f"<tool {self.name}>"

    while True:
        try:
            message = pickle.loads(reader.recv_bytes())
        except EOFError:
            return
        kind = message[0]
        if kind == "init":
            _, imports, max_print, max_digits = message
            executor = SandboxedPythonExecutor(imports, max_print_outputs_length=max_print,
                                               max_int_digits=max_digits, timeout_seconds=None)
            executor.send_tools({})
            to_parent(("ready",))
        elif kind == "tools" and executor is not None:
            executor.send_tools({name: ToolProxy(name) for name in message[1]})
        elif kind == "variables" and executor is not None:
            executor.send_variables(message[1])
        elif kind == "run" and executor is not None:
            try:
                result = executor(message[1])
            except Exception as exc:
                to_parent(("error", str(exc), str(executor.state.get("_print_outputs", ""))))
                continue
            try:
                writer.send_bytes(plain(("done", result.output, result.logs, result.is_final_answer), "output"))
            except Exception:  # not plain data (or too deep to pickle): its repr
                to_parent(("done", safe_repr(result.output), result.logs, result.is_final_answer))


if __name__ == "__main__":
    if sys.path and sys.path[0].endswith("agent"):
        del sys.path[0]  # this file's folder: its modules must not shadow anything
    _die_with_parent()
    main(int(sys.argv[1]), int(sys.argv[2]))
