"""Our fixes to Rasa internals behave exactly like the code they replace."""

from __future__ import annotations

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.events import Event
from rasa.shared.utils.common import all_subclasses

from bot import rasa_fixes

rasa_fixes.install()
VALID = {
    "events": [{"event": "slot", "name": "merchant_id", "value": "849581058120003"}],
    "responses": [{"text": "好的", "buttons": [{"title": "确认", "payload": "/affirm"}]}],
}
INVALID = [
    {"events": "not a list"},
    {"events": [{"no_event_key": 1}]},
    {"events": [{"event": "slot", "timestamp": "yesterday"}]},
]


def _action() -> RemoteAction:
    return RemoteAction("action_x", None)


def test_action_server_replies_are_judged_as_rasa_judges_them() -> None:
    spec = RemoteAction.action_response_format_spec()
    assert _action()._validate_action_result(VALID)
    jsonschema.validate(VALID, spec)
    for reply in INVALID:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(reply, spec)
        with pytest.raises(jsonschema.ValidationError, match="Action server response"):
            _action()._validate_action_result(reply)


def test_every_event_type_resolves_to_the_class_rasa_finds() -> None:
    names = {cls.type_name for cls in all_subclasses(Event)}
    assert len(names) > 20
    for name in names:
        expected = next(c for c in all_subclasses(Event) if c.type_name == name)
        assert Event.resolve_by_type(name) is expected
    assert Event.resolve_by_type("nonsense", default=Event) is Event
    with pytest.raises(ValueError, match="Unknown event name"):
        Event.resolve_by_type("nonsense")


def test_install_is_idempotent() -> None:
    before = Event.resolve_by_type
    rasa_fixes.install()
    assert Event.resolve_by_type is before
