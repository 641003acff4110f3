// SPDX-License-Identifier: GPL-2.0
/**
 * DOC: Exclusive access
 *
 * HMM_DMIRROR_EXCLUSIVE gives the device exclusive access to a range for
 * its atomics: each page is made device-exclusive (the CPU's next access
 * takes it back, through the notifier) and mapped in the device page table
 * with %HMMSIM_PTE_EXCLUSIVE, one page at a time, released before the next
 * one is made exclusive. Where the kernel's make_device_exclusive_range()
 * does not handle THPs, a window with a PMD-mapped THP is first split to
 * small pages.
 *
 * Only private anonymous memory can hold device-exclusive entries; the
 * command layer refuses shared mappings and hugetlbfs before anything is
 * made exclusive.
 */
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/mmap_lock.h>
#include <linux/pagemap.h>
#include <linux/sched/signal.h>

#include "hmmsim_drv.h"

/*
 * make_device_exclusive_range() skips the tail pages of a large folio
 * (hmmsim_exclusive_splits_thp()). Split any PMD-mapped THP in [start, end)
 * into small pages first: migrate_vma_setup() splits a THP it collects, and
 * finalizing without destinations puts every page back where it was.
 */
static int hmmsim_exclusive_split_thp(struct hmmsim_scratch *s,
				      struct hmmsim_mirror *mirror,
				      struct vm_area_struct *vma, unsigned long start,
				      unsigned long end)
{
	struct hmm_range range = {
		.notifier = &mirror->notifier,
		.start = start,
		.end = end,
		.hmm_pfns = s->src,
		.dev_private_owner = mirror->hdev,
	};
	struct migrate_vma args = {
		.vma = vma,
		.src = s->src,
		.dst = s->dst,
		.start = start,
		.end = end,
		.pgmap_owner = mirror->hdev,
		.flags = MIGRATE_VMA_SELECT_SYSTEM,
	};
	unsigned long i, npages = (end - start) >> PAGE_SHIFT;
	bool thp = false;
	int ret;

	hmmsim_mmap_assert_locked(vma->vm_mm);
	range.notifier_seq = mmu_interval_read_begin(range.notifier);
	ret = hmm_range_fault(&range);
	if (ret)
		return ret;
	for (i = 0; i < npages && !thp; i++)
		thp = (s->src[i] & HMM_PFN_VALID) &&
		      hmm_pfn_to_map_order(s->src[i]);
	if (!thp)
		return 0;

	ret = migrate_vma_setup(&args);
	if (ret)
		return ret;
	hmmsim_mirrors_unmap_migrating(mirror->hdev, vma->vm_mm, &args, NULL);
	memset(s->dst, 0, npages * sizeof(*s->dst));
	migrate_vma_pages(&args);
	migrate_vma_finalize(&args);
	return 0;
}

/*
 * Whether a large folio is among @pages. Before make_device_exclusive()
 * (hmmsim_exclusive_splits_thp()), make_device_exclusive_range() of one
 * page of a large folio makes every PTE of the folio in the VMA
 * device-exclusive, not that page's alone: a large folio still there after
 * hmmsim_exclusive_split_thp() (one already mapped by PTEs, which a module
 * cannot split) is refused instead.
 */
static bool hmmsim_exclusive_any_large(struct page **pages, long n)
{
	long i;

	for (i = 0; i < n; i++)
		if (folio_test_large(page_folio(pages[i])))
			return true;
	return false;
}

/*
 * Make the page at @addr exclusive to the device and map it for atomics.
 * The page comes back locked: it is released before the next one is made
 * exclusive (see hmmsim_make_device_exclusive()).
 */
static int hmmsim_exclusive_page(struct hmmsim_mirror *mirror,
				 unsigned long addr)
{
	unsigned long seq = mmu_interval_read_begin(&mirror->notifier);
	struct page *page;
	int ret;

	page = hmmsim_make_device_exclusive(mirror->mm, addr, mirror->hdev);
	if (IS_ERR(page))
		return PTR_ERR(page);
	ret = hmmsim_mirror_map_exclusive(mirror, addr, page, seq);
	/* The device mapping is in place: CPU access may now revoke it. */
	unlock_page(page);
	put_page(page);
	return ret;
}

