"""The merchants' chat page at `/` and the three small routes it needs.

- ``/``                         the page (built assets under ``/chat/static/``)
- ``/socket.io/``               a websocket proxy to Rasa's socket.io channel, so the page
                                talks only to its own origin: one reverse proxy in front
                                of :8000 is enough and Rasa (whose HTTP API has no
                                authentication) stays on 127.0.0.1
- ``/chat/history/<session>``   the conversation so far, for a reload: user and bot texts
                                and buttons only, read from Rasa's tracker
- ``/chat/health``              whether Rasa answers, so the page can say it is down
- ``/chat/feedback``            👍/👎 on an answer (``bot.web.chat.feedback``)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import aiohttp
import websockets
from sanic import Blueprint, response
from sanic.request import Request
from sqlalchemy.exc import SQLAlchemyError

from bot.ratelimit import TOO_MANY, RateLimiter, client_ip
from bot.web.chat import SESSION_ID
from bot.web.chat.feedback import MAX_TEXT, RATINGS, find_turn, keep_rating

CHAT_DIR = Path(__file__).resolve().parent
STATIC_DIR = CHAT_DIR / "static"
ASSETS = ("main.js", "main.js.map", "chat.css", "chat.css.map")
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def rasa_url(request: Request) -> str:
    return str(request.app.config.RASA_URL).rstrip("/")


async def rasa_get(url: str, timeout: float) -> tuple[int, Any]:
    """GET a JSON document from Rasa: (status, body); status 0 if Rasa does not answer.

    In the production profile Rasa's HTTP API needs ``RASA_AUTH_TOKEN``.
    """
    token = os.environ.get("RASA_AUTH_TOKEN", "").strip()
    if token:
        url += ("&" if "?" in url else "?") + urlencode({"token": token})
    try:
        async with aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=timeout)
        ) as session, session.get(url) as answer:
            return answer.status, await answer.json(content_type=None)
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError):
        return 0, None


def websocket_url(http_url: str) -> str:
    parts = urlsplit(http_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, "/socket.io/", "", ""))


SPOKEN_BY = ("agent", "notice", "handoff")
"""``bot`` events the outbox stored (bot.outbox.rasa_channel): shown whole, with who."""


def history_messages(tracker: dict[str, Any]) -> list[dict[str, Any]]:
    """The user and bot messages of a tracker dump, as the page shows them live."""
    messages: list[dict[str, Any]] = []
    for event in tracker.get("events") or []:
        kind = event.get("event")
        if kind == "user":
            meta = event.get("metadata") or {}
            if meta.get("hidden"):
                continue
            text = meta.get("display") or event.get("text") or ""
            messages.append({"from": "user", "text": str(text), "time": event.get("timestamp")})
        elif kind == "bot":
            meta = event.get("metadata") or {}
            if meta.get("kind") in SPOKEN_BY:  # an agent, a notice, a handoff message
                messages.append({
                    "from": "bot", "text": str(event.get("text") or ""), "buttons": [],
                    "time": event.get("timestamp"), "kind": meta["kind"],
                    "agent": str(meta.get("agent") or ""),
                    "id": f"outbox-{meta.get('outbox_id')}",
                })
                continue
            # Split like Rasa's socket.io output does; buttons go on the last part.
            parts = (event.get("text") or "").strip().split("\n\n")
            buttons = [
                {"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
                for b in (event.get("data") or {}).get("buttons") or []
            ]
            if not any(parts) and not buttons:
                continue
            for index, part in enumerate(parts):
                last = index == len(parts) - 1
                messages.append({
                    "from": "bot", "text": part, "time": event.get("timestamp"),
                    "buttons": buttons if last else [],
                })
    return messages


def delivered_ids(tracker: dict[str, Any]) -> list[str]:
    """Client ids of the user messages Rasa has received (the page's outbox de-dupes)."""
    ids = []
    for event in tracker.get("events") or []:
        if event.get("event") == "user":
            client_id = (event.get("metadata") or {}).get("client_id")
            if isinstance(client_id, str):
                ids.append(client_id)
    return ids


def only_web_chat(tracker: dict[str, Any]) -> bool:
    """True unless some user message came from another channel (e.g. WeChat)."""
    return all(
        event.get("input_channel") in (None, "socketio")
        for event in tracker.get("events") or []
        if event.get("event") == "user"
    )


async def pump(source: Any, sink: Any) -> None:
    """Copy frames from one websocket to the other until the source closes."""
    while True:
        frame = await source.recv()
        if frame is None:  # Sanic's recv() with a timeout; not used, but be safe
            continue
        await sink.send(frame)


def chat_blueprint() -> Blueprint:
    bp = Blueprint("chat")
    per_ip = RateLimiter.from_env("web_ip", "RATE_LIMIT_WEB_IP", 120)

    async def over_limit(request: Request) -> response.HTTPResponse | None:
        """429 once this IP opened too many chats / history reloads this minute."""
        if await per_ip.hit(client_ip(request)):
            return None
        return response.json({"error": TOO_MANY}, status=429, headers={"Retry-After": "60"})

    @bp.get("/")
    async def page(request: Request) -> response.HTTPResponse:
        if not all((STATIC_DIR / name).is_file() for name in ("main.js", "chat.css")):
            return response.text(
                "聊天页面尚未构建：请先运行 make frontend（npm ci && npm run build）。\n",
                status=503,
            )
        version = int(max((STATIC_DIR / n).stat().st_mtime for n in ("main.js", "chat.css")))
        html = (CHAT_DIR / "index.html").read_text(encoding="utf-8")
        html = html.replace("{{version}}", str(version))
        return response.html(html, headers={**HEADERS, "Cache-Control": "no-cache"})

    @bp.get("/favicon.ico")
    async def favicon(request: Request) -> response.HTTPResponse:
        return response.empty()

    @bp.get("/chat/static/<name>")
    async def asset(request: Request, name: str) -> response.HTTPResponse:
        if name not in ASSETS or not (STATIC_DIR / name).is_file():
            return response.text("not found", status=404)
        return await response.file(
            STATIC_DIR / name, headers={**HEADERS, "Cache-Control": "public, max-age=3600"}
        )

    @bp.get("/chat/health")
    async def health(request: Request) -> response.HTTPResponse:
        status, _ = await rasa_get(f"{rasa_url(request)}/status", timeout=3)
        up = status == 200
        return response.json({"rasa": up}, status=200 if up else 503,
                             headers={"Cache-Control": "no-store"})

    @bp.get("/chat/history/<session_id>")
    async def history(request: Request, session_id: str) -> response.HTTPResponse:
        if not SESSION_ID.match(session_id):
            return response.json({"error": "bad session id"}, status=400)
        limited = await over_limit(request)
        if limited:
            return limited
        status, tracker = await rasa_get(
            f"{rasa_url(request)}/conversations/{session_id}/tracker", timeout=10
        )
        if status == 0:
            return response.json({"error": "rasa unavailable"}, status=503)
        if status != 200 or not isinstance(tracker, dict):
            return response.json({"error": "rasa"}, status=502)
        if not only_web_chat(tracker):
            return response.json({"error": "not found"}, status=404)
        return response.json(
            {"messages": history_messages(tracker), "delivered": delivered_ids(tracker)},
            headers={"Cache-Control": "no-store"},
        )

    @bp.post("/chat/feedback")
    async def feedback(request: Request) -> response.HTTPResponse:
        """``{"session_id", "text", "rating": "up"|"down"}`` for one bot answer."""
        body = request.json if isinstance(request.json, dict) else {}
        session_id, text = body.get("session_id"), body.get("text")
        rating = RATINGS.get(body.get("rating"))  # type: ignore[arg-type]
        if (not isinstance(session_id, str) or not SESSION_ID.match(session_id)
                or not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT
                or rating is None):
            return response.json({"error": "bad feedback"}, status=400)
        limited = await over_limit(request)
        if limited:
            return limited
        status, tracker = await rasa_get(
            f"{rasa_url(request)}/conversations/{session_id}/tracker", timeout=10
        )
        if status == 0:
            return response.json({"error": "rasa unavailable"}, status=503)
        if status != 200 or not isinstance(tracker, dict) or not only_web_chat(tracker):
            return response.json({"error": "not found"}, status=404)
        turn = find_turn(tracker, text)
        if turn is None:
            return response.json({"error": "not found"}, status=404)
        try:
            await asyncio.get_running_loop().run_in_executor(
                None, keep_rating, session_id, turn, rating)
        except SQLAlchemyError:
            return response.json({"error": "unavailable"}, status=503)
        return response.json({"rating": body["rating"]}, headers={"Cache-Control": "no-store"})

    @bp.middleware("request")
    async def connect_upstream(request: Request) -> response.HTTPResponse | None:
        """Open the websocket to Rasa before the browser's handshake is answered.

        Sanic completes the handshake before calling a websocket handler, so this is
        the one place to refuse it: with a 503 the browser's socket.io client reports a
        connection error at once (and the page says Rasa is down) instead of waiting
        for its connect timeout.
        """
        if request.route is None or not request.route.name.endswith(".socketio_proxy"):
            return None
        limited = await over_limit(request)
        if limited:
            return limited
        upstream_url = f"{websocket_url(rasa_url(request))}?{request.query_string}"
        try:
            request.ctx.upstream = await websockets.connect(
                upstream_url, open_timeout=5, ping_interval=None, max_size=2**20
            )
        except (OSError, asyncio.TimeoutError, websockets.WebSocketException):
            return response.text("Rasa is not available", status=503)
        return None

    @bp.websocket("/socket.io/")
    async def socketio_proxy(request: Request, ws: Any) -> None:
        upstream = request.ctx.upstream
        tasks = [asyncio.ensure_future(pump(ws, upstream)),
                 asyncio.ensure_future(pump(upstream, ws))]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            with contextlib.suppress(Exception):
                await upstream.close()
            with contextlib.suppress(Exception):
                await ws.close()

    return bp
