"""Secrets typed into every channel of the running bot are found nowhere afterwards.

Passwords, codes, PINs, bank card and ID-card numbers go in through REST, socket.io
(via the web app's proxy), a signed WeChat Official Account callback (plaintext and
safe mode) and an encrypted WeCom callback; an agent then searches for them in the
console. The bot must warn each time; then every stored event (tracker DB), every row
of every table of the ticket DB (console audit included) and every log line of every
process (Rasa at DEBUG level, the action server, the web app) are read back.
Merchant and mobile numbers may appear in logs only masked.
"""

from __future__ import annotations

import asyncio
import random
import re
import sqlite3
import time
import uuid
from pathlib import Path
from urllib.parse import quote, quote_plus, unquote_plus

import pytest
import requests
from sqlalchemy import inspect, text

from bot.db import make_engine
from tests.channels.wechat_support import (
    OfficialAccount,
    WeComServer,
    text_xml,
    wecom_xml,
    xml_fields,
)
from tests.web.test_socketio_channel import Client, run

pytestmark = pytest.mark.server
WARNING = "不要在聊天中发送密码"
MERCHANT = "849581058120093"
PHONE = "13912340093"


def luhn_card(rng: random.Random, prefix: str = "62", size: int = 19) -> str:
    """A Luhn-valid card number: 19-digit UnionPay unless told otherwise."""
    body = prefix + "".join(rng.choice("0123456789") for _ in range(size - 1 - len(prefix)))
    total = 0
    for i, ch in enumerate(reversed(body)):
        n = int(ch)
        if i % 2 == 0:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return body + str((10 - total % 10) % 10)


def id_card(rng: random.Random) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    body = f"110105{rng.randint(1950, 2000)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    body += f"{rng.randint(0, 999):03d}"
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]


def secrets_for(channel: str) -> dict[str, str]:
    """Distinct secrets per channel, and the message that carries each."""
    rng = random.Random(channel + uuid.uuid4().hex)
    password = f"Zq{rng.randint(10**6, 10**7)}#{channel[:2]}"
    code = str(rng.randint(100000, 999999))
    pin = str(rng.randint(1000, 9999))
    card = luhn_card(rng)
    spaced = " ".join(card[i : i + 4] for i in range(0, len(card), 4))
    visa = luhn_card(rng, "4", 16)  # no UnionPay prefix: only 卡 says it is a card
    hyphened = "-".join(visa[i : i + 4] for i in range(0, len(visa), 4))
    ident = id_card(rng)
    traditional = channel.startswith("we")  # WeChat users often type 驗證碼
    slipped = f"Mm{rng.randint(10**6, 10**7)}"  # cue typed in pinyin / with a homophone
    slipped_code = str(rng.randint(10**7, 10**8 - 1))[:6]
    return {
        slipped: f"我的mima是{slipped}",
        slipped_code: f"蜜码不对，验证玛 {slipped_code}",
        password: f"我的登录密码是 {password}",
        code: f"短信{'驗證碼' if traditional else '验证码'}是{code}，帮我看看",
        pin: f"PIN码 {pin}",
        card: f"银行卡号 {spaced}",
        visa: f"我的卡 {hyphened} 被扣款了",
        ident: f"身份证号{ident}",
    }


def rest(bot, sender: str, message: str) -> str:
    reply = requests.post(bot.rest_url, json={"sender": sender, "message": message}, timeout=30)
    reply.raise_for_status()
    return "\n".join(m.get("text", "") for m in reply.json())


def socketio(bot, messages: list[str]) -> list[str]:
    async def scenario() -> list[str]:
        client = await Client.connect(bot.web_url)
        session = await client.session(None)
        answers = []
        for n, message in enumerate(messages):
            before = len(client.replies)
            await client.call("user_uttered", {
                "message": message, "session_id": session,
                "metadata": {"client_id": f"c{n}", "display": message},
            })
            answers.append("\n".join(r.get("text", "") for r in client.replies[before:]))
        await client.ws.close()
        return answers

    return run(scenario())


def wechat(bot, message: str, encrypted: bool) -> str:
    account = OfficialAccount()
    xml = text_xml(message, random.randint(10**18, 10**19))
    callback = account.encrypted(xml) if encrypted else account.plaintext(xml)
    reply = requests.post(f"{bot.rasa_url}/webhooks/wechat/webhook", params=callback.params,
                          data=callback.body, timeout=30)
    assert reply.status_code == 200, reply.text
    fields = account.open_reply(reply.content) if encrypted else xml_fields(reply.content)
    return fields["Content"]


