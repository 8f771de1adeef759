"""Bad input: an error that names the parameter and what it accepts; nothing is queued."""

from __future__ import annotations

import pytest

from async_task_system import InvalidArgumentError, QueueFullError, TaskManager


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda tm: tm.submit("print"), "fn must be callable, got str 'print'"),
        (lambda tm: tm.submit(print, "abc"), "args must be a tuple or list of positional arguments, got str"),
        (lambda tm: tm.submit(print, (), [1]), "kwargs must be a dict with str keys"),
        (lambda tm: tm.submit(print, timeout=-1), "timeout must be a number of seconds > 0 and at most 31536000 (one year) or None, got -1"),
        (lambda tm: tm.submit(print, timeout="5"), "timeout must be a number of seconds > 0 and at most 31536000 (one year) or None, got str '5'"),
        (lambda tm: tm.submit(print, priority=1.5), "priority must be an int, got float 1.5"),
        (lambda tm: tm.submit(print, max_retries=-2), "max_retries must be >= 0, got -2"),
        (lambda tm: tm.submit(print, retry_on="ValueError"), "retry_on must be an exception class"),
        (lambda tm: tm.submit(print, backoff=3), "backoff must be a callable attempt -> seconds"),
        (lambda tm: tm.submit(print, depends_on=[1]), "depends_on must contain task ids as str, got int 1"),
        (lambda tm: tm.submit(print, name=""), "name must be a non-empty str"),
        (lambda tm: tm.tasks(status="done"), "unknown status 'done'; accepted: pending, waiting, running"),
        (lambda tm: tm.get(7), "task id must be a str such as 't1', got int 7"),
    ],
)
def test_bad_input_is_named(tm, call, message):
    with pytest.raises(InvalidArgumentError) as err:
        call(tm)
    assert message in str(err.value)
    assert tm.get_statistics()["total"] == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_workers": 0}, "max_workers must be >= 1, got 0"),
        ({"name_limits": {"x": 0}}, "name_limits['x'] must be >= 1"),
        ({"executor": object()}, "executor must be an async_task_system.executors.Executor"),
        ({"id_prefix": "t-"}, "id_prefix must be a short identifier"),
    ],
)
def test_bad_manager_settings(kwargs, message):
    with pytest.raises(InvalidArgumentError, match=message.replace("[", r"\[").replace("]", r"\]")):
        TaskManager(**kwargs)


def test_queue_bound_refuses_and_keeps_what_was_submitted():
    import threading

    gate = threading.Event()
    with TaskManager(max_workers=1, max_unfinished=3) as tm:
        ids = [tm.submit(gate.wait, (5,)) for _ in range(3)]
        with pytest.raises(QueueFullError, match="3 tasks are unfinished, the limit .max_unfinished. is 3"):
            tm.submit(int)
        gate.set()
        assert tm.wait(ids, timeout=5).not_done == set()
        assert tm.result(tm.submit(int, ("4",)), timeout=5) == 4
