// SPDX-License-Identifier: GPL-2.0
/**
 * DOC: Eviction
 *
 * Device memory is bounded. When an allocation finds the device full,
 * hmmsim_evict_alloc() evicts the least recently used chunk (2 MiB) with
 * pages in use to system memory and tries again, as a real driver does;
 * pages that are busy (in a migration, this very one too) stay. A mirror's
 * pages also go home on HMM_DMIRROR_RELEASE and when its file is closed
 * (hmmsim_evict_owned()), and every page does when the device is removed
 * (hmmsim_evict_all()).
 *
 * Eviction works on device pages, not on addresses, with
 * migrate_device_range(), which takes neither the mmap lock nor a
 * reference on the anon_vma of the pages it unmaps: if the process
 * unmapped them meanwhile, migrate_device_finalize() would walk a freed
 * anon_vma to put them back (the rmap needs one or the other). So every
 * page is evicted under the mmap lock of the process of the mirror that
 * owns it, the mirror it was allocated for (hmmsim_devmem_owner()): that of
 * the mirror evicting, which the caller holds, or one taken here with a
 * trylock, since the caller may hold another process's mmap lock already;
 * the pages of a process whose lock is contended stay. Pages without an
 * owner (their file was closed with evict_on_close off) are evicted
 * without.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/delay.h>
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/mmap_lock.h>
#include <linux/sched/mm.h>

#include "hmmsim_drv.h"
#include "trace.h"

/*
 * Teardown works in windows of a chunk, aligned to one, so that a 2 MiB
 * folio is never cut in two (migrate_device_range() would skip it).
 */
#define HMMSIM_EVICT_PAGES	HMMSIM_CHUNK_PAGES

/* End of the eviction window from @idx: the chunk's end, or @end. */
static unsigned long hmmsim_evict_window_end(unsigned long idx,
					     unsigned long end)
{
	return min(ALIGN_DOWN(idx, HMMSIM_EVICT_PAGES) + HMMSIM_EVICT_PAGES,
		   end);
}

/*
 * Move the device pages [idx, idx + n) to system memory, as they are.
 * Eviction is best effort: a page that cannot move (busy, or no system
 * memory for it) stays where it is, so only the count of pages moved
 * matters, here and in the functions below.
 */
static unsigned long hmmsim_evict_run(struct hmmsim_scratch *s,
				      unsigned long idx, unsigned long n,
				      gfp_t gfp)
{
	struct migrate_vma args = {
		.src = s->src,
		.dst = s->dst,
		.npages = n,
	};
	unsigned long moved = 0;

	migrate_device_range(s->src, s->hdev->mem.pfn_first + idx, n);
	hmmsim_move_to_system(s, NULL, &args, gfp, HMMSIM_TO_SYSTEM, &moved);
	return moved;
}

/* The mm of @owner, with a reference, if @owner is still a mirror of @hdev. */
static struct mm_struct *hmmsim_evict_owner_mm(struct hmmsim_device *hdev,
					       struct hmmsim_mirror *owner)
{
	struct hmmsim_mirror *mirror;
	struct mm_struct *mm = NULL;

	mutex_lock(&hdev->mirrors_lock);
	list_for_each_entry(mirror, &hdev->mirrors, link) {
		if (mirror == owner) {
			mm = mirror->mm;
			mmgrab(mm);
			break;
		}
	}
	mutex_unlock(&hdev->mirrors_lock);
	return mm;
}

/* Evict the run [idx, idx + n) of @owner's pages under its mmap lock. */
static unsigned long hmmsim_evict_owner_run(struct hmmsim_scratch *s,
					    struct hmmsim_mirror *owner,
					    unsigned long idx, unsigned long n,
					    gfp_t gfp)
{
	struct mm_struct *mm = hmmsim_evict_owner_mm(s->hdev, owner);
	unsigned long moved = 0;

	if (!mm)
		return 0;	/* being closed: disowned shortly */
	if (mmap_read_trylock(mm)) {
		moved = hmmsim_evict_run(s, idx, n, gfp);
		mmap_read_unlock(mm);
	}
	mmdrop(mm);
	return moved;
}

/*
 * Move the device pages [idx, idx + n) that are in use to system memory,
 * run by run of pages with the same owner. @locked is the mirror whose mm
 * the caller holds locked, or NULL. Returns the pages moved.
 */
static unsigned long hmmsim_evict_pages(struct hmmsim_scratch *s,
					unsigned long idx, unsigned long n,
					struct hmmsim_mirror *locked, gfp_t gfp)
{
	struct hmmsim_device *hdev = s->hdev;
	unsigned long end = idx + n, moved = 0, run;

