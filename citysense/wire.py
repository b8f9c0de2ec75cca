"""The wire contract between edge nodes, ingest, analytics and the API.

Every part imports this module; nobody formats a topic or parses a payload by hand.
A payload is a SenML pack (RFC 8428, JSON). Parsing never raises on any byte string:
whatever cannot be used comes back as a :class:`Rejection` with a machine-readable
reason, and the usable records of the same pack still count.
"""

from __future__ import annotations

import base64
import math
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, NamedTuple, cast

import orjson

__all__ = [
    "BUILTIN_QUANTITIES",
    "DEADLETTER_TOPIC",
    "MAX_PACK_BYTES",
    "MAX_RECORDS",
    "QUANTITIES",
    "READINGS_FILTER",
    "SENML_UNITS",
    "SENML_UNIT_OF",
    "SENML_VERSION",
    "SHARED_READINGS_FILTER",
    "TICKETS_TOPIC",
    "Limits",
    "ParseResult",
    "Quantity",
    "Reading",
    "RejectReason",
    "Rejection",
    "base_name",
    "build_pack",
    "config_topic",
    "deadletter_payload",
    "device_from_topic",
    "is_valid_device_id",
    "parse_deadletter",
    "parse_pack",
    "readings_topic",
    "register_quantity",
    "senml_unit",
    "status_payload",
    "status_topic",
    "to_senml",
]

# --------------------------------------------------------------------------- topics

TOPIC_ROOT: Final = "cs/v1"
READINGS_FILTER: Final = f"{TOPIC_ROOT}/+/readings"
SHARED_READINGS_FILTER: Final = f"$share/ingest/{READINGS_FILTER}"
DEADLETTER_TOPIC: Final = f"{TOPIC_ROOT}/deadletter"
TICKETS_TOPIC: Final = f"{TOPIC_ROOT}/tickets"

# Letters, digits, '-', '_' and '.': no MQTT wildcards, no '/', no ':' (the SenML name separator).
_DEVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# Names under cs/v1/ that are not devices.
_RESERVED_IDS: Final = frozenset({"deadletter", "tickets"})


def is_valid_device_id(device_id: str) -> bool:
    """Device ids become topic levels and SenML names, so they must be safe in both."""
    return _DEVICE_ID.fullmatch(device_id) is not None and device_id not in _RESERVED_IDS


def _device_topic(device_id: str, leaf: str) -> str:
    if not is_valid_device_id(device_id):
        raise ValueError(f"invalid device id {device_id!r}: use letters, digits, '-', '_' or '.' (max 64)")
    return f"{TOPIC_ROOT}/{device_id}/{leaf}"


def readings_topic(device_id: str) -> str:
    return _device_topic(device_id, "readings")


def status_topic(device_id: str) -> str:
    return _device_topic(device_id, "status")


def config_topic(device_id: str) -> str:
    return _device_topic(device_id, "config")


def device_from_topic(topic: str) -> str | None:
    """The device id of a per-device topic (`cs/v1/{id}/...`), or None when the topic is not one."""
    parts = topic.split("/")
    if len(parts) != 4 or f"{parts[0]}/{parts[1]}" != TOPIC_ROOT:
        return None
    return parts[2] if is_valid_device_id(parts[2]) else None


# --------------------------------------------------------------------------- vocabulary


@dataclass(frozen=True, slots=True)
class Quantity:
    """One measurable thing: its SenML unit and the physically possible range of values."""

    name: str
    unit: str
    minimum: float
    maximum: float
    label: str


QUANTITIES: Final[dict[str, Quantity]] = {
    q.name: q
    for q in (
        Quantity("pm25", "ug/m3", 0.0, 2000.0, "PM2.5"),
        Quantity("pm10", "ug/m3", 0.0, 5000.0, "PM10"),
        Quantity("temperature", "Cel", -60.0, 70.0, "Temperature"),
        Quantity("humidity", "%RH", 0.0, 100.0, "Humidity"),
        Quantity("noise", "dB", 0.0, 200.0, "Noise"),
        Quantity("water_level", "m", -10.0, 100.0, "Water level"),
        Quantity("rainfall", "mm", 0.0, 1000.0, "Rainfall"),
        Quantity("bin_fill", "%", 0.0, 100.0, "Bin fill"),
        Quantity("traffic_count", "count", 0.0, 1_000_000.0, "Traffic count"),
        Quantity("power", "W", 0.0, 1_000_000.0, "Power"),
    )
}


