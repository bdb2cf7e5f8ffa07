/*
 * seccomp.c: the seccomp filter sandboxSelf({ denySyscalls: true })
 * installs: EPERM for syscalls a service never needs, on every thread of the
 * process (SECCOMP_FILTER_FLAG_TSYNC, which also sets no_new_privs on them):
 * Node's libuv pool threads run fs calls too. docs/native.md gives the list
 * and the reasons.
 */
#define _GNU_SOURCE
#include "seccomp.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Syscall numbers newer than some libc headers (the same on x86_64 and aarch64). */
#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#define __NR_io_uring_enter 426
#define __NR_io_uring_register 427
#endif
#ifndef __NR_open_tree
#define __NR_open_tree 428
#define __NR_move_mount 429
#define __NR_fsopen 430
#define __NR_fsconfig 431
#define __NR_fsmount 432
#define __NR_fspick 433
#endif
#ifndef __NR_clone3
#define __NR_clone3 435
#endif
#ifndef __NR_pidfd_getfd
#define __NR_pidfd_getfd 438
#endif
#ifndef __NR_process_madvise
#define __NR_process_madvise 440
#endif
#ifndef __NR_mount_setattr
#define __NR_mount_setattr 442
#endif
#ifndef __NR_quotactl_fd
#define __NR_quotactl_fd 443
#endif

#ifdef SANDBOX_AUDIT_ARCH
/*
 * Denied with EPERM; docs/native.md gives the reasons. In short:
 * - another process's memory or fds: ptrace, process_vm_readv/writev,
 *   pidfd_getfd, process_madvise;
 * - namespaces and mounts (the way to privileges a service has no business
 *   with): setns, unshare (and clone with CLONE_NEW* flags, below), mount,
 *   umount2, pivot_root, chroot and the new mount API;
 * - the machine's state: swapon/off, reboot, kexec_load, kexec_file_load,
 *   init/finit/delete_module, acct, settimeofday, clock_settime, adjtimex,
 *   clock_adjtime, iopl, ioperm, quotactl, quotactl_fd;
 * - kernel attack surface a service never uses: bpf, perf_event_open,
 *   keyctl, add_key, request_key, userfaultfd, io_uring (whose requests
 *   run outside this filter, ftruncate and fallocate among them),
 *   open_by_handle_at, name_to_handle_at;
 * - resizing a file: ftruncate, truncate, fallocate (a service must never
 *   resize a shared mapping; fallocate also punches holes, which the size
 *   seals do not stop).
 */
static const unsigned denied_syscalls[] = {
    __NR_ptrace, __NR_process_vm_readv, __NR_process_vm_writev, __NR_pidfd_getfd, __NR_process_madvise,
    __NR_setns, __NR_unshare, __NR_mount, __NR_umount2, __NR_pivot_root, __NR_chroot, __NR_open_tree,
    __NR_move_mount, __NR_fsopen, __NR_fsconfig, __NR_fsmount, __NR_fspick, __NR_mount_setattr,
    __NR_swapon, __NR_swapoff, __NR_reboot, __NR_kexec_load, __NR_kexec_file_load, __NR_init_module,
    __NR_finit_module, __NR_delete_module, __NR_acct, __NR_settimeofday, __NR_clock_settime, __NR_adjtimex,
    __NR_clock_adjtime,
#ifdef __NR_iopl
    __NR_iopl,
#endif
#ifdef __NR_ioperm
    __NR_ioperm,
#endif
    __NR_quotactl, __NR_quotactl_fd, __NR_bpf, __NR_perf_event_open, __NR_keyctl, __NR_add_key,
    __NR_request_key, __NR_userfaultfd, __NR_io_uring_setup, __NR_io_uring_enter, __NR_io_uring_register,
    __NR_open_by_handle_at, __NR_name_to_handle_at, __NR_ftruncate, __NR_truncate, __NR_fallocate,
};

#define CLONE_NS_FLAGS \
  (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP)
#define RET_ERRNO(e) (SECCOMP_RET_ERRNO | ((e) & SECCOMP_RET_DATA))
#define SECCOMP_DATA_ARG0_LO \
  (offsetof(struct seccomp_data, args) + (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? 0 : 4))
/* io_uring instances open when the filter goes on (libuv's), whose io_uring_enter stays allowed. */
#define MAX_RINGS 16
#define FILTER_MAX (16 + 2 * (sizeof denied_syscalls / sizeof denied_syscalls[0]) + 4 + MAX_RINGS)

