"""Runs over real HTTP: the model's code runs in a child process, cannot read the server, cannot
freeze it, and a cancel or the run's deadline ends that child at once."""

from __future__ import annotations

import time

import httpx
import psutil
import pytest

from service_harness import ServiceProcess

SECRET = "sk-server-secret-5e1d"


def code_run(code: str) -> dict:
    return {"prompt": "run code:\n" + code}


@pytest.fixture(scope="module")
def runs_server(tmp_path_factory):
    server = ServiceProcess(tmp_path_factory.mktemp("isolation") / "runs.db", SERVICE_RUNS="1",
                            OPENAI_API_KEY=SECRET, SERVICE_RUN_TIMEOUT="20").start()
    yield server
    server.stop()
    server.assert_no_tracebacks()


def code_children(server: ServiceProcess) -> list[psutil.Process]:
    """The server's live code processes (a killed one not yet reaped is a zombie: not live)."""
    found = []
    for child in psutil.Process(server.proc.pid).children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE and any("_code_process.py" in p for p in child.cmdline()):
                found.append(child)
        except psutil.Error:  # gone meanwhile
            continue
    return found


def wait_until(predicate, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)  # polling an outside process: there is nothing to wait on
    return False


def finished(api: httpx.Client, run_id: str) -> dict:
    for _ in range(10):
        record = api.get(f"/runs/{run_id}", params={"wait": 25}).json()
        if record["status"] not in ("pending", "running"):
            return record
    raise AssertionError(f"run {run_id} did not finish: {record}")


def test_model_code_cannot_read_the_servers_environment_through_format(runs_server):
    code = ('try:\n'
            '    result = "{0.board.__init__.__globals__[threading]._os.environ}".format(submit_task)\n'
            'except Exception as exc:\n'
            '    result = "refused: " + str(exc)\n')
    with runs_server.client() as api:
        run = api.post("/runs", json=code_run(code)).json()
        record = finished(api, run["id"])
    assert record["status"] == "completed", record
    answer = str(record["final_answer"])
    assert SECRET not in answer
    assert "refused" in answer and "sandbox" in answer


def test_health_answers_while_a_run_does_heavy_arithmetic(runs_server):
    """Not a timing bound: /health answers arrive while the run's code is burning CPU (its child's
    CPU time grows across the request), which a server frozen by that code could not do."""
    with runs_server.client() as api:
        run = api.post("/runs", json=code_run("x = 7 ** 2000000\ny = x * x\nresult = y > x")).json()
        assert wait_until(lambda: code_children(runs_server))
        answered_while_computing = 0
        while api.get(f"/runs/{run['id']}").json()["status"] in ("pending", "running"):
            children = code_children(runs_server)
            if not children:
                break
            try:
                before = sum(children[0].cpu_times()[:2])
                api.get("/health", timeout=30).raise_for_status()
                after = sum(children[0].cpu_times()[:2])
            except psutil.NoSuchProcess:
                break
            answered_while_computing += after > before
        record = finished(api, run["id"])
    assert record["status"] == "completed" and record["final_answer"] == "True", record
    assert answered_while_computing >= 3


def test_cancel_ends_a_sleeping_runs_child_and_frees_its_slot(runs_server):
    with runs_server.client() as api:
        run = api.post("/runs", json=code_run("import time\ntime.sleep(40)\nresult = 'woke'")).json()
        assert wait_until(lambda: api.get(f"/runs/{run['id']}").json()["status"] == "running")
        assert wait_until(lambda: code_children(runs_server))
        time.sleep(1)  # let the code reach its sleep
        cancelled = api.delete(f"/runs/{run['id']}").json()
        assert cancelled["status"] == "cancelled"
        assert wait_until(lambda: not code_children(runs_server), seconds=10)
        # one run slot: the next run starts and finishes
        after = api.post("/runs", json={"prompt": "add 1 2, echo free"}).json()
        record = finished(api, after["id"])
    assert record["status"] == "completed", record
    assert record["final_answer"] == {"sum": 3, "echo": "free"}


def test_a_run_past_its_deadline_times_out_and_its_child_ends(runs_server):
    with runs_server.client() as api:
        run = api.post("/runs", json=code_run("import time\ntime.sleep(40)\nresult = 'woke'")).json()
        start = time.monotonic()
        record = finished(api, run["id"])
        took = time.monotonic() - start
        assert record["status"] == "timeout", record
        assert "20s" in record["reason"], record
        assert took < 35  # well before the sleep would have ended
        assert wait_until(lambda: not code_children(runs_server), seconds=10)


def test_runs_use_a_fresh_child_each_and_leave_none_behind(runs_server):
    with runs_server.client() as api:
        ids = [api.post("/runs", json=code_run(f"result = {n} * 2")).json()["id"] for n in range(2)]
        answers = [finished(api, run_id)["final_answer"] for run_id in ids]
    assert answers == ["0", "2"]
    assert wait_until(lambda: not code_children(runs_server), seconds=10)


def test_cancel_frees_a_run_stuck_in_a_tool_that_ignores_cancellation(runs_server):
    with runs_server.client() as api:
        run = api.post("/runs", json=code_run("result = stubborn(seconds=30)")).json()
        assert wait_until(lambda: api.get(f"/runs/{run['id']}").json()["status"] == "running")
        assert wait_until(lambda: code_children(runs_server))
        time.sleep(1)  # let the code reach the tool call
        assert api.delete(f"/runs/{run['id']}").json()["status"] == "cancelled"
        after = api.post("/runs", json={"prompt": "add 2 3, echo freed"}).json()
        record = finished(api, after["id"])
    assert record["status"] == "completed" and record["final_answer"] == {"sum": 5, "echo": "freed"}, record

