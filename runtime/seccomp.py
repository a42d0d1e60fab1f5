"""OCI ``linux.seccomp`` -> cBPF program, with an on-disk cache, and the loader for the init.

Why this shape: compiling docker's default profile with libseccomp costs 10-16 ms (3 arches), loading
a cached program ~1.5 ms. So the parent compiles (or reads the cache) before fork, and the forked init
only does one seccomp(2) call right before execve. Semantics follow runc (libcontainer/seccomp and
patchbpf): unknown syscalls are skipped, rules equal to the default action are skipped, repeated
argument indexes split a rule into OR-ed single-condition rules, absent ``flags`` means SPEC_ALLOW,
and non-permissive profiles get runc's -ENOSYS stub so that syscalls newer than the profile fail
with ENOSYS (glibc then falls back) instead of the default errno.

Hot-path rule: no json/re/ctypes/logging/hashlib imports here (see docs/seccomp.md).
"""
from . import fastos as os
import sys

from _blake2 import blake2b
from .jsonlite import dumps

__all__ = [
    "SeccompError", "Program", "compile_filter", "load", "send_listener", "features",
    "libseccomp_version", "ACTIONS", "OPERATORS", "KNOWN_FLAGS", "ARCHS",
]


class SeccompError(Exception):
    """Invalid or unloadable ``linux.seccomp``; the message starts with the offending field path."""


# --- vocabulary (values are the kernel/libseccomp ABI, stable across versions) ----------------------

_RET_KILL_PROCESS = 0x80000000
_RET_KILL_THREAD = 0x00000000
_RET_TRAP = 0x00030000
_RET_ERRNO = 0x00050000
_RET_NOTIFY = 0x7FC00000
_RET_TRACE = 0x7FF00000
_RET_LOG = 0x7FFC0000
_RET_ALLOW = 0x7FFF0000
_EPERM = 1
_ENOSYS = 38

ACTIONS = {  # name -> action value; ERRNO/TRACE get the errno ORed in
    "SCMP_ACT_KILL": _RET_KILL_THREAD,
    "SCMP_ACT_KILL_THREAD": _RET_KILL_THREAD,
    "SCMP_ACT_KILL_PROCESS": _RET_KILL_PROCESS,
    "SCMP_ACT_TRAP": _RET_TRAP,
    "SCMP_ACT_ERRNO": _RET_ERRNO,
    "SCMP_ACT_TRACE": _RET_TRACE,
    "SCMP_ACT_ALLOW": _RET_ALLOW,
    "SCMP_ACT_LOG": _RET_LOG,
    "SCMP_ACT_NOTIFY": _RET_NOTIFY,
}
OPERATORS = {  # enum scmp_compare
    "SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7,
}
_FLAG_TSYNC = 1
_FLAG_LOG = 2
_FLAG_SPEC_ALLOW = 4
_FLAG_NEW_LISTENER = 8
_FLAG_TSYNC_ESRCH = 16
_FLAG_WAIT_KILLABLE_RECV = 32
KNOWN_FLAGS = {
    "SECCOMP_FILTER_FLAG_TSYNC": _FLAG_TSYNC,
    "SECCOMP_FILTER_FLAG_LOG": _FLAG_LOG,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": _FLAG_SPEC_ALLOW,
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": _FLAG_WAIT_KILLABLE_RECV,
}
# OCI names; libseccomp's name is the lower-cased suffix. Which ones work depends on libseccomp.
ARCHS = (
    "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_LOONGARCH64", "SCMP_ARCH_M68K", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390", "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64", "SCMP_ARCH_SH", "SCMP_ARCH_SHEB",
)
_ARCH_SET = frozenset(ARCHS)
_MAX_ARGS = 6
_U64 = (1 << 64) - 1
_BPF_MAXINSNS = 4096
_CACHE_FORMAT = b"pyrunc-seccomp-cache-2"
_MAGIC = b"PRSCMP02"
_DIGEST = 32


