/* SPDX-License-Identifier: GPL-2.0 */
/**
 * DOC: Kernel differences
 *
 * Every difference between the kernels hmmsim builds on, in one
 * place. Code elsewhere uses the hmmsim_* names below.
 *
 * Which interface a kernel has is not guessed from its version: each is
 * probed at build time by compiling a small file of compat/probes/ against
 * the kernel (compat/conftest.sh, run by Kbuild), which writes the
 * HMMSIM_HAVE_* macros of hmmsim_conftest.h. A kernel that has none of the
 * variants of something hmmsim needs stops the build there, with a message
 * that names it.
 */
#ifndef _HMMSIM_COMPAT_H
#define _HMMSIM_COMPAT_H

#include <linux/fault-inject.h>
#include <linux/memremap.h>
#include <linux/mm.h>
#include <linux/rmap.h>
#include <linux/slab.h>

#include "hmmsim_conftest.h"

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
 * kzalloc_obj(P, gfp) allocates a zeroed object of P's type; kernels
 * before it spell that kzalloc(sizeof(P), gfp).
 */
#ifndef kzalloc_obj
#define kzalloc_obj(P, gfp)	kzalloc(sizeof(P), gfp)
#endif

/* The dev_pagemap of a ZONE_DEVICE page: struct page lost its field. */
static inline struct dev_pagemap *hmmsim_page_pgmap(const struct page *page)
{
#ifdef HMMSIM_HAVE_PAGE_PGMAP__FUNC
	return page_pgmap(page);
#else
	return page->pgmap;
#endif
}

/*
 * dev_pagemap_ops frees a device page through .folio_free(struct folio *)
 * where .page_free(struct page *) used to be. hmmsim's device pages are
 * HMMSIM_DEFINE_PAGEMAP_FREE(name, fn) defines the callback @name, of the
 * type the kernel wants, which frees the @nr pages from @page with
 * @fn(page, nr): a folio's, or the one page of older kernels;
 * ops tables name it with .HMMSIM_PAGEMAP_FREE_OP = name.
 */
#ifdef HMMSIM_HAVE_PAGEMAP_FREE__FOLIO
#define HMMSIM_PAGEMAP_FREE_OP	folio_free
#define HMMSIM_DEFINE_PAGEMAP_FREE(name, fn)				\
static void name(struct folio *folio)					\
{									\
	fn(&folio->page, folio_nr_pages(folio));			\
}
#else
#define HMMSIM_PAGEMAP_FREE_OP	page_free
#define HMMSIM_DEFINE_PAGEMAP_FREE(name, fn)				\
static void name(struct page *page)					\
{									\
	fn(page, 1);							\
}
#endif

/*
 * Device-private THP migration (7.0 on): a THP moves to and from device
 * memory as one 2 MiB folio. Where the kernel lacks it, the flags are 0,
 * so that no migrate_vma entry is ever compound, and hmmsim hands out
 * single pages only.
 */
#ifdef HMMSIM_HAVE_DEVICE_THP
#define HMMSIM_MIGRATE_VMA_SELECT_COMPOUND	MIGRATE_VMA_SELECT_COMPOUND
#define HMMSIM_MIGRATE_PFN_COMPOUND		MIGRATE_PFN_COMPOUND
#define HMMSIM_PAGEMAP_SPLIT_OP(fn)		.folio_split = (fn),
#else
#define HMMSIM_MIGRATE_VMA_SELECT_COMPOUND	0
#define HMMSIM_MIGRATE_PFN_COMPOUND		0
#define HMMSIM_PAGEMAP_SPLIT_OP(fn)
#endif

/* A free device page becomes a folio of 1 << @order pages: the head, locked. */
static inline void hmmsim_zone_device_folio_init(struct page *page,
						 unsigned int order)
{
#ifdef HMMSIM_HAVE_DEVICE_THP
	zone_device_folio_init(page_folio(page), hmmsim_page_pgmap(page), order);
#else
	WARN_ON_ONCE(1);	/* hmmsim_thp_migration() said no */
#endif
}

/*
 * A system folio of 1 << @order pages, for @addr of @vma: only kernels with
 * device THP ask for order > 0, and those have vma_alloc_folio() without
 * the older kernels' hugepage argument.
 */
