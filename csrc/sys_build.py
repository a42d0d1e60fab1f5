"""cffi builder for ``pyrunc._sys``: the syscalls Python 3.11's os module lacks (see sys.c)."""
import os

from cffi import FFI

ffi = FFI()
ffi.cdef("""
int pr_unshare(int flags);
int pr_setns(int fd, int nstype);
int pr_mount(const char *src, const char *tgt, const char *fstype, unsigned long flags, const char *data);
int pr_umount2(const char *tgt, int flags);
int pr_pivot_root(const char *new_root, const char *put_old);
int pr_mount_setattr(int dfd, const char *path, unsigned int flags, uint64_t set, uint64_t clr,
                     uint64_t propagation, uint64_t userns_fd);
int pr_open_tree(int dfd, const char *path, unsigned int flags);
int pr_move_mount(int from_dfd, const char *from, int to_dfd, const char *to, unsigned int flags);
int pr_openat2(int dfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve);
int pr_close_range(unsigned int first, unsigned int last, unsigned int flags);
int pr_prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5);
int pr_capset(uint64_t eff, uint64_t prm, uint64_t inh);
int pr_sethostname(const char *name, size_t len);
int pr_setdomainname(const char *name, size_t len);
long pr_personality(unsigned long p);
int pr_ioprio_set(int which, int who, int ioprio);
int pr_sched_setattr(int pid, uint32_t policy, uint64_t flags, int32_t nice, uint32_t prio,
                     uint64_t runtime, uint64_t deadline, uint64_t period);
int pr_ptsname(int fd);
int pr_set_ctty(int fd);
int pr_set_winsize(int fd, unsigned short rows, unsigned short cols);
int pr_link_up(const char *name);
int pr_setrlimit(int resource, unsigned long long soft, unsigned long long hard);
int pr_join_session_keyring(const char *name);
int pr_fork_into_cgroup(int cgroup_fd);
int pr_seccomp_set_filter(unsigned int flags, const char *prog, size_t nbytes);
int pr_seccomp_flags_supported(unsigned int flags);
int pr_set_mempolicy(int mode, const char *mask, size_t nbytes);
""")
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "sys.c")) as f:
    ffi.set_source("pyrunc._sys", f.read())

if __name__ == "__main__":
    ffi.compile(verbose=True)
