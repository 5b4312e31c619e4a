"""Fixtures for the WeChat channel tests: a fake message API and a fake bot."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from wechat_support import FakeApi, FakeBot


@pytest.fixture
async def api() -> AsyncIterator[FakeApi]:
    """A fake WeChat/WeCom API on 127.0.0.1 (random port) that records every call."""
    async with FakeApi().running() as fake:
        yield fake


@pytest.fixture
def bot() -> FakeBot:
    """A bot that records each turn and answers through the output channel."""
    return FakeBot()
