// SPDX-License-Identifier: GPL-2.0
/**
 * DOC: Mirror
 *
 * Each open file is a mirror: an mmu_interval_notifier over the whole
 * address space of the bound mm, and a device page table (devpt.c) filled
 * with hmm_range_fault() and emptied by the notifier. The device's own
 * accesses (READ, WRITE, the read-back of MIGRATE_TO_DEV and EXCLUSIVE) go
 * through that page table, the way a device's do through its MMU, and take
 * a fault into hmm_range_fault() when an entry is missing.
 *
 * The mirror never migrates anything. Where a device access needs pages
 * moved (a device write to this device's own page that the CPU maps
 * read-only) it returns -EXDEV, and the command layer (cmd.c) moves the
 * pages and tries again, as a drm_gpusvm driver's fault handler does.
 *
 * ``mirror->pt_lock`` is the "driver update lock" of
 * Documentation/mm/hmm.rst (see DOC: Locking for its place in the lock
 * order). Everything that maps pages into the device page table follows
 * the documented sequence::
 *
 *	seq = mmu_interval_read_begin(&mirror->notifier);
 *	hmm_range_fault(&range);		(under mmap_read_lock)
 *	mutex_lock(&mirror->pt_lock);
 *	if (mmu_interval_read_retry(&mirror->notifier, seq))
 *		unlock and start again;
 *	update the device page table;
 *	mutex_unlock(&mirror->pt_lock);
 *
 * and everything that reads through the device page table (device READ and
 * WRITE) holds the lock for the whole access, so that an invalidation, which
 * must take the lock before the CPU can free or move the page, waits for
 * the access to finish.
 *
 * The invalidate callback runs under reclaim (try_to_unmap() from the page
 * allocator), so nothing may allocate memory with direct reclaim while
 * holding ``mirror->pt_lock``: the device page table allocates with
 * GFP_NOWAIT under it and otherwise asks the caller to retry after
 * hmmsim_devpt_prepare(). Lockdep is told at mirror creation that the lock
 * nests inside reclaim, so a violation is reported the first time the code
 * runs, not the first time reclaim happens to hit it.
 *
 * Two kinds of invalidation are this device's own doing, and are told
 * apart by the notifier's event and owner:
 *
 * - MMU_NOTIFY_MIGRATE with owner == this device: migrate_vma_setup() of a
 *   migration this device runs. The callback advances the sequence (so a
 *   concurrent range fault retries) but leaves the page table alone: the
 *   migration unmaps exactly the pages it moves, in every mirror of the
 *   device on that mm, before copying them (hmmsim_mirrors_unmap_migrating()),
 *   and pages that stay where they are keep their device mapping.
 *   Every other task's clearing invalidation marks the windows of
 *   migrations to this device that it overlaps stale
 *   (hmmsim_mirror_expect()), so that their pages are not mapped when
 *   they arrive.
 * - MMU_NOTIFY_EXCLUSIVE with owner == this device:
 *   make_device_exclusive*() giving this device exclusive access. The
 *   pages do not change, so there is nothing to invalidate, and the
 *   exclusive path's own read_retry must not be defeated by it.
 */
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/mmap_lock.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/userfaultfd_k.h>

#include "hmmsim_drv.h"
#include "trace.h"

/*
 * An invalidation of @range, of sequence @cur_seq, which @clears the device
 * page table or not: which windows on their way here it makes stale (see
 * hmmsim_mirror_expect()). Of the windows it overlaps, another task's
 * clearing makes them stale; the migrating task's own invalidations (its
 * migrate_vma_setup(), a THP split as it collects, migrate_vma_pages()
 * filling a hole) leave the pages where that task puts them, and make a
 * window stale only when they share its recorded sequence: then an
 * invalidation that was in progress when the window was announced is
 * still in progress, and may change the page tables after the collection.
 */
static void hmmsim_mirror_stale_arrivals(struct hmmsim_mirror *mirror,
					 const struct mmu_notifier_range *range,
					 unsigned long cur_seq, bool clears)
{
	struct hmmsim_arrival *a;

	lockdep_assert_held(&mirror->pt_lock);
	list_for_each_entry(a, &mirror->arrivals, link) {
		if (a->start >= range->end || range->start >= a->end)
			continue;
		if (a->task == current ? cur_seq == a->seq : clears)
			a->stale = true;
	}
}

static bool hmmsim_mirror_invalidate(struct mmu_interval_notifier *mni,
				     const struct mmu_notifier_range *range,
				     unsigned long cur_seq)
{
	struct hmmsim_mirror *mirror =
		container_of(mni, struct hmmsim_mirror, notifier);
	struct hmmsim_device *hdev = mirror->hdev;
	bool own = range->owner == hdev;
	bool skip = own && (range->event == MMU_NOTIFY_MIGRATE ||
			    range->event == MMU_NOTIFY_EXCLUSIVE);

	trace_hmmsim_invalidate(hdev->id, range->start, range->end,
				range->event, skip);
	if (own && range->event == MMU_NOTIFY_EXCLUSIVE)
		return true;

	if (mmu_notifier_range_blockable(range))
		mutex_lock(&mirror->pt_lock);
	else if (!mutex_trylock(&mirror->pt_lock))
		return false;

	mmu_interval_set_seq(mni, cur_seq);
	hmmsim_mirror_stale_arrivals(mirror, range, cur_seq, !skip);
	mirror->last_seq = cur_seq;
	if (!skip) {
		hmmsim_devpt_clear(&mirror->pt, range->start, range->end);
		hmmsim_count(hdev, HMMSIM_STAT_INVALIDATIONS, 1);
	}
	if (range->event == MMU_NOTIFY_UNMAP && mirror->ops)
		mirror->ops->unmap(mirror, range->start, range->end);

	mutex_unlock(&mirror->pt_lock);
	return true;
}

static const struct mmu_interval_notifier_ops hmmsim_mirror_ops = {
	.invalidate = hmmsim_mirror_invalidate,
};

