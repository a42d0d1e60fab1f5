"""cgroup v2 device control: compile emulator rules to a BPF_PROG_TYPE_CGROUP_DEVICE program.

Same program shape as runc's ``devicefilter.go``: load type/access/major/minor from
``struct bpf_cgroup_dev_ctx``, one block per exception rule (first match returns its
verdict), and the emulator's default verdict at the end. Only the bytes are built here
(pure); loading and attaching go through the small C helper ``pyrunc._bpfdev``.
"""
import struct

from ._fs import CgroupError
from .devices import ALL, M, R, W, Emulator

# BPF opcodes used (linux/bpf_common.h, linux/bpf.h)
_LDX_MEM_W = 0x61   # BPF_LDX | BPF_MEM | BPF_W
_ALU_AND_K = 0x54   # BPF_ALU | BPF_AND | BPF_K
_ALU_RSH_K = 0x74   # BPF_ALU | BPF_RSH | BPF_K
_ALU_MOV_K = 0xb4   # BPF_ALU | BPF_MOV | BPF_K
_ALU_MOV_X = 0xbc   # BPF_ALU | BPF_MOV | BPF_X
_JNE_K = 0x55       # BPF_JMP | BPF_JNE | BPF_K
_JNE_X = 0x5d       # BPF_JMP | BPF_JNE | BPF_X
_EXIT = 0x95        # BPF_JMP | BPF_EXIT

# bpf_cgroup_dev_ctx encodings
DEV_BLOCK, DEV_CHAR = 1, 2
ACC_MKNOD, ACC_READ, ACC_WRITE = 1, 2, 4


def _acc(p: int) -> int:
    return (ACC_READ if p & R else 0) | (ACC_WRITE if p & W else 0) | (ACC_MKNOD if p & M else 0)


def program(emu: Emulator) -> list:
    """-> list of (code, dst, src, off, imm) instructions; jumps already resolved."""
    insns = [
        (_LDX_MEM_W, 2, 1, 0, 0), (_ALU_AND_K, 2, 0, 0, 0xFFFF),  # R2 = type
        (_LDX_MEM_W, 3, 1, 0, 0), (_ALU_RSH_K, 3, 0, 0, 16),      # R3 = access
        (_LDX_MEM_W, 4, 1, 4, 0),                                 # R4 = major
        (_LDX_MEM_W, 5, 1, 8, 0),                                 # R5 = minor
    ]
    for allow, t, ma, mi, p in emu.clean_rules()[1:]:
        if t not in ("b", "c"):
            raise CgroupError(f'invalid device type "{t}" in cgroup v2 device rules')
        if allow == emu.default_allow:
            raise CgroupError("internal error: no-op device rule")
        block = [(_JNE_K, 2, 0, None, DEV_CHAR if t == "c" else DEV_BLOCK)]
        if p != ALL:
            block += [(_ALU_MOV_X, 1, 3, 0, 0), (_ALU_AND_K, 1, 0, 0, _acc(p)), (_JNE_X, 1, 3, None, 0)]
        if ma >= 0:
            block.append((_JNE_K, 4, 0, None, ma))
        if mi >= 0:
            block.append((_JNE_K, 5, 0, None, mi))
        block += [(_ALU_MOV_K, 0, 0, 0, 1 if allow else 0), (_EXIT, 0, 0, 0, 0)]
        n = len(block)
        # "goto next block": from instruction i the next block starts n - i - 1 further on.
        insns += [(c, d, s, (n - i - 1) if off is None else off, imm) for i, (c, d, s, off, imm) in enumerate(block)]
    insns += [(_ALU_MOV_K, 0, 0, 0, 1 if emu.default_allow else 0), (_EXIT, 0, 0, 0, 0)]
    return insns


def encode(insns: list) -> bytes:
    """struct bpf_insn {u8 code; u8 dst:4, src:4; s16 off; s32 imm} (little-endian regs nibbles)."""
    out = bytearray()
    for code, dst, src, off, imm in insns:
        if imm > 0x7FFFFFFF:
            raise CgroupError(f"device number {imm} does not fit a BPF immediate")
        out += struct.pack("<BBhi", code, (src << 4) | dst, off, imm)
    return bytes(out)


def attach(dirpath: str, emu: Emulator) -> None:
    """Load the program and make it the cgroup's only device program (old ones detached after)."""
    try:
        from pyrunc import _bpfdev
    except ImportError as e:  # the C helper was not built
        raise CgroupError(f"cgroup: eBPF device filter unavailable: {e}") from None
    code = encode(program(emu))
    ffi, lib = _bpfdev.ffi, _bpfdev.lib
    log = ffi.new("char[]", 4096)
    prog = lib.bpfdev_load(code, len(code) // 8, log, 4096)
    if prog < 0:
        raise CgroupError(f"cgroup: cannot load eBPF device filter: {_err(-prog)}: "
                          f"{ffi.string(log).decode(errors='replace').strip()}", -prog)
    try:
        from .. import fastos as os
        cg = os.open(dirpath, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            ids = ffi.new("unsigned int[]", 64)
            cnt = ffi.new("unsigned int *", 64)
            r = lib.bpfdev_query(cg, ids, cnt)
            old = [ids[i] for i in range(cnt[0])] if r == 0 else []
            r = lib.bpfdev_attach(cg, prog)
            if r < 0:
                raise CgroupError(f"cgroup: cannot attach eBPF device filter to {dirpath}: {_err(-r)}", -r)
            for pid_ in old:
                ofd = lib.bpfdev_get_fd_by_id(pid_)
                if ofd >= 0:
                    lib.bpfdev_detach(cg, ofd)
                    os.close(ofd)
        finally:
            os.close(cg)
    finally:
        from .. import fastos as os
        os.close(prog)


def attached_count(dirpath: str) -> int:
    """How many device programs are attached to this cgroup (for tests and diagnostics)."""
    from .. import fastos as os
    from pyrunc import _bpfdev
    ffi, lib = _bpfdev.ffi, _bpfdev.lib
    cg = os.open(dirpath, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        ids = ffi.new("unsigned int[]", 64)
        cnt = ffi.new("unsigned int *", 64)
        r = lib.bpfdev_query(cg, ids, cnt)
        if r < 0:
            raise CgroupError(f"cgroup: cannot query device programs of {dirpath}: {_err(-r)}", -r)
        return cnt[0]
    finally:
        os.close(cg)


def _err(n: int) -> str:
    from .. import fastos as os
    s = os.strerror(n)
    return s[:1].lower() + s[1:]
