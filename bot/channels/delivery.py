"""Run one merchant message through the bot and say whether it really worked.

Used by every input channel, so that a processing error, a reply-less turn or a
tracker store that failed behind Rasa's fail-safe wrapper is reported to the merchant
instead of being hidden. Importing it (every channel does) installs the handoff gate
(``bot.handoff.gate``): while an agent holds a conversation its messages go to the agent
and the bot says nothing; :func:`handed_to_agent` tells the channel so.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage

from bot.handoff.gate import Claim, handed_to_agent
from bot.handoff.gate import install as install_handoff_gate
from bot.stores import reset_store_failure, store_failure

install_handoff_gate()
logger = logging.getLogger(__name__)
APOLOGY = "抱歉，系统暂时出了点问题，您的消息没有处理成功，请稍后再发一次。"


async def process(
    on_new_message: Callable[[UserMessage], Awaitable[Any]], message: UserMessage
) -> bool:
    """True when the bot processed and stored the turn; never logs the text."""
    reset_store_failure()
    try:
        await on_new_message(message)
    except Exception:
        logger.exception("processing failed for sender %s", message.sender_id)
        return False
    if store_failure() is not None:
        logger.error("turn of sender %s was not stored", message.sender_id)
        return False
    return True


__all__ = ["APOLOGY", "Claim", "handed_to_agent", "process"]