/**
 * hmmsim_mirror_create() - mirror the calling process on a device
 * @hdev: the device.
 * @ops: what the layer above wants to hear, or NULL.
 * @policy: the layer above's state, for @ops.
 *
 * Return: the mirror, or an ERR_PTR().
 */
struct hmmsim_mirror *hmmsim_mirror_create(struct hmmsim_device *hdev,
					   const struct hmmsim_mirror_ops *ops,
					   struct hmmsim_policy_state *policy)
{
	struct hmmsim_mirror *mirror;
	int ret;

	/* A mirror needs an address space to mirror. */
	if (!current->mm)
		return ERR_PTR(-EINVAL);

	mirror = kzalloc_obj(*mirror, GFP_KERNEL);
	if (!mirror)
		return ERR_PTR(-ENOMEM);
	mirror->hdev = hdev;
	mirror->ops = ops;
	mirror->policy = policy;
	mirror->mm = current->mm;
	mirror->tgid = get_task_pid(current, PIDTYPE_TGID);
	get_task_comm(mirror->comm, current);
	mutex_init(&mirror->pt_lock);
	mutex_init(&mirror->scratch_lock);
	spin_lock_init(&mirror->uring_lock);
	INIT_LIST_HEAD(&mirror->uring_queue);
	INIT_LIST_HEAD(&mirror->arrivals);
	hmmsim_devpt_init(&mirror->pt, &mirror->pt_lock);

	/* Teach lockdep that the invalidate callback runs under reclaim. */
	if (IS_ENABLED(CONFIG_LOCKDEP)) {
		fs_reclaim_acquire(GFP_KERNEL);
		might_lock(&mirror->pt_lock);
		fs_reclaim_release(GFP_KERNEL);
	}

	ret = mmu_interval_notifier_insert(&mirror->notifier, mirror->mm, 0,
					   ULONG_MAX & PAGE_MASK,
					   &hmmsim_mirror_ops);
	if (ret) {
		put_pid(mirror->tgid);
		kfree(mirror);
		return ERR_PTR(ret);
	}
	mmgrab(mirror->mm);

	mutex_lock(&hdev->mirrors_lock);
	list_add(&mirror->link, &hdev->mirrors);
	mutex_unlock(&hdev->mirrors_lock);
	return mirror;
}

/**
 * hmmsim_mirror_unlink() - stop mirroring, when the file is released
 * @mirror: the mirror; no command can be running on it.
 *
 * The mirror leaves its device's list (eviction no longer finds it) and
 * its notifier is removed: nothing reaches it any more but its owner.
 */
void hmmsim_mirror_unlink(struct hmmsim_mirror *mirror)
{
	struct hmmsim_device *hdev = mirror->hdev;

	mutex_lock(&hdev->mirrors_lock);
	list_del(&mirror->link);
	mutex_unlock(&hdev->mirrors_lock);
	mmu_interval_notifier_remove(&mirror->notifier);
}

/**
 * hmmsim_mirror_destroy() - free a mirror
 * @mirror: the mirror, unlinked with hmmsim_mirror_unlink().
 */
void hmmsim_mirror_destroy(struct hmmsim_mirror *mirror)
{
	WARN_ON_ONCE(!list_empty(&mirror->arrivals));
	hmmsim_scratch_free(mirror->scratch);
	hmmsim_devpt_fini(&mirror->pt);
	mmdrop(mirror->mm);
	put_pid(mirror->tgid);
	kfree(mirror);
}

/**
 * hmmsim_mirror_uffd_armed() - whether a range is watched by a userfaultfd
 * @mm: the address space, whose mmap lock the caller holds.
 * @start: first address.
 * @end: end of the range.
 *
 * Return: true if a VMA of [@start, @end) is registered with a
 * userfaultfd.
 */
bool hmmsim_mirror_uffd_armed(struct mm_struct *mm, unsigned long start,
			      unsigned long end)
{
	struct vm_area_struct *vma;

	hmmsim_mmap_assert_locked(mm);
	for (vma = find_vma(mm, start); vma && vma->vm_start < end;
	     vma = find_vma(mm, vma->vm_end))
		if (userfaultfd_armed(vma))
			return true;
	return false;
}

/*
 * hmm_range_fault() of @range, with the mmap lock held. It cannot take a
 * userfault: it faults without FAULT_FLAG_ALLOW_RETRY, which
 * handle_userfault() needs to wait for the fault to be served, and refuses
 * with a warning and a stack dump on a CONFIG_DEBUG_VM kernel. So under a
 * userfaultfd the window is only looked at, and a page that would need a
 * fault is -EFAULT, as the refused fault would be.
 */
static int hmmsim_mirror_hmm_fault(struct hmm_range *range)
{
	unsigned long req = range->default_flags, i, n;
	int ret;

	if (!req || !hmmsim_mirror_uffd_armed(range->notifier->mm, range->start,
					      range->end))
		return hmm_range_fault(range);
	range->default_flags = 0;
	ret = hmm_range_fault(range);
	range->default_flags = req;
	if (ret)
		return ret;
	n = (range->end - range->start) >> PAGE_SHIFT;
	for (i = 0; i < n; i++) {
		unsigned long pfn = range->hmm_pfns[i];

		if (!(pfn & HMM_PFN_VALID))
			return -EFAULT;
		/* A device page read-only is the caller's -EXDEV. */
		if ((req & HMM_PFN_REQ_WRITE) && !(pfn & HMM_PFN_WRITE) &&
		    !hmmsim_is_device_page(hmm_pfn_to_page(pfn)))
			return -EFAULT;
	}
	return 0;
}

/*
 * Give each page that hmm_range_fault() reports as part of a PMD mapping
 * the pfn of its own place in the mapping. For a device-private PMD (a
 * 2 MiB folio of this device), 7.2's hmm_vma_handle_absent_pmd() reports
 * the folio's first pfn for the first page of the range and counts on from
 * there, also when the range starts inside the PMD: pages k.. of the block
 * would be mapped to the folio's pages 0.., and the device would read and
 * write the wrong pages. A PMD maps a naturally aligned folio page for
 * page, so the right pfn follows from the address; where the kernel
 * reported it right, this changes nothing.
 */
