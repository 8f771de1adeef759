"""``SubprocessPythonExecutor``: model code runs in a child process; its tools stay in this one.

Why a process: in a thread, one big-integer operation holds the GIL for seconds and
``time.sleep(40)`` cannot be stopped. In a child, the host keeps running and ``stop()``
ends the code for real (SIGKILL), at once.

Shape: the child runs a ``SandboxedPythonExecutor`` (the interpreter state, so variables
persist across steps, lives there). Each tool the code can call is a proxy in the child
that sends ``(name, args, kwargs)`` back; this process calls the real tool in the thread
that runs the step (same context, tracing and cancellation as in-process) and sends the
result. ``final_answer`` is such a tool too. An async tool's stand-in (``BlockingAsyncTool``)
runs its coroutine on the TaskManager's loop; a stopped step cancels that coroutine.

Trust runs one way: this process pickles to the child, but reads the child's messages with
an unpickler that builds plain data only (str, numbers, lists, dicts, sets..., and
``NoResult``, three fields), so code that took over the child still cannot make this process
run anything. Values that are not plain data cross as their ``repr``. Each tool call brings
the code's short string variables along, so that placeholders naming a variable
(``'$paris'``) read as they do in-process. The child gets no environment beyond what Python needs.

If the child dies (killed, out of memory, a crash), the step fails with an error that
says so, and a fresh child runs the next step (its variables are gone; the error says that).
"""

from __future__ import annotations

import contextvars
import io
import math
import os
import pickle
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from smolagents.local_python_executor import CodeOutput, InterpreterError, PythonExecutor

from ..engine import check_seconds
from ..errors import InvalidArgumentError
from ._sandbox import check_max_int_digits

__all__ = ["SubprocessPythonExecutor"]

_CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_code_process.py")
_STARTUP_SECONDS = 120.0  # importing smolagents on a loaded machine; then the child counts as lost
_ENV_KEEP = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "PYTHONPATH", "SYSTEMROOT")

_PLAIN_GLOBALS = {
    ("builtins", name) for name in ("set", "frozenset", "complex", "slice", "range", "bytearray")
} | {("datetime", name) for name in ("datetime", "date", "time", "timedelta", "timezone")} | {
    ("collections", "OrderedDict"), ("_codecs", "encode"),  # bytes in protocol 2 use _codecs.encode
    ("async_task_system.agent._observation", "NoResult")}  # three fields set from plain values, nothing run


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _PLAIN_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not plain data")


def loads_plain(data: bytes) -> Any:
    """Unpickle data that can hold only plain values (what the child may send)."""
    return _PlainUnpickler(io.BytesIO(data)).load()


