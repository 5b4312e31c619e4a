"""Parallel confirmations in separate processes never share or duplicate tickets."""

from __future__ import annotations

import multiprocessing
import queue
from typing import Any

from sqlalchemy import func, select
from tickets_support import make_request, merchant

from bot.db import make_engine
from bot.tickets import TicketService
from bot.tickets.models import Ticket, TicketStep

MERCHANTS = 20
RETRIES = 5  # the first five merchants confirm a second time, from another conversation


def confirm(url: str, n: int, sender: str, start: Any, out: Any) -> None:
    """Worker: open a ticket for merchant ``n`` once every process is ready."""
    service = TicketService(make_engine(url))
    try:
        service.get_ticket("UB-20000101-0001")  # connect before the start line
        start.wait(timeout=120)
        result = service.open_ticket(make_request(merchant(n), sender_id=sender))
        out.put((n, result.ticket.ticket_no, result.created, None))
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        out.put((n, None, None, repr(exc)))
    finally:
        service.dispose()


def test_parallel_confirmations_in_processes(db_url: str) -> None:
    # fork: spawn/forkserver would re-run the pytest script in each of the 25 workers.
    # Safe here: this test holds no engine, and every worker makes its own connections.
    ctx = multiprocessing.get_context("fork")
    jobs = [(n, f"conv-{n}") for n in range(MERCHANTS)]
    jobs += [(n, f"retry-{n}") for n in range(RETRIES)]
    start, out = ctx.Barrier(len(jobs)), ctx.Queue()
    procs = [ctx.Process(target=confirm, args=(db_url, n, s, start, out)) for n, s in jobs]
    for p in procs:
        p.start()
    try:
        results = [out.get(timeout=180) for _ in jobs]
    except queue.Empty:  # pragma: no cover - diagnostic
        results = []
    for p in procs:
        p.join(timeout=60)
        if p.is_alive():  # pragma: no cover - diagnostic
            p.terminate()
    assert len(results) == len(jobs), "a worker did not report"
    assert [r for r in results if r[3]] == []

    by_merchant: dict[int, set[str]] = {}
    for n, number, _, _ in results:
        by_merchant.setdefault(n, set()).add(number)
    assert all(len(numbers) == 1 for numbers in by_merchant.values()), by_merchant
    numbers = [next(iter(v)) for v in by_merchant.values()]
    assert len(set(numbers)) == MERCHANTS
    assert sum(1 for r in results if r[2]) == MERCHANTS
    days = {no[:11] for no in numbers}
    if len(days) == 1:  # no Shanghai midnight during the test: a gapless sequence
        assert sorted(int(no[-4:]) for no in numbers) == list(range(1, MERCHANTS + 1))

    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            count = conn.execute(select(func.count()).select_from(Ticket)).scalar_one()
            steps = conn.execute(select(func.count()).select_from(TicketStep)).scalar_one()
            stored = set(conn.execute(select(Ticket.ticket_no)).scalars())
    finally:
        engine.dispose()
    assert count == MERCHANTS and steps == MERCHANTS * 8
    assert stored == set(numbers)
