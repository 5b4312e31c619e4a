"""Requests from the Rasa server go out as one write: headers and body together.

aiohttp 3.9 (Rasa pins it below 3.10) writes a request's headers at once and its body
from a task on the next turn of the event loop: two ``send`` calls per action-server
request, and the action server wakes twice (headers, then body). aiohttp 3.12 coalesces
the two (aio-libs/aiohttp#10991); ``install`` does the same for requests: the headers wait
for the body's first bytes, or for the end of a request without a body. A request that
expects ``100-continue`` needs its headers before its body, and a server's response (an
aiohttp server in the same process, a stream that is prepared before it has data) is
not a request: both are written at once, as before.
"""

from __future__ import annotations

from typing import Any

from aiohttp.http_writer import StreamWriter, _serialize_headers

_PENDING = "_jiebang_pending_headers"
_rasa_write_headers = StreamWriter.write_headers
_rasa_write = StreamWriter._write
_rasa_write_eof = StreamWriter.write_eof


async def _write_headers(self: StreamWriter, status_line: str, headers: Any) -> None:
    if self._on_headers_sent is not None:
        await self._on_headers_sent(headers)
    buffer = _serialize_headers(status_line, headers)
    if status_line.startswith("HTTP/") or "100-continue" in headers.get("Expect", "").lower():
        _rasa_write(self, buffer)
    else:
        setattr(self, _PENDING, buffer)


def _write(self: StreamWriter, chunk: bytes) -> None:
    pending = getattr(self, _PENDING, None)
    if pending is not None:
        setattr(self, _PENDING, None)
        chunk = pending + chunk
    _rasa_write(self, chunk)


async def _write_eof(self: StreamWriter, chunk: bytes = b"") -> None:
    if getattr(self, _PENDING, None) is not None and not (chunk or self.chunked or self._compress):
        _write(self, b"")  # a request without a body: its headers are all of it
    await _rasa_write_eof(self, chunk)


def install() -> None:
    """Coalesce every aiohttp request of this process."""
    StreamWriter.write_headers = _write_headers  # type: ignore[method-assign]
    StreamWriter._write = _write  # type: ignore[method-assign]
    StreamWriter.write_eof = _write_eof  # type: ignore[method-assign]
