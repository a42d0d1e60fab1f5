"""cffi out-of-line API-mode builder for ``pyrunc._seccomp``.

Two jobs, both kept tiny:
- compile an OCI seccomp profile with libseccomp (only on a cache miss);
- load a ready BPF program with the raw seccomp(2) syscall (the hot path, no libseccomp work).
libseccomp 2.5.4 (Debian 12) has no ``seccomp_export_bpf_mem``; the Python side exports to a memfd.
"""
from cffi import FFI

ffi = FFI()

ffi.cdef(
    """
typedef void *scmp_filter_ctx;
typedef uint64_t scmp_datum_t;

enum scmp_filter_attr {
    SCMP_FLTATR_ACT_DEFAULT, SCMP_FLTATR_ACT_BADARCH, SCMP_FLTATR_CTL_NNP,
    SCMP_FLTATR_CTL_TSYNC, SCMP_FLTATR_CTL_LOG, SCMP_FLTATR_CTL_SSB,
    SCMP_FLTATR_CTL_OPTIMIZE, ...
};
enum scmp_compare {
    SCMP_CMP_NE, SCMP_CMP_LT, SCMP_CMP_LE, SCMP_CMP_EQ, SCMP_CMP_GE,
    SCMP_CMP_GT, SCMP_CMP_MASKED_EQ, ...
};
struct scmp_arg_cmp {
    unsigned int arg;
    enum scmp_compare op;
    scmp_datum_t datum_a;
    scmp_datum_t datum_b;
};
struct scmp_version { unsigned int major; unsigned int minor; unsigned int micro; };

#define __NR_SCMP_ERROR ...

const struct scmp_version *seccomp_version(void);
unsigned int seccomp_api_get(void);
scmp_filter_ctx seccomp_init(uint32_t def_action);
void seccomp_release(scmp_filter_ctx ctx);
int seccomp_attr_set(scmp_filter_ctx ctx, enum scmp_filter_attr attr, uint64_t value);
uint32_t seccomp_arch_resolve_name(const char *arch_name);
uint32_t seccomp_arch_native(void);
int seccomp_arch_add(scmp_filter_ctx ctx, uint32_t arch_token);
int seccomp_syscall_resolve_name(const char *name);
int seccomp_syscall_resolve_name_arch(uint32_t arch_token, const char *name);
int seccomp_rule_add_array(scmp_filter_ctx ctx, uint32_t action, int syscall,
                           unsigned int arg_cnt, const struct scmp_arg_cmp *arg_array);
int seccomp_export_bpf(const scmp_filter_ctx ctx, int fd);

#define SECCOMP_FILTER_FLAG_TSYNC ...
#define SECCOMP_FILTER_FLAG_LOG ...
#define SECCOMP_FILTER_FLAG_SPEC_ALLOW ...
#define SECCOMP_FILTER_FLAG_NEW_LISTENER ...
#define SECCOMP_FILTER_FLAG_TSYNC_ESRCH ...
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV ...
"""
)

ffi.set_source(
    "pyrunc._seccomp",
    r"""
#include <errno.h>
#include <stddef.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>

#ifndef SECCOMP_FILTER_FLAG_TSYNC_ESRCH
#define SECCOMP_FILTER_FLAG_TSYNC_ESRCH (1UL << 4)
#endif
#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif

""",
    libraries=["seccomp"],
)

if __name__ == "__main__":
    ffi.compile(verbose=True)
