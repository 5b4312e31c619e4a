"""Fixes to Rasa 3.6 internals that we apply in the Rasa server process.

``install()`` runs when Rasa imports our tracker store (``bot.stores``), which every
profile configures in its endpoints file, so the fixes are in place before the first
message. Each fix keeps Rasa's behaviour and only removes a measured cost
(docs/benchmarks.md, "Profiles").

- **Custom-action responses are validated against a cached validator.** Rasa calls
  ``jsonschema.validate(result, schema)`` for every action-server reply; that checks the
  schema itself against its meta-schema and builds a new validator each time, about
  30 ms per call on these machines, more than half of the Rasa server's CPU per turn.
  The cached validator checks the same schema in about 1.5 ms and raises the same
  ``ValidationError``. Most of that 1.5 ms was the schema's ``oneOf`` over 23 event
  types tried for every event; as each branch is pinned to its own ``event`` name, an
  event is first checked against its own branch only, and the full schema runs (and
  raises Rasa's error) whenever that quick check does not pass.
- **Event classes are looked up in a table.** ``Event.resolve_by_type`` walks every
  subclass of ``Event`` (with an ``inspect.isabstract`` check each) for each event it
  deserialises: every event of a conversation each time its tracker is loaded. The
  table is built from the same walk; a name not in it (a class defined later) falls
  back to Rasa's own lookup.
- **Responses whose braces are not slots are left alone without an exception.** Rasa
  fills ``{slot}`` placeholders in every string of a response, buttons included. A
  button payload such as ``/inform{"unbind_reason":"更换设备"}`` looks like a
  placeholder, so Rasa raised a ``KeyError`` and logged it with a formatted traceback
  for each such button on every turn that showed them (5% of the server's CPU under
  load). When a placeholder names no known value, the text is returned unchanged,
  exactly as Rasa's ``except KeyError`` branch returns it, and nothing is logged.
- **Calls to the action server reuse one HTTP session.** Rasa's ``EndpointConfig``
  opens a new ``aiohttp`` session, and so a new TCP connection, for every request: 4% of
  the server's CPU under load. Endpoints with the same headers and credentials now share
  one session per event loop, whose idle connections are dropped after 2 s, before the
  action server's 5 s keep-alive ends, so a request never goes out on a connection the
  server is closing. The sessions are detached and closed when the process exits.
  They encode JSON bodies with ``bot.action_payload.encode_request`` (the domain once).
- **The prediction graph runs without dask.** For each message Rasa runs the NLU graph
  and the policy graph through ``dask.get``, which rebuilds a task graph and schedules
  it: 8% of the server's CPU went to dask itself. The graph's nodes are pure functions
  of their inputs, so the same nodes are called with the same inputs in dependency
  order, each once, and the result is the same dictionary.
- **A conversation's history is read once, not on every turn.** Rasa worked out a
  tracker's applied events and past states from its first event on each call, and the
  rule policy looked at every state of the conversation, so a turn cost grew with the
  conversation (``bot.tracker_history``, ``bot.rule_window``).
- **The action server gets the events its actions read** (``bot.action_payload``):
  the latest user turns and each slot's latest change before them, not every event.
- **A tracker is copied from its state**, not by replaying its events
  (``bot.tracker_copy``); Rasa copies it before every action.
- **Work whose result nothing uses is skipped** (``bot.turn_overhead``): building an
  empty domain before each message, copying the latest message for a debug log that
  is off.
"""

from __future__ import annotations

import asyncio
import atexit
import re
from functools import lru_cache
from typing import Any

import aiohttp
import jsonschema
import rasa.core.nlg.interpolator as interpolator
from rasa.core.actions.action import RemoteAction
from rasa.engine.exceptions import GraphRunError
from rasa.engine.graph import GraphSchema
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.shared.core.events import Event
from rasa.shared.utils.common import all_subclasses
from rasa.utils.endpoints import DEFAULT_REQUEST_TIMEOUT, EndpointConfig

from bot import (
    action_payload,
    http_coalesce,
    rule_window,
    tracker_copy,
    tracker_history,
    turn_overhead,
)

_installed = False


@lru_cache(maxsize=1)
def _response_validator() -> Any:
    schema = RemoteAction.action_response_format_spec()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


@lru_cache(maxsize=1)
def _quick_validators() -> tuple[Any, dict[str, Any]] | None:
    """The reply schema without per-event checks, and one validator per event type.

    ``None`` if the event branches are not each pinned to a distinct ``event`` name,
    i.e. if checking an event against its own branch could differ from ``oneOf``.
    """
    schema = RemoteAction.action_response_format_spec()
    item = schema["properties"]["events"]["items"]
    validator_class = jsonschema.validators.validator_for(schema)
    by_type: dict[str, Any] = {}
    for branch in item.get("oneOf", []):
        name = branch.get("properties", {}).get("event", {}).get("const")
        if name is None or name in by_type:
            return None
        own = {key: value for key, value in item.items() if key != "oneOf"}
        by_type[name] = validator_class({**own, "allOf": [branch]})
    outer = {**schema, "properties": {**schema["properties"],
                                      "events": {"type": "array", "items": {"type": "object"}}}}
    return validator_class(outer), by_type


def _quickly_valid(result: Any) -> bool:
    """True only if ``result`` is valid under Rasa's schema (False: not known)."""
    quick = _quick_validators()
    if quick is None or not isinstance(result, dict):
        return False
    outer, by_type = quick
    if not outer.is_valid(result):
        return False
    for event in result.get("events") or []:
        validator = by_type.get(event.get("event"))
        if validator is None or not validator.is_valid(event):
            return False
    return True


