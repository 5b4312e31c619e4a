"""One decrypted WeChat/WeCom callback: a Rasa turn, a fixed reply or nothing; its dedup key
and the metadata kept with the turn."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

logger = logging.getLogger(__name__)

DEFAULT_MENU_FILE = Path(__file__).resolve().parents[2] / "data" / "wechat_menu.yml"

WELCOME_PAYLOAD = "/greet"
CAPABILITIES = (
    "您可以直接用文字问我：\n"
    "• 终端上怎么操作解绑\n"
    "• 解绑需要准备哪些材料\n"
    "• 提交解绑申请（发送“我要解绑”）\n"
    "• 查询解绑进度（发送“查询进度”）\n"
    "• 联系人工客服（发送“转人工”）"
)
NON_TEXT_REPLY = (
    "抱歉，我目前只能阅读文字消息，暂时看不了图片、语音、视频、位置、链接或文件。\n" + CAPABILITIES
)
EMPTY_TEXT_REPLY = "您好像发送了一条空消息。" + CAPABILITIES
UNKNOWN_MENU_REPLY = "抱歉，这个菜单项暂时不可用。" + CAPABILITIES
ERROR_REPLY = "抱歉，系统暂时繁忙，请稍后再试，或发送“转人工”联系客服。"

TURN = "turn"
REPLY = "reply"
IGNORE = "ignore"


@dataclass(frozen=True)
class Inbound:
    """``turn``: send ``text`` to Rasa; ``reply``: answer ``text`` directly; ``ignore``."""

    kind: str
    text: str | None = None
    typed: bool = False


def load_menu(path: Path | None = None) -> dict[str, str]:
    """EventKey → Rasa payload from ``data/wechat_menu.yml`` (empty if the file is missing)."""
    path = path or DEFAULT_MENU_FILE
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        logger.warning("wechat menu file %s not found; every menu click gets a polite text", path)
        return {}
    entries = data.get("menu") or {}
    if not isinstance(entries, dict):
        raise ValueError(f"{path}: 'menu' must map EventKey to {{label, payload}}")
    menu: dict[str, str] = {}
    for key, entry in entries.items():
        payload = entry.get("payload") if isinstance(entry, dict) else entry
        if not isinstance(payload, str) or not payload.strip():
            raise ValueError(f"{path}: menu entry {key!r} needs a non-empty payload")
        menu[str(key)] = payload.strip()
    return menu


def classify(message: Mapping[str, str], menu: Mapping[str, str]) -> Inbound:
    """Decide how to answer a parsed callback (keys as in the WeChat XML)."""
    msg_type = message.get("MsgType", "").strip().lower()
    if msg_type == "text":
        content = message.get("Content", "").strip()
        return Inbound(TURN, content, typed=True) if content else Inbound(REPLY, EMPTY_TEXT_REPLY)
    if msg_type == "voice":
        recognition = message.get("Recognition", "").strip()
        return (
            Inbound(TURN, recognition, typed=True)
            if recognition
            else Inbound(REPLY, NON_TEXT_REPLY)
        )
    if msg_type == "event":
        return _classify_event(message, menu)
    return Inbound(REPLY, NON_TEXT_REPLY)


def _classify_event(message: Mapping[str, str], menu: Mapping[str, str]) -> Inbound:
    event = message.get("Event", "").strip().lower()
    if event == "subscribe":
        return Inbound(TURN, WELCOME_PAYLOAD)
    if event == "click":
        payload = menu.get(message.get("EventKey", "").strip())
        return Inbound(TURN, payload) if payload else Inbound(REPLY, UNKNOWN_MENU_REPLY)
    # unsubscribe, view (menu link), scan, location reports, enter_agent, …: no answer.
    return Inbound(IGNORE)


def dedup_key(message: Mapping[str, str]) -> str:
    """MsgId, or FromUserName + CreateTime for events (plus Event and EventKey, so two
    different menu taps in one second both count), scoped by account."""
    account = message.get("ToUserName", "")
    msg_id = message.get("MsgId", "").strip()
    if msg_id:
        return f"{account}:{msg_id}"
    parts = (
        message.get(name, "").strip()
        for name in ("FromUserName", "CreateTime", "Event", "EventKey")
    )
    return ":".join((account, *parts))


def message_metadata(message: Mapping[str, str]) -> dict[str, Any]:
    """Message type, id and create time (plus event fields) for the tracker."""
    create_time = message.get("CreateTime", "").strip()
    data: dict[str, Any] = {
        "msg_type": message.get("MsgType", "").strip().lower(),
        "msg_id": message.get("MsgId", "").strip() or None,
        "create_time": int(create_time) if create_time.isdigit() else None,
        "event": message.get("Event", "").strip().lower() or None,
        "event_key": message.get("EventKey", "").strip() or None,
        "agent_id": message.get("AgentID", "").strip() or None,
    }
    return {key: value for key, value in data.items() if value is not None}