class SubprocessPythonExecutor(PythonExecutor):
    """A smolagents ``PythonExecutor`` that runs model code in a child process.

    ``additional_authorized_imports`` and ``max_print_outputs_length`` as for
    ``LocalPythonExecutor``; ``timeout_seconds``: a step running longer ends its child;
    ``max_int_digits``: the child's integer limit (None: none, the child cannot stall us).
    ``stop(reason)`` (from any thread) ends the running step at once; ``cleanup()`` ends the child.
    ``state`` holds the logs and, as of the code's latest tool call, its short string variables
    (what placeholders such as ``'$paris'`` are read against); the other variables live in the child.
    """

    def __init__(self, additional_authorized_imports: list[str] | None = None, *,
                 max_print_outputs_length: int | None = None, timeout_seconds: float | None = None,
                 max_int_digits: int | None = None, start: bool = True,
                 additional_functions: dict[str, Any] | None = None) -> None:
        if additional_functions:
            raise InvalidArgumentError(
                "additional_functions cannot run in the code's process (they would have to travel there); "
                "give them to the agent as tools, which the code calls in this process")
        timeout_seconds = _check_timeout(timeout_seconds)
        check_max_int_digits(max_int_digits)
        self.authorized_imports = list(additional_authorized_imports or [])
        self.max_print_outputs_length = max_print_outputs_length
        self.timeout_seconds = timeout_seconds
        self.max_int_digits = max_int_digits
        self.state: dict[str, Any] = {"_print_outputs": ""}  # what smolagents reads for logs on error
        self._tools: dict[str, Any] = {}
        self._variables: dict[str, Any] = {}
        self._lock = threading.Lock()  # guards the fields below
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._ready = False  # the child has said it imported and built its interpreter
        self._tool_thread: _ToolThread | None = None  # runs the code's tool calls
        self._tool_done: threading.Event | None = None  # set when the running tool call ends, or by stop()
        self._stop_reason: str | None = None  # set by stop(); read when the child's pipe closes
        self.steps_run = 0
        self.children_started = 0
        if start:
            self._ensure_child()  # start importing now: it overlaps the first model call

    # ------------------------------------------------------------------ PythonExecutor

    def send_tools(self, tools: dict[str, Any]) -> None:
        self._tools = dict(tools)
        self._send_setup()

    def send_variables(self, variables: dict[str, Any]) -> None:
        self._variables.update(variables)
        self._send_setup()

    def __call__(self, code_action: str) -> CodeOutput:
        with self._lock:
            self._stop_reason = None
        try:
            conn = self._ensure_child()
            if not self._ready:  # the step's clock starts once the child has imported
                if self._receive(conn, time.monotonic() + _STARTUP_SECONDS)[0] != "ready":
                    raise pickle.UnpicklingError("the code's process did not start as expected")
                self._ready = True
            deadline = None if self.timeout_seconds is None else time.monotonic() + self.timeout_seconds
            conn.send_bytes(pickle.dumps(("run", code_action)))
            while True:
                message = self._receive(conn, deadline)
                kind = message[0]
                if kind == "call":
                    self._note_variables(message[4] if len(message) > 4 else None)
                    conn.send_bytes(self._call_tool_until_stopped(message[1], message[2], message[3], deadline))
                elif kind == "done":
                    _, output, logs, is_final = message
                    self.state["_print_outputs"] = logs
                    self.steps_run += 1
                    return CodeOutput(output=output, logs=logs, is_final_answer=is_final)
                elif kind == "error":
                    self.state["_print_outputs"] = message[2]
                    break
                else:
                    raise pickle.UnpicklingError(f"the code's process sent an unknown message {kind!r}")
        except (EOFError, OSError, pickle.UnpicklingError) as exc:
            raise InterpreterError(self._child_lost(exc)) from None
        except BaseException:
            self._end_child()  # mid-conversation (a tool raised BaseException, ^C): the child cannot go on
            raise
        raise InterpreterError(message[1])  # the code failed; the child and its state go on

    def cleanup(self) -> None:
        """End the child (idempotent)."""
        self._end_child()
        with self._lock:
            worker, self._tool_thread = self._tool_thread, None
        if worker is not None:
            worker.close()

    def stop(self, reason: str = "stopped") -> None:
        """End the running step now (from any thread): the step fails with ``reason``, also
        while a tool it called still runs (that call is abandoned; its result is dropped)."""
        with self._lock:
            self._stop_reason = reason
            wake = self._tool_done
        self._end_child()
        if wake is not None:
            wake.set()

    @property
    def pid(self) -> int | None:
        process = self._process
        return None if process is None else process.pid

    def __del__(self) -> None:
        try:
            self._end_child()
        except Exception:
            pass

    # ------------------------------------------------------------------ the child

    def _ensure_child(self) -> Connection:
        with self._lock:
            if self._process is not None and self._process.poll() is None and self._conn is not None:
                return self._conn
        self._end_child()
        parent_read, child_write = os.pipe()
        child_read, parent_write = os.pipe()
        env = {key: os.environ[key] for key in _ENV_KEEP if key in os.environ}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_package_root(), env.get("PYTHONPATH")]))
        try:
            process = subprocess.Popen(
                [sys.executable, "-u", _CHILD, str(child_read), str(child_write)],
                pass_fds=(child_read, child_write), env=env, stdin=subprocess.DEVNULL, cwd=os.getcwd())
        except BaseException:
            os.close(parent_read)
            os.close(parent_write)
            raise
        finally:
            os.close(child_read)
            os.close(child_write)
        reader, writer = Connection(parent_read, writable=False), Connection(parent_write, readable=False)
        conn = _Duplex(reader, writer)
        with self._lock:
            self._process, self._conn, self._ready = process, conn, False
            self.children_started += 1
        conn.send_bytes(pickle.dumps(("init", self.authorized_imports, self.max_print_outputs_length,
                                      self.max_int_digits)))
        self._send_setup()
        return conn

    def _send_setup(self) -> None:
        conn = self._conn
        if conn is None:
            return
        try:
            conn.send_bytes(pickle.dumps(("tools", sorted(self._tools))))
            conn.send_bytes(_dumps_for_child(("variables", self._variables)))
        except OSError:
            pass  # the child is gone: the next step starts a new one

    def _end_child(self) -> None:
        with self._lock:
            process, conn = self._process, self._conn
            self._process = self._conn = None
        if process is not None and process.poll() is None:
            process.kill()
        if conn is not None:
            conn.close()
        if process is not None:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    def _receive(self, conn: Connection, deadline: float | None) -> tuple[Any, ...]:
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            if conn.poll(wait):
                return loads_plain(conn.recv_bytes())
            if self._ready:
                self.stop(f"the code ran longer than its limit of {self.timeout_seconds:g}s")
            else:
                self.stop(f"the code's process did not start within {_STARTUP_SECONDS:g}s")
            raise EOFError

    def _note_variables(self, variables: Any) -> None:
        """Keep the code's short string variables (sent with a tool call) in ``state``, where the agent
        layer reads placeholders such as ``'$paris'``; anything but ``{str: str}`` from the child is ignored."""
        if not isinstance(variables, dict):
            return
        seen = {key: value for key, value in variables.items() if type(key) is str and type(value) is str}
        self.state = {**seen, "_print_outputs": self.state.get("_print_outputs", "")}

    def _child_lost(self, exc: BaseException) -> str:
        with self._lock:
            reason = self._stop_reason
            process = self._process
        code = None if process is None else process.poll()
        self._end_child()
        if reason is None:
            reason = ("the code's process exited" + (f" (exit status {code})" if code is not None else "")
                      + f" while running this step ({type(exc).__name__})")
        return f"{reason}; the step was stopped and its variables are lost; a fresh process runs the next step"

    def _call_tool_until_stopped(self, name: str, args: list[Any], kwargs: dict[str, Any],
                                 deadline: float | None) -> bytes:
        """Call the tool on the helper thread (in this thread's context), so that ``stop()`` or the
        deadline frees the step even if the tool ignores cancellation and never returns (that
        thread is then abandoned, and a new one takes the next call)."""
        done = threading.Event()
        reply: list[bytes] = []
        failure: list[BaseException] = []
        context = contextvars.copy_context()

        def call() -> None:
            try:
                reply.append(context.run(self._call_tool, name, args, kwargs))
            except BaseException as exc:  # e.g. KeyboardInterrupt: raised again in the step's thread
                failure.append(exc)
            finally:
                done.set()

        with self._lock:
            if self._stop_reason is not None:
                raise EOFError
            if self._tool_thread is None:
                self._tool_thread = _ToolThread()
            worker, self._tool_done = self._tool_thread, done
        worker.submit(call)
        try:
            finished = done.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
        finally:
            with self._lock:
                self._tool_done = None
        if finished and reply:
            return reply[0]
        if finished and failure:
            raise failure[0]
        with self._lock:  # abandoned: it exits once the tool returns; the next call gets a new thread
            if self._tool_thread is worker:
                self._tool_thread = None
        worker.close()
        stop_call = getattr(self._tools.get(name), "cancel_calls", None)  # an async tool: its coroutine can stop
        if stop_call is not None:
            stop_call(self._stop_reason or "the step was stopped")
        if not finished:
            self.stop(f"the code ran longer than its limit of {self.timeout_seconds:g}s "
                      f"(in a call to {name}, which is left running)")
        raise EOFError

    def _call_tool(self, name: str, args: list[Any], kwargs: dict[str, Any]) -> bytes:
        tool = self._tools.get(name)
        if tool is None:
            return pickle.dumps(("raise", "InterpreterError", f"no tool named {name!r}"))
        try:
            value = tool(*args, **kwargs)
        except Exception as exc:
            return pickle.dumps(("raise", type(exc).__name__, str(exc)))
        return _dumps_for_child(("return", value))


