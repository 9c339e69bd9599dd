"""Shared fixtures: a simulator per test and the fixed day every time test reads."""

from __future__ import annotations

import os
import pathlib

import pytest

import ddstream

#: 2026-01-01T00:00:00Z and a day later, in epoch seconds (56 years of 365 days + 14 leap days).
DAY0 = (56 * 365 + 14) * 86_400
DAY1 = DAY0 + 86_400
assert DAY0 == 1_767_225_600


@pytest.fixture
def sim():
    with ddstream.Simulator() as simulator:
        yield simulator


def data_requests(simulator: ddstream.Simulator) -> list[dict]:
    """The simulator's requests to data endpoints (everything but the key check)."""
    return [r for r in simulator.requests() if r["path"] != "/api/v1/validate"]


def cli_binary() -> pathlib.Path:
    """The `ddstream` binary that `cargo test` / `cargo build` left in the target dir."""
    explicit = os.environ.get("DDSTREAM_BIN")
    if explicit:
        return pathlib.Path(explicit)
    root = pathlib.Path(__file__).resolve().parents[2]
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", root / "target"))
    return target / "debug" / "ddstream"
