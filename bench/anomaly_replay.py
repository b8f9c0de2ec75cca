"""Replay recorded evaluation runs through today's engine: detector work in minutes, not hours.

`citysense evaluate` simulates the city and scores the engine in one pass; most of a run's time is
the simulation, which a detector change does not touch. This tool records what the fleet sent once
(`capture`), then feeds the same readings, in the same packs and order, through the engine, the
ticket policy and the evaluation's scoring (`replay`), with whatever settings the environment gives
(`CITYSENSE_ANOMALY_BUDGET=3e-4 python -m bench.anomaly_replay replay ...`).

Only for development on the standard set: a figure for the record comes from `bench.detection`,
which simulates afresh. Recordings are large (about 60 MB per run) and stay out of the repository.

    python -m bench.anomaly_replay capture --set standard --out REC    # once: all four runs
    python -m bench.anomaly_replay replay --rec REC [--runs a,b] [--jobs 2] [--json OUT]

Each replay also says why every truth anomaly it missed was missed (`why`, per kind in `why_by_kind`):
its series was never at alarm; it was, but a rule breach or a fault explained the alarm (the rule's
ticket or the fault's covers it); a gauge rose while its district's rain gauges read rain
(`CITYSENSE_ANOMALY_RAIN_EXPLAINS_RISE`); the neighbours shared it (the world, not the device); the alarm
never lasted long enough to confirm; or something else (the ticket opened too late or on another
record). Beside each, the truth's `effect` (how much the anomaly changed the true value) tells the
misses that had nothing to find from the detector's own.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from analytics.engine import DeviceMeta, Engine, EngineConfig
from analytics.evaluate import (
    Run,
    _city_path,
    _EvalSink,
    _throwaway,
    _tickets,
    load_runs,
    score,
    simulation_options,
)
from analytics.tickets import TicketPolicy
from citysense.db import connect
from citysense.settings import AnalyticsSettings, SimulateSettings
from citysense.wire import Reading

ANOMALY_KINDS = ("traffic_collapse", "night_noise", "lamp_overdraw", "gauge_oscillation", "pattern_change")


class _Recorder:
    """A simulator sink that keeps every pack as columns (device, quantity, time, value)."""

    def __init__(self) -> None:
        self.devices: dict[str, int] = {}
        self.quantities: dict[str, int] = {}
        self.ends: list[int] = []
        self.device: list[int] = []
        self.quantity: list[int] = []
        self.time_ms: list[int] = []
        self.value: list[float] = []

    def open(self, devices: Sequence[object]) -> None:
        return None

    def send(self, device: Any, readings: list[Reading]) -> None:
        if not readings:
            return
        for r in readings:
            self.device.append(self.devices.setdefault(r.device_id, len(self.devices)))
            self.quantity.append(self.quantities.setdefault(r.quantity, len(self.quantities)))
            self.time_ms.append(r.time_ms)
            self.value.append(r.value)
        self.ends.append(len(self.value))

    def sync(self) -> None:
        return None

    def close(self) -> None:
        return None


def capture(run: Run, out: Path) -> Path:
    from simulators.city import load_city
    from simulators.run import run_simulation

    city = load_city(_city_path(run.city))
    start = datetime.fromisoformat(run.start).timestamp()
    rec = _Recorder()
    summary = run_simulation(simulation_options(run, city), SimulateSettings(), sink=rec)
    scored_from_ms = round(start * 1000)
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out / f"{run.name}.npz",
        ends=np.asarray(rec.ends, dtype=np.int64),
        device=np.asarray(rec.device, dtype=np.int32),
        quantity=np.asarray(rec.quantity, dtype=np.int16),
        time_ms=np.asarray(rec.time_ms, dtype=np.int64),
        value=np.asarray(rec.value, dtype=np.float64),
    )
    meta = {
        "run": run.model_dump(),
        "devices": list(rec.devices),
        "quantities": list(rec.quantities),
        "scored_from_ms": scored_from_ms,
        "end_ms": round((start + run.days * 86_400) * 1000),
        "device_days": summary.devices * run.days,
        "city": {d.device_id: [d.district, d.kind] for d in city.devices},
        "truth": [asdict(r) for r in summary.truth if r.start_ms >= scored_from_ms],
    }
    (out / f"{run.name}.json").write_text(json.dumps(meta))
    return out / f"{run.name}.npz"


class _Trace:
    """What each truth anomaly's series did while the anomaly lasted: alarms, and what vetoed them."""

    def __init__(self, engine: Engine, truth: list[dict[str, Any]], end_ms: int) -> None:
        self.engine, self._process = engine, engine.process
        self.records = [r for r in truth if r["category"] == "anomaly"]
        self.watch: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for r in self.records:
            for device in r["devices"]:
                for quantity in r["quantities"]:
                    self.watch.setdefault((device, quantity), []).append(r)
        self.end_ms = end_ms
        self.seen = {r["id"]: Counter() for r in self.records}
        engine.process = self.process  # type: ignore[method-assign]

    def process(self, reading: Reading, **kw: Any) -> list[Any]:
        findings = self._process(reading, **kw)
        for r in self.watch.get((reading.device_id, reading.quantity), ()):
            if r["start_ms"] <= reading.time_ms <= (r["end_ms"] or self.end_ms):
                series = self.engine._series[(reading.device_id, reading.quantity)]
                seen = self.seen[r["id"]]
                seen["readings"] += 1
                if series.anomaly.alarm:
                    seen["alarm"] += 1
                    seen["explained"] += series.anomaly_explained
                    seen["rained"] += series.anomaly_rained
                    seen["shared"] += series.anomaly_common
                    seen["longest"] = max(seen["longest"], series.anomaly_streak)
        return findings

    def why(self, missed: set[str], confirm: int) -> list[dict[str, Any]]:
        out = []
        for r in self.records:
            seen = self.seen[r["id"]]
            if r["id"] not in missed:
                why = "found"
            elif not seen["alarm"]:
                why = "never at alarm"
            elif seen["explained"] * 2 >= seen["alarm"]:
                why = "explained by a rule or fault"
            elif seen["rained"] * 2 >= seen["alarm"]:
                why = "rose in the rain"
            elif seen["shared"] * 2 >= seen["alarm"]:
                why = "shared with neighbours"
            elif seen["longest"] < confirm:
                why = "alarm too short"
            else:
                why = "other"
            counts = {k: seen[k] for k in ("readings", "alarm", "longest")}
            out.append(
                {"id": r["id"], "kind": r["kind"], "device": r["devices"][0], "why": why, "effect": r.get("effect")}
                | counts
            )
        return out


