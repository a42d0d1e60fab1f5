"""Device rules: runc's emulator semantics, v1 transitions and the v2 eBPF program (pure)."""
import pytest

from pyrunc.runtime.cgroups import CgroupError, devfilter, devices
from pyrunc.runtime.cgroups.devices import ALL, M, R, W

# runc's devicefilter_test.go TestDeviceFilter_BuiltInAllowList expectation (jump offsets are
# printed by cilium/ebpf as -1 plus a <block-N> label; compared below without them).
RUNC_BUILTIN = """
0: LdXMemW dst: r2 src: r1 off: 0 imm: 0
1: AndImm32 dst: r2 imm: 65535
2: LdXMemW dst: r3 src: r1 off: 0 imm: 0
3: RShImm32 dst: r3 imm: 16
4: LdXMemW dst: r4 src: r1 off: 4 imm: 0
5: LdXMemW dst: r5 src: r1 off: 8 imm: 0
6: JNEImm dst: r2 off: -1 imm: 1 <block-1>
7: MovReg32 dst: r1 src: r3
8: AndImm32 dst: r1 imm: 1
9: JNEReg dst: r1 off: -1 src: r3 <block-1>
10: MovImm32 dst: r0 imm: 1
11: Exit
12: JNEImm dst: r2 off: -1 imm: 2 <block-2>
13: MovReg32 dst: r1 src: r3
14: AndImm32 dst: r1 imm: 1
15: JNEReg dst: r1 off: -1 src: r3 <block-2>
16: MovImm32 dst: r0 imm: 1
17: Exit
18: JNEImm dst: r2 off: -1 imm: 2 <block-3>
19: JNEImm dst: r4 off: -1 imm: 1 <block-3>
20: JNEImm dst: r5 off: -1 imm: 3 <block-3>
21: MovImm32 dst: r0 imm: 1
22: Exit
23: JNEImm dst: r2 off: -1 imm: 2 <block-4>
24: JNEImm dst: r4 off: -1 imm: 1 <block-4>
25: JNEImm dst: r5 off: -1 imm: 5 <block-4>
26: MovImm32 dst: r0 imm: 1
27: Exit
28: JNEImm dst: r2 off: -1 imm: 2 <block-5>
29: JNEImm dst: r4 off: -1 imm: 1 <block-5>
30: JNEImm dst: r5 off: -1 imm: 7 <block-5>
31: MovImm32 dst: r0 imm: 1
32: Exit
33: JNEImm dst: r2 off: -1 imm: 2 <block-6>
34: JNEImm dst: r4 off: -1 imm: 1 <block-6>
35: JNEImm dst: r5 off: -1 imm: 8 <block-6>
36: MovImm32 dst: r0 imm: 1
37: Exit
38: JNEImm dst: r2 off: -1 imm: 2 <block-7>
39: JNEImm dst: r4 off: -1 imm: 1 <block-7>
40: JNEImm dst: r5 off: -1 imm: 9 <block-7>
41: MovImm32 dst: r0 imm: 1
42: Exit
43: JNEImm dst: r2 off: -1 imm: 2 <block-8>
44: JNEImm dst: r4 off: -1 imm: 5 <block-8>
45: JNEImm dst: r5 off: -1 imm: 0 <block-8>
46: MovImm32 dst: r0 imm: 1
47: Exit
48: JNEImm dst: r2 off: -1 imm: 2 <block-9>
49: JNEImm dst: r4 off: -1 imm: 5 <block-9>
50: JNEImm dst: r5 off: -1 imm: 2 <block-9>
51: MovImm32 dst: r0 imm: 1
52: Exit
53: JNEImm dst: r2 off: -1 imm: 2 <block-10>
54: JNEImm dst: r4 off: -1 imm: 10 <block-10>
55: JNEImm dst: r5 off: -1 imm: 200 <block-10>
56: MovImm32 dst: r0 imm: 1
57: Exit
58: JNEImm dst: r2 off: -1 imm: 2 <block-11>
59: JNEImm dst: r4 off: -1 imm: 136 <block-11>
60: MovImm32 dst: r0 imm: 1
61: Exit
62: MovImm32 dst: r0 imm: 0
63: Exit
"""

_NAMES = {0x61: "LdXMemW", 0x54: "AndImm32", 0x74: "RShImm32", 0xb4: "MovImm32", 0xbc: "MovReg32",
          0x55: "JNEImm", 0x5d: "JNEReg", 0x95: "Exit"}


def _render(insns) -> list:
    out = []
    for code, dst, src, off, imm in insns:
        n = _NAMES[code]
        if n == "LdXMemW":
            out.append(f"{n} dst: r{dst} src: r{src} off: {off} imm: {imm}")
        elif n in ("AndImm32", "RShImm32", "MovImm32"):
            out.append(f"{n} dst: r{dst} imm: {imm}")
        elif n == "MovReg32":
            out.append(f"{n} dst: r{dst} src: r{src}")
        elif n == "JNEImm":
            out.append(f"{n} dst: r{dst} off: -1 imm: {imm}")
        elif n == "JNEReg":
            out.append(f"{n} dst: r{dst} off: -1 src: r{src}")
        else:
            out.append(n)
    return out


def _expected(text: str) -> list:
    return [ln.split(": ", 1)[1].split(" <")[0] for ln in text.strip().splitlines()]


