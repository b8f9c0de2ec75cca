"""BME280 compensation against the datasheet's worked example, and the driver against an emulated register map."""

from __future__ import annotations

import struct

import pytest

from edge.drivers import DriverError
from edge.drivers.bme280 import (
    Bme280,
    Calibration,
    compensate_humidity,
    compensate_humidity_int,
    compensate_pressure,
    compensate_temperature,
    parse_calibration,
)

# Bosch's worked example (BMP280 datasheet, "compensation computation example"; the BME280 uses the
# same temperature and pressure formulas): adc_T=519888 -> 25.08 degC, t_fine 128422;
# adc_P=415148 -> 100653.27 Pa. Humidity words are a real BME280's.
DATASHEET = Calibration(
    27504,
    26435,
    -1000,
    36477,
    -10685,
    3024,
    2855,
    140,
    -7,
    15500,
    -14600,
    6000,
    h1=75,
    h2=362,
    h3=0,
    h4=313,
    h5=50,
    h6=30,
)


def test_temperature_and_pressure_reproduce_the_datasheet_example():
    temperature, t_fine = compensate_temperature(519888, DATASHEET)
    assert t_fine == 128422
    assert temperature == pytest.approx(25.08, abs=0.005)
    assert compensate_pressure(415148, t_fine, DATASHEET) == pytest.approx(100653.27, abs=0.02)


@pytest.mark.parametrize("adc_h", [22000, 27000, 31000, 35000])
def test_humidity_float_formula_agrees_with_the_datasheet_integer_formula(adc_h):
    _, t_fine = compensate_temperature(519888, DATASHEET)
    value = compensate_humidity(adc_h, t_fine, DATASHEET)
    assert 0 < value < 100
    assert value == pytest.approx(compensate_humidity_int(adc_h, t_fine, DATASHEET), abs=0.01)


def _register_map(cal: Calibration, adc_t: int, adc_p: int, adc_h: int) -> dict[int, int]:
    tp = struct.pack(
        "<HhhHhhhhhhhh", cal.t1, cal.t2, cal.t3, cal.p1, cal.p2, cal.p3, cal.p4, cal.p5, cal.p6, cal.p7, cal.p8, cal.p9
    ) + bytes([0, cal.h1])
    e4, e5, e6 = cal.h4 >> 4 & 0xFF, (cal.h4 & 0x0F) | (cal.h5 & 0x0F) << 4, cal.h5 >> 4 & 0xFF
    h = struct.pack("<hB", cal.h2, cal.h3) + bytes([e4, e5, e6]) + struct.pack("b", cal.h6)
    data = bytes(
        [
            adc_p >> 12,
            adc_p >> 4 & 0xFF,
            (adc_p & 0xF) << 4,
            adc_t >> 12,
            adc_t >> 4 & 0xFF,
            (adc_t & 0xF) << 4,
            adc_h >> 8,
            adc_h & 0xFF,
        ]
    )
    registers = {0xD0: 0x60, 0xF3: 0x00}
    registers.update({0x88 + i: b for i, b in enumerate(tp)})
    registers.update({0xE1 + i: b for i, b in enumerate(h)})
    registers.update({0xF7 + i: b for i, b in enumerate(data)})
    return registers


class EmulatedBme280Bus:
    """The chip's register map on an I2C bus, as smbus2 exposes it."""

    def __init__(self, registers: dict[int, int], address: int = 0x76) -> None:
        self.registers = registers
        self.address = address
        self.writes: list[tuple[int, int]] = []

    def _check(self, address: int) -> None:
        if address != self.address:
            raise OSError(121, "Remote I/O error")

    def read_byte_data(self, address: int, register: int) -> int:
        self._check(address)
        return self.registers.get(register, 0)

    def write_byte_data(self, address: int, register: int, value: int) -> None:
        self._check(address)
        self.writes.append((register, value))

    def read_i2c_block_data(self, address: int, register: int, length: int) -> list[int]:
        self._check(address)
        return [self.registers.get(register + i, 0) for i in range(length)]


def test_calibration_words_are_parsed_from_the_register_layout():
    registers = _register_map(DATASHEET, 519888, 415148, 27000)
    tp = bytes(registers[0x88 + i] for i in range(26))
    h = bytes(registers[0xE1 + i] for i in range(7))
    assert parse_calibration(tp, h) == DATASHEET


def test_driver_triggers_a_forced_measurement_and_reports_compensated_values():
    bus = EmulatedBme280Bus(_register_map(DATASHEET, 519888, 415148, 27000))
    sensor = Bme280(smbus=bus)
    values = sensor.read()
    assert values["temperature"] == 25.08
    assert values["humidity"] == pytest.approx(compensate_humidity(27000, 128422, DATASHEET), abs=0.01)
    assert sensor.pressure_pa == pytest.approx(100653.27, abs=0.02)
    assert (0xF4, 0b001_001_01) in bus.writes  # forced mode, x1 oversampling


def test_a_missing_or_foreign_chip_is_a_clear_driver_error():
    with pytest.raises(DriverError, match="does not answer"):
        Bme280(smbus=EmulatedBme280Bus({}, address=0x77), address=0x76)
    with pytest.raises(DriverError, match="not a BME280"):
        Bme280(smbus=EmulatedBme280Bus({0xD0: 0x58}))
