"""Sending through the platform message API: access token, one retry, no duplicates.

Mixed into the channels; they provide ``name()``, ``tokens`` and ``send_request``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aiohttp

from bot.channels.wechat_token import AccessTokenCache, TokenError

logger = logging.getLogger(__name__)

TOKEN_ERRCODES = {40001, 40014, 42001}


class ApiError(Exception):
    """The message API could not be reached or answered with an HTTP error."""


class ApiDelivery:
    """Delivers text to a user through the platform API (customer-service / app message)."""

    tokens: AccessTokenCache
    _session: aiohttp.ClientSession | None = None

    @classmethod
    def name(cls) -> str:
        raise NotImplementedError

    def send_request(self, token: str, to_user: str, text: str) -> tuple[str, dict[str, Any]]:
        """URL and JSON body of one text message through the platform API."""
        raise NotImplementedError

    async def deliver(self, to_user: str, chunks: list[str], msg_id: str) -> bool:
        """Send chunks in order through the message API; stop at the first that fails twice."""
        for index, chunk in enumerate(chunks):
            if not await self._send_with_retry(to_user, chunk):
                logger.error(
                    "%s gave up delivering msg_id=%s part %d/%d",
                    self.name(),
                    msg_id,
                    index + 1,
                    len(chunks),
                )
                return False
        logger.info(
            "%s delivered msg_id=%s to sender=%s in %d part(s)",
            self.name(),
            msg_id,
            to_user,
            len(chunks),
        )
        return True

    async def _send_with_retry(self, to_user: str, text: str) -> bool:
        """One attempt plus one retry; a timed-out request is not retried (it may have arrived)."""
        for attempt in (1, 2):
            try:
                token = await self.tokens.get()
            except TokenError as exc:
                logger.warning(
                    "%s access token unavailable (attempt %d): %s", self.name(), attempt, exc
                )
                continue
            url, body = self.send_request(token, to_user, text)
            try:
                result = await self._post_json(url, body)
            except asyncio.TimeoutError:
                logger.error(
                    "%s message API timed out for sender=%s; not retried", self.name(), to_user
                )
                return False
            except ApiError as exc:
                logger.warning("%s message API failed (attempt %d): %s", self.name(), attempt, exc)
                continue
            errcode = result.get("errcode", 0)
            if errcode == 0:
                return True
            if errcode in TOKEN_ERRCODES:
                await self.tokens.invalidate(token)
            logger.warning(
                "%s message API errcode=%s (attempt %d) sender=%s",
                self.name(),
                errcode,
                attempt,
                to_user,
            )
        return False

    def session(self) -> aiohttp.ClientSession:
        """The HTTP session for API calls (created in the running loop)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        return self._session

    async def _post_json(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8"}
        try:
            async with self.session().post(url, data=data, headers=headers) as resp:
                if resp.status >= 400:
                    raise ApiError(f"HTTP {resp.status}")
                return await resp.json(content_type=None)
        except (aiohttp.ClientError, ValueError) as exc:
            raise ApiError(type(exc).__name__) from None

    async def get_json(self, url: str, params: dict[str, str]) -> dict[str, Any]:
        """GET returning JSON; errors name only the exception type (the URL holds secrets)."""
        try:
            async with self.session().get(url, params=params) as resp:
                if resp.status >= 400:
                    raise TokenError(f"HTTP {resp.status}")
                return await resp.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            raise TokenError(type(exc).__name__) from None

    @staticmethod
    def token_from(data: dict[str, Any]) -> tuple[str, int]:
        """(token, expires_in) from a token response, else :class:`TokenError` with the errcode."""
        token = data.get("access_token")
        if not token or data.get("errcode", 0) != 0:
            raise TokenError(f"token endpoint errcode={data.get('errcode')}")
        return str(token), int(data.get("expires_in") or 7200)

    async def close_session(self) -> None:
        """Close the HTTP session, if one was opened."""
        if self._session is not None:
            await self._session.close()
            self._session = None
