"""Live coordination over HTTP: answers to a task's question, messages to agent tasks and runs,
and the event streams (Server-Sent Events) that resume without losing or repeating an event."""

from __future__ import annotations

import json

import httpx
import pytest
from service_harness import TOKEN

from async_task_system.server.client import ServiceError, TaskClient, parse_sse


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    from service_harness import ServiceProcess

    server = ServiceProcess(tmp_path_factory.mktemp("live") / "tasks.db", SERVICE_RUNS="1",
                            SERVICE_KEEPALIVE="0.5").start()
    yield server
    server.stop()
    server.assert_no_tracebacks()


@pytest.fixture
def client(live):
    with TaskClient(live.url, TOKEN) as c:
        yield c


def _wait_for_question(client: TaskClient, task_id: str) -> dict:
    for event in client.events(task_id):
        if event.kind == "question":
            return event.data
        assert event.kind != "end", f"the task ended without asking: {event.data}"
    raise AssertionError("the stream ended without a question")


def test_a_tool_asks_a_question_and_an_http_answer_lets_it_finish(client):
    task = client.submit("ask_user", {"question": "Which year?"})
    question = _wait_for_question(client, task["id"])
    assert question["question"] == "Which year?"
    record = client.get(task["id"])
    assert record["status"] == "waiting_for_input" and record["question"] == "Which year?"
    assert client.list(status="waiting_for_input")["total"] >= 1

    delivery = client.answer(task["id"], "2024 ☃")
    assert delivery["delivered"] == "answer"
    done = client.wait(task["id"], timeout=30)
    assert done["status"] == "completed" and done["result"] == "answer: 2024 ☃"
    assert done["question"] is None

    kinds = [e.kind for e in client.events(task["id"])]  # the whole log, replayed from the store
    assert kinds[-1] == "end"
    assert "progress" in kinds and kinds.index("question") < kinds.index("answer") < kinds.index("end")
    end = list(client.events(task["id"]))[-1].data
    assert end["status"] == "completed" and end["result"] == "answer: 2024 ☃"


def test_answers_that_reach_nobody_are_refused_with_the_reason(client, live):
    finished = client.submit("add", {"a": 1, "b": 2})
    client.wait(finished["id"], timeout=30)
    with pytest.raises(ServiceError) as caught:
        client.answer(finished["id"], "hello")
    assert caught.value.status_code == 409 and "already ended (completed)" in caught.value.body["message"]

    running = client.submit("slow_echo", {"text": "x", "seconds": 30})
    with pytest.raises(ServiceError) as caught:
        client.answer(running["id"], "hello")
    assert caught.value.status_code == 409 and "not waiting for input" in caught.value.body["message"]
    with pytest.raises(ServiceError) as caught:  # a tool task reads no messages
        client.send_message(running["id"], "hello")
    assert caught.value.status_code == 409 and "tool task" in caught.value.body["message"]
    client.cancel(running["id"])

    with pytest.raises(ServiceError) as caught:
        client.answer("t9_999", "hello")
    assert caught.value.status_code == 404
    with pytest.raises(ServiceError) as caught:
        client.send_run_message("r9_999", "hello")
    assert caught.value.status_code == 404


def test_bad_text_is_refused_before_it_reaches_the_task(client, live):
    task = client.submit("ask_user", {"question": "Name?"})
    _wait_for_question(client, task["id"])
    with live.client() as api:
        surrogate = api.post(f"/tasks/{task['id']}/input", content=b'{"text": "bad \\ud800 text"}',
                             headers={"Content-Type": "application/json"})
        assert surrogate.status_code == 422 and surrogate.json()["field"] == "text"
        huge = api.post(f"/tasks/{task['id']}/input", json={"text": "x" * 1_100_000})
        assert huge.status_code == 413
        long = api.post(f"/tasks/{task['id']}/input", json={"text": "x" * 20_001})
        assert long.status_code == 422 and long.json()["field"] == "text"
        empty = api.post(f"/tasks/{task['id']}/input", json={"text": "   "})
        assert empty.status_code == 422 and "empty" in empty.json()["message"]
        wrong = api.post(f"/tasks/{task['id']}/input", json={"answer": "x"})
        assert wrong.status_code == 422
    assert client.get(task["id"])["status"] == "waiting_for_input"  # none of it was taken as the answer
    client.answer(task["id"], "Ada")
    assert client.wait(task["id"], timeout=30)["result"] == "answer: Ada"


