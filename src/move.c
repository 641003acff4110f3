// SPDX-License-Identifier: GPL-2.0
/**
 * DOC: Moving one window
 *
 * The steps every migration shares, for one window of pages that
 * migrate_vma_setup() has collected: unmap the pages from this device's
 * mirrors, give each a destination, copy them through the copy engine in
 * one batch, wait for its fence, and finish with migrate_vma_pages() and
 * migrate_vma_finalize().
 * A failed copy moves nothing: every source keeps its data. Like every
 * function that moves pages, they add the pages moved to a count and
 * return 0 or a negative errno, so a partial result is never lost.
 *
 * Both directions come in two halves, _begin() up to the start of the copy
 * and _end() from the wait on, so that a caller can keep two windows in
 * flight. hmmsim_move_to_device_begin() is given the destination device
 * pages, allocated by the caller (migrate.c); hmmsim_move_to_system_begin()
 * allocates system pages itself. Callers: migrate.c (commands, CPU faults)
 * and evict.c.
 *
 * A THP (or a 2 MiB hole of anonymous memory) is collected as one entry
 * flagged MIGRATE_PFN_COMPOUND, at the head of a 2 MiB aligned window,
 * where the kernel migrates THPs whole. Given a 2 MiB destination folio it
 * moves as one; given single pages, 512 of them, the kernel splits the
 * source and moves it page by page: the fallback when no folio could be
 * had.
 *
 * Every window has a VMA, held in place by the mmap lock: hmmsim never uses
 * migrate_device_range() (DOC: Eviction says why).
 *
 * Device pages with a memory error are never copied: they stay where they
 * are (hmmsim_move_skip_lost()), unless the move salvages them
 * (&hmmsim_scratch.lost; DOC: Device memory errors).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/highmem.h>
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/mmap_lock.h>
#include <linux/pagemap.h>

#include "hmmsim_drv.h"
#include "trace.h"

static bool hmmsim_move_want_write(unsigned long src,
				   struct vm_area_struct *vma)
{
	return (src & MIGRATE_PFN_WRITE) ||
	       (!migrate_pfn_to_page(src) && (vma->vm_flags & VM_WRITE));
}

/**
 * hmmsim_move_window_end() - where a migration window ends
 * @vma: the VMA of the window's start.
 * @addr: the window's first address.
 * @end: the end of the range.
 *
 * Return: the next window boundary, @vma's end or @end, whichever comes
 * first.
 */
unsigned long hmmsim_move_window_end(struct vm_area_struct *vma,
				     unsigned long addr, unsigned long end)
{
	return min(hmmsim_window_end(addr, end), vma->vm_end);
}

/**
 * hmmsim_move_select() - the migrate_vma selector for a device's pages
 * @hdev: the device.
 *
 * Return: MIGRATE_VMA_SELECT_DEVICE_COHERENT or _PRIVATE.
 */
unsigned long hmmsim_move_select(const struct hmmsim_device *hdev)
{
	return hdev->cfg.type == HMMSIM_MEM_COHERENT ?
	       MIGRATE_VMA_SELECT_DEVICE_COHERENT :
	       MIGRATE_VMA_SELECT_DEVICE_PRIVATE;
}

/**
 * hmmsim_move_compound() - the migrate_vma flag that collects THPs whole
 * @hdev: the device that receives or gives the pages.
 *
 * Return: the flag when @hdev has 2 MiB folios, else 0.
 */
unsigned long hmmsim_move_compound(const struct hmmsim_device *hdev)
{
	return hmmsim_devmem_has_thp(hdev) ? HMMSIM_MIGRATE_VMA_SELECT_COMPOUND :
					     0;
}

/**
 * hmmsim_move_skip_lost() - leave the device pages whose data is lost out
 *	of a migration
 * @args: from migrate_vma_setup().
 *
 * Clears MIGRATE_PFN_MIGRATE of every collected entry with a device page
 * that has a memory error (any page of a folio), before anything counts
 * them or gives them a destination: migrate_vma_finalize() maps them back
 * where they were.
 */
