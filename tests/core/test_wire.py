"""The SenML wire contract: topics, parsing that never raises, round trips, dead letters."""

from __future__ import annotations

import base64
import json
import math
import time

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from citysense.wire import (
    QUANTITIES,
    Limits,
    ParseResult,
    Reading,
    Rejection,
    RejectReason,
    base_name,
    build_pack,
    config_topic,
    deadletter_payload,
    device_from_topic,
    is_valid_device_id,
    parse_deadletter,
    parse_pack,
    readings_topic,
    senml_unit,
    status_topic,
    to_senml,
)

NOW = 1_790_000_000.0  # seconds since the epoch, fixed so that every run sees the same clock
NOW_MS = int(NOW * 1000)
DAY_MS = 86_400_000
DEV = "node-1"
BN = f"urn:dev:cs:{DEV}:"
LIMITS = Limits()

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def pack(*records: object) -> bytes:
    return json.dumps(list(records)).encode()


def record(quantity: str = "pm25", **fields: object) -> dict[str, object]:
    """A complete, valid record of `quantity` from DEV, taken at NOW; `fields` override or add."""
    # Units a quantity is stored in are sent as they are where SenML accepts them unscaled (ug/m3 and
    # mm are RFC 8798 secondary units); bin fill goes as the RFC's ratio.
    stored = QUANTITIES[quantity].unit
    unit = stored if stored != "%" else "/"
    result: dict[str, object] = {
        "n": f"{BN}{quantity}",
        "u": unit,
        "v": to_senml(quantity, QUANTITIES[quantity].minimum + 1.0)
        if unit == "/"
        else QUANTITIES[quantity].minimum + 1.0,
        "t": NOW,
    }
    result.update(fields)
    return result


def parse(payload: bytes, *, device_id: str | None = None, now: float = NOW, limits: Limits = LIMITS) -> ParseResult:
    return parse_pack(payload, device_id=device_id, now=now, limits=limits)


def only_rejection(result: ParseResult) -> Rejection:
    assert result.readings == []
    assert len(result.rejections) == 1, result.rejections
    return result.rejections[0]


# --------------------------------------------------------------------------- fuzzing

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and infinities become tokens that are not JSON
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=5), children, max_size=5),
    max_leaves=25,
)

# Anything JSON can carry, and numbers at the edges of what the parser checks.
any_value = st.one_of(
    json_scalars,
    st.sampled_from([0, 1e308, -1e308, 2.0**28, NOW, NOW + 301, 1e30, -1e30, 10**30]),
    json_values,
)


@st.composite
def near_valid_records(draw: st.DrawFn) -> dict[str, object]:
    """A valid record of a random quantity with a few fields broken or base fields added."""
    quantity = draw(st.sampled_from(sorted(QUANTITIES.values(), key=lambda q: q.name)))
    result: dict[str, object] = {
        "n": draw(st.sampled_from([f"{BN}{quantity.name}", quantity.name])),
        "u": quantity.unit,
        "v": draw(st.floats(quantity.minimum - 1, quantity.maximum + 1, allow_nan=False)),
        "t": draw(st.floats(-1000, 10, allow_nan=False) | st.just(NOW) | st.just(NOW - 400 * 86400)),
    }
    if draw(st.booleans()):
        result["bn"] = draw(st.sampled_from([BN, "urn:dev:cs:other:", ""]))
    if draw(st.booleans()):
        result["bt"] = draw(st.sampled_from([0, NOW, -60, NOW + 1000]))
    if draw(st.booleans()):
        result["bv"] = draw(st.floats(-10, 10, allow_nan=False))
    for key in draw(st.lists(st.sampled_from(["bn", "bt", "bu", "bv", "n", "u", "v", "t", "vs", "s"]), max_size=2)):
        if draw(st.booleans()):
            result[key] = draw(any_value)
        else:
            result.pop(key, None)
    return result


