"""The texts of handoff messages and step-change notices (``data/outbound_messages.yml``)."""

from __future__ import annotations

from functools import lru_cache

import yaml

from bot.paths import ROOT
from bot.tickets.models import StepStatus

MESSAGES = ROOT / "data" / "outbound_messages.yml"


@lru_cache(maxsize=1)
def _texts() -> dict[str, dict[str, str]]:
    return yaml.safe_load(MESSAGES.read_text(encoding="utf-8"))


def handoff_text(key: str, **values: object) -> str:
    """A handoff message (``claimed``, ``handed_back`` …) with its placeholders filled."""
    return _texts()["handoff"][key].format(**values)


def notice_text(key: str, **values: object) -> str:
    """A notice fragment (``turned_off``, ``footer`` …)."""
    return _texts()["notice"][key].format(**values)


def step_notice(
    ticket_no: str, step: str, status: str, note: str, completed: bool, next_step: str | None
) -> str:
    """What the merchant is told when one step of their ticket changes; ``next_step`` is
    the first step not yet done."""
    lines = [notice_text(status, ticket_no=ticket_no, step=step)]
    if note:
        lines.append(notice_text("note", note=note))
    if completed:
        lines.append(notice_text("completed"))
    elif status == StepStatus.NEEDS_MATERIALS.value:
        lines.append(notice_text("needs_materials"))
    elif status == StepStatus.DONE.value and next_step:
        lines.append(notice_text("next", step=next_step))
    lines.append(notice_text("footer"))
    return "\n".join(lines)
