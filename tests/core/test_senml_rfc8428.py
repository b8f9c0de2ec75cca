"""SenML to the letter: RFC 8428 sections 4 and 5, and units as the IANA SenML registry defines them.

The section 5 examples are used with their base names (`urn:dev:ow:10e2073a01080063...`)
rewritten to a provisioned device's (`urn:dev:cs:node-1`). Those whose names and units citysense
knows resolve to the records the RFC resolves them to; every other record is refused with its
reason. None is read silently as something else.
"""

from __future__ import annotations

import json

import pytest

from citysense.wire import Reading, build_pack, parse_pack

NOW = 1_790_000_000.0
NOW_MS = int(NOW * 1000)
DEV = "node-1"
BN = f"urn:dev:cs:{DEV}:"


def parse(records: list[dict[str, object]] | str, *, now: float = NOW):
    payload = records.encode() if isinstance(records, str) else json.dumps(records).encode()
    return parse_pack(payload, device_id=DEV, now=now)


def reasons(result) -> list[str]:
    return [r.reason.value for r in result.rejections]


# --------------------------------------------------------------------------- section 5 examples

RFC_EXAMPLES = {
    # 5.1.1 Single Datapoint: a name that is the device itself, no quantity.
    "5.1.1": [{"n": "urn:dev:cs:node-1", "u": "Cel", "v": 23.1}],
    # 5.1.2 Multiple Datapoints
    "5.1.2": [{"bn": BN, "n": "voltage", "u": "V", "v": 120.1}, {"n": "current", "u": "A", "v": 1.2}],
    # 5.1.2 Multiple Datapoints, relative times and bver 5
    "5.1.2-relative": [
        {"bn": BN, "bt": 1.276020076001e09, "bu": "A", "bver": 5, "n": "voltage", "u": "V", "v": 120.1},
        *({"n": "current", "t": -t, "v": v} for t, v in ((5, 1.2), (4, 1.3), (3, 1.4), (2, 1.5), (1, 1.6))),
        {"n": "current", "v": 1.7},
    ],
    # 5.1.3 Multiple Measurements: records named by the base name alone, told apart by unit.
    "5.1.3": [
        {"bn": "urn:dev:cs:node-1", "bt": 1.320067464e09, "bu": "%RH", "v": 20},
        {"u": "lon", "v": 24.30621},
        {"u": "lat", "v": 60.07965},
        {"t": 60, "v": 20.3},
        {"u": "lon", "t": 60, "v": 24.30622},
        {"u": "lat", "t": 60, "v": 60.07965},
        {"t": 120, "v": 20.7},
        {"u": "lon", "t": 120, "v": 24.30623},
        {"u": "lat", "t": 120, "v": 60.07966},
        {"u": "%EL", "t": 150, "v": 98},
        {"t": 180, "v": 21.2},
        {"u": "lon", "t": 180, "v": 24.30628},
        {"u": "lat", "t": 180, "v": 60.07967},
    ],
    # 5.1.4 Resolved Data: the same 13 records, resolved.
    "5.1.4": [
        {"n": "urn:dev:cs:node-1", "u": u, "t": 1.320067464e09 + t, "v": v}
        for u, t, v in (
            ("%RH", 0, 20),
            ("lon", 0, 24.30621),
            ("lat", 0, 60.07965),
            ("%RH", 60, 20.3),
            ("lon", 60, 24.30622),
            ("lat", 60, 60.07965),
            ("%RH", 120, 20.7),
            ("lon", 120, 24.30623),
            ("lat", 120, 60.07966),
            ("%EL", 150, 98),
            ("%RH", 180, 21.2),
            ("lon", 180, 24.30628),
            ("lat", 180, 60.07967),
        )
    ],
    # 5.1.5 Multiple Data Types
    "5.1.5": [
        {"bn": BN, "n": "temp", "u": "Cel", "v": 23.1},
        {"n": "label", "vs": "Machine Room"},
        {"n": "open", "vb": False},
        {"n": "nfc-reader", "vd": "aGkgCg"},
    ],
    # 5.1.6 Collection of Resources: names and units citysense knows.
    "5.1.6": [{"bn": BN, "n": "temperature", "u": "Cel", "v": 27.2}, {"n": "humidity", "u": "%RH", "v": 80}],
}

