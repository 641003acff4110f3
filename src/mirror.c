// SPDX-License-Identifier: GPL-2.0
/*
 * hmmsim: the mirror of a process's address space in the device.
 *
 * Each open file is a mirror: an mmu_interval_notifier over the whole
 * address space of the bound mm, and a device page table (devpt.c) filled
 * with hmm_range_fault() and emptied by the notifier. The device's own
 * accesses (READ, WRITE, the read-back of MIGRATE_TO_DEV and EXCLUSIVE) go
 * through that page table, the way a device's do through its MMU, and take
 * a fault into hmm_range_fault() when an entry is missing.
 */
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/mmap_lock.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "hmmsim_drv.h"
#include "trace.h"

/**
 * DOC: mirror locking
 *
 * ``mirror->lock`` is the "driver update lock" of Documentation/mm/hmm.rst.
 * It protects the device page table, and it is the only lock the
 * invalidate callback takes. Everything that maps pages into the device
 * page table follows the documented sequence::
 *
 *	seq = mmu_interval_read_begin(&mirror->notifier);
 *	hmm_range_fault(&range);		(under mmap_read_lock)
 *	mutex_lock(&mirror->lock);
 *	if (mmu_interval_read_retry(&mirror->notifier, seq))
 *		unlock and start again;
 *	update the device page table;
 *	mutex_unlock(&mirror->lock);
 *
 * and everything that reads through the device page table (device READ and
 * WRITE) holds the lock for the whole access, so that an invalidation, which
 * must take the lock before the CPU can free or move the page, waits for
 * the access to finish.
 *
 * The invalidate callback runs under reclaim (try_to_unmap() from the page
 * allocator), so nothing may allocate memory with direct reclaim while
 * holding ``mirror->lock``: the device page table allocates with
 * GFP_NOWAIT under it and otherwise asks the caller to retry after
 * hmmsim_devpt_prepare(). Lockdep is told at mirror creation that
 * ``mirror->lock`` nests inside reclaim, so a violation is reported the
 * first time the code runs, not the first time reclaim happens to hit it.
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
 * - MMU_NOTIFY_EXCLUSIVE with owner == this device:
 *   make_device_exclusive*() giving this device exclusive access. The
 *   pages do not change, so there is nothing to invalidate, and the
 *   exclusive path's own read_retry must not be defeated by it.
 *
 * Eviction (RELEASE, close, device memory pressure, device removal) uses
 * migrate_device_range(), which holds neither the mmap lock nor a reference
 * on the anon_vma of the pages it unmaps; the rmap needs one or the other
 * to put them back. Each page is therefore evicted under the mmap lock (for
 * reading) of the process of the mirror that owns it (hmmsim_evict_pages()):
 * RELEASE and close take their own; an allocation that evicts already holds
 * its own and takes the others' with a trylock, leaving the pages of a
 * process whose lock is contended where they are.
 *
 * Lock order: ``hdev->lock``, then mmap_lock, then ``hdev->mirrors_lock``,
 * then ``mirror->lock``, then the device memory's spinlock. Another
 * process's mmap_lock is only ever trylocked.
 */

/**
 * struct hmmsim_xfer - what a command needs to move data, reused
 * @mirror: the mirror.
 * @pfns: hmm_range_fault() output for one window.
 * @upages: the pinned pages of the user buffer for one window.
 * @codes: SNAPSHOT codes for one window.
 * @batch: the copy batch.
 *
 * Each mirror keeps one, for the commands on its file; a command that finds
 * it in use (another thread of the process) makes its own.
 */
struct hmmsim_xfer {
	struct hmmsim_mirror *mirror;
	unsigned long *pfns;
	struct page **upages;
	u8 *codes;
	struct hmmsim_copy_batch batch;
};

static void hmmsim_xfer_free(struct hmmsim_xfer *x)
{
	if (!x)
		return;
	hmmsim_copy_batch_fini(&x->batch);
	kvfree(x->codes);
	kvfree(x->upages);
	kvfree(x->pfns);
	kfree(x);
}