static void hmmsim_mirror_fix_pmd_pfns(struct hmm_range *range)
{
	const unsigned long pmd_pages = 1UL << (PMD_SHIFT - PAGE_SHIFT);
	unsigned long i, n = (range->end - range->start) >> PAGE_SHIFT;

	for (i = 0; i < n; i++) {
		unsigned long hmm_pfn = range->hmm_pfns[i];
		unsigned long pfn = hmm_pfn & ~HMM_PFN_FLAGS;
		unsigned long idx = (range->start >> PAGE_SHIFT) + i;

		if (!(hmm_pfn & HMM_PFN_VALID) ||
		    hmm_pfn_to_map_order(hmm_pfn) != PMD_SHIFT - PAGE_SHIFT)
			continue;
		pfn = ALIGN_DOWN(pfn, pmd_pages) + (idx & (pmd_pages - 1));
		range->hmm_pfns[i] = (hmm_pfn & HMM_PFN_FLAGS) | pfn;
	}
}

static bool hmmsim_mirror_pfns_writable(const struct hmm_range *range)
{
	unsigned long i, n = (range->end - range->start) >> PAGE_SHIFT;

	for (i = 0; i < n; i++)
		if (!(range->hmm_pfns[i] & HMM_PFN_WRITE))
			return false;
	return true;
}

/**
 * hmmsim_mirror_range_fault() - fill the device page table for one window
 * @mirror: the mirror.
 * @s: the command's scratch buffers: @s->src takes hmm_range_fault()'s
 *	output.
 * @start: first address.
 * @end: end address, in the same window.
 * @fault_flags: the HMM_PFN_REQ_* to fault with, zero to take a snapshot
 *	without faulting.
 * @count: count the fault in device_faults; false for an access stream's,
 *	which the policy counts per page.
 *
 * hmm_range_fault() the window and commit what it found to the device page
 * table: the loop of Documentation/mm/hmm.rst.
 *
 * Return: 0, -EXDEV for a write fault on a page of this device that the
 * CPU maps read-only (hmm_range_fault() reports this device's own private
 * pages without faulting them, so the write fault must be taken on a
 * system page: the caller moves the window to system memory and faults
 * again), or another negative errno.
 */
static int hmmsim_mirror_range_fault(struct hmmsim_mirror *mirror,
				     struct hmmsim_scratch *s,
				     unsigned long start, unsigned long end,
				     unsigned long fault_flags, bool count)
{
	unsigned long timeout =
		jiffies + msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT);
	struct hmm_range range = {
		.notifier = &mirror->notifier,
		.start = start,
		.end = end,
		.hmm_pfns = s->src,
		.default_flags = fault_flags,
		.dev_private_owner = mirror->hdev,
	};
	int ret;

	for (;;) {
		if (time_after(jiffies, timeout))
			return -EBUSY;
		if (fatal_signal_pending(current))
			return -EINTR;
		ret = hmmsim_devpt_prepare(&mirror->pt, start, end);
		if (ret)
			return ret;

		range.notifier_seq = mmu_interval_read_begin(range.notifier);
		if (mmap_read_lock_killable(mirror->mm))
			return -EINTR;
		ret = hmmsim_mirror_hmm_fault(&range);
		mmap_read_unlock(mirror->mm);
		if (ret == -EBUSY)
			continue;
		if (ret)
			return ret;
		hmmsim_mirror_fix_pmd_pfns(&range);
		if ((fault_flags & HMM_PFN_REQ_WRITE) &&
		    !hmmsim_mirror_pfns_writable(&range))
			return -EXDEV;

		mutex_lock(&mirror->pt_lock);
		if (mmu_interval_read_retry(range.notifier,
					    range.notifier_seq)) {
			mutex_unlock(&mirror->pt_lock);
			continue;
		}
		ret = hmmsim_devpt_map_range(&mirror->pt, &range);
		mutex_unlock(&mirror->pt_lock);
		if (ret == -EAGAIN)
			continue;
		if (!ret && fault_flags && count) {
			hmmsim_count(mirror->hdev, HMMSIM_STAT_DEVICE_FAULTS, 1);
			trace_hmmsim_fault(mirror->hdev->id, start, end,
					   fault_flags & HMM_PFN_REQ_WRITE);
		}
		return ret;
	}
}

static unsigned long hmmsim_mirror_fault_flags(bool write)
{
	return HMM_PFN_REQ_FAULT | (write ? HMM_PFN_REQ_WRITE : 0);
}

enum hmmsim_mirror_access {
	HMMSIM_ACCESS_READ,
	HMMSIM_ACCESS_WRITE,
	HMMSIM_ACCESS_READ_LOCAL,	/* only pages in this device's memory */
};

/*
 * Pin the user pages behind [uptr, uptr + len) into s->pages, for the
 * device to write (@write) or read. Returns the number pinned, or -EFAULT
 * if any is missing.
 */
static long hmmsim_mirror_pin_user(struct hmmsim_scratch *s, unsigned long uptr,
				   unsigned long len, bool write)
{
	unsigned long first = uptr & PAGE_MASK;
	long n = DIV_ROUND_UP(uptr + len - first, PAGE_SIZE), got;

	got = pin_user_pages_fast(first, n, write ? FOLL_WRITE : 0, s->pages);
	if (got == n)
		return n;
	if (got > 0)
		unpin_user_pages(s->pages, got);
	return -EFAULT;
}

/*
 * Add the copy of one device page, the engine's endpoint @dpage or @daddr
 * (hmmsim_copy_endpoint()), to or from the pinned user buffer.
 */
