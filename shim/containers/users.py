"""Resolve docker's ``--user`` / image ``User`` against the container's own /etc/passwd and /etc/group.

Pure functions over the files' text (the caller reads them from the rootfs), following
runc's ``user.GetExecUser`` as dockerd uses it: names must exist, numbers need not; without an explicit
group the user's primary gid is used and the groups that list the user by name become additionalGids.
"""
from dataclasses import dataclass, field

from ..errors import EngineError


@dataclass
class ExecUser:
    uid: int = 0
    gid: int = 0
    additional_gids: list[int] = field(default_factory=list)
    home: str = "/"


def _parse(text: str | None, nfields: int) -> list[list[str]]:
    rows = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) < nfields:
            parts += [""] * (nfields - len(parts))
        rows.append(parts)
    return rows


def _int(s: str) -> int | None:
    try:
        n = int(s)
    except ValueError:
        return None
    return n if n >= 0 else None


def resolve(spec: str, passwd: str | None, group: str | None) -> ExecUser:
    """``spec`` is "", ``user``, ``uid``, ``user:group``, ``uid:gid`` ... (image config ``User`` format)."""
    spec = spec or ""
    user_part, _, group_part = spec.partition(":")
    has_group = ":" in spec
    users = _parse(passwd, 7)   # name:pw:uid:gid:gecos:home:shell
    groups = _parse(group, 4)   # name:pw:gid:members
    out = ExecUser()
    name = None
    if user_part == "":
        user_part = "0"
    num = _int(user_part)
    match = next((u for u in users if (num is not None and _int(u[2]) == num) or (num is None and u[0] == user_part)),
                 None)
    if match is None:
        if num is None:
            raise EngineError(f"unable to find user {user_part}: no matching entries in passwd file", 125)
        out.uid = num
    else:
        name = match[0]
        out.uid = _int(match[2]) or 0
        out.gid = _int(match[3]) or 0
        out.home = match[5] or "/"
    if has_group:
        gnum = _int(group_part)
        g = next((g for g in groups if (gnum is not None and _int(g[2]) == gnum) or (gnum is None and g[0] == group_part)),
                 None)
        if g is None:
            if gnum is None:
                raise EngineError(f"unable to find group {group_part}: no matching entries in group file", 125)
            out.gid = gnum
        else:
            out.gid = _int(g[2]) or 0
    elif name is not None:
        out.additional_gids = [_int(g[2]) for g in groups
                               if _int(g[2]) is not None and name in [m.strip() for m in g[3].split(",")]]
    return out