# SenML keys holding values of random types.
random_records = st.fixed_dictionaries(
    {}, optional={k: any_value for k in ("bn", "bt", "bu", "bv", "n", "u", "v", "t")}
)
senml_packs = st.lists(
    st.one_of(near_valid_records(), near_valid_records(), random_records, json_values), min_size=0, max_size=8
)


def assert_sane(result: ParseResult, payload: bytes, device_id: str | None) -> None:
    assert isinstance(result, ParseResult)
    for reading in result.readings:
        quantity = QUANTITIES[reading.quantity]
        assert math.isfinite(reading.value)
        assert quantity.minimum <= reading.value <= quantity.maximum
        assert isinstance(reading.time_ms, int)
        assert (NOW - LIMITS.retention_s) * 1000 - 1 <= reading.time_ms <= (NOW + LIMITS.max_future_s) * 1000 + 1
        assert is_valid_device_id(reading.device_id)
        if device_id is not None:
            assert reading.device_id == device_id
    for rejection in result.rejections:
        assert isinstance(rejection.reason, RejectReason)
        assert isinstance(rejection.detail, str)
    # A refused payload always says why; the dead letter built from it can be read back.
    if not result.readings:
        try:
            parsed = orjson.loads(payload)
        except orjson.JSONDecodeError:
            parsed = None
        if not (isinstance(parsed, list) and parsed and all(isinstance(r, dict) for r in parsed)):
            assert result.rejections
    letter = parse_deadletter(deadletter_payload("cs/v1/x/readings", payload, result.rejections, received_at=NOW))
    assert letter["payload_bytes"] == len(payload)


@FUZZ
@given(payload=st.binary(max_size=2000), device_id=st.sampled_from([None, DEV]))
def test_parse_never_raises_on_any_bytes(payload, device_id):
    assert_sane(parse(payload, device_id=device_id), payload, device_id)


@FUZZ
@given(value=json_values, device_id=st.sampled_from([None, DEV]))
def test_parse_never_raises_on_any_json(value, device_id):
    payload = json.dumps(value).encode()
    assert_sane(parse(payload, device_id=device_id), payload, device_id)


@FUZZ
@given(records=senml_packs, device_id=st.sampled_from([None, DEV, "other"]))
def test_parse_never_raises_on_senml_like_packs(records, device_id):
    payload = json.dumps(records).encode()
    result = parse(payload, device_id=device_id)
    assert_sane(result, payload, device_id)
    if records and [r.reason for r in result.rejections] != [RejectReason.NOT_JSON]:  # NaN/Infinity aren't JSON
        # Every record is accounted for at most once, and rejections point at real records.
        assert len(result.readings) + len(result.rejections) <= len(records)
        whole = [r for r in result.rejections if r.index is None]
        if whole:  # a pack refused as a whole (RFC 8428 section 4.4) says so once and yields nothing
            assert [r.reason for r in result.rejections] in (
                [RejectReason.MUST_UNDERSTAND],
                [RejectReason.UNSUPPORTED_VERSION],
            )
            assert result.readings == []
        assert all(r.index is None or 0 <= r.index < len(records) for r in result.rejections)


# --------------------------------------------------------------------------- round trip

device_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", fullmatch=True).filter(
    lambda s: s not in ("deadletter", "tickets")
)


@st.composite
def readings_of(draw: st.DrawFn, device_id: str) -> Reading:
    quantity = draw(st.sampled_from(sorted(QUANTITIES)))
    spec = QUANTITIES[quantity]
    value = draw(st.floats(spec.minimum, spec.maximum, allow_nan=False, allow_infinity=False))
    time_ms = draw(st.integers(NOW_MS - DAY_MS, NOW_MS))
    return Reading(device_id, quantity, value, time_ms)


@st.composite
def devices_and_readings(draw: st.DrawFn) -> tuple[str, list[Reading]]:
    device_id = draw(device_ids)
    return device_id, draw(st.lists(readings_of(device_id), min_size=1, max_size=40))