static void hmmsim_mirror_add_user_copy(struct hmmsim_scratch *s,
					struct page *dpage, void *daddr,
					unsigned long ubyte, bool to_user)
{
	unsigned int off = offset_in_page(ubyte), done = 0;
	struct page **up = &s->pages[ubyte >> PAGE_SHIFT];

	/* An unaligned user buffer splits the page in two descriptors. */
	while (done < PAGE_SIZE) {
		struct hmmsim_copy_desc d = {
			.len = min_t(unsigned int, PAGE_SIZE - off,
				     PAGE_SIZE - done),
		};

		if (to_user) {
			d.src_page = dpage;
			d.src_addr = daddr;
			d.src_off = done;
			d.dst_page = *up;
			d.dst_off = off;
		} else {
			d.src_page = *up;
			d.src_off = off;
			d.dst_page = dpage;
			d.dst_addr = daddr;
			d.dst_off = done;
		}
		hmmsim_copy_add(&s->batch, &d);
		done += d.len;
		off = 0;
		up++;
	}
}

/*
 * Add the copies of @nr pages mapped by one entry, from @page on (they
 * are contiguous, in one folio), the first at @ubyte of the user buffer.
 */
static void hmmsim_mirror_add_user_copies(struct hmmsim_scratch *s,
					  struct page *page, unsigned long nr,
					  unsigned long ubyte, bool to_user)
{
	struct page *dpage = NULL;
	void *daddr = NULL;

	hmmsim_copy_endpoint(page, &dpage, &daddr);
	for (; nr; nr--, ubyte += PAGE_SIZE) {
		hmmsim_mirror_add_user_copy(s, dpage, daddr, ubyte, to_user);
		hmmsim_copy_endpoint_next(&dpage, &daddr);
	}
}

/*
 * The page the device page table lets @access reach at @addr, or NULL,
 * and in *@nr how many pages from it on, up to @end, its entry maps (the
 * rest of a 2 MiB entry, else one). @last is the chunk the access touched
 * last.
 */
static struct page *hmmsim_mirror_lookup_run(struct hmmsim_mirror *mirror,
					     unsigned long addr,
					     unsigned long end,
					     enum hmmsim_mirror_access access,
					     struct hmmsim_chunk **last,
					     unsigned long *nr)
{
	hmmsim_pte_t pte = hmmsim_devpt_lookup(&mirror->pt, addr);
	struct page *page;

	if (!(pte & HMMSIM_PTE_VALID))
		return NULL;
	if (access == HMMSIM_ACCESS_WRITE && !(pte & HMMSIM_PTE_WRITE))
		return NULL;
	page = pfn_to_page(hmmsim_pte_pfn(pte));
	if (hmmsim_is_device_page(page))
		hmmsim_devmem_touch(page, last);
	if (access == HMMSIM_ACCESS_READ_LOCAL &&
	    !hmmsim_is_own_page(page, mirror->hdev))
		return NULL;
	*nr = 1;
	if (pte & HMMSIM_PTE_HUGE)
		*nr = (min((addr | ~PMD_MASK) + 1, end) - addr) >> PAGE_SHIFT;
	return page;
}

/* The page the device page table lets @access reach at @addr, or NULL. */
static struct page *hmmsim_mirror_lookup(struct hmmsim_mirror *mirror,
					 unsigned long addr,
					 enum hmmsim_mirror_access access,
					 struct hmmsim_chunk **last)
{
	unsigned long nr;

	return hmmsim_mirror_lookup_run(mirror, addr, addr + PAGE_SIZE, access,
					last, &nr);
}

/* A page whose data is lost: the device gets an error, as from its ECC. */
static bool hmmsim_mirror_page_lost(struct page *page)
{
	if (!hmmsim_devmem_poisoned(page, 1))
		return false;
	hmmsim_devmem_error_event(page, HMMSIM_MEMORY_ERROR_REFUSED);
	return true;
}

/*
 * How many of the @nr pages from @page on (in one folio) the device can
 * reach: those before the first with a memory error, which refuses.
 */
static unsigned long hmmsim_mirror_intact(struct page *page, unsigned long nr)
{
	unsigned long k;

	if (!hmmsim_devmem_poisoned(page, nr))
		return nr;
	for (k = 0; k < nr && !hmmsim_mirror_page_lost(page + k); k++)
		;
	return k;
}

/*
 * Copy between the user buffer at @uptr and the pages the device page table
 * maps for [start, end), stopping at the first page the table does not
 * allow, or that has a memory error. The user pages are pinned for the
 * copy, which goes straight between them and the device's pages through
 * the copy engine, holding the page table lock. Returns the pages copied,
 * or a negative errno: -EIO when the first page has a memory error.
 */
static long hmmsim_mirror_access(struct hmmsim_mirror *mirror,
				 struct hmmsim_scratch *s, unsigned long start,
				 unsigned long end, enum hmmsim_mirror_access access,
				 unsigned long uptr)
{
	bool to_user = access != HMMSIM_ACCESS_WRITE;
	unsigned long ubyte = offset_in_page(uptr);
	struct hmmsim_chunk *last = NULL;
	unsigned long addr, n, nr, run;
	struct page *page;
	long pinned;
	int ret, lost = 0;

	pinned = hmmsim_mirror_pin_user(s, uptr, end - start, to_user);
	if (pinned < 0)
		return pinned;

	hmmsim_copy_batch_reset(&s->batch);
	mutex_lock(&mirror->pt_lock);
	/* An entry at a time: a 2 MiB one is looked up and checked once. */
	for (addr = start; addr < end; addr += run << PAGE_SHIFT) {
		page = hmmsim_mirror_lookup_run(mirror, addr, end, access,
						&last, &nr);
		if (!page)
			break;
		run = hmmsim_mirror_intact(page, nr);
		hmmsim_mirror_add_user_copies(s, page, run, ubyte + addr - start,
					      to_user);
		if (run < nr) {
			addr += run << PAGE_SHIFT;
			lost = -EIO;
			break;
		}
	}
	n = (addr - start) >> PAGE_SHIFT;
	hmmsim_copy_submit(&s->batch);
	ret = hmmsim_copy_wait(&s->batch);
	mutex_unlock(&mirror->pt_lock);

	if (to_user)
		unpin_user_pages_dirty_lock(s->pages, pinned, true);
	else
		unpin_user_pages(s->pages, pinned);
	if (ret)
		return ret;
	return n ? n : lost;
}

