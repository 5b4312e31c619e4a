"""Rasa's quiet failure modes reach the merchant: no action server, a broken store."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bot.channels.delivery import APOLOGY
from bot.launcher import Stack, default_env, embedded_services
from tests.conftest import MODEL, free_port

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def rasa_without_actions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """Rasa alone: its action endpoint points at a port where nothing listens."""
    tmp = tmp_path_factory.mktemp("lonely")
    rasa_port = free_port()
    env = default_env(actions_port=free_port())
    env["TRACKER_STORE_URL"] = f"sqlite:///{tmp / 'tracker.db'}"
    rasa = [s for s in embedded_services(str(MODEL), rasa_port=rasa_port) if s.name == "rasa"]
    with Stack(rasa, env=env, log_dir=tmp / "logs"):
        yield f"http://127.0.0.1:{rasa_port}/webhooks/rest/webhook", tmp / "tracker.db"


def say(url: str, sender: str, text: str) -> requests.Response:
    return requests.post(url, json={"sender": sender, "message": text}, timeout=30)


def test_a_dead_action_server_is_an_apology_not_an_empty_200(rasa_without_actions):
    url, _ = rasa_without_actions
    assert say(url, "a1", "你好").status_code == 200  # responses need no action server
    response = say(url, "a1", "解绑需要哪些资料")
    assert response.status_code in (500, 503)
    assert response.json()[0]["text"] == APOLOGY


def test_a_tracker_store_that_cannot_write_is_an_apology(rasa_without_actions):
    url, tracker_db = rasa_without_actions
    assert say(url, "b1", "你好").status_code == 200
    with sqlite3.connect(tracker_db) as db:
        db.execute("drop table events")
    response = say(url, "b1", "你好")
    assert response.status_code == 500
    assert response.json()[0]["text"] == APOLOGY
