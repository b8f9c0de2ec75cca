"""The time-series store contract, run against every adapter (see conftest.ADAPTERS)."""

from __future__ import annotations

import pandas as pd
import pytest

from citysense.timeseries import open_store
from citysense.wire import Reading

T0 = 1_789_999_980_000  # ms, on a whole minute so that buckets start at T0
MINUTE = 60_000


def at(ms: int) -> pd.Timestamp:
    return pd.Timestamp(ms, unit="ms", tz="UTC")


def r(value: float, offset_ms: int = 0, device: str = "river-1", quantity: str = "water_level") -> Reading:
    return Reading(device, quantity, value, T0 + offset_ms)


def by_key(readings: list[Reading]) -> dict[tuple[str, str], Reading]:
    return {(x.device_id, x.quantity): x for x in readings}


# --------------------------------------------------------------------------- write


def test_write_returns_how_many_readings_were_new(store):
    assert store.count() == 0
    assert store.write([r(1.0, 0), r(2.0, 1000), r(3.0, 0, quantity="rainfall")]) == 3
    assert store.count() == 3
    assert store.write([]) == 0
    assert store.count() == 3


def test_writing_the_same_batch_twice_stores_it_once(store):
    batch = [r(1.0, 0), r(2.0, 1000), r(3.0, 0, device="river-2")]
    assert store.write(batch) == 3
    assert store.write(batch) == 0
    assert store.count() == 3
    frame = store.read_range(device_id="river-1", quantity="water_level", start_ms=T0, end_ms=T0 + MINUTE)
    assert frame["value"].tolist() == [1.0, 2.0]


def test_a_partly_repeated_batch_counts_only_the_new_readings(store):
    assert store.write([r(1.0, 0), r(2.0, 1000)]) == 2
    assert store.write([r(2.0, 1000), r(3.0, 2000), r(3.0, 2000)]) == 1
    assert store.count() == 3


def test_a_repeated_key_keeps_one_value_and_latest_agrees_with_the_range(store):
    store.write([r(1.0, 0)])
    store.write([r(9.0, 0)])  # same device, quantity and instant: the same reading by identity
    assert store.count() == 1
    frame = store.read_range(device_id="river-1", quantity="water_level", start_ms=T0, end_ms=T0 + 1)
    (stored,) = frame["value"].tolist()
    assert store.latest() == [Reading("river-1", "water_level", stored, T0)]


def test_values_and_times_come_back_exactly(store):
    value = 0.1 + 0.2  # not a "nice" float
    store.write([Reading("river-1", "water_level", value, T0 + 1)])
    assert store.latest() == [Reading("river-1", "water_level", value, T0 + 1)]
    frame = store.read_range(device_id="river-1", quantity="water_level", start_ms=T0, end_ms=T0 + 2)
    assert frame.index.tolist() == [at(T0 + 1)]
    assert frame["value"].tolist() == [value]


# --------------------------------------------------------------------------- latest


def test_latest_is_the_newest_reading_of_each_device_and_quantity(store):
    store.write([r(1.0, 0), r(2.0, 2000), r(5.0, 0, device="river-2"), r(7.0, 0, quantity="rainfall")])
    # An older reading that arrives late does not replace the newest one.
    store.write([r(0.5, 1000), r(0.1, -5000)])
    store.write([r(6.0, 1000, device="river-2")])

    latest = by_key(store.latest())
    assert latest == {
        ("river-1", "water_level"): r(2.0, 2000),
        ("river-2", "water_level"): r(6.0, 1000, device="river-2"),
        ("river-1", "rainfall"): r(7.0, 0, quantity="rainfall"),
    }
    assert store.count() == 7


def test_latest_within_one_batch_is_the_newest_whatever_the_order(store):
    store.write([r(3.0, 3000), r(1.0, 1000), r(2.0, 2000)])
    assert store.latest() == [r(3.0, 3000)]


def test_latest_can_be_filtered_by_quantity(store):
    store.write(
        [r(1.0), r(2.0, device="river-2"), r(7.0, quantity="rainfall"), r(40.0, device="air-1", quantity="pm25")]
    )
    assert sorted(store.latest(quantity="water_level"), key=lambda x: x.device_id) == [
        r(1.0),
        r(2.0, device="river-2"),
    ]
    assert store.latest(quantity="pm25") == [r(40.0, device="air-1", quantity="pm25")]
    assert store.latest(quantity="noise") == []
    assert len(store.latest()) == 4


def test_an_empty_store_has_no_latest(store):
    assert store.latest() == []


# --------------------------------------------------------------------------- read_range


def test_raw_range_is_start_inclusive_end_exclusive_sorted_and_utc(store):
    store.write(
        [
            r(4.0, 30_000),
            r(1.0, -1),  # before start
            r(2.0, 0),  # at start: in
            r(3.0, 10_000),
            r(5.0, MINUTE),  # at end: out
            r(9.0, 10_000, device="river-2"),  # another device
            r(8.0, 10_000, quantity="rainfall"),  # another quantity
        ]
    )
    frame = store.read_range(device_id="river-1", quantity="water_level", start_ms=T0, end_ms=T0 + MINUTE)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["value"]
    assert frame.index.name == "time"
    assert str(frame.index.tz) == "UTC"
    assert frame.index.tolist() == [at(T0), at(T0 + 10_000), at(T0 + 30_000)]
    assert frame["value"].tolist() == [2.0, 3.0, 4.0]