@FUZZ
@given(devices_and_readings())
def test_a_built_pack_parses_back_to_the_same_readings(case):
    device_id, readings = case
    payload = build_pack(device_id, readings)
    result = parse(payload, device_id=device_id)
    assert result.rejections == []
    assert result.ok
    # Quantities sent in their stored unit come back bit for bit (-0.0 aside); those a producer converts
    # to a registered unit (kg/m3, m, '/') come back rounded to 9 decimals of the stored unit.
    assert [(r.device_id, r.quantity, r.time_ms) for r in result.readings] == [
        (r.device_id, r.quantity, r.time_ms) for r in readings
    ]
    for got, sent in zip(result.readings, readings, strict=True):
        if senml_unit(sent.quantity) == QUANTITIES[sent.quantity].unit:
            assert got.value.hex() == (sent.value + 0.0).hex()
        else:
            assert abs(got.value - sent.value) <= 1e-9 * max(1.0, abs(sent.value)), (got, sent)


def test_build_pack_refuses_an_empty_pack_and_a_foreign_reading():
    with pytest.raises(ValueError, match="at least one"):
        build_pack(DEV, [])
    with pytest.raises(ValueError, match="other"):
        build_pack(DEV, [Reading("other", "pm25", 1.0, NOW_MS)])
    with pytest.raises(ValueError, match="invalid device id"):
        build_pack("bad/id", [Reading("bad/id", "pm25", 1.0, NOW_MS)])


# --------------------------------------------------------------------------- rejections


def test_a_pack_one_byte_over_the_limit_is_oversized_and_one_at_the_limit_is_not():
    good = pack(record())
    at_limit = good + b" " * (LIMITS.max_pack_bytes - len(good))
    assert len(at_limit) == LIMITS.max_pack_bytes
    assert parse(at_limit).readings == [Reading(DEV, "pm25", 1.0, NOW_MS)]

    rejection = only_rejection(parse(at_limit + b" "))
    assert rejection.reason == RejectReason.OVERSIZED
    assert rejection.index is None


@pytest.mark.parametrize("payload", [b"", b"{not json", b"[1, 2", b"\xff\xfe\x00", b"[NaN]", b"nul"])
def test_bytes_that_are_not_json_are_not_json(payload):
    rejection = only_rejection(parse(payload))
    assert rejection.reason == RejectReason.NOT_JSON
    assert rejection.index is None


@pytest.mark.parametrize("payload", [b"{}", b"[]", b'{"n": "x", "v": 1}', b'"text"', b"42", b"null", b"true"])
def test_json_that_is_not_a_non_empty_array_is_not_a_pack(payload):
    rejection = only_rejection(parse(payload))
    assert rejection.reason == RejectReason.NOT_A_PACK


def test_too_many_records_refuses_the_whole_pack_and_the_limit_itself_is_fine():
    base = {"bn": BN, "bt": NOW, "bu": "ug/m3"}
    at_limit = [base] + [{"n": "pm25", "v": 1, "t": -i} for i in range(1, LIMITS.max_records)]
    assert len(at_limit) == LIMITS.max_records
    result = parse(json.dumps(at_limit).encode())
    assert result.ok
    assert len(result.readings) == LIMITS.max_records - 1

    over = [*at_limit, {"n": "pm25", "v": 1, "t": -LIMITS.max_records}]
    rejection = only_rejection(parse(json.dumps(over).encode()))
    assert rejection.reason == RejectReason.TOO_MANY_RECORDS
    assert rejection.index is None


def test_custom_limits_apply():
    payload = pack(record(t=NOW - 1), record(t=NOW - 2), record(t=NOW - 3))
    assert only_rejection(parse(payload, limits=Limits(max_records=2))).reason == RejectReason.TOO_MANY_RECORDS
    assert only_rejection(parse(payload, limits=Limits(max_pack_bytes=10))).reason == RejectReason.OVERSIZED


