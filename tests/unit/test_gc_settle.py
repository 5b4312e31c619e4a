"""Start-up objects are frozen out of the collector; what is made later is still collected."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest
import rasa.core.run

from bot import gc_settle


class Node:
    """An object that can take part in a reference cycle."""

    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture
def restore_collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_settle_freezes_what_is_alive_and_still_collects_later_cycles(restore_collector):
    before = Node()
    frozen = gc_settle.settle()
    assert frozen > 1000 and gc.get_freeze_count() == frozen
    assert gc.get_threshold()[0] == gc_settle.YOUNG_THRESHOLD
    assert all(obj is not before for obj in gc.get_objects())  # set aside

    a, b = Node(), Node()
    a.other, b.other = b, a
    watch = weakref.ref(a)
    del a, b
    gc.collect()
    assert watch() is None  # a cycle made after settling is freed


def test_rasa_settles_once_its_model_is_loaded(monkeypatch, restore_collector):
    loaded = []

    async def load_agent(**kwargs):
        loaded.append(gc.get_freeze_count())
        return "agent"

    monkeypatch.setattr(rasa.core.run, "load_agent_on_start", rasa.core.run.load_agent_on_start)
    monkeypatch.setattr(rasa.core.run.agent, "load_agent", load_agent)
    gc.unfreeze()
    gc_settle.install()
    gc_settle.install()  # a second install does not wrap twice
    assert rasa.core.run.load_agent_on_start._settles

    class App:
        class ctx:  # noqa: N801 - Sanic's attribute name
            agent = None

    result = asyncio.run(rasa.core.run.load_agent_on_start("m", None, None, App, None))
    assert result == "agent" and App.ctx.agent == "agent"
    assert loaded == [0] and gc.get_freeze_count() > 0  # frozen after loading, not before
