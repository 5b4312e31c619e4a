"""Runtime settings read from the environment.

Contact details are never invented: when they are not configured the bot names the
channel (for example 官方客服热线) without a number or address.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Contacts:
    """Support contact details shown to merchants."""

    hotline: str = ""
    help_centre_url: str = ""

    @classmethod
    def from_env(cls) -> Contacts:
        return cls(
            hotline=os.environ.get("SUPPORT_HOTLINE", "").strip(),
            help_centre_url=os.environ.get("SUPPORT_HELP_CENTRE_URL", "").strip(),
        )

    def placeholders(self) -> dict[str, str]:
        """Values for the {hotline} and {help_centre} placeholders of answers."""
        hotline = f"官方客服热线（{self.hotline}）" if self.hotline else "官方客服热线"
        help_centre = "的“帮助中心”或“客户服务”"
        if self.help_centre_url:
            help_centre += f"（{self.help_centre_url}）"
        return {"hotline": hotline, "help_centre": help_centre}