# SenML units (RFC 8428 section 12.1 and the IANA "SenML Units" registry, RFC 8798 section 2) each
# stored unit is read from, with the factor that turns a SenML value into the stored scale.
# Stored data keeps one scale per quantity: ug/m3 for particulate matter, mm for rainfall and
# percent (0-100) for bin fill, as the dashboards and the API show them.
# * "kg/m3" (mass concentration) and "m" are registered units; "ug/m3" and "mm" are RFC 8798
#   *secondary* units of them (scale 1e-9 and 1e-3), accepted from agents already in the field.
# * "/" is the registered ratio (0-1). RFC 8428's note 1 says "%" is the same ratio, NOT a
#   percentage, so a "%" value is a ratio too; a "%" value above 1 can only be a legacy agent's
#   0-100 percentage and is refused as `legacy_percent_unit` rather than misread 100-fold.
SENML_UNITS: Final[dict[str, dict[str, float]]] = {
    "ug/m3": {"kg/m3": 1e9, "ug/m3": 1.0},
    "mm": {"m": 1e3, "mm": 1.0},
    "%": {"/": 100.0, "%": 100.0},
}
# The registered unit producers send for each stored unit (others are sent as stored).
SENML_UNIT_OF: Final[dict[str, str]] = {"ug/m3": "kg/m3", "mm": "m", "%": "/"}
# The SenML version citysense understands (RFC 8428 section 4.4: the default, 10).
SENML_VERSION: Final = 10


def senml_unit(quantity: str) -> str:
    """The registered SenML unit a producer sends `quantity` in."""
    unit = QUANTITIES[quantity].unit
    return SENML_UNIT_OF.get(unit, unit)


def to_senml(quantity: str, value: float) -> float:
    """A stored value in the unit `senml_unit(quantity)` names."""
    unit = QUANTITIES[quantity].unit
    factor = SENML_UNITS.get(unit, {}).get(SENML_UNIT_OF.get(unit, unit), 1.0)
    return value / factor if factor != 1.0 else value


BUILTIN_QUANTITIES: Final = frozenset(QUANTITIES)


def register_quantity(name: str, unit: str, minimum: float, maximum: float, label: str = "") -> Quantity:
    """Add a quantity from configuration (a water-pressure or energy sensor) beside the built-in ones.

    Registering the same definition twice is fine (every service reads the same settings);
    redefining a built-in quantity or changing a registered one is refused.
    """
    quantity = Quantity(name, unit, minimum, maximum, label or name.replace("_", " ").capitalize())
    known = QUANTITIES.get(name)
    if known is not None and (name in BUILTIN_QUANTITIES or known != quantity):
        raise ValueError(f"quantity {name!r} is already defined as {known.unit!r} [{known.minimum}, {known.maximum}]")
    QUANTITIES[name] = quantity
    _SERIES_CACHE.clear()  # a name rejected before may be known now
    return quantity


def base_name(device_id: str) -> str:
    """The SenML base name of a device: `urn:dev:cs:{device_id}:`."""
    if not is_valid_device_id(device_id):
        raise ValueError(f"invalid device id {device_id!r}")
    return f"{_URN_PREFIX}{device_id}:"


_URN_PREFIX: Final = "urn:dev:cs:"

# --------------------------------------------------------------------------- readings


class Reading(NamedTuple):
    """One value of one quantity from one device at one instant.

    The identity is (device_id, quantity, time_ms): writing the same reading twice stores it once.
    Time is integer milliseconds since the Unix epoch so that identity never depends on float rounding.
    A named tuple rather than a frozen dataclass: ingest makes hundreds of thousands a second, a
    tuple is several times cheaper to build, and stores bind it as query parameters as it is.
    """

    device_id: str
    quantity: str
    value: float
    time_ms: int

    @property
    def unit(self) -> str:
        return QUANTITIES[self.quantity].unit

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.device_id, self.quantity, self.time_ms)