def test_an_empty_range_is_an_empty_frame(store):
    store.write([r(1.0, 0)])
    frame = store.read_range(device_id="river-1", quantity="water_level", start_ms=T0 + 1, end_ms=T0 + MINUTE)
    assert frame.empty
    assert list(frame.columns) == ["value"]
    empty = store.read_range(device_id="nobody", quantity="water_level", start_ms=T0, end_ms=T0 + MINUTE, bucket_s=60)
    assert empty.empty
    assert list(empty.columns) == ["mean", "min", "max", "count"]


def test_bucketed_range_has_mean_min_max_count_per_non_empty_bucket(store):
    store.write(
        [
            r(100.0, -1),  # before start, in the bucket before T0: not counted
            r(1.0, 0),
            r(2.0, 10_000),
            r(6.0, MINUTE - 1),
            r(10.0, MINUTE),
            # nothing in [T0 + 2 min, T0 + 3 min)
            r(4.0, 3 * MINUTE + 5_000),
            r(-2.0, 3 * MINUTE + 50_000),
            r(50.0, 4 * MINUTE),  # at end: not counted
            r(77.0, 30_000, device="river-2"),
        ]
    )
    frame = store.read_range(
        device_id="river-1", quantity="water_level", start_ms=T0, end_ms=T0 + 4 * MINUTE, bucket_s=60
    )
    assert list(frame.columns) == ["mean", "min", "max", "count"]
    assert frame.index.name == "time"
    assert str(frame.index.tz) == "UTC"
    assert frame.index.tolist() == [at(T0), at(T0 + MINUTE), at(T0 + 3 * MINUTE)]
    assert frame["mean"].tolist() == [3.0, 10.0, 1.0]
    assert frame["min"].tolist() == [1.0, 10.0, -2.0]
    assert frame["max"].tolist() == [6.0, 10.0, 4.0]
    assert frame["count"].tolist() == [3, 1, 2]


def test_buckets_are_aligned_to_the_clock_not_to_start(store):
    store.write([r(1.0, 20_000), r(3.0, 50_000), r(5.0, 70_000)])
    frame = store.read_range(
        device_id="river-1", quantity="water_level", start_ms=T0 + 15_000, end_ms=T0 + 2 * MINUTE, bucket_s=60
    )
    assert frame.index.tolist() == [at(T0), at(T0 + MINUTE)]
    assert frame["mean"].tolist() == [2.0, 5.0]
    assert frame["count"].tolist() == [2, 1]


def test_one_bucket_can_hold_a_whole_hour(store):
    hour = T0 - T0 % 3_600_000
    store.write([Reading("river-1", "water_level", float(i), hour + i * MINUTE) for i in range(60)])
    frame = store.read_range(
        device_id="river-1", quantity="water_level", start_ms=hour, end_ms=hour + 60 * MINUTE, bucket_s=3600
    )
    assert frame.index.tolist() == [at(hour)]
    row = frame.iloc[0]
    assert (row["mean"], row["min"], row["max"], row["count"]) == (29.5, 0.0, 59.0, 60)


# --------------------------------------------------------------------------- durability and URLs


def test_data_survives_close_and_reopen(store_url):
    first = open_store(store_url)
    assert first.write([r(1.0, 0), r(2.0, 1000), r(3.0, 0, device="river-2")]) == 3
    first.close()

    second = open_store(store_url)
    try:
        assert second.count() == 3
        assert by_key(second.latest()) == {
            ("river-1", "water_level"): r(2.0, 1000),
            ("river-2", "water_level"): r(3.0, 0, device="river-2"),
        }
        frame = second.read_range(device_id="river-1", quantity="water_level", start_ms=T0, end_ms=T0 + MINUTE)
        assert frame["value"].tolist() == [1.0, 2.0]
        # Still idempotent across restarts.
        assert second.write([r(2.0, 1000)]) == 0
    finally:
        second.close()


def test_a_second_store_on_the_same_url_sees_committed_writes(store, store_url):
    reader = open_store(store_url)
    try:
        store.write([r(1.0, 0)])
        assert reader.latest() == [r(1.0, 0)]
        assert reader.count() == 1
    finally:
        reader.close()


@pytest.mark.parametrize(
    "url", ["influx://localhost:8086/city", "postgresql://db/ts", "memory:", "", "/var/lib/ts.db", "SQLITE:///x.db"]
)
def test_open_store_refuses_an_unknown_scheme(url):
    with pytest.raises(ValueError, match="no time-series adapter"):
        open_store(url)


@pytest.mark.parametrize("url", ["sqlite:///", "sqlite://relative.db", "sqlite:x.db"])
def test_open_store_refuses_a_malformed_sqlite_url(url):
    with pytest.raises(ValueError, match="sqlite:///"):
        open_store(url)


def test_open_store_creates_missing_folders(tmp_path):
    path = tmp_path / "a" / "b" / "ts.db"
    created = open_store(f"sqlite:///{path}")
    try:
        assert created.write([r(1.0)]) == 1
    finally:
        created.close()
    assert path.is_file()
