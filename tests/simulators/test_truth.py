"""Ground truth: every incident and fault a run writes down is there to see in the data it describes."""

from __future__ import annotations

from statistics import median

from simulators.scenario import Fault, Incident, RandomPlan, Scenario
from tests.simulators.support import run_in_memory, series

DAY = 86_400.0
VISIBLE_LEVEL = {"flood": 2.5, "pollution": 55.5, "bin_overflow": 98.0}


def one_of_everything(*, faults: bool) -> Scenario:
    return Scenario(
        name="everything",
        incidents=[
            Incident(kind="flood", district="sungai-barat", start_s=36_000, duration_s=14_400, peak=3.1),
            Incident(
                kind="pollution", district="industri-timur", start_s=20_000, duration_s=10_800, cause="industrial"
            ),
            Incident(
                kind="pollution", district="kota-lama", start_s=25_000, duration_s=7_200, peak=80, cause="traffic_jam"
            ),
            Incident(kind="bin_overflow", district="pelabuhan", start_s=30_000, duration_s=36_000),
            Incident(kind="streetlight_failure", district="taman-sari", start_s=64_800, duration_s=18_000),
            Incident(kind="noise_complaint", district="kota-lama", start_s=79_200, duration_s=7_200, peak=86),
        ],
        faults=[
            Fault(kind="stuck", device="bukit-hijau-air-02", start_s=10_000, duration_s=20_000),
            Fault(kind="drift", device="pelabuhan-air-03", start_s=5_000, duration_s=60_000),
            Fault(kind="spikes", device="kota-lama-noise-02", start_s=30_000, duration_s=20_000, magnitude=0.1),
            Fault(kind="silence", device="taman-sari-water-02", start_s=40_000, duration_s=7_200),
            Fault(kind="battery_death", device="sungai-barat-rain-03", start_s=50_000),
            Fault(
                kind="clock_skew",
                device="industri-timur-traffic-02",
                start_s=20_000,
                duration_s=20_000,
                magnitude=1_800,
            ),
        ]
        if faults
        else [],
        random=RandomPlan(incidents_per_day=6, faults_per_day=6 if faults else 0),
    )


def test_every_incident_and_fault_in_the_truth_is_visible_in_the_readings_it_names():
    readings, summary = run_in_memory(one_of_everything(faults=True), until_s=DAY, seed=5)
    # The same run without faults: what each faulty device would have said.
    clean, _ = run_in_memory(one_of_everything(faults=False), until_s=DAY, seed=5)
    data, baseline = series(readings), series(clean)
    kinds = {r.kind for r in summary.truth}
    assert kinds >= {
        "flood",
        "pollution",
        "bin_overflow",
        "streetlight_failure",
        "noise_complaint",
        "stuck",
        "drift",
        "spikes",
        "silence",
        "battery_death",
        "clock_skew",
    }
    assert any(r.source == "random" for r in summary.truth)

    for record in summary.truth:
        (quantity, *_) = record.quantities
        start, end = record.start_ms, record.end_ms
        assert end is not None
        assert record.devices, record

        def inside(device, q=quantity, source=data, lo=start, hi=end):
            return [v for t, v in source.get((device, q), []) if lo <= t <= hi]

        seen = [v for device in record.devices for v in inside(device)]
        if record.kind in VISIBLE_LEVEL:
            assert max(seen) >= VISIBLE_LEVEL[record.kind], record
        elif record.kind == "streetlight_failure":
            assert seen, record
            assert set(seen) == {0.0}, record
        elif record.kind == "noise_complaint":
            assert max(seen) >= record.level - 5, record
        else:
            (device,) = record.devices
            _check_fault(record, device, data, baseline)
        assert record.expected_ticket == {
            "flood": "flood",
            "pollution": "air_quality",
            "bin_overflow": "waste_bin",
            "streetlight_failure": "streetlight",
            "noise_complaint": "noise",
        }.get(record.kind, "device_fault")


def _check_fault(record, device, data, baseline):
    start, end = record.start_ms, record.end_ms
    for quantity in record.quantities:
        got = [(t, v) for t, v in data.get((device, quantity), []) if start <= t <= end]
        want = [(t, v) for t, v in baseline[(device, quantity)] if start <= t <= end]
        assert want, record
        if record.kind in ("silence",):
            assert got == [], record
        elif record.kind == "battery_death":
            assert not [t for t, _ in got if t > start + 3_600_000], record
            assert len(got) < len(want), record
        elif record.kind == "stuck":
            assert len({v for _, v in got}) == 1, record
            assert len(got) == len(want), record
        elif record.kind == "drift":
            gap = abs(got[-1][1] - want[-1][1])
            assert gap > 0.5 * (end - start) / 86_400_000 * _drift_per_day(quantity) - 1, record
        elif record.kind == "spikes":
            assert max(v for _, v in got) > 2.5 * max(median(v for _, v in want), 1), record
        elif record.kind == "clock_skew":
            shift = round(record.level * 1000)
            skewed = {t for t, _ in data[(device, quantity)]}
            assert {t + shift for t, _ in want} <= skewed, record


def _drift_per_day(quantity: str) -> float:
    from simulators.truth import DRIFT_PER_DAY

    return DRIFT_PER_DAY[quantity]
