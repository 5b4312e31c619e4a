"""WeChat Official Account (公众号) input channel at ``/webhooks/wechat/webhook``.

Plaintext and safe (AES) mode; compatible mode is served as either, per request.
Once ``WECHAT_ENCODING_AES_KEY`` is set, plaintext callbacks are refused (403) unless
``WECHAT_ALLOW_PLAINTEXT=1``: in plaintext mode the signature does not cover the body.
Late answers go through the customer-service message API.
"""

from __future__ import annotations

import logging
from typing import Any

from sanic.request import Request
from sanic.response import HTTPResponse, text
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.replies import TextReply

from bot.channels.wechat_api import WECHAT_API_BASE, OfficialAccountApi
from bot.channels.wechat_base import WeChatChannelBase
from bot.channels.wechat_render import cdata_safe
from bot.channels.wechat_request import (
    CommonSettings,
    Envelope,
    Rejected,
    common_settings,
    flag,
    parse_or_reject,
    read_body,
    required_args,
    setting,
    signature_ok,
)

logger = logging.getLogger(__name__)

DEFAULT_API_BASE = WECHAT_API_BASE


class WeChatInput(WeChatChannelBase):
    """Official Account callbacks, verified with ``WECHAT_TOKEN`` (and the AES key in safe mode)."""

    @classmethod
    def name(cls) -> str:
        return "wechat"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> WeChatInput:
        return cls(
            token=setting(credentials, "token", "WECHAT_TOKEN"),
            encoding_aes_key=setting(credentials, "encoding_aes_key", "WECHAT_ENCODING_AES_KEY"),
            appid=setting(credentials, "appid", "WECHAT_APPID"),
            secret=setting(credentials, "secret", "WECHAT_APPSECRET"),
            settings=common_settings(credentials, "WECHAT", DEFAULT_API_BASE),
            allow_plaintext=flag(credentials, "allow_plaintext", "WECHAT_ALLOW_PLAINTEXT"),
        )

    def __init__(
        self,
        token: str | None,
        encoding_aes_key: str | None,
        appid: str | None,
        secret: str | None,
        settings: CommonSettings,
        allow_plaintext: bool = False,
    ) -> None:
        super().__init__(settings)
        self.token = token
        self.allow_plaintext = allow_plaintext
        """Accept plaintext callbacks even though the AES key is set (明文模式 by choice)."""
        self.appid = appid
        self.secret = secret
        self.api = OfficialAccountApi(appid or "", secret or "", settings.api_base)
        self.crypto: WeChatCrypto | None = None
        if encoding_aes_key:
            try:
                self.crypto = WeChatCrypto(token or "", encoding_aes_key, appid or "")
            except (AssertionError, ValueError):
                raise ValueError(
                    "WECHAT_ENCODING_AES_KEY must be the 43-character key from the console"
                ) from None
        missing = self.missing_settings()
        if missing:
            logger.warning("wechat channel disabled until %s are set", ", ".join(missing))
        elif self.crypto is None:
            logger.info("wechat channel: plaintext mode only (WECHAT_ENCODING_AES_KEY not set)")

    def missing_settings(self) -> list[str]:
        named = {
            "WECHAT_TOKEN": self.token,
            "WECHAT_APPID": self.appid,
            "WECHAT_APPSECRET": self.secret,
        }
        return [name for name, value in named.items() if not value]

    async def verify_url(self, request: Request) -> str:
        signature, timestamp, nonce, echostr = required_args(
            request, "signature", "timestamp", "nonce", "echostr"
        )
        if not signature_ok(signature, self.token or "", timestamp, nonce):
            raise Rejected(403, "invalid signature")
        return echostr

    async def open_envelope(self, request: Request) -> Envelope:
        signature, timestamp, nonce = required_args(request, "signature", "timestamp", "nonce")
        if not signature_ok(signature, self.token or "", timestamp, nonce):
            raise Rejected(403, "invalid signature")
        self.check_timestamp(timestamp)
        encrypt_type = (request.args.get("encrypt_type") or "raw").lower()
        if encrypt_type == "raw" and self.crypto is not None and not self.allow_plaintext:
            # The signature covers only token, timestamp and nonce, not the body.
            raise Rejected(403, "plaintext callbacks are refused in safe mode")
        body = await read_body(request)
        if encrypt_type == "raw":
            return Envelope(
                parse_or_reject(body), encrypted=False, nonce=nonce, timestamp=timestamp
            )
        if encrypt_type != "aes":
            raise Rejected(400, f"unsupported encrypt_type: {encrypt_type[:16]}")
        if self.crypto is None:
            raise Rejected(400, "safe mode is not configured: set WECHAT_ENCODING_AES_KEY")
        (msg_signature,) = required_args(request, "msg_signature")
        encrypted = parse_or_reject(body).get("Encrypt", "").strip()
        if not encrypted:
            raise Rejected(400, "missing field: Encrypt")
        if not signature_ok(msg_signature, self.token or "", timestamp, nonce, encrypted):
            raise Rejected(403, "invalid msg_signature")
        try:
            plaintext = self.crypto.decrypt_message(
                {"Encrypt": encrypted}, msg_signature, timestamp, nonce
            )
        except InvalidAppIdException:
            raise Rejected(403, "AppID mismatch") from None
        except InvalidSignatureException:
            raise Rejected(403, "invalid msg_signature") from None
        except Exception:  # noqa: BLE001 - corrupt ciphertext, bad padding, bad UTF-8
            raise Rejected(400, "cannot decrypt Encrypt") from None
        return Envelope(
            parse_or_reject(plaintext), encrypted=True, nonce=nonce, timestamp=timestamp
        )

    def render_reply(self, envelope: Envelope, content: str) -> str:
        message = envelope.message
        xml = TextReply(
            source=message["ToUserName"],
            target=message["FromUserName"],
            content=cdata_safe(content),
        ).render()
        if envelope.encrypted and self.crypto is not None:
            return self.crypto.encrypt_message(xml, envelope.nonce)
        return xml

    def no_reply(self) -> HTTPResponse:
        return text("success")

