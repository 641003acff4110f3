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

/*
 * pin_user_pages_remote() lost its vmas argument in 6.5. The FOLL_* flags,
 * macros until then, became an enum in 6.3, which tells 6.1 and 6.12 apart
 * (6.3 and 6.4 are not supported).
 */
#include <linux/mm.h>

static inline long hmmsim_pin_user_pages_remote(struct mm_struct *mm,
						unsigned long start,
						unsigned long nr_pages,
						unsigned int gup_flags,
						struct page **pages)
{
#ifdef FOLL_WRITE
	return pin_user_pages_remote(mm, start, nr_pages, gup_flags, pages,
				     NULL, NULL);
#else
	return pin_user_pages_remote(mm, start, nr_pages, gup_flags, pages,
				     NULL);
#endif
}

/*
 * io_uring command passthrough (file_operations.uring_cmd). Between 6.1
 * and 6.12:
 *
 * - 6.5 gave struct io_uring_cmd the whole SQE (->sqe) instead of a
 *   pointer to its command area (->cmd);
 * - 6.7 moved the declarations to <linux/io_uring/cmd.h> and made commands
 *   cancelable: io_uring_cmd_mark_cancelable() puts a command on its
 *   ring's cancel list, and tearing the ring down calls ->uring_cmd()
 *   again with IO_URING_F_CANCEL. Before 6.7 nothing tells a driver: a
 *   ring torn down waits for its commands to complete on their own.
 *
 * IORING_URING_CMD_MASK, which 6.7 added to the uapi header with the
 * cancelable commands, tells the two apart (6.5 and 6.6, with ->sqe but
 * without it, are not supported; sparse does not know __has_include).
 * io_uring_cmd_done() and the task work callback take issue_flags on both
 * (Debian's 6.1 has the change from 6.3 through the stable series).
 */
#include <linux/io_uring.h>

#ifdef IORING_URING_CMD_MASK
#include <linux/io_uring/cmd.h>

#define HMMSIM_IO_URING_F_CANCEL	IO_URING_F_CANCEL

static inline void hmmsim_uring_cmd_mark_cancelable(struct io_uring_cmd *cmd,
						    unsigned int issue_flags)
{
	io_uring_cmd_mark_cancelable(cmd, issue_flags);
}

/* The 80 bytes (with SQE128) of command payload of an SQE. */
static inline const void *hmmsim_uring_cmd_payload(const struct io_uring_cmd *cmd)
{
	return io_uring_sqe_cmd(cmd->sqe);
}
#else
#define HMMSIM_IO_URING_F_CANCEL	0

static inline void hmmsim_uring_cmd_mark_cancelable(struct io_uring_cmd *cmd,
						    unsigned int issue_flags)
{
}

static inline const void *hmmsim_uring_cmd_payload(const struct io_uring_cmd *cmd)
{
	return cmd->cmd;
}
#endif

#endif /* _HMMSIM_COMPAT_H */
