"""Configuration: credentials.yml entries, ${ENV} references and environment fallbacks."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
import yaml
from rasa.core.channels.channel import register
from rasa.core.run import create_http_input_channels
from sanic import Sanic
from wechat_support import AES_KEY

from bot.channels.wechat import WeChatInput
from bot.channels.wechat_base import PUBLISH_TIMEOUT
from bot.channels.wechat_inbound import load_menu
from bot.channels.wecom import WeComInput
from bot.paths import ROOT

SNIPPET = """
rest:
bot.channels.wechat.WeChatInput:
  reply_timeout: 4.0
bot.channels.wecom.WeComInput:
  reply_timeout: 4.0
"""

ENV = {
    "WECHAT_TOKEN": "tok",
    "WECHAT_ENCODING_AES_KEY": AES_KEY,
    "WECHAT_APPID": "wxapp",
    "WECHAT_APPSECRET": "appsecret",
    "WECOM_TOKEN": "tok2",
    "WECOM_ENCODING_AES_KEY": AES_KEY,
    "WECOM_CORP_ID": "wwcorp",
    "WECOM_SECRET": "corpsecret",
    "WECOM_AGENT_ID": "1000002",
}


@pytest.fixture
def no_wechat_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in [
        *ENV,
        "WECHAT_API_BASE",
        "WECOM_API_BASE",
        "REDIS_URL",
        "WECHAT_ALLOW_PLAINTEXT",
        "PROXIES_COUNT",
    ]:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_rasa_loads_both_channels_from_credentials_yml(
    tmp_path: Path, no_wechat_env: pytest.MonkeyPatch
) -> None:
    for name, value in ENV.items():
        no_wechat_env.setenv(name, value)
    no_wechat_env.setenv("WECHAT_API_BASE", "http://127.0.0.1:9/")
    credentials = tmp_path / "credentials.yml"
    credentials.write_text(SNIPPET, encoding="utf-8")
    channels = create_http_input_channels(None, str(credentials))
    by_name = {channel.name(): channel for channel in channels}
    wechat, wecom = by_name["wechat"], by_name["wecom"]
    assert isinstance(wechat, WeChatInput) and isinstance(wecom, WeComInput)
    assert wechat.missing_settings() == [] and wecom.missing_settings() == []
    assert wechat.settings.api_base == "http://127.0.0.1:9"
    assert wecom.settings.api_base == "https://qyapi.weixin.qq.com"
    assert wechat.settings.redis_url is None
    assert wechat.menu["UNBIND_REQUEST"] == "/request_unbind"

    app = Sanic(f"wechat_config_{uuid.uuid4().hex}", configure_logging=False)
    register(channels, app, route="/webhooks/")
    app.router.finalize()
    paths = {route.path for route in app.router.routes}
    assert {"webhooks/wechat/webhook", "webhooks/wecom/webhook"} <= paths


def test_missing_environment_leaves_channels_disabled_not_crashing(
    no_wechat_env: pytest.MonkeyPatch,
) -> None:
    wechat = WeChatInput.from_credentials(None)
    wecom = WeComInput.from_credentials({})
    assert wechat.missing_settings() == ["WECHAT_TOKEN", "WECHAT_APPID", "WECHAT_APPSECRET"]
    assert "WECOM_AGENT_ID" in wecom.missing_settings()
    assert wechat.settings.api_base == "https://api.weixin.qq.com"


def test_env_references_and_explicit_values(no_wechat_env: pytest.MonkeyPatch) -> None:
    no_wechat_env.setenv("MY_WECHAT_TOKEN", "from-env")
    no_wechat_env.setenv("WECHAT_APPID", "wx-env")
    no_wechat_env.setenv("REDIS_URL", "redis://127.0.0.1:6379/3")
    channel = WeChatInput.from_credentials(
        {
            "token": "${MY_WECHAT_TOKEN}",
            "secret": "explicit",
            "reply_timeout": 2.5,
            "api_base": "http://localhost:1234/",
        }
    )
    assert (channel.token, channel.appid, channel.secret) == ("from-env", "wx-env", "explicit")
    assert channel.reply_timeout == 2.5
    assert channel.settings.api_base == "http://localhost:1234"
    assert channel.settings.redis_url == "redis://127.0.0.1:6379/3"
    assert channel.crypto is None


def test_bad_keys_are_refused_with_a_clear_reason(no_wechat_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="43-character"):
        WeChatInput.from_credentials(
            {"token": "t", "appid": "a", "secret": "s", "encoding_aes_key": "short"}
        )
    with pytest.raises(ValueError, match="numeric AgentId"):
        WeComInput.from_credentials({"agent_id": "abc"})


def test_credentials_yml_reply_timeout_is_about_four_seconds(
    no_wechat_env: pytest.MonkeyPatch,
) -> None:
    """The passive-reply budget: close to 4 s, and with the outcome write still under
    WeChat's 5 s. No secret is written in the file."""
    credentials = yaml.safe_load((ROOT / "credentials.yml").read_text(encoding="utf-8"))
    for cls in (WeChatInput, WeComInput):
        entry = credentials[f"{cls.__module__}.{cls.__name__}"]
        assert set(entry) <= {"reply_timeout"}, entry
        timeout = cls.from_credentials(entry).reply_timeout
        assert 3.5 <= timeout <= 4.0
        assert timeout + PUBLISH_TIMEOUT < 5.0


def test_every_menu_payload_is_an_intent_of_the_domain() -> None:
    menu = load_menu()  # data/wechat_menu.yml
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    intents = {i if isinstance(i, str) else next(iter(i)) for i in domain["intents"]}
    assert len(menu) >= 5
    for key, payload in menu.items():
        match = re.fullmatch(r"/(\w+)(\{.*\})?", payload)
        assert match, f"{key}: {payload!r} is not an intent payload"
        assert match.group(1) in intents, f"{key}: {match.group(1)} is not in domain.yml"


def test_menu_keys_in_the_docs_exist_in_the_menu_file() -> None:
    docs = (ROOT / "docs" / "wechat.md").read_text(encoding="utf-8")
    keys = set(re.findall(r'"key": "(\w+)"', docs))
    assert keys and keys <= set(load_menu())


@pytest.mark.parametrize(
    ("value", "allowed"), [(None, False), ("0", False), ("1", True), ("true", True)]
)
def test_plaintext_is_refused_in_safe_mode_unless_allowed(
    no_wechat_env: pytest.MonkeyPatch, value: str | None, allowed: bool
) -> None:
    for name, setting in ENV.items():
        no_wechat_env.setenv(name, setting)
    if value is not None:
        no_wechat_env.setenv("WECHAT_ALLOW_PLAINTEXT", value)
    assert WeChatInput.from_credentials(None).allow_plaintext is allowed
    assert WeChatInput.from_credentials({"allow_plaintext": "yes"}).allow_plaintext


def test_proxies_count_comes_from_the_environment(no_wechat_env: pytest.MonkeyPatch) -> None:
    assert WeChatInput.from_credentials(None).settings.proxies_count == 0
    no_wechat_env.setenv("PROXIES_COUNT", "1")
    assert WeChatInput.from_credentials(None).settings.proxies_count == 1
    assert WeComInput.from_credentials(None).settings.proxies_count == 1
