"""The agent console blueprint: pages under ``/console``, JSON API under ``/api/``.

Pages are static shells (no data) and stay public; every ``/api/`` request, unknown
paths and wrong methods included, needs a valid bearer token and answers 401 with an
empty body otherwise (with the token: a JSON 404 or 405). A personal token names the
agent; the shared token needs the agent's name in ``X-Agent``. After
``RATE_LIMIT_CONSOLE_AUTH`` wrong tokens in a minute an IP gets 429 for the rest of it.
There is no cookie: a cross-site form or image cannot send the ``Authorization`` and
``X-Agent`` headers, so state-changing calls cannot be forged (CSRF). All responses carry a strict
CSP and the other security headers.
"""

from __future__ import annotations

from pathlib import Path

from sanic import Blueprint, Sanic, response
from sanic.exceptions import MethodNotSupported, NotFound
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.audit import AuditLog
from bot.ratelimit import TOO_MANY, client_ip
from bot.settings import Contacts
from bot.tickets import TicketService
from bot.web.console import api, candidates_api, handoff_api, stats_api, tickets_api
from bot.web.console.auth import AGENT_HEADER, Credentials, agent_name
from bot.web.console.conversations import TranscriptReader, read_only_engine
from bot.web.console.search import default_index

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def build_context(
    token: str | None = None,
    database_url: str | None = None,
    tracker_store_url: str | None = None,
    credentials: Credentials | None = None,
) -> api.ConsoleContext:
    """Tokens, services and search index (defaults from the environment).

    ``credentials`` replaces the configured ones; else ``token`` replaces the shared one.
    """
    tickets = TicketService.from_url(database_url)
    return api.ConsoleContext(
        credentials=credentials or Credentials.load(token),
        tickets=tickets,
        audit=AuditLog(tickets.engine),
        transcripts=TranscriptReader(read_only_engine(tracker_store_url)),
        index=default_index(),
        contacts=Contacts.from_env(),
    )


def console_blueprint(context: api.ConsoleContext | None = None) -> Blueprint:
    """The console's pages, static files and API."""
    ctx = context or build_context()
    bp = Blueprint("console")

    @bp.on_request
    async def authenticate(request: Request) -> HTTPResponse | None:
        request.ctx.console = ctx
        if not request.path.startswith("/api/"):
            return None
        refused = await check_token(request)
        if refused is not None:
            return refused
        if request.path == "/api/openapi.json":
            return None
        if request.ctx.agent is None:
            agent = agent_name(request.headers.get(AGENT_HEADER))
            if agent is None:
                return api.error(400, "请在登录时填写坐席姓名（X-Agent，1到32个字）")
            request.ctx.agent = agent
        return None

    async def check_token(request: Request) -> HTTPResponse | None:
        """None if the token is valid (``ctx.agent``/``ctx.verified`` set), else 429/401."""
        ip = client_ip(request)
        if await ctx.auth_failures.over(ip):
            return api.error(429, TOO_MANY)
        identity = ctx.credentials.identify(request.headers.get("authorization"))
        if identity is None:
            await ctx.auth_failures.hit(ip)
            return unauthorized()
        request.ctx.agent, request.ctx.verified = identity.agent, identity.verified
        request.ctx.admin = identity.admin
        return None

    def unauthorized() -> HTTPResponse:
        return response.raw(
            b"", status=401, headers={"WWW-Authenticate": "Bearer"}, content_type="text/plain"
        )

    async def unrouted(request: Request, exc: Exception) -> HTTPResponse:
        """404/405 under /api/: 401 first without a valid token; else Sanic's own."""
        if not request.path.startswith("/api/"):
            return request.app.error_handler.default(request, exc)
        reply = await check_token(request)
        if reply is not None:
            pass
        elif isinstance(exc, MethodNotSupported):
            reply = api.error(405, f"不支持 {request.method} 方法")
            reply.headers.update(getattr(exc, "headers", None) or {})  # Allow: …
        else:
            reply = api.error(404, "没有这个接口，见 /api/openapi.json")
        for name, value in SECURITY_HEADERS.items():
            reply.headers[name] = value
        reply.headers["Cache-Control"] = "no-store"
        return reply

    @bp.before_server_start
    async def start(app: Sanic, _loop: object) -> None:
        # A 404 or 405 matches no route, so a blueprint-level handler never sees it.
        app.error_handler.add(MethodNotSupported, unrouted)
        app.error_handler.add(NotFound, unrouted)
        ctx.http_session()  # one aiohttp session for every call to Rasa

    @bp.after_server_stop
    async def stop(app: Sanic, _loop: object) -> None:
        await ctx.close()

    @bp.on_response
    async def secure(request: Request, reply: HTTPResponse) -> None:
        for name, value in SECURITY_HEADERS.items():
            reply.headers[name] = value
        if request.path.startswith("/api/"):
            reply.headers["Cache-Control"] = "no-store"

    bp.add_route(api.session, "/api/session", methods=["GET"])
    bp.add_route(api.answers, "/api/answers", methods=["GET"])
    bp.add_route(tickets_api.find_tickets, "/api/tickets", methods=["GET"])
    bp.add_route(
        tickets_api.advance_step, "/api/tickets/<ticket_no>/steps/<step>", methods=["POST"],
        unquote=True,
    )
    bp.add_route(api.conversation_of_ticket, "/api/conversations", methods=["GET"])
    bp.add_route(
        api.conversation, "/api/conversations/<sender_id>", methods=["GET"], unquote=True
    )
    bp.add_route(api.guide, "/api/guide", methods=["GET"])
    bp.add_route(candidates_api.list_candidates, "/api/candidates", methods=["GET"])
    bp.add_route(candidates_api.label_candidates, "/api/candidates/label", methods=["POST"])
    bp.add_route(handoff_api.handoff_queue, "/api/handoffs", methods=["GET"])
    bp.add_route(handoff_api.handoff_detail, "/api/handoffs/<handoff_id:int>", methods=["GET"])
    bp.add_route(handoff_api.claim, "/api/handoffs/<handoff_id:int>/claim", methods=["POST"])
    bp.add_route(handoff_api.send_reply, "/api/handoffs/<handoff_id:int>/messages",
                 methods=["POST"])
    bp.add_route(handoff_api.release, "/api/handoffs/<handoff_id:int>/release",
                 methods=["POST"])
    bp.add_route(handoff_api.resend, "/api/outbox/<outbox_id:int>/resend", methods=["POST"])
    bp.add_route(handoff_api.notices, "/api/notices", methods=["GET"])
    bp.add_route(stats_api.stats, "/api/stats", methods=["GET"])
    bp.add_route(stats_api.stats_csv, "/api/stats/<name>", methods=["GET"])
    bp.add_route(api.openapi, "/api/openapi.json", methods=["GET"])

    async def console_page(request: Request) -> HTTPResponse:
        return await response.file(TEMPLATES / "console.html")

    async def login_page(request: Request) -> HTTPResponse:
        return await response.file(TEMPLATES / "login.html")

    bp.add_route(console_page, "/console", methods=["GET"])
    bp.add_route(login_page, "/console/login", methods=["GET"])
    bp.static("/console/static", str(STATIC), name="console_static")
    return bp
