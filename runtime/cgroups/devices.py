"""Device cgroup rules: OCI rules -> runc's device emulator -> v1 writes or a v2 eBPF rule list.

runc never applies OCI ``linux.resources.devices`` verbatim. It appends its built-in
allowed devices, replays everything into an emulator that starts as a deny-all
allow-list, and then (v1) writes only the transition from the cgroup's current
``devices.list`` to that target, or (v2) compiles the emulator's clean rule set to eBPF.
This module is that emulator (``libcontainer/cgroups/devices/devices_emulator.go``);
os-free, so it is cheap on the create path and unit-testable.

A rule is a tuple ``(allow: bool, type: 'a'|'b'|'c', major: int, minor: int, perms: int)``
where -1 is the '*' wildcard and ``perms`` is a bit set of R|W|M.
"""
from ._fs import CgroupError

R, W, M = 1, 2, 4
ALL = R | W | M
WILDCARD = -1

# runc specconv.AllowedDevices (1.2.4+, tun/tap re-added): appended after the config's rules.
DEFAULT_RULES = (
    (True, "c", -1, -1, M), (True, "b", -1, -1, M),
    (True, "c", 1, 3, ALL), (True, "c", 1, 8, ALL), (True, "c", 1, 7, ALL), (True, "c", 5, 0, ALL),
    (True, "c", 1, 5, ALL), (True, "c", 1, 9, ALL), (True, "c", 136, -1, ALL), (True, "c", 5, 2, ALL),
    (True, "c", 10, 200, ALL),
)


def perms_from_str(s: str) -> int:
    p = 0
    for ch in s:
        if ch == "r":
            p |= R
        elif ch == "w":
            p |= W
        elif ch == "m":
            p |= M
        else:
            raise CgroupError(f'invalid device access "{s}" (only r, w and m are allowed)')
    return p


def perms_str(p: int) -> str:
    return ("r" if p & R else "") + ("w" if p & W else "") + ("m" if p & M else "")


def rule_string(rule: tuple) -> str:
    """The v1 devices.allow/deny syntax: 'c 1:3 rwm', 'a *:* rwm'."""
    _allow, t, ma, mi, p = rule
    if t == "a":
        return "a *:* rwm"
    return f"{t} {'*' if ma < 0 else ma}:{'*' if mi < 0 else mi} {perms_str(p)}"


def oci_rules(devs: list | None, defaults: bool = True) -> list:
    """OCI ``resources.devices`` entries -> rules, runc specconv style (+ built-in defaults)."""
    out = []
    for i, d in enumerate(devs or ()):
        t = d.get("type") or "a"
        if t not in ("a", "b", "c"):
            raise CgroupError(f'invalid cgroup device type "{t}"')
        access = d.get("access") or ""
        if not access:
            raise CgroupError(f"device access at {i} field cannot be empty")
        ma, mi = d.get("major"), d.get("minor")
        out.append((bool(d.get("allow")), t, -1 if ma is None else int(ma), -1 if mi is None else int(mi),
                    perms_from_str(access)))
    if defaults:
        out.extend(DEFAULT_RULES)
    return out


class Emulator:
    """State of a devices cgroup: default action + exceptions {(type, major, minor): perms}."""

    __slots__ = ("default_allow", "rules")

    def __init__(self, default_allow: bool = False) -> None:
        self.default_allow = default_allow  # False: allow-list (deny-all + exceptions)
        self.rules: dict = {}

    def __eq__(self, other) -> bool:
        return (isinstance(other, Emulator) and self.default_allow == other.default_allow
                and self.rules == other.rules)

    def is_blacklist(self) -> bool:
        return self.default_allow

    def is_allow_all(self) -> bool:
        return self.default_allow and not self.rules

    def apply(self, rule: tuple) -> None:
        allow, t, ma, mi, p = rule
        if t == "a":  # 'a' resets the cgroup to allow-all or deny-all
            self.default_allow = allow
            self.rules = {}
            return
        meta = (t, ma, mi)
        if allow == self.default_allow:
            self._rm(meta, p)
        else:
            self.rules[meta] = self.rules.get(meta, 0) | p

    def _rm(self, meta: tuple, p: int) -> None:
        t, ma, mi = meta
        # Removing part of a wildcard exception is silently ignored by the kernel; refuse it.
        for partial in ((t, -1, mi), (t, ma, -1), (t, -1, -1)):
            if partial == meta:
                continue
            pp = self.rules.get(partial, 0)
            if pp & p:
                raise CgroupError(
                    f"requested rule [{t} {_n(ma)}:{_n(mi)} {perms_str(p)}] not supported by devices "
                    f"cgroupv1 (cannot punch hole in existing wildcard rule "
                    f"[{t} {_n(partial[1])}:{_n(partial[2])} {perms_str(pp)}])")
        left = self.rules.get(meta, 0) & ~p
        if left:
            self.rules[meta] = left
        else:
            self.rules.pop(meta, None)

    def ordered(self) -> list:
        return sorted(self.rules.items())

    def clean_rules(self) -> list:
        """Default rule first, then the exceptions in sorted order (runc Emulator.Rules)."""
        out = [(self.default_allow, "a", -1, -1, ALL)]
        for (t, ma, mi), p in self.ordered():
            out.append((not self.default_allow, t, ma, mi, p))
        return out

    def transition(self, target: "Emulator") -> list:
        """The rules to write to move a v1 cgroup from this state to ``target``."""
        out = []
        old = self.rules
        # devices.list cannot show deny exceptions of a black-list, so always reset from one.
        if self.default_allow or self.default_allow != target.default_allow:
            out.append((target.default_allow, "a", -1, -1, ALL))
            old = {}
        for meta, op in sorted(old.items()):
            dropped = op & ~target.rules.get(meta, 0)
            if dropped:
                out.append((target.default_allow,) + meta + (dropped,))
        for meta, np in target.ordered():
            gained = np & ~old.get(meta, 0)
            if gained:
                out.append((not target.default_allow,) + meta + (gained,))
        return out


def _n(v: int) -> str:
    return "*" if v < 0 else str(v)


def build(rules: list) -> Emulator:
    """Replay rules into an emulator that starts as deny-all (runc buildEmulator)."""
    e = Emulator(False)
    for r in rules:
        e.apply(r)
    return e


def from_list(text: str) -> Emulator:
    """Parse v1 ``devices.list`` (an allow list; 'a *:* rwm' means allow-all)."""
    e = Emulator(False)
    for line in text.splitlines():
        f = line.split()
        if len(f) != 3:
            continue
        t, mm, p = f
        ma, _, mi = mm.partition(":")
        if t == "a":
            e.default_allow = True
            e.rules = {}
            continue
        e.apply((True, t, -1 if ma == "*" else int(ma), -1 if mi == "*" else int(mi), perms_from_str(p)))
    return e