static struct hmmsim_xfer *hmmsim_xfer_alloc(struct hmmsim_mirror *mirror)
{
	struct hmmsim_xfer *x = kzalloc(sizeof(*x), GFP_KERNEL);

	if (!x)
		return NULL;
	x->mirror = mirror;
	x->pfns = kvmalloc_array(HMMSIM_WINDOW_PAGES, sizeof(*x->pfns),
				 GFP_KERNEL);
	/* A window of user buffer may straddle one more page. */
	x->upages = kvmalloc_array(HMMSIM_WINDOW_PAGES + 1, sizeof(*x->upages),
				   GFP_KERNEL);
	x->codes = kvmalloc(HMMSIM_WINDOW_PAGES, GFP_KERNEL);
	/* A page of user buffer may straddle two user pages. */
	if (!x->pfns || !x->upages || !x->codes ||
	    hmmsim_copy_batch_init(&x->batch, mirror->hdev,
				   2 * HMMSIM_WINDOW_PAGES, GFP_KERNEL)) {
		hmmsim_xfer_free(x);
		return NULL;
	}
	return x;
}

/* The mirror's transfer context, or a new one if it is busy. */
static struct hmmsim_xfer *hmmsim_xfer_get(struct hmmsim_mirror *mirror)
{
	if (mutex_trylock(&mirror->xfer_lock)) {
		if (!mirror->xfer)
			mirror->xfer = hmmsim_xfer_alloc(mirror);
		if (mirror->xfer)
			return mirror->xfer;
		mutex_unlock(&mirror->xfer_lock);
		return NULL;
	}
	return hmmsim_xfer_alloc(mirror);
}

static void hmmsim_xfer_put(struct hmmsim_xfer *x)
{
	if (x == x->mirror->xfer)
		mutex_unlock(&x->mirror->xfer_lock);
	else
		hmmsim_xfer_free(x);
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
		mutex_lock(&mirror->lock);
	else if (!mutex_trylock(&mirror->lock))
		return false;

	mmu_interval_set_seq(mni, cur_seq);
	if (!skip) {
		hmmsim_devpt_clear(&mirror->pt, range->start, range->end);
		hmmsim_count(hdev, HMMSIM_STAT_INVALIDATIONS, 1);
	}

	mutex_unlock(&mirror->lock);
	return true;
}

static const struct mmu_interval_notifier_ops hmmsim_mirror_ops = {
	.invalidate = hmmsim_mirror_invalidate,
};

/**
 * hmmsim_mirror_create() - mirror the calling process on a device
 * @hdev: the device.
 *
 * Return: the mirror, or an ERR_PTR().
 */
