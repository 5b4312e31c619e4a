"""The rule policy is given only the states its rules can look at.

For each prediction Rasa's ``RulePolicy`` takes the states of the whole conversation,
formats all of them into a log string and walks all of them against every rule. A rule
holds at most a few states and is checked from the latest state backwards; a state older
than the longest rule never decides anything (``RulePolicy._is_rule_applicable`` accepts
any rule at a turn index beyond its length).

So the policy gets the last ``longest rule + 1`` states. The one extra state keeps the
only other use of the states the same: when no rule applies, the states' JSON becomes the
prediction's source key, which Rasa looks up among the rules' keys (to decide
``hide_rule_turn``); with more states than any rule has, that key is no rule's key,
exactly as the whole conversation's key was not.

The rules that fit those states (``RulePolicy._get_possible_keys``, two calls per
prediction, about a tenth of the Rasa server's CPU per turn) are filtered with each
rule's states reversed once per policy instead of on every check, and with the check
(``RulePolicy._is_rule_applicable``) written out in the loop. The first, widest step
(the latest state against every rule) goes through an index of the rules by their latest
state's previous action, then by its user intent: the rules of a group whose previous
action cannot match are dropped together, and of the others only those naming no intent
or the state's intent are checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rasa.core.featurizers.tracker_featurizers import MaxHistoryTrackerFeaturizer
from rasa.core.policies.rule_policy import (
    RULES,
    RULES_FOR_LOOP_UNHAPPY_PATH,
    RulePolicy,
)
from rasa.shared.core.constants import PREVIOUS_ACTION, SHOULD_NOT_BE_SET, USER
from rasa.shared.core.domain import Domain, State
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT

from bot import tracker_history

RASA_PREDICTION_STATES = RulePolicy._prediction_states
RASA_GET_POSSIBLE_KEYS = RulePolicy._get_possible_keys
RASA_IS_RULE_APPLICABLE = RulePolicy._is_rule_applicable


def window(policy: RulePolicy) -> int:
    """Number of latest states that can decide a rule: the longest rule's, plus one."""
    known = policy.__dict__.get("_bot_window")
    if known is None:
        lengths = [len(policy._rule_key_to_state(key))
                   for table in (RULES, RULES_FOR_LOOP_UNHAPPY_PATH)
                   for key in policy.lookup.get(table, {})]
        known = policy.__dict__["_bot_window"] = max(lengths, default=0) + 1
    return known


def _prediction_states(
    self: RulePolicy, tracker: DialogueStateTracker, domain: Domain,
    use_text_for_last_user_input: bool = False,
    rule_only_data: dict[str, Any] | None = None,
) -> list[State]:
    """``RulePolicy._prediction_states``, keeping the latest ``window`` states only."""
    featurizer = self.featurizer
    if (type(featurizer) is not MaxHistoryTrackerFeaturizer
            or featurizer.max_history is not None or type(self) is not RulePolicy):
        return RASA_PREDICTION_STATES(self, tracker, domain, use_text_for_last_user_input,
                                       rule_only_data)
    # RulePolicy learns from rule data: Rasa passes ignore_rule_only_turns=False and
    # keeps action_unlikely_intent; with no max_history nothing is sliced.
    states = tracker_history.past_states(tracker, domain, rule_only_data=rule_only_data,
                                         last=window(self))
    featurizer._choose_last_user_input([states], use_text_for_last_user_input)
    return states


