/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hmmsim: every difference between the supported kernels (6.1 and 6.12),
 * in one place. Code elsewhere uses the hmmsim_* names below.
 */
#ifndef _HMMSIM_COMPAT_H
#define _HMMSIM_COMPAT_H

#include <linux/fault-inject.h>
#include <linux/version.h>

/*
 * Fault injection. Without CONFIG_FAULT_INJECTION, 6.12 still declares
 * struct fault_attr and a should_fail() that never fails; 6.1 declares
 * nothing.
 */
#ifdef CONFIG_FAULT_INJECTION
struct hmmsim_fault {
	struct fault_attr attr;
};

static inline void hmmsim_fault_init(struct hmmsim_fault *f)
{
	f->attr = (struct fault_attr)FAULT_ATTR_INITIALIZER;
}

static inline bool hmmsim_should_fail(struct hmmsim_fault *f)
{
	return should_fail(&f->attr, 1);
}

static inline void hmmsim_fault_debugfs(struct hmmsim_fault *f,
					const char *name,
					struct dentry *parent)
{
	fault_create_debugfs_attr(name, parent, &f->attr);
}
#else
struct hmmsim_fault {
};

static inline void hmmsim_fault_init(struct hmmsim_fault *f)
{
}

static inline bool hmmsim_should_fail(struct hmmsim_fault *f)
{
	return false;
}

static inline void hmmsim_fault_debugfs(struct hmmsim_fault *f,
					const char *name,
					struct dentry *parent)
{
}
#endif

#endif /* _HMMSIM_COMPAT_H */