struct hmmsim_mirror *hmmsim_mirror_create(struct hmmsim_device *hdev)
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
	mirror->mm = current->mm;
	mutex_init(&mirror->lock);
	mutex_init(&mirror->xfer_lock);
	mutex_init(&mirror->mig_lock);
	hmmsim_devpt_init(&mirror->pt);

	/* Teach lockdep that the invalidate callback runs under reclaim. */
	if (IS_ENABLED(CONFIG_LOCKDEP)) {
		fs_reclaim_acquire(GFP_KERNEL);
		might_lock(&mirror->lock);
		fs_reclaim_release(GFP_KERNEL);
	}

	ret = mmu_interval_notifier_insert(&mirror->notifier, mirror->mm, 0,
					   ULONG_MAX & PAGE_MASK,
					   &hmmsim_mirror_ops);
	if (ret) {
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
 * hmmsim_mirror_destroy() - tear a mirror down when its file is released
 * @mirror: the mirror; no command can be running on it.
 *
 * The pages this file moved to the device go back to system memory first,
 * unless the evict_on_close module parameter says otherwise: then they stay
 * on the device, still mapped by the process, until it touches or frees
 * them or the device goes away. Works whether or not the mm is still alive.
 */
void hmmsim_mirror_destroy(struct hmmsim_mirror *mirror)
{
	struct hmmsim_device *hdev = mirror->hdev;
	bool alive;

	/*
	 * The device memory cannot go away meanwhile; if it is gone, so are
	 * its pages, and there is nothing to bring home or disown.
	 */
	down_read(&hdev->lock);
	alive = !hdev->dead;
	if (alive && READ_ONCE(hmmsim_evict_on_close))
		hmmsim_evict_owned(mirror);

	mutex_lock(&hdev->mirrors_lock);
	list_del(&mirror->link);
	mutex_unlock(&hdev->mirrors_lock);

	mmu_interval_notifier_remove(&mirror->notifier);
	if (alive)
		hmmsim_devmem_disown(hdev, mirror);
	up_read(&hdev->lock);
	hmmsim_xfer_free(mirror->xfer);
	hmmsim_migration_free(mirror->mig);
	hmmsim_devpt_fini(&mirror->pt);
	mmdrop(mirror->mm);
	kfree(mirror);
}

static bool hmmsim_pfns_writable(const struct hmm_range *range)
{
	unsigned long i, n = (range->end - range->start) >> PAGE_SHIFT;

	for (i = 0; i < n; i++)
		if (!(range->hmm_pfns[i] & HMM_PFN_WRITE))
			return false;
	return true;
}

/*
 * hmm_range_fault() one window and commit what it found to the device page
 * table: the loop of Documentation/mm/hmm.rst. @fault_flags are the
 * HMM_PFN_REQ_* to fault with, zero to take a snapshot without faulting.
 */
static int hmmsim_mirror_range_fault(struct hmmsim_xfer *x, unsigned long start,
				     unsigned long end,
				     unsigned long fault_flags)
{
	struct hmmsim_mirror *mirror = x->mirror;
	unsigned long timeout =
		jiffies + msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT);
	struct hmm_range range = {
		.notifier = &mirror->notifier,
		.start = start,
		.end = end,
		.hmm_pfns = x->pfns,
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
		ret = hmm_range_fault(&range);
		mmap_read_unlock(mirror->mm);
		if (ret == -EBUSY)
			continue;
		if (ret)
			return ret;

		/*
		 * hmm_range_fault() reports this device's own private pages
		 * without faulting them, so one that is mapped read-only
		 * (shared after fork, or in a read-only VMA) comes back
		 * without write permission from a write fault. Bring such
		 * pages home and fault again: the CPU's write fault then
		 * breaks the sharing, or fails with -EPERM.
		 */
		if ((fault_flags & HMM_PFN_REQ_WRITE) &&
		    !hmmsim_pfns_writable(&range)) {
			ret = hmmsim_migrate_home(mirror, start, end);
			if (ret)
				return ret;
			continue;
		}

		mutex_lock(&mirror->lock);
		if (mmu_interval_read_retry(range.notifier,
					    range.notifier_seq)) {
			mutex_unlock(&mirror->lock);
			continue;
		}
		ret = hmmsim_devpt_map_range(&mirror->pt, &range);
		mutex_unlock(&mirror->lock);
		if (ret == -EAGAIN)
			continue;
		if (!ret && fault_flags) {
			hmmsim_count(mirror->hdev, HMMSIM_STAT_DEVICE_FAULTS, 1);
			trace_hmmsim_fault(mirror->hdev->id, start, end,
					   fault_flags & HMM_PFN_REQ_WRITE);
		}
		return ret;
	}
}

/* Fault [start, end) into the device page table, window by window. */
static int hmmsim_mirror_fault(struct hmmsim_xfer *x, unsigned long start,
			       unsigned long end, bool write)
{
	unsigned long flags = HMM_PFN_REQ_FAULT | (write ? HMM_PFN_REQ_WRITE : 0);
	unsigned long addr, next;
	int ret;

	for (addr = start; addr < end; addr = next) {
		next = hmmsim_window_end(addr, end);
		ret = hmmsim_mirror_range_fault(x, addr, next, flags);
		if (!ret)
			ret = hmmsim_window_done();
		if (ret)
			return ret;
	}
	return 0;
}

enum hmmsim_access {
	HMMSIM_ACCESS_READ,
	HMMSIM_ACCESS_WRITE,
	HMMSIM_ACCESS_READ_LOCAL,	/* only pages in this device's memory */
};

