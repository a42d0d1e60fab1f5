"""The one table that turns OCI mount option strings into mount(2) flags, propagation and
mount_setattr(2) attributes. Unknown options become the ``data`` string, as the spec says."""

# name: (flags to set, flags to clear)
FLAGS = {
    "defaults": (0, 0), "rw": (0, 1), "ro": (1, 0),
    "suid": (0, 2), "nosuid": (2, 0), "dev": (0, 4), "nodev": (4, 0), "exec": (0, 8), "noexec": (8, 0),
    "sync": (16, 0), "async": (0, 16), "remount": (32, 0), "mand": (64, 0), "nomand": (0, 64),
    "dirsync": (128, 0), "nosymfollow": (256, 0), "symfollow": (0, 256),
    "atime": (0, 1024), "noatime": (1024, 0), "diratime": (0, 2048), "nodiratime": (2048, 0),
    "bind": (4096, 0), "rbind": (4096 | 16384, 0), "silent": (32768, 0), "loud": (0, 32768),
    "relatime": (1 << 21, 0), "norelatime": (0, 1 << 21), "iversion": (1 << 23, 0), "noiversion": (0, 1 << 23),
    "strictatime": (1 << 24, 0), "nostrictatime": (0, 1 << 24), "lazytime": (1 << 25, 0),
    "nolazytime": (0, 1 << 25),
}
MS_REC = 16384
PROPAGATION = {
    "private": 1 << 18, "rprivate": (1 << 18) | MS_REC, "slave": 1 << 19, "rslave": (1 << 19) | MS_REC,
    "shared": 1 << 20, "rshared": (1 << 20) | MS_REC, "unbindable": 1 << 17, "runbindable": (1 << 17) | MS_REC,
}
# MOUNT_ATTR_* for the recursive options applied with mount_setattr(AT_RECURSIVE): name -> (set, clear)
_ATIME_MASK = 0x70
RECURSIVE = {
    "rro": (0x1, 0), "rrw": (0, 0x1), "rnosuid": (0x2, 0), "rsuid": (0, 0x2), "rnodev": (0x4, 0),
    "rdev": (0, 0x4), "rnoexec": (0x8, 0), "rexec": (0, 0x8), "rnodiratime": (0x80, 0), "rdiratime": (0, 0x80),
    "rrelatime": (0x0, _ATIME_MASK), "rnorelatime": (0, 0), "rnoatime": (0x10, _ATIME_MASK),
    "ratime": (0, _ATIME_MASK), "rstrictatime": (0x20, _ATIME_MASK), "rnostrictatime": (0, 0),
    "rnosymfollow": (0x200000, 0), "rsymfollow": (0, 0x200000),
}
# Options runtimes handle themselves and never pass to the kernel.
SPECIAL = {"tmpcopyup", "idmap", "ridmap"}


class MountOptions:
    """The parsed form of one mount's option list."""
    __slots__ = ("flags", "propagation", "attr_set", "attr_clr", "data", "special")

    def __init__(self) -> None:
        self.flags = 0
        self.propagation: list[int] = []
        self.attr_set = 0
        self.attr_clr = 0
        self.data: list[str] = []
        self.special: set[str] = set()


def parse(options: list[str]) -> MountOptions:
    out = MountOptions()
    for opt in options:
        f = FLAGS.get(opt)
        if f is not None:
            out.flags = (out.flags | f[0]) & ~f[1]
            continue
        p = PROPAGATION.get(opt)
        if p is not None:
            out.propagation.append(p)
            continue
        r = RECURSIVE.get(opt)
        if r is not None:
            # the last option wins; an access-time setting needs the whole atime mask in attr_clr
            out.attr_set = (out.attr_set & ~r[1]) | r[0]
            out.attr_clr = (out.attr_clr & ~r[0]) | r[1]
            continue
        if opt in SPECIAL:
            out.special.add(opt)
            continue
        out.data.append(opt)
    return out


def supported() -> list[str]:
    """Every option name pyrunc understands (for ``pyrunc features``)."""
    return sorted([*FLAGS, *PROPAGATION, *RECURSIVE, "tmpcopyup"])
