"""Serve an async fake (an ``async with fake.running()``) from a thread of its own, for a
bot or worker running in other processes: ``with fake.in_thread(): …``."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from typing import Any


@contextmanager
def in_thread(running: Callable[[], AbstractAsyncContextManager[Any]]) -> Iterator[None]:
    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop = asyncio.Event()

    async def serve() -> None:
        async with running():
            started.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    if not started.wait(15):
        raise RuntimeError("the fake server did not start")
    try:
        yield
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(15)
        loop.close()


class ServedInThread:
    """Mixin of the fakes: ``running()`` in a thread; a fake left hanging is released."""

    hang: bool

    def running(self) -> AbstractAsyncContextManager[Any]:
        raise NotImplementedError

    @contextmanager
    def in_thread(self) -> Iterator[Any]:
        try:
            with in_thread(self.running):
                yield self
        finally:
            self.hang = False
