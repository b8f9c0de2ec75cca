"""Open311 GeoReport v2 errors, one renderer for the routes and for the middleware in front of them.

Every error under /open311 is the specification's list: `[{"code": 413, "description": "..."}]`,
or `<errors><error><code>413</code><description>...</description></error></errors>`, in the format
the URL's suffix asks for (`.xml`; anything else is JSON). The body limit and the rate limiter
answer before any route runs, so they render their errors here too.
"""

from __future__ import annotations

import json
from typing import Literal
from xml.etree import ElementTree as ET

__all__ = ["JSON_TYPE", "XML_TYPE", "error_document", "format_of", "is_open311"]

JSON_TYPE = "application/json; charset=utf-8"
XML_TYPE = "text/xml; charset=utf-8"


def is_open311(path: str) -> bool:
    """Whether a request path is under /open311, where errors take the specification's shape."""
    return path == "/open311" or path.startswith("/open311/")


def format_of(path: str) -> Literal["json", "xml"]:
    """The format a path's suffix asks for: `requests.xml` is XML, anything else JSON."""
    return "xml" if path.endswith(".xml") else "json"


def error_document(fmt: str, code: int, description: str) -> tuple[bytes, str]:
    """A GeoReport v2 error list of one error as (body, content type)."""
    if fmt == "xml":
        root = ET.Element("errors")
        error = ET.SubElement(root, "error")
        ET.SubElement(error, "code").text = str(code)
        ET.SubElement(error, "description").text = description
        xml = ET.tostring(root, encoding="unicode")
        return f'<?xml version="1.0" encoding="UTF-8"?>\n{xml}'.encode(), XML_TYPE
    body = json.dumps([{"code": code, "description": description}], ensure_ascii=False, separators=(",", ":"))
    return body.encode(), JSON_TYPE