/*
 * Pin the user pages behind [uptr, uptr + len) into x->upages, for the
 * device to write (@write) or read. Returns the number pinned, or -EFAULT
 * if any is missing.
 */
static long hmmsim_pin_user(struct hmmsim_xfer *x, unsigned long uptr,
			    unsigned long len, bool write)
{
	unsigned long first = uptr & PAGE_MASK;
	long n = DIV_ROUND_UP(uptr + len - first, PAGE_SIZE), got;

	got = pin_user_pages_fast(first, n, write ? FOLL_WRITE : 0, x->upages);
	if (got == n)
		return n;
	if (got > 0)
		unpin_user_pages(x->upages, got);
	return -EFAULT;
}

/* Add the copy of one device page to or from the pinned user buffer. */
static void hmmsim_add_user_copy(struct hmmsim_xfer *x, struct page *page,
				 unsigned long ubyte, bool to_user)
{
	unsigned int off = offset_in_page(ubyte), done = 0;
	struct page **up = &x->upages[ubyte >> PAGE_SHIFT];

	/* An unaligned user buffer splits the page in two descriptors. */
	while (done < PAGE_SIZE) {
		struct hmmsim_copy_desc d = {
			.len = min_t(unsigned int, PAGE_SIZE - off,
				     PAGE_SIZE - done),
		};

		if (to_user) {
			hmmsim_copy_endpoint(page, &d.src_page, &d.src_addr);
			d.src_off = done;
			d.dst_page = *up;
			d.dst_off = off;
		} else {
			d.src_page = *up;
			d.src_off = off;
			hmmsim_copy_endpoint(page, &d.dst_page, &d.dst_addr);
			d.dst_off = done;
		}
		hmmsim_copy_add(&x->batch, &d);
		done += d.len;
		off = 0;
		up++;
	}
}

/*
 * Copy between the user buffer at @uptr and the pages the device page table
 * maps for [start, end), stopping at the first page the table does not
 * allow. The user pages are pinned for the copy, which goes straight
 * between them and the device's pages through the copy engine, holding the
 * mirror lock. Returns the pages copied, or a negative errno.
 */
static long hmmsim_mirror_access(struct hmmsim_xfer *x, unsigned long start,
				 unsigned long end, enum hmmsim_access access,
				 unsigned long uptr)
{
	bool to_user = access != HMMSIM_ACCESS_WRITE;
	struct hmmsim_mirror *mirror = x->mirror;
	unsigned long ubyte = offset_in_page(uptr);
	struct hmmsim_chunk *last = NULL;
	unsigned long addr, n = 0;
	long pinned;
	int ret;

	pinned = hmmsim_pin_user(x, uptr, end - start, to_user);
	if (pinned < 0)
		return pinned;

	hmmsim_copy_batch_reset(&x->batch);
	mutex_lock(&mirror->lock);
	for (addr = start; addr < end; addr += PAGE_SIZE, n++) {
		hmmsim_pte_t pte = hmmsim_devpt_lookup(&mirror->pt, addr);
		struct page *page;

		if (!(pte & HMMSIM_PTE_VALID))
			break;
		if (access == HMMSIM_ACCESS_WRITE && !(pte & HMMSIM_PTE_WRITE))
			break;
		page = pfn_to_page(hmmsim_pte_pfn(pte));
		if (hmmsim_is_device_page(page))
			hmmsim_devmem_touch(page, &last);
		if (access == HMMSIM_ACCESS_READ_LOCAL &&
		    (!hmmsim_is_device_page(page) ||
		     hmmsim_page_device(page) != mirror->hdev))
			break;
		hmmsim_add_user_copy(x, page, ubyte + (n << PAGE_SHIFT),
				     to_user);
	}
	hmmsim_copy_submit(&x->batch);
	ret = hmmsim_copy_wait(&x->batch);
	mutex_unlock(&mirror->lock);

	if (to_user)
		unpin_user_pages_dirty_lock(x->upages, pinned, true);
	else
		unpin_user_pages(x->upages, pinned);
	return ret ? ret : n;
}

