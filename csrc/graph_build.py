"""cffi builder for ``pyrunc._graph``: the few syscalls the graph drivers need that Python lacks.

New mount API (fsopen/fsconfig/fsmount), FICLONE reflinks, statfs f_type, syncfs and a d_type
probe. mount/umount2/openat2/open_tree/move_mount come from the shared ``pyrunc._sys`` (csrc/sys.c).  Raw syscall(2) numbers are used so the build does not depend on glibc wrappers
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

int pg_fsopen(const char *fsname, unsigned int flags)
{ return (int)syscall(SYS_fsopen, fsname, flags); }
int pg_fsconfig(int fd, unsigned int cmd, const char *key, const void *value, int aux)
{ return (int)syscall(SYS_fsconfig, fd, cmd, key, value, aux); }
int pg_fsmount(int fd, unsigned int flags, unsigned int attr_flags)
{ return (int)syscall(SYS_fsmount, fd, flags, attr_flags); }
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
