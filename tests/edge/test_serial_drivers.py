"""SDS011 and ultrasonic drivers against emulated sensors on a pseudo-terminal pair (no hardware)."""

from __future__ import annotations

import os
import threading
import time

import pytest

from edge.drivers import DriverError, sds011, ultrasonic


class PtySensor:
    """The far end of a serial line: writes frames to the master side like a sensor does."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        self.port = os.ttyname(self.slave)

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def stream(self, frame: bytes, every_s: float, stop: threading.Event) -> threading.Thread:
        def run() -> None:
            while not stop.wait(every_s):
                self.send(frame)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
def pty_sensor():
    sensor = PtySensor()
    yield sensor
    sensor.close()


def test_sds011_frame_codec_matches_the_datasheet_layout():
    frame = sds011.encode_frame(pm25=12.3, pm10=45.6, sensor_id=0xA1B2)
    assert frame == bytes(
        [0xAA, 0xC0, 0x7B, 0x00, 0xC8, 0x01, 0xB2, 0xA1, (0x7B + 0xC8 + 0x01 + 0xB2 + 0xA1) & 0xFF, 0xAB]
    )
    assert sds011.decode_frame(frame) == sds011.Sds011Frame(12.3, 45.6, 0xA1B2)


def test_sds011_reads_values_from_an_emulated_sensor(pty_sensor):
    driver = sds011.Sds011(pty_sensor.port, timeout_s=2)
    try:
        pty_sensor.send(sds011.encode_frame(8.0, 20.0) + sds011.encode_frame(35.7, 51.2))
        assert driver.read() == {"pm25": 35.7, "pm10": 51.2}  # the newest frame wins
        assert driver.counters == {"frames_ok": 2, "frames_rejected": 0}
    finally:
        driver.close()


def test_sds011_rejects_and_counts_malformed_frames_and_resynchronises(pty_sensor):
    driver = sds011.Sds011(pty_sensor.port, timeout_s=2)
    good = sds011.encode_frame(55.5, 80.1)
    bad_checksum = bytearray(sds011.encode_frame(99.9, 99.9))
    bad_checksum[8] ^= 0xFF
    bad_tail = bytearray(sds011.encode_frame(77.7, 77.7))
    bad_tail[9] = 0x00
    try:
        # Noise, two corrupt frames, then a good frame split across two writes.
        pty_sensor.send(b"\x00\x13\xaa" + bytes(bad_checksum) + bytes(bad_tail) + good[:4])
        time.sleep(0.05)
        pty_sensor.send(good[4:])
        assert driver.read() == {"pm25": 55.5, "pm10": 80.1}
        assert driver.counters["frames_ok"] == 1
        assert driver.counters["frames_rejected"] >= 2
    finally:
        driver.close()


def test_sds011_without_a_valid_frame_raises_a_driver_error(pty_sensor):
    driver = sds011.Sds011(pty_sensor.port, timeout_s=0.5)
    try:
        pty_sensor.send(b"\xaa\xc0garbage-garbage")
        with pytest.raises(DriverError, match="no valid SDS011 frame"):
            driver.read()
    finally:
        driver.close()


def test_sds011_follows_a_streaming_sensor(pty_sensor):
    driver = sds011.Sds011(pty_sensor.port, timeout_s=2)
    stop = threading.Event()
    pty_sensor.stream(sds011.encode_frame(15.0, 30.0), 0.05, stop)
    try:
        assert [driver.read() for _ in range(3)] == [{"pm25": 15.0, "pm10": 30.0}] * 3
    finally:
        stop.set()
        driver.close()


def test_ultrasonic_level_is_mount_height_minus_median_distance(pty_sensor):
    driver = ultrasonic.UltrasonicLevel(pty_sensor.port, mount_height_m=4.0, timeout_s=2)
    corrupt = bytearray(ultrasonic.encode_frame(1000))
    corrupt[3] ^= 0x55
    try:
        frames = [ultrasonic.encode_frame(d) for d in (2500, 2510, 9000, 2490)]  # 9000 mm: out of range echo
        pty_sensor.send(b"".join(frames[:2]) + bytes(corrupt) + b"".join(frames[2:]))
        assert driver.read() == {"water_level": 1.5}
        assert driver.counters["frames_rejected"] >= 1
    finally:
        driver.close()