EXPECTED = {
    "5.1.1": ([], ["bad_name"]),
    "5.1.2": ([], ["unknown_quantity", "unknown_quantity"]),
    "5.1.2-relative": ([], ["unknown_quantity"] * 7),
    "5.1.3": ([], ["bad_name"] * 13),
    "5.1.4": ([], ["bad_name"] * 13),
    "5.1.5": ([], ["unknown_quantity"] * 4),
    # Resolved as the RFC resolves it: name bn + n, unit, value, time "now" (no bt, no t).
    "5.1.6": ([Reading(DEV, "temperature", 27.2, NOW_MS), Reading(DEV, "humidity", 80.0, NOW_MS)], []),
}


@pytest.mark.parametrize("example", sorted(RFC_EXAMPLES))
def test_rfc_8428_section_5_examples_resolve_or_are_refused_with_a_reason(example):
    # The examples' times are from 2010-2011: read them with "now" at their base time.
    base_time = next((r["bt"] for r in RFC_EXAMPLES[example] if "bt" in r), None)
    result = parse(RFC_EXAMPLES[example], now=base_time if isinstance(base_time, float) else NOW)
    readings, refused = EXPECTED[example]
    if example != "5.1.6":
        assert result.readings == []
    else:
        assert result.readings == readings
    assert reasons(result) == refused
    assert all(r.detail for r in result.rejections)


# --------------------------------------------------------------------------- section 4 MUSTs


@pytest.mark.parametrize("version", [11, 99])
def test_a_pack_of_a_newer_senml_version_is_not_used(version):
    result = parse([{"bn": BN, "bver": version, "n": "pm25", "u": "ug/m3", "v": 10, "t": NOW}])
    assert result.readings == []
    assert reasons(result) == ["unsupported_version"]
    assert "must not be used" in result.rejections[0].detail


def test_versions_up_to_10_are_read_and_a_version_must_be_a_positive_integer():
    ok = parse([{"bn": BN, "bver": 10, "n": "pm25", "u": "ug/m3", "v": 10, "t": NOW}])
    assert ok.readings == [Reading(DEV, "pm25", 10.0, NOW_MS)]
    for bad in ("10", True, 0, 10.5):
        assert reasons(parse([{"bn": BN, "bver": bad, "n": "pm25", "u": "ug/m3", "v": 10}])) == ["unsupported_version"]


def test_a_label_ending_in_underscore_that_citysense_does_not_understand_refuses_the_pack():
    result = parse(
        [{"bn": BN, "n": "pm25", "u": "ug/m3", "v": 10, "t": NOW}, {"n": "pm10", "u": "ug/m3", "v": 5, "x_": 1}]
    )
    assert result.readings == []
    assert reasons(result) == ["must_understand"]
    assert "'x_'" in result.rejections[0].detail
    # Written with a JSON escape, it is the same label.
    escaped = '[{"bn":"urn:dev:cs:node-1:","n":"pm25","u":"ug/m3","v":1,"\\u0078_":1}]'
    assert reasons(parse(escaped)) == ["must_understand"]
    # Labels not ending in '_' that citysense does not know are ignored, as the RFC allows.
    assert parse([{"bn": BN, "n": "pm25", "u": "ug/m3", "v": 10, "t": NOW, "note": "x"}]).ok


def test_a_record_carries_at_most_one_value_field():
    result = parse([{"bn": BN, "n": "pm25", "u": "ug/m3", "v": 10, "vs": "10", "t": NOW}])
    assert reasons(result) == ["bad_record"]
    assert "at most one value field" in result.rejections[0].detail
    assert reasons(parse('[{"bn":"urn:dev:cs:node-1:","n":"pm25","u":"ug/m3","v":1,"\\u0076b":true}]')) == [
        "bad_record"
    ]


@pytest.mark.parametrize(("field", "value"), [("vs", "12"), ("vb", True), ("vd", "aGkgCg")])
def test_string_boolean_and_data_values_of_a_numeric_quantity_are_refused(field, value):
    result = parse([{"bn": BN, "n": "pm25", "u": "ug/m3", field: value, "t": NOW}])
    assert reasons(result) == ["wrong_value_type"]


