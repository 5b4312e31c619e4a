"""WeCom (企业微信) self-built app input channel at ``/webhooks/wecom/webhook``.

WeCom callbacks are always encrypted; URL verification decrypts ``echostr``.
Late answers go through the application message API with the app's AgentID.
"""

from __future__ import annotations

import logging
from typing import Any

from sanic.request import Request
from sanic.response import HTTPResponse, text
from wechatpy.enterprise.crypto import WeChatCrypto
from wechatpy.enterprise.exceptions import InvalidCorpIdException
from wechatpy.enterprise.replies import TextReply
from wechatpy.exceptions import InvalidSignatureException

from bot.channels.wechat_api import WECOM_API_BASE, WeComApi
from bot.channels.wechat_base import WeChatChannelBase, WeChatCollector
from bot.channels.wechat_render import cdata_safe
from bot.channels.wechat_request import (
    CommonSettings,
    Envelope,
    Rejected,
    common_settings,
    parse_or_reject,
    read_body,
    required_args,
    setting,
    signature_ok,
)

logger = logging.getLogger(__name__)

DEFAULT_API_BASE = WECOM_API_BASE


class WeComCollector(WeChatCollector):
    """Collector named ``wecom`` so responses can have WeCom variants."""

    channel_name = "wecom"


class WeComInput(WeChatChannelBase):
    """WeCom app callbacks, verified with ``WECOM_TOKEN`` and decrypted with the AES key."""

    collector_class = WeComCollector

    @classmethod
    def name(cls) -> str:
        return "wecom"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> WeComInput:
        return cls(
            token=setting(credentials, "token", "WECOM_TOKEN"),
            encoding_aes_key=setting(credentials, "encoding_aes_key", "WECOM_ENCODING_AES_KEY"),
            corp_id=setting(credentials, "corp_id", "WECOM_CORP_ID"),
            secret=setting(credentials, "secret", "WECOM_SECRET"),
            agent_id=setting(credentials, "agent_id", "WECOM_AGENT_ID"),
            settings=common_settings(credentials, "WECOM", DEFAULT_API_BASE),
        )

    def __init__(
        self,
        token: str | None,
        encoding_aes_key: str | None,
        corp_id: str | None,
        secret: str | None,
        agent_id: str | None,
        settings: CommonSettings,
    ) -> None:
        super().__init__(settings)
        self.token = token
        self.encoding_aes_key = encoding_aes_key
        self.corp_id = corp_id
        self.secret = secret
        self.agent_id = agent_id
        self.api = WeComApi(corp_id or "", secret or "", agent_id or "", settings.api_base)
        if agent_id is not None and not agent_id.isdigit():
            raise ValueError("WECOM_AGENT_ID must be the numeric AgentId of the app")
        self.crypto: WeChatCrypto | None = None
        if encoding_aes_key:
            try:
                self.crypto = WeChatCrypto(token or "", encoding_aes_key, corp_id or "")
            except (AssertionError, ValueError):
                raise ValueError(
                    "WECOM_ENCODING_AES_KEY must be the 43-character key from the console"
                ) from None
        missing = self.missing_settings()
        if missing:
            logger.warning("wecom channel disabled until %s are set", ", ".join(missing))

    def missing_settings(self) -> list[str]:
        named = {
            "WECOM_TOKEN": self.token,
            "WECOM_ENCODING_AES_KEY": self.encoding_aes_key,
            "WECOM_CORP_ID": self.corp_id,
            "WECOM_SECRET": self.secret,
            "WECOM_AGENT_ID": self.agent_id,
        }
        return [name for name, value in named.items() if not value]

    def _decrypt(self, signature: str, timestamp: str, nonce: str, encrypted: str) -> str:
        if not signature_ok(signature, self.token or "", timestamp, nonce, encrypted):
            raise Rejected(403, "invalid msg_signature")
        assert self.crypto is not None
        try:
            return self.crypto.check_signature(signature, timestamp, nonce, encrypted)
        except InvalidCorpIdException:
            raise Rejected(403, "CorpID mismatch") from None
        except InvalidSignatureException:
            raise Rejected(403, "invalid msg_signature") from None
        except Exception:  # noqa: BLE001 - corrupt ciphertext, bad padding, bad UTF-8
            raise Rejected(400, "cannot decrypt") from None

    async def verify_url(self, request: Request) -> str:
        signature, timestamp, nonce, echostr = required_args(
            request, "msg_signature", "timestamp", "nonce", "echostr"
        )
        # Base64 has no spaces: restore a "+" that form-style unquoting turned into " ".
        return self._decrypt(signature, timestamp, nonce, echostr.replace(" ", "+"))

    async def open_envelope(self, request: Request) -> Envelope:
        signature, timestamp, nonce = required_args(request, "msg_signature", "timestamp", "nonce")
        self.check_timestamp(timestamp)
        # msg_signature covers the Encrypt field, so the (defused, size-capped) outer
        # envelope must be parsed before the signature can be checked.
        outer = parse_or_reject(await read_body(request))
        encrypted = outer.get("Encrypt", "").strip()
        if not encrypted:
            raise Rejected(400, "missing field: Encrypt")
        message = parse_or_reject(self._decrypt(signature, timestamp, nonce, encrypted))
        agent = message.get("AgentID", "").strip()
        if agent and agent != self.agent_id:
            raise Rejected(403, "AgentID mismatch")
        return Envelope(message, encrypted=True, nonce=nonce, timestamp=timestamp)

    def render_reply(self, envelope: Envelope, content: str) -> str:
        message = envelope.message
        agent = message.get("AgentID", "").strip() or self.agent_id or "0"
        xml = TextReply(
            source=message["ToUserName"],
            target=message["FromUserName"],
            agent=int(agent),
            content=cdata_safe(content),
        ).render()
        assert self.crypto is not None
        return self.crypto.encrypt_message(xml, envelope.nonce)

    def no_reply(self) -> HTTPResponse:
        return text("")
