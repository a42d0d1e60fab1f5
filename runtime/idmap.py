"""Idmapped bind mounts (``mounts[].uidMappings/gidMappings``, options ``idmap``/``ridmap``).

The parent makes them before the fork, in the host's mount and user namespaces: idmapping a mount
of a filesystem owned by the initial user namespace needs CAP_SYS_ADMIN there, which an init
inside a user namespace lacks (runc prepares them on the host too). Each one is a detached clone
of its source (open_tree) carrying the mapping of a user namespace made for it; the init attaches
it at its destination with move_mount (rootfs.mount_one). Imported only when a config asks.
"""
from . import fastos as os
from . import linux as L
from .errors import Error
from .plan import Mount


def prepare(mounts: list[Mount]) -> list[int]:
    """Set ``idmap_fd`` of every idmapped mount; return those fds (the caller closes them after
    the fork). Mounts sharing a mapping share one user namespace."""
    userns: dict[tuple, int] = {}
    fds: list[int] = []
    try:
        for i, m in enumerate(mounts):
            if m.idmap is None:
                continue
            uid_maps, gid_maps, recursive = m.idmap
            try:
                ns = userns.get((uid_maps, gid_maps))
                if ns is None:
                    ns = userns[(uid_maps, gid_maps)] = userns_fd(uid_maps, gid_maps)
                flags = L.OPEN_TREE_CLONE | os.O_CLOEXEC | (L.AT_RECURSIVE if m.flags & L.MS_REC else 0)
                tree = L.open_tree(L.AT_FDCWD, m.source, flags)
                fds.append(tree)
                L.mount_setattr_idmap(tree, ns, recursive)
            except OSError as e:
                raise Error(f"mounts[{i}]: cannot make an idmapped mount of {m.source}: "
                            f"{(e.strerror or str(e)).lower()}") from None
            m.idmap_fd = tree
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    finally:
        for fd in userns.values():  # the mounts keep their namespace alive
            os.close(fd)
    return fds


def userns_fd(uid_maps: tuple, gid_maps: tuple) -> int:
    """An fd of a new user namespace with these mappings: a forked helper unshares it and waits
    while we write its maps, then exits."""
    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
    hold_r, hold_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        try:
            os.close(ready_r)
            os.close(hold_w)
            L.unshare(L.CLONE_NEWUSER)
            os.write(ready_w, b"1")
            os.read(hold_r, 1)  # until the parent has the namespace (EOF)
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(hold_r)
    try:
        if os.read(ready_r, 1) != b"1":
            raise OSError(1, "the user namespace helper could not unshare")
        for name, maps in (("uid_map", uid_maps), ("gid_map", gid_maps)):
            fd = os.open(f"/proc/{pid}/{name}", os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, "".join(f"{c} {h} {s}\n" for c, h, s in maps).encode())
            finally:
                os.close(fd)
        return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(ready_r)
        os.close(hold_w)
        os.waitpid(pid, 0)