class Program:
    """A compiled filter: ``bpf`` = raw ``struct sock_filter[]``, ``flags`` = seccomp(2) load flags."""

    __slots__ = ("bpf", "flags", "has_notify", "cached")

    def __init__(self, bpf: bytes, flags: int, has_notify: bool, cached: bool = False) -> None:
        self.bpf = bpf
        self.flags = flags
        self.has_notify = has_notify
        self.cached = cached  # True when the BPF came from the cache (diagnostics/tests)

    def __repr__(self) -> str:
        return (f"Program({len(self.bpf) // 8} insns, flags={self.flags:#x}, "
                f"has_notify={self.has_notify}, cached={self.cached})")


# --- lazy libseccomp binding --------------------------------------------------------------------

_lib = None
_ffi = None
_env: bytes | None = None
_flag_support: dict[int, bool] = {}


def _binding():
    """Import the cffi module on first use (~0.5 ms), so importing this module stays free."""
    global _lib, _ffi
    if _lib is None:
        from pyrunc._seccomp import ffi, lib
        _ffi, _lib = ffi, lib
    return _lib


def _environment() -> bytes:
    """What besides the profile decides the BPF bytes: libseccomp version, API level, native arch."""
    global _env
    if _env is None:
        lib = _binding()
        _env = b"%s|%d|%d" % (libseccomp_version().encode(), lib.seccomp_api_get(),
                              lib.seccomp_arch_native())
    return _env


def libseccomp_version() -> str:
    """Runtime libseccomp version, e.g. ``"2.5.4"`` (for ``pyrunc --version``)."""
    v = _binding().seccomp_version()
    return f"{v.major}.{v.minor}.{v.micro}"


def _flag_supported(bits: int) -> bool:
    """Kernel probe (one seccomp(2) call with a NULL program), memoised per process."""
    ok = _flag_support.get(bits)
    if ok is None:
        from .linux import seccomp_flags_supported
        ok = _flag_support[bits] = seccomp_flags_supported(bits)
    return ok


def _arch_token(name: str) -> int:
    return _binding().seccomp_arch_resolve_name(name[10:].lower().encode())


# --- validation / normalisation --------------------------------------------------------------------

def _uint(value, path: str, limit: int = _U64) -> int:
    if type(value) is not int or value < 0 or value > limit:
        raise SeccompError(f"{path}: must be an integer in [0, {limit}], got {value!r}")
    return value


def _action(name, errno_ret, path: str, errno_path: str) -> int:
    """OCI action name (+ errnoRet) -> libseccomp action value, as runc's getAction."""
    base = ACTIONS.get(name) if type(name) is str else None
    if base is None:
        raise SeccompError(f'{path}: unknown action "{name}"' if type(name) is str
                           else f"{path}: must be a string, got {name!r}")
    if base == _RET_ERRNO or base == _RET_TRACE:
        errno = _EPERM if errno_ret is None else _uint(errno_ret, errno_path, 0xFFFF)
        return base | errno
    if errno_ret is not None:
        _uint(errno_ret, errno_path, 0xFFFF)  # type-checked, otherwise ignored like runc
    return base


