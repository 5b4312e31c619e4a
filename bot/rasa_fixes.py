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
  ``ValidationError``.
- **Event classes are looked up in a table.** ``Event.resolve_by_type`` walks every
  subclass of ``Event`` (with an ``inspect.isabstract`` check each) for each event it
  deserialises: every event of a conversation each time its tracker is loaded. The
  table is built from the same walk; a name not in it (a class defined later) falls
  back to Rasa's own lookup.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import jsonschema
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.events import Event
from rasa.shared.utils.common import all_subclasses

_installed = False


@lru_cache(maxsize=1)
def _response_validator() -> Any:
    schema = RemoteAction.action_response_format_spec()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    """Rasa's check of an action-server reply, with the validator built once."""
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


def install() -> None:
    """Apply every fix once per process."""
    global _installed
    if _installed:
        return
    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]
    _event_classes_table.update(_event_classes())
    Event.resolve_by_type = staticmethod(_resolve_by_type)  # type: ignore[method-assign]
    _installed = True
