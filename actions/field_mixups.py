"""A value typed for the wrong field of the unbind form is recognised, never stored there.

Asked for the reason, a merchant may repeat the merchant number; asked for the serial,
type the phone number. When the message is nothing but one value the entity extractor
recognises (a merchant number, a phone number, a serial or a ticket number, with at most
a cue word such as "商户号" and filler around it) and that value belongs to another field
than the one asked for, the form does not take it: the merchant is told what it looks
like and asked again. The value still reaches its own field through that field's entity
mapping (domain.yml), so nothing typed is lost.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

ENTITY_FIELDS = {
    "merchant_id": "merchant_id",
    "phone": "contact_phone",
    "serial_number": "serial_number",
    "ticket_no": "ticket_no",
}
TITLES = {
    "merchant_id": "商户号",
    "contact_phone": "手机号",
    "serial_number": "序列号",
    "ticket_no": "工单号",
    "unbind_reason": "解绑原因",
}
_FILLER = re.compile(
    r"商户编号|商户号|商户|序列号|机身号|sn号?|手机号码?|手机|联系电话|电话号码?|电话|工单号|工单|"
    r"编号|号码|我的|就是|这个|那个|是|的|号|我|啊|呀|哦|吧|呢|了|嗯|哈|"
    r"[\s,，。.:：;；!！?？、\-_()（）]",
    re.IGNORECASE,
)


def plain_value(text: str, entities: Sequence[Mapping[str, Any]]) -> str | None:
    """The form field whose value ``text`` is and nothing else, or None."""
    found = [e for e in entities if e.get("entity") in ENTITY_FIELDS
             and isinstance(e.get("start"), int) and isinstance(e.get("end"), int)]
    if not found or len({e["entity"] for e in found}) != 1:
        return None
    rest = text
    for entity in sorted(found, key=lambda e: -e["start"]):
        rest = rest[: entity["start"]] + rest[entity["end"]:]
    if _FILLER.sub("", rest):
        return None
    return ENTITY_FIELDS[found[0]["entity"]]


def mixup(slot: str, text: str, entities: Sequence[Mapping[str, Any]]) -> str | None:
    """The field the message plainly belongs to, when that is not ``slot``."""
    field = plain_value(text, entities)
    return field if field is not None and field != slot else None


def mixup_message(slot: str, field: str, stored_there: bool) -> str:
    """What the merchant is told before the form asks for ``slot`` again."""
    kept = f"我已把它记作{TITLES[field]}。" if stored_there else ""
    return f"这看起来是{TITLES[field]}，不是{TITLES[slot]}。{kept}"
