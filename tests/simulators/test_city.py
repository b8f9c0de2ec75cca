"""The city model: the shipped default city, city files, and choosing a subset of devices."""

from __future__ import annotations

from collections import Counter

import pytest

from simulators.city import KINDS, load_city


def test_default_city_has_six_districts_and_a_few_hundred_devices_of_every_kind():
    city = load_city()
    assert len(city.districts) >= 6
    assert 250 <= len(city.devices) <= 600
    kinds = Counter(d.kind for d in city.devices)
    assert set(kinds) == set(KINDS)
    # Every district has at least one device of every kind, each id unique and wire-safe.
    for district in city.districts:
        assert {d.kind for d in city.devices if d.district == district.slug} == set(KINDS)
    assert len({d.device_id for d in city.devices}) == len(city.devices)
    assert {d.variant for d in city.devices if d.kind == "water"} == {"river", "drain"}


def test_selecting_devices_spreads_them_over_districts_and_kinds():
    city = load_city()
    chosen = city.select(48)
    assert len(chosen) == 48
    assert {d.district for d in chosen} == set(city.slugs)
    assert {d.kind for d in chosen} == set(KINDS)
    assert city.select(48) == chosen  # stable


def test_a_bad_city_file_is_refused_with_the_file_and_the_field(tmp_path):
    path = tmp_path / "city.yaml"
    path.write_text("name: x\ndistricts:\n  - {slug: a, name: A, lat: 200, lon: 0, fleet: {air: 1}}\n")
    with pytest.raises(ValueError, match=r"(?s)city\.yaml.*districts\.0\.lat"):
        load_city(path)
    with pytest.raises(FileNotFoundError, match="no city file"):
        load_city(tmp_path / "missing.yaml")