@pytest.mark.parametrize(
    ("records", "reason"),
    [
        ([1], RejectReason.BAD_RECORD),
        (["pm25"], RejectReason.BAD_RECORD),
        ([None], RejectReason.BAD_RECORD),
        ([[record()]], RejectReason.BAD_RECORD),
        ([record(n=5)], RejectReason.BAD_NAME),
        ([record(n="pm25")], RejectReason.BAD_NAME),
        ([record(n="urn:dev:other:node-1:pm25")], RejectReason.BAD_NAME),
        ([record(n="urn:dev:cs:node-1:pm25:extra")], RejectReason.BAD_NAME),
        ([record(n="urn:dev:cs::pm25")], RejectReason.BAD_NAME),
        ([record(n="urn:dev:cs:bad id:pm25")], RejectReason.BAD_NAME),
        ([record(n="urn:dev:cs:deadletter:pm25")], RejectReason.BAD_NAME),
        ([{"bn": 7, **record()}], RejectReason.BAD_NAME),
        ([record(n="urn:dev:cs:node-2:pm25")], RejectReason.DEVICE_MISMATCH),
        ([record(n=f"{BN}co2")], RejectReason.UNKNOWN_QUANTITY),
        ([record(n=BN)], RejectReason.BAD_NAME),
        ([record(u="mg/m3")], RejectReason.UNIT_MISMATCH),
        ([record(u=None)], RejectReason.UNIT_MISMATCH),
        ([{k: v for k, v in record().items() if k != "u"}], RejectReason.UNIT_MISMATCH),
        ([record("temperature", u="Far")], RejectReason.UNIT_MISMATCH),
        ([{k: v for k, v in record().items() if k != "v"}], RejectReason.MISSING_VALUE),
        ([{**{k: v for k, v in record().items() if k != "v"}, "vs": "12"}], RejectReason.WRONG_VALUE_TYPE),
        ([record(v="12")], RejectReason.MISSING_VALUE),
        ([record(v=True)], RejectReason.MISSING_VALUE),
        ([record(v=None)], RejectReason.MISSING_VALUE),
        ([{"bv": 1e308, **record(v=1e308)}], RejectReason.NON_FINITE),
        ([{"bv": -1e308, **record("water_level", v=-1e308)}], RejectReason.NON_FINITE),
        ([record(v=-0.5)], RejectReason.OUT_OF_RANGE),
        ([record(v=2000.1)], RejectReason.OUT_OF_RANGE),
        ([record("humidity", v=100.01)], RejectReason.OUT_OF_RANGE),
        ([record("temperature", v=-60.5)], RejectReason.OUT_OF_RANGE),
        ([record("water_level", v=-10.5)], RejectReason.OUT_OF_RANGE),
        ([record(t="now")], RejectReason.BAD_TIME),
        ([{"bt": "yesterday", **record()}], RejectReason.BAD_TIME),
        ([record(t=NOW + LIMITS.max_future_s + 1)], RejectReason.TIME_IN_FUTURE),
        ([record(t=3600)], RejectReason.TIME_IN_FUTURE),
        ([record(t=NOW - LIMITS.retention_s - 1)], RejectReason.TIME_TOO_OLD),
        ([record(t=2.0**28)], RejectReason.TIME_TOO_OLD),
        ([record(t=-1e30)], RejectReason.TIME_TOO_OLD),
        ([record(t=1e30)], RejectReason.TIME_IN_FUTURE),
    ],
)
def test_each_bad_record_is_refused_with_its_reason(records, reason):
    result = parse(pack(*records), device_id=DEV)
    rejection = only_rejection(result)
    assert rejection.reason == reason
    assert rejection.index == 0
    assert rejection.detail
    assert not result.ok


def test_a_record_naming_another_device_is_fine_when_no_topic_device_is_given():
    result = parse(pack(record(n="urn:dev:cs:node-2:pm25")))
    assert result.ok
    assert result.readings == [Reading("node-2", "pm25", 1.0, NOW_MS)]


@pytest.mark.parametrize(
    ("quantity", "value"),
    [(q.name, bound) for q in QUANTITIES.values() for bound in (q.minimum, q.maximum)],
)
def test_range_bounds_are_inclusive(quantity, value):
    result = parse(pack(record(quantity, u=senml_unit(quantity), v=to_senml(quantity, value))))
    assert result.ok
    assert result.readings == [Reading(DEV, quantity, value, NOW_MS)]