	if (locked)
		mmap_assert_locked(locked->mm);
	for (; idx < end; idx += run) {
		struct hmmsim_mirror *owner = hmmsim_devmem_owner(hdev, idx);

		for (run = 1; idx + run < end &&
		     hmmsim_devmem_owner(hdev, idx + run) == owner; run++)
			;
		if (!owner || owner == locked)
			moved += hmmsim_evict_run(s, idx, run, gfp);
		else
			moved += hmmsim_evict_owner_run(s, owner, idx, run,
							gfp);
	}
	return moved;
}

/*
 * Evict a chunk of device memory to make room, on behalf of @locked, whose
 * mm the caller holds locked. Returns the pages evicted: none when the
 * fail_evict fault attribute fires.
 */
static unsigned long hmmsim_evict_chunk(struct hmmsim_device *hdev,
					unsigned long chunk,
					struct hmmsim_mirror *locked)
{
	struct hmmsim_scratch s;
	unsigned long moved = 0;

	mmap_assert_locked(locked->mm);
	if (hmmsim_should_fail(&hdev->fail_evict))
		return 0;
	if (!hmmsim_scratch_init(&s, hdev, HMMSIM_CHUNK_PAGES, false,
				 GFP_KERNEL))
		moved = hmmsim_evict_pages(&s, chunk * HMMSIM_CHUNK_PAGES,
					   HMMSIM_CHUNK_PAGES, locked,
					   GFP_HIGHUSER_MOVABLE);
	hmmsim_scratch_fini(&s);
	hmmsim_count(hdev, HMMSIM_STAT_EVICTIONS, moved);
	trace_hmmsim_evict(hdev->id, chunk * HMMSIM_CHUNK_PAGES,
			   HMMSIM_CHUNK_PAGES, moved);
	return moved;
}

/* Evict the least recently used chunk; whether that moved anything. */
static bool hmmsim_evict_lru(struct hmmsim_mirror *mirror)
{
	long chunk = hmmsim_devmem_lru_pick(mirror->hdev);

	return chunk >= 0 && hmmsim_evict_chunk(mirror->hdev, chunk, mirror);
}

/**
 * hmmsim_evict_alloc() - allocate device pages, evicting to make room
 * @mirror: the mirror the pages are for (their owner); the caller holds
 *	the mmap lock of its mm.
 * @pages: filled as by hmmsim_devmem_alloc().
 * @nr: number of pages wanted.
 *
 * When the device is full, the least recently used chunks are evicted
 * until there is room, giving up after a pass over every chunk that freed
 * nothing. Pages the allocation does not get are counted in
 * alloc_failures; so is everything when the fail_alloc fault attribute
 * fires.
 *
 * Return: the number of pages allocated.
 */
unsigned int hmmsim_evict_alloc(struct hmmsim_mirror *mirror,
				struct page **pages, unsigned int nr)
{
	struct hmmsim_device *hdev = mirror->hdev;
	unsigned long tries = hdev->mem.npages / HMMSIM_CHUNK_PAGES;
	unsigned int n = 0;

	mmap_assert_locked(mirror->mm);
	if (hmmsim_should_fail(&hdev->fail_alloc))
		tries = 0;
	else
		n = hmmsim_devmem_alloc(hdev, mirror, pages, nr);
	while (n < nr && tries) {
		if (!hmmsim_evict_lru(mirror))
			tries--;
		else
			n += hmmsim_devmem_alloc(hdev, mirror, pages + n,
						 nr - n);
	}
	hmmsim_count(hdev, HMMSIM_STAT_ALLOC_FAILURES, nr - n);
	return n;
}

/**
 * hmmsim_evict_alloc_thp() - allocate a 2 MiB device folio, evicting to
 *	make room
 * @mirror: the mirror the folio is for; the caller holds the mmap lock of
 *	its mm.
 *
 * Evicts least recently used chunks until one is empty, giving up after a
 * pass over every chunk: the caller falls back to single pages, which fit
 * where a folio does not. The fail_alloc fault attribute fails it too.
 *
 * Return: the folio's head page, as from hmmsim_devmem_alloc_thp(), or
 * NULL.
 */
struct page *hmmsim_evict_alloc_thp(struct hmmsim_mirror *mirror)
{
	struct hmmsim_device *hdev = mirror->hdev;
	unsigned long tries = hdev->mem.npages / HMMSIM_CHUNK_PAGES;
	struct page *page;

	mmap_assert_locked(mirror->mm);
	if (hmmsim_should_fail(&hdev->fail_alloc)) {
		hmmsim_count(hdev, HMMSIM_STAT_ALLOC_FAILURES, 1);
		return NULL;
	}
	while (!(page = hmmsim_devmem_alloc_thp(hdev, mirror)) && tries--)
		hmmsim_evict_lru(mirror);
	return page;
}

