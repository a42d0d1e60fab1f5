"""cffi builder for pyrunc._bpfdev: load/attach/query/detach cgroup v2 device eBPF programs.

The program bytes are generated in Python (runtime/cgroups/devfilter.py); this module is
only the bpf(2) calls, which the standard library cannot make. Errors are -errno.
"""
from cffi import FFI

ffi = FFI()
ffi.cdef("""
int bpfdev_load(const char *insns, int count, char *log, int logsz);
int bpfdev_attach(int cgfd, int progfd);
int bpfdev_detach(int cgfd, int progfd);
int bpfdev_query(int cgfd, unsigned int *ids, unsigned int *count);
int bpfdev_get_fd_by_id(unsigned int id);
""")
ffi.set_source("pyrunc._bpfdev", r"""
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/bpf.h>

static int sys_bpf(int cmd, union bpf_attr *a)
{
    long r = syscall(__NR_bpf, cmd, a, sizeof(*a));
    return r < 0 ? -errno : (int)r;
}

int bpfdev_load(const char *insns, int count, char *log, int logsz)
{
    union bpf_attr a;
    int r;
    memset(&a, 0, sizeof(a));
    a.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    a.insns = (unsigned long)insns;
    a.insn_cnt = count;
    a.license = (unsigned long)"Apache";
    r = sys_bpf(BPF_PROG_LOAD, &a);
    if (r == -EACCES || r == -EINVAL) {  /* retry with the verifier log for the message */
        memset(log, 0, logsz);
        a.log_buf = (unsigned long)log;
        a.log_size = logsz;
        a.log_level = 1;
        int r2 = sys_bpf(BPF_PROG_LOAD, &a);
        if (r2 >= 0)
            return r2;
    }
    return r;
}

int bpfdev_attach(int cgfd, int progfd)
{
    union bpf_attr a;
    memset(&a, 0, sizeof(a));
    a.target_fd = cgfd;
    a.attach_bpf_fd = progfd;
    a.attach_type = BPF_CGROUP_DEVICE;
    a.attach_flags = BPF_F_ALLOW_MULTI;
    return sys_bpf(BPF_PROG_ATTACH, &a);
}

int bpfdev_detach(int cgfd, int progfd)
{
    union bpf_attr a;
    memset(&a, 0, sizeof(a));
    a.target_fd = cgfd;
    a.attach_bpf_fd = progfd;
    a.attach_type = BPF_CGROUP_DEVICE;
    return sys_bpf(BPF_PROG_DETACH, &a);
}

int bpfdev_query(int cgfd, unsigned int *ids, unsigned int *count)
{
    union bpf_attr a;
    int r;
    memset(&a, 0, sizeof(a));
    a.query.target_fd = cgfd;
    a.query.attach_type = BPF_CGROUP_DEVICE;
    a.query.prog_ids = (unsigned long)ids;
    a.query.prog_cnt = *count;
    r = sys_bpf(BPF_PROG_QUERY, &a);
    *count = r < 0 ? 0 : a.query.prog_cnt;
    return r;
}

int bpfdev_get_fd_by_id(unsigned int id)
{
    union bpf_attr a;
    memset(&a, 0, sizeof(a));
    a.prog_id = id;
    return sys_bpf(BPF_PROG_GET_FD_BY_ID, &a);
}
""")

if __name__ == "__main__":
    ffi.compile(verbose=True)
