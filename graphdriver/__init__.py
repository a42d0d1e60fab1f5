"""pyrunc graph drivers: layer storage (overlay2, vfs, devicemapper emulation).

Use :func:`pyrunc.graphdriver.registry.get_driver`; the contract is
:class:`pyrunc.graphdriver.driver.Driver`.
"""
from .driver import Change, Driver, DriverError, NotSupported

__all__ = ["Change", "Driver", "DriverError", "NotSupported"]
