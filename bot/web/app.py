"""Build the web app: chat page at `/`, agent console at `/console`, JSON API at `/api/`."""

from __future__ import annotations

import itertools
import os

from sanic import Sanic, response
from sanic.request import Request

from bot.web.chat.routes import chat_blueprint
from bot.web.console.routes import console_blueprint

_app_ids = itertools.count()


def create_app() -> Sanic:
    """A new app instance (each gets a unique name, as Sanic requires)."""
    app = Sanic(f"jiebang_web_{next(_app_ids)}")
    app.config.RASA_URL = os.environ.get("RASA_URL", "http://127.0.0.1:5005")
    app.blueprint(chat_blueprint())
    app.blueprint(console_blueprint())

    @app.get("/healthz")
    async def healthz(request: Request) -> response.HTTPResponse:
        return response.json({"status": "ok"})

    return app