void hmmsim_move_skip_lost(struct migrate_vma *args)
{
	unsigned long i;

	for (i = 0; i < args->npages; i++) {
		unsigned long src = args->src[i];
		struct page *page = migrate_pfn_to_page(src);

		if ((src & MIGRATE_PFN_MIGRATE) && page &&
		    hmmsim_devmem_poisoned(page, hmmsim_mpfn_pages(src)))
			args->src[i] &= ~MIGRATE_PFN_MIGRATE;
	}
}

/*
 * Queue the copies of @nr pages from @spage (NULL: clear them) to @dpage,
 * each run contiguous in one folio: the endpoints are found once.
 */
static void hmmsim_move_queue_run(struct hmmsim_scratch *s,
				  struct page *spage, struct page *dpage,
				  unsigned long nr)
{
	struct hmmsim_copy_desc d = { .len = PAGE_SIZE };

	if (spage)
		hmmsim_copy_endpoint(spage, &d.src_page, &d.src_addr);
	hmmsim_copy_endpoint(dpage, &d.dst_page, &d.dst_addr);
	while (nr--) {
		hmmsim_copy_add(&s->batch, &d);
		hmmsim_copy_endpoint_next(&d.src_page, &d.src_addr);
		hmmsim_copy_endpoint_next(&d.dst_page, &d.dst_addr);
	}
}

/* Queue the copy of @spage (NULL: clear) to @dpage, both single pages. */
static void hmmsim_move_queue(struct hmmsim_scratch *s, struct page *spage,
			      struct page *dpage)
{
	hmmsim_move_queue_run(s, spage, dpage, 1);
}

/*
 * Page @k of the folio whose head is @page (the pages of a folio are
 * contiguous in the memmap), or NULL for no page: a hole, cleared.
 */
static struct page *hmmsim_move_nth(struct page *page, unsigned long k)
{
	return page ? page + k : NULL;
}

/*
 * A compound entry at index @i with destination @dpage: a 2 MiB folio
 * takes the whole source, or, when @dpage is a single page, it and the
 * next pages of @s->pages from @j on take one source page each. Returns
 * the device pages used.
 */
static unsigned int hmmsim_move_fill_thp(struct hmmsim_scratch *s,
					 struct migrate_vma *args,
					 unsigned long i, unsigned int j,
					 unsigned int got, unsigned long flags)
{
	struct page *spage = migrate_pfn_to_page(args->src[i]);
	struct page *dpage = s->pages[j];
	unsigned long k;

	if (folio_test_large(page_folio(dpage))) {
		hmmsim_move_queue_run(s, spage, dpage, HMMSIM_CHUNK_PAGES);
		args->dst[i] = migrate_pfn(page_to_pfn(dpage)) | flags |
			       HMMSIM_MIGRATE_PFN_COMPOUND;
		return 1;
	}
	for (k = 0; k < HMMSIM_CHUNK_PAGES && j + k < got; k++) {
		dpage = s->pages[j + k];
		hmmsim_move_queue(s, hmmsim_move_nth(spage, k), dpage);
		args->dst[i + k] = migrate_pfn(page_to_pfn(dpage)) | flags;
	}
	return k;
}

/* Give each page to move a destination from s->pages, and queue its copy. */
static void hmmsim_move_fill_device(struct hmmsim_scratch *s,
				    struct migrate_vma *args, unsigned int got)
{
	unsigned int j = 0;
	unsigned long i, flags;

	hmmsim_copy_batch_reset(&s->batch);
	memset(args->dst, 0, args->npages * sizeof(*args->dst));
	for (i = 0; i < args->npages; i++) {
		unsigned long src = args->src[i];
		struct page *spage = migrate_pfn_to_page(src);

		if (!(src & MIGRATE_PFN_MIGRATE) || j == got ||
		    hmmsim_is_own_page(spage, s->hdev))
			continue;
		flags = hmmsim_move_want_write(src, args->vma) ?
			MIGRATE_PFN_WRITE : 0;
		if (src & HMMSIM_MIGRATE_PFN_COMPOUND) {
			j += hmmsim_move_fill_thp(s, args, i, j, got, flags);
			i += HMMSIM_CHUNK_PAGES - 1;
			continue;
		}
		/* No source page: an untouched or zero page; clear it. */
		hmmsim_move_queue(s, spage, s->pages[j]);
		args->dst[i] = migrate_pfn(page_to_pfn(s->pages[j++])) | flags;
	}
}

