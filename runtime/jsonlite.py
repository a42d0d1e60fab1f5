"""JSON without ``import json``: the stdlib module pulls in ``re`` and costs ~18 ms here.

Decoding uses the C scanner from ``_json`` directly; encoding covers the types the runtime writes
(dict, list, str, int, float, bool, None) with ``_json``'s C string escaper.
"""
from _json import encode_basestring_ascii as _esc
from _json import make_scanner as _make_scanner


class JSONError(ValueError):
    """Malformed JSON; the message names the position."""


class _Context:
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    memo: dict = {}

    @staticmethod
    def parse_constant(name: str) -> float:
        return {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}[name]


_scan = _make_scanner(_Context())
_WS = " \t\n\r"


def loads(text: str | bytes):
    """Decode one JSON document; raise JSONError on anything malformed or trailing."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    n = len(text)
    i = 0
    while i < n and text[i] in _WS:
        i += 1
    try:
        obj, end = _scan(text, i)
    except StopIteration as e:
        raise JSONError(f"invalid JSON at offset {e.value}") from None
    except ValueError as e:
        raise JSONError(f"invalid JSON: {e}") from None
    while end < n and text[end] in _WS:
        end += 1
    if end != n:
        raise JSONError(f"invalid JSON: extra data at offset {end}")
    return obj


def load_file(path: str):
    with open(path, "rb") as f:
        return loads(f.read())


def dumps(obj, indent: int | None = None, _level: int = 0) -> str:
    """Encode ``obj``; ``indent`` gives runc-style pretty output (no trailing newline)."""
    if isinstance(obj, str):
        return _esc(obj)
    if obj is True:
        return "true"
    if obj is False:
        return "false"
    if obj is None:
        return "null"
    if isinstance(obj, int):
        return int.__repr__(obj)
    if isinstance(obj, float):
        return float.__repr__(obj)
    if indent is None:
        if isinstance(obj, dict):
            return "{" + ",".join(_esc(str(k)) + ":" + dumps(v) for k, v in obj.items()) + "}"
        if isinstance(obj, (list, tuple)):
            return "[" + ",".join(dumps(v) for v in obj) + "]"
    else:
        pad = "\n" + " " * (indent * (_level + 1))
        end = "\n" + " " * (indent * _level)
        if isinstance(obj, dict):
            if not obj:
                return "{}"
            return "{" + ",".join(pad + _esc(str(k)) + ": " + dumps(v, indent, _level + 1)
                                  for k, v in obj.items()) + end + "}"
        if isinstance(obj, (list, tuple)):
            if not obj:
                return "[]"
            return "[" + ",".join(pad + dumps(v, indent, _level + 1) for v in obj) + end + "]"
    raise TypeError(f"cannot encode {type(obj).__name__} as JSON")