def replay(rec: Path, name: str) -> dict[str, Any]:
    meta = json.loads((rec / f"{name}.json").read_text())
    data = np.load(rec / f"{name}.npz")
    devices, quantities, city = meta["devices"], meta["quantities"], meta["city"]
    settings = AnalyticsSettings()
    began = time.monotonic()
    with tempfile.TemporaryDirectory() as folder:
        sessions = connect(f"sqlite:///{Path(folder) / 'tickets.db'}")
        _throwaway(sessions.kw["bind"])

        def device_meta(device_id: str) -> DeviceMeta:
            district, kind = city.get(device_id, ("unknown", "unknown"))
            return DeviceMeta(device_id, district, kind)

        engine = Engine(EngineConfig.from_settings(settings), device_meta)
        trace = _Trace(engine, meta["truth"], meta["end_ms"])
        policy = TicketPolicy(sessions, quiet_period_s=settings.quiet_period_s)
        sink = _EvalSink(engine, policy, scored_from_ms=meta["scored_from_ms"])
        dev = data["device"].tolist()
        qty = data["quantity"].tolist()
        tms = data["time_ms"].tolist()
        val = data["value"].tolist()
        begin = 0
        for end in data["ends"].tolist():
            sink.send(None, [Reading(devices[dev[i]], quantities[qty[i]], val[i], tms[i]) for i in range(begin, end)])
            begin = end
        sink.tick(meta["end_ms"])
        tickets = _tickets(sessions)
        sessions.kw["bind"].dispose()
    kinds = {d: v[1] for d, v in city.items()}
    types, false, missed = score(
        meta["truth"], tickets, device_kinds=kinds, device_days=meta["device_days"], end_ms=meta["end_ms"]
    )
    anomaly_false = [t for t in false if t.service_code == "anomaly"]
    return {
        "run": name,
        "wall_s": round(time.monotonic() - began, 1),
        "device_days": meta["device_days"],
        "found": {k: types[k].found for k in ANOMALY_KINDS},
        "truth": {k: types[k].truth for k in ANOMALY_KINDS},
        "types": {
            k: {"truth": v.truth, "found": v.found, "tickets": v.tickets, "false": v.false} for k, v in types.items()
        },
        "anomaly_tickets": sum(t.service_code == "anomaly" for t in tickets),
        "false_anomaly": len(anomaly_false),
        "false_anomaly_by_kind": dict(Counter(kinds.get(t.devices[0], "?") for t in anomaly_false)),
        "false_all": len(false),
        "anomaly_list": [
            {"devices": list(t.devices), "opened_ms": t.opened_ms, "resolved_ms": t.resolved_ms}
            for t in tickets
            if t.service_code == "anomaly"
        ],
        "anomalies": trace.why({m["id"] for m in missed}, settings.anomaly_confirm),
        "false_anomaly_list": [
            {"devices": list(t.devices), "opened_ms": t.opened_ms, "kind": kinds.get(t.devices[0], "?")}
            for t in anomaly_false
        ],
    }


