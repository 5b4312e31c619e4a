"""``python -m bot.privacy {purge,export}``: data retention and a merchant's data export.

    python -m bot.privacy purge [--days N]        # default RETENTION_DAYS, else 180
    python -m bot.privacy export 849581058120003 [--actor NAME]

Uses ``DATABASE_URL`` (tickets, audit, WeChat dedup records) and ``TRACKER_STORE_URL``
(conversations).
Both print JSON on stdout. Exit codes: 0 ok, 2 usage error, 3 database unavailable.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Sequence

from sqlalchemy.exc import SQLAlchemyError

from bot.audit import AuditLog
from bot.fields import normalize_merchant_id
from bot.privacy import export, purge, retention_days, tracker_engine
from bot.tickets import TicketService, TicketStoreUnavailable
from bot.web.console.conversations import TranscriptReader, TranscriptUnavailable


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot.privacy")
    commands = parser.add_subparsers(dest="command", required=True)
    purge_cmd = commands.add_parser("purge", help="apply the retention period")
    purge_cmd.add_argument("--days", type=int, help="retention in days (RETENTION_DAYS, 180)")
    export_cmd = commands.add_parser(
        "export", help="print one merchant's tickets and the conversations they were "
        "opened from as JSON (audited)",
    )
    export_cmd.add_argument("merchant", help="15-digit merchant number")
    export_cmd.add_argument("--actor", help="who asked (written to the audit log)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        days = args.days if args.command == "purge" and args.days else retention_days()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if days <= 0:
        print("error: --days must be a positive number", file=sys.stderr)
        return 2
    tickets = TicketService.from_url()
    tracker = tracker_engine()
    try:
        if args.command == "purge":
            result = purge(tickets, tracker, days)
        else:
            merchant = normalize_merchant_id(args.merchant)
            if merchant.value is None:
                print(f"error: {merchant.error}", file=sys.stderr)
                return 2
            actor = f"cli:{args.actor or getpass.getuser()}"[:64]
            result = export(
                merchant.value, tickets, TranscriptReader(tracker), AuditLog(tickets.engine),
                actor,
            )
    except (TicketStoreUnavailable, TranscriptUnavailable, SQLAlchemyError) as exc:
        print(f"error: database unavailable ({type(exc).__name__})", file=sys.stderr)
        return 3
    finally:
        tickets.dispose()
        tracker.dispose()
    json.dump(result, sys.stdout, ensure_ascii=False, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