class RejectReason(StrEnum):
    """Why a payload or one record of it was refused. Stable strings: dashboards count by them."""

    BAD_TOPIC = "bad_topic"
    OVERSIZED = "oversized"
    NOT_JSON = "not_json"
    NOT_A_PACK = "not_a_pack"
    TOO_MANY_RECORDS = "too_many_records"
    BAD_RECORD = "bad_record"
    BAD_NAME = "bad_name"
    DEVICE_MISMATCH = "device_mismatch"
    UNKNOWN_QUANTITY = "unknown_quantity"
    UNIT_MISMATCH = "unit_mismatch"
    MISSING_VALUE = "missing_value"
    NON_FINITE = "non_finite"
    OUT_OF_RANGE = "out_of_range"
    BAD_TIME = "bad_time"
    TIME_IN_FUTURE = "time_in_future"
    TIME_TOO_OLD = "time_too_old"
    UNSUPPORTED_VERSION = "unsupported_version"
    MUST_UNDERSTAND = "must_understand"
    WRONG_VALUE_TYPE = "wrong_value_type"
    SUM_NOT_SUPPORTED = "sum_not_supported"
    LEGACY_PERCENT_UNIT = "legacy_percent_unit"


@dataclass(frozen=True, slots=True)
class Rejection:
    """A refused pack (index None) or one refused record of it (its index in the pack)."""

    reason: RejectReason
    detail: str
    index: int | None = None


@dataclass(frozen=True, slots=True)
class Limits:
    """Validation bounds; the defaults suit a city deployment."""

    max_pack_bytes: int = 64 * 1024
    max_records: int = 1000
    max_future_s: float = 300.0
    retention_s: float = 400 * 24 * 3600.0


MAX_PACK_BYTES: Final = Limits().max_pack_bytes
MAX_RECORDS: Final = Limits().max_records
_DEFAULT_LIMITS: Final = Limits()
# RFC 8428 section 4.5.3: times below 2**28 are relative to "now".
_RELATIVE_TIME_LIMIT: Final = 2.0**28


@dataclass(slots=True)
class ParseResult:
    readings: list[Reading] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.rejections


def _number(value: Any) -> float | None:
    # bool is an int subclass in Python but never a SenML number.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def parse_pack(
    payload: bytes | bytearray,
    *,
    device_id: str | None = None,
    now: float | None = None,
    limits: Limits = _DEFAULT_LIMITS,
) -> ParseResult:
    """Parse and validate a SenML pack published by `device_id` (from the topic).

    Never raises. When `device_id` is given, every record must name that device.
    """
    result = ParseResult()
    now = time.time() if now is None else now
    if len(payload) > limits.max_pack_bytes:
        result.rejections.append(Rejection(RejectReason.OVERSIZED, f"{len(payload)} bytes > {limits.max_pack_bytes}"))
        return result
    try:
        pack = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        result.rejections.append(Rejection(RejectReason.NOT_JSON, str(exc)[:200]))
        return result
    if not isinstance(pack, list) or not pack:
        result.rejections.append(Rejection(RejectReason.NOT_A_PACK, "a SenML pack is a non-empty JSON array"))
        return result
    if len(pack) > limits.max_records:
        result.rejections.append(
            Rejection(RejectReason.TOO_MANY_RECORDS, f"{len(pack)} records > {limits.max_records}")
        )
        return result

    refused: dict[int, Rejection] = {}
    if _has_rare_fields(payload):  # a cheap look at the bytes first: most packs need none of this
        whole = _check_rare_fields(pack, refused)
        if whole is not None:
            result.rejections.append(whole)
            return result

    # Base fields carry forward to later records until redefined (RFC 8428 section 4.1).
    bn, bt, bu, bv = "", 0.0, None, 0.0
    window = (now, now - limits.retention_s, now + limits.max_future_s)
    for index, record in enumerate(pack):
        if not isinstance(record, dict):
            result.rejections.append(Rejection(RejectReason.BAD_RECORD, "record is not an object", index))
            continue
        rejection = refused.get(index)
        if "bn" in record:
            if not isinstance(record["bn"], str):
                rejection = Rejection(RejectReason.BAD_NAME, "bn must be a string", index)
            else:
                bn = record["bn"]
        if "bt" in record:
            base_time = _number(record["bt"])
            if base_time is None or not math.isfinite(base_time):
                rejection = Rejection(RejectReason.BAD_TIME, "bt must be a finite number", index)
            else:
                bt = base_time
        if "bu" in record:
            if isinstance(record["bu"], str):
                bu = record["bu"]
            else:
                bu, rejection = None, rejection or Rejection(RejectReason.BAD_RECORD, "bu must be a string", index)
        if "bv" in record:
            base_value = _number(record["bv"])
            bv = base_value if base_value is not None and math.isfinite(base_value) else math.nan
        outcome = _resolve(record, index, bn, bt, bu, bv, device_id, window) if rejection is None else rejection
        if type(outcome) is Reading:  # not isinstance: this runs for every reading
            result.readings.append(outcome)
        elif outcome is not None:
            result.rejections.append(cast(Rejection, outcome))
    return result


