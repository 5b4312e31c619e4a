"""Our fixes to Rasa internals behave exactly like the code they replace."""

from __future__ import annotations

import asyncio

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


INTERPOLATION_CASES = [
    ("商户号 {merchant_id}，原因 {unbind_reason}", {"merchant_id": "8", "unbind_reason": "其他"}),
    ('/inform{"unbind_reason":"更换设备"}', {"merchant_id": "8495"}),
    ("{missing} 与 {merchant_id}", {"merchant_id": "8495"}),
    ("{{merchant_id}} 原样", {"merchant_id": "8495"}),
    ("{{missing}} 原样", {}),
    ("没有占位符", {}),
    ("{0}", {}),
]


@pytest.mark.parametrize(("text", "values"), INTERPOLATION_CASES)
def test_response_interpolation_gives_what_rasa_gives(text: str, values: dict) -> None:
    assert rasa_fixes._interpolate_text(text, values) == rasa_fixes._rasa_interpolate_text(
        text, values
    )


def test_a_json_button_payload_is_left_alone_without_logging_an_exception(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    from rasa.core.nlg import interpolator

    button = {"title": "更换设备", "payload": '/inform{"unbind_reason":"更换设备"}'}
    response = {"text": "请选择原因", "buttons": [dict(button)]}
    assert interpolator.interpolate(response, {"merchant_id": "8495"})["buttons"] == [button]
    captured = capsys.readouterr()
    assert "KeyError" not in captured.out + captured.err + caplog.text


def test_action_server_calls_share_one_connection_and_keep_their_headers() -> None:
    """...and, as with Rasa's session per request, no cookie goes from one to the next."""
    from aiohttp import web
    from rasa.utils.endpoints import EndpointConfig

    peers: list[tuple[str, int]] = []
    seen_tokens: list[str | None] = []
    seen_cookies: list[str | None] = []

    async def webhook(request: web.Request) -> web.Response:
        peers.append(request.transport.get_extra_info("peername"))
        seen_tokens.append(request.headers.get("X-Token"))
        seen_cookies.append(request.headers.get("Cookie"))
        response = web.json_response({"echo": (await request.json())["n"]})
        response.set_cookie("session", "abc")
        return response

    async def scenario() -> list[object]:
        app = web.Application()
        app.router.add_post("/webhook", webhook)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        endpoint = EndpointConfig(f"http://localhost:{port}/webhook", headers={"X-Token": "t"})
        try:
            return [await endpoint.request(json={"n": n}) for n in range(3)]
        finally:
            rasa_fixes._close_sessions()
            await runner.cleanup()

    assert asyncio.run(scenario()) == [{"echo": 0}, {"echo": 1}, {"echo": 2}]
    assert len(set(peers)) == 1 and len(peers) == 3
    assert seen_tokens == ["t", "t", "t"]
    assert seen_cookies == [None, None, None]


def test_the_graph_runs_to_the_same_results_as_with_dask() -> None:
    """NLU and policy predictions of the trained model, run by dask and by our runner."""
    from rasa.core.agent import Agent
    from rasa.core.channels.channel import UserMessage
    from rasa.engine.exceptions import GraphRunError
    from rasa.shared.core.events import ActionExecuted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot.paths import ROOT

    agent = Agent.load(str(ROOT / "models" / "bot.tar.gz"))
    runner, metadata = agent.processor.graph_runner, agent.processor.model_metadata
    tracker = DialogueStateTracker("m1", agent.domain.slots)
    tracker.update(ActionExecuted("action_listen"))
    for text in ("我要解绑，商户号849581058120003", "要带什么材料", "asdfgh"):
        graphs = (
            ({"__message__": [UserMessage(text)], "__tracker__": tracker}, metadata.nlu_target),
            ({"__tracker__": tracker}, metadata.core_target),
        )
        for inputs, target in graphs:
            ours = runner.run(inputs=dict(inputs), targets=[target])[target]
            theirs = rasa_fixes._rasa_graph_run(runner, inputs=dict(inputs), targets=[target])
            if target == metadata.nlu_target:
                assert [m.as_dict() for m in ours] == [m.as_dict() for m in theirs[target]]
                parse = asyncio.run(agent.parse_message(text))
                tracker.update(UserUttered(text, parse["intent"], parse["entities"], parse))
            else:
                assert ours == theirs[target]
                assert ours.max_confidence > 0
    with pytest.raises(GraphRunError):
        runner.run(inputs={"x": metadata.nlu_target}, targets=[metadata.nlu_target])


def _replies() -> list[dict]:
    from rasa.shared.core.events import (
        ActionExecuted,
        ActiveLoop,
        BotUttered,
        FollowupAction,
        Restarted,
        SessionStarted,
        SlotSet,
        UserUttered,
    )

    good = [
        SlotSet("merchant_id", "849581058120003"), SlotSet("requested_slot", None),
        ActiveLoop("unbind_form"), ActiveLoop(None), FollowupAction("action_listen"),
        BotUttered("好的", {"buttons": [{"title": "是", "payload": "/affirm"}]}),
        UserUttered("你好", {"name": "greet", "confidence": 0.9}), ActionExecuted("x"),
        SessionStarted(), Restarted(),
    ]
    replies = [{"events": [e.as_dict() for e in good], "responses": [{"text": "好"}]}, VALID]
    bad_events = [
        {"event": "slot", "value": 1}, {"event": "nonsense"}, {"name": "x"},
        {"event": "user", "parse_data": "not an object"}, {"event": "action", "name": 3},
        {"event": "slot", "name": "a", "value": 1, "timestamp": "now"}, "not an event",
    ]
    replies += [{"events": [e]} for e in bad_events]
    replies += [{"events": []}, {}, {"responses": "x"}, {"responses": ["x"]}, INVALID[0]]
    return replies


def test_the_quick_check_never_passes_a_reply_rasas_schema_rejects() -> None:
    spec = RemoteAction.action_response_format_spec()
    quick_passes = 0
    for reply in _replies():
        try:
            jsonschema.validate(reply, spec)
            valid = True
        except jsonschema.ValidationError:
            valid = False
        quick = rasa_fixes._quickly_valid(reply)
        assert not quick or valid, reply
        quick_passes += quick
        if valid:
            assert _action()._validate_action_result(reply)
        else:
            with pytest.raises(jsonschema.ValidationError):
                _action()._validate_action_result(reply)
    assert quick_passes >= 3  # the usual replies take the quick path
