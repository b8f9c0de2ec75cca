"""The disk queue: bounded, oldest dropped first and counted, durable across a kill -9."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

from edge.queue import DiskQueue


def test_the_queue_keeps_the_newest_packs_within_its_bound_and_counts_what_it_dropped(tmp_path):
    queue = DiskQueue(tmp_path / "q.db", max_packs=10)
    for i in range(25):
        queue.put(f"pack-{i}".encode(), readings=2)
    assert queue.depth == 10
    assert [p.payload for p in queue.peek(limit=100)] == [f"pack-{i}".encode() for i in range(15, 25)]
    counters = queue.counters()
    assert (counters["dropped_packs"], counters["dropped_readings"], counters["queued_readings"]) == (15, 30, 50)
    queue.close()


def test_acknowledged_packs_leave_and_the_rest_survive_a_reopen(tmp_path):
    queue = DiskQueue(tmp_path / "q.db", max_packs=100)
    ids = [queue.put(f"{i}".encode(), 1) for i in range(6)]
    assert queue.ack([*ids[:2], 999]) == 2
    queue.close()
    reopened = DiskQueue(tmp_path / "q.db", max_packs=100)
    assert [p.id for p in reopened.peek()] == ids[2:]
    assert reopened.peek(after_id=ids[2], up_to_id=ids[4]) == reopened.peek()[1:3]
    assert reopened.counters()["acked_packs"] == 2
    reopened.close()


WRITER = """
import sys
from pathlib import Path
from edge.queue import DiskQueue
queue = DiskQueue(Path(sys.argv[1]), max_packs=1_000_000)
i = 0
while True:
    queue.put(b"pack-%d" % i, 1)
    print(i, flush=True)  # printed only after put() returned: this pack is promised durable
    i += 1
"""


def test_kill_9_loses_no_pack_that_put_returned_for(tmp_path):
    path = tmp_path / "q.db"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    assert writer.stdout is not None
    promised = -1
    deadline = time.monotonic() + 30
    while promised < 200 and time.monotonic() < deadline:
        promised = int(writer.stdout.readline())
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    with sqlite3.connect(path) as db:
        kept = {row[0] for row in db.execute("SELECT payload FROM packs")}
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert {b"pack-%d" % i for i in range(promised + 1)} <= kept


def test_recent_packs_served_from_memory_match_what_is_on_disk(tmp_path):
    queue = DiskQueue(tmp_path / "q.db", max_packs=10_000)
    ids = [queue.put(b"pack-%d" % i, 1) for i in range(400)]  # more than the in-memory tail holds
    queue.ack(ids[100:110] + ids[390:395])
    from_disk = DiskQueue(tmp_path / "q.db", max_packs=10_000)  # a second connection: reads the file
    for after in (0, ids[50], ids[105], ids[200], ids[389], ids[399]):
        for up_to in (None, ids[150], ids[392]):
            assert queue.peek(after_id=after, up_to_id=up_to, limit=1000) == from_disk.peek(
                after_id=after, up_to_id=up_to, limit=1000
            )
    assert [p.id for p in queue.peek(after_id=ids[380], limit=5)] == ids[381:386]
    from_disk.close()
    queue.close()


def test_a_fast_queue_keeps_its_packs_across_a_reopen_and_tells_when_it_is_empty(tmp_path):
    queue = DiskQueue(tmp_path / "q.db", max_packs=100, durable=False)
    ids = [queue.put(f"{i}".encode(), 1) for i in range(3)]
    assert not queue.wait_empty(0.05)
    queue.close()
    queue = DiskQueue(tmp_path / "q.db", max_packs=100, durable=False)
    assert [p.id for p in queue.peek()] == ids
    acker = threading.Timer(0.2, queue.ack, args=(ids,))
    acker.start()
    assert queue.wait_empty(5)  # woken by the last acknowledgement
    assert queue.counters()["acked_packs"] == 3
    queue.close()
