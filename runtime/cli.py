"""The ``pyrunc`` command line: runc's global flags and subcommands, parsed by hand.

argparse costs ~20 ms to import here; the whole table below parses in microseconds. Each
subcommand lives in ``runtime/commands/<name>.py`` and is imported only when called.
"""
import gc
from . import fastos as os
import sys

from . import log
from .errors import Error

# kind: "b" bool, "s" string, "i" int, "l" repeatable string
GLOBAL = {
    "--root": ("root", "s"), "--log": ("log", "s"), "--log-format": ("log_format", "s"),
    "--debug": ("debug", "b"), "--systemd-cgroup": ("systemd_cgroup", "b"),
    "--rootless": ("rootless", "s?"), "--criu": ("criu", "s"), "--cgroup-manager": ("cgroup_manager", "s"),
    "--log-level": ("log_level", "s"),
}
_CREATE = {"--bundle": ("bundle", "s"), "-b": ("bundle", "s"), "--console-socket": ("console_socket", "s"),
           "--pid-file": ("pid_file", "s"), "--no-pivot": ("no_pivot", "b"),
           "--no-new-keyring": ("no_new_keyring", "b"), "--preserve-fds": ("preserve_fds", "i"),
           "--pidfd-socket": ("pidfd_socket", "s")}
COMMANDS = {
    "create": _CREATE,
    "run": {**_CREATE, "--detach": ("detach", "b"), "-d": ("detach", "b"), "--keep": ("keep", "b"),
            "--no-subreaper": ("no_subreaper", "b")},
    "start": {},
    "state": {},
    "kill": {"--all": ("all", "b"), "-a": ("all", "b")},
    "delete": {"--force": ("force", "b"), "-f": ("force", "b")},
    "list": {"--format": ("format", "s"), "-f": ("format", "s"), "--quiet": ("quiet", "b"), "-q": ("quiet", "b")},
    "spec": {"--bundle": ("bundle", "s"), "-b": ("bundle", "s"), "--rootless": ("rootless", "b")},
    "features": {},
    "ps": {"--format": ("format", "s"), "-f": ("format", "s")},
    "pause": {},
    "resume": {},
    "events": {"--interval": ("interval", "s"), "--stats": ("stats", "b")},
    "update": {"--resources": ("resources", "s"), "-r": ("resources", "s"),
               **{f"--{k}": (k.replace("-", "_"), "s") for k in (
                   "blkio-weight", "cpu-period", "cpu-quota", "cpu-burst", "cpu-share", "cpu-rt-period",
                   "cpu-rt-runtime", "cpuset-cpus", "cpuset-mems", "cpu-idle", "memory",
                   "memory-reservation", "memory-swap", "pids-limit", "l3-cache-schema", "mem-bw-schema",
                   "kernel-memory", "kernel-memory-tcp")}},
    "exec": {"--process": ("process", "s"), "-p": ("process", "s"), "--detach": ("detach", "b"),
             "-d": ("detach", "b"), "--pid-file": ("pid_file", "s"), "--console-socket": ("console_socket", "s"),
             "--pidfd-socket": ("pidfd_socket", "s"), "--tty": ("tty", "b"), "-t": ("tty", "b"),
             "--cwd": ("cwd", "s"), "--env": ("env", "l"), "-e": ("env", "l"), "--user": ("user", "s"),
             "-u": ("user", "s"), "--additional-gids": ("additional_gids", "l"), "-g": ("additional_gids", "l"),
             "--process-label": ("process_label", "s"), "--apparmor": ("apparmor", "s"),
             "--no-new-privs": ("no_new_privs", "b"), "--cap": ("cap", "l"), "-c": ("cap", "l"),
             "--preserve-fds": ("preserve_fds", "i"), "--cgroup": ("cgroup", "l"),
             "--ignore-paused": ("ignore_paused", "b")},
    "checkpoint": None, "restore": None,
}
# Subcommands whose positional arguments after the ID belong to the container (not flags).
_TRAILING = {"exec", "ps"}

USAGE = """pyrunc: a runc-compatible OCI container runtime

usage: pyrunc [global options] command [command options] [arguments...]

commands: create start run state kill delete exec ps list pause resume update events spec features

global options:
   --root value          root directory for storage of container state (default: "/run/pyrunc")
   --log value           set the log file to write pyrunc logs to (default: stderr)
   --log-format value    set the log format ('text' (default), or 'json')
   --debug               enable debug logging
   --systemd-cgroup      use the systemd cgroup driver (needs a running systemd)
   --rootless value      ignore cgroup permission errors ('true', 'false', or 'auto')
   --criu value          accepted for compatibility, ignored
   --version, -v         print the version
"""