def _normalize(sc: dict) -> tuple | None:
    """Validate and reduce the profile to a canonical tuple (also the cache key material).

    Returns (default_action, arch_names, rules, has_notify, flags) or None when runc would
    treat seccomp as disabled (no profile, or neither defaultAction nor syscalls).
    rules: tuple of (path, name, action, conds); conds: tuple of (index, op, value, valueTwo).
    """
    P = "linux.seccomp"
    if sc is None:
        return None
    if not isinstance(sc, dict):
        raise SeccompError(f"{P}: must be an object")
    syscalls = sc.get("syscalls")
    if syscalls is None:
        syscalls = []
    elif not isinstance(syscalls, list):
        raise SeccompError(f"{P}.syscalls: must be an array")
    if not sc.get("defaultAction") and not syscalls:
        return None
    default = _action(sc.get("defaultAction", ""), sc.get("defaultErrnoRet"),
                      P + ".defaultAction", P + ".defaultErrnoRet")
    if default == _RET_NOTIFY:
        raise SeccompError(f"{P}.defaultAction: SCMP_ACT_NOTIFY cannot be used as default action")

    archs = sc.get("architectures") or []
    if not isinstance(archs, list):
        raise SeccompError(f"{P}.architectures: must be an array")
    for i, a in enumerate(archs):
        if a not in _ARCH_SET:
            raise SeccompError(f'{P}.architectures[{i}]: unknown architecture "{a}"')

    flags = sc.get("flags")
    if flags is not None:
        if not isinstance(flags, list):
            raise SeccompError(f"{P}.flags: must be an array")
        for i, f in enumerate(flags):
            if f not in KNOWN_FLAGS:
                raise SeccompError(f'{P}.flags[{i}]: unknown flag "{f}"')

    for key in ("listenerPath", "listenerMetadata"):
        v = sc.get(key)
        if v is not None and type(v) is not str:
            raise SeccompError(f"{P}.{key}: must be a string")

    rules = []
    has_notify = False
    for i, call in enumerate(syscalls):
        cp = f"{P}.syscalls[{i}]"
        if not isinstance(call, dict):
            raise SeccompError(f"{cp}: must be an object")
        names = call.get("names")
        if not isinstance(names, list) or not names:
            raise SeccompError(f"{cp}.names: must be a non-empty array of syscall names")
        act = _action(call.get("action"), call.get("errnoRet"), cp + ".action", cp + ".errnoRet")
        args = call.get("args") or []
        if not isinstance(args, list):
            raise SeccompError(f"{cp}.args: must be an array")
        conds = []
        for k, arg in enumerate(args):
            ap = f"{cp}.args[{k}]"
            if not isinstance(arg, dict):
                raise SeccompError(f"{ap}: must be an object")
            index = _uint(arg.get("index"), ap + ".index", _MAX_ARGS - 1)
            op = arg.get("op")
            if op not in OPERATORS:
                raise SeccompError(f'{ap}.op: unknown operator "{op}"')
            value = _uint(arg.get("value", 0), ap + ".value")
            value2 = _uint(arg.get("valueTwo", 0), ap + ".valueTwo")
            conds.append((index, OPERATORS[op], value, value2))
        conds = tuple(conds)
        if act == _RET_NOTIFY:
            has_notify = True
        for j, name in enumerate(names):
            if type(name) is not str or not name:
                raise SeccompError(f"{cp}.names[{j}]: must be a non-empty string")
            if act == _RET_NOTIFY and name == "write":
                raise SeccompError(
                    f"{cp}.names[{j}]: SCMP_ACT_NOTIFY cannot be used for the write syscall")
            rules.append((f"{cp}.names[{j}]", name, act, conds))
    listener = sc.get("listenerPath") or ""
    if has_notify and not listener:
        raise SeccompError(f"{P}.listenerPath: required when SCMP_ACT_NOTIFY is used")
    return default, tuple(archs), tuple(rules), has_notify, flags


def _load_flags(flags: list | None, has_notify: bool) -> int:
    """OCI flags -> seccomp(2) flags. Absent flags mean SPEC_ALLOW when supported (runc)."""
    out = _FLAG_NEW_LISTENER if has_notify else 0
    if flags is None:
        return out | (_FLAG_SPEC_ALLOW if _flag_supported(_FLAG_SPEC_ALLOW) else 0)
    for i, name in enumerate(flags):
        bit = KNOWN_FLAGS[name]
        if bit == _FLAG_WAIT_KILLABLE_RECV:
            if not has_notify:
                continue  # only meaningful (and only accepted by the kernel) with a listener
            probe = _FLAG_NEW_LISTENER | bit
        else:
            probe = bit
        if not _flag_supported(probe):
            raise SeccompError(f'linux.seccomp.flags[{i}]: "{name}" is not supported by this kernel')
        out |= bit
    if out & _FLAG_TSYNC and out & _FLAG_NEW_LISTENER:
        out |= _FLAG_TSYNC_ESRCH  # the kernel refuses TSYNC+NEW_LISTENER without it
    return out


# --- compile --------------------------------------------------------------------------------------

