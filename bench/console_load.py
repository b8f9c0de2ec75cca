"""The console's ticket queue on a busy city: 10,000 open tickets in PostgreSQL, 100-row pages with counts.

    python bench/console_load.py                 # 10,000 open + 10,000 resolved tickets, 300 page loads
    python bench/console_load.py --open 20000    # more

Seeds a fresh PostgreSQL database (the local server the tests use) through the migrations, serves
it with `citysense api` (one uvicorn worker, as in production), signs in an operator and loads
queue pages one at a time: a mix of filters (none, district, service, severity, source, agency,
status, combinations), sorts and page numbers, each a full page with its faceted filter counts
and the district map. The figure is the server's own time per page from the `Server-Timing`
header (sign-in check, queries and HTML); the round trip measured by the client is reported too.
It also prints PostgreSQL's plan for the page query, to show which indexes serve it.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text  # noqa: E402

from testbed.servers import free_port, postgres_database, wait_for_port  # noqa: E402

TARGET_P95_MS = 300.0
PASSWORD = "bench password 123"
DISTRICTS = ("kota-lama", "pelabuhan", "sungai-barat", "industri-timur", "taman-sari", "bukit-hijau")
SERVICES = ("flood", "drainage", "air_quality", "noise", "waste", "road_damage", "streetlight", "device_fault")
SEVERITIES = ("low", "medium", "high", "critical")
SOURCES = ("sensor", "sensor", "sensor", "resident", "anomaly")
OPEN_STATES = ("open", "open", "acknowledged", "assigned")

app = typer.Typer(help="The console's ticket queue under 10,000 open tickets (PostgreSQL).", add_completion=False)


def seed(url: str, *, open_count: int, resolved_count: int, seed_value: int = 7) -> None:
    """Tickets spread over districts, services, severities, sources and states, opened over 30 days."""
    from citysense.db import connect
    from citysense.db.models import Ticket
    from citysense.users import add_user

    sessions = connect(url)
    rng = random.Random(seed_value)
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for i in range(open_count + resolved_count):
        resolved = i >= open_count
        opened = now - timedelta(seconds=rng.uniform(0, 30 * 86_400))
        service = rng.choice(SERVICES)
        district = rng.choice(DISTRICTS)
        rows.append(
            {
                "dedupe_key": f"bench:{uuid.uuid4().hex}",
                "service_code": service,
                "title": f"{service.replace('_', ' ').capitalize()} in {district}",
                "district": district,
                "severity": rng.choice(SEVERITIES),
                "status": "resolved" if resolved else rng.choice(OPEN_STATES),
                "quantity": "water_level" if service == "flood" else "",
                "threshold": 2.5,
                "peak_value": 3.0,
                "devices": [f"{district}-water-01"],
                "opened_at": opened,
                "updated_at": opened,
                "last_breach_at": opened,
                "resolved_at": opened + timedelta(hours=2) if resolved else None,
                "source": rng.choice(SOURCES),
            }
        )
    with sessions.begin() as session:
        for start in range(0, len(rows), 2000):
            session.execute(insert(Ticket), rows[start : start + 2000])
        session.execute(text("ANALYZE tickets"))
    add_user(sessions, username="bench", password=PASSWORD, role="operator")
    sessions.kw["bind"].dispose()


def queries(rng: random.Random, count: int) -> list[dict[str, str]]:
    """A mix of what operators ask for: mostly the default view, filters alone and together, sorts, pages."""
    found: list[dict[str, str]] = []
    for _ in range(count):
        q: dict[str, str] = {}
        if rng.random() < 0.5:
            q["district"] = rng.choice(DISTRICTS)
        if rng.random() < 0.4:
            q["service_code"] = rng.choice(SERVICES)
        if rng.random() < 0.2:
            q["severity"] = rng.choice(SEVERITIES)
        if rng.random() < 0.2:
            q["source"] = rng.choice(("sensor", "resident", "anomaly"))
        if rng.random() < 0.15:
            q["agency"] = rng.choice(("water", "environment", "sanitation", "public_works"))
        if rng.random() < 0.15:
            q["status"] = rng.choice(("open", "acknowledged", "assigned", "resolved", ""))
        q["sort"] = rng.choice(("newest", "newest", "oldest", "updated", "severity"))
        if rng.random() < 0.2:
            q["page"] = str(rng.randint(2, 5))
        found.append(q)
    return found


def explain(url: str) -> list[str]:
    """PostgreSQL's plan for the default page (unresolved, newest first, 100 rows)."""
    from sqlalchemy import create_engine, select

    from api.console_queue import SORTS, QueueFilters, _conditions
    from citysense.db.models import Ticket

    engine = create_engine(url)
    query = select(Ticket.id).where(*_conditions(QueueFilters())).order_by(*SORTS["newest"]).limit(100)
    compiled = query.compile(engine, compile_kwargs={"literal_binds": True})
    with engine.connect() as connection:
        plan = [row[0] for row in connection.execute(text(f"EXPLAIN ANALYZE {compiled}"))]
    engine.dispose()
    return plan


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@app.command()
def run(
    open_tickets: Annotated[int, typer.Option("--open", help="open (unresolved) tickets")] = 10_000,
    resolved: Annotated[int, typer.Option(help="resolved tickets alongside (history)")] = 10_000,
    requests: Annotated[int, typer.Option(help="page loads measured")] = 300,
    warmup: Annotated[int, typer.Option(help="page loads before measuring")] = 20,
    out: Annotated[Path | None, typer.Option(help="write the figures as JSON here")] = None,
) -> None:
    """Seed, serve, sign in, load pages; print p50/p95/max server time and whether p95 < 300 ms."""
    with postgres_database() as url:
        began = time.perf_counter()
        seed(url, open_count=open_tickets, resolved_count=resolved)
        typer.echo(f"seeded {open_tickets} open + {resolved} resolved tickets in {time.perf_counter() - began:.1f} s")
        plan = explain(url)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CITYSENSE_")}
        env |= {
            "CITYSENSE_TICKETS_URL": url,
            "CITYSENSE_DATA_DIR": str(Path(os.environ.get("TMPDIR", "/tmp")) / f"console-bench-{port}"),
            "CITYSENSE_CONSOLE_SECURE_COOKIE": "false",
            "CITYSENSE_WEBHOOKS_ENABLED": "false",
            "CITYSENSE_RATE_LIMIT_PER_S": "10000",
            "CITYSENSE_RATE_LIMIT_BURST": "10000",
            "CITYSENSE_LOG_LEVEL": "WARNING",
        }
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "citysense"), "api", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        try:
            wait_for_port(port, timeout_s=60)
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base, timeout=30) as client:
                signed = client.post("/console/login", data={"username": "bench", "password": PASSWORD})
                if signed.status_code != 303:
                    raise typer.Exit(f"sign-in failed: {signed.status_code} {signed.text[:200]}")
                rng = random.Random(11)
                server_ms: list[float] = []
                client_ms: list[float] = []
                rows_seen = 0
                for i, params in enumerate(queries(rng, warmup + requests)):
                    t0 = time.perf_counter()
                    response = client.get("/console", params=params)
                    elapsed = (time.perf_counter() - t0) * 1000
                    if response.status_code != 200:
                        raise typer.Exit(f"{params}: {response.status_code} {response.text[:200]}")
                    if i < warmup:
                        continue
                    timing = dict(part.strip().split(";dur=") for part in response.headers["server-timing"].split(","))
                    server_ms.append(float(timing["total"]))
                    client_ms.append(elapsed)
                    rows_seen += response.text.count('<tr class="sev-')
        finally:
            server.terminate()
            server.wait(timeout=30)
    result = {
        "open_tickets": open_tickets,
        "resolved_tickets": resolved,
        "page_loads": requests,
        "rows_rendered": rows_seen,
        "server_ms": {
            "p50": round(statistics.median(server_ms), 1),
            "p95": round(percentile(server_ms, 95), 1),
            "max": round(max(server_ms), 1),
        },
        "round_trip_ms": {
            "p50": round(statistics.median(client_ms), 1),
            "p95": round(percentile(client_ms, 95), 1),
            "max": round(max(client_ms), 1),
        },
        "target_p95_ms": TARGET_P95_MS,
        "met": percentile(server_ms, 95) < TARGET_P95_MS,
        "default_page_plan": plan,
    }
    typer.echo("\n".join(plan))
    typer.echo(json.dumps({k: v for k, v in result.items() if k != "default_page_plan"}, indent=2))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    app()