def _get_possible_keys(self: RulePolicy, lookup: dict[str, str],
                       states: list[State]) -> set[str]:
    """``RulePolicy._get_possible_keys``: the rules whose states fit ``states``.

    The same sets built in the same order as Rasa's (``max`` over them breaks ties by
    that order), with each rule's states reversed once per policy.
    """
    if type(self) is not RulePolicy or RulePolicy._is_rule_applicable is not (
            RASA_IS_RULE_APPLICABLE):
        return RASA_GET_POSSIBLE_KEYS(self, lookup, states)
    rules: dict[str, tuple[State, ...]] = self.__dict__.setdefault("_bot_reversed_rules", {})
    matches = self._does_rule_match_state
    if not states:
        return set(lookup.keys())
    possible = _latest_state_keys(self, lookup, states[-1], rules)
    for turn, state in enumerate(reversed(states)):
        if turn == 0:
            continue
        if not possible:
            break  # Rasa's walk goes on with an empty set
        current_previous = state.get(PREVIOUS_ACTION)
        kept = set()
        for key in possible:
            rule = rules.get(key)
            if rule is None:
                rule = rules[key] = tuple(reversed(self._rule_key_to_state(key)))
            if turn >= len(rule):  # beyond the rule's length: applicable
                kept.add(key)
                continue
            rule_previous = rule[turn].get(PREVIOUS_ACTION)
            if rule_previous and current_previous:
                applicable = matches(rule[turn], state)
            else:  # applicable if both are conversation starts, not if only one is
                applicable = not rule_previous and not current_previous
            if applicable:
                kept.add(key)
        possible = kept
    return possible


@dataclass
class _RuleIndex:
    """A rule table's keys in the order Rasa's ``set(lookup.keys())`` walks them, grouped
    by the previous action of each rule's latest state (``None`` for a rule with no
    state or a conversation-start state)."""

    lookup: dict[str, str]
    position: dict[str, int]
    groups: dict[tuple | None, dict[str | None, list[str]]]  # ... then by user intent
    previous: dict[tuple | None, dict[str, Any]]


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def _intent(state: State) -> Any:
    return (state.get(USER) or {}).get(INTENT)


def _rule_index(self: RulePolicy, lookup: dict[str, str],
                rules: dict[str, tuple[State, ...]]) -> _RuleIndex:
    indexes: list[_RuleIndex] = self.__dict__.setdefault("_bot_rule_indexes", [])
    for index in indexes:
        if index.lookup is lookup and len(index.position) == len(lookup):
            return index
    order = list(set(lookup.keys()))
    index = _RuleIndex(lookup, {key: n for n, key in enumerate(order)}, {}, {})
    for key in order:
        rule = rules.get(key)
        if rule is None:
            rule = rules[key] = tuple(reversed(self._rule_key_to_state(key)))
        previous = rule[0].get(PREVIOUS_ACTION) if rule else None
        group = _freeze(previous) if previous else None
        intent = _intent(rule[0]) if rule else None
        if intent == SHOULD_NOT_BE_SET or not isinstance(intent, str):
            intent = None  # left to the full check
        index.groups.setdefault(group, {}).setdefault(intent, []).append(key)
        index.previous[group] = previous or {}
    indexes[:] = [i for i in indexes if i.lookup is not lookup] + [index]
    return index


def _latest_state_keys(self: RulePolicy, lookup: dict[str, str], state: State,
                       rules: dict[str, tuple[State, ...]]) -> set[str]:
    """The first step of Rasa's walk: the rules applicable to the latest state, as the
    set Rasa builds (the same keys added in the same order)."""
    index = _rule_index(self, lookup, rules)
    current_previous = state.get(PREVIOUS_ACTION)
    intent = _intent(state)
    kept: list[str] = []
    for group, by_intent in index.groups.items():
        if group is None:  # no state: applicable; a start state: only to a start state
            kept += [key for keys in by_intent.values() for key in keys
                     if not rules[key] or not current_previous]
        elif current_previous and self._does_rule_match_state(
                {PREVIOUS_ACTION: index.previous[group]}, state):
            # A rule naming an intent matches only a state with that intent.
            keys = by_intent.get(None, []) + (
                by_intent.get(intent, []) if isinstance(intent, str) else [])
            kept += [key for key in keys if self._does_rule_match_state(rules[key][0], state)]
    kept.sort(key=index.position.__getitem__)
    return set(kept)


def install() -> None:
    """Give every ``RulePolicy`` in this process the latest states only."""
    RulePolicy._prediction_states = _prediction_states  # type: ignore[method-assign]
    RulePolicy._get_possible_keys = _get_possible_keys  # type: ignore[method-assign]
