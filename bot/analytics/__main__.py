"""``python -m bot.analytics rebuild``: recompute the 统计 page's counters from the
tracker store's events (``TRACKER_STORE_URL``, default ``sqlite:///var/tracker.db``),
e.g. once after upgrading a deployment that already has conversations."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from bot.analytics.summary import rebuild
from bot.db import make_engine
from bot.web.console.conversations import DEFAULT_URL


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.analytics", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("rebuild", help="recompute conversation_days and conversation_topics")
    parser.parse_args(argv)
    engine = make_engine(os.environ.get("TRACKER_STORE_URL") or DEFAULT_URL)
    try:
        senders = rebuild(engine)
    finally:
        engine.dispose()
    print(f"rebuilt the 统计 counters of {senders} conversations")
    return 0


if __name__ == "__main__":
    sys.exit(main())