/* Where a span's progress has got to in its user buffer. */
static unsigned long hmmsim_mirror_uptr(const struct hmmsim_span *span)
{
	return span->uptr + (span->pages << PAGE_SHIFT);
}

/*
 * Fault [addr, end) in, window by window, as a device faults the rest of a
 * buffer in at its first miss: a range the process cannot access fails here,
 * before the device has written anything. A later window that needs pages
 * moved first (-EXDEV) is left for when the access gets there, so that
 * -EXDEV is only ever returned for the window at @addr.
 */
static int hmmsim_mirror_fault_rest(struct hmmsim_mirror *mirror,
				    struct hmmsim_scratch *s,
				    unsigned long addr, unsigned long end,
				    bool write)
{
	unsigned long start = addr, next;
	int ret;

	for (; addr < end; addr = next) {
		next = hmmsim_window_end(addr, end);
		ret = hmmsim_mirror_range_fault(mirror, s, addr, next,
						hmmsim_mirror_fault_flags(write),
						true);
		if (ret == -EXDEV && addr != start)
			return 0;
		if (!ret)
			ret = hmmsim_window_done();
		if (ret)
			return ret;
	}
	return 0;
}

/**
 * hmmsim_mirror_rw() - the device reads or writes a range
 * @mirror: the mirror.
 * @s: the command's scratch buffers.
 * @span: the range and the user buffer; the access starts where
 *	@span->pages says it got to, and adds the pages it copies.
 * @write: the device writes the range from the buffer, or reads it into it.
 *
 * Pages are accessed through the device page table; the first missing
 * entry faults the rest of the range in (one fault, counted in
 * @span->faults) and the access goes on. An entry missing after that was
 * invalidated meanwhile (khugepaged, reclaim, another thread): it is
 * faulted back, but not counted again.
 *
 * Return: 0 or a negative errno: -EPERM for a write to a range the process
 * cannot write, -EXDEV for a write to this device's own page mapped
 * read-only (see hmmsim_mirror_range_fault(): move the window at
 * hmmsim_span_addr() home and call again to go on), -EIO at a device page
 * with a memory error (DOC: Device memory errors).
 */
int hmmsim_mirror_rw(struct hmmsim_mirror *mirror, struct hmmsim_scratch *s,
		     struct hmmsim_span *span, bool write)
{
	enum hmmsim_mirror_access access = write ? HMMSIM_ACCESS_WRITE :
					    HMMSIM_ACCESS_READ;
	unsigned long addr, next;
	long n;
	int ret;

	while ((addr = hmmsim_span_addr(span)) < span->end) {
		next = hmmsim_window_end(addr, span->end);
		n = hmmsim_mirror_access(mirror, s, addr, next, access,
					 hmmsim_mirror_uptr(span));
		if (n < 0)
			return n;
		span->pages += n;
		addr += n << PAGE_SHIFT;
		if (addr < next) {
			ret = hmmsim_mirror_fault_rest(mirror, s, addr,
						       span->end, write);
			if (ret)
				return ret;
			span->faults = 1;
		}
		ret = hmmsim_window_done();
		if (ret)
			return ret;
	}
	return 0;
}

/* Fault a span in, window by window, counting each in device_faults or not. */
static int hmmsim_mirror_fill(struct hmmsim_mirror *mirror,
			      struct hmmsim_scratch *s, struct hmmsim_span *span,
			      bool write, bool count)
{
	unsigned long addr, next;
	int ret;

	while ((addr = hmmsim_span_addr(span)) < span->end) {
		next = hmmsim_window_end(addr, span->end);
		ret = hmmsim_mirror_range_fault(mirror, s, addr, next,
						hmmsim_mirror_fault_flags(write),
						count);
		if (!ret)
			span->pages += (next - addr) >> PAGE_SHIFT;
		if (!ret)
			ret = hmmsim_window_done();
		if (ret)
			return ret;
	}
	return 0;
}

/**
 * hmmsim_mirror_prefetch() - fault a range into the device page table
 * @mirror: the mirror.
 * @s: the command's scratch buffers.
 * @span: the range; starts where @span->pages says, and adds the pages
 *	faulted in.
 * @write: fault for write access, not only read.
 *
 * What a device does before it touches a buffer: no page moves, and the
 * device's later accesses to the range find their entries. Each window
 * faulted counts in device_faults.
 *
 * Return: 0 or a negative errno (-EFAULT for a hole, -EPERM for a write to
 * a range the process cannot write, -EXDEV as for hmmsim_mirror_rw()).
 */
int hmmsim_mirror_prefetch(struct hmmsim_mirror *mirror,
			   struct hmmsim_scratch *s, struct hmmsim_span *span,
			   bool write)
{
	return hmmsim_mirror_fill(mirror, s, span, write, true);
}

/**
 * hmmsim_mirror_fault_in() - fault in the pages of device faults
 * @mirror: the mirror.
 * @s: the command's scratch buffers.
 * @span: the range, as for hmmsim_mirror_prefetch().
 * @write: fault for write access, not only read.
 *
 * hmmsim_mirror_prefetch() for a caller that counts the device faults
 * itself (the policy, per faulting page): nothing is added to
 * device_faults here.
 *
 * Return: as hmmsim_mirror_prefetch().
 */
int hmmsim_mirror_fault_in(struct hmmsim_mirror *mirror,
			   struct hmmsim_scratch *s, struct hmmsim_span *span,
			   bool write)
{
	return hmmsim_mirror_fill(mirror, s, span, write, false);
}

/*
 * One load or store of the device at @t->addr through the page table;
 * the loaded word is added to @sum. Returns -EIO for a page with a memory
 * error.
 */