def test_time_limits_are_inclusive():
    future = NOW + LIMITS.max_future_s
    old = NOW - LIMITS.retention_s
    result = parse(pack(record(t=future), record(t=old)))
    assert result.ok
    assert [r.time_ms for r in result.readings] == [round(future * 1000), round(old * 1000)]


def test_good_records_of_a_pack_survive_a_bad_one():
    payload = pack(record(v=1.0, t=NOW - 2), record(v=-5.0, t=NOW - 1), record(v=3.0, t=NOW))
    result = parse(payload, device_id=DEV)
    assert result.readings == [
        Reading(DEV, "pm25", 1.0, NOW_MS - 2000),
        Reading(DEV, "pm25", 3.0, NOW_MS),
    ]
    assert [(r.reason, r.index) for r in result.rejections] == [(RejectReason.OUT_OF_RANGE, 1)]
    assert not result.ok


def test_every_bad_record_is_reported_with_its_index():
    payload = pack(record(), "junk", record(u="m"), record(n=f"{BN}co2"), record(v=2.0))
    result = parse(payload)
    assert [r.value for r in result.readings] == [1.0, 2.0]
    assert [(r.reason, r.index) for r in result.rejections] == [
        (RejectReason.BAD_RECORD, 1),
        (RejectReason.UNIT_MISMATCH, 2),
        (RejectReason.UNKNOWN_QUANTITY, 3),
    ]


# --------------------------------------------------------------------------- SenML base fields


def test_base_name_prefixes_each_name_and_carries_forward_until_redefined():
    payload = pack(
        {"bn": BN, "n": "pm25", "u": "ug/m3", "v": 1, "t": NOW},
        {"n": "noise", "u": "dB", "v": 40, "t": NOW},
        {"bn": "urn:dev:cs:node-2:", "n": "pm25", "u": "ug/m3", "v": 2, "t": NOW},
        {"n": "humidity", "u": "%RH", "v": 50, "t": NOW},
    )
    assert parse(payload).readings == [
        Reading(DEV, "pm25", 1.0, NOW_MS),
        Reading(DEV, "noise", 40.0, NOW_MS),
        Reading("node-2", "pm25", 2.0, NOW_MS),
        Reading("node-2", "humidity", 50.0, NOW_MS),
    ]
    assert base_name(DEV) == BN


def test_base_name_alone_is_a_full_name_when_a_record_has_no_n():
    result = parse(pack({"bn": f"{BN}pm25", "u": "ug/m3", "v": 7, "t": NOW}))
    assert result.readings == [Reading(DEV, "pm25", 7.0, NOW_MS)]


def test_base_time_is_added_to_each_time():
    payload = pack(
        {"bn": BN, "bt": NOW - 60, "n": "pm25", "u": "ug/m3", "v": 1},
        {"n": "pm25", "u": "ug/m3", "v": 2, "t": 10},
        {"n": "pm25", "u": "ug/m3", "v": 3, "t": -5.5},
    )
    assert [r.time_ms for r in parse(payload).readings] == [NOW_MS - 60_000, NOW_MS - 50_000, NOW_MS - 65_500]


def test_base_unit_is_the_default_and_an_explicit_unit_wins():
    payload = pack(
        {"bn": BN, "bu": "ug/m3", "bt": NOW},
        {"n": "pm25", "v": 1},
        {"n": "pm10", "v": 2},
        {"n": "temperature", "u": "Cel", "v": 21.5},
        {"n": "noise", "v": 30},
    )
    result = parse(payload)
    assert [(r.quantity, r.value) for r in result.readings] == [("pm25", 1.0), ("pm10", 2.0), ("temperature", 21.5)]
    assert [(r.reason, r.index) for r in result.rejections] == [(RejectReason.UNIT_MISMATCH, 4)]


