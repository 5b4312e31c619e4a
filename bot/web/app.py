"""Build the web app: chat page at `/`, agent console at `/console`, JSON API at `/api/`."""

from __future__ import annotations

import itertools
import os

from sanic import Sanic, response
from sanic.request import Request

from bot.logmask import install as mask_logs
from bot.web.chat.routes import chat_blueprint
from bot.web.console.routes import console_blueprint

_app_ids = itertools.count()
# Defaults for responses whose blueprint set nothing stricter (JSON, errors, 404s).
BASELINE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def create_app() -> Sanic:
    """A new app instance (each gets a unique name, as Sanic requires)."""
    mask_logs()
    app = Sanic(f"jiebang_web_{next(_app_ids)}")
    app.config.RASA_URL = os.environ.get("RASA_URL", "http://127.0.0.1:5005")
    # Behind nginx (production profile) the client address is in X-Forwarded-For.
    app.config.PROXIES_COUNT = int(os.environ.get("PROXIES_COUNT", "0"))
    app.blueprint(chat_blueprint())
    app.blueprint(console_blueprint())

    @app.get("/healthz")
    async def healthz(request: Request) -> response.HTTPResponse:
        return response.json({"status": "ok"})

    @app.on_response
    async def security_headers(request: Request, reply: response.HTTPResponse) -> None:
        """Every response, errors and 404s included: no framing, no sniffing, no cookies."""
        for name, value in BASELINE_HEADERS.items():
            if name not in reply.headers:
                reply.headers[name] = value

    return app