# Fields that most packs never carry: version, must-understand labels (ending in "_"), the value
# kinds other than "v", sums and update times. Keys may be written with JSON escapes, so "\\u"
# sends a pack down the careful path too.
_RARE_TOKENS: Final = (b'_"', b'"bver"', b'"vs"', b'"vb"', b'"vd"', b'"s"', b'"bs"', b'"ut"', b"\\u")


def _has_rare_fields(payload: bytes | bytearray) -> bool:
    return any(token in payload for token in _RARE_TOKENS)


_OTHER_VALUES: Final = ("vs", "vb", "vd")
_NUMERIC_FIELDS: Final = ("s", "bs", "ut", "bver")


def _check_rare_fields(pack: list[Any], refused: dict[int, Rejection]) -> Rejection | None:
    """RFC 8428 sections 4.2-4.4 on the fields most packs do not use.

    Returns the refusal of the whole pack (a version newer than 10, a must-understand label),
    and puts refusals of single records (two values, a sum or time that is not a number) in `refused`.
    """
    for index, record in enumerate(pack):
        if not isinstance(record, dict):
            continue
        for key in record:
            if key.endswith("_"):
                return Rejection(
                    RejectReason.MUST_UNDERSTAND,
                    f"label {key[:40]!r} ends in '_': it must be understood (RFC 8428 section 4.4) and citysense "
                    "does not know it, so the pack is not used",
                )
        if "bver" in record:
            version = record["bver"]
            if type(version) is not int or version < 1:
                return Rejection(RejectReason.UNSUPPORTED_VERSION, "bver must be a positive integer")
            if version > SENML_VERSION:
                return Rejection(
                    RejectReason.UNSUPPORTED_VERSION,
                    f"bver {version} is newer than SenML version {SENML_VERSION}: such a pack must not be used "
                    "(RFC 8428 section 4.4)",
                )
        values = [k for k in ("v", *_OTHER_VALUES) if k in record]
        if len(values) > 1:
            refused[index] = Rejection(
                RejectReason.BAD_RECORD,
                f"a record carries at most one value field, got {', '.join(values)} (RFC 8428 section 4.2)",
                index,
            )
            continue
        for key in _NUMERIC_FIELDS:
            if key in record and (_number(record[key]) is None or not math.isfinite(float(record[key]))):
                refused[index] = Rejection(RejectReason.BAD_RECORD, f"{key} must be a finite number", index)
                break
    return None


# A series (a name on a topic, with a unit) resolves to the same (device, quantity, bounds) or the
# same refusal every time; a city has a few thousand of them, so the string work and the unit check
# are done once per series, not once per reading.
_Series = tuple[str, str, float, float, float, bool] | Rejection
_SERIES_CACHE: dict[tuple[str, str | None, str | None], _Series] = {}
_SERIES_CACHE_MAX: Final = 50_000
_VALUE_KEYS: Final = ("v", "vs", "vb", "vd", "s")
_NO_NAME: Final = object()
# Reading(...) without the named tuple's Python-level __new__: a third of the cost.
_new_reading = tuple.__new__


