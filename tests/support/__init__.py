"""Helpers that start real servers for the tests: Mosquitto on a free loopback port, PostgreSQL databases."""
