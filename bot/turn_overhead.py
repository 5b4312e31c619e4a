"""Per-turn work of Rasa 3.6 whose result nothing uses, skipped (bot.rasa_fixes installs it).

- **An empty domain is built once, not on every message.** Before each message Rasa's
  processor asks ``domain.is_empty()``, which builds a whole empty ``Domain`` to compare
  dictionaries with (2% of the server's CPU under load). The empty domain's dictionary
  is now built on the first call and kept; the comparison is Rasa's.
- **The form copies the latest message for its debug log only when that log is on.**
  ``FormAction._validate_if_required`` passes ``copy.deepcopy(tracker.latest_message)``
  to a ``structlog`` debug call on every turn of a form (3% of the server's CPU); at
  Rasa's default level the call does nothing but the copy is still made. The method
  below is Rasa's, with the copy made only when debug logging is on.
- **A form's unique entity mappings are worked out once per domain.** While a form is
  active, ``action_extract_slots`` builds a new ``FormAction`` for every ``from_entity``
  mapping of every turn and asks whether the mapping is unique to the form, which JSON-
  encodes all of the form's mappings from the domain again (2% of the server's CPU under
  load). The answer depends on the form's name and the domain only; it is kept per form
  for the domain it was made from, and a new domain (another model) works it out again.
"""

from __future__ import annotations

import copy
from typing import Any

from rasa.core.actions import forms
from rasa.core.actions.forms import FormAction
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain

RASA_IS_EMPTY = Domain.is_empty
RASA_VALIDATE_IF_REQUIRED = FormAction._validate_if_required
RASA_UNIQUE_ENTITY_MAPPINGS = FormAction._create_unique_entity_mappings
_empty: list[dict[str, Any]] = []
_unique_mappings: dict[str, tuple[Domain, frozenset[str]]] = {}


def _is_empty(self: Domain) -> bool:
    """``Domain.is_empty``, comparing with an empty domain's dictionary built once."""
    if not _empty:
        _empty.append(Domain.empty().as_dict())
    return self.as_dict() == _empty[0]


def debug_logging_on() -> bool:
    """Whether the forms module's structlog logger emits debug events (a filtering logger
    below debug level has a no-op ``debug``)."""
    debug = getattr(type(forms.structlogger.bind()), "debug", None)
    return getattr(debug, "__name__", "") not in ("_nop", "_anop")


async def _validate_if_required(
    self: FormAction, tracker: Any, domain: Domain, output_channel: Any, nlg: Any,
) -> list:
    """Rasa's ``FormAction._validate_if_required``; the debug log's copy only when it logs."""
    needs_validation = not tracker.active_loop or (
        tracker.latest_action_name == ACTION_LISTEN_NAME
        and not tracker.is_active_loop_interrupted
    )
    if needs_validation:
        if debug_logging_on():
            forms.structlogger.debug(
                "forms.validation.required",
                tracker_latest_message=copy.deepcopy(tracker.latest_message),
            )
        return await self.validate(tracker, domain, output_channel, nlg)
    return await self.validate_slots({}, tracker, domain, output_channel, nlg)


def _create_unique_entity_mappings(self: FormAction, domain: Domain) -> frozenset[str]:
    """Rasa's ``_create_unique_entity_mappings``, kept per form name for one domain (Rasa
    only tests membership in it)."""
    known = _unique_mappings.get(self.name())
    if known is None or known[0] is not domain:
        known = _unique_mappings[self.name()] = (
            domain, frozenset(RASA_UNIQUE_ENTITY_MAPPINGS(self, domain)))
    return known[1]


def install() -> None:
    Domain.is_empty = _is_empty  # type: ignore[method-assign]
    FormAction._validate_if_required = _validate_if_required  # type: ignore[method-assign]
    FormAction._create_unique_entity_mappings = (  # type: ignore[method-assign]
        _create_unique_entity_mappings)
