"""cgroupsPath forms -> directories, as runc resolves them (pure functions, os-free).

- absolute ``/docker/<id>``: below the root of every hierarchy;
- relative ``a/b``: below the runtime's own cgroup in each v1 hierarchy (runc
  ``GetOwnCgroupPath``); on a pure v2 host below the *parent* of the runtime's own cgroup
  (runc fs2 ``defaultDirPath``: the own cgroup usually has processes, so it cannot have
  controllers enabled for children);
- empty: the container id, relative (runc puts ``runc run`` containers below its own cgroup);
- ``slice:prefix:name`` (systemd driver): ``/<expanded slice>/<prefix>-<name>.scope``.
"""
from ._fs import CgroupError, clean_path, join
from .manager import DEFAULT_PARENT


def inner_path(cgroups_path: str | None, container_id: str) -> str:
    """The cleaned cgroupsPath; None or '' means ``/pyrunc/<id>`` (a parent owned by pyrunc)."""
    p = clean_path(cgroups_path or "")
    return p if p else DEFAULT_PARENT + "/" + clean_path(container_id).lstrip("/")



def is_systemd_form(cgroups_path: str | None) -> bool:
    return bool(cgroups_path) and not cgroups_path.startswith("/") and cgroups_path.count(":") == 2


def expand_slice(slice_name: str) -> str:
    """systemd's slice naming: 'a-b.slice' -> '/a.slice/a-b.slice' (runc ExpandSlice)."""
    suffix = ".slice"
    if len(slice_name) < len(suffix) or not slice_name.endswith(suffix) or "/" in slice_name:
        raise CgroupError(f"invalid slice name: {slice_name}")
    name = slice_name[:-len(suffix)]
    if name == "-":
        return "/"
    path, prefix = "", ""
    for comp in name.split("-"):
        if not comp:
            raise CgroupError(f"invalid slice name: {slice_name}")
        path += "/" + prefix + comp + suffix
        prefix += comp + "-"
    return path


def systemd_inner_path(cgroups_path: str | None, container_id: str, scope_prefix: str = "pyrunc") -> str:
    """'slice:prefix:name' -> the cgroupfs path systemd would give that scope (or slice)."""
    if not cgroups_path:
        slice_name, prefix, name = "", scope_prefix, container_id
    else:
        parts = cgroups_path.split(":")
        if len(parts) != 3:
            raise CgroupError('expected cgroupsPath to be of format "slice:prefix:name" for systemd '
                              f'cgroups, got "{cgroups_path}" instead')
        slice_name, prefix, name = parts
    parent = expand_slice(slice_name or "system.slice")
    if name.endswith(".slice"):
        return expand_slice(name)
    unit = (prefix + "-" if prefix else "") + name + ".scope"
    return join(parent, unit)


def _rel_to_root(own: str, root: str) -> str:
    """Own cgroup path as seen below a mount whose root is ``root`` (nested containers)."""
    if root in ("", "/"):
        return own
    if own == root:
        return "/"
    if own.startswith(root + "/"):
        return own[len(root):]
    return own


def v1_dirs(inner: str, v1mounts: dict, own: dict) -> dict:
    """{controller: directory} for every mounted v1 hierarchy."""
    out = {}
    absolute = inner.startswith("/")
    for ctl, (mnt, root) in v1mounts.items():
        if absolute:
            out[ctl] = join(mnt, inner)
        else:
            out[ctl] = join(mnt, _rel_to_root(own.get(ctl, "/"), root), inner)
    return out


def v2_dir(inner: str, v2mount: tuple, own: dict, parent_of_own: bool) -> str:
    """The unified directory; ``parent_of_own`` is runc fs2's rule for relative paths."""
    mnt, root = v2mount
    if inner.startswith("/"):
        return join(mnt, inner)
    base = _rel_to_root(own.get("", "/"), root)
    if parent_of_own:
        base = base.rsplit("/", 1)[0] or "/"
    return join(mnt, base, inner)


def sub_cgroup_paths(args: list[str] | None) -> dict[str, str]:
    """``exec --cgroup`` arguments (runc): one ``path`` for every controller, or one or more
    ``controller[,controller...]:path``. Returns {controller or "" for all: relative path}."""
    out: dict[str, str] = {}
    for arg in args or ():
        ctls, sep, path = arg.rpartition(":")
        if not sep:
            if len(args) > 1:
                raise CgroupError(f"invalid --cgroup argument: {arg} (missing <controller>: prefix)")
            ctls, path = "", arg
        rel = path.strip("/")
        if not rel or any(c == ".." for c in rel.split("/")):
            raise CgroupError(f"{path} is not a sub cgroup path")
        for ctl in ctls.split(",") if ctls else [""]:
            if ctl in out and out[ctl] != rel:
                raise CgroupError(f"invalid --cgroup argument: {arg} (controller {ctl} given twice)")
            out[ctl] = rel
    return out
