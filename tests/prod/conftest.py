"""Tests of the production profile's parts. Those needing PostgreSQL, Redis or nginx
say so with a marker and skip with the reason when the service is missing; under
``REQUIRE_SERVICES=1`` (CI) the root conftest turns such a skip into a failure.
The load and fault runs of the whole profile are ``make loadtest`` (bot/loadtest).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator

import pytest

from bot.ops.databases import ensure_database

# Its own database; OPS_TEST_DB gives parallel checkouts on one server one each.
TEST_DB = os.environ.get("OPS_TEST_DB", "jiebang_test_ops")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "nginx: needs Debian's nginx binary")


def _postgres_url() -> str:
    base = os.environ.get("DATABASE_URL_TEST", "").strip()
    if not base.startswith("postgresql"):
        pytest.skip("PostgreSQL test: DATABASE_URL_TEST is not a PostgreSQL URL "
                    "(e.g. postgresql://postgres@127.0.0.1:5432/test)")
    from sqlalchemy.engine import make_url

    url = make_url(base).set(database=TEST_DB).render_as_string(hide_password=False)
    try:
        ensure_database(url)
    except Exception as error:  # noqa: BLE001
        pytest.skip(f"PostgreSQL at DATABASE_URL_TEST is not reachable: {error}")
    return url


@pytest.fixture
def postgres_url() -> str:
    """A PostgreSQL URL on a database of these tests' own (``OPS_TEST_DB``,
    ``jiebang_test_ops``)."""
    return _postgres_url()


@pytest.fixture
def redis_url() -> Iterator[str]:
    url = os.environ.get("REDIS_URL_TEST", "").strip()
    if not url:
        pytest.skip("Redis test: REDIS_URL_TEST is not set (e.g. redis://127.0.0.1:6379/15)")
    import redis

    client = redis.Redis.from_url(url, socket_timeout=3)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.skip(f"Redis at REDIS_URL_TEST is not reachable: {error}")
    prefix = f"t{uuid.uuid4().hex[:10]}"
    yield f"{url}#{prefix}"
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


@pytest.fixture
def nginx() -> str:
    path = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx")
                                      else None)
    if path is None:
        pytest.skip("nginx is not installed (apt-get install nginx; `make run-prod` does it)")
    return path
