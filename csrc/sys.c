/* Thin syscall layer for pyrunc: each wrapper returns >= 0 or -errno, never touches errno state
 * Python sees. Only what the os module of Python 3.11 lacks lives here. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <linux/openat2.h>

#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

#define RET(x) do { long _r = (long)(x); return _r < 0 ? -errno : _r; } while (0)

static int pr_unshare(int flags) { RET(unshare(flags)); }
static int pr_setns(int fd, int nstype) { RET(setns(fd, nstype)); }
static int pr_mount(const char *src, const char *tgt, const char *fstype, unsigned long flags, const char *data)
{ RET(mount(src, tgt, fstype, flags, data)); }
static int pr_umount2(const char *tgt, int flags) { RET(umount2(tgt, flags)); }
static int pr_pivot_root(const char *new_root, const char *put_old) { RET(syscall(SYS_pivot_root, new_root, put_old)); }

struct pr_mount_attr { uint64_t attr_set, attr_clr, propagation, userns_fd; };
static int pr_mount_setattr(int dfd, const char *path, unsigned int flags, uint64_t set, uint64_t clr,
                            uint64_t propagation, uint64_t userns_fd)
{
    struct pr_mount_attr a = { set, clr, propagation, userns_fd };
    RET(syscall(SYS_mount_setattr, dfd, path, flags, &a, sizeof(a)));
}
static int pr_open_tree(int dfd, const char *path, unsigned int flags) { RET(syscall(SYS_open_tree, dfd, path, flags)); }
static int pr_move_mount(int from_dfd, const char *from, int to_dfd, const char *to, unsigned int flags)
{ RET(syscall(SYS_move_mount, from_dfd, from, to_dfd, to, flags)); }

static int pr_openat2(int dfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve)
{
    struct open_how how;
    memset(&how, 0, sizeof(how));
    how.flags = flags; how.mode = mode; how.resolve = resolve;
    RET(syscall(SYS_openat2, dfd, path, &how, sizeof(how)));
}

static int pr_close_range(unsigned int first, unsigned int last, unsigned int flags)
{ RET(syscall(SYS_close_range, first, last, flags)); }

static int pr_prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)
{ RET(prctl(option, a2, a3, a4, a5)); }

/* caps: three 64-bit masks (effective, permitted, inheritable) */
static int pr_capset(uint64_t eff, uint64_t prm, uint64_t inh)
{
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct d[2];
    d[0].effective = (uint32_t)eff; d[1].effective = (uint32_t)(eff >> 32);
    d[0].permitted = (uint32_t)prm; d[1].permitted = (uint32_t)(prm >> 32);
    d[0].inheritable = (uint32_t)inh; d[1].inheritable = (uint32_t)(inh >> 32);
    RET(syscall(SYS_capset, &h, d));
}

static int pr_sethostname(const char *name, size_t len) { RET(sethostname(name, len)); }
static int pr_setdomainname(const char *name, size_t len) { RET(setdomainname(name, len)); }
static long pr_personality(unsigned long p) { RET(personality(p)); }
static int pr_ioprio_set(int which, int who, int ioprio) { RET(syscall(SYS_ioprio_set, which, who, ioprio)); }

struct pr_sched_attr {
    uint32_t size, sched_policy; uint64_t sched_flags; int32_t sched_nice; uint32_t sched_priority;
    uint64_t sched_runtime, sched_deadline, sched_period;
};
static int pr_sched_setattr(int pid, uint32_t policy, uint64_t flags, int32_t nice, uint32_t prio,
                            uint64_t runtime, uint64_t deadline, uint64_t period)
{
    struct pr_sched_attr a = { sizeof(a), policy, flags, nice, prio, runtime, deadline, period };
    RET(syscall(SYS_sched_setattr, pid, &a, 0));
}