def test_a_stream_cut_mid_way_resumes_with_last_event_id_losing_and_repeating_nothing(client, live):
    task = client.submit("ask_user", {"question": "Go on?"})
    _wait_for_question(client, task["id"])
    client.answer(task["id"], "yes")
    client.wait(task["id"], timeout=30)
    whole = [(e.id, e.kind) for e in client.events(task["id"])]
    assert len(whole) >= 6 and whole[-1][1] == "end"

    with live.client() as api:  # read two events, drop the connection
        with api.stream("GET", f"/tasks/{task['id']}/events") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            seen = []
            for event in parse_sse(response.iter_lines()):
                seen.append((event.id, event.kind))
                if len(seen) == 2:
                    break
        with api.stream("GET", f"/tasks/{task['id']}/events",
                        headers={"Last-Event-ID": str(seen[-1][0])}) as response:
            rest = [(e.id, e.kind) for e in parse_sse(response.iter_lines())]
        assert seen + rest == whole
        after_end = api.get(f"/tasks/{task['id']}/events", headers={"Last-Event-ID": str(whole[-1][0])})
        assert after_end.status_code == 200 and "id:" not in after_end.text  # over: nothing more, no wait
        bad = api.get(f"/tasks/{task['id']}/events", headers={"Last-Event-ID": "12abc"})
        assert bad.status_code == 422 and "Last-Event-ID" in bad.json()["message"]
        assert api.get("/tasks/t9_999/events").status_code == 404
        unauthorized = httpx.get(f"{live.url}/tasks/{task['id']}/events")
        assert unauthorized.status_code == 401


def test_a_live_stream_sees_events_as_they_happen_and_sends_keep_alives(client, live):
    task = client.submit("slow_echo", {"text": "late", "seconds": 1.5})
    with live.client() as api:
        with api.stream("GET", f"/tasks/{task['id']}/events") as response:
            lines = list(response.iter_lines())
    assert ": keep-alive" in lines  # the server's keep-alive is 0.5 s here; the task takes 1.5 s
    events = list(parse_sse(iter(lines)))
    assert [e.data.get("status") for e in events if e.kind == "status"][-1] == "running"
    assert events[-1].kind == "end" and events[-1].data["result"] == "late"
    ids = [e.id for e in events]
    assert ids == sorted(set(ids))


def test_a_message_to_a_managed_agent_task_changes_its_answer(client):
    task = client.submit("listener", description="wait for instructions")
    for event in client.events(task["id"]):
        if event.kind == "status" and event.data["status"] == "running":
            break
    delivery = client.send_message(task["id"], "the answer is 42")
    assert delivery["delivered"] == "message"
    done = client.wait(task["id"], timeout=60)
    assert done["status"] == "completed" and "the answer is 42" in json.dumps(done["result"])
    messages = [e.data["text"] for e in client.events(task["id"]) if e.kind == "message"]
    assert messages == ["the answer is 42"]
    with pytest.raises(ServiceError) as caught:
        client.send_message(task["id"], "too late")
    assert caught.value.status_code == 409


def test_a_message_to_a_run_changes_the_scripted_models_answer(client):
    run = client.start_run("listen for a message", max_steps=100)
    events = client.run_events(run["id"])
    for event in events:
        if event.kind == "progress":  # its first step is done: the model is waiting
            break
    delivery = client.send_run_message(run["id"], "answer with: blue")
    assert delivery["delivered"] == "message"
    kinds = [event.kind for event in events]  # the same stream, to its end
    assert kinds[-1] == "end" and "message" in kinds
    done = client.wait_run(run["id"], timeout=60)
    assert done["status"] == "completed" and done["final_answer"] == "answer with: blue"
    end = list(client.run_events(run["id"]))[-1].data
    assert end["final_answer"] == "answer with: blue"
    with pytest.raises(ServiceError) as caught:
        client.send_run_message(run["id"], "too late")
    assert caught.value.status_code == 409 and "already ended" in caught.value.body["message"]