def _merge(results: list[dict[str, Any]]) -> dict[str, Any]:
    found: Counter[str] = Counter()
    truth: Counter[str] = Counter()
    by_kind: Counter[str] = Counter()
    why: dict[str, Counter[str]] = {}
    for r in results:
        for a in r["anomalies"]:
            why.setdefault(a["kind"], Counter())[a["why"]] += 1
        found.update(r["found"])
        truth.update(r["truth"])
        by_kind.update(r["false_anomaly_by_kind"])
    device_days = sum(r["device_days"] for r in results)
    false = sum(r["false_anomaly"] for r in results)
    return {
        "found": sum(found.values()),
        "truth": sum(truth.values()),
        "recall": round(sum(found.values()) / max(1, sum(truth.values())), 3),
        "found_by_kind": dict(found),
        "false_anomaly": false,
        "false_anomaly_per_100dd": round(100 * false / device_days, 2),
        "false_anomaly_by_kind": dict(by_kind),
        "false_all_per_100dd": round(100 * sum(r["false_all"] for r in results) / device_days, 2),
        "why_by_kind": {kind: dict(counts) for kind, counts in sorted(why.items())},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    cap = sub.add_parser("capture", help="simulate a set's runs once and record every pack")
    cap.add_argument(
        "--set", default="standard", help="standard (the development set), confirm (the second), or one run's name"
    )
    cap.add_argument("--out", type=Path, required=True, help="folder for the recordings")
    cap.add_argument("--jobs", type=int, default=2)
    rep = sub.add_parser("replay", help="feed recorded runs through today's engine and score them")
    rep.add_argument("--rec", type=Path, required=True, help="folder of recordings")
    rep.add_argument("--runs", default="", help="comma-separated run names (default: every recording)")
    rep.add_argument("--jobs", type=int, default=2)
    rep.add_argument("--json", type=Path, default=None, help="write the per-run and merged figures here")
    args = parser.parse_args(argv)
    if args.command == "capture":
        runs = load_runs(args.set)
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            for path in pool.map(capture, runs, [args.out] * len(runs)):
                print(f"recorded {path}", file=sys.stderr)
        return 0
    names = [n for n in args.runs.split(",") if n] or sorted(p.stem for p in args.rec.glob("*.npz"))
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(replay, [args.rec] * len(names), names))
    merged = _merge(results)
    for r in results:
        print(f"{r['run']}: found {r['found']} false anomaly {r['false_anomaly']} {r['false_anomaly_by_kind']} "
              f"({r['wall_s']} s)")  # fmt: skip
    print(json.dumps(merged))
    if args.json is not None:
        args.json.write_text(json.dumps({"runs": results, "merged": merged}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
