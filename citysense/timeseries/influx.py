"""The InfluxDB adapter: line protocol in, InfluxQL out, for InfluxDB 1.x, 2.x and 3.x.

URL: `influxdb://[user:password@]host[:port]/database[?token=...&org=...&timeout_s=...]`
(`influxdbs://` for HTTPS). InfluxDB 1.x logs in with user and password; 2.x and 3.x with a
token, and `database` is then the bucket (2.x maps buckets to InfluxQL databases itself).

Writes go through influxdb-client's v2 write API; a server without `/api/v2/write` (InfluxDB
before 1.8) answers 404 and the adapter switches, once, to the v1 `/write` endpoint. Reads are
InfluxQL over `/query`, which every version answers. A 204 from either write endpoint means the
points are in the server's write-ahead log, which is what lets ingest acknowledge after it.

Schema: measurement `readings`, tags `device` and `quantity` only (the series key), the float
field `value`, and the registry's `district`, `kind` (strings), `lat`, `lon` (floats) as fields
when known; millisecond timestamps. A point is identified by its series and timestamp, so writing
a reading again overwrites it: stored once, however the registry changed in between (a device
moved, a refresh). Tags would be part of the series' identity and store it two or three times.
InfluxQL filters on the fields (`WHERE "district" =~ /.../`) but cannot group by them: per-district
series are built by the dashboards, one panel per district (see docs/dashboards.md).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pandas as pd

from citysense.errors import StoreError
from citysense.timeseries.base import Bucket, DeviceTags, HealthPoint, HealthScope
from citysense.wire import Reading

__all__ = ["InfluxLocation", "InfluxStore"]

log = logging.getLogger(__name__)

MEASUREMENT = "readings"
# Health points by scope: (measurement, tag naming the source).
HEALTH_MEASUREMENTS: dict[str, tuple[str, str]] = {"device": ("fleet_health", "device"), "ingest": ("ingest", "worker")}
_MIN_RETENTION_S = 3600  # InfluxDB refuses shorter retention policies
_DROPPED = re.compile(r"dropped=(\d+)")
_MS: Any = "ms"  # influxdb-client's WritePrecision.MS, which is this string
_TAG_ESCAPES = str.maketrans({",": r"\,", " ": r"\ ", "=": r"\="})
_STRING_FIELD_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"'})


@dataclass(frozen=True, slots=True)
class InfluxLocation:
    """Where the server is and how to log in, parsed from the store URL."""

    base_url: str
    database: str
    username: str | None = None
    password: str | None = None
    token: str | None = None
    org: str = "-"
    timeout_s: float = 10.0

    @classmethod
    def from_url(cls, url: str) -> InfluxLocation:
        parts = urlsplit(url)
        if parts.scheme not in ("influxdb", "influxdbs") or not parts.hostname:
            raise ValueError(f"InfluxDB store URL must be influxdb://[user:pass@]host:8086/database, got {url!r}")
        database = unquote(parts.path.lstrip("/"))
        if not database or "/" in database:
            raise ValueError(f"InfluxDB store URL needs one database (or bucket) name as its path, got {url!r}")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = set(query) - {"token", "org", "timeout_s"}
        if unknown:
            raise ValueError(f"unknown InfluxDB URL parameters {sorted(unknown)} (known: token, org, timeout_s)")
        http = "https" if parts.scheme == "influxdbs" else "http"
        return cls(
            base_url=f"{http}://{parts.hostname}:{parts.port or 8086}",
            database=database,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            token=query.get("token"),
            org=query.get("org", "-"),
            timeout_s=float(query.get("timeout_s", 10.0)),
        )

    @property
    def v2_token(self) -> str:
        """The v2 API's credential: a token, or `user:password` as InfluxDB 1.8+ accepts."""
        if self.token:
            return self.token
        return f"{self.username}:{self.password or ''}" if self.username else ""


def _tag(value: str) -> str:
    return value.translate(_TAG_ESCAPES)