/* pty helpers on a ptmx fd: unlock and return the pts number */
static int pr_ptsname(int fd)
{
    int unlock = 0, n = -1;
    if (ioctl(fd, TIOCSPTLCK, &unlock) < 0) return -errno;
    if (ioctl(fd, TIOCGPTN, &n) < 0) return -errno;
    return n;
}
static int pr_set_ctty(int fd) { RET(ioctl(fd, TIOCSCTTY, 0)); }
static int pr_set_winsize(int fd, unsigned short rows, unsigned short cols)
{
    struct winsize ws = { rows, cols, 0, 0 };
    RET(ioctl(fd, TIOCSWINSZ, &ws));
}

/* bring an interface (normally "lo") up in the current network namespace */
#include <net/if.h>
#include <sys/socket.h>
static int pr_link_up(const char *name)
{
    struct ifreq ifr;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r = 0;
    if (s < 0) return -errno;
    memset(&ifr, 0, sizeof(ifr));
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) r = -errno;
    else {
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) r = -errno;
    }
    close(s);
    return r;
}

#include <sys/resource.h>
/* setrlimit without importing Python's resource module (its .so load costs ms here) */
static int pr_setrlimit(int resource, unsigned long long soft, unsigned long long hard)
{
    struct rlimit64 r = { soft, hard };
    RET(setrlimit64(resource, &r));
}

/* join a new session keyring named after the container (runc does this unless --no-new-keyring) */
static int pr_join_session_keyring(const char *name)
{
    RET(syscall(SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, name));
}

/* fork() straight into a cgroup2 directory (clone3 + CLONE_INTO_CGROUP, Linux >= 5.7): the child
 * is born in the container's cgroup, so no cgroup.procs write (and its RCU grace period) is needed.
 * Python's fork bookkeeping is done exactly as os.fork does it, with the GIL re-taken (cffi
 * releases it around calls). Returns the pid in the parent, 0 in the child, -errno on failure. */
#include <linux/sched.h>
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
static int pr_fork_into_cgroup(int cgroup_fd)
{
    struct clone_args args;
    long pid;
    int err;
    PyGILState_STATE gil;
    memset(&args, 0, sizeof(args));
    args.flags = CLONE_INTO_CGROUP;
    args.exit_signal = SIGCHLD;
    args.cgroup = (unsigned long long)cgroup_fd;
    gil = PyGILState_Ensure();
    PyOS_BeforeFork();
    pid = syscall(SYS_clone3, &args, sizeof(args));
    err = errno;
    if (pid == 0)
        PyOS_AfterFork_Child();
    else
        PyOS_AfterFork_Parent();
    PyGILState_Release(gil);
    return pid < 0 ? -err : (int)pid;
}

/* seccomp(2) without libseccomp: the init installs a compiled (usually cached) program with the
 * library never loaded. */
#include <linux/filter.h>
#include <linux/seccomp.h>

/* Install a ready cBPF program; returns the listener fd (NEW_LISTENER), 0, or -errno. */
static int pr_seccomp_set_filter(unsigned int flags, const char *prog, size_t nbytes)
{
    struct sock_fprog fprog;
    long rc;

    if (nbytes == 0 || nbytes % sizeof(struct sock_filter) != 0 ||
        nbytes / sizeof(struct sock_filter) > BPF_MAXINSNS)
        return -EINVAL;
    fprog.len = (unsigned short)(nbytes / sizeof(struct sock_filter));
    fprog.filter = (struct sock_filter *)prog;
    rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &fprog);
    return rc < 0 ? -errno : (int)rc;
}

/* The kernel validates flags before it reads the program: EFAULT on a NULL program
   means "flags understood", EINVAL means unknown. Same probe as runc/libseccomp. */
static int pr_seccomp_flags_supported(unsigned int flags)
{
    long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, NULL);
    return rc < 0 && errno == EFAULT;
}

/* NUMA memory policy of the calling task (inherited across execve): linux.memoryPolicy. */
static int pr_set_mempolicy(int mode, const char *mask, size_t nbytes)
{
    /* maxnode counts one more than the bits (the kernel drops the last one) */
    RET(syscall(SYS_set_mempolicy, mode, nbytes ? (const unsigned long *)mask : NULL,
                nbytes ? nbytes * 8 + 1 : 0));
}
