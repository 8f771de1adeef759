"""Task functions the Dask tests ship to worker processes (pickled by value: workers cannot import tests)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from async_task_system import cancel_token, current_task


def whoami(x: Any = None, **kwargs: Any) -> dict[str, Any]:
    """Where it ran and what it was given."""
    return {"pid": os.getpid(), "x": x, "kwargs": kwargs}


def add(a: Any, b: Any) -> Any:
    return a + b


def fail(message: str) -> None:
    raise RuntimeError(message)


def stamp(label: str, seconds: float) -> tuple[str, float, float]:
    """Sleep; return (label, start, end) wall-clock times."""
    start = time.time()
    time.sleep(seconds)
    return label, start, time.time()


def flaky(fail_times: int) -> int:
    """Fail the first ``fail_times`` attempts, then return the attempt number."""
    attempt = current_task().attempt
    if attempt <= fail_times:
        raise ValueError(f"attempt {attempt} fails on purpose")
    return attempt


def where(label: str, seconds: float) -> tuple[str, str, float, float]:
    """Sleep; return (label, the worker's address, start, end)."""
    from distributed import get_worker

    start = time.time()
    time.sleep(seconds)
    return label, get_worker().address, start, time.time()


def pid_then_sleep(marker_dir: str, seconds: float) -> int:
    """Leave a file named after this process, then sleep: the test knows whom to kill."""
    (Path(marker_dir) / f"{os.getpid()}.pid").write_text("running")
    time.sleep(seconds)
    return os.getpid()


def kill_own_process() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def wait_for_cancel(marker_dir: str, limit: float) -> str:
    """Run until the task's cancel token fires (or ``limit`` s); leave files saying so."""
    marker = Path(marker_dir)
    ctx = current_task()
    (marker / "started").write_text(f"{ctx.task_id} {os.getpid()}")
    cancelled = cancel_token().wait(limit)
    (marker / "stopped").write_text(f"{'cancelled' if cancelled else 'ran out'}: {cancel_token().reason}")
    return "stopped"


@contextlib.contextmanager
def local_client(n_workers: int = 1, threads: int = 2, processes: bool = True) -> Iterator[tuple[Any, Any]]:
    """Test side: a LocalCluster of its own and a client on it, (cluster, client); closed after."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=threads, processes=processes,
                           dashboard_address=":0", silence_logs=False)
    client = Client(cluster, set_as_default=False)
    try:
        client.wait_for_workers(n_workers, timeout=60)
        yield cluster, client
    finally:
        client.close()
        cluster.close()


def until(predicate: Any, timeout: float = 60.0) -> bool:
    """Test side: poll ``predicate`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def wait_for_file(path: Path, timeout: float = 30.0) -> str:
    """Test side: poll until another process has written ``path``; return its text."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear within {timeout}s")
        time.sleep(0.02)
    time.sleep(0.02)  # let the writer finish
    return path.read_text()


def traced_work(label: str) -> dict[str, Any]:
    """Make a span with the worker's global tracer; report the OpenInference context seen here."""
    from opentelemetry import context, trace

    with trace.get_tracer("dask-tests").start_as_current_span(f"tool work {label}"):
        return {"pid": os.getpid(), "session.id": context.get_value("session.id"),
                "user.id": context.get_value("user.id")}


def where_am_i_tool():
    """A smolagents tool reporting the process it runs in (built here so the module imports without smolagents)."""
    from smolagents import Tool

    class WhereAmI(Tool):
        name = "where_am_i"
        description = "Says which process ran it."
        inputs = {"label": {"type": "string", "description": "any label"}}
        output_type = "object"

        def forward(self, label: str) -> dict:
            return {"label": label, "pid": os.getpid()}

    return WhereAmI()


def locked_tool():
    """A smolagents tool that keeps a threading.Lock: it cannot travel to a worker."""
    import threading

    from smolagents import Tool

    class LockedLookup(Tool):
        name = "locked_lookup"
        description = "Looks something up, guarded by a lock."
        inputs = {"query": {"type": "string", "description": "what to look up"}}
        output_type = "string"

        def __init__(self) -> None:
            super().__init__()
            self.guard = threading.Lock()

        def forward(self, query: str) -> str:
            with self.guard:
                return query

    return LockedLookup()


def hold(marker_dir: str, label: str, limit: float = 120.0) -> tuple[str, int]:
    """Say it started (a file ``<label>.started``), then run until a file ``release`` appears."""
    marker = Path(marker_dir)
    (marker / f"{label}.started").write_text(str(os.getpid()))
    deadline = time.monotonic() + limit
    while not (marker / "release").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return label, os.getpid()


def squarer_script(messages: list) -> str:
    """A sub-agent's model: step 1 squares the number in its task and asks where it runs; step 2 answers."""
    import re

    from async_task_system.testing import task_text

    n = int(re.search(r"square of (\d+)", task_text(messages)).group(1))
    if len(messages) <= 3:  # system prompt + task: the first step
        return f"import time\ntime.sleep(0.5)\npid = worker_pid()\nvalue = {n} * {n}\nprint(value, pid)"
    return 'final_answer(f"{value} (process {pid})")'


def make_squarer():
    """A managed-agent factory: a new CodeAgent on a ScriptedModel, with a tool reporting its process id."""
    from smolagents import CodeAgent, Tool

    from async_task_system.testing import ScriptedModel

    class WorkerPid(Tool):
        name = "worker_pid"
        description = "The id of the process this runs in."
        inputs: dict = {}
        output_type = "integer"

        def forward(self) -> int:
            return os.getpid()

    return CodeAgent(tools=[WorkerPid()], model=ScriptedModel(squarer_script, token_usage=(50, 5)), name="squarer",
                     description="Squares the number in its task.", verbosity_level=-1,
                     additional_authorized_imports=["time"])


def make_looper(marker_dir: str):
    """A managed agent that never answers; its model leaves one file per call in ``marker_dir``.

    Give it as ``functools.partial(make_looper, dir)``: a zero-argument factory that pickles.
    """
    import uuid

    from smolagents import CodeAgent

    from async_task_system.testing import ScriptedModel

    def script(messages: list) -> str:
        (Path(marker_dir) / f"{uuid.uuid4().hex}.call").write_text(str(os.getpid()))
        return "x = 1"

    return CodeAgent(tools=[], model=ScriptedModel(script, delay=0.05, token_usage=(7, 3)), name="looper",
                     description="Works until stopped.", verbosity_level=-1, max_steps=10_000)


def make_broken_agent():
    """A managed agent whose model API is down: smolagents raises AgentGenerationError (which needs a logger)."""
    from smolagents import CodeAgent

    from async_task_system.testing import ScriptedModel

    def script(messages: list) -> str:
        raise ConnectionError("the model API is down")

    return CodeAgent(tools=[], model=ScriptedModel(script), name="broken", description="Cannot reach its model.",
                     verbosity_level=-1)


async def where_async(x: Any = None) -> dict[str, Any]:
    """A coroutine task: report the worker, thread and loop it runs on, and what it was given."""
    import asyncio
    import threading

    from distributed import get_worker

    await asyncio.sleep(0)
    worker = get_worker()
    return {"x": x, "pid": os.getpid(), "worker": worker.address, "thread": threading.current_thread().name,
            "on_worker_loop": asyncio.get_running_loop() is worker.loop.asyncio_loop,
            "task_id": current_task().task_id}


async def double_async(x: Any) -> Any:
    import asyncio

    await asyncio.sleep(0.01)
    return 2 * x


async def hang_async(marker_dir: str, label: str) -> str:
    """Await forever; leave ``<label>.started``, and ``<label>.finally`` (with the error seen) when stopped."""
    import asyncio

    marker = Path(marker_dir)
    (marker / f"{label}.started").write_text(str(os.getpid()))
    seen = "none"
    try:
        await asyncio.sleep(600)
    except BaseException as exc:
        seen = type(exc).__name__
        raise
    finally:
        (marker / f"{label}.finally").write_text(f"{seen} {cancel_token().cancelled}")
    return "woke up"


async def flaky_async(fail_times: int) -> int:
    """Fail the first ``fail_times`` attempts (after an await), then return the attempt number."""
    import asyncio

    await asyncio.sleep(0)
    attempt = current_task().attempt
    if attempt <= fail_times:
        raise ValueError(f"attempt {attempt} fails on purpose")
    return attempt


async def raise_base_async(kind: str) -> None:
    import asyncio

    await asyncio.sleep(0)
    raise {"exit": SystemExit(3), "interrupt": KeyboardInterrupt(), "generator": GeneratorExit()}[kind]


def raise_base(kind: str) -> None:
    raise {"exit": SystemExit(3), "interrupt": KeyboardInterrupt(), "generator": GeneratorExit()}[kind]


def make_listener(marker_dir: str):
    """A managed agent that works step after step (leaving ``<pid>.step`` files) until a message
    arrives, then answers with it and the process it ran in. Give it as ``functools.partial``."""
    from smolagents import CodeAgent

    from async_task_system.testing import ScriptedModel, message_text

    def script(messages: list) -> str:
        text = message_text(messages[-1]) if len(messages) > 2 else ""
        if "New message from the agent that gave you this task" in text:
            said = text.rsplit("\n", 1)[1]
            return f"final_answer('changed my answer: ' + {said!r} + ' (process {os.getpid()})')"
        (Path(marker_dir) / f"{os.getpid()}.step").write_text("working")
        if len(messages) > 400:
            return "final_answer('no message came')"
        return "import time\ntime.sleep(0.05)\nanswer = 'original'"

    return CodeAgent(tools=[], model=ScriptedModel(script), name="listener", description="Works until told otherwise.",
                     verbosity_level=-1, additional_authorized_imports=["time"], max_steps=200)


class Unhashable:
    """A callable object that cannot be hashed (so not remembered as checked) and pickles."""

    __hash__ = None  # type: ignore[assignment]

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no comparisons")

    def __call__(self) -> str:
        return "ran"


def echo(value: Any) -> Any:
    return value


def only_in_a_worker(payload: str, client_pid: int) -> str:
    """Rebuilds a value in any process but the client's (as a class the client lacks would)."""
    if os.getpid() == client_pid:
        raise RuntimeError(f"{payload!r} cannot be loaded in the client")
    return payload


class WorkerOnly:
    """A value that pickles anywhere and loads in the workers only."""

    def __init__(self, payload: str, client_pid: int) -> None:
        self.payload, self.client_pid = payload, client_pid

    def __reduce__(self) -> tuple[Any, ...]:
        return only_in_a_worker, (self.payload, self.client_pid)


def make_worker_only(payload: str, client_pid: int) -> WorkerOnly:
    return WorkerOnly(payload, client_pid)


def make_lambda(n: int) -> Any:
    return lambda: n * 2


# ---------------------------------------------------------------- values for the notes attack (test_dask_notes_attack)

_RAISE_KINDS = {"runtime": RuntimeError, "exit": SystemExit, "interrupt": KeyboardInterrupt}


class EvalOnLoad:
    """Pickles (plain pickle too) as ``eval(code)``: what the code does happens where it is unpickled."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self) -> tuple[Any, ...]:
        return (eval, (self.code,))


class Raising:
    """A value whose ``where`` method (``reduce``, ``sizeof``, ``repr``, ``eq``) raises ``kind``."""

    def __init__(self, where: str, kind: str) -> None:
        self.where, self.kind = where, kind

    def _boom(self, what: str) -> None:
        if self.where == what:
            raise _RAISE_KINDS[self.kind](f"{what} refuses")

    def __reduce__(self) -> tuple[Any, ...]:
        self._boom("reduce")
        return (Raising, (self.where, self.kind))

    def __sizeof__(self) -> int:
        self._boom("sizeof")
        return 64

    def __repr__(self) -> str:
        self._boom("repr")
        return f"Raising({self.where!r}, {self.kind!r})"

    def __eq__(self, other: object) -> bool:
        self._boom("eq")
        return isinstance(other, Raising) and (self.where, self.kind) == (other.where, other.kind)

    __hash__ = object.__hash__


def identity(x: Any) -> Any:
    return x


def make_bytes(n: int) -> bytes:
    return b"x" * n


def make_str(n: int, ch: str = "a") -> str:
    return ch * n


def recursive_list() -> list:
    a: list = []
    a.append(a)
    return a


def deep_list(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


def eval_value(code: str) -> EvalOnLoad:
    return EvalOnLoad(code)


def raising_value(where: str, kind: str) -> Raising:
    return Raising(where, kind)


def lambda_value() -> Any:
    return lambda x: x + 1


def generator_value() -> Any:
    return (i for i in range(3))


def sleep_then(seconds: float, value: Any) -> Any:
    time.sleep(seconds)
    return value


async def async_bytes(n: int) -> bytes:
    import asyncio

    await asyncio.sleep(0)
    return b"y" * n


async def async_sleep_then(seconds: float, value: Any) -> Any:
    import asyncio

    await asyncio.sleep(seconds)
    return value


def worker_address(seconds: float = 0.0) -> str:
    from distributed import get_worker

    time.sleep(seconds)
    return get_worker().address
