"""The production tracker store fails loudly on a wrong URL and survives cut connections;
the Redis lock store issues each ticket once across replicas."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import pytest
from rasa.core.lock_store import RedisLockStore
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from bot.analytics import summary
from bot.ops.databases import DatabaseMisconfigured, check_database
from bot.ops.faults import terminate_connections
from bot.ops.locks import AtomicRedisLockStore
from bot.ops.stores import ProdTrackerStore


def test_a_url_without_a_database_is_refused():
    with pytest.raises(ValueError, match="no database name"):
        ProdTrackerStore(host="postgresql://postgres@127.0.0.1:5432")


def test_sqlite_and_login_db_are_refused(tmp_path):
    with pytest.raises(DatabaseMisconfigured, match="must be PostgreSQL"):
        ProdTrackerStore(host=f"sqlite:///{tmp_path / 't.db'}")
    with pytest.raises(DatabaseMisconfigured, match="login_db"):
        ProdTrackerStore(host="postgresql://postgres@127.0.0.1/x", login_db="postgres")


@pytest.mark.postgres
def test_a_missing_database_fails_at_once_instead_of_retrying_forever(postgres_url):
    wrong = make_url(postgres_url).set(database=f"nope_{uuid.uuid4().hex[:8]}")
    started = time.monotonic()
    with pytest.raises(DatabaseMisconfigured, match="does not exist"):
        ProdTrackerStore(host=wrong.render_as_string(hide_password=False))
    assert time.monotonic() - started < 10


def run_together(threads: list[threading.Thread]) -> None:
    """Start every thread, then wait for all of them."""
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def create_summaries_at_once(engines: list) -> list[Exception]:
    """``summary.create`` on every engine at the same moment; the errors raised."""
    barrier = threading.Barrier(len(engines))
    errors: list[Exception] = []

    def start(engine) -> None:
        barrier.wait()
        try:
            summary.create(engine)
        except Exception as error:  # noqa: BLE001
            errors.append(error)

    run_together([threading.Thread(target=start, args=(e,)) for e in engines])
    return errors


@pytest.mark.postgres
def test_replicas_starting_together_on_an_empty_database_all_create_the_summary(
    postgres_url,
):
    """Eight replicas create the 统计 tables at the same moment, five times over, each
    time in a new empty schema: without the advisory lock one of them usually fails on
    PostgreSQL's unique type name and its replica stops."""
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT", future=True)
    for _ in range(5):
        schema = f"race_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        engines = [create_engine(postgres_url, future=True,
                                 connect_args={"options": f"-csearch_path={schema}"})
                   for _ in range(8)]
        try:
            assert create_summaries_at_once(engines) == []
            assert {"conversation_days", "conversation_topics"} <= set(
                inspect(engines[0]).get_table_names())
        finally:
            for engine in engines:
                engine.dispose()
            with admin.connect() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.mark.postgres
def test_events_survive_cut_connections(postgres_url):
    check_database(postgres_url)
    store = ProdTrackerStore(host=postgres_url)
    sender = f"ops-{uuid.uuid4().hex[:10]}"
    tracker = DialogueStateTracker(sender, slots=[])
    tracker.update(UserUttered("你好", {"name": "greet", "confidence": 1.0}))
    asyncio.run(store.save(tracker))
    assert terminate_connections(postgres_url) >= 1  # the store's pooled connection
    tracker.update(ActionExecuted("utter_greet"))
    tracker.update(UserUttered("再见", {"name": "goodbye", "confidence": 1.0}))
    asyncio.run(store.save(tracker))  # pool_pre_ping replaces the dead connection
    stored = asyncio.run(store.retrieve(sender))
    assert [e.text for e in stored.events if isinstance(e, UserUttered)] == ["你好", "再见"]
    store.engine.dispose()


