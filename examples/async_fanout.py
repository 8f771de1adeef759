"""Async fan-out: an agent fetches 100 records at once through an async HTTP tool.

The tool is an ``async def`` (httpx.AsyncClient) made a tool by ``async_task_system.agent.tool``.
Submitted 100 times, its calls run as coroutines on the TaskManager's one event loop: no thread
per call, one shared connection pool. The example starts a small catalogue service on
127.0.0.1 (each answer takes 0.3 s) and drives the agent with a scripted model.

    pip install "async_task_system[server]"      # httpx
    .venv/bin/python examples/async_fanout.py
"""

from __future__ import annotations

import asyncio
import json
import threading
import time

import httpx

from async_task_system import create_async_agent
from async_task_system.agent import tool
from async_task_system.testing import ScriptedModel

ITEMS = 100
DELAY = 0.3  # seconds the service takes per request


class CatalogueService:
    """A tiny HTTP/1.1 service on 127.0.0.1: ``GET /items/<n>`` -> ``{"item": n, "price": n * 1.5}``."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.peak = 0
        self.served = 0
        self.port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),), name="catalogue", daemon=True)

    def __enter__(self) -> CatalogueService:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    async def _serve(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # keep-alive: one request after another on this connection
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode()
                self.in_flight += 1
                self.peak = max(self.peak, self.in_flight)
                await asyncio.sleep(DELAY)
                self.in_flight -= 1
                self.served += 1
                status, body = self._answer(path)
                writer.write(f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
                             f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    @staticmethod
    def _answer(path: str) -> tuple[str, bytes]:
        number = path.removeprefix("/items/")
        if not number.isdigit():
            return "404 Not Found", b'{"error": "no such item"}'
        return "200 OK", json.dumps({"item": int(number), "price": int(number) * 1.5}).encode()


def make_fetch_tool(base_url: str):
    client: list[httpx.AsyncClient] = []  # made on first use, on the task manager's loop

    @tool
    async def fetch_item(item: int) -> dict:
        """Fetch one item's record (number and price) from the catalogue service.

        Args:
            item: the item number
        """
        if not client:
            client.append(httpx.AsyncClient(base_url=base_url, timeout=30,
                                            limits=httpx.Limits(max_connections=ITEMS)))
        response = await client[0].get(f"/items/{item}")
        response.raise_for_status()
        return response.json()

    async def close() -> None:
        if client:
            await client.pop().aclose()

    return fetch_item, close


SCRIPT = [
    f"ids = [submit_task('tool', 'fetch_item', {{'item': i}}) for i in range({ITEMS})]\n"
    "print(wait_for_tasks(ids, max_wait_time=30))",
    "results = get_task_results(ids)\n"
    "prices = [r['price'] for r in results.values() if 'price' in r]\n"
    "final_answer(f'Fetched {len(prices)} items; total price {sum(prices):.1f}')",
]


def main() -> None:
    with CatalogueService() as service:
        fetch_item, close = make_fetch_tool(f"http://127.0.0.1:{service.port}")
        threads_before = threading.active_count()
        with create_async_agent(tools=[fetch_item], model=ScriptedModel(SCRIPT), verbosity_level=0) as agent:
            start = time.monotonic()
            answer = agent.run_with_async_guidance(f"Fetch items 0 to {ITEMS - 1} and add up their prices.")
            wall = time.monotonic() - start
            threads_used = threading.active_count() - threads_before
            agent.task_manager.run_coroutine(close)
    print(f"{service.served} requests, at most {service.peak} in flight at once, each {DELAY}s on the server")
    print(f"the run took {wall:.2f}s (one after another: {ITEMS * DELAY:.0f}s); "
          f"threads the agent started: {threads_used}")
    print(f"Answer: {answer}")


if __name__ == "__main__":
    main()
