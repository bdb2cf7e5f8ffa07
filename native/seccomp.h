/*
 * seccomp.h: the seccomp deny filter of sandboxSelf. Written for x86_64
 * and aarch64; SANDBOX_AUDIT_ARCH is defined on those only.
 */
#ifndef VFUN_SECCOMP_H
#define VFUN_SECCOMP_H

#include <linux/audit.h>

#if defined(__x86_64__)
#define SANDBOX_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SANDBOX_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

#ifdef SANDBOX_AUDIT_ARCH
/* Install the filter on every thread. 0 or errno; *call names the failing step. */
int install_filter(const char **call, int allow_ftruncate);
#endif

#endif
