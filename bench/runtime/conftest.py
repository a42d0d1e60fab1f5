"""Runtime benchmarks (issue 8): one session-wide environment; results.json written at the end.

Render the report afterwards with ``python bench/runtime/report.py`` (docs/bench.md).
"""
import os

import pytest

import rtbench


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long-running; excluded unless -m slow is given")


@pytest.fixture(scope="session")
def bench():
    if os.geteuid() != 0:
        pytest.skip("the runtime benchmarks need root")
    b = rtbench.Bench()
    rtbench.RESULTS["machine"] = b.machine_info()
    try:
        yield b
    finally:
        problems = b.close()
        if problems:
            rtbench.RESULTS["notes"].extend(problems)
    assert not problems, f"benchmark cleanup left: {problems}"


def pytest_sessionfinish(session, exitstatus):
    path = rtbench.write_results()
    if path is not None:
        session.config._rtbench_results = str(path)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    lines = rtbench.summary_lines()
    if not lines:
        return
    terminalreporter.section("pyrunc vs runc vs crun (medians; ratios pyrunc/X of medians, paired min..max)")
    for ln in lines:
        terminalreporter.write_line(ln)
    path = getattr(config, "_rtbench_results", None)
    if path:
        terminalreporter.write_line(f"results: {path}  -> render: python bench/runtime/report.py")
