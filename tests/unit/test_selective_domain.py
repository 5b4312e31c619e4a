"""The domain goes only to the actions that read it (``enable_selective_domain``).

Rasa sends the whole domain (10 KB of JSON) with every call to the action server unless
the endpoint sets ``enable_selective_domain``; then only ``validate_*`` actions and those
marked ``send_domain`` get it. These tests read the real endpoints files and domain and
check, through Rasa's own request builder, who gets the domain, and that every action of
ours that no longer gets it never reads it.
"""

from __future__ import annotations

import ast
import inspect
import textwrap

import pytest
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import read_endpoint_config
from rasa_sdk.executor import ActionExecutor
from rasa_sdk.forms import FormValidationAction

from bot import rasa_fixes
from bot.paths import ROOT

rasa_fixes.install()
VALIDATORS = {"validate_unbind_form", "validate_ownership_form"}


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


@pytest.fixture(scope="module")
def executor() -> ActionExecutor:
    executor = ActionExecutor()
    executor.register_package("actions")
    return executor


def _custom_actions(domain: Domain) -> set[str]:
    return {name for name in domain.user_actions if name not in domain.responses}


def _tracker() -> DialogueStateTracker:
    return DialogueStateTracker.from_events("t", [
        ActionExecuted("action_listen"), UserUttered("我要解绑", {"name": "request_unbind"}),
    ])


@pytest.mark.parametrize("endpoints", ["endpoints.yml", "deploy/endpoints.prod.yml"])
def test_only_the_form_validators_are_sent_the_domain(
    endpoints: str, domain: Domain, monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("ACTION_ENDPOINT_URL", "TRACKER_STORE_URL", "REDIS_URL"):
        monkeypatch.setenv(name, "http://127.0.0.1:5055/webhook")
    endpoint = read_endpoint_config(str(ROOT / endpoints), "action_endpoint")
    assert endpoint is not None
    sent = {name for name in _custom_actions(domain)
            if "domain" in RemoteAction(name, endpoint)._action_call_format(_tracker(), domain)}
    assert sent == VALIDATORS
    # The validators get exactly what Rasa sends without the setting.
    call = RemoteAction("validate_unbind_form", endpoint)._action_call_format(_tracker(), domain)
    assert call["domain"] == domain.as_dict()
    everyone = RemoteAction("action_answer_topic", None)._action_call_format(_tracker(), domain)
    assert everyone["domain"] == domain.as_dict()


def _reads_domain(cls: type, package: str = "actions") -> bool:
    """Whether any method that ``cls`` defines or inherits from ``package`` reads ``domain``."""
    for klass in cls.__mro__:
        if not klass.__module__.startswith(package):
            continue
        tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        if any(isinstance(node, ast.Name) and node.id == "domain"
               and isinstance(node.ctx, ast.Load) for node in ast.walk(tree)):
            return True
    return False


def test_no_action_without_the_domain_reads_it(domain: Domain, executor: ActionExecutor) -> None:
    names = set(executor.actions)
    assert _custom_actions(domain) == names
    for name in names - VALIDATORS:
        cls = type(executor.actions[name].__self__)
        assert not issubclass(cls, FormValidationAction), name
        assert not _reads_domain(cls), name
    # The check can fail: the validators' rasa_sdk base reads the domain it is sent.
    assert all(issubclass(type(executor.actions[n].__self__), FormValidationAction)
               for n in VALIDATORS)


class _Reader:
    def run(self, dispatcher: object, tracker: object, domain: dict) -> list:
        return list(domain.get("slots", {}))


class _Ignorer:
    def run(self, dispatcher: object, tracker: object, domain: dict) -> list:
        return []


def test_the_domain_reading_check_finds_a_read() -> None:
    assert _reads_domain(_Reader, __name__)
    assert not _reads_domain(_Ignorer, __name__)
