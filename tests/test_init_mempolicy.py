"""linux.memoryPolicy applied to the container process (seen in its numa_maps), the plan's parsing,
and the clear refusal of linux.intelRdt (no resctrl here)."""
import pytest

from pyrunc.runtime.errors import Error
from pyrunc.runtime.plan import memory_policy
from test_init_support import create_error, run_sh

pytest_plugins = ("test_init_support",)


def _policy(**mp):
    def mutate(cfg):
        cfg["linux"]["memoryPolicy"] = mp
    return mutate


@pytest.mark.parametrize("mp, shown", [
    ({"mode": "MPOL_BIND", "nodes": "0"}, "bind:0"),
    ({"mode": "MPOL_INTERLEAVE", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}, "interleave=static:0"),
    ({"mode": "MPOL_PREFERRED", "nodes": "0"}, "prefer:0"),
    ({"mode": "MPOL_LOCAL"}, "local"),
])
def test_container_runs_under_its_memory_policy(rt, busybox_rootfs, mp, shown):
    out = run_sh(rt, busybox_rootfs, "head -1 /proc/self/numa_maps", _policy(**mp))
    assert out.split()[1] == shown, out


def test_a_node_the_machine_lacks_is_a_create_error(rt, busybox_rootfs):
    err = create_error(rt, busybox_rootfs, _policy(mode="MPOL_BIND", nodes="4000"))
    assert "linux.memoryPolicy: set_mempolicy: invalid argument" in err, err


def test_memory_policy_plan():
    assert memory_policy({}) is None
    assert memory_policy({"memoryPolicy": {"mode": "MPOL_BIND", "nodes": "0-2,5"}}) == (2, (0b100111).to_bytes(8, "little"))
    assert memory_policy({"memoryPolicy": {"mode": "MPOL_BIND", "nodes": "64"}})[1] == (1 << 64).to_bytes(16, "little")
    assert memory_policy({"memoryPolicy": {"mode": "MPOL_LOCAL"}}) == (4, b"")
    assert memory_policy({"memoryPolicy": {"mode": "MPOL_INTERLEAVE", "nodes": "1",
                                           "flags": ["MPOL_F_RELATIVE_NODES"]}})[0] == 3 | 1 << 14


@pytest.mark.parametrize("mp, field", [
    ({"mode": "MPOL_FAST", "nodes": "0"}, "linux.memoryPolicy.mode"),
    ({"mode": "MPOL_BIND"}, "linux.memoryPolicy.nodes"),
    ({"mode": "MPOL_BIND", "nodes": "3-1"}, "linux.memoryPolicy.nodes"),
    ({"mode": "MPOL_BIND", "nodes": "x"}, "linux.memoryPolicy.nodes"),
    ({"mode": "MPOL_DEFAULT", "nodes": "0"}, "linux.memoryPolicy.nodes"),
    ({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_NOPE"]}, "linux.memoryPolicy.flags[0]"),
])
def test_memory_policy_errors_name_the_field(mp, field):
    with pytest.raises(Error) as e:
        memory_policy({"memoryPolicy": mp})
    assert str(e.value).startswith(field), e.value


def test_intel_rdt_is_refused(rt, busybox_rootfs):
    def rdt(cfg):
        cfg["linux"]["intelRdt"] = {"closID": "x", "l3CacheSchema": "L3:0=f"}
    assert "intelRdt is specified in config, but Intel RDT is not supported or enabled" in \
        create_error(rt, busybox_rootfs, rdt)