def wecom(bot, message: str) -> str:
    server = WeComServer()
    xml = wecom_xml("text", {"Content": message}, random.randint(10**18, 10**19))
    callback = server.encrypted(xml)
    reply = requests.post(f"{bot.rasa_url}/webhooks/wecom/webhook", params=callback.params,
                          data=callback.body, timeout=30)
    assert reply.status_code == 200, reply.text
    return server.open_reply(reply.content)["Content"]


def console(bot, path: str) -> requests.Response:
    headers = {"Authorization": f"Bearer {bot.console_token}", "X-Agent": quote("安全测试")}
    return requests.get(f"{bot.web_url}{path}", headers=headers, timeout=30)


def _stored_text(row) -> str:
    """A row's text and other non-numeric values. What a merchant types is stored as
    text; the numbers the databases make up (row ids, counts, epoch timestamps) are left
    out, since a 4-digit PIN can equal a row id such as 3802 by chance."""
    return repr(tuple(v for v in row if not isinstance(v, (int, float))))


def everything_stored(bot) -> str:
    """Every event of the tracker DB and every row of every ticket-DB table, as text."""
    with sqlite3.connect(bot.tracker_db) as db:
        parts = [_stored_text(row) for row in db.execute("select * from events")]
    engine = make_engine(bot.tickets_url)
    with engine.connect() as conn:
        for table in inspect(engine).get_table_names():
            parts += [_stored_text(row) for row in conn.execute(text(f'select * from "{table}"'))]
    engine.dispose()
    return "\n".join(parts)


def every_log_line(log_dir: Path) -> str:
    logs = sorted(log_dir.glob("*.log"))
    assert {p.stem for p in logs} >= {"rasa", "actions", "web"}
    return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in logs)


# Identifiers the system makes up itself: a 4-digit PIN can match part of a hex message
# id ("e1182a") or a date by chance, so these are taken out before digit secrets are sought.
_GENERATED_RE = re.compile(
    r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}"  # uuids, dashed or not
    r"|(?<![0-9A-Za-z])(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{8,}(?![0-9A-Za-z])"  # hex ids
    r"|\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?"  # timestamps
    r"|\d{4}-\d{2}-\d{2}"
)


# Between the digits of a number: nothing, or a space, hyphen or "+" (a form-encoded
# space), typed or percent-encoded.
_DIGIT_GAP = r"(?:[ +\-]|%20|%2[BbDd])?"


def places(secret: str, haystack: str) -> list[tuple[str, re.Match[str]]]:
    """Where ``secret`` is in ``haystack``: as typed, percent-encoded (URLs: the
    console's query, access logs) or, for a number of 6 or more digits, with spaces or
    hyphens anywhere between its digits (a card typed "6222 0212 …" must not hide
    behind its grouping). A digit secret only counts as a number of its own; short ones
    (PINs) only as typed. Each place is (the text searched, the match)."""
    texts = (haystack, unquote_plus(haystack))
    if secret.isdigit():
        body = _DIGIT_GAP.join(secret) if len(secret) >= 6 else secret
        # "_" and "-" join id parts too (socket.io session ids are URL-safe base64).
        pattern = rf"(?:(?<![\w-])|(?<=%[0-9A-Fa-f]{{2}})){body}(?![\w-])"
        texts = tuple(_GENERATED_RE.sub(" ", text) for text in texts)
    else:
        forms = {secret, quote(secret, safe=""), quote_plus(secret)}
        pattern = "|".join(map(re.escape, forms))
    return [(text, m) for text in texts for m in re.finditer(pattern, text, re.ASCII)]


def found(secret: str, haystack: str) -> bool:
    """``secret`` is somewhere in ``haystack`` (see :func:`places`)."""
    return bool(places(secret, haystack))


def context(secret: str, haystack: str) -> str:
    """The text around each place ``secret`` was found, for the failure message."""
    return " | ".join(text[max(0, m.start() - 80): m.end() + 40]
                      for text, m in places(secret, haystack))[:1500]


def _around(needle: str, haystack: str) -> str:
    """The raw text around the first place ``needle`` occurs."""
    at = haystack.find(needle)
    return haystack[max(0, at - 200): at + 80]


