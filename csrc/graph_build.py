"""cffi builder for ``pyrunc._graph``: the few syscalls the graph drivers need that Python lacks.

New mount API (fsopen/fsconfig/fsmount/move_mount/open_tree), classic mount/umount2,
openat2 (RESOLVE_IN_ROOT for safe layer extraction), FICLONE reflinks, statfs f_type and
syncfs.  Raw syscall(2) numbers are used so the build does not depend on glibc wrappers
(glibc 2.36's <sys/mount.h> clashes with <linux/mount.h>).  Every function returns -1 and
leaves errno set on failure (read it with ``ffi.errno``).
"""
from cffi import FFI

ffi = FFI()
ffi.cdef(
    """
    int pg_fsopen(const char *fsname, unsigned int flags);
    int pg_fsconfig(int fd, unsigned int cmd, const char *key, const void *value, int aux);
    int pg_fsmount(int fd, unsigned int flags, unsigned int attr_flags);
    int pg_move_mount(int from_dfd, const char *from_path, int to_dfd, const char *to_path,
                      unsigned int flags);
    int pg_open_tree(int dfd, const char *path, unsigned int flags);
    int pg_mount(const char *source, const char *target, const char *fstype,
                 unsigned long flags, const char *data);
    int pg_umount2(const char *target, int flags);
    int pg_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve);
    int pg_ficlone(int dst_fd, int src_fd);
    long long pg_statfs_type(const char *path);
    int pg_syncfs(int fd);
    int pg_dtype_ok(const char *dir);
    """
)
ffi.set_source(
    "pyrunc._graph",
    r"""
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/mount.h>
#include <sys/vfs.h>
#include <dirent.h>

#ifndef SYS_fsopen
#define SYS_open_tree 428
#define SYS_move_mount 429
#define SYS_fsopen 430
#define SYS_fsconfig 431
#define SYS_fsmount 432
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef FICLONE
#define FICLONE _IOW(0x94, 9, int)
#endif

struct pg_open_how { uint64_t flags, mode, resolve; };

int pg_fsopen(const char *fsname, unsigned int flags)
{ return (int)syscall(SYS_fsopen, fsname, flags); }
int pg_fsconfig(int fd, unsigned int cmd, const char *key, const void *value, int aux)
{ return (int)syscall(SYS_fsconfig, fd, cmd, key, value, aux); }
int pg_fsmount(int fd, unsigned int flags, unsigned int attr_flags)
{ return (int)syscall(SYS_fsmount, fd, flags, attr_flags); }
int pg_move_mount(int from_dfd, const char *from_path, int to_dfd, const char *to_path,
                  unsigned int flags)
{ return (int)syscall(SYS_move_mount, from_dfd, from_path, to_dfd, to_path, flags); }
int pg_open_tree(int dfd, const char *path, unsigned int flags)
{ return (int)syscall(SYS_open_tree, dfd, path, flags); }
int pg_mount(const char *source, const char *target, const char *fstype,
             unsigned long flags, const char *data)
{ return mount(source, target, fstype, flags, data); }
int pg_umount2(const char *target, int flags) { return umount2(target, flags); }
int pg_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve)
{
    struct pg_open_how how;
    memset(&how, 0, sizeof how);
    how.flags = flags; how.mode = mode; how.resolve = resolve;
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}
int pg_ficlone(int dst_fd, int src_fd) { return ioctl(dst_fd, FICLONE, src_fd); }
long long pg_statfs_type(const char *path)
{
    struct statfs s;
    if (statfs(path, &s) < 0) return -1;
    return (long long)(unsigned long)s.f_type;
}
int pg_syncfs(int fd) { return syncfs(fd); }
/* 1 if readdir of dir reports a d_type for every entry, 0 if one is DT_UNKNOWN. */
int pg_dtype_ok(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int ok = 1;
    if (!d) return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_type == DT_UNKNOWN) { ok = 0; break; }
    closedir(d);
    return ok;
}
""",
)

if __name__ == "__main__":
    ffi.compile(verbose=True)