def _resolve_series(full: str, device_id: str | None, unit: object) -> _Series:
    if not full.startswith(_URN_PREFIX) or full.count(":") != 4:
        return Rejection(RejectReason.BAD_NAME, f"name {full[:80]!r} is not urn:dev:cs:{{device}}:{{q}}")
    _, _, _, dev, quantity_name = full.split(":")
    if not is_valid_device_id(dev):
        return Rejection(RejectReason.BAD_NAME, f"invalid device id {dev[:80]!r}")
    if device_id is not None and dev != device_id:
        return Rejection(RejectReason.DEVICE_MISMATCH, f"record names {dev!r} on {device_id!r}'s topic")
    quantity = QUANTITIES.get(quantity_name)
    if quantity is None:
        if not quantity_name:
            return Rejection(RejectReason.BAD_NAME, f"name {full[:80]!r} names a device but no quantity")
        return Rejection(RejectReason.UNKNOWN_QUANTITY, f"unknown quantity {quantity_name[:40]!r}")
    accepted = SENML_UNITS.get(quantity.unit, {quantity.unit: 1.0})
    factor = accepted.get(unit) if isinstance(unit, str) else None
    if factor is None:
        preferred = SENML_UNIT_OF.get(quantity.unit, quantity.unit)
        also = ", ".join(u for u in accepted if u != preferred) or "none"
        return Rejection(
            RejectReason.UNIT_MISMATCH, f"{quantity.name} is in {preferred!r} (also accepted: {also}), got {unit!r}"
        )
    # RFC 8428's "%" is a ratio; above 1 it is a legacy percentage, refused per value.
    return (dev, quantity.name, quantity.minimum, quantity.maximum, factor, unit == "%" and quantity.unit == "%")


def _cached_series(key: tuple[str, str | None, str | None]) -> _Series:
    if len(_SERIES_CACHE) >= _SERIES_CACHE_MAX:
        _SERIES_CACHE.clear()  # a flood of made-up names must not grow memory without bound
    series = _SERIES_CACHE[key] = _resolve_series(*key)
    return series


def _resolve(
    record: dict[str, Any],
    index: int,
    bn: str,
    bt: float,
    bu: str | None,
    bv: float,
    device_id: str | None,
    window: tuple[float, float, float],
) -> Reading | Rejection | None:
    """One record resolved against its base fields; None for a base-only record.

    `window` is (now, earliest, latest) in seconds. This runs for every reading ingest takes, so
    the checks that pass are as cheap as they can be and the work of explaining a refusal is
    done only when there is one: a NaN or infinity fails the range checks, then is named.
    """
    name = record.get("n", _NO_NAME)
    if name is _NO_NAME:
        if not any(k in record for k in _VALUE_KEYS):
            return None  # a record that only sets base fields
        name = ""
    elif type(name) is not str:
        return Rejection(RejectReason.BAD_NAME, "n must be a string", index)
    unit = record.get("u", bu)
    if unit is None or type(unit) is str:
        key = (bn + name, device_id, unit)
        series = _SERIES_CACHE.get(key) or _cached_series(key)
    else:  # not hashable, and refused anyway
        series = _resolve_series(bn + name, device_id, unit)
    if isinstance(series, Rejection):
        return Rejection(series.reason, series.detail, index)
    dev, quantity, minimum, maximum, factor, legacy_percent = series
    raw = record.get("v")
    # bool is an int subclass in Python but never a SenML number.
    if type(raw) is not float and type(raw) is not int:
        if raw is None:
            return _without_v(record, quantity, index)
        return Rejection(RejectReason.MISSING_VALUE, "v must be a number", index)
    value = bv + raw
    if factor != 1.0:
        if legacy_percent and value > 1.0:
            return Rejection(
                RejectReason.LEGACY_PERCENT_UNIT,
                f"{quantity}={value} in '%': RFC 8428 defines '%' as a ratio 0-1; send the ratio in '/'",
                index,
            )
        value *= factor
        if minimum <= value <= maximum:
            # 9 decimals of the stored unit: an exact integer over an exact power of ten is the
            # double nearest the decimal, so 3.55e-08 kg/m3 is stored as 35.5, not 35.50000000000001.
            value = round(value * 1e9) / 1e9
    if not minimum <= value <= maximum:
        if not math.isfinite(value):
            return Rejection(RejectReason.NON_FINITE, "value is not finite", index)
        return Rejection(RejectReason.OUT_OF_RANGE, f"{quantity}={value} outside [{minimum}, {maximum}]", index)
    offset = record.get("t", 0.0)
    if type(offset) is not float and type(offset) is not int:
        return Rejection(RejectReason.BAD_TIME, "t must be a finite number", index)
    when = bt + offset
    now, earliest, latest = window
    if -_RELATIVE_TIME_LIMIT < when < _RELATIVE_TIME_LIMIT:
        when += now
    if not earliest <= when <= latest:
        if not math.isfinite(when):
            return Rejection(RejectReason.BAD_TIME, "t must be a finite number", index)
        if when > latest:
            return Rejection(RejectReason.TIME_IN_FUTURE, f"time {when:.3f} is ahead of now {now:.3f}", index)
        return Rejection(RejectReason.TIME_TOO_OLD, f"time {when:.3f} is beyond retention", index)
    return _new_reading(Reading, (dev, quantity, value, round(when * 1000)))


