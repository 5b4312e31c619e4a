"""``python -m bot.ops.action_server --port N``: the action server of the profile.

Rasa SDK's own server (``rasa_sdk.endpoint.create_app``) with the project's actions,
plus:

- ``GET /metrics``: tickets opened (counted where ``TicketService.open_ticket`` returns
  ``created=True``), action errors; ``GET /ready``: the ticket database answers;
- JSON logs (``bot.ops.logs``), the conversation id taken from each action call;
- the objects loaded at start set aside from the garbage collector (``bot.gc_settle``);
- fault injection for the fault tests, only with ``FAULT_INJECTION=1``: while the file
  ``$PROD_RUN_DIR/faults/slow_actions`` holds a number, every action call first waits
  that many seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot import gc_settle
from bot.ops import logs, metrics, readiness

logger = logging.getLogger("bot.ops.action_server")


def count_tickets() -> None:
    """Count every ticket the actions create, without touching the actions' code."""
    from bot.tickets.service import TicketService

    original = TicketService.open_ticket
    if getattr(original, "_counted", False):
        return

    @functools.wraps(original)
    def open_ticket(self: TicketService, request: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            result = original(self, request, *args, **kwargs)
        except Exception as error:
            metrics.ERRORS.labels("tickets", type(error).__name__).inc()
            raise
        if result.created:
            metrics.TICKETS_OPENED.labels(result.ticket.channel).inc()
            logger.info("ticket opened", extra={"ticket_no": result.ticket.ticket_no,
                                                "channel": result.ticket.channel})
        return result

    open_ticket._counted = True  # type: ignore[attr-defined]
    TicketService.open_ticket = open_ticket  # type: ignore[method-assign]


def slow_actions_delay(faults_dir: Path) -> float:
    try:
        return float((faults_dir / "slow_actions").read_text().strip() or 0)
    except (OSError, ValueError):
        return 0.0


def create_app(package: str = "actions") -> Any:
    from rasa_sdk.endpoint import create_app as sdk_app
    from sanic import response

    count_tickets()
    app = sdk_app(package, cors_origins=None)
    app.register_listener(lambda *_: gc_settle.settle(), "after_server_start")
    faults = os.environ.get("FAULT_INJECTION") == "1"
    faults_dir = Path(os.environ.get("PROD_RUN_DIR", "var/prod")) / "faults"

    @app.middleware("request")
    async def before(request: Any) -> None:
        if request.path != "/webhook":
            return
        try:
            sender = (request.json or {}).get("sender_id")
        except Exception:  # noqa: BLE001 - the SDK answers malformed bodies itself
            sender = None
        request.ctx.cid_token = logs.conversation_id.set(sender)
        if faults:
            delay = slow_actions_delay(faults_dir)
            if delay > 0:
                await asyncio.sleep(delay)

    @app.middleware("response")
    async def after(request: Any, resp: Any) -> None:
        if request.path == "/webhook" and resp.status >= 500:
            metrics.ERRORS.labels("actions", f"http_{resp.status}").inc()

    @app.get("/metrics")
    async def metrics_page(_: Any) -> Any:
        body, content_type = metrics.render()
        return response.raw(body, content_type=content_type)

    @app.get("/ready")
    async def ready(_: Any) -> Any:
        ok, body = await readiness.report({
            "database": readiness.check_database(os.environ.get("DATABASE_URL", "")),
        })
        return response.json(body, status=200 if ok else 503)

    return app


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bot.ops.action_server")
    parser.add_argument("--port", type=int, default=5055)
    parser.add_argument("--host", default=os.environ.get("SANIC_HOST", "127.0.0.1"))
    parser.add_argument("--actions", default="actions")
    args = parser.parse_args(argv)
    logs.configure()
    logging.getLogger("sanic.access").setLevel(logging.WARNING)
    app = create_app(args.actions)
    app.run(args.host, args.port, workers=1, access_log=False, motd=False)


if __name__ == "__main__":
    main()