def compile_filter(seccomp: dict | None, cache_dir: str | None = None, log=None) -> Program | None:
    """Validate ``linux.seccomp`` and return its Program (None when seccomp is disabled).

    With ``cache_dir`` the BPF is looked up by a hash of the canonical profile and the libseccomp
    environment; a damaged entry is dropped and rebuilt; new entries are written atomically.
    ``log(msg)`` receives debug notes (skipped syscalls) when libseccomp actually compiles.
    """
    norm = _normalize(seccomp)
    if norm is None:
        return None
    default, archs, rules, has_notify, flags = norm
    load_flags = _load_flags(flags, has_notify)
    canon = (default, archs, rules)
    if cache_dir is None:
        return Program(_compile(canon, log), load_flags, has_notify)
    key = blake2b(b"%s|%s|%s" % (_CACHE_FORMAT, _environment(), repr(canon).encode()),
                  digest_size=20).hexdigest()
    path = f"{cache_dir}/{key}.bpf"
    bpf = _cache_read(path, key)
    if bpf is not None:
        return Program(bpf, load_flags, has_notify, cached=True)
    bpf = _compile(canon, log)
    _cache_write(cache_dir, path, key, bpf)
    return Program(bpf, load_flags, has_notify)


def _compile(canon: tuple, log) -> bytes:
    """libseccomp pass + runc's -ENOSYS stub in front of it."""
    default, archs, rules = canon
    lib = _binding()
    ffi = _ffi
    ctx = lib.seccomp_init(default)
    if ctx == ffi.NULL:
        raise SeccompError(f"linux.seccomp.defaultAction: libseccomp rejected action {default:#x}")
    fd = -1
    try:
        for i, name in enumerate(archs):
            tok = _arch_token(name)
            if tok == 0:
                raise SeccompError(f'linux.seccomp.architectures[{i}]: "{name}" is not supported '
                                   f"by libseccomp {libseccomp_version()}")
            rc = lib.seccomp_arch_add(ctx, tok)
            if rc < 0 and rc != -17:  # -EEXIST: the native arch is always present
                raise SeccompError(f'linux.seccomp.architectures[{i}]: cannot add "{name}": '
                                   f"{os.strerror(-rc)}")
        lib.seccomp_attr_set(ctx, lib.SCMP_FLTATR_CTL_NNP, 0)
        if len(rules) > 32:  # binary-tree dispatch for long profiles, as runc does
            lib.seccomp_attr_set(ctx, lib.SCMP_FLTATR_CTL_OPTIMIZE, 2)
        err = lib.__NR_SCMP_ERROR
        for path, name, act, conds in rules:
            if act == default:
                continue  # redundant; libseccomp refuses it (EACCES)
            nr = lib.seccomp_syscall_resolve_name(name.encode())
            if nr == err:
                if log is not None:
                    log(f'seccomp: unknown syscall "{name}" ignored ({path})')
                continue
            _add_rule(lib, ffi, ctx, path, name, act, nr, conds)
        fd = os.memfd_create("pyrunc-seccomp", os.MFD_CLOEXEC)
        rc = lib.seccomp_export_bpf(ctx, fd)
        if rc < 0:
            raise SeccompError(f"linux.seccomp: libseccomp cannot export BPF: {os.strerror(-rc)}")
        size = os.lseek(fd, 0, os.SEEK_END)
        body = os.pread(fd, size, 0)
    finally:
        lib.seccomp_release(ctx)
        if fd >= 0:
            os.close(fd)
    bpf = _enosys_stub(default, archs, rules) + body
    if len(bpf) // 8 > _BPF_MAXINSNS:
        raise SeccompError(f"linux.seccomp: filter too large ({len(bpf) // 8} > "
                           f"{_BPF_MAXINSNS} BPF instructions)")
    return bpf


