"""Driver registry: choose a graph driver by name or by probing the host.

Order of preference when no name is given: overlay2, vfs, devicemapper (like docker's
``priority`` list, vfs before the emulated devicemapper because it needs no loop devices).
A driver module that is missing or fails to import is simply not registered.
"""
from __future__ import annotations

import importlib

from .driver import Driver, DriverError, NotSupported

#: name -> class, in probing order
DRIVERS: dict[str, type[Driver]] = {}

_MODULES = (("overlay2", "overlay2", "Overlay2Driver"), ("vfs", "vfs", "VfsDriver"),
            ("devicemapper", "devicemapper", "DeviceMapperDriver"))


def register(cls: type[Driver]) -> type[Driver]:
    """Add a driver class under ``cls.name`` (usable as a decorator)."""
    DRIVERS[cls.name] = cls
    return cls


def _load() -> None:
    for name, module, attr in _MODULES:
        if name in DRIVERS:
            continue
        try:
            mod = importlib.import_module(f"{__package__}.{module}")
        except Exception:  # a missing or broken driver module must not disable the others
            continue
        cls = getattr(mod, attr, None)
        if cls is None:  # fall back to any Driver subclass carrying the right name
            cls = next((v for v in vars(mod).values() if isinstance(v, type) and issubclass(v, Driver)
                        and v is not Driver and getattr(v, "name", "") == name), None)
        if cls is not None:
            DRIVERS[name] = cls


_load()


def probe_all(home_for) -> dict[str, str | None]:
    """``{name: None | reason}`` for every registered driver; ``home_for(name)`` gives its home."""
    return {name: cls.probe(home_for(name)) for name, cls in DRIVERS.items()}


def get_driver(name: str | None, home: str, options: dict[str, str] | None = None) -> Driver:
    """Instantiate driver ``name`` on ``home`` (None = first driver whose probe passes)."""
    if name is None:
        reasons = []
        for cand, cls in DRIVERS.items():
            why = cls.probe(home)
            if why is None:
                return cls(home, options)
            reasons.append(f"{cand}: {why}")
        raise NotSupported("no usable graph driver: " + "; ".join(reasons))
    cls = DRIVERS.get(name)
    if cls is None:
        known = ", ".join(DRIVERS) or "none"
        raise DriverError(f"unknown graph driver {name!r} (known: {known})")
    why = cls.probe(home)
    if why is not None:
        raise NotSupported(f"graph driver {name} cannot run here: {why}")
    return cls(home, options)
