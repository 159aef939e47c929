"""Exceptions and warnings of ``dp`` (self-contained: dp imports nothing else of ours)."""

from __future__ import annotations


class DPError(ValueError):
    """Root of dp's errors: a parameter is out of its allowed range or inputs don't fit."""


class InsecureNoiseWarning(UserWarning):
    """Raised (as a warning) when a caller opts into floating-point noise (Mironov 2012)."""
