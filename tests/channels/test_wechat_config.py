"""Configuration: credentials.yml entries, ${ENV} references and environment fallbacks."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from rasa.core.channels.channel import register
from rasa.core.run import create_http_input_channels
from sanic import Sanic
from wechat_support import AES_KEY

from bot.channels.wechat import WeChatInput
from bot.channels.wecom import WeComInput

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
    for name in [*ENV, "WECHAT_API_BASE", "WECOM_API_BASE", "REDIS_URL"]:
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
