// SPDX-License-Identifier: GPL-2.0
/**
 * DOC: Moving one window
 *
 * The steps every migration shares, for one window of pages that
 * migrate_vma_setup() (or migrate_device_range(), which needs no VMA) has
 * collected: unmap the pages from this device's mirrors, give each a
 * destination, copy them through the copy engine in one batch, wait for
 * its fence, and finish with migrate_*_pages() and migrate_*_finalize().
 * A failed copy moves nothing: every source keeps its data. Like every
 * function that moves pages, they add the pages moved to a count and
 * return 0 or a negative errno, so a partial result is never lost.
 *
 * hmmsim_move_to_device() is given the destination device pages, allocated
 * by the caller (migrate.c); hmmsim_move_to_system() allocates system pages
 * itself. Callers: migrate.c (commands, CPU faults) and evict.c.
 */
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

/* Give each page to move a destination from s->pages, and queue its copy. */
static void hmmsim_move_fill_device(struct hmmsim_scratch *s,
				    struct migrate_vma *args, unsigned int got)
{
	unsigned int j = 0;
	unsigned long i;

	hmmsim_copy_batch_reset(&s->batch);
	for (i = 0; i < args->npages; i++) {
		unsigned long src = args->src[i];
		struct hmmsim_copy_desc d = { .len = PAGE_SIZE };
		struct page *spage = migrate_pfn_to_page(src);
		struct page *dpage;

		args->dst[i] = 0;
		if (!(src & MIGRATE_PFN_MIGRATE) || j == got ||
		    hmmsim_is_own_page(spage, s->hdev))
			continue;
		dpage = s->pages[j++];
		/* No source page: an untouched or zero page; clear it. */
		if (spage)
			hmmsim_copy_endpoint(spage, &d.src_page, &d.src_addr);
		hmmsim_copy_endpoint(dpage, &d.dst_page, &d.dst_addr);
		hmmsim_copy_add(&s->batch, &d);
		args->dst[i] = migrate_pfn(page_to_pfn(dpage));
		if (hmmsim_move_want_write(src, args->vma))
			args->dst[i] |= MIGRATE_PFN_WRITE;
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

static unsigned long hmmsim_move_count(const struct migrate_vma *args)
{
	unsigned long i, moved = 0;

	for (i = 0; i < args->npages; i++)
		if (args->dst[i] && (args->src[i] & MIGRATE_PFN_MIGRATE))
			moved++;
	return moved;
}

/**
 * hmmsim_move_to_device() - move a collected window into device memory
 * @s: the scratch buffers: @s->pages holds @got device pages from
 *	hmmsim_evict_alloc(), locked, each with one reference.
 * @mirror: the mirror whose device receives the pages, and maps them.
 * @args: from migrate_vma_setup(), with the mmap lock held; the source is
 *	@args->pgmap_owner (this device, for system memory, or another one).
 * @got: the pages in @s->pages, at most one per page to move: pages to
 *	move beyond those stay where they are.
 * @seq: mmu_interval_read_begin() of @mirror after migrate_vma_setup().
 * @moved: the pages moved are added here.
 *
 * Return: 0, or -EIO if the copy failed (and nothing moved).
 */
int hmmsim_move_to_device(struct hmmsim_scratch *s,
			  struct hmmsim_mirror *mirror,
			  struct migrate_vma *args, unsigned int got,
			  unsigned long seq, unsigned long *moved)
{
	struct hmmsim_device *hdev = s->hdev;
	struct hmmsim_device *from = args->pgmap_owner;
	unsigned long n;
	int ret = 0;

	mmap_assert_locked(args->vma->vm_mm);
	/* The source device's mirrors skipped this invalidation. */
	hmmsim_mirrors_unmap_migrating(from, args->vma->vm_mm, args, hdev);

	hmmsim_move_fill_device(s, args, got);
	hmmsim_copy_submit(&s->batch);
	if (hmmsim_copy_wait(&s->batch)) {
		hmmsim_move_drop_device(args);
		ret = -EIO;
	}

	migrate_vma_pages(args);
	n = hmmsim_move_count(args);
	/* The device maps what it now holds, as a driver would. */
	if (n)
		hmmsim_mirror_map_migrated(mirror, args, seq);
	migrate_vma_finalize(args);

	hmmsim_count(hdev, HMMSIM_STAT_TO_DEVICE, n);
	if (from != hdev)
		hmmsim_count(from, HMMSIM_STAT_FROM_DEVICE, n);
	trace_hmmsim_migrate(hdev->id, from != hdev ? HMMSIM_DEVICE_TO_DEVICE :
			     HMMSIM_TO_DEVICE, args->start,
			     args->start + (args->npages << PAGE_SHIFT), n);
	*moved += n;
	return ret;
}

/* One system page for the device page at index @i of the window. */
static struct page *hmmsim_move_alloc_system(struct migrate_vma *args,
					     unsigned long i, gfp_t gfp)
{
	struct page *page;

	if (args->vma)
		page = alloc_page_vma(gfp, args->vma,
				      args->start + (i << PAGE_SHIFT));
	else
		page = alloc_page(gfp);
	if (page)
		lock_page(page);
	return page;
}

/* Give each device page a system page, and queue its copy. */
static int hmmsim_move_fill_system(struct hmmsim_scratch *s,
				   struct migrate_vma *args, gfp_t gfp)
{
	unsigned long i;
	int ret = 0;

	hmmsim_copy_batch_reset(&s->batch);
	for (i = 0; i < args->npages; i++) {
		unsigned long src = args->src[i];
		struct page *spage = migrate_pfn_to_page(src);
		struct hmmsim_copy_desc d = { .len = PAGE_SIZE };
		struct page *dpage;

		args->dst[i] = 0;
		if (!spage || !(src & MIGRATE_PFN_MIGRATE))
			continue;
		dpage = hmmsim_move_alloc_system(args, i, gfp);
		if (!dpage) {
			ret = -ENOMEM;
			continue;
		}
		hmmsim_copy_endpoint(spage, &d.src_page, &d.src_addr);
		d.dst_page = dpage;
		hmmsim_copy_add(&s->batch, &d);
		args->dst[i] = migrate_pfn(page_to_pfn(dpage));
		if (src & MIGRATE_PFN_WRITE)
			args->dst[i] |= MIGRATE_PFN_WRITE;
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

/**
 * hmmsim_move_to_system() - move a collected window to system memory
 * @s: the scratch buffers.
 * @mm: the address space the window belongs to, whose mirrors of this
 *	device unmap the pages; NULL for a window from migrate_device_range(),
 *	which unmapped them from every address space.
 * @args: from migrate_vma_setup(), with the mmap lock held, or with
 *	src, dst and npages from migrate_device_range() and no VMA.
 * @gfp: how to allocate the system pages.
 * @kind: the tracepoint's kind of migration.
 * @moved: the pages moved are added here.
 *
 * Return: 0, -ENOMEM if a page could not get system memory (the others
 * moved), or -EIO if the copy failed (and nothing moved).
 */
int hmmsim_move_to_system(struct hmmsim_scratch *s, struct mm_struct *mm,
			  struct migrate_vma *args, gfp_t gfp,
			  enum hmmsim_migrate_kind kind, unsigned long *moved)
{
	unsigned long i, n = 0;
	int ret;

	if (args->vma)
		mmap_assert_locked(args->vma->vm_mm);
	if (mm)
		hmmsim_mirrors_unmap_migrating(s->hdev, mm, args, NULL);

	ret = hmmsim_move_fill_system(s, args, gfp);
	hmmsim_copy_submit(&s->batch);
	if (hmmsim_copy_wait(&s->batch)) {
		hmmsim_move_drop_system(args);
		ret = -EIO;
	}

	if (args->vma)
		migrate_vma_pages(args);
	else
		migrate_device_pages(args->src, args->dst, args->npages);
	for (i = 0; i < args->npages; i++)
		if ((args->src[i] & MIGRATE_PFN_VALID) &&
		    (args->src[i] & MIGRATE_PFN_MIGRATE))
			n++;
	if (args->vma)
		migrate_vma_finalize(args);
	else
		migrate_device_finalize(args->src, args->dst, args->npages);

	hmmsim_count(s->hdev, HMMSIM_STAT_FROM_DEVICE, n);
	trace_hmmsim_migrate(s->hdev->id, kind, args->start,
			     args->start + (args->npages << PAGE_SHIFT), n);
	*moved += n;
	return ret;
}
