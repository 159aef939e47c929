"""Compression settings from text, for command lines: ``quantize:bits=4,bound=0.2``.

Names: ``none``, ``quantize``, ``subsample``, ``sketch``, ``signvote``; then ``key=value`` pairs
with the fields of :class:`Quantize`, :class:`Subsample`, :class:`CountSketch`,
:class:`SignVote` (numbers, ``true``/``false``, ``none``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from secagg.errors import ConfigError

from .quantize import Quantize
from .signvote import SignVote
from .sketch import CountSketch
from .subsample import Subsample

METHODS: dict[str, Callable[..., Quantize | Subsample | CountSketch | SignVote]] = {"quantize": Quantize, "subsample": Subsample, "sketch": CountSketch,
           "signvote": SignVote}
SYNTAX = ("none | quantize:bits=4[,bound=0.2] | subsample:fraction=0.25[,bits=8]"
          "[,error_feedback=true] | sketch:width=128[,depth=1][,bits=8] | "
          "signvote[:step=0.1][,fraction=0.25]")


def parse(text: str) -> Quantize | Subsample | CountSketch | SignVote | None:
    """The method ``text`` names; ``ConfigError`` with the syntax for anything else."""
    name, _, rest = text.strip().partition(":")
    if name == "none" and not rest:
        return None
    if name not in METHODS:
        raise ConfigError(f"unknown compression {name!r}: expected {SYNTAX}")
    fields: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if not eq:
            raise ConfigError(f"compression option {item!r} is not key=value: expected {SYNTAX}")
        fields[key.strip()] = _value(value.strip())
    try:
        return METHODS[name](**fields)
    except TypeError as exc:
        raise ConfigError(f"{name}: {exc}; expected {SYNTAX}") from None


def _value(text: str) -> object:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "none":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"compression value {text!r} is not a number, true/false or none") from None


def unparse(method: Quantize | Subsample | CountSketch | SignVote | None) -> str:
    """The text :func:`parse` reads back as ``method`` (every field written out), e.g. for a
    server to ship a round's compression to its clients."""
    if method is None:
        return "none"
    names = {cls: name for name, cls in METHODS.items()}
    name = names.get(type(method))
    if name is None:
        raise ConfigError(f"not a compression method: {method!r}")
    items = [f"{f.name}={_text(getattr(method, f.name))}" for f in dataclasses.fields(method)]
    return f"{name}:{','.join(items)}" if items else name


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    return repr(value)  # ints as ints, floats as floats: both read back exactly
