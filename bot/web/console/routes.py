"""Agent console routes (placeholder until the console lands)."""

from sanic import Blueprint


def console_blueprint() -> Blueprint:
    return Blueprint("console")
