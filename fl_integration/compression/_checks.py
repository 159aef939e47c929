"""Validation helpers: every refusal is a ``ConfigError`` naming the parameter and its range."""

from __future__ import annotations

import math

from secagg.errors import ConfigError


def check_int(name: str, value: object, low: int, high: int) -> None:
    """An int (not a bool) in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{name} must be an int in [{low}, {high}], got {value!r}")


def check_bits(name: str, value: object) -> None:
    """Level bits: None (full fixed-point precision) or an int in [2, 16]."""
    if value is not None:
        check_int(name, value, 2, 16)


def check_positive(name: str, value: object, *, optional: bool = False) -> None:
    """A positive finite number (or None when ``optional``)."""
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            math.isfinite(value) and value > 0):
        allowed = "None or a positive finite number" if optional else "a positive finite number"
        raise ConfigError(f"{name} must be {allowed}, got {value!r}")


def check_fraction(name: str, value: object) -> None:
    """A number in (0, 1]."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise ConfigError(f"{name} must be a number in (0, 1], got {value!r}")


def check_flag(name: str, value: object) -> None:
    """A bool."""
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be True or False, got {value!r}")
