"""Idmapped bind mounts (mounts[].uidMappings/gidMappings, options idmap/ridmap) seen from inside
real containers, with and without a user namespace, and the on-disk owners of what they write."""
import os
import subprocess

from test_init_support import create_error, run_sh, userns

pytest_plugins = ("test_init_support",)  # its fixtures: userns_rootfs, open_dir


def _source(open_dir: str) -> str:
    """A directory with a file owned by 0:0 and one by 5:6 (on disk)."""
    src = os.path.join(open_dir, "src")
    os.mkdir(src)
    os.chmod(src, 0o777)
    for name, owner in (("root-file", (0, 0)), ("five-file", (5, 6))):
        path = os.path.join(src, name)
        open(path, "w").close()
        os.chown(path, *owner)
    return src


def _bind(src: str, dest: str, options=("rbind",), maps=None):
    def mutate(cfg):
        m = {"destination": dest, "type": "bind", "source": src, "options": list(options)}
        if maps is not None:
            m["uidMappings"] = m["gidMappings"] = maps
        cfg["mounts"].append(m)
    return mutate


def _both(*mutators):
    def mutate(cfg):
        for f in mutators:
            f(cfg)
    return mutate


def test_mount_mappings_without_a_user_namespace(rt, busybox_rootfs, open_dir):
    src = _source(open_dir)
    maps = [{"containerID": 0, "hostID": 1000, "size": 10}]
    out = run_sh(rt, busybox_rootfs, "stat -c %n=%u:%g /var/root-file /var/five-file; "
                 "touch /var/new 2>/dev/null; echo touch=$?", _bind(src, "/var", maps=maps))
    assert "/var/root-file=1000:1000" in out and "/var/five-file=1005:1006" in out, out
    # a file is stored under the on-disk id that maps to its creator: none maps to host uid 0
    # (only 0..9 -> 1000..1009), so the kernel refuses root's write
    assert "touch=1" in out and not os.path.exists(os.path.join(src, "new")), out
    # the host's view of the source is unchanged
    assert os.stat(os.path.join(src, "root-file")).st_uid == 0


def test_idmap_option_uses_the_container_user_namespace(rt, userns_rootfs, open_dir):
    src = _source(open_dir)
    script = "stat -c %n=%u:%g /var/root-file /var/five-file; touch /var/by-root && echo wrote"
    out = run_sh(rt, userns_rootfs, script, _both(userns, _bind(src, "/var", options=("rbind", "idmap"))))
    # on-disk 0 -> host 100000 -> container 0: the container's root owns the host's root files
    assert "/var/root-file=0:0" in out and "/var/five-file=5:6" in out and "wrote" in out, out
    assert os.stat(os.path.join(src, "by-root")).st_uid == 0, "stored as on-disk 0"
    # without the idmap the same files belong to nobody inside
    out = run_sh(rt, userns_rootfs, "stat -c %u /var/root-file", _both(userns, _bind(src, "/var")))
    assert out.strip() == "65534", out


def test_ridmap_maps_submounts_too(rt, userns_rootfs, open_dir):
    src = _source(open_dir)
    inner = os.path.join(src, "inner")
    os.mkdir(inner)
    other_dir = os.path.join(open_dir, "other")
    os.mkdir(other_dir)
    subprocess.run(["mount", "--bind", _source(other_dir), inner], check=True)
    try:
        out = run_sh(rt, userns_rootfs, "stat -c %u /var/inner/root-file",
                     _both(userns, _bind(src, "/var", options=("rbind", "ridmap"))))
        assert out.strip() == "0", out
        out = run_sh(rt, userns_rootfs, "stat -c %u /var/inner/root-file",
                     _both(userns, _bind(src, "/var", options=("rbind", "idmap"))))
        assert out.strip() == "65534", "idmap (not ridmap) leaves submounts unmapped: " + out
    finally:
        subprocess.run(["umount", inner], check=True)


def test_idmap_errors_name_the_mount(rt, busybox_rootfs, open_dir):
    err = create_error(rt, busybox_rootfs, _bind(open_dir, "/var", options=("rbind", "idmap")))
    assert "idmap without mappings needs the container's user namespace" in err, err

    def tmpfs_idmap(cfg):
        cfg["mounts"].append({"destination": "/var", "type": "tmpfs", "source": "tmpfs",
                              "uidMappings": [{"containerID": 0, "hostID": 1, "size": 1}],
                              "gidMappings": [{"containerID": 0, "hostID": 1, "size": 1}]})
    err = create_error(rt, busybox_rootfs, tmpfs_idmap)
    assert "idmapped mounts are only supported for bind mounts" in err, err