/*
 * The device reads (or writes) the range through its page table; the first
 * missing entry faults the rest of the range in (one fault, counted in
 * @cmd->faults) and the access goes on. An entry missing after that was
 * invalidated meanwhile (khugepaged, reclaim, another thread): it is
 * faulted back, but not counted again.
 */
static int hmmsim_mirror_rw(struct hmmsim_mirror *mirror,
			    struct hmm_dmirror_cmd *cmd, bool write)
{
	enum hmmsim_access access = write ? HMMSIM_ACCESS_WRITE :
					    HMMSIM_ACCESS_READ;
	unsigned long end = cmd->addr + (cmd->npages << PAGE_SHIFT);
	unsigned long addr = cmd->addr, uptr = cmd->ptr;
	bool faulted = false;
	struct hmmsim_xfer *x;
	long n;
	int ret = 0;

	x = hmmsim_xfer_get(mirror);
	if (!x)
		return -ENOMEM;

	while (addr < end) {
		unsigned long next = hmmsim_window_end(addr, end);

		n = hmmsim_mirror_access(x, addr, next, access, uptr);
		if (n < 0) {
			ret = n;
			break;
		}
		addr += n << PAGE_SHIFT;
		uptr += n << PAGE_SHIFT;
		cmd->cpages += n;
		if (addr < next) {
			ret = hmmsim_mirror_fault(x, addr, end, write);
			if (ret)
				break;
			if (!faulted)
				cmd->faults++;
			faulted = true;
		}
		ret = hmmsim_window_done();
		if (ret)
			break;
	}
	hmmsim_xfer_put(x);
	return ret;
}

/**
 * hmmsim_mirror_read() - HMM_DMIRROR_READ: the device reads the range
 * @mirror: the mirror.
 * @cmd: the validated command; cpages and faults are updated.
 *
 * Pages are read through the device page table; the first missing entry
 * faults the rest of the range in (one fault, counted in @cmd->faults) and
 * the read goes on.
 *
 * Return: 0 or a negative errno; the pages read before an error are in the
 * user buffer and counted in @cmd->cpages.
 */
int hmmsim_mirror_read(struct hmmsim_mirror *mirror,
		       struct hmm_dmirror_cmd *cmd)
{
	return hmmsim_mirror_rw(mirror, cmd, false);
}

/**
 * hmmsim_mirror_write() - HMM_DMIRROR_WRITE: the device writes the range
 * @mirror: the mirror.
 * @cmd: the validated command; cpages and faults are updated.
 *
 * Like hmmsim_mirror_read(), with write faults.
 *
 * Return: 0 or a negative errno (-EPERM for a range the process cannot
 * write).
 */
int hmmsim_mirror_write(struct hmmsim_mirror *mirror,
			struct hmm_dmirror_cmd *cmd)
{
	return hmmsim_mirror_rw(mirror, cmd, true);
}

/**
 * hmmsim_mirror_prefetch() - fault a range into the device page table
 * @mirror: the mirror.
 * @start: first address, page aligned.
 * @end: end address.
 * @write: fault for write access, not only read.
 *
 * What a device does before it touches a buffer: no page moves, and the
 * device's later accesses to the range find their entries.
 *
 * Return: 0 or a negative errno (-EFAULT for a hole, -EPERM for a write to
 * a range the process cannot write).
 */
int hmmsim_mirror_prefetch(struct hmmsim_mirror *mirror, unsigned long start,
			   unsigned long end, bool write)
{
	struct hmmsim_xfer *x;
	int ret;

	x = hmmsim_xfer_get(mirror);
	if (!x)
		return -ENOMEM;
	ret = hmmsim_mirror_fault(x, start, end, write);
	hmmsim_xfer_put(x);
	return ret;
}