def test_sums_are_refused_unless_a_value_comes_with_them():
    only_sum = parse([{"bn": BN, "n": "rainfall", "u": "mm", "s": 12.5, "t": NOW}])
    assert reasons(only_sum) == ["sum_not_supported"]
    both = parse([{"bn": BN, "n": "rainfall", "u": "mm", "v": 1.5, "s": 12.5, "t": NOW}])
    assert both.readings == [Reading(DEV, "rainfall", 1.5, NOW_MS)]
    assert reasons(parse([{"bn": BN, "n": "rainfall", "u": "mm", "v": 1.5, "s": "x", "t": NOW}])) == ["bad_record"]
    assert reasons(parse([{"bn": BN, "bs": None, "n": "rainfall", "u": "mm", "v": 1.5, "t": NOW}])) == ["bad_record"]


def test_base_fields_apply_to_the_records_after_them():
    result = parse(
        [
            {"bn": BN, "bt": NOW - 10, "bu": "Cel", "bv": 20.0, "n": "temperature", "v": 1.5},
            {"n": "temperature", "v": 2.5, "t": 5},
            {"n": "humidity", "u": "%RH", "v": 30, "t": 10},
        ]
    )
    assert result.readings == [
        Reading(DEV, "temperature", 21.5, NOW_MS - 10_000),
        Reading(DEV, "temperature", 22.5, NOW_MS - 5_000),
        Reading(DEV, "humidity", 50.0, NOW_MS),  # bv applies to every v that follows
    ]
    assert reasons(parse([{"bn": BN, "bu": 5, "n": "temperature", "u": "Cel", "v": 1, "t": NOW}])) == ["bad_record"]
    assert reasons(parse([{"bn": BN, "n": "temperature", "u": "Cel", "v": 1, "t": NOW, "ut": "soon"}])) == [
        "bad_record"
    ]


# --------------------------------------------------------------------------- units


@pytest.mark.parametrize(
    ("quantity", "unit", "sent", "stored"),
    [
        ("pm25", "kg/m3", 3.55e-8, 35.5),  # registered (RFC 8798)
        ("pm25", "ug/m3", 35.5, 35.5),  # RFC 8798 secondary unit of kg/m3
        ("pm10", "kg/m3", 1.2e-7, 120.0),
        ("rainfall", "m", 0.0125, 12.5),  # registered
        ("rainfall", "mm", 12.5, 12.5),  # RFC 8798 secondary unit of m
        ("bin_fill", "/", 0.42, 42.0),  # the RFC's ratio; stored as percent
        ("bin_fill", "/", 1.0, 100.0),
        ("bin_fill", "%", 0.42, 42.0),  # RFC 8428 note 1: '%' is the same ratio, not a percentage
    ],
)
def test_units_are_read_as_the_senml_registry_defines_them(quantity, unit, sent, stored):
    result = parse([{"bn": BN, "n": quantity, "u": unit, "v": sent, "t": NOW}])
    assert result.readings == [Reading(DEV, quantity, stored, NOW_MS)]


def test_a_legacy_agent_sending_percent_above_one_is_refused_not_misread():
    result = parse([{"bn": BN, "n": "bin_fill", "u": "%", "v": 42.0, "t": NOW}])
    assert reasons(result) == ["legacy_percent_unit"]
    assert "ratio" in result.rejections[0].detail


@pytest.mark.parametrize(("quantity", "unit"), [("pm25", "mg/m3"), ("bin_fill", "%RH"), ("rainfall", "cm")])
def test_other_units_are_refused_naming_the_registered_one(quantity, unit):
    result = parse([{"bn": BN, "n": quantity, "u": unit, "v": 1, "t": NOW}])
    assert reasons(result) == ["unit_mismatch"]


def test_producers_send_registered_units():
    payload = build_pack(
        DEV,
        [
            Reading(DEV, "pm25", 35.5, NOW_MS),
            Reading(DEV, "rainfall", 12.5, NOW_MS),
            Reading(DEV, "bin_fill", 42.0, NOW_MS),
            Reading(DEV, "temperature", 30.0, NOW_MS),
        ],
    )
    records = json.loads(payload)
    assert [(r["u"], r["v"]) for r in records] == [("kg/m3", 3.55e-08), ("m", 0.0125), ("/", 0.42), ("Cel", 30.0)]
    assert parse_pack(payload, device_id=DEV, now=NOW).readings == [
        Reading(DEV, "pm25", 35.5, NOW_MS),
        Reading(DEV, "rainfall", 12.5, NOW_MS),
        Reading(DEV, "bin_fill", 42.0, NOW_MS),
        Reading(DEV, "temperature", 30.0, NOW_MS),
    ]
