"""Seccomp cost of a container start: compiling docker's default profile vs using the cache.

Run: python -m pytest bench/test_bench_seccomp.py --benchmark-only
Compare the ratios within one run (the machine is noisy); reference: libseccomp compile 10-16 ms,
cached ~1.5 ms (docs/seccomp.md, measurements.md §1).
"""
import json
import os
from pathlib import Path

import pytest

from pyrunc.runtime import seccomp

_ROOT = Path(__file__).resolve().parents[1] / "tests" / "fixtures"


def _docker_profile() -> dict:
    full = _ROOT / "client-configs" / "docker-config-true.json"
    if full.exists():
        return json.loads(full.read_text())["linux"]["seccomp"]
    return json.loads((_ROOT / "seccomp" / "docker-default.json").read_text())


PROFILE = _docker_profile()


def test_compile_docker_profile_without_cache(benchmark):
    prog = benchmark(seccomp.compile_filter, PROFILE)
    assert not prog.cached and prog.bpf


def test_compile_docker_profile_cache_hit(benchmark, tmp_path):
    seccomp.compile_filter(PROFILE, str(tmp_path))
    prog = benchmark(seccomp.compile_filter, PROFILE, str(tmp_path))
    assert prog.cached


@pytest.mark.parametrize("with_filter", [False, True], ids=["fork-only", "fork+load"])
def test_fork_and_load_cached_program(benchmark, tmp_path, with_filter):
    """What the init pays in the child: one seccomp(2) call on top of fork+exit."""
    prog = seccomp.compile_filter(PROFILE, str(tmp_path))

    def once() -> None:
        pid = os.fork()
        if pid == 0:
            try:
                if with_filter:
                    seccomp.load(prog)
            finally:
                os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert status == 0

    benchmark.pedantic(once, rounds=100, warmup_rounds=5)