/* One window [start, end) of @vma, with the mmap lock held. */
static int hmmsim_exclusive_window(struct hmmsim_scratch *s,
				   struct hmmsim_mirror *mirror,
				   struct vm_area_struct *vma,
				   unsigned long start, unsigned long end)
{
	unsigned long addr, npages = (end - start) >> PAGE_SHIFT;
	long pinned;
	int ret = 0;

	hmmsim_mmap_assert_locked(mirror->mm);
	if (hmmsim_exclusive_splits_thp()) {
		ret = hmmsim_exclusive_split_thp(s, mirror, vma, start, end);
		if (ret)
			return ret;
	}
	/*
	 * A page in device coherent memory must never become device-exclusive:
	 * before 6.15 a device-exclusive entry holds a page reference the rmap
	 * does not see, and migrate_device_range() (eviction) turns such an
	 * entry into a present mapping with one reference too many, so the
	 * page is never freed and outlives its anon_vma. A long-term pin moves
	 * coherent pages to system memory (as for any long-term pin), and
	 * holding it until the entries are made keeps another thread from
	 * migrating them back meanwhile.
	 */
	pinned = hmmsim_pin_user_pages_remote(mirror->mm, start, npages,
					      FOLL_WRITE | FOLL_LONGTERM,
					      s->pages);
	if (pinned < 0)
		return pinned;
	if (pinned < npages || (hmmsim_exclusive_splits_thp() &&
				hmmsim_exclusive_any_large(s->pages, pinned))) {
		unpin_user_pages(s->pages, pinned);
		return -EBUSY;
	}
	for (addr = start; addr < end && !ret; addr += PAGE_SIZE)
		ret = hmmsim_exclusive_page(mirror, addr);
	unpin_user_pages(s->pages, pinned);
	return ret;
}

/*
 * Lock the mm and make the window at @addr exclusive; *@next is set to its
 * end. -EAGAIN and -EBUSY are worth a retry.
 */
static int hmmsim_exclusive_try(struct hmmsim_scratch *s,
				struct hmmsim_mirror *mirror,
				unsigned long addr, unsigned long end,
				unsigned long *next)
{
	struct vm_area_struct *vma;
	int ret;

	if (mmap_read_lock_killable(mirror->mm))
		return -EINTR;
	vma = vma_lookup(mirror->mm, addr);
	if (!vma || !(vma->vm_flags & VM_READ)) {
		ret = -EINVAL;
	} else {
		*next = min(hmmsim_window_end(addr, end), vma->vm_end);
		ret = hmmsim_exclusive_window(s, mirror, vma, addr, *next);
	}
	mmap_read_unlock(mirror->mm);
	return ret;
}

/**
 * hmmsim_exclusive() - give the device exclusive access to a range
 * @mirror: the mirror.
 * @s: the command's scratch buffers.
 * @span: the range: private anonymous memory.
 *
 * A window whose pages cannot all be made exclusive (a page under
 * migration, a racing fault) is tried up to eight times.
 *
 * Return: 0, -EBUSY if a page could not be made exclusive, -EINVAL if the
 * VMAs changed, or another negative errno.
 */
int hmmsim_exclusive(struct hmmsim_mirror *mirror, struct hmmsim_scratch *s,
		     const struct hmmsim_span *span)
{
	unsigned long addr, next;
	int ret = 0, tries;

	for (addr = span->start; addr < span->end; addr = next) {
		for (tries = 0; tries < 8; tries++) {
			ret = hmmsim_exclusive_try(s, mirror, addr, span->end,
						   &next);
			if (ret != -EAGAIN && ret != -EBUSY)
				break;
			if (fatal_signal_pending(current))
				return -EINTR;
			cond_resched();
		}
		if (ret == -EAGAIN)
			ret = -EBUSY;
		if (ret)
			return ret;
	}
	return 0;
}