def _add_rule(lib, ffi, ctx, path, name, act, nr, conds) -> None:
    """runc's matchCall: a repeated argument index turns every condition into its own rule (OR)."""
    if not conds:
        groups = [()]
    elif len({c[0] for c in conds}) != len(conds):
        groups = [(c,) for c in conds]
    else:
        groups = [conds]
    for group in groups:
        arr = ffi.NULL
        if group:
            arr = ffi.new("struct scmp_arg_cmp[]", len(group))
            for k, (index, op, a, b) in enumerate(group):
                arr[k].arg, arr[k].op, arr[k].datum_a, arr[k].datum_b = index, op, a, b
        rc = lib.seccomp_rule_add_array(ctx, act, nr, len(group), arr)
        if rc < 0:
            raise SeccompError(f'{path}: libseccomp rejected the rule for "{name}": '
                               f"{os.strerror(-rc)}")


# --- runc's -ENOSYS stub (libcontainer/seccomp/patchbpf) --------------------------------------------

_AUDIT_ARCH_X86_64 = 0xC000003E
_X32_BIT = 0x40000000
_S390_TOKENS = (0x16, 0x80000016)  # AUDIT_ARCH_S390, AUDIT_ARCH_S390X


def _enosys_stub(default: int, archs: tuple, rules: tuple) -> bytes:
    """Return ENOSYS for syscall numbers above the largest one the profile names, per arch.

    Without it a syscall newer than the profile gets the default errno (often EPERM) and libc
    does not fall back to the older syscall. Skipped for permissive defaults (ALLOW, LOG, TRACE)
    and when the default already is ENOSYS. Only the architectures listed in the profile get a
    section, like runc.
    """
    kind = default & 0xFFFF0000
    if kind in (_RET_ALLOW, _RET_LOG, _RET_TRACE) or default == _RET_ERRNO | _ENOSYS:
        return b""
    lib = _binding()
    names = {r[1].encode() for r in rules}
    sections: dict[int, dict[int, int]] = {}  # audit arch -> {scmp token: max nr}
    for arch in archs:
        tok = _arch_token(arch)
        audit = _AUDIT_ARCH_X86_64 if tok == 0x4000003E else tok  # SCMP_ARCH_X32 is a fake token
        best = max((lib.seccomp_syscall_resolve_name_arch(tok, n) for n in names), default=-1)
        if best > 0:
            sections.setdefault(audit, {})[tok] = best
    if not sections:
        return b""
    # Symbolic assembly; labels are resolved to forward jump offsets below.
    LD, JEQ, JGT, JSET, JA, RET = 0x20, 0x15, 0x25, 0x45, 0x05, 0x06
    prog: list = [(LD, 0, 0, 4)]  # A = seccomp_data.arch
    for audit in sections:
        prog.append((JEQ, f"a{audit}", 0, audit))
    prog.append((JA, 0, 0, "filter"))
    for audit, maxes in sections.items():
        prog.append(f"a{audit}")
        prog.append((LD, 0, 0, 0))  # A = seccomp_data.nr
        if audit == _AUDIT_ARCH_X86_64:
            m64, m32 = maxes.get(_AUDIT_ARCH_X86_64), maxes.get(0x4000003E)
            prog.append((JSET, "x32", 0, _X32_BIT))
            prog.append((JGT, "enosys", "filter", m64) if m64 else (JA, 0, 0, "filter"))
            prog.append("x32")
            prog.append((JGT, "enosys", "filter", m32) if m32 else (JA, 0, 0, "filter"))
        else:
            (tok, m), = maxes.items()
            if tok in _S390_TOKENS:  # s390 multiplexes unknown syscalls onto nr 0
                prog.append((JEQ, "enosys", 0, 0))
            prog.append((JGT, "enosys", "filter", m))
    prog.append("enosys")
    prog.append((RET, 0, 0, _RET_ERRNO | _ENOSYS))
    prog.append("filter")
    return _assemble(prog)


def _assemble(prog: list) -> bytes:
    import struct  # miss path only

    labels, pc = {}, 0
    for item in prog:
        if type(item) is str:
            labels[item] = pc
        else:
            pc += 1
    out, pc = [], 0
    for item in prog:
        if type(item) is str:
            continue
        code, jt, jf, k = item
        if type(jt) is str:
            jt = labels[jt] - pc - 1
        if type(jf) is str:
            jf = labels[jf] - pc - 1
        if type(k) is str:  # JA target
            k = labels[k] - pc - 1
        if not (0 <= jt <= 255 and 0 <= jf <= 255):
            raise SeccompError("linux.seccomp: -ENOSYS stub needs a long jump (too many arches)")
        out.append(struct.pack("=HBBI", code, jt, jf, k))
        pc += 1
    return b"".join(out)