/*
 * The io_uring instances this process has open: the fds in /proc/self/fd that
 * link to anon_inode:[io_uring]. On Node 24 (not Node 20) libuv sets one up per event
 * loop at start-up (batching epoll_ctl) and aborts the process when
 * io_uring_enter on it fails, so the filter must leave exactly those usable;
 * Node 20 has none. Returns how many (at most max), -1 with errno on failure,
 * or max + 1 when there are more.
 */
static int open_rings(int *fds, int max) {
  char link[64], path[64];
  int n = 0;
  int dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return -1;
  DIR *d = fdopendir(dfd);
  if (!d) {
    int e = errno;
    close(dfd);
    errno = e;
    return -1;
  }
  struct dirent *ent;
  while ((ent = readdir(d)) != NULL) {
    char *end;
    long fd = strtol(ent->d_name, &end, 10);
    if (*end != '\0' || end == ent->d_name || fd == dfd) continue;
    snprintf(path, sizeof path, "/proc/self/fd/%ld", fd);
    ssize_t len = readlink(path, link, sizeof link - 1);
    if (len < 0) continue; /* closed meanwhile */
    link[len] = '\0';
    if (strcmp(link, "anon_inode:[io_uring]") != 0) continue;
    if (n == max) {
      n = max + 1;
      break;
    }
    fds[n++] = (int)fd;
  }
  closedir(d);
  return n;
}

/*
 * The filter, in order:
 *  - a foreign architecture (i386 or arm32 compat calls) -> EPERM for
 *    everything: the deny list is by syscall number, which means nothing
 *    there, and Node makes no such calls (no kill: a stray call fails);
 *  - x86_64 only: x32 numbers (bit 30) -> EPERM, same reason;
 *  - io_uring_enter on an io_uring instance open when the filter went on
 *    (libuv's own: Node 24 aborts when it cannot use it) -> allow, on any
 *    other fd -> EPERM; no new instance can be made (io_uring_setup is
 *    denied), nor registered into (io_uring_register);
 *  - each denied number -> EPERM (ftruncate left out when allow_ftruncate:
 *    a GPU service whose Vulkan driver grows its own memfds; the region's
 *    memfds stay sealed against resizing, which seals enforce, not this filter);
 *  - clone3 -> ENOSYS: its flags sit in memory the filter cannot read;
 *    glibc then falls back to clone, whose flags it can;
 *  - clone with any CLONE_NEW* flag -> EPERM (a namespace, like unshare);
 *  - everything else -> allow.
 * Every rule depends on the number alone except clone's and io_uring_enter's,
 * so the kernel's per-syscall cache (5.11+) skips the filter for the allowed calls.
 */
static unsigned short build_filter(struct sock_filter *f, const int *rings, int nrings, int allow_ftruncate) {
  unsigned short n = 0;
  f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
  f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SANDBOX_AUDIT_ARCH, 1, 0);
  f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, RET_ERRNO(EPERM));
  f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
#if defined(__x86_64__)
  f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 1);
  f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, RET_ERRNO(EPERM));
#endif
  /* io_uring_enter: allowed on the instances open now (libuv's), EPERM on any other fd. */
  f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_enter, 0, (unsigned char)(nrings + 3));
  f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SECCOMP_DATA_ARG0_LO);
  for (int i = 0; i < nrings; i++)
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)rings[i], (unsigned char)(nrings - i), 0);
  f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, RET_ERRNO(EPERM));
  f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  for (size_t i = 0; i < sizeof denied_syscalls / sizeof denied_syscalls[0]; i++) {
    if (allow_ftruncate && denied_syscalls[i] == __NR_ftruncate) continue;
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, denied_syscalls[i], 0, 1);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, RET_ERRNO(EPERM));
  }
  f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone3, 0, 1);
  f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, RET_ERRNO(ENOSYS));
  f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 0, 3);
  f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SECCOMP_DATA_ARG0_LO);
  f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_NS_FLAGS, 0, 1);
  f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, RET_ERRNO(EPERM));
  f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  return n;
}

/* Install the filter on every thread. 0 or errno; *call names the failing step. */
int install_filter(const char **call, int allow_ftruncate) {
  int rings[MAX_RINGS];
  int nrings = open_rings(rings, MAX_RINGS);
  *call = "open(/proc/self/fd)";
  if (nrings < 0) return errno;
  if (nrings > MAX_RINGS) return EMFILE;
  struct sock_filter f[FILTER_MAX];
  struct sock_fprog prog = {.len = build_filter(f, rings, nrings, allow_ftruncate), .filter = f};
  long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog);
  *call = "seccomp";
  if (r == 0) return 0;
  /* r > 0: the id of a thread that could not take it (it has an unrelated filter). */
  return r > 0 ? EBUSY : errno;
}
#endif /* SANDBOX_AUDIT_ARCH */