def _without_v(record: dict[str, Any], quantity: str, index: int) -> Rejection:
    """Why a record of a numeric quantity without 'v' is refused (the documented rule for vs/vb/vd and s)."""
    other = next((k for k in _OTHER_VALUES if k in record), None)
    if other is not None:
        return Rejection(RejectReason.WRONG_VALUE_TYPE, f"{quantity} is a number: send 'v', not {other!r}", index)
    if "s" in record:
        return Rejection(
            RejectReason.SUM_NOT_SUPPORTED, f"{quantity} is stored as values, not sums: send 'v' (with or without 's')",
            index,
        )  # fmt: skip
    return Rejection(RejectReason.MISSING_VALUE, f"{quantity} needs a numeric 'v'", index)


def build_pack(device_id: str, readings: Sequence[Reading]) -> bytes:
    """A compact SenML pack: one base name and base time, registered units on every record.

    Values are converted from the stored scale to the registered unit (`senml_unit`): particulate
    matter in kg/m3, rainfall in m, bin fill as a ratio in '/'.
    """
    if not readings:
        raise ValueError("a pack needs at least one reading")
    name = base_name(device_id)
    base_ms = readings[0].time_ms
    records: list[dict[str, Any]] = []
    for i, reading in enumerate(readings):
        if reading.device_id != device_id:
            raise ValueError(f"reading of {reading.device_id!r} in {device_id!r}'s pack")
        record: dict[str, Any] = {
            "n": reading.quantity,
            "u": senml_unit(reading.quantity),
            "v": to_senml(reading.quantity, reading.value),
        }
        if reading.time_ms != base_ms:
            record["t"] = (reading.time_ms - base_ms) / 1000
        if i == 0:
            record = {"bn": name, "bt": base_ms / 1000, **record}
        records.append(record)
    return orjson.dumps(records)


# --------------------------------------------------------------------------- device status


def status_payload(*, online: bool, **health: Any) -> bytes:
    """The retained `cs/v1/{id}/status` message; the offline one doubles as the last will."""
    return orjson.dumps({"state": "online" if online else "offline", **health})


# --------------------------------------------------------------------------- dead letters