static inline struct folio *hmmsim_vma_alloc_folio(gfp_t gfp,
						   unsigned int order,
						   struct vm_area_struct *vma,
						   unsigned long addr)
{
#ifdef HMMSIM_HAVE_DEVICE_THP
	return vma_alloc_folio(gfp, order, vma, addr);
#else
	struct page *page = order ? NULL : alloc_page_vma(gfp, vma, addr);

	return page ? page_folio(page) : NULL;
#endif
}

/*
 * What a piece of a split device folio takes from the folio it came from,
 * as the kernel gives it when the pagemap has no folio_split callback.
 */
static inline void hmmsim_folio_split_inherit(struct folio *tail,
					      const struct folio *head)
{
#ifdef HMMSIM_HAVE_DEVICE_THP
	tail->pgmap = head->pgmap;
	tail->mapping = head->mapping;
#endif
}

/* Whether THPs can move to device memory whole, on this kernel and CPU. */
static inline bool hmmsim_thp_migration(void)
{
#ifdef HMMSIM_HAVE_DEVICE_THP
	return thp_migration_supported();
#else
	return false;
#endif
}

/* Hand out a free device page: one reference, a single page. */
static inline void hmmsim_zone_device_page_init(struct page *page)
{
#ifdef HMMSIM_HAVE_ZONE_DEVICE_PAGE_INIT__ORDER
	zone_device_page_init(page, hmmsim_page_pgmap(page), 0);
#else
	zone_device_page_init(page);
#endif
}

/*
 * Device-exclusive access, one page at a time: make_device_exclusive()
 * does one page and returns it with its folio locked and referenced; where
 * the kernel has only make_device_exclusive_range(), a range of one page
 * gives the same.
 *
 * hmmsim_make_device_exclusive() - make the page at @addr of @mm exclusive
 * to @owner, with the mmap lock held. Return: the page, locked, with a
 * reference, or an ERR_PTR(): -EBUSY if it could not be made exclusive.
 *
 * make_device_exclusive_range() skips the tail pages of a large folio, so
 * there a THP must be split first (hmmsim_exclusive_splits_thp());
 * make_device_exclusive() maps a large folio by PTE and keeps it whole.
 * Holding several of the pages it returns locked at once can deadlock on
 * one PTE-mapped large folio: callers release each before the next.
 */
static inline struct page *hmmsim_make_device_exclusive(struct mm_struct *mm,
							unsigned long addr,
							void *owner)
{
#ifdef HMMSIM_HAVE_DEVICE_EXCLUSIVE__PAGE
	struct folio *folio;

	return make_device_exclusive(mm, addr, owner, &folio);
#else
	struct page *page = NULL;
	int ret;

	ret = make_device_exclusive_range(mm, addr, addr + PAGE_SIZE, &page,
					  owner);
	if (ret < 0)
		return ERR_PTR(ret);
	return page ?: ERR_PTR(-EBUSY);
#endif
}

static inline bool hmmsim_exclusive_splits_thp(void)
{
#ifdef HMMSIM_HAVE_DEVICE_EXCLUSIVE__PAGE
	return false;
#else
	return true;
#endif
}

/*
 * memory_failure() on a pfn, for an error hmmsim makes up: software
 * simulated, which leaves unpoison_memory() usable. It exists with
 * CONFIG_MEMORY_FAILURE only.
 */
static inline int hmmsim_memory_failure(unsigned long pfn)
{
#ifdef CONFIG_MEMORY_FAILURE
	return memory_failure(pfn, MF_SW_SIMULATED);
#else
	return -EOPNOTSUPP;
#endif
}

/* pin_user_pages_remote() lost its vmas argument in 6.5. */
static inline long hmmsim_pin_user_pages_remote(struct mm_struct *mm,
						unsigned long start,
						unsigned long nr_pages,
						unsigned int gup_flags,
						struct page **pages)
{
#ifdef HMMSIM_HAVE_PIN_USER_PAGES_REMOTE__NOVMAS
	return pin_user_pages_remote(mm, start, nr_pages, gup_flags, pages,
				     NULL);
#else
	return pin_user_pages_remote(mm, start, nr_pages, gup_flags, pages,
				     NULL, NULL);
#endif
}

/*
 * The mmap lock is held. mmap_assert_locked() reports a missing lock to
 * lockdep and, on a CONFIG_DEBUG_VM kernel, with VM_BUG_ON_MM(), whose
 * dump_mm() 6.1 does not export. There lockdep's report is the one left.
 */