def test_found_ignores_ids_and_dates_but_not_the_secret() -> None:
    assert not found("1182", "message_id 5e1182af3c0d4e2b9a1f0c3d2e4b5a69 at 2026-11-29")
    assert not found("2026", "created 2026-11-29 01:33:55.704019")
    assert not found("1241", "sender Xk2_1241-abQ socket.io session")
    assert found("1182", "PIN码 1182")
    assert found("1182", '{"text": "PIN\u7801 1182"}')
    assert found("552301", "验证码552301")
    card = "6222021234567890128"
    assert found(card, "银行卡号 6222 0212 3456 7890 128")
    assert found(card, "card 6222-0212-3456-7890-128.")
    assert found(card, "GET /api/answers?q=" + quote("银行卡号 6222 0212 3456 7890 128"))
    assert found(card, "q=" + quote_plus("卡 6222 0212 3456 7890 128"))
    assert found("Zq1234567#re", "q=%E6%98%AF+Zq1234567%23re")
    assert found("Zq1234567#re", "q=" + quote("密码是 Zq1234567#re"))
    assert not found(card, "6222 0212 3456 7890 1280")  # a longer number is another one
    assert not found("1182", "at 11 82 ms")  # short secrets only as typed
    # Row ids and epoch timestamps are not what anyone typed; text columns still count.
    assert not found("3802", _stored_text((3802, "ZhangSan", "user", 1796663036.3802)))
    assert found("3802", _stored_text((7, '{"text": "PIN码 3802"}', 1.5)))


def test_no_secret_typed_into_any_channel_is_stored_or_logged(running_bot) -> None:
    # Rows other tests stored in this session's databases (e.g. a random "last 4 digits
    # of the phone") are not this test's business: only rows written from here on count.
    earlier = set(everything_stored(running_bot).split("\n"))
    typed: dict[str, str] = {}

    for secret, message in secrets_for("rest").items():
        typed[secret] = message
        assert WARNING in rest(running_bot, f"sec-rest-{uuid.uuid4().hex[:8]}", message)

    web = secrets_for("socketio")
    typed.update({s: m for s, m in web.items()})
    for answer in socketio(running_bot, list(web.values())):
        assert WARNING in answer

    for n, (secret, message) in enumerate(secrets_for("wechat").items()):
        typed[secret] = message
        assert WARNING in wechat(running_bot, message, encrypted=bool(n % 2))

    for secret, message in secrets_for("wecom").items():
        typed[secret] = message
        assert WARNING in wecom(running_bot, message)

    # An agent looks the secrets up in the console: the audit log stores the query.
    for message in list(typed.values())[:5]:
        assert console(running_bot, f"/api/answers?q={quote(message)}").status_code == 200

    # A whole unbind request, so merchant and mobile numbers pass through every process.
    sender = f"sec-form-{uuid.uuid4().hex[:8]}"
    rest(running_bot, sender, "我要解绑")
    rest(running_bot, sender, MERCHANT)
    rest(running_bot, sender, '/inform{"unbind_reason":"更换设备"}')
    rest(running_bot, sender, "SN8A2B3C4D5")
    rest(running_bot, sender, PHONE)
    assert re.search(r"UB-\d{8}-\d{4}", rest(running_bot, sender, "确认提交"))
    assert console(running_bot, f"/api/tickets?merchant={MERCHANT}").status_code == 200
    transcript = console(running_bot, f"/api/conversations/{sender}")
    assert transcript.status_code == 200

    time.sleep(1.0)  # let the processes flush their logs
    stored = "\n".join(
        row for row in everything_stored(running_bot).split("\n") if row not in earlier
    )
    logs = every_log_line(running_bot.log_dir)
    assert MERCHANT in stored and PHONE in stored  # the ticket itself needs them
    for secret, message in typed.items():
        assert not found(secret, stored), f"{message!r} was stored: {context(secret, stored)}"
        assert not found(secret, logs), f"{message!r} was logged: {context(secret, logs)}"
    assert "[已隐藏]" in stored  # the conversations were stored, minus the secrets

    assert MERCHANT not in logs and PHONE not in logs
    assert "849581******093" in logs or "139****0093" in logs  # logged, but masked
    unmasked = re.findall(r"(?<![\d.])(?:\d{15}|1[3-9]\d{9})(?!\d)", logs)
    assert not unmasked, (
        f"unmasked merchant/mobile numbers in logs: {unmasked[:5]}: {_around(unmasked[0], logs)}"
    )


def test_secrets_in_socketio_metadata_are_not_stored(running_bot) -> None:
    code = str(random.randint(100000, 999999))

    async def scenario() -> str:
        client = await Client.connect(running_bot.web_url)
        session = await client.session(None)
        await client.call("user_uttered", {
            "message": "谢谢", "session_id": session,
            "metadata": {"client_id": "m1", "display": f"验证码 {code}"},
        })
        await client.ws.close()
        return session

    session = run(scenario())
    asyncio.run(asyncio.sleep(0.2))
    with sqlite3.connect(running_bot.tracker_db) as db:
        rows = db.execute("select data from events where sender_id = ?", (session,)).fetchall()
    assert rows and not any(code in row[0] for row in rows)
