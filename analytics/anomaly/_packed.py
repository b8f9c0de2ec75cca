"""A detector's saved state as one compact string: what analytics writes on stop and reads on start.

Kept apart from the detector, which only says what its state is (`Detector.state()`); how that is
stored is this module's one job.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Mapping
from typing import Any

import orjson

__all__ = ["pack_state", "unpack_state"]

_PACKED = "z1:"  # a packed state: "z1:" + base64 of the zlib-compressed JSON of `Detector.state()`
_MAX_STATE_BYTES = 16 * 1024 * 1024  # unpacked; a real one is tens of kilobytes


def pack_state(state: Mapping[str, Any]) -> str:
    """A detector's state as one compact string, for saving: the same numbers to the last bit.

    The state is mostly floats (the cycles, the hours' spreads, the readings held back), which JSON
    writes out in up to 17 digits each: an eight-channel device (a SKAB testbed's) saved about 100 KB
    as plain JSON, over the 64 KiB a series may keep, and about 40 KB packed. JSON's shortest
    round-trip floats keep every value exact: the state read back is the one saved, number for number.
    """
    return _PACKED + base64.b64encode(zlib.compress(orjson.dumps(dict(state)), 6)).decode("ascii")


def unpack_state(state: Mapping[str, Any] | str) -> dict[str, Any]:
    """`Detector.state()` from what `pack_state` made (a plain state, as saved before, passes through)."""
    if not isinstance(state, str):
        return dict(state)
    if not state.startswith(_PACKED):
        raise ValueError("not a packed detector state")
    try:
        inflater = zlib.decompressobj()
        text = inflater.decompress(base64.b64decode(state[len(_PACKED) :], validate=True), _MAX_STATE_BYTES)
        if not inflater.eof:  # cut short, or a damaged or hostile file that would inflate without end
            raise ValueError(f"incomplete, or larger than {_MAX_STATE_BYTES} bytes unpacked")
        document = orjson.loads(text)
    except (ValueError, zlib.error) as exc:  # binascii.Error and orjson.JSONDecodeError are ValueErrors
        raise ValueError(f"packed detector state unreadable: {exc}") from None
    if not isinstance(document, dict):
        raise ValueError("packed detector state is not a mapping")
    return document
