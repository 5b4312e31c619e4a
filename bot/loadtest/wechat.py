"""WeChat Official Account callbacks as the platform signs them, and a fake message API.

Plaintext mode: ``signature = sha1(sorted(token, timestamp, nonce))`` in the query, the
XML message in the body (see ``tests/channels/wechat_support.py`` for the same
construction, plus safe mode, used by the channel tests).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

TOKEN = "jiebangLoadTestToken2025"
APPID = "wx00loadtest000001"
APPSECRET = "loadtest-secret-not-real-0123456789"
ACCOUNT = "gh_loadtest0001"


def sign(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def callback(openid: str, content: str, msg_id: int, token: str = TOKEN) -> tuple[dict, bytes]:
    """Query parameters and body of one text-message callback."""
    timestamp, nonce = str(int(time.time())), secrets.token_hex(5)
    params = {"signature": sign(token, timestamp, nonce), "timestamp": timestamp,
              "nonce": nonce, "openid": openid}
    xml = (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{timestamp}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    )
    return params, xml.encode("utf-8")


def env(api_base: str) -> dict[str, str]:
    """The WECHAT_* settings the profile needs to accept these callbacks: plaintext mode,
    so no AES key (with one set, the channel refuses plaintext callbacks). Each attempt
    of :func:`callback` is freshly signed, as the channel refuses timestamps more than
    300 s old and a timestamp/nonce pair reused for another message."""
    return {"WECHAT_TOKEN": TOKEN, "WECHAT_APPID": APPID, "WECHAT_APPSECRET": APPSECRET,
            "WECHAT_API_BASE": api_base, "WECHAT_ENCODING_AES_KEY": ""}


class FakeApi:
    """api.weixin.qq.com for the load test: tokens, and customer-service messages
    recorded one JSON line each in ``log``."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return None

            def _json(self, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                query = parse_qs(urlsplit(self.path).query)
                if query.get("secret", [""])[0] != APPSECRET:
                    self._json({"errcode": 40013, "errmsg": "invalid appid"})
                    return
                self._json({"access_token": "LOADTEST_TOKEN", "expires_in": 7200})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                record = {"t": time.time(), "touser": body.get("touser"),
                          "text": (body.get("text") or {}).get("content", "")}
                with api.lock, api.log.open("a", encoding="utf-8") as out:
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
                self._json({"errcode": 0, "errmsg": "ok"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeApi:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