static int hmmsim_mirror_touch_one(struct hmmsim_mirror *mirror,
				   struct hmmsim_touch *t, u64 *sum,
				   struct hmmsim_chunk **last)
{
	enum hmmsim_mirror_access access = t->store ? HMMSIM_ACCESS_WRITE :
					       HMMSIM_ACCESS_READ;
	struct page *page = hmmsim_mirror_lookup(mirror, t->addr, access, last);
	bool local;
	u64 *word;

	t->result = HMMSIM_TOUCH_MISS;
	if (!page)
		return 0;
	if (hmmsim_mirror_page_lost(page))
		return -EIO;
	local = hmmsim_is_own_page(page, mirror->hdev);
	if (is_device_private_page(page))
		word = hmmsim_devmem_page_addr(page);
	else
		word = kmap_local_page(page);
	if (t->store)
		WRITE_ONCE(*word, READ_ONCE(*word) + 1);
	else
		*sum += READ_ONCE(*word);
	if (!is_device_private_page(page))
		kunmap_local(word);
	t->result = local ? HMMSIM_TOUCH_LOCAL : HMMSIM_TOUCH_REMOTE;
	return 0;
}

/**
 * hmmsim_mirror_touch() - device loads and stores through the page table
 * @mirror: the mirror.
 * @t: the accesses, in order; each gets its &hmmsim_touch.result.
 * @nr: how many.
 * @sum: the words the loads read are added here.
 *
 * What a device's execution units do: each access looks its page up in
 * the device page table and, if the entry allows it, loads the page's
 * first 64-bit word or adds one to it. An access the table does not allow
 * is a miss, a device fault for the caller to service. The page table lock
 * is held throughout, as for every device access (DOC: Mirror).
 *
 * Return: 0, or -EIO at a page with a memory error: the accesses before
 * it are done, it and the others are misses.
 */
int hmmsim_mirror_touch(struct hmmsim_mirror *mirror, struct hmmsim_touch *t,
			unsigned int nr, u64 *sum)
{
	struct hmmsim_chunk *last = NULL;
	unsigned int i;
	int ret = 0;

	mutex_lock(&mirror->pt_lock);
	for (i = 0; i < nr && !ret; i++)
		ret = hmmsim_mirror_touch_one(mirror, &t[i], sum, &last);
	for (; i < nr; i++)
		t[i].result = HMMSIM_TOUCH_MISS;
	mutex_unlock(&mirror->pt_lock);
	return ret;
}

/**
 * hmmsim_mirror_local_map() - which pages of a range the device maps in
 *	its own memory
 * @mirror: the mirror.
 * @start: first address, page aligned.
 * @end: end of the range, at most 2 MiB after @start.
 * @map: a bit per page, set for the pages the device page table maps in
 *	the device's memory; the others are left alone.
 */
void hmmsim_mirror_local_map(struct hmmsim_mirror *mirror,
			     unsigned long start, unsigned long end,
			     unsigned long *map)
{
	unsigned long addr, i = 0;
	hmmsim_pte_t pte;

	mutex_lock(&mirror->pt_lock);
	for (addr = start; addr < end; addr += PAGE_SIZE, i++) {
		pte = hmmsim_devpt_lookup(&mirror->pt, addr);
		if ((pte & HMMSIM_PTE_VALID) &&
		    hmmsim_is_own_page(pfn_to_page(hmmsim_pte_pfn(pte)),
				       mirror->hdev))
			__set_bit(i, map);
	}
	mutex_unlock(&mirror->pt_lock);
}

static u8 hmmsim_mirror_prot_code(struct hmmsim_device *hdev,
				  unsigned long hmm_pfn)
{
	unsigned int order;
	struct page *page;
	u8 prot;

	if (hmm_pfn & HMM_PFN_ERROR)
		return HMM_DMIRROR_PROT_ERROR;
	if (!(hmm_pfn & HMM_PFN_VALID))
		return HMM_DMIRROR_PROT_NONE;

	page = hmm_pfn_to_page(hmm_pfn);
	if (is_device_private_page(page))
		prot = hmmsim_is_own_page(page, hdev) ?
		       HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL :
		       HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE;
	else if (is_device_coherent_page(page))
		prot = hmmsim_is_own_page(page, hdev) ?
		       HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL :
		       HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE;
	else if (is_zero_pfn(page_to_pfn(page)))
		prot = HMM_DMIRROR_PROT_ZERO;
	else
		prot = HMM_DMIRROR_PROT_NONE;

	prot |= hmm_pfn & HMM_PFN_WRITE ? HMM_DMIRROR_PROT_WRITE :
					  HMM_DMIRROR_PROT_READ;
	order = hmm_pfn_to_map_order(hmm_pfn);
	if (order + PAGE_SHIFT == PMD_SHIFT)
		prot |= HMM_DMIRROR_PROT_PMD;
	else if (order + PAGE_SHIFT == PUD_SHIFT)
		prot |= HMM_DMIRROR_PROT_PUD;
	return prot;
}

/**
 * hmmsim_mirror_snapshot() - what the CPU maps in a range, for SNAPSHOT
 * @mirror: the mirror.
 * @s: the command's scratch buffers.
 * @span: the range, and the user buffer of one code per page; the pages
 *	reported are added to @span->pages.
 *
 * Looks at the range without faulting anything in, maps what is there into
 * the device page table (a PMD-mapped THP as one 2 MiB entry), and reports
 * one HMM_DMIRROR_PROT_* code per page.
 *
 * Return: 0 or a negative errno.
 */
int hmmsim_mirror_snapshot(struct hmmsim_mirror *mirror,
			   struct hmmsim_scratch *s, struct hmmsim_span *span)
{
	u8 __user *uptr = (u8 __user *)span->uptr;
	unsigned long addr, next, i, n;
	int ret = 0;

	for (addr = span->start; addr < span->end; addr = next) {
		next = hmmsim_window_end(addr, span->end);
		n = (next - addr) >> PAGE_SHIFT;
		ret = hmmsim_mirror_range_fault(mirror, s, addr, next, 0, true);
		if (ret)
			break;
		for (i = 0; i < n; i++)
			s->codes[i] = hmmsim_mirror_prot_code(mirror->hdev, s->src[i]);
		if (copy_to_user(uptr, s->codes, n)) {
			ret = -EFAULT;
			break;
		}
		uptr += n;
		span->pages += n;
		ret = hmmsim_window_done();
		if (ret)
			break;
	}
	return ret;
}

