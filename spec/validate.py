"""Walk a decoded JSON document against a shape from ``spec.schema``; errors name the field."""
from . import schema


class SpecError(ValueError):
    """A config field is unknown or has the wrong type; the message starts with its path."""


_TYPE_NAMES = {"str": "a string", "int": "an integer", "uint": "a non-negative integer",
               "bool": "a boolean", "strmap": "an object of strings", "obj": "an object"}


def _fail(path: str, want: str, got) -> None:
    raise SpecError(f"{path}: expected {want}, got {type(got).__name__ if got is not None else 'null'}")


def check(value, shape, path: str) -> None:
    """Raise SpecError naming ``path`` for the first value that does not fit ``shape``."""
    if isinstance(shape, str):
        if shape == "str":
            if not isinstance(value, str):
                _fail(path, "a string", value)
        elif shape in ("int", "uint"):
            if not isinstance(value, int) or isinstance(value, bool):
                _fail(path, _TYPE_NAMES[shape], value)
            if shape == "uint" and value < 0:
                raise SpecError(f"{path}: expected a non-negative integer, got {value}")
        elif shape == "bool":
            if not isinstance(value, bool):
                _fail(path, "a boolean", value)
        elif shape == "strmap":
            if not isinstance(value, dict):
                _fail(path, "an object", value)
            for k, v in value.items():
                if not isinstance(v, str):
                    _fail(f"{path}.{k}", "a string", v)
        elif shape == "obj":
            if not isinstance(value, dict):
                _fail(path, "an object", value)
        return
    if isinstance(shape, list):
        if not isinstance(value, list):
            _fail(path, "an array", value)
        for i, item in enumerate(value):
            check(item, shape[0], f"{path}[{i}]")
        return
    if not isinstance(value, dict):
        _fail(path, "an object", value)
    for key, item in value.items():
        sub = shape.get(key)
        if sub is None:
            raise SpecError(f"{path + '.' if path else ''}{key}: unknown field")
        check(item, sub, f"{path + '.' if path else ''}{key}")


def _require(cfg: dict, dotted: str) -> None:
    node = cfg
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise SpecError(f"{dotted}: required field is missing")
        node = node[part]


def validate_config(cfg) -> dict:
    """Check types and required fields of a config.json; return it unchanged."""
    check(cfg, schema.CONFIG, "")
    for req in ("ociVersion", "root.path", "process.cwd", "process.args"):
        _require(cfg, req)
    proc = cfg["process"]
    if not proc["args"]:
        raise SpecError("process.args: must contain at least one element")
    if not proc["cwd"].startswith("/"):
        raise SpecError("process.cwd: must be an absolute path")
    seen = set()
    for i, ns in enumerate(cfg.get("linux", {}).get("namespaces", ())):
        t = ns.get("type")
        if t not in ("pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time"):
            raise SpecError(f"linux.namespaces[{i}].type: unknown namespace type {t!r}")
        if t in seen:
            raise SpecError(f"linux.namespaces[{i}].type: duplicate namespace {t!r}")
        seen.add(t)
    for i, m in enumerate(cfg.get("mounts", ())):
        if "destination" not in m:
            raise SpecError(f"mounts[{i}].destination: required field is missing")
    return cfg


def validate_process(proc) -> dict:
    """Check an exec process.json (a runtime-spec process object)."""
    check(proc, schema.PROCESS, "process")
    if not proc.get("args"):
        raise SpecError("process.args: must contain at least one element")
    return proc