class Options(dict):
    """Parsed flags; missing ones read as None."""

    def __getattr__(self, name):
        return self.get(name)


def parse_flags(argv: list[str], table: dict, trailing: bool = False) -> tuple[Options, list[str]]:
    """Parse ``--flag value``, ``--flag=value``, ``-f value`` and single-dash long forms (Go style)."""
    opts, args = Options(), []
    i, n = 0, len(argv)
    while i < n:
        tok = argv[i]
        i += 1
        if tok == "--":
            args.extend(argv[i:])
            break
        if not tok.startswith("-") or tok == "-":
            args.append(tok)
            if trailing and args:
                args.extend(argv[i:])
                break
            continue
        name, eq, value = tok.partition("=")
        spec = table.get(name)
        if spec is None and not name.startswith("--"):
            spec = table.get("-" + name)
        if spec is None:
            raise Error(f"flag provided but not defined: {name}")
        dest, kind = spec
        if kind == "b":
            opts[dest] = (value.lower() not in ("false", "0")) if eq else True
            continue
        if kind == "s?":
            opts[dest] = value if eq else "true"
            continue
        if not eq:
            if i >= n:
                raise Error(f"flag needs an argument: {name}")
            value = argv[i]
            i += 1
        if kind == "i":
            try:
                value = int(value)
            except ValueError:
                raise Error(f"invalid value {value!r} for flag {name}") from None
        if kind == "l":
            opts.setdefault(dest, []).append(value)
        else:
            opts[dest] = value
    return opts, args


def main(argv: list[str] | None = None) -> None:
    # No cyclic GC in a process that lives milliseconds: a collection after the fork touches every
    # tracked object and so copies the pages it shares with the init (~1 ms measured in create).
    # Long-running commands (events) turn it back on.
    gc.disable()
    argv = sys.argv[1:] if argv is None else argv
    code = 0
    try:
        code = _main(argv) or 0
    except Error as e:
        log.error(str(e))
        code = 1
    except OSError as e:
        log.error(_os_message(e))
        code = 1
    except KeyboardInterrupt:
        code = 130
    os._exit(code)


def _os_message(e: OSError) -> str:
    text = e.strerror or str(e)
    if e.filename:
        return f"{e.filename}: {text.lower()}"
    return text.lower()


def _main(argv: list[str]) -> int:
    # globals: everything before the first non-flag token
    gl_argv: list[str] = []
    i = 0
    while i < len(argv):
        tok = argv[i]
        if tok in ("--version", "-v", "-version"):
            from .version import print_version
            print_version()
            return 0
        if tok in ("--help", "-h", "help"):
            log.out(USAGE)
            return 0
        if not tok.startswith("-"):
            break
        gl_argv.append(tok)
        name = tok.partition("=")[0]
        spec = GLOBAL.get(name) or GLOBAL.get("-" + name)
        if spec and spec[1] in ("s", "i") and "=" not in tok:
            i += 1
            if i < len(argv):
                gl_argv.append(argv[i])
        i += 1
    gopts, _ = parse_flags(gl_argv, GLOBAL)
    fmt = gopts.log_format or "text"
    if fmt not in ("text", "json"):
        raise Error(f"invalid log-format: {fmt}")
    log.configure(gopts.log, fmt, bool(gopts.debug))
    if i >= len(argv):
        log.out(USAGE)
        return 1
    cmd = argv[i]
    table = COMMANDS.get(cmd, False)
    if table is False:
        raise Error(f"No help topic for '{cmd}'")
    if table is None:
        raise Error(f"{cmd} is not supported by pyrunc")
    opts, args = parse_flags(argv[i + 1:], table, trailing=cmd in _TRAILING)
    if gopts.systemd_cgroup and not os.path.isdir("/run/systemd/system"):
        raise Error("systemd cgroup flag passed, but systemd support for managing cgroups is not available")
    gopts.root = os.path.abspath(gopts.root or "/run/pyrunc")
    mod = __import__("pyrunc.runtime.commands." + cmd, fromlist=["run"])
    return mod.run(gopts, opts, args)