static u8 hmmsim_prot_code(struct hmmsim_device *hdev, unsigned long hmm_pfn)
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
		prot = hmmsim_is_device_page(page) &&
		       hmmsim_page_device(page) == hdev ?
		       HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL :
		       HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE;
	else if (is_device_coherent_page(page))
		prot = hmmsim_is_device_page(page) &&
		       hmmsim_page_device(page) == hdev ?
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
 * hmmsim_mirror_snapshot() - HMM_DMIRROR_SNAPSHOT
 * @mirror: the mirror.
 * @cmd: the validated command; cpages is updated.
 *
 * Looks at the range without faulting anything in, maps what is there into
 * the device page table (a PMD-mapped THP as one 2 MiB entry), and reports
 * one HMM_DMIRROR_PROT_* code per page.
 *
 * Return: 0 or a negative errno.
 */
int hmmsim_mirror_snapshot(struct hmmsim_mirror *mirror,
			   struct hmm_dmirror_cmd *cmd)
{
	unsigned long end = cmd->addr + (cmd->npages << PAGE_SHIFT);
	u8 __user *uptr = u64_to_user_ptr(cmd->ptr);
	unsigned long addr, next, i, n;
	struct hmmsim_xfer *x;
	int ret = 0;

	x = hmmsim_xfer_get(mirror);
	if (!x)
		return -ENOMEM;

	for (addr = cmd->addr; addr < end; addr = next) {
		next = hmmsim_window_end(addr, end);
		n = (next - addr) >> PAGE_SHIFT;
		ret = hmmsim_mirror_range_fault(x, addr, next, 0);
		if (ret)
			break;
		for (i = 0; i < n; i++)
			x->codes[i] = hmmsim_prot_code(mirror->hdev, x->pfns[i]);
		if (copy_to_user(uptr, x->codes, n)) {
			ret = -EFAULT;
			break;
		}
		uptr += n;
		cmd->cpages += n;
		ret = hmmsim_window_done();
		if (ret)
			break;
	}
	hmmsim_xfer_put(x);
	return ret;
}

/**
 * hmmsim_mirror_readback() - read a range the device just took over
 * @mirror: the mirror.
 * @cmd: the command (MIGRATE_TO_DEV or EXCLUSIVE); cpages is set.
 * @local_only: every page must be in this device's memory.
 *
 * Maps what is present without faulting, then reads through the device page
 * table. Used to return the data of a migration or an exclusive grant, and
 * to check that it took: a page the device does not hold gives -ENOENT.
 *
 * Return: 0, -ENOENT, or another negative errno.
 */
int hmmsim_mirror_readback(struct hmmsim_mirror *mirror,
			   struct hmm_dmirror_cmd *cmd, bool local_only)
{
	unsigned long end = cmd->addr + (cmd->npages << PAGE_SHIFT);
	enum hmmsim_access access = local_only ? HMMSIM_ACCESS_READ_LOCAL :
						 HMMSIM_ACCESS_READ;
	unsigned long addr, next, uptr = cmd->ptr;
	struct hmmsim_xfer *x;
	long n;
	int ret = 0;

	x = hmmsim_xfer_get(mirror);
	if (!x)
		return -ENOMEM;

	cmd->cpages = 0;
	for (addr = cmd->addr; addr < end; addr = next) {
		bool looked = false;

		next = hmmsim_window_end(addr, end);
		while (addr < next) {
			n = hmmsim_mirror_access(x, addr, next, access, uptr);
			if (n < 0) {
				ret = n;
				goto out;
			}
			addr += n << PAGE_SHIFT;
			uptr += n << PAGE_SHIFT;
			cmd->cpages += n;
			if (addr == next)
				break;
			/*
			 * Not mapped (yet): map what is there, without
			 * faulting, and look once more.
			 */
			if (looked) {
				ret = -ENOENT;
				goto out;
			}
			ret = hmmsim_mirror_range_fault(x, addr, next, 0);
			if (ret)
				goto out;
			looked = true;
		}
		ret = hmmsim_window_done();
		if (ret)
			break;
	}
out:
	hmmsim_xfer_put(x);
	return ret;
}

/**
 * hmmsim_mirror_check_exclusive() - HMM_DMIRROR_CHECK_EXCLUSIVE
 * @mirror: the mirror.
 * @cmd: the validated command.
 *
 * Return: -EPERM if the device still holds exclusive access to a page of the
 * range, 0 otherwise.
 */
