"""Graph-driver benchmarks: fixtures live in gdbench.py; the report is written at session end."""
from gdbench import hosts, module_ws, write_results, ws  # noqa: F401  (fixtures)


def pytest_sessionfinish(session, exitstatus):
    write_results()
