"""Rasa's socket.io channel, fixed for python-socketio 5.x.

Rasa 3.6 calls ``sio.enter_room(...)`` without ``await``; since python-socketio 5.x made
it a coroutine, the browser never joins the room of its ``session_id`` and, with
``session_persistence: true``, no bot reply ever reaches it. This subclass replaces the
``session_request`` handler with one that awaits it, and accepts only session ids of
the form Rasa hands out (32 hex digits), so a browser cannot join or write into another
channel's conversation (a WeChat openid, say).

It also makes delivery exactly-once for the page: the page tags each message with a
``metadata.client_id`` and re-sends it after a reconnect if it never got the ack. A
message whose id was already received (by this replica or another: the claim of
``(session id, client_id)`` is shared, ``bot.channels.once``) is not handled again; its
ack waits until the first copy has been fully handled (up to :data:`RESEND_WAIT`
seconds) and says ``{"duplicate": true}``, so the page then reloads the history (which
holds the replies it missed while offline).
Like every channel it rate limits each sender and screens and redacts what was typed
(``bot.channels.screening.admit``: an empty, oversized or too-frequent message gets a
clear ``bot_uttered`` answer and never reaches Rasa), and reports a failed turn with an
apology (``bot.channels.delivery.process``). Agents' replies and notices reach the page
through :class:`~bot.web.chat.push.RoomPush` (every replica's rooms when ``REDIS_URL``
is set). Everything else is Rasa's channel.

credentials.yml names it by module path: ``bot.web.chat.channel.SocketIOInput``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketIOInput as RasaSocketIOInput
from sanic import Blueprint

from bot.channels.delivery import APOLOGY, process
from bot.channels.once import Once, valid_message_id
from bot.channels.screening import Screened, admit, screen_metadata
from bot.ratelimit import SENDER_REPLY, sender_allowed, sender_limiter
from bot.web.chat import SESSION_ID
from bot.web.chat.push import RoomPush

logger = logging.getLogger(__name__)
RESEND_WAIT = 50.0
"""Seconds a resend's ack waits for the first copy (the page gives up after 60)."""
HANDLED = "handled"


class SocketIOInput(RasaSocketIOInput):
    """Rasa's socket.io input: rooms that work, checked session ids, no double handling."""

    @classmethod
    def name(cls) -> str:
        return "socketio"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.once: Once | None = None
        self.limiter = sender_limiter()
        self.push: RoomPush | None = None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        async def delivered(message: UserMessage) -> None:
            if not await process(on_new_message, message):
                await message.output_channel.send_text_message(message.sender_id, APOLOGY)

        socketio_webhook = super().blueprint(delivered)
        sio = self.sio
        assert sio is not None  # set by super().blueprint()
        self.push = RoomPush(sio, self.bot_message_evt, self.namespace)

        @socketio_webhook.listener("after_server_start")
        async def start_push(*_: Any) -> None:
            self.push.start()

        @socketio_webhook.listener("before_server_stop")
        async def stop_push(*_: Any) -> None:
            await self.push.stop()
            if self.once is not None:
                await self.once.close()

        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: str, data: dict | None) -> None:
            data = data if isinstance(data, dict) else {}
            session_id = data.get("session_id")
            if not isinstance(session_id, str) or not SESSION_ID.match(session_id):
                session_id = uuid.uuid4().hex
            if self.session_persistence:
                await sio.enter_room(sid, session_id, namespace=self.namespace)
            await sio.emit("session_confirm", session_id, room=sid, namespace=self.namespace)
            logger.debug("socket.io client %s joined session %s", sid, session_id)

        handle_message = sio.handlers[self.namespace or "/"][self.user_message_evt]

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def checked_message(sid: str, data: Any) -> dict | None:
            if not isinstance(data, dict):
                return None
            session_id = data.get("session_id")
            if self.session_persistence and not (
                isinstance(session_id, str) and SESSION_ID.match(session_id)
            ):
                logger.warning("socket.io message without a valid session_id ignored")
                return None
            metadata = screen_metadata(data.get(self.metadata_key))
            sender = str(session_id) if self.session_persistence else sid
            # Counted per connection too: a client rotating session ids stays limited.
            if not await sender_allowed(self.limiter, "socketio-sid", sid):
                screened = Screened("", SENDER_REPLY, limited=True)
            else:
                screened = await admit(self.limiter, self.name(), sender, data.get("message"))
            if screened.reply:
                await sio.emit(self.bot_message_evt, {"text": screened.reply}, room=sid,
                               namespace=self.namespace)
                return None
            data = {**data, "message": screened.text, self.metadata_key: metadata}
            client_id = metadata.get("client_id")
            if not valid_message_id(client_id):
                await handle_message(sid, data)
                return None

            async def turn(retried: bool) -> str:
                await handle_message(sid, data)
                return HANDLED

            if self.once is None:
                self.once = Once.from_env(self.name())
            handled = await self.once.handle(sender, client_id, turn, RESEND_WAIT)
            return None if handled.first else {"duplicate": True}

        return socketio_webhook
