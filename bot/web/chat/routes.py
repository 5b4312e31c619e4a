"""Chat page routes (placeholder until the web chat lands)."""

from sanic import Blueprint


def chat_blueprint() -> Blueprint:
    return Blueprint("chat")