def test_base_value_is_added_to_each_value():
    payload = pack(
        {"bn": BN, "bt": NOW, "bu": "m", "bv": 2.0},
        {"n": "water_level", "v": 0.5},
        {"n": "water_level", "v": -1.25, "t": 1e-3},
    )
    assert parse(payload).readings == [
        Reading(DEV, "water_level", 2.5, NOW_MS),
        Reading(DEV, "water_level", 0.75, NOW_MS + 1),
    ]


def test_a_base_value_pushing_a_value_out_of_range_is_out_of_range():
    result = parse(pack({"bv": 1995.0, **record(v=10.0)}))
    assert only_rejection(result).reason == RejectReason.OUT_OF_RANGE


def test_small_times_are_relative_to_now_and_large_ones_absolute():
    now = 2.0**28 + 1000.0
    payload = pack(
        record(t=0),
        record(t=-30),
        record(t=2.0**28 - 1, v=2.0),
        record(t=2.0**28, v=3.0),
        record(t=2.0**28 + 500.25, v=4.0),
    )
    result = parse(payload, now=now)
    assert result.readings == [
        Reading(DEV, "pm25", 1.0, round(now * 1000)),
        Reading(DEV, "pm25", 1.0, round((now - 30) * 1000)),
        Reading(DEV, "pm25", 3.0, 2**28 * 1000),
        Reading(DEV, "pm25", 4.0, 2**28 * 1000 + 500_250),
    ]
    # 2**28 - 1 is relative: now + ~8.5 years, far in the future.
    assert [(r.reason, r.index) for r in result.rejections] == [(RejectReason.TIME_IN_FUTURE, 2)]


def test_a_record_without_time_is_taken_now():
    result = parse(pack({"n": f"{BN}noise", "u": "dB", "v": 55}))
    assert result.readings == [Reading(DEV, "noise", 55.0, NOW_MS)]


def test_relative_base_time_plus_relative_time_is_relative_to_now():
    result = parse(pack({"bn": BN, "bt": -120, "n": "pm25", "u": "ug/m3", "v": 1, "t": 20}))
    assert result.readings == [Reading(DEV, "pm25", 1.0, NOW_MS - 100_000)]


def test_base_only_records_give_neither_readings_nor_rejections():
    result = parse(pack({"bn": BN}, {"bt": NOW, "bu": "dB"}, {"n": "noise", "v": 1}))
    assert result.ok
    assert result.readings == [Reading(DEV, "noise", 1.0, NOW_MS)]


def test_parse_uses_the_clock_when_now_is_not_given():
    before = time.time()
    result = parse_pack(pack(record(t=-1.0)))
    after = time.time()
    (reading,) = result.readings
    assert (before - 1) * 1000 - 1 <= reading.time_ms <= (after - 1) * 1000 + 1


# --------------------------------------------------------------------------- topics


def test_topics_have_the_documented_shape():
    assert readings_topic("node-1") == "cs/v1/node-1/readings"
    assert status_topic("node-1") == "cs/v1/node-1/status"
    assert config_topic("node-1") == "cs/v1/node-1/config"
    assert readings_topic("A.b_c-9") == "cs/v1/A.b_c-9/readings"


INVALID_IDS = [
    "",
    "a/b",
    "a+b",
    "+",
    "#",
    "node#1",
    "a:b",
    "a b",
    "-node",
    ".node",
    "_node",
    "nöde",
    "node\n",
    "a" * 65,
    "deadletter",
    "tickets",
]


@pytest.mark.parametrize("device_id", INVALID_IDS)
@pytest.mark.parametrize("topic", [readings_topic, status_topic, config_topic, base_name])
def test_invalid_device_ids_are_refused(topic, device_id):
    assert not is_valid_device_id(device_id)
    with pytest.raises(ValueError, match="invalid device id"):
        topic(device_id)


def test_the_longest_device_id_is_fine():
    device_id = "a" * 64
    assert readings_topic(device_id) == f"cs/v1/{device_id}/readings"