/* The next run of pages @owner owns from @from on, its length in *@run. */
static unsigned long hmmsim_evict_find_owned(struct hmmsim_device *hdev,
					     struct hmmsim_mirror *owner,
					     unsigned long from, unsigned long *run)
{
	unsigned long i = from, start;

	while (i < hdev->mem.npages && hmmsim_devmem_owner(hdev, i) != owner)
		i++;
	start = i;
	while (i < hdev->mem.npages && hmmsim_devmem_owner(hdev, i) == owner)
		i++;
	*run = i - start;
	return start;
}

/* One pass over the device; whether any page of @mirror's was found. */
static bool hmmsim_evict_owned_pass(struct hmmsim_scratch *s,
				    struct hmmsim_mirror *mirror)
{
	struct hmmsim_device *hdev = mirror->hdev;
	unsigned long idx, run, n;
	bool found = false;

	for (idx = 0;; idx += run) {
		idx = hmmsim_evict_find_owned(hdev, mirror, idx, &run);
		if (idx >= hdev->mem.npages)
			break;
		found = true;
		for (n = idx; n < idx + run;
		     n = hmmsim_evict_window_end(n, idx + run))
			hmmsim_evict_pages(s, n,
					   hmmsim_evict_window_end(n, idx + run) - n,
					   mirror,
					   GFP_HIGHUSER_MOVABLE | __GFP_NOFAIL);
		cond_resched();
	}
	return found;
}

/**
 * hmmsim_evict_owned() - move every page a mirror put on its device back
 * @mirror: the mirror (RELEASE, or its file is being closed); its device
 *	is entered.
 *
 * Pages that stay busy through several passes are left to the device's
 * removal, which waits for them.
 *
 * Nothing moves once the mirror's mm has no users left: a process's files
 * are closed on exit after its address space is gone, so the pages it
 * still owns are mapped only by other processes (forked children, or the
 * parent of a child), and migrate_device_range() holds no reference on
 * their anon_vma: one of them exiting meanwhile would free it under the
 * eviction. Those pages stay on the device until those processes touch
 * them or exit, or the device goes away.
 */
void hmmsim_evict_owned(struct hmmsim_mirror *mirror)
{
	struct hmmsim_scratch s;
	int pass;

	hmmsim_device_assert_entered(mirror->hdev);
	if (!mmget_not_zero(mirror->mm))
		return;
	hmmsim_scratch_init(&s, mirror->hdev, HMMSIM_EVICT_PAGES, false,
			    GFP_KERNEL | __GFP_NOFAIL);
	mmap_read_lock(mirror->mm);
	for (pass = 0; pass < 8; pass++)
		if (!hmmsim_evict_owned_pass(&s, mirror))
			break;
	mmap_read_unlock(mirror->mm);
	/* Not the exit of the mm here, inside the device. */
	mmput_async(mirror->mm);
	hmmsim_scratch_fini(&s);
}

/**
 * hmmsim_evict_disown() - forget a mirror that is going away
 * @mirror: the mirror, no longer on its device's list; its device is
 *	entered.
 *
 * The pages it still owns (which eviction could not move) become
 * ownerless: eviction no longer looks for its mm.
 */
void hmmsim_evict_disown(struct hmmsim_mirror *mirror)
{
	hmmsim_device_assert_entered(mirror->hdev);
	hmmsim_devmem_disown(mirror->hdev, mirror);
}

/**
 * hmmsim_evict_all() - move every page on a device back to system memory
 * @hdev: the device, being removed: nothing can allocate from it any more.
 *
 * Cannot fail, and returns only when no device page is in use, which
 * memunmap_pages() needs.
 */
void hmmsim_evict_all(struct hmmsim_device *hdev)
{
	struct hmmsim_devmem *mem = &hdev->mem;
	struct hmmsim_scratch s;
	unsigned long idx, used;
	unsigned int waited = 0;

	hmmsim_scratch_init(&s, hdev, HMMSIM_EVICT_PAGES, false,
			    GFP_KERNEL | __GFP_NOFAIL);
	while ((used = hmmsim_devmem_nr_used(hdev))) {
		for (idx = 0; idx < mem->npages; idx += HMMSIM_EVICT_PAGES) {
			hmmsim_evict_pages(&s, idx, HMMSIM_EVICT_PAGES, NULL,
					   GFP_HIGHUSER_MOVABLE | __GFP_NOFAIL);
			cond_resched();
		}
		if (hmmsim_devmem_nr_used(hdev) < used)
			continue;
		/*
		 * Pages in flight elsewhere (a fault, a migration): wait. Say
		 * so once; a wait that never ends is for the hung task
		 * detector (and the test runner's watchdog) to report.
		 */
		if (++waited == 1000)
			pr_info("%s: waiting for %lu busy device pages\n",
				dev_name(&hdev->dev), used);
		usleep_range(1000, 2000);
	}
	hmmsim_scratch_fini(&s);
}