/* The copy failed: nothing moves, and the destinations are freed. */
static void hmmsim_move_drop_device(struct migrate_vma *args)
{
	unsigned long i;

	for (i = 0; i < args->npages; i++) {
		if (args->dst[i])
			hmmsim_devmem_free_unused(migrate_pfn_to_page(args->dst[i]));
		args->dst[i] = 0;
	}
}

/*
 * After migrate_*_pages(): the pages that moved, and in *@thps the 2 MiB
 * folios that moved whole. An entry moved if it has a destination and is
 * still marked to migrate; a whole folio's is flagged compound.
 */
static unsigned long hmmsim_move_count(const unsigned long *src,
				       const unsigned long *dst,
				       unsigned long npages,
				       unsigned long *thps)
{
	unsigned long i, moved = 0;

	*thps = 0;
	for (i = 0; i < npages; i++) {
		if (!dst[i] || !(src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		moved += hmmsim_mpfn_pages(dst[i]);
		if (dst[i] & HMMSIM_MIGRATE_PFN_COMPOUND)
			(*thps)++;
	}
	return moved;
}

/*
 * Record where the pages that moved to the device are mapped, for eviction
 * to find them there (DOC: Eviction).
 */
static void hmmsim_move_record(const struct migrate_vma *args)
{
	unsigned long i;

	for (i = 0; i < args->npages; i++)
		if (args->dst[i] && (args->src[i] & MIGRATE_PFN_MIGRATE))
			hmmsim_devmem_set_addr(migrate_pfn_to_page(args->dst[i]),
					       hmmsim_mpfn_pages(args->dst[i]),
					       args->start + (i << PAGE_SHIFT));
}

/**
 * hmmsim_move_to_device_begin() - give a collected window device pages, and
 *	start its copy
 * @s: the scratch buffers: @s->pages holds @got device pages from
 *	hmmsim_evict_alloc(), locked, each with one reference; its batch is in
 *	flight until hmmsim_move_to_device_end().
 * @args: from migrate_vma_setup(), with the mmap lock held until
 *	hmmsim_move_to_device_end(); the source is @args->pgmap_owner (this
 *	device, for system memory, or another one), whose mirrors of this
 *	address space unmap the pages.
 * @got: the pages in @s->pages, at most one per page to move: pages to
 *	move beyond those stay where they are.
 */
void hmmsim_move_to_device_begin(struct hmmsim_scratch *s,
				 struct migrate_vma *args, unsigned int got)
{
	hmmsim_mmap_assert_locked(args->vma->vm_mm);
	/* The source device's mirrors skipped this invalidation. */
	hmmsim_mirrors_unmap_migrating(args->pgmap_owner, args->vma->vm_mm,
				       args, s->hdev);
	hmmsim_move_fill_device(s, args, got);
	hmmsim_copy_submit(&s->batch);
}

/**
 * hmmsim_move_to_device_end() - wait for a window's copy, move it, and map
 *	it in the device
 * @s: the scratch buffers hmmsim_move_to_device_begin() used.
 * @mirror: the mirror whose device receives the pages, and maps them.
 * @args: the window.
 * @a: its arrival, from hmmsim_mirror_expect() before migrate_vma_setup().
 * @moved: the pages moved are added here.
 *
 * Return: 0, or -EIO if the copy failed (and nothing moved).
 */
int hmmsim_move_to_device_end(struct hmmsim_scratch *s,
			      struct hmmsim_mirror *mirror,
			      struct migrate_vma *args,
			      struct hmmsim_arrival *a, unsigned long *moved)
{
	struct hmmsim_device *hdev = s->hdev;
	struct hmmsim_device *from = args->pgmap_owner;
	unsigned long n, thps;
	int ret = 0;

	if (hmmsim_copy_wait(&s->batch)) {
		hmmsim_move_drop_device(args);
		ret = -EIO;
	}

	migrate_vma_pages(args);
	n = hmmsim_move_count(args->src, args->dst, args->npages, &thps);
	/* The device maps what it now holds, as a driver would. */
	if (n)
		hmmsim_move_record(args);
	hmmsim_mirror_map_migrated(mirror, args, a);
	migrate_vma_finalize(args);

	hmmsim_count(hdev, HMMSIM_STAT_TO_DEVICE, n);
	hmmsim_count(hdev, HMMSIM_STAT_THP_TO_DEVICE, thps);
	if (from != hdev) {
		hmmsim_count(from, HMMSIM_STAT_FROM_DEVICE, n);
		hmmsim_count(from, HMMSIM_STAT_THP_FROM_DEVICE, thps);
	}
	trace_hmmsim_migrate(hdev->id, from != hdev ? HMMSIM_DEVICE_TO_DEVICE :
			     HMMSIM_TO_DEVICE, args->start,
			     args->start + (args->npages << PAGE_SHIFT), n, thps);
	*moved += n;
	return ret;
}

/*
 * A system folio of 1 << @order pages for the device page at index @i of
 * the window, locked. A THP is not worth reclaim that does not succeed,
 * and never __GFP_NOFAIL: there is a fallback.
 */
static struct page *hmmsim_move_alloc_system(struct migrate_vma *args,
					     unsigned long i, unsigned int order,
					     gfp_t gfp)
{
	struct folio *folio;

	if (order)
		gfp = (gfp & ~__GFP_NOFAIL) | __GFP_NOWARN | __GFP_NORETRY;
	folio = hmmsim_vma_alloc_folio(gfp, order, args->vma,
				       args->start + (i << PAGE_SHIFT));
	if (!folio)
		return NULL;
	folio_lock(folio);
	return &folio->page;
}

/*
 * Whether the entry at @i, with @lost pages that have a memory error, can
 * move: it has none, or @s salvages them and has room for each. If not, it
 * stays where it is (a lost page is never copied).
 */
static bool hmmsim_move_salvageable(struct hmmsim_scratch *s,
				    struct migrate_vma *args, unsigned long i,
				    unsigned long lost)
{
	if (!lost || (s->lost && s->nr_lost + lost <= s->nr))
		return true;
	args->src[i] &= ~MIGRATE_PFN_MIGRATE;
	return false;
}

/*
 * Give the device page (or 2 MiB folio) at index @i a system page (or THP)
 * and queue its copy. A folio that gets no THP falls back to single pages,
 * for the kernel to split it. Returns the entries used, 0 if out of
 * memory.
 */
static unsigned long hmmsim_move_fill_one(struct hmmsim_scratch *s,
					  struct migrate_vma *args,
					  unsigned long i, gfp_t gfp)
{
	unsigned long src = args->src[i], flags = src & MIGRATE_PFN_WRITE;
	struct page *spage = migrate_pfn_to_page(src), *dpage;
	unsigned long k, nr = hmmsim_mpfn_pages(src);
	unsigned long lost = hmmsim_devmem_poisoned(spage, nr);

	if (!hmmsim_move_salvageable(s, args, i, lost))
		return nr;
	/* A folio with a lost page is split: that page is salvaged alone. */
	if (nr > 1 && !lost) {
		dpage = hmmsim_move_alloc_system(args, i, HMMSIM_CHUNK_ORDER, gfp);
		if (dpage) {
			hmmsim_move_queue_run(s, spage, dpage, nr);
			args->dst[i] = migrate_pfn(page_to_pfn(dpage)) | flags |
				       HMMSIM_MIGRATE_PFN_COMPOUND;
			return nr;
		}
		hmmsim_count(s->hdev, HMMSIM_STAT_THP_FALLBACKS, 1);
		trace_hmmsim_thp(s->hdev->id, HMMSIM_THP_FALLBACK_SYSTEM,
				 page_to_pfn(spage));
	}
	for (k = 0; k < nr; k++) {
		struct page *from = hmmsim_move_nth(spage, k);

		dpage = hmmsim_move_alloc_system(args, i + k, 0, gfp);
		if (!dpage)
			return 0;	/* what was filled moves */
		/* Salvaged: cleared, and poisoned once it moved. */
		if (s->lost && s->nr_lost < s->nr &&
		    hmmsim_devmem_poisoned(from, 1)) {
			s->lost[s->nr_lost++] = page_to_pfn(dpage);
			from = NULL;
		}
		hmmsim_move_queue(s, from, dpage);
		args->dst[i + k] = migrate_pfn(page_to_pfn(dpage)) | flags;
	}
	return nr;
}

/* Give each device page a system page, and queue its copy. */
static int hmmsim_move_fill_system(struct hmmsim_scratch *s,
				   struct migrate_vma *args, gfp_t gfp)
{
	unsigned long i, n;
	int ret = 0;

	hmmsim_copy_batch_reset(&s->batch);
	memset(args->dst, 0, args->npages * sizeof(*args->dst));
	for (i = 0; i < args->npages; i += n) {
		unsigned long src = args->src[i];

		n = hmmsim_mpfn_pages(src);
		if (!migrate_pfn_to_page(src) || !(src & MIGRATE_PFN_MIGRATE))
			continue;
		if (!hmmsim_move_fill_one(s, args, i, gfp))
			ret = -ENOMEM;
	}
	return ret;
}

static void hmmsim_move_drop_system(struct migrate_vma *args)
{
	unsigned long i;

	for (i = 0; i < args->npages; i++) {
		struct page *dpage = migrate_pfn_to_page(args->dst[i]);

		if (dpage) {
			unlock_page(dpage);
			put_page(dpage);
		}
		args->dst[i] = 0;
	}
}

/*
 * After migrate_vma_pages(): of the system pages this window gave lost
 * device pages (@s->lost from @first on), keep those that moved, for
 * hmmsim_move_poison_lost(). The entries are single pages: the kernel
 * split each folio that had a lost page.
 */
static void hmmsim_move_keep_lost(struct hmmsim_scratch *s,
				  const struct migrate_vma *args,
				  unsigned int first)
{
	unsigned int l, kept = first;
	unsigned long i;

	for (l = first; l < s->nr_lost; l++) {
		for (i = 0; i < args->npages; i++)
			if (args->dst[i] &&
			    args->dst[i] >> MIGRATE_PFN_SHIFT == s->lost[l])
				break;
		if (i == args->npages || !(args->src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		hmmsim_devmem_error_event(migrate_pfn_to_page(args->src[i]),
					  HMMSIM_MEMORY_ERROR_SALVAGED);
		s->lost[kept++] = s->lost[l];
	}
	s->nr_lost = kept;
}

/**
 * hmmsim_move_poison_lost() - poison the system pages that device pages
 *	with a memory error moved to
 * @s: the scratch buffers of salvaging moves (hmmsim_scratch_salvage());
 *	the caller holds no mmap lock, which memory_failure() may take.
 *
 * The kernel replaces their mappings with hwpoison entries: the CPU gets
 * SIGBUS there, and their data stays lost.
 */
void hmmsim_move_poison_lost(struct hmmsim_scratch *s)
{
	unsigned int i;
	int ret;

	for (i = 0; i < s->nr_lost; i++) {
		ret = hmmsim_memory_failure(s->lost[i]);
		if (ret)
			pr_warn_ratelimited("memory_failure() of salvaged pfn %#lx: %d\n",
					    s->lost[i], ret);
	}
	s->nr_lost = 0;
}

/**
 * hmmsim_move_to_system_begin() - give a collected window system pages, and
 *	start its copy
 * @s: the scratch buffers, whose batch is in flight until
 *	hmmsim_move_to_system_end().
 * @args: from migrate_vma_setup(), with the mmap lock held until
 *	hmmsim_move_to_system_end(); the mirrors of this device of its address
 *	space unmap the pages.
 * @gfp: how to allocate the system pages.
 *
 * Pages with a memory error stay, unless @s->lost: then each moves to a
 * cleared page, for hmmsim_move_poison_lost() to poison.
 *
 * Return: 0, or -ENOMEM if a page could not get system memory (the others
 * move).
 */
int hmmsim_move_to_system_begin(struct hmmsim_scratch *s,
				struct migrate_vma *args, gfp_t gfp)
{
	int ret;

	hmmsim_mmap_assert_locked(args->vma->vm_mm);
	s->lost_first = s->nr_lost;
	if (!s->lost)
		hmmsim_move_skip_lost(args);
	hmmsim_mirrors_unmap_migrating(s->hdev, args->vma->vm_mm, args, NULL);

	ret = hmmsim_move_fill_system(s, args, gfp);
	hmmsim_copy_submit(&s->batch);
	return ret;
}

/**
 * hmmsim_move_to_system_end() - wait for a window's copy, and move it
 * @s: the scratch buffers hmmsim_move_to_system_begin() used.
 * @args: the window.
 * @ret: what hmmsim_move_to_system_begin() returned.
 * @kind: the tracepoint's kind of migration.
 * @moved: the pages moved are added here.
 *
 * Return: @ret, or -EIO if the copy failed (and nothing moved).
 */
int hmmsim_move_to_system_end(struct hmmsim_scratch *s,
			      struct migrate_vma *args, int ret,
			      enum hmmsim_migrate_kind kind,
			      unsigned long *moved)
{
	unsigned long n, thps;

	hmmsim_mmap_assert_locked(args->vma->vm_mm);
	if (hmmsim_copy_wait(&s->batch)) {
		hmmsim_move_drop_system(args);
		ret = -EIO;
	}

	migrate_vma_pages(args);
	n = hmmsim_move_count(args->src, args->dst, args->npages, &thps);
	if (s->nr_lost > s->lost_first)
		hmmsim_move_keep_lost(s, args, s->lost_first);
	migrate_vma_finalize(args);

	hmmsim_count(s->hdev, HMMSIM_STAT_FROM_DEVICE, n);
	hmmsim_count(s->hdev, HMMSIM_STAT_THP_FROM_DEVICE, thps);
	trace_hmmsim_migrate(s->hdev->id, kind, args->start,
			     args->start + (args->npages << PAGE_SHIFT), n, thps);
	*moved += n;
	return ret;
}

/**
 * hmmsim_move_to_system() - move a collected window to system memory
 * @s: the scratch buffers.
 * @args: from migrate_vma_setup(), with the mmap lock held.
 * @gfp: how to allocate the system pages.
 * @kind: the tracepoint's kind of migration.
 * @moved: the pages moved are added here.
 *
 * hmmsim_move_to_system_begin() and hmmsim_move_to_system_end() in one.
 *
 * Return: 0, -ENOMEM if a page could not get system memory (the others
 * moved), or -EIO if the copy failed (and nothing moved).
 */
int hmmsim_move_to_system(struct hmmsim_scratch *s, struct migrate_vma *args,
			  gfp_t gfp, enum hmmsim_migrate_kind kind,
			  unsigned long *moved)
{
	int ret = hmmsim_move_to_system_begin(s, args, gfp);

	return hmmsim_move_to_system_end(s, args, ret, kind, moved);
}

/**
 * hmmsim_move_home() - move a device's pages mapped in a range back
 * @s: scratch buffers of %HMMSIM_WINDOW_PAGES, for the device whose pages
 *	move.
 * @mm: the address space; the caller holds its mmap lock.
 * @start: first address, page aligned.
 * @end: end of the range, page aligned; parts without a VMA, and VMAs
 *	migrate_vma cannot work on, are skipped.
 * @nr: stop once this many pages moved: all there are to find.
 * @gfp: how to allocate the system pages.
 *
 * Eviction's way home (evict.c): unlike hmmsim_migrate_to_system(), it
 * needs neither a mirror nor a readable VMA, and it never drops the lock,
 * which keeps the VMAs, and so the anon_vma of each page it finds mapped,
 * in place until the pages are back in the page tables. It stops early
 * for a fatal signal.
 *
 * Return: the number of pages moved.
 */
unsigned long hmmsim_move_home(struct hmmsim_scratch *s, struct mm_struct *mm,
			       unsigned long start, unsigned long end,
			       unsigned long nr, gfp_t gfp)
{
	struct vm_area_struct *vma;
	unsigned long addr = start, moved = 0;

	hmmsim_mmap_assert_locked(mm);
	while (addr < end && moved < nr && !fatal_signal_pending(current) &&
	       (vma = find_vma(mm, addr)) && vma->vm_start < end) {
		struct migrate_vma args = {
			.vma = vma,
			.src = s->src,
			.dst = s->dst,
			.pgmap_owner = s->hdev,
			.flags = hmmsim_move_select(s->hdev) |
				 hmmsim_move_compound(s->hdev),
		};

		args.start = max(addr, vma->vm_start);
		args.end = hmmsim_move_window_end(vma, args.start, end);
		addr = args.end;
		if (migrate_vma_setup(&args))
			continue;	/* not anonymous memory: nothing here */
		hmmsim_move_to_system(s, &args, gfp, HMMSIM_TO_SYSTEM, &moved);
		cond_resched();
	}
	return moved;
}
