"""Bosch BME280 temperature/humidity/pressure sensor on I2C (via smbus2).

The sensor returns raw ADC counts; each chip carries its own factory calibration words, and the
datasheet's compensation formulas (BME280 datasheet section 8.1, floating point; 4.2.3, integer)
turn counts into degrees Celsius, pascals and %RH. Those formulas are pure functions here so they
are tested against the datasheet's worked values without hardware. The wire vocabulary has no
pressure quantity, so the driver reports temperature and humidity.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass
from typing import Any, Protocol

from edge.drivers.base import DriverError

__all__ = [
    "Bme280",
    "Calibration",
    "compensate_humidity",
    "compensate_humidity_int",
    "compensate_pressure",
    "compensate_temperature",
    "parse_calibration",
    "parse_raw",
]

CHIP_ID = 0x60
REG_CHIP_ID = 0xD0
REG_CALIB_TP = 0x88  # 0x88..0xA1: 26 bytes (T1..P9, a reserved byte, H1)
REG_CALIB_H = 0xE1  # 0xE1..0xE7: 7 bytes (H2..H6)
REG_CTRL_HUM = 0xF2
REG_STATUS = 0xF3
REG_CTRL_MEAS = 0xF4
REG_DATA = 0xF7  # 0xF7..0xFE: pressure, temperature, humidity


@dataclass(frozen=True, slots=True)
class Calibration:
    t1: int
    t2: int
    t3: int
    p1: int
    p2: int
    p3: int
    p4: int
    p5: int
    p6: int
    p7: int
    p8: int
    p9: int
    h1: int = 0
    h2: int = 0
    h3: int = 0
    h4: int = 0
    h5: int = 0
    h6: int = 0


def _signed12(value: int) -> int:
    return value - 0x1000 if value & 0x800 else value


def parse_calibration(tp: bytes, h: bytes) -> Calibration:
    """Calibration words from the 26 bytes at 0x88 and the 7 bytes at 0xE1 (datasheet table 16)."""
    if len(tp) != 26 or len(h) != 7:
        raise ValueError("BME280 calibration needs 26 bytes from 0x88 and 7 bytes from 0xE1")
    t1, t2, t3, p1, p2, p3, p4, p5, p6, p7, p8, p9 = struct.unpack("<HhhHhhhhhhhh", tp[:24])
    h1 = tp[25]
    h2, h3 = struct.unpack("<hB", h[:3])
    e4 = struct.unpack("b", h[3:4])[0]
    h4 = _signed12((e4 << 4 | h[4] & 0x0F) & 0xFFF)
    h5 = _signed12((h[5] << 4 | h[4] >> 4) & 0xFFF)
    h6 = struct.unpack("b", h[6:7])[0]
    return Calibration(t1, t2, t3, p1, p2, p3, p4, p5, p6, p7, p8, p9, h1, h2, h3, h4, h5, h6)


def parse_raw(data: bytes) -> tuple[int, int, int]:
    """(adc_T, adc_P, adc_H) from the 8 data bytes at 0xF7."""
    if len(data) != 8:
        raise ValueError("BME280 data block is 8 bytes")
    adc_p = data[0] << 12 | data[1] << 4 | data[2] >> 4
    adc_t = data[3] << 12 | data[4] << 4 | data[5] >> 4
    adc_h = data[6] << 8 | data[7]
    return adc_t, adc_p, adc_h


def compensate_temperature(adc_t: int, cal: Calibration) -> tuple[float, int]:
    """(degrees Celsius, t_fine); t_fine feeds the pressure and humidity formulas."""
    var1 = (adc_t / 16384.0 - cal.t1 / 1024.0) * cal.t2
    var2 = (adc_t / 131072.0 - cal.t1 / 8192.0) ** 2 * cal.t3
    t_fine = int(var1 + var2)
    return (var1 + var2) / 5120.0, t_fine


def compensate_pressure(adc_p: int, t_fine: int, cal: Calibration) -> float:
    """Pascals."""
    var1 = t_fine / 2.0 - 64000.0
    var2 = var1 * var1 * cal.p6 / 32768.0
    var2 = var2 + var1 * cal.p5 * 2.0
    var2 = var2 / 4.0 + cal.p4 * 65536.0
    var1 = (cal.p3 * var1 * var1 / 524288.0 + cal.p2 * var1) / 524288.0
    var1 = (1.0 + var1 / 32768.0) * cal.p1
    if var1 == 0:
        return 0.0  # the datasheet's guard against division by zero
    p = 1048576.0 - adc_p
    p = (p - var2 / 4096.0) * 6250.0 / var1
    var1 = cal.p9 * p * p / 2147483648.0
    var2 = p * cal.p8 / 32768.0
    return p + (var1 + var2 + cal.p7) / 16.0


def compensate_humidity(adc_h: int, t_fine: int, cal: Calibration) -> float:
    """%RH, clamped to 0..100 (floating-point formula)."""
    h = t_fine - 76800.0
    h = (adc_h - (cal.h4 * 64.0 + cal.h5 / 16384.0 * h)) * (
        cal.h2 / 65536.0 * (1.0 + cal.h6 / 67108864.0 * h * (1.0 + cal.h3 / 67108864.0 * h))
    )
    h = h * (1.0 - cal.h1 * h / 524288.0)
    return min(max(h, 0.0), 100.0)


def compensate_humidity_int(adc_h: int, t_fine: int, cal: Calibration) -> float:
    """%RH from the datasheet's 32-bit integer formula (what the chip vendor's C driver computes)."""
    v = t_fine - 76800
    v = ((((adc_h << 14) - (cal.h4 << 20) - (cal.h5 * v)) + 16384) >> 15) * (
        ((((((v * cal.h6) >> 10) * (((v * cal.h3) >> 11) + 32768)) >> 10) + 2097152) * cal.h2 + 8192) >> 14
    )
    v = v - (((((v >> 15) * (v >> 15)) >> 7) * cal.h1) >> 4)
    v = min(max(v, 0), 419430400)
    return (v >> 12) / 1024.0


class SMBusLike(Protocol):
    def read_byte_data(self, i2c_addr: int, register: int) -> int: ...
    def write_byte_data(self, i2c_addr: int, register: int, value: int) -> None: ...
    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int) -> list[int]: ...


class Bme280:
    """Forced mode, oversampling x1: one measurement per read, then the sensor sleeps (about 1 uA)."""

    quantities: tuple[str, ...] = ("temperature", "humidity")

    def __init__(self, *, bus: int = 1, address: int = 0x76, smbus: SMBusLike | None = None) -> None:
        if smbus is None:
            from smbus2 import SMBus  # in the edge extra; imported here so tests of the math need no I2C

            smbus = SMBus(bus)
        self._bus: Any = smbus
        self._address = address
        try:
            chip = self._bus.read_byte_data(address, REG_CHIP_ID)
            if chip != CHIP_ID:
                raise DriverError(f"device at I2C 0x{address:02x} is not a BME280 (chip id 0x{chip:02x})")
            self.calibration = parse_calibration(
                bytes(self._bus.read_i2c_block_data(address, REG_CALIB_TP, 26)),
                bytes(self._bus.read_i2c_block_data(address, REG_CALIB_H, 7)),
            )
        except OSError as exc:
            raise DriverError(f"BME280 at I2C 0x{address:02x} does not answer: {exc}") from exc
        self.pressure_pa: float | None = None

    def read(self) -> dict[str, float]:
        try:
            self._bus.write_byte_data(self._address, REG_CTRL_HUM, 0x01)
            self._bus.write_byte_data(self._address, REG_CTRL_MEAS, 0b001_001_01)  # T x1, P x1, forced
            deadline = time.monotonic() + 0.1
            while self._bus.read_byte_data(self._address, REG_STATUS) & 0x08:
                if time.monotonic() > deadline:
                    raise DriverError("BME280 measurement did not finish within 100 ms")
                time.sleep(0.002)
            adc_t, adc_p, adc_h = parse_raw(bytes(self._bus.read_i2c_block_data(self._address, REG_DATA, 8)))
        except OSError as exc:
            raise DriverError(f"BME280 read failed: {exc}") from exc
        if adc_t == 0x80000 or adc_h == 0x8000:
            raise DriverError("BME280 returned its 'skipped' marker: measurement not ready")
        temperature, t_fine = compensate_temperature(adc_t, self.calibration)
        self.pressure_pa = compensate_pressure(adc_p, t_fine, self.calibration)
        humidity = compensate_humidity(adc_h, t_fine, self.calibration)
        return {"temperature": round(temperature, 2), "humidity": round(humidity, 2)}

    def close(self) -> None:
        close = getattr(self._bus, "close", None)
        if close is not None:
            close()
