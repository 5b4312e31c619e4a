"""A missing database surfaces as TicketStoreUnavailable and writes nothing."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine
from tickets_support import make_request

from bot.tickets import TicketService, TicketStoreUnavailable
from bot.tickets.models import Ticket, TicketCounter, TicketEvent, TicketStep

CALLS: list[Callable[[TicketService], Any]] = [
    lambda s: s.open_ticket(make_request()),
    lambda s: s.get_ticket("UB-20251128-0001"),
    lambda s: s.tickets_for_sender("conv-1"),
    lambda s: s.tickets_for_merchant("849581058120003"),
    lambda s: s.tickets_for_phone("13812345678"),
    lambda s: s.history("UB-20251128-0001"),
    lambda s: s.advance_step("UB-20251128-0001", "资料审核", "已完成"),
    lambda s: s.cancel_ticket("UB-20251128-0001"),
    lambda s: s.verify_owner("UB-20251128-0001", "849581058120003", "5678", "r"),
]
IDS = ["open", "get", "sender", "merchant", "phone", "history", "advance", "cancel", "verify"]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("call", CALLS, ids=IDS)
def test_postgresql_on_a_closed_port(call: Callable[[TicketService], Any]) -> None:
    url = f"postgresql://postgres@127.0.0.1:{closed_port()}/test?connect_timeout=3"
    service = TicketService.from_url(url)
    try:
        with pytest.raises(TicketStoreUnavailable, match="ticket store unavailable"):
            call(service)
    finally:
        service.dispose()


@pytest.mark.parametrize("call", CALLS, ids=IDS)
def test_sqlite_at_an_unusable_path(tmp_path: Path, call: Callable[[TicketService], Any]) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    service = TicketService.from_url(f"sqlite:///{blocker / 'tickets.db'}")
    try:
        with pytest.raises(TicketStoreUnavailable):
            call(service)
    finally:
        service.dispose()
    assert blocker.read_text() == "x"
    assert [p.name for p in tmp_path.iterdir()] == ["not-a-dir"]


def test_unmigrated_database_is_unavailable(tmp_path: Path) -> None:
    service = TicketService.from_url(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        with pytest.raises(TicketStoreUnavailable):
            service.open_ticket(make_request())
    finally:
        service.dispose()


def test_failure_mid_open_leaves_nothing(service: TicketService, engine: Engine) -> None:
    """The connection dies after the ticket and steps are inserted: all rolled back."""
    dbapi_error = engine.dialect.dbapi.OperationalError  # type: ignore[union-attr]

    def fail_on_history(cursor: Any, statement: str, *args: Any) -> bool:
        if statement.lstrip().upper().startswith("INSERT INTO TICKET_EVENTS"):
            raise dbapi_error("simulated connection loss")
        return False  # let the dialect execute everything else

    event.listen(engine, "do_execute", fail_on_history)
    try:
        with pytest.raises(TicketStoreUnavailable):
            service.open_ticket(make_request())
    finally:
        event.remove(engine, "do_execute", fail_on_history)

    with engine.connect() as conn:
        for model in (Ticket, TicketStep, TicketEvent, TicketCounter):
            assert conn.execute(select(func.count()).select_from(model)).scalar_one() == 0
    again = service.open_ticket(make_request())
    assert again.created and again.ticket.ticket_no.endswith("-0001")
