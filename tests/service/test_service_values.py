"""No string or value loses a record: lone surrogates, control characters, deep nesting,
broken ``__repr__``, in parameters and in results, over real HTTP and across a restart."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from async_task_system.server._encoding import MAX_DEPTH, encode_result, find_unstorable

pytestmark = pytest.mark.slow


def _post_raw(api, body: str):
    """POST /tasks with a hand-written JSON body (httpx would refuse to encode a lone surrogate)."""
    return api.post("/tasks", content=body.encode(), headers={"Content-Type": "application/json"})


def _finished(api, task_id: str) -> dict:
    return api.get(f"/tasks/{task_id}", params={"wait": 20}).json()


@pytest.mark.parametrize(("body", "field"), [
    ('{"task_type": "slow_echo", "parameters": {"text": "a\\udfff", "seconds": 0}}', "parameters.text"),
    ('{"task_type": "slow_echo", "parameters": {"text": "\\ud800", "seconds": 0}}', "parameters.text"),
    ('{"task_type": "slow_echo", "description": "x\\udfff", "parameters": {"text": "a", "seconds": 0}}',
     "description"),
])
def test_a_lone_surrogate_in_the_input_gets_422_and_nothing_runs(api, body, field):
    before = api.get("/tasks").json()["total"]
    response = _post_raw(api, body)
    assert response.status_code == 422 and response.headers["content-type"] == "application/json"
    message = response.json()["message"]
    assert response.json()["field"] == field and ("lone surrogate" in message or "unicode string" in message)
    listing = api.get("/tasks")
    assert listing.status_code == 200 and listing.json()["total"] == before  # not queued, not recorded


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_numbers_json_cannot_carry_get_422(api, number):
    response = _post_raw(api, f'{{"task_type": "divide", "parameters": {{"x": {number}, "y": 1}}}}')
    assert response.status_code == 422 and response.json()["field"] == "parameters.x"
    assert "JSON cannot carry" in response.json()["message"]


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 5000, 10_000])
def test_deeply_nested_parameters_get_422(api, depth):
    value = "[" * depth + "]" * depth
    response = _post_raw(api, f'{{"task_type": "slow_echo", "parameters": {{"text": {value}, "seconds": 0}}}}')
    assert response.status_code == 422 and response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["field"] in ("parameters.text", "body"), body
    assert "nested" in body["message"] or "deeply" in body["message"]


def test_valid_surrogate_pairs_and_control_characters_round_trip(api):
    text = "emoji \U0001f600 nul\x00 esc\x1b bell\x07 line\u2028sep"
    task = api.post("/tasks", json={"task_type": "slow_echo", "parameters": {"text": text, "seconds": 0},
                                    "description": "ctl\x01"})
    assert task.status_code == 202, task.text
    record = _finished(api, task.json()["id"])
    assert record["status"] == "completed" and record["result"] == text and record["result_encoding"] == "json"
    assert record["parameters"]["text"] == text and record["description"] == "ctl\x01"


def test_odd_results_finish_their_record_escaped_and_marked(start_service, tmp_path):
    db = tmp_path / "odd.db"
    server = start_service(db)
    with server.client() as api:
        ids = {kind: api.post("/tasks", json={"task_type": "odd_value", "parameters": {"kind": kind}}).json()["id"]
               for kind in ("surrogate", "deep", "broken_repr", "control", "raise_surrogate")}
        first = {kind: _finished(api, task_id) for kind, task_id in ids.items()}
        assert api.get("/tasks").status_code == 200
    surrogate = first["surrogate"]
    assert surrogate["status"] == "completed" and surrogate["result_encoding"] == "escaped"
    assert surrogate["result"] == {"file": "caf\\udce9.txt", "k\\udcff": 1}
    deep = first["deep"]
    assert deep["status"] == "completed" and deep["result_encoding"] == "repr"
    assert deep["result"].startswith("[[[[") or "unrepresentable list" in deep["result"]
    broken = first["broken_repr"]
    assert broken["status"] == "completed" and broken["result_encoding"] == "repr"
    assert broken["result"] == "<unrepresentable _BrokenRepr: SystemExit>"
    assert first["control"]["result"] == "nul\x00 esc\x1b[31m bell\x07 \u2028 end"
    failed = first["raise_surrogate"]
    assert failed["status"] == "failed" and "\\udcff.bin" in failed["error"]["message"]

    server.stop()  # and after a restart every record still reads, and the listing works
    again = start_service(db)
    with again.client() as api:
        for kind, task_id in ids.items():
            assert api.get(f"/tasks/{task_id}").json() == {**first[kind]}, kind
        listing = api.get("/tasks", params={"limit": 500})
        assert listing.status_code == 200 and {t["id"] for t in listing.json()["items"]} >= set(ids.values())


def test_every_error_body_is_json(api):
    answers = [
        api.get("/nope"), api.put("/tasks"), api.get("/tasks/t9_9"), api.get("/tasks", params={"limit": "x"}),
        api.post("/tasks", content=b"{", headers={"Content-Type": "application/json"}),
        api.post("/tasks", content=b"\xff\xfe", headers={"Content-Type": "application/json"}),
        api.post("/tasks", json={"task_type": "nope"}),
        api.get("/tasks/%ff%fe"), api.get("/tasks/%ED%B3%BF/result"), api.delete("/tasks/%00%1b"),
        api.get("/tasks/t1_1", params={"wait": "NaN"}), api.get("/tasks", params={"offset": "-1"}),
    ]
    for response in answers:
        assert response.status_code >= 400 and response.headers["content-type"] == "application/json"
        assert set(response.json()) >= {"error", "message"}


# ---------------------------------------------------------------- the encoder, for every value

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(st.characters(codec=None)),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(_json_values, st.integers(min_value=50, max_value=5000))
def test_any_result_encodes_to_storable_json_of_bounded_size(value, max_bytes):
    text, encoding = encode_result(value, max_bytes)
    text.encode("utf-8")  # storable in SQLite and sendable as UTF-8: raises if a lone surrogate survived
    decoded = json.loads(text)
    assert encoding in ("json", "escaped", "repr", "truncated")
    if encoding == "json":
        assert decoded == value or value != value  # NaN never takes this path; equal otherwise
    if encoding != "truncated":
        assert len(text.encode()) <= max_bytes
    else:
        assert len(text.encode()) <= max_bytes + 200 and "over" in decoded


@settings(max_examples=200, deadline=None)
@given(_json_values)
def test_an_input_is_either_storable_or_refused_with_its_path(value):
    problem = find_unstorable({"p": value}, "parameters")
    if problem is None:
        json.dumps({"p": value}, allow_nan=False, ensure_ascii=False).encode("utf-8")
    else:
        assert problem[0].startswith("parameters.p")


def test_an_unexpected_failure_answers_json_500_and_is_logged(tmp_path, caplog):
    import asyncio

    import httpx

    from async_task_system.server import create_app

    app = create_app([], db_path=str(tmp_path / "crash.db"))

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    app.state.service.store.list_tasks = broken

    async def ask() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            return await client.get("/tasks")

    try:
        response = asyncio.run(ask())
    finally:
        app.state.service.close()
    assert response.status_code == 500 and response.headers["content-type"] == "application/json"
    assert response.json()["error"] == "internal_error" and "RuntimeError" in response.json()["message"]