# --- cache ------------------------------------------------------------------------------------------

def _cache_read(path: str, key: str) -> bytes | None:
    """Return the verified BPF of an entry, or None (missing or damaged; damaged ones are removed)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        chunks = []
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    except OSError:
        return None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    head = len(_MAGIC) + _DIGEST
    body = data[head:]
    if (data[:len(_MAGIC)] != _MAGIC or not body or len(body) % 8
            or data[len(_MAGIC):head] != _digest(key, body)):
        try:
            os.unlink(path)
        except OSError:
            pass
        return None
    return body


def _digest(key: str, body: bytes) -> bytes:
    return blake2b(body, digest_size=_DIGEST, key=key.encode()).digest()


def _cache_write(cache_dir: str, path: str, key: str, bpf: bytes) -> None:
    """Atomic publish: private temp file + rename. Concurrent writers race harmlessly (same bytes);
    a torn or stale file is caught by the digest. Failures only cost the next caller a compile."""
    tmp = f"{cache_dir}/.{key}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    try:
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:
            os.makedirs(cache_dir, 0o700, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            data = _MAGIC + _digest(key, bpf) + bpf
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


# --- load (in the container init, right before execve) ---------------------------------------------

def load(program: Program) -> int:
    """Install ``program`` on the calling process; return the listener fd (NOTIFY) or -1.

    Needs no_new_privs or CAP_SYS_ADMIN. The listener fd is O_CLOEXEC; pass it on before execve.
    """
    from .linux import seccomp_set_filter  # libseccomp is not needed (nor loaded) to install
    rc = seccomp_set_filter(program.flags, program.bpf)
    return rc if program.has_notify else -1


# --- seccomp agent hand-off -------------------------------------------------------------------------

def send_listener(listener_path: str, fd: int, state: dict, metadata: str, sock=None) -> None:
    """Send the runtime-spec "container process state" + the listener fd to the seccomp agent.

    One connection, one sendmsg carrying the JSON and SCM_RIGHTS [fd], then close (as runc).
    ``state`` is the OCI state object of the container (status "creating" at create time).
    ``sock``: an already connected socket (the init, after pivot_root, cannot reach the path).
    """
    import _socket  # not the ``socket`` module: its enum import costs ~5 ms

    msg = {"ociVersion": state.get("ociVersion", "1.2.0"), "fds": ["seccompFd"],
           "pid": state.get("pid", 0)}
    if metadata:
        msg["metadata"] = metadata
    msg["state"] = state
    payload = dumps(msg).encode()
    connected = sock is not None
    if not connected:
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        sock.settimeout(10.0)
        if not connected:
            sock.connect(listener_path)
        rights = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fd.to_bytes(4, sys.byteorder))]
        sent = sock.sendmsg([payload], rights)
        if sent < len(payload):
            sock.sendall(payload[sent:])
    except OSError as e:
        raise SeccompError(f"linux.seccomp.listenerPath: cannot send the seccomp fd to "
                           f"{listener_path!r}: {e.strerror or e}") from e
    finally:
        sock.close()


# --- features -----------------------------------------------------------------------------------

def features() -> dict:
    """The ``linux.seccomp`` object of ``pyrunc features`` (runtime-spec features-linux.md)."""
    archs = sorted(a for a in ARCHS if _arch_token(a))
    supported = []
    for name, bit in KNOWN_FLAGS.items():
        probe = bit | _FLAG_NEW_LISTENER if bit == _FLAG_WAIT_KILLABLE_RECV else bit
        if _flag_supported(probe):
            supported.append(name)
    return {
        "enabled": True,
        "actions": sorted(ACTIONS),
        "operators": sorted(OPERATORS),
        "archs": archs,
        "knownFlags": list(KNOWN_FLAGS),
        "supportedFlags": supported,
    }