def deadletter_payload(
    topic: str,
    payload: bytes | bytearray,
    rejections: Iterable[Rejection],
    *,
    received_at: float | None = None,
) -> bytes:
    """What goes to `cs/v1/deadletter`: the original topic and payload and every reason it was refused."""
    reasons = [{"reason": r.reason.value, "detail": r.detail, "index": r.index} for r in rejections]
    try:
        text: str | None = bytes(payload).decode("utf-8")
    except UnicodeDecodeError:
        text = None
    message: dict[str, Any] = {
        "topic": topic,
        "received_at": time.time() if received_at is None else received_at,
        "reason": reasons[0]["reason"] if reasons else "unknown",
        "rejections": reasons,
        "payload_bytes": len(payload),
    }
    if text is not None:
        message["payload"] = text[:4096]
    else:
        message["payload_base64"] = base64.b64encode(bytes(payload[:4096])).decode("ascii")
    return orjson.dumps(message)


def parse_deadletter(payload: bytes) -> dict[str, Any]:
    """Read a dead letter back (for operators' tools and tests)."""
    message = orjson.loads(payload)
    if not isinstance(message, dict) or "reason" not in message:
        raise ValueError("not a citysense dead letter")
    return message


# --------------------------------------------------------------------------- more topics and ticket events
# Kept together at the end so that the broker ACL, analytics and the API all read them from here.

STATUS_FILTER: Final = f"{TOPIC_ROOT}/+/status"
CONFIG_FILTER: Final = f"{TOPIC_ROOT}/+/config"
DEVICE_LEAVES: Final = ("readings", "status", "config")


def device_topic_pattern(leaf: str, placeholder: str = "%u") -> str:
    """A per-device topic with a placeholder for the device id, e.g. Mosquitto's `%u` (the login) in
    an ACL `pattern` line: `cs/v1/%u/readings`."""
    if leaf not in DEVICE_LEAVES:
        raise ValueError(f"unknown device topic {leaf!r}: one of {', '.join(DEVICE_LEAVES)}")
    return f"{TOPIC_ROOT}/{placeholder}/{leaf}"


class TicketEventKind(StrEnum):
    """What happened to a ticket, as published on `cs/v1/tickets`."""

    OPENED = "opened"
    UPDATED = "updated"
    UPGRADED = "upgraded"
    RESOLVED = "resolved"


# The keys of the ticket summary inside a ticket event; a consumer may rely on every one being present.
TICKET_KEYS: Final = (
    "id",
    "service_code",
    "title",
    "district",
    "severity",
    "status",
    "dedupe_key",
    "devices",
    "opened_at",
    "updated_at",
    "resolved_at",
)


@dataclass(frozen=True, slots=True)
class TicketEventMessage:
    """One message on `cs/v1/tickets`: `{"event": "opened", "ticket": {...TICKET_KEYS}}`."""

    event: TicketEventKind
    ticket: dict[str, Any]

    @property
    def ticket_id(self) -> int:
        return int(self.ticket["id"])


def ticket_event_payload(event: str, ticket: dict[str, Any]) -> bytes:
    """The payload analytics publishes on `cs/v1/tickets` after a ticket change is committed."""
    missing = [key for key in TICKET_KEYS if key not in ticket]
    if missing:
        raise ValueError(f"ticket summary lacks {', '.join(missing)}")
    return orjson.dumps({"event": TicketEventKind(event).value, "ticket": ticket})


def parse_ticket_event(payload: bytes) -> TicketEventMessage:
    """Read a ticket event back; raises ValueError on anything that is not one."""
    try:
        message = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(message, dict) or not isinstance(message.get("ticket"), dict):
        raise ValueError("not a citysense ticket event")
    ticket = cast(dict[str, Any], message["ticket"])
    missing = [key for key in TICKET_KEYS if key not in ticket]
    if missing or not isinstance(ticket["id"], int):
        raise ValueError(f"ticket event lacks {', '.join(missing) or 'an integer id'}")
    try:
        kind = TicketEventKind(str(message.get("event")))
    except ValueError:
        raise ValueError(f"unknown ticket event {message.get('event')!r}") from None
    return TicketEventMessage(kind, ticket)


__all__ += [
    "CONFIG_FILTER",
    "DEVICE_LEAVES",
    "STATUS_FILTER",
    "TICKET_KEYS",
    "TicketEventKind",
    "TicketEventMessage",
    "device_topic_pattern",
    "parse_ticket_event",
    "ticket_event_payload",
]