def _check_jumps(insns) -> None:
    """Every jump lands on the first instruction of the next block (right after an Exit)."""
    for i, (code, _d, _s, off, _imm) in enumerate(insns):
        if code in (0x55, 0x5d):
            t = i + 1 + off
            assert 0 < t < len(insns) and insns[t - 1][0] == 0x95, (i, off)
            assert all(c[0] != 0x95 for c in insns[i:t - 1])  # no block boundary skipped


def test_builtin_allow_list_matches_runc_program():
    emu = devices.build(devices.oci_rules([]))
    insns = devfilter.program(emu)
    assert _render(insns) == _expected(RUNC_BUILTIN)
    _check_jumps(insns)
    assert len(devfilter.encode(insns)) == 8 * 64


def test_privileged_and_single_device_programs():
    allow_all = devices.build([(True, "a", -1, -1, ALL)])
    assert _render(devfilter.program(allow_all))[6:] == ["MovImm32 dst: r0 imm: 1", "Exit"]
    emu = devices.build([(True, "a", -1, -1, ALL), (False, "b", 8, 0, ALL)])
    assert _render(devfilter.program(emu))[6:] == [
        "JNEImm dst: r2 off: -1 imm: 1", "JNEImm dst: r4 off: -1 imm: 8", "JNEImm dst: r5 off: -1 imm: 0",
        "MovImm32 dst: r0 imm: 0", "Exit", "MovImm32 dst: r0 imm: 1", "Exit"]
    # runc TestDeviceFilter_Weird: a rule before 'a' is wiped by the reset
    weird = devices.build([(False, "b", 8, 1, ALL), (True, "a", -1, -1, ALL), (False, "b", 8, 2, ALL)])
    assert weird.rules == {("b", 8, 2): ALL} and weird.default_allow


def test_encode_layout():
    raw = devfilter.encode([(0x61, 2, 1, 4, 0), (0x55, 4, 0, -1, 136)])
    assert raw == bytes([0x61, 0x12, 4, 0, 0, 0, 0, 0, 0x55, 0x04, 0xff, 0xff, 136, 0, 0, 0])


def test_oci_rules_conversion():
    rules = devices.oci_rules([{"allow": False, "access": "rwm"},
                               {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"},
                               {"allow": True, "type": "b", "major": 8, "access": "m"}], defaults=False)
    assert rules == [(False, "a", -1, -1, ALL), (True, "c", 1, 3, R | W), (True, "b", 8, -1, M)]
    assert devices.oci_rules(None) == list(devices.DEFAULT_RULES)
    with pytest.raises(CgroupError, match="invalid cgroup device type"):
        devices.oci_rules([{"allow": True, "type": "x", "access": "r"}])
    with pytest.raises(CgroupError, match="cannot be empty"):
        devices.oci_rules([{"allow": True, "type": "c"}])
    with pytest.raises(CgroupError, match="invalid device access"):
        devices.oci_rules([{"allow": True, "type": "c", "access": "rx"}])


def test_runc_appends_defaults_after_config_rules():
    # A config deny of /dev/null is undone by runc's built-in allow list that follows it.
    emu = devices.build(devices.oci_rules([{"allow": False, "type": "c", "major": 1, "minor": 3,
                                            "access": "rwm"}]))
    assert emu.rules[("c", 1, 3)] == ALL
    # ...but devices outside the built-in list stay denied (allow-list by default).
    assert not emu.default_allow and ("c", 1, 11) not in emu.rules


def test_wildcard_hole_punch_is_refused():
    emu = devices.build([(True, "c", 1, -1, ALL)])
    with pytest.raises(CgroupError, match="cannot punch hole"):
        emu.apply((False, "c", 1, 3, R))
    emu.apply((False, "c", 1, -1, W))  # removing from the wildcard itself is fine
    assert emu.rules == {("c", 1, -1): R | M}


def test_transition_from_allow_all_and_noop():
    target = devices.build(devices.oci_rules([]))
    fresh = devices.from_list("a *:* rwm\n")
    steps = fresh.transition(target)
    assert devices.rule_string(steps[0]) == "a *:* rwm" and steps[0][0] is False
    assert [devices.rule_string(r) for r in steps[1:3]] == ["b *:* m", "c *:* m"]
    assert len(steps) == 1 + len(devices.DEFAULT_RULES)
    # a whitelist already in the target state needs no writes (update without device changes)
    listed = "\n".join(devices.rule_string(r) for r in target.clean_rules()[1:])
    assert devices.from_list(listed) == target
    assert devices.from_list(listed).transition(target) == []


def test_transition_between_whitelists_is_minimal():
    cur = devices.build([(True, "c", 1, 3, ALL), (True, "c", 1, 5, ALL)])
    tgt = devices.build([(True, "c", 1, 3, R), (True, "c", 1, 9, ALL)])
    steps = [(r[0], devices.rule_string(r)) for r in cur.transition(tgt)]
    assert steps == [(False, "c 1:3 wm"), (False, "c 1:5 rwm"), (True, "c 1:9 rwm")]
    # to a black-list: reset to allow-all first, then deny exceptions
    bl = devices.build([(True, "a", -1, -1, ALL), (False, "c", 1, 11, ALL)])
    steps = [(r[0], devices.rule_string(r)) for r in cur.transition(bl)]
    assert steps == [(True, "a *:* rwm"), (False, "c 1:11 rwm")]