/* Read back one window, mapping what is present when an entry is missing. */
static int hmmsim_mirror_readback_window(struct hmmsim_mirror *mirror,
					 struct hmmsim_scratch *s,
					 struct hmmsim_span *span, unsigned long next,
					 enum hmmsim_mirror_access access)
{
	bool looked = false;
	unsigned long addr;
	long n;
	int ret;

	while ((addr = hmmsim_span_addr(span)) < next) {
		n = hmmsim_mirror_access(mirror, s, addr, next, access,
					 hmmsim_mirror_uptr(span));
		if (n < 0)
			return n;
		span->pages += n;
		if (addr + (n << PAGE_SHIFT) == next)
			break;
		/* Not mapped (yet): map what is there, and look once more. */
		if (looked)
			return -ENOENT;
		ret = hmmsim_mirror_range_fault(mirror, s,
						addr + (n << PAGE_SHIFT), next,
						0, true);
		if (ret)
			return ret;
		looked = true;
	}
	return 0;
}

/**
 * hmmsim_mirror_readback() - read a range the device just took over
 * @mirror: the mirror.
 * @s: the command's scratch buffers.
 * @span: the range and the user buffer; @span->pages counts the pages
 *	read, from zero.
 * @local_only: every page must be in this device's memory.
 *
 * Maps what is present without faulting, then reads through the device page
 * table. Used to return the data of a migration or an exclusive grant, and
 * to check that it took: a page the device does not hold gives -ENOENT.
 *
 * Return: 0, -ENOENT, or another negative errno.
 */
int hmmsim_mirror_readback(struct hmmsim_mirror *mirror,
			   struct hmmsim_scratch *s, struct hmmsim_span *span,
			   bool local_only)
{
	enum hmmsim_mirror_access access = local_only ? HMMSIM_ACCESS_READ_LOCAL :
						 HMMSIM_ACCESS_READ;
	unsigned long addr;
	int ret;

	span->pages = 0;
	while ((addr = hmmsim_span_addr(span)) < span->end) {
		ret = hmmsim_mirror_readback_window(mirror, s, span,
						    hmmsim_window_end(addr, span->end),
						    access);
		if (!ret)
			ret = hmmsim_window_done();
		if (ret)
			return ret;
	}
	return 0;
}

/**
 * hmmsim_mirror_check_exclusive() - whether the device holds atomics access
 * @mirror: the mirror.
 * @span: the range.
 *
 * Return: -EPERM if the device still holds exclusive access to a page of the
 * range, 0 otherwise.
 */
int hmmsim_mirror_check_exclusive(struct hmmsim_mirror *mirror,
				  const struct hmmsim_span *span)
{
	unsigned long addr, next;
	bool busy;
	int ret;

	/*
	 * From one populated block to the next, a gigabyte at a time, so
	 * that the cost follows what the device maps, not the range's size.
	 */
	for (addr = span->start; addr < span->end; addr = next) {
		mutex_lock(&mirror->pt_lock);
		addr = hmmsim_devpt_next_mapped(&mirror->pt, addr, span->end);
		next = min(ALIGN_DOWN(addr, SZ_1G) + SZ_1G, span->end);
		busy = addr < span->end &&
		       hmmsim_devpt_any_exclusive(&mirror->pt, addr, next);
		mutex_unlock(&mirror->pt_lock);
		if (busy)
			return -EPERM;
		ret = hmmsim_window_done();
		if (ret)
			return ret;
	}
	return 0;
}

/* Whether entry @i of @args leaves the device page tables: see below. */
static bool hmmsim_mirror_unmaps(const struct migrate_vma *args,
				 unsigned long i, struct hmmsim_device *stays)
{
	unsigned long src = args->src[i];

	return (src & MIGRATE_PFN_MIGRATE) &&
	       !(stays && hmmsim_is_own_page(migrate_pfn_to_page(src), stays));
}

/*
 * Clear each run of entries that leave, in one call: a clear in the middle
 * of a table looks at the whole table to see whether it can go.
 */
static void hmmsim_mirror_unmap_runs(struct hmmsim_mirror *mirror,
				     const struct migrate_vma *args,
				     struct hmmsim_device *stays)
{
	unsigned long i = 0, run;

	lockdep_assert_held(&mirror->pt_lock);
	while (i < args->npages) {
		if (!hmmsim_mirror_unmaps(args, i, stays)) {
			i++;
			continue;
		}
		for (run = i; i < args->npages &&
		     hmmsim_mirror_unmaps(args, i, stays);)
			i += hmmsim_mpfn_pages(args->src[i]);
		hmmsim_devpt_clear(&mirror->pt, args->start + (run << PAGE_SHIFT),
				   args->start + (i << PAGE_SHIFT));
	}
}

/**
 * hmmsim_mirrors_unmap_migrating() - unmap the pages a migration moves
 * @hdev: the device whose invalidations were skipped: args->pgmap_owner.
 * @mm: the address space.
 * @args: the migration, after migrate_vma_setup().
 * @stays: a device whose collected pages do not move (the destination, when
 *	its own pages are collected only to keep them busy), or NULL.
 *
 * The invalidate callback leaves this device's own migrations alone, so the
 * migration unmaps the pages it collected from every mirror of the device
 * on @mm, before the pages are copied and freed.
 */
void hmmsim_mirrors_unmap_migrating(struct hmmsim_device *hdev,
				    struct mm_struct *mm,
				    const struct migrate_vma *args,
				    struct hmmsim_device *stays)
{
	struct hmmsim_mirror *mirror;

	mutex_lock(&hdev->mirrors_lock);
	list_for_each_entry(mirror, &hdev->mirrors, link) {
		if (mirror->mm != mm)
			continue;
		mutex_lock(&mirror->pt_lock);
		hmmsim_mirror_unmap_runs(mirror, args, stays);
		mutex_unlock(&mirror->pt_lock);
	}
	mutex_unlock(&hdev->mirrors_lock);
}