def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    """Rasa's check of an action-server reply, with the validators built once."""
    if _quickly_valid(result):
        return True
    try:
        _response_validator().validate(result)
    except jsonschema.ValidationError as error:
        error.message += (
            ". Failed to validate Action server response from API, make sure your "
            "response from the Action endpoint is valid."
        )
        raise
    return True


_rasa_resolve_by_type = Event.resolve_by_type


def _event_classes() -> dict[str, type[Event]]:
    table: dict[str, type[Event]] = {}
    for cls in all_subclasses(Event):
        table.setdefault(cls.type_name, cls)  # first match wins, as in Rasa's loop
    return table


def _resolve_by_type(
    type_name: str, default: type[Event] | None = None
) -> type[Event] | None:
    """Rasa's ``Event.resolve_by_type``, from a table instead of a class-tree walk."""
    found = _event_classes_table.get(type_name)
    if found is None:
        return _rasa_resolve_by_type(type_name, default)
    return found


_event_classes_table: dict[str, type[Event]] = {}

_PLACEHOLDER = re.compile(r"{([^\n{}]+?)}")  # Rasa's own placeholder pattern
_rasa_interpolate_text = interpolator.interpolate_text


def _interpolate_text(response: str, values: dict[str, Any]) -> str:
    """Rasa's ``interpolate_text``, returning at once what Rasa returns on a ``KeyError``."""
    if "{{" not in response and any(
        name not in values for name in _PLACEHOLDER.findall(response)
    ):
        return response
    return _rasa_interpolate_text(response, values)


IDLE_CONNECTION_SECONDS = 2.0  # under Sanic's default keep-alive of 5 s
_sessions: dict[tuple, tuple[asyncio.AbstractEventLoop, aiohttp.ClientSession]] = {}
_rasa_endpoint_session = EndpointConfig.session


class _OpenSession:
    """``async with`` gives the shared session and leaves it open afterwards."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def __aenter__(self) -> aiohttp.ClientSession:
        return self.session

    async def __aexit__(self, *_: object) -> None:
        return None


def _endpoint_session(self: EndpointConfig) -> Any:
    """The event loop's session for these headers and credentials (Rasa's, outside a loop)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return _rasa_endpoint_session(self)
    key = (id(loop), tuple(sorted(self.headers.items())),
           tuple(sorted(self.basic_auth.items())))
    known = _sessions.get(key)
    if known is None or known[0] is not loop or known[1].closed:
        auth = aiohttp.BasicAuth(**self.basic_auth) if self.basic_auth else None
        session = aiohttp.ClientSession(
            headers=self.headers, auth=auth, json_serialize=action_payload.encode_request,
            timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
            connector=aiohttp.TCPConnector(keepalive_timeout=IDLE_CONNECTION_SECONDS),
            # Rasa's session per request never carried a cookie to the next request; a
            # jar would only parse every response's headers for cookies nobody reads.
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        known = _sessions[key] = (loop, session)
    return _OpenSession(known[1])


def _close_sessions() -> None:
    """Close the shared sessions' connections at exit (their loop is no longer running)."""
    for _, session in _sessions.values():
        connector = session.connector
        session.detach()
        if connector is not None:
            connector._close()
    _sessions.clear()


_rasa_graph_run = DaskGraphRunner.run


def _minimal_schema(runner: DaskGraphRunner, targets: tuple[str, ...]) -> GraphSchema:
    """The part of the runner's graph the targets need, worked out once per target list."""
    known: dict[tuple[str, ...], GraphSchema] = runner.__dict__.setdefault("_minimal", {})
    if targets not in known:
        known[targets] = runner._graph_schema.minimal_graph_schema(list(targets))
    return known[targets]


def _run_graph(
    self: DaskGraphRunner, inputs: dict[str, Any] | None = None,
    targets: list[str] | None = None,
) -> dict[str, Any]:
    """``DaskGraphRunner.run``: each needed node called once, after the nodes it needs."""
    run_targets = tuple(targets or self._graph_schema.target_names)
    schema = _minimal_schema(self, run_targets)
    results: dict[str, Any] = {}
    for name, value in (inputs or {}).items():
        if isinstance(value, str) and value in schema.nodes:
            raise GraphRunError(
                f"Input value '{value}' clashes with a node name. Make sure that none of "
                f"the input names passed to the `run` method are the same as node names "
                f"in the graph schema."
            )
        results[name] = (name, value)

    def compute(name: str) -> Any:
        if name not in results:
            needed = [compute(dependency) for dependency in schema.nodes[name].needs.values()]
            results[name] = self._instantiated_nodes[name](*needed)
        return results[name]

    try:
        return dict(compute(target) for target in run_targets)
    except RuntimeError as error:
        raise GraphRunError("Error running runner.") from error


def install() -> None:
    """Apply every fix once per process."""
    global _installed
    if _installed:
        return
    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]
    _event_classes_table.update(_event_classes())
    Event.resolve_by_type = staticmethod(_resolve_by_type)  # type: ignore[method-assign]
    interpolator.interpolate_text = _interpolate_text
    EndpointConfig.session = _endpoint_session  # type: ignore[method-assign]
    atexit.register(_close_sessions)
    DaskGraphRunner.run = _run_graph  # type: ignore[method-assign]
    http_coalesce.install()
    tracker_history.install()
    rule_window.install()
    action_payload.install()
    tracker_copy.install()
    turn_overhead.install()
    _installed = True