@settings(max_examples=200, deadline=None)
@given(device_id=device_ids)
def test_device_from_topic_inverts_every_device_topic(device_id):
    for topic in (readings_topic, status_topic, config_topic):
        assert device_from_topic(topic(device_id)) == device_id


@pytest.mark.parametrize(
    "topic",
    [
        "",
        "cs/v1",
        "cs/v1/deadletter",
        "cs/v1/tickets",
        "cs/v1/tickets/readings",
        "cs/v1/deadletter/status",
        "cs/v1/+/readings",
        "cs/v1/#",
        "cs/v2/node-1/readings",
        "xx/v1/node-1/readings",
        "cs/v1/node-1/readings/extra",
        "/cs/v1/node-1",
        "cs/v1//readings",
        "$share/ingest/cs/v1/+/readings",
    ],
)
def test_device_from_topic_is_none_for_other_topics(topic):
    assert device_from_topic(topic) is None


# --------------------------------------------------------------------------- dead letters


def test_dead_letter_carries_topic_reasons_and_text_payload():
    payload = pack(record(v=-1.0), record(u="m"), record())
    result = parse(payload, device_id=DEV)
    letter = parse_deadletter(deadletter_payload(readings_topic(DEV), payload, result.rejections, received_at=NOW))
    assert letter["topic"] == "cs/v1/node-1/readings"
    assert letter["reason"] == "out_of_range"
    assert letter["received_at"] == NOW
    assert [(r["reason"], r["index"]) for r in letter["rejections"]] == [("out_of_range", 0), ("unit_mismatch", 1)]
    assert all(r["detail"] for r in letter["rejections"])
    assert letter["payload"] == payload.decode()
    assert letter["payload_bytes"] == len(payload)
    assert "payload_base64" not in letter


def test_dead_letter_of_binary_payload_is_base64():
    payload = b"\xff\x00\xfe binary \x80"
    result = parse(payload)
    letter = parse_deadletter(deadletter_payload("cs/v1/node-1/readings", payload, result.rejections))
    assert letter["reason"] == "not_json"
    assert [r["index"] for r in letter["rejections"]] == [None]
    assert base64.b64decode(letter["payload_base64"]) == payload
    assert "payload" not in letter
    assert letter["payload_bytes"] == len(payload)
    assert isinstance(letter["received_at"], float)


def test_dead_letter_of_a_huge_payload_keeps_its_size_and_a_prefix():
    payload = b"x" * (LIMITS.max_pack_bytes + 10)
    result = parse(payload)
    letter = parse_deadletter(deadletter_payload("cs/v1/node-1/readings", payload, result.rejections))
    assert letter["reason"] == "oversized"
    assert letter["payload_bytes"] == len(payload)
    assert letter["payload"] == "x" * 4096


def test_dead_letter_without_rejections_says_unknown():
    letter = parse_deadletter(deadletter_payload("cs/v1/odd", b"{}", []))
    assert letter["reason"] == "unknown"
    assert letter["rejections"] == []


@pytest.mark.parametrize("payload", [b"[]", b'{"topic": "x"}', b"42"])
def test_parse_deadletter_refuses_other_messages(payload):
    with pytest.raises(ValueError, match="not a citysense dead letter"):
        parse_deadletter(payload)


def test_parse_deadletter_refuses_bytes_that_are_not_json():
    with pytest.raises(orjson.JSONDecodeError):
        parse_deadletter(b"not json")


def test_a_name_refused_twice_is_refused_at_each_record_with_its_own_index():
    # Name checks are remembered per name: the second refusal must still point at its own record.
    bad = record(n="urn:dev:cs:other-node:pm25")
    result = parse(pack(bad, record(), bad), device_id=DEV)
    assert [(x.reason, x.index) for x in result.rejections] == [
        (RejectReason.DEVICE_MISMATCH, 0),
        (RejectReason.DEVICE_MISMATCH, 2),
    ]
    assert len(result.readings) == 1
    # The same name is fine on its own device's topic.
    assert parse(pack(bad), device_id="other-node").ok