#if defined(CONFIG_DEBUG_VM) && !defined(HMMSIM_HAVE_EXPORT_DUMP_MM)
#define hmmsim_mmap_assert_locked(mm)	lockdep_assert_held(&(mm)->mmap_lock)
#else
#define hmmsim_mmap_assert_locked(mm)	mmap_assert_locked(mm)
#endif

/*
 * io_uring command passthrough (file_operations.uring_cmd):
 *
 * - 6.5 gave struct io_uring_cmd the whole SQE (->sqe) instead of a
 *   pointer to its command area (->cmd); 6.7 moved the declarations to
 *   <linux/io_uring/cmd.h> and made commands cancelable:
 *   io_uring_cmd_mark_cancelable() puts a command on its ring's cancel
 *   list, and tearing the ring down calls ->uring_cmd() again with
 *   IO_URING_F_CANCEL. Before, nothing tells a driver: a ring torn down
 *   waits for its commands to complete on their own.
 * - The command area became typed: io_uring_sqe128_cmd(sqe, type).
 * - The second result word moved from io_uring_cmd_done() to
 *   io_uring_cmd_done32().
 * - Task work callbacks became (struct io_tw_req, io_tw_token_t), where
 *   they were (struct io_uring_cmd *, issue_flags).
 * - IORING_URING_CMD_MASK, every uring_cmd flag the user can set, came
 *   with the second flag (6.1 has IORING_URING_CMD_FIXED alone).
 */
#ifdef HMMSIM_HAVE_URING_CMD__CANCELABLE
#include <linux/io_uring/cmd.h>

#define HMMSIM_IO_URING_F_CANCEL	IO_URING_F_CANCEL

static inline void hmmsim_uring_cmd_mark_cancelable(struct io_uring_cmd *cmd,
						    unsigned int issue_flags)
{
	io_uring_cmd_mark_cancelable(cmd, issue_flags);
}
#else
#include <linux/io_uring.h>

#define HMMSIM_IO_URING_F_CANCEL	0

static inline void hmmsim_uring_cmd_mark_cancelable(struct io_uring_cmd *cmd,
						    unsigned int issue_flags)
{
}
#endif

#ifndef IORING_URING_CMD_MASK
#define IORING_URING_CMD_MASK	IORING_URING_CMD_FIXED
#endif

/* The command payload of a 128-byte SQE, as a const @type *. */
#if defined(HMMSIM_HAVE_URING_SQE128_CMD)
#define hmmsim_uring_cmd_payload(ioucmd, type)	\
	io_uring_sqe128_cmd((ioucmd)->sqe, type)
#elif defined(HMMSIM_HAVE_URING_CMD__CANCELABLE)
#define hmmsim_uring_cmd_payload(ioucmd, type)	\
	((const type *)io_uring_sqe_cmd((ioucmd)->sqe))
#else
#define hmmsim_uring_cmd_payload(ioucmd, type)	\
	((const type *)(ioucmd)->cmd)
#endif

/* Post the CQE: @ret, and @res2 in the second word of a 32-byte CQE. */
static inline void hmmsim_uring_cmd_done(struct io_uring_cmd *cmd, int ret,
					 u64 res2, unsigned int issue_flags)
{
#ifdef HMMSIM_HAVE_URING_CMD_DONE32
	io_uring_cmd_done32(cmd, ret, res2, issue_flags);
#else
	io_uring_cmd_done(cmd, ret, res2, issue_flags);
#endif
}

/*
 * HMMSIM_DEFINE_URING_TASK_WORK(name, fn) defines @name, a task work
 * callback of the type io_uring_cmd_complete_in_task() wants, which calls
 * @fn(struct io_uring_cmd *, unsigned int issue_flags).
 */
#ifdef HMMSIM_HAVE_URING_TASK_WORK__TW_REQ
#define HMMSIM_DEFINE_URING_TASK_WORK(name, fn)				\
static void name(struct io_tw_req tw_req, io_tw_token_t tw)		\
{									\
	fn(io_uring_cmd_from_tw(tw_req), IO_URING_CMD_TASK_WORK_ISSUE_FLAGS); \
}
#else
#define HMMSIM_DEFINE_URING_TASK_WORK(name, fn)				\
static void name(struct io_uring_cmd *ioucmd, unsigned int issue_flags) \
{									\
	fn(ioucmd, issue_flags);					\
}
#endif

#endif /* _HMMSIM_COMPAT_H */