def _lock_stores(redis_url: str, cls: type, count: int = 2) -> list:
    url, prefix = redis_url.split("#")
    if cls is AtomicRedisLockStore:
        return [AtomicRedisLockStore(url=url, key_prefix=prefix) for _ in range(count)]
    from redis.connection import parse_url

    parts = parse_url(url)
    return [RedisLockStore(host=parts["host"], port=parts["port"], db=parts.get("db", 0),
                           key_prefix=prefix) for _ in range(count)]


def _issue_concurrently(stores: list, conversation: str, per_store: int = 40) -> list[int]:
    tickets: list[int] = []
    barrier = threading.Barrier(len(stores) * 4)

    def worker(store) -> None:  # noqa: ANN001
        barrier.wait()
        for _ in range(per_store // 4):
            tickets.append(store.issue_ticket(conversation, 30))

    run_together([threading.Thread(target=worker, args=(s,)) for s in stores for _ in range(4)])
    return tickets


@pytest.mark.redis
def test_rasa_redis_lock_store_alone_can_issue_a_ticket_twice(redis_url):
    """Why endpoints.prod.yml does not use plain `type: redis` (read-modify-write)."""
    a, b = _lock_stores(redis_url, RedisLockStore)
    lock_a = a.get_or_create_lock("c1")
    lock_b = b.get_or_create_lock("c1")  # both replicas read before either writes
    first, second = lock_a.issue_ticket(30), lock_b.issue_ticket(30)
    a.save_lock(lock_a)
    b.save_lock(lock_b)
    assert first == second  # two replicas now both "hold" the conversation


@pytest.mark.redis
def test_atomic_lock_store_issues_unique_tickets_across_replicas(redis_url):
    stores = _lock_stores(redis_url, AtomicRedisLockStore, count=3)
    tickets = _issue_concurrently(stores, "c2")
    assert len(tickets) == len(set(tickets)) == 120


@pytest.mark.redis
def test_two_replicas_never_hold_one_conversation_at_once(redis_url):
    a, b = _lock_stores(redis_url, AtomicRedisLockStore)
    inside: list[str] = []
    overlaps: list[int] = []

    async def turn(store, n: int) -> None:  # noqa: ANN001
        async with store.lock("c3", lock_lifetime=10, wait_time_in_seconds=0.01):
            inside.append(f"in{n}")
            if len([x for x in inside if x.startswith("in")]) - len(
                    [x for x in inside if x.startswith("out")]) > 1:
                overlaps.append(n)
            await asyncio.sleep(0.005)
            inside.append(f"out{n}")

    async def main() -> None:
        await asyncio.gather(*(turn(a if n % 2 else b, n) for n in range(30)))

    asyncio.run(main())
    assert overlaps == [] and len(inside) == 60


def test_a_failed_lock_cleanup_does_not_fail_a_processed_turn():
    store = AtomicRedisLockStore(url="redis://127.0.0.1:1/0", socket_timeout=0.5)
    store.cleanup("c4", 1)  # Redis unreachable: logged and counted, not raised


@pytest.mark.postgres
def test_kept_trackers_follow_what_other_replicas_write(postgres_url):
    """The tracker cache (bot/tracker_cache.py) checks PostgreSQL's newest event id."""
    check_database(postgres_url)
    ours, theirs = ProdTrackerStore(host=postgres_url), ProdTrackerStore(host=postgres_url)
    sender = f"ops-{uuid.uuid4().hex[:10]}"
    tracker = DialogueStateTracker(sender, slots=[])
    tracker.update(UserUttered("你好", {"name": "greet", "confidence": 1.0}))
    asyncio.run(ours.save(tracker))
    assert asyncio.run(ours.retrieve(sender)) is tracker  # kept between turns

    other = asyncio.run(theirs.retrieve(sender))
    other.update(UserUttered("再见", {"name": "goodbye", "confidence": 1.0}))
    asyncio.run(theirs.save(other))
    mine = asyncio.run(ours.retrieve(sender))
    assert mine is not tracker
    assert [e.text for e in mine.events if isinstance(e, UserUttered)] == ["你好", "再见"]
    for store in (ours, theirs):
        store.engine.dispose()