int hmmsim_mirror_check_exclusive(struct hmmsim_mirror *mirror,
				  struct hmm_dmirror_cmd *cmd)
{
	unsigned long end = cmd->addr + (cmd->npages << PAGE_SHIFT);
	unsigned long addr, next;
	bool busy;
	int ret;

	/*
	 * From one populated block to the next, a gigabyte at a time, so
	 * that the cost follows what the device maps, not the range's size.
	 */
	for (addr = cmd->addr; addr < end; addr = next) {
		mutex_lock(&mirror->lock);
		addr = hmmsim_devpt_next_mapped(&mirror->pt, addr, end);
		next = min(ALIGN_DOWN(addr, SZ_1G) + SZ_1G, end);
		busy = addr < end &&
		       hmmsim_devpt_any_exclusive(&mirror->pt, addr, next);
		mutex_unlock(&mirror->lock);
		if (busy)
			return -EPERM;
		ret = hmmsim_window_done();
		if (ret)
			return ret;
	}
	return 0;
}

/* Whether a collected page is one of @hdev's own, which stays put. */
static bool hmmsim_page_stays(unsigned long src, struct hmmsim_device *stays)
{
	struct page *page = migrate_pfn_to_page(src);

	return stays && page && hmmsim_is_device_page(page) &&
	       hmmsim_page_device(page) == stays;
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
	unsigned long i;

	mutex_lock(&hdev->mirrors_lock);
	list_for_each_entry(mirror, &hdev->mirrors, link) {
		if (mirror->mm != mm)
			continue;
		mutex_lock(&mirror->lock);
		for (i = 0; i < args->npages; i++)
			if ((args->src[i] & MIGRATE_PFN_MIGRATE) &&
			    !hmmsim_page_stays(args->src[i], stays))
				hmmsim_devpt_clear_page(&mirror->pt,
							args->start +
							(i << PAGE_SHIFT));
		mutex_unlock(&mirror->lock);
	}
	mutex_unlock(&hdev->mirrors_lock);
}

/**
 * hmmsim_mirror_map_migrated() - map the pages a migration brought here
 * @mirror: the mirror that ran the migration to its device.
 * @args: the migration, after migrate_vma_pages().
 * @seq: mmu_interval_read_begin() from after migrate_vma_setup().
 *
 * A cache fill, like hmmsim_devpt_map_range(): if anything invalidated the
 * range since @seq, or a table cannot be had without sleeping, nothing is
 * mapped, and the next device access faults the pages in instead.
 */
void hmmsim_mirror_map_migrated(struct hmmsim_mirror *mirror,
				const struct migrate_vma *args,
				unsigned long seq)
{
	unsigned long i;

	if (hmmsim_devpt_prepare(&mirror->pt, args->start, args->end))
		return;
	mutex_lock(&mirror->lock);
	if (mmu_interval_read_retry(&mirror->notifier, seq))
		goto out;
	for (i = 0; i < args->npages; i++) {
		unsigned long dst = args->dst[i];
		hmmsim_pte_t pte;

		if (!dst || !(args->src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		pte = ((hmmsim_pte_t)page_to_pfn(migrate_pfn_to_page(dst)) <<
		       PAGE_SHIFT) | HMMSIM_PTE_VALID;
		if (dst & MIGRATE_PFN_WRITE)
			pte |= HMMSIM_PTE_WRITE;
		if (hmmsim_devpt_set(&mirror->pt, args->start + (i << PAGE_SHIFT),
				     pte))
			break;
	}
out:
	mutex_unlock(&mirror->lock);
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

	mutex_lock(&mirror->lock);
	if (mmu_interval_read_retry(&mirror->notifier, seq))
		ret = -EAGAIN;
	else
		ret = hmmsim_devpt_set(&mirror->pt, addr,
				       ((hmmsim_pte_t)page_to_pfn(page) <<
					PAGE_SHIFT) | HMMSIM_PTE_VALID |
				       HMMSIM_PTE_WRITE | HMMSIM_PTE_EXCLUSIVE);
	mutex_unlock(&mirror->lock);
	return ret;
}
