"""``async-agent serve``: run the task service with uvicorn.

The *operator* chooses what may run, at startup (``--tools module:attr``); a REST
caller can only name what was registered.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .._specs import load_spec as _load
from .._specs import tools_from as _as_list
from ._auth import TOKEN_ENV, require_token_for_host

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="async-agent serve", description="Run the task service (REST API).")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; any other needs a token)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--token", default=None, help=f"bearer token (default: ${TOKEN_ENV})")
    p.add_argument("--db", default="async_agent.db", help="SQLite file of task and run records")
    p.add_argument("--tools", action="append", default=[], metavar="MODULE:ATTR",
                   help="a smolagents Tool, a list of them, or a function returning them (repeatable)")
    p.add_argument("--agents", action="append", default=[], metavar="MODULE:ATTR",
                   help="managed agents, same forms as --tools (repeatable)")
    p.add_argument("--model", default=None, metavar="MODULE:ATTR",
                   help="a smolagents Model (or a function returning one): enables POST /runs")
    p.add_argument("--max-workers", type=int, default=4)
    p.add_argument("--max-unfinished", type=int, default=1000, help="queue bound: more is refused with 503")
    p.add_argument("--log-level", default="info")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse ``argv``, refuse unsafe settings, serve until interrupted. Returns an exit code."""
    args = build_parser().parse_args(argv)
    token = args.token if args.token is not None else (os.environ.get(TOKEN_ENV) or None)
    try:
        require_token_for_host(args.host, token)
        tools = [t for spec in args.tools for t in _as_list(_load(spec, "--tools"))]
        agents = [a for spec in args.agents for a in _as_list(_load(spec, "--agents"))]
        model = _load(args.model, "--model") if args.model else None
        if callable(model) and not hasattr(model, "generate"):
            model = model()
    except (ValueError, ImportError, AttributeError) as exc:
        print(f"async-agent serve: {exc}", file=sys.stderr)
        return 2

    import uvicorn

    from ._app import create_app

    app = create_app(tools, agents, model, token=token, db_path=args.db, max_workers=args.max_workers,
                     max_unfinished=args.max_unfinished)
    print(f"async-agent serve: {len(tools)} tools, {len(agents)} agents, runs "
          f"{'on' if model is not None else 'off (no --model)'}, store {args.db}, "
          f"token {'on' if token else 'off'}", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