def test_the_client_resumes_a_stream_the_server_ends_early_without_losing_or_repeating(start_service, tmp_path):
    server = start_service(tmp_path / "short.db", SERVICE_MAX_STREAM="0.3", SERVICE_KEEPALIVE="0.1")
    with TaskClient(server.url, TOKEN) as client:
        task = client.submit("ask_user", {"question": "Ready?"})
        seen = []
        for event in client.events(task["id"]):  # each connection lasts 0.3 s: many resumes
            seen.append((event.id, event.kind))
            if event.kind == "question":
                client.answer(task["id"], "ready")
        assert seen == [(e.id, e.kind) for e in client.events(task["id"])]  # the same as one replay
        assert [kind for _, kind in seen][-1] == "end" and len(set(seen)) == len(seen)
    with server.client() as api:  # the server's stream ends after its limit; it said where to resume
        text = api.get(f"/tasks/{task['id']}/events", params={"after": seen[1][0]}).text
        assert [e.id for e in parse_sse(iter(text.splitlines()))] == [i for i, _ in seen[2:]]


def test_many_open_streams_hold_no_worker_thread(client, live):
    import threading

    task = client.submit("slow_echo", {"text": "held", "seconds": 60})
    opened = threading.Barrier(61)
    streams = []

    def listen() -> None:
        with live.client() as api, api.stream("GET", f"/tasks/{task['id']}/events") as response:
            streams.append(response.status_code)
            next(response.iter_lines())
            opened.wait(30)
            opened.wait(30)  # held open until the checks below are done

    threads = [threading.Thread(target=listen, daemon=True) for _ in range(60)]
    for thread in threads:
        thread.start()
    opened.wait(30)
    try:  # more streams than the server's thread pool (40): requests still get answers
        assert client.get(task["id"])["status"] == "running"
        assert client.health()["status"] == "ok"
    finally:
        opened.wait(30)
        for thread in threads:
            thread.join(30)
        client.cancel(task["id"])
    assert streams == [200] * 60


def test_odd_results_end_a_stream_as_valid_json_or_a_pointer(client):
    for kind, check in (("surrogate", lambda end: "caf" in json.dumps(end["result"])),
                        ("huge", lambda end: end["result_url"].endswith("/result") and "result" not in end),
                        ("broken_repr", lambda end: end["status"] in ("completed", "failed"))):
        task = client.submit("odd_value", {"kind": kind})
        events = list(client.events(task["id"]))
        assert events[-1].kind == "end" and check(events[-1].data), (kind, events[-1].data)


def test_the_event_log_survives_a_crash_ends_lost_records_and_goes_with_pruned_ones(tmp_path):
    from async_task_system.server._store import Store

    store = Store(tmp_path / "events.db")
    record = {"id": "t1_1", "task_type": "add", "kind": "tool", "description": "", "parameters": {},
              "priority": 1, "timeout_seconds": None, "status": "running", "created_at": 1.0, "attempts": 1}
    store.insert_task(record)
    first = store.add_event("t1_1", "status", '{"id": "t1_1", "status": "running"}')
    store.add_event("t1_1", "message", '{"id": "t1_1", "text": "bad \ud800 surrogate"}')
    store.close()  # as if the process died: the task never ended

    store = Store(tmp_path / "events.db")
    events, ended = store.events_after("t1_1", 0, 100)
    assert [kind for _, kind, _ in events] == ["status", "message", "end"] and ended
    events[1][2].encode("utf-8")  # stored as valid UTF-8: the lone surrogate as a JSON escape
    assert json.loads(events[1][2])["text"] == "bad \ud800 surrogate"
    assert json.loads(events[2][2])["status"] == "lost"
    assert store.events_after("t1_1", events[-1][0], 100) == ([], True)
    assert store.events_after("t1_1", first, 1)[0][0][1] == "message"  # resumes after any id
    assert store.prune(keep=0, max_age_seconds=None) == 1
    assert store.events_after("t1_1", 0, 100) == ([], False)
    store.close()
