"""Safe parsing of WeChat callback XML: no DTDs, no entities, bounded size."""

from __future__ import annotations

from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

MAX_BODY_BYTES = 64 * 1024


class XmlRejected(ValueError):
    """The XML was refused; ``str(error)`` is a short reason safe to return to the caller."""


def parse_xml(data: bytes | str, max_bytes: int = MAX_BODY_BYTES) -> dict[str, str]:
    """Parse a flat ``<xml>…</xml>`` document into ``{tag: text}``.

    Rejects documents larger than ``max_bytes``, any DTD or entity declaration
    (XXE, billion laughs), malformed XML and a root other than ``<xml>``.
    Nested elements (e.g. ``ScanCodeInfo``) are ignored.
    """
    try:
        raw = data.encode("utf-8") if isinstance(data, str) else data
    except UnicodeEncodeError:
        raise XmlRejected("invalid UTF-8") from None
    if len(raw) > max_bytes:
        raise XmlRejected(f"body larger than {max_bytes} bytes")
    if not raw.strip():
        raise XmlRejected("empty body")
    try:
        root = fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise XmlRejected("DTD or entity declarations are not allowed") from None
    except (ParseError, ValueError):
        raise XmlRejected("malformed XML") from None
    if root.tag != "xml":
        raise XmlRejected("root element must be <xml>")
    return {child.tag: (child.text or "") for child in root if len(child) == 0}