/*
 * Whether mapping the pages of a migrated window needs 4 KiB tables: not
 * when each page that moved is in a 2 MiB folio, which gets a 2 MiB entry.
 */
static bool hmmsim_mirror_needs_tables(const struct migrate_vma *args)
{
	unsigned long i;

	for (i = 0; i < args->npages; i++) {
		unsigned long dst = args->dst[i];

		if (dst & HMMSIM_MIGRATE_PFN_COMPOUND)
			i += HMMSIM_CHUNK_PAGES - 1;
		else if (dst && (args->src[i] & MIGRATE_PFN_MIGRATE))
			return true;
	}
	return false;
}

/**
 * hmmsim_mirror_expect() - announce a window of a migration to the device
 * @mirror: the mirror whose device the window is migrating to.
 * @a: the window's arrival, the caller's until
 *	hmmsim_mirror_map_migrated().
 * @start: the window's first address.
 * @end: its end.
 *
 * Called before migrate_vma_setup() collects the window, with the mmap lock
 * held. From here until its pages arrive, an invalidation by another task
 * that clears part of the window marks it stale: a MADV_DONTNEED, say,
 * which zaps migration entries under the mmap read lock, leaving the new
 * pages unmapped once the migration finishes. Invalidations of other
 * windows, such as those of the next window a migration sets up while
 * this one is in flight, leave it alone; the notifier's sequence, which
 * every invalidation advances, could not tell them apart.
 *
 * An invalidation whose callback ran before this one, but which has not
 * finished changing the page tables, is caught by its sequence, recorded
 * here: while it lasts, the collection's own invalidation gets the same
 * one. Nothing waits for it, as mmu_interval_read_begin() would: the
 * migration may hold the collected pages of another window, which such an
 * invalidation may be waiting for (UFFDIO_MOVE waits on a migration entry
 * inside its invalidation).
 */
void hmmsim_mirror_expect(struct hmmsim_mirror *mirror,
			  struct hmmsim_arrival *a, unsigned long start,
			  unsigned long end)
{
	hmmsim_mmap_assert_locked(mirror->mm);
	*a = (struct hmmsim_arrival){
		.start = start,
		.end = end,
		.task = current,
	};
	mutex_lock(&mirror->pt_lock);
	a->seq = mirror->last_seq;
	list_add(&a->link, &mirror->arrivals);
	mutex_unlock(&mirror->pt_lock);
}

/* Map the pages that @args moved here, under @pt_lock. */
static void hmmsim_mirror_map_arrived(struct hmmsim_mirror *mirror,
				      const struct migrate_vma *args)
{
	unsigned long i;

	lockdep_assert_held(&mirror->pt_lock);
	for (i = 0; i < args->npages; i++) {
		unsigned long dst = args->dst[i];
		unsigned long addr = args->start + (i << PAGE_SHIFT);
		hmmsim_pte_t pte;
		int ret;

		if (!dst || !(args->src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		pte = hmmsim_make_pte(migrate_pfn_to_page(dst),
				      HMMSIM_PTE_VALID);
		if (dst & MIGRATE_PFN_WRITE)
			pte |= HMMSIM_PTE_WRITE;
		/* A 2 MiB folio gets a 2 MiB entry, as its PMD does. */
		if (dst & HMMSIM_MIGRATE_PFN_COMPOUND) {
			ret = hmmsim_devpt_set_block(&mirror->pt, addr, pte);
			i += HMMSIM_CHUNK_PAGES - 1;
		} else {
			ret = hmmsim_devpt_set(&mirror->pt, addr, pte);
		}
		if (ret)
			break;
	}
}

/**
 * hmmsim_mirror_map_migrated() - map the pages a migration brought here
 * @mirror: the mirror that ran the migration to its device.
 * @args: the migration, after migrate_vma_pages(), before
 *	migrate_vma_finalize().
 * @a: its arrival, from hmmsim_mirror_expect(); it is done with here.
 *
 * A cache fill, like hmmsim_devpt_map_range(): if @a went stale, or a table
 * cannot be had without sleeping, nothing is mapped, and the next device
 * access faults the pages in instead.
 */
void hmmsim_mirror_map_migrated(struct hmmsim_mirror *mirror,
				const struct migrate_vma *args,
				struct hmmsim_arrival *a)
{
	bool map = !hmmsim_mirror_needs_tables(args) ||
		   !hmmsim_devpt_prepare(&mirror->pt, args->start, args->end);

	mutex_lock(&mirror->pt_lock);
	if (map && !a->stale)
		hmmsim_mirror_map_arrived(mirror, args);
	list_del(&a->link);
	mutex_unlock(&mirror->pt_lock);
}

/**
 * hmmsim_mirror_map_exclusive() - map a page granted for exclusive access
 * @mirror: the mirror.
 * @addr: its address.
 * @page: the page made exclusive, present.
 * @seq: mmu_interval_read_begin() from before the grant.
 *
 * Return: 0, or -EAGAIN if the page was invalidated meanwhile (or a table
 * could not be allocated): drop the page and try again.
 */
int hmmsim_mirror_map_exclusive(struct hmmsim_mirror *mirror,
				unsigned long addr, struct page *page,
				unsigned long seq)
{
	int ret;

	ret = hmmsim_devpt_prepare(&mirror->pt, addr, addr + PAGE_SIZE);
	if (ret)
		return ret;

	mutex_lock(&mirror->pt_lock);
	if (mmu_interval_read_retry(&mirror->notifier, seq))
		ret = -EAGAIN;
	else
		ret = hmmsim_devpt_set(&mirror->pt, addr,
				       hmmsim_make_pte(page, HMMSIM_PTE_VALID |
						       HMMSIM_PTE_WRITE |
						       HMMSIM_PTE_EXCLUSIVE));
	mutex_unlock(&mirror->pt_lock);
	return ret;
}
