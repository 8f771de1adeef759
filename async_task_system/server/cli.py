"""``async-agent serve``: run the task service with uvicorn.

The *operator* chooses what may run, at startup (``--tools module:attr``); a REST
caller can only name what was registered.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from .._specs import NAME_RESOURCES_HELP, name_resources_from
from .._specs import load_spec as _load
from .._specs import tools_from as _as_list
from ._auth import TOKEN_ENV, require_token_for_host
from ._service import DEFAULT_RUN_TIMEOUT
from ._store import StoreLockedError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="async-agent serve", description="Run the task service (REST API).")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; any other needs a token)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--token", default=None, help=f"bearer token (default: ${TOKEN_ENV}); prefer --token-file "
                   "or the environment: a command line is visible to other users")
    p.add_argument("--token-file", default=None, metavar="PATH", help="read the bearer token from this file")
    p.add_argument("--db", default="async_agent.db", help="SQLite file of task and run records")
    p.add_argument("--tools", action="append", default=[], metavar="MODULE:ATTR",
                   help="a smolagents Tool, a list of them, or a function returning them (repeatable)")
    p.add_argument("--agents", action="append", default=[], metavar="MODULE:ATTR",
                   help="managed agents, same forms as --tools (repeatable)")
    p.add_argument("--model", default=None, metavar="MODULE:ATTR",
                   help="a smolagents Model (or a function returning one): enables POST /runs")
    p.add_argument("--run-timeout", default=f"{DEFAULT_RUN_TIMEOUT:g}", metavar="SECONDS",
                   help=f"a run (POST /runs) is stopped and its code's process killed after this "
                        f"(default {DEFAULT_RUN_TIMEOUT:g}; 'none': no limit)")
    p.add_argument("--name-resources", action="append", default=[], metavar="NAME=RESOURCE:QTY",
                   help=f"{NAME_RESOURCES_HELP}. A POST /tasks body's resources overrides it")
    p.add_argument("--max-workers", type=int, default=4)
    p.add_argument("--max-unfinished", type=int, default=1000, help="queue bound: more is refused with 503")
    p.add_argument("--workers", type=int, default=1, help="server processes: only 1 (one process owns the store)")
    p.add_argument("--retain", type=int, default=10_000, metavar="N", help="finished records kept (newest first)")
    p.add_argument("--retain-days", type=float, default=7.0, help="finished records older than this are deleted")
    p.add_argument("--request-timeout", type=float, default=30.0, metavar="SECONDS",
                   help="a client must send a request's headers and body within this (default 30)")
    p.add_argument("--keep-alive", type=float, default=5.0, metavar="SECONDS",
                   help="idle keep-alive connections are closed after this (default 5)")
    p.add_argument("--log-level", default="info")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse ``argv``, refuse unsafe settings, serve until interrupted. Returns an exit code."""
    args = build_parser().parse_args(argv)
    try:
        if args.workers != 1:
            raise ValueError(f"--workers {args.workers}: the service runs in one process. Its store, queue and "
                             "long-polls live in that process (a second one would refuse the database, or lose "
                             "cancels and results); for more throughput raise --max-workers")
        token = _read_token(args)
        run_timeout = _run_timeout(args.run_timeout)
        name_resources = name_resources_from(args.name_resources)
        require_token_for_host(args.host, token)
        tools = [t for spec in args.tools for t in _as_list(_load(spec, "--tools"))]
        agents = [a for spec in args.agents for a in _as_list(_load(spec, "--agents"))]
        model = _load(args.model, "--model") if args.model else None
        if callable(model) and not hasattr(model, "generate"):
            model = model()
    except (ValueError, ImportError, AttributeError, OSError) as exc:
        print(f"async-agent serve: {exc}", file=sys.stderr)
        return 2

    import uvicorn

    from ._app import create_app
    from ._http import with_header_deadline

    try:
        app = create_app(tools, agents, model, token=token, db_path=args.db, max_workers=args.max_workers,
                         max_unfinished=args.max_unfinished, retain_finished=args.retain,
                         retain_seconds=args.retain_days * 86_400, body_timeout_seconds=args.request_timeout,
                         run_timeout_seconds=run_timeout, name_resources=name_resources)
    except (StoreLockedError, ValueError) as exc:  # ValueError: a limit create_app refuses
        print(f"async-agent serve: {exc}", file=sys.stderr)
        return 2
    limit = "no limit" if run_timeout is None else f"limit {run_timeout:g}s"
    print(f"async-agent serve: {len(tools)} tools, {len(agents)} agents, runs "
          f"{f'on ({limit})' if model is not None else 'off (no --model)'}, store {args.db}, "
          f"token {'on' if token else 'off'}", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level,
                http=with_header_deadline(args.request_timeout), timeout_keep_alive=max(1, round(args.keep_alive)),
                h11_max_incomplete_event_size=64 * 1024)
    return 0


def _run_timeout(text: str) -> float | None:
    """--run-timeout: seconds > 0, or 'none' for no limit."""
    if text.strip().lower() in ("none", "off"):
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds < math.inf:
        raise ValueError(f"--run-timeout must be a number of seconds > 0, or 'none' for no limit; got {text!r}")
    return seconds


def _read_token(args: argparse.Namespace) -> str | None:
    """--token, else --token-file, else the environment; a trailing newline is dropped."""
    if args.token is not None:
        return args.token.rstrip("\r\n")
    if args.token_file is not None:
        return Path(args.token_file).read_text().rstrip("\r\n")
    value = os.environ.get(TOKEN_ENV)
    return value.rstrip("\r\n") if value else None


if __name__ == "__main__":
    raise SystemExit(main())