def _literal(value: str) -> str:
    """An InfluxQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


_MAX_CACHED_SERIES = 200_000


def _string_field(value: str) -> str:
    return '"' + value.translate(_STRING_FIELD_ESCAPES) + '"'


def _line_parts(device_id: str, quantity: str, tags: DeviceTags | None) -> tuple[str, str]:
    """What goes before and after the value: the series key (device and quantity, in InfluxDB's own
    key order) and the registry's description of the device as fields."""
    head = f"{MEASUREMENT},device={_tag(device_id)},quantity={_tag(quantity)} value="
    tail = ""
    if tags is not None:
        tail = f",district={_string_field(tags.district)},kind={_string_field(tags.kind)}"
        if tags.lat is not None and tags.lon is not None:
            tail += f",lat={float(tags.lat)!r},lon={float(tags.lon)!r}"
    return head, tail


def _classify(status: int, text: str, what: str) -> StoreError:
    """Server overload and outages are worth retrying; a refused request will be refused again."""
    retryable = status >= 500 or status in (408, 429)
    return StoreError(f"InfluxDB {what} failed with HTTP {status}: {text.strip()[:300]}", retryable=retryable)


class InfluxStore:
    """Thread-safe: influxdb-client and httpx both pool connections; the lock guards only our state."""

    def __init__(self, location: InfluxLocation) -> None:
        from influxdb_client.client.influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS

        self.location = location
        headers = {"Authorization": f"Token {location.token}"} if location.token else {}
        auth = (location.username, location.password or "") if location.username and not location.token else None
        self._http = httpx.Client(base_url=location.base_url, headers=headers, auth=auth, timeout=location.timeout_s)
        # No retries inside the client: ingest retries, counts and backs off itself.
        self._client = InfluxDBClient(
            url=location.base_url,
            token=location.v2_token,
            org=location.org,
            timeout=int(location.timeout_s * 1000),
            retries=False,
        )
        self._writer = self._client.write_api(write_options=SYNCHRONOUS)
        self._lock = threading.Lock()
        self._use_v1_write = False
        self._database_ready = False
        self._retention_s: float | None = None
        self._parts: dict[tuple[str, str, DeviceTags | None], tuple[str, str]] = {}

    @classmethod
    def from_url(cls, url: str) -> InfluxStore:
        return cls(InfluxLocation.from_url(url))

    # ------------------------------------------------------------------ writing

    def write(self, readings: Sequence[Reading], *, devices: Mapping[str, DeviceTags] | None = None) -> int:
        if not readings:
            return 0
        self._ensure_database()
        body = self._lines(readings, devices or {})
        dropped = self._post_v1(body) if self._use_v1_write else self._post_v2(body)
        return len(readings) - dropped

    def _lines(self, readings: Sequence[Reading], devices: Mapping[str, DeviceTags]) -> bytes:
        # Everything but the value and time is the same for every reading of a series: built once.
        cache = self._parts
        tags_of = devices.get
        lines = []
        for device_id, quantity, value, time_ms in readings:
            key = (device_id, quantity, tags_of(device_id))
            parts = cache.get(key)
            if parts is None:
                if len(cache) >= _MAX_CACHED_SERIES:
                    cache.clear()
                parts = cache[key] = _line_parts(*key)
            lines.append(f"{parts[0]}{value!r}{parts[1]} {time_ms}")
        return "\n".join(lines).encode()

    def write_health(self, points: Sequence[HealthPoint]) -> int:
        if not points:
            return 0
        self._ensure_database()
        lines = []
        for p in points:
            measurement, tag = HEALTH_MEASUREMENTS[p.scope]
            _, tail = _line_parts(p.source, p.metric, p.tags)  # the device's registry fields
            head = f"{measurement},{tag}={_tag(p.source)},metric={_tag(p.metric)} value="
            lines.append(f"{head}{float(p.value)!r}{tail} {p.time_ms}")
        body = "\n".join(lines).encode()
        dropped = self._post_v1(body) if self._use_v1_write else self._post_v2(body)
        return len(points) - dropped

    def read_health(
        self, *, scope: HealthScope, metric: str, start_ms: int, end_ms: int, source: str | None = None
    ) -> list[HealthPoint]:
        measurement, tag = HEALTH_MEASUREMENTS[scope]
        where = f"metric = {_literal(metric)} AND time >= {int(start_ms)}ms AND time < {int(end_ms)}ms"
        if source is not None:
            where += f' AND "{tag}" = {_literal(source)}'
        found = [
            HealthPoint(scope, s["tags"][tag], metric, float(v), int(t))
            for s in self._query(f'SELECT value FROM "{measurement}" WHERE {where} GROUP BY "{tag}"')
            for t, v in s["values"]
        ]
        found.sort(key=lambda p: (p.source, p.time_ms))
        return found

    def _post_v2(self, body: bytes) -> int:
        from influxdb_client.client.exceptions import InfluxDBError
        from influxdb_client.rest import ApiException
        from urllib3.exceptions import HTTPError

        try:
            self._writer.write(bucket=self.location.database, org=self.location.org, record=body, write_precision=_MS)
            return 0
        except ApiException as exc:
            status, text = int(exc.status or 0), str(exc.body or exc.reason or "")
        except InfluxDBError as exc:
            status = int(exc.response.status) if exc.response is not None else 0
            text = str(exc.message)
        except HTTPError as exc:
            raise StoreError(f"InfluxDB at {self.location.base_url} unreachable: {exc}", retryable=True) from exc
        if status == 404 and "bucket" not in text.lower():
            log.info("%s has no /api/v2/write (InfluxDB < 1.8): writing through /write", self.location.base_url)
            self._use_v1_write = True
            return self._post_v1(body)
        return self._partial_or_raise(status, text, "write")

    def _post_v1(self, body: bytes) -> int:
        params = {"db": self.location.database, "precision": "ms"}
        try:
            response = self._http.post("/write", params=params, content=body)
        except httpx.TransportError as exc:
            raise StoreError(f"InfluxDB at {self.location.base_url} unreachable: {exc}", retryable=True) from exc
        if response.status_code == 204:
            return 0
        if response.status_code == 404 and "database not found" in response.text:
            self._database_ready = False  # dropped behind our back: create it again, then retry
            raise StoreError(f"InfluxDB database {self.location.database!r} not found", retryable=True)
        return self._partial_or_raise(response.status_code, response.text, "write")

    def _partial_or_raise(self, status: int, text: str, what: str) -> int:
        """Points older than the retention policy are dropped by the server: gone by policy, not lost."""
        if status == 400 and "beyond retention policy" in text:
            match = _DROPPED.search(text)
            dropped = int(match.group(1)) if match else 0
            log.warning("InfluxDB dropped %d readings older than its retention policy", dropped)
            return dropped
        raise _classify(status, text, what)

    # ------------------------------------------------------------------ reading

    def _query(self, q: str) -> list[dict[str, Any]]:
        """Run InfluxQL statements; the series of each statement, in order."""
        params = {"db": self.location.database, "q": q, "epoch": "ms"}
        try:
            response = self._http.post("/query", data=params)
        except httpx.TransportError as exc:
            raise StoreError(f"InfluxDB at {self.location.base_url} unreachable: {exc}", retryable=True) from exc
        if response.status_code != 200:
            raise _classify(response.status_code, response.text, "query")
        payload = response.json()
        series: list[dict[str, Any]] = []
        for result in payload.get("results", []):
            if "error" in result:
                if "database not found" in result["error"]:
                    continue
                raise StoreError(f"InfluxQL {q[:120]!r} failed: {result['error']}", retryable=False)
            series.extend(result.get("series", []))
        return series

    def _where(self, device_id: str, quantity: str, start_ms: int, end_ms: int) -> str:
        return (
            f"device = {_literal(device_id)} AND quantity = {_literal(quantity)}"
            f" AND time >= {int(start_ms)}ms AND time < {int(end_ms)}ms"
        )

    def read_range(
        self,
        *,
        device_id: str,
        quantity: str,
        start_ms: int,
        end_ms: int,
        bucket_s: int | None = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        where = self._where(device_id, quantity, start_ms, end_ms)
        if bucket_s is None:
            q = f"SELECT value FROM {MEASUREMENT} WHERE {where}"
            columns = ["time_ms", "value"]
        else:
            if bucket_s <= 0:
                raise ValueError("bucket_s must be positive")
            q = (
                f"SELECT mean(value), min(value), max(value), count(value) FROM {MEASUREMENT}"
                f" WHERE {where} GROUP BY time({int(bucket_s)}s) fill(none)"
            )
            columns = ["time_ms", "mean", "min", "max", "count"]
        if limit is not None:
            if limit < 0:
                raise ValueError("limit must not be negative")
            if limit == 0:
                q = ""
            else:
                q += f" LIMIT {int(limit)}"
        rows = [row for s in self._query(q) for row in s["values"]] if q else []
        frame = pd.DataFrame(rows, columns=columns)
        if bucket_s is not None:
            frame["count"] = frame["count"].astype("int64")
        frame.index = pd.to_datetime(frame.pop("time_ms"), unit="ms", utc=True)
        frame.index.name = "time"
        return frame

    def read_buckets(
        self, *, device_ids: Sequence[str], quantity: str, start_ms: int, end_ms: int, bucket_s: int
    ) -> list[Bucket]:
        if bucket_s <= 0:
            raise ValueError("bucket_s must be positive")
        if not device_ids:
            return []
        devices = " OR ".join(f"device = {_literal(d)}" for d in device_ids)
        q = (
            f"SELECT mean(value), min(value), max(value), count(value) FROM {MEASUREMENT}"
            f" WHERE ({devices}) AND quantity = {_literal(quantity)}"
            f" AND time >= {int(start_ms)}ms AND time < {int(end_ms)}ms"
            f" GROUP BY time({int(bucket_s)}s), device fill(none)"
        )
        found: list[Bucket] = []
        for series in self._query(q):
            device = series["tags"]["device"]
            for t, mean, low, high, n in series["values"]:
                found.append((device, int(t), float(mean), float(low), float(high), int(n)))
        found.sort(key=lambda row: (row[0], row[1]))
        return found

    def latest(self, *, quantity: str | None = None) -> list[Reading]:
        where = f" WHERE quantity = {_literal(quantity)}" if quantity is not None else ""
        series = self._query(f"SELECT last(value) FROM {MEASUREMENT}{where} GROUP BY device, quantity")
        return [
            Reading(s["tags"]["device"], s["tags"]["quantity"], float(s["values"][0][1]), int(s["values"][0][0]))
            for s in series
        ]

    def count(self) -> int:
        series = self._query(f"SELECT count(value) FROM {MEASUREMENT}")
        return int(series[0]["values"][0][1]) if series else 0

    # ------------------------------------------------------------------ retention and lifecycle

    def expire(self, max_age_s: float, *, now_ms: int | None = None) -> int:
        """Set the database's default retention policy to `max_age_s`; the server deletes old shards."""
        if max_age_s < _MIN_RETENTION_S:
            raise ValueError(f"InfluxDB keeps data at least {_MIN_RETENTION_S}s; got a retention of {max_age_s}s")
        if self._retention_s == max_age_s:
            return 0
        if self.location.token:
            # 2.x and 3.x: the bucket's retention is set on the bucket, not through InfluxQL.
            log.info("InfluxDB with a token: the retention of bucket %r is the bucket's own", self.location.database)
            self._retention_s = max_age_s
            return 0
        self._ensure_database()
        policies = self._query("SHOW RETENTION POLICIES")
        default = next((v[0] for s in policies for v in s["values"] if v[-1] is True), "autogen")
        # InfluxDB's own guidance: shard groups of 1 h below 2 days, 1 day below 6 months, else 7 days.
        shard = "1h" if max_age_s < 2 * 86400 else "1d" if max_age_s < 183 * 86400 else "7d"
        self._query(
            f'ALTER RETENTION POLICY "{default}" ON "{self.location.database}"'
            f" DURATION {int(max_age_s)}s SHARD DURATION {shard} DEFAULT"
        )
        log.info("InfluxDB retention of %r is now %ds", self.location.database, int(max_age_s))
        self._retention_s = max_age_s
        return 0

    def _ensure_database(self) -> None:
        """Create the database on 1.x (idempotent there); 2.x buckets are made by their operators."""
        if self._database_ready:
            return
        with self._lock:
            if self._database_ready or self.location.token:
                self._database_ready = True
                return
            try:
                self._query(f'CREATE DATABASE "{self.location.database}"')
            except StoreError as exc:
                if exc.retryable:
                    raise
                log.warning("could not create InfluxDB database %r: %s", self.location.database, exc)
            self._database_ready = True

    def close(self) -> None:
        self._writer.close()  # type: ignore[no-untyped-call]
        self._client.close()  # type: ignore[no-untyped-call]
        self._http.close()