class _ToolThread:
    """A daemon thread that runs the calls handed to it, one at a time, until closed."""

    def __init__(self) -> None:
        self._calls: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        threading.Thread(target=self._work, name="code-tools", daemon=True).start()

    def _work(self) -> None:
        while (call := self._calls.get()) is not None:
            call()

    def submit(self, call: Callable[[], None]) -> None:
        self._calls.put(call)

    def close(self) -> None:
        """The thread exits after the call it runs (if any)."""
        self._calls.put(None)


class _Duplex:
    """Two one-way pipes as one connection (``poll`` and ``recv`` read, ``send`` writes)."""

    def __init__(self, reader: Connection, writer: Connection) -> None:
        self.reader, self.writer = reader, writer

    def poll(self, timeout: float | None) -> bool:
        return self.reader.poll(timeout)

    def recv_bytes(self) -> bytes:
        return self.reader.recv_bytes()

    def send_bytes(self, data: bytes) -> None:
        self.writer.send_bytes(data)

    def close(self) -> None:
        for end in (self.reader, self.writer):
            try:
                end.close()
            except OSError:
                pass


def _check_timeout(value: Any) -> float | None:
    """A step's limit: None or infinity (no limit), or a number of seconds > 0 (more than a year: a year)."""
    if type(value) is float and value == math.inf:
        return None
    return check_seconds("timeout_seconds", value, cap=True)


def _dumps_for_child(message: tuple[Any, ...]) -> bytes:
    """Pickle for the child; a value that does not pickle goes as its repr."""
    try:
        return pickle.dumps(message)
    except Exception:
        kind, *values = message
        return pickle.dumps((kind, *[_plain_or_repr(value) for value in values]))


def _plain_or_repr(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain_or_repr(item) for key, item in value.items()}
    try:
        pickle.dumps(value)
        return value
    except Exception:
        return safe_repr(value)


def safe_repr(value: Any) -> str:
    """``repr(value)``, or a note when that raises (a broken ``__repr__``, 10,000-deep nesting)."""
    try:
        return repr(value)
    except Exception as exc:
        return f"<unrepresentable {type(value).__name__}: {type(exc).__name__}>"


def _package_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
