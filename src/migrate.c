// SPDX-License-Identifier: GPL-2.0
/*
 * hmmsim: migration between system memory and device memory.
 *
 * Every migration is migrate_vma_setup(), then this device unmaps the
 * collected pages from its mirrors, allocates destination pages, copies
 * through the copy engine in one batch, and finishes with
 * migrate_vma_pages() and migrate_vma_finalize(), one window (at most
 * 2 MiB, never across a VMA) at a time:
 *
 * - system to device (HMM_DMIRROR_MIGRATE_TO_DEV);
 * - device to system (HMM_DMIRROR_MIGRATE_TO_SYS, and the CPU faulting on a
 *   device page: dev_pagemap_ops.migrate_to_ram, which brings back the
 *   whole window around the fault rather than one page);
 * - eviction (RELEASE, close, device removal) with migrate_device_range(),
 *   which needs no VMA.
 *
 * Exclusive access for device atomics (HMM_DMIRROR_EXCLUSIVE) lives here
 * too, one page at a time; where the kernel's make_device_exclusive_range()
 * does not handle THPs, a window with a PMD-mapped THP is first split to
 * small pages.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/delay.h>
#include <linux/highmem.h>
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/mmap_lock.h>
#include <linux/pagemap.h>
#include <linux/rmap.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>

#include "hmmsim_drv.h"
#include "trace.h"

/* Teardown works in small windows, so that it can allocate with NOFAIL. */
#define HMMSIM_EVICT_PAGES	64

/**
 * struct hmmsim_migration - what one migration call needs, reused per window
 * @hdev: the device.
 * @nr: pages per window.
 * @src: migrate_vma source pfns.
 * @dst: migrate_vma destination pfns.
 * @pages: destination device pages.
 * @pins: pages HMM_DMIRROR_EXCLUSIVE keeps pinned (hmmsim_exclusive_window()).
 * @batch: the copy batch.
 */
struct hmmsim_migration {
	struct hmmsim_device *hdev;
	unsigned long nr;
	unsigned long *src;
	unsigned long *dst;
	struct page **pages;
	struct page **pins;
	struct hmmsim_copy_batch batch;
};

static void hmmsim_migration_fini(struct hmmsim_migration *m)
{
	hmmsim_copy_batch_fini(&m->batch);
	kvfree(m->pins);
	kvfree(m->pages);
	kvfree(m->dst);
	kvfree(m->src);
}

static int hmmsim_migration_init(struct hmmsim_migration *m,
				 struct hmmsim_device *hdev, unsigned long nr,
				 gfp_t gfp)
{
	m->hdev = hdev;
	m->nr = nr;
	m->src = kvcalloc(nr, sizeof(*m->src), gfp);
	m->dst = kvcalloc(nr, sizeof(*m->dst), gfp);
	m->pages = kvcalloc(nr, sizeof(*m->pages), gfp);
	m->pins = kvcalloc(nr, sizeof(*m->pins), gfp);
	m->batch.descs = NULL;
	m->batch.pieces = NULL;
	if (!m->src || !m->dst || !m->pages || !m->pins ||
	    hmmsim_copy_batch_init(&m->batch, hdev, nr, gfp)) {
		hmmsim_migration_fini(m);
		return -ENOMEM;
	}
	return 0;
}

/**
 * hmmsim_migration_free() - free a mirror's cached migration context
 * @m: the context, or NULL.
 */
void hmmsim_migration_free(struct hmmsim_migration *m)
{
	if (m) {
		hmmsim_migration_fini(m);
		kfree(m);
	}
}

static struct hmmsim_migration *hmmsim_migration_alloc(struct hmmsim_device *hdev)
{
	struct hmmsim_migration *m = kzalloc(sizeof(*m), GFP_KERNEL);

	if (m && hmmsim_migration_init(m, hdev, HMMSIM_WINDOW_PAGES,
				       GFP_KERNEL)) {
		kfree(m);
		m = NULL;
	}
	return m;
}

/*
 * The mirror's migration context, kept for the commands on its file, or a
 * new one when another thread of the process is using it.
 */
static struct hmmsim_migration *hmmsim_migration_get(struct hmmsim_mirror *mirror)
{
	if (mutex_trylock(&mirror->mig_lock)) {
		if (!mirror->mig)
			mirror->mig = hmmsim_migration_alloc(mirror->hdev);
		if (mirror->mig)
			return mirror->mig;
		mutex_unlock(&mirror->mig_lock);
		return NULL;
	}
	return hmmsim_migration_alloc(mirror->hdev);
}

static void hmmsim_migration_put(struct hmmsim_mirror *mirror,
				 struct hmmsim_migration *m)
{
	if (m == mirror->mig)
		mutex_unlock(&mirror->mig_lock);
	else
		hmmsim_migration_free(m);
}

/* End of the migration window starting at @addr, within @vma and @end. */
static unsigned long hmmsim_migrate_next(struct vm_area_struct *vma,
					 unsigned long addr, unsigned long end)
{
	return min(hmmsim_window_end(addr, end), vma->vm_end);
}

/*
 * Lock the mm and set up the migration of the window that starts at @addr
 * (@args has src, dst, pgmap_owner and flags set): the VMA must be
 * readable, and the window ends at the next window boundary, the VMA's end
 * or @end. On success the mmap lock is held; on failure it is not.
 */
static int hmmsim_window_setup(struct mm_struct *mm, struct migrate_vma *args,
			       unsigned long addr, unsigned long end)
{
	int ret;

	if (mmap_read_lock_killable(mm))
		return -EINTR;
	args->vma = vma_lookup(mm, addr);
	if (!args->vma || !(args->vma->vm_flags & VM_READ)) {
		mmap_read_unlock(mm);
		return -EINVAL;
	}
	args->start = addr;
	args->end = hmmsim_migrate_next(args->vma, addr, end);
	ret = migrate_vma_setup(args);
	if (ret)
		mmap_read_unlock(mm);
	return ret;
}

/**
 * hmmsim_check_vmas() - whether a range is covered by readable VMAs
 * @mm: the address space.
 * @start: first address.
 * @end: end address.
 * @refuse: VMA flags the command cannot work on: a VMA with any of them
 *	gives -EOPNOTSUPP.
 *
 * Checked before anything moves, so that a bad range fails without side
 * effects.
 *
 * Return: 0, -EINVAL, -EOPNOTSUPP, or -EINTR.
 */
int hmmsim_check_vmas(struct mm_struct *mm, unsigned long start,
		      unsigned long end, vm_flags_t refuse)
{
	struct vm_area_struct *vma;
	unsigned long addr = start;
	int ret = 0;

	if (mmap_read_lock_killable(mm))
		return -EINTR;
	while (addr < end) {
		vma = vma_lookup(mm, addr);
		if (!vma || !(vma->vm_flags & VM_READ)) {
			ret = -EINVAL;
			break;
		}
		if (vma->vm_flags & refuse) {
			ret = -EOPNOTSUPP;
			break;
		}
		addr = vma->vm_end;
	}
	mmap_read_unlock(mm);
	return ret;
}

/* Whether a collected source page already is in @hdev's memory. */
static bool hmmsim_is_own_page(unsigned long src, struct hmmsim_device *hdev)
{
	struct page *page = migrate_pfn_to_page(src);

	return page && hmmsim_is_device_page(page) &&
	       hmmsim_page_device(page) == hdev;
}

/* The migrate_vma selector for the pages of a device. */
static unsigned long hmmsim_select(const struct hmmsim_device *hdev)
{
	return hdev->cfg.type == HMMSIM_MEM_COHERENT ?
	       MIGRATE_VMA_SELECT_DEVICE_COHERENT :
	       MIGRATE_VMA_SELECT_DEVICE_PRIVATE;
}

static bool hmmsim_want_write(unsigned long src, struct vm_area_struct *vma)
{
	return (src & MIGRATE_PFN_WRITE) ||
	       (!migrate_pfn_to_page(src) && (vma->vm_flags & VM_WRITE));
}

/*
 * One window to the mirror's device, from system memory or from another
 * device (the source is args->pgmap_owner and args->flags); args from
 * migrate_vma_setup(). Returns the pages moved, or a negative errno when
 * some could not get device memory or the copy failed.
 */
static long hmmsim_migrate_window_to_device(struct hmmsim_migration *m,
					    struct hmmsim_mirror *mirror,
					    struct migrate_vma *args,
					    unsigned long seq)
{
	struct hmmsim_device *hdev = mirror->hdev;
	unsigned int want = 0, got, j = 0;
	unsigned long i, moved = 0;
	int ret = 0;

	/* The source device's mirrors skipped this invalidation. */
	hmmsim_mirrors_unmap_migrating(args->pgmap_owner, args->vma->vm_mm,
				       args, hdev);

	for (i = 0; i < args->npages; i++)
		if ((args->src[i] & MIGRATE_PFN_MIGRATE) &&
		    !hmmsim_is_own_page(args->src[i], hdev))
			want++;
	/*
	 * HMM_DMIRROR_FLAG_FAIL_ALLOC fails this window's first allocation
	 * attempt, as lib/test_hmm fails a 2 MiB one; the migration falls
	 * back to the page allocator and goes on. hmmsim allocates device
	 * memory by pages, so the fallback is its only allocator: the failed
	 * attempt shows in alloc_failures.
	 */
	if (want && test_and_clear_bit(HMMSIM_MIRROR_FAIL_ALLOC, &mirror->flags))
		hmmsim_count(hdev, HMMSIM_STAT_ALLOC_FAILURES, 1);
	got = hmmsim_devmem_alloc(hdev, mirror, m->pages, want);
	if (got < want)
		ret = -ENOMEM;

	hmmsim_copy_batch_reset(&m->batch);
	for (i = 0; i < args->npages; i++) {
		unsigned long src = args->src[i];
		struct hmmsim_copy_desc d = { .len = PAGE_SIZE };
		struct page *spage = migrate_pfn_to_page(src);
		struct page *dpage;

		args->dst[i] = 0;
		if (!(src & MIGRATE_PFN_MIGRATE) || j == got ||
		    hmmsim_is_own_page(src, hdev))
			continue;
		dpage = m->pages[j++];
		/* No source page: an untouched or zero page; clear it. */
		if (spage)
			hmmsim_copy_endpoint(spage, &d.src_page, &d.src_addr);
		hmmsim_copy_endpoint(dpage, &d.dst_page, &d.dst_addr);
		hmmsim_copy_add(&m->batch, &d);
		args->dst[i] = migrate_pfn(page_to_pfn(dpage));
		if (hmmsim_want_write(src, args->vma))
			args->dst[i] |= MIGRATE_PFN_WRITE;
	}
	hmmsim_copy_submit(&m->batch);
	if (hmmsim_copy_wait(&m->batch)) {
		/* Nothing moves: the sources keep the data. */
		for (i = 0; i < args->npages; i++) {
			if (args->dst[i])
				hmmsim_devmem_free_unused(migrate_pfn_to_page(args->dst[i]));
			args->dst[i] = 0;
		}
		ret = -EIO;
	}

	migrate_vma_pages(args);
	for (i = 0; i < args->npages; i++)
		if (args->dst[i] && (args->src[i] & MIGRATE_PFN_MIGRATE))
			moved++;
	/* The device maps what it now holds, as a driver would. */
	if (moved)
		hmmsim_mirror_map_migrated(mirror, args, seq);
	migrate_vma_finalize(args);

	hmmsim_count(hdev, HMMSIM_STAT_TO_DEVICE, moved);
	if (args->pgmap_owner != hdev) {
		hmmsim_count(args->pgmap_owner, HMMSIM_STAT_FROM_DEVICE, moved);
		trace_hmmsim_migrate(hdev->id, HMMSIM_DEVICE_TO_DEVICE,
				     args->start, args->end, moved);
	} else {
		trace_hmmsim_migrate(hdev->id, HMMSIM_TO_DEVICE, args->start,
				     args->end, moved);
	}
	return ret ? ret : moved;
}

/**
 * hmmsim_migrate_range_to_device() - move a range's pages to a device
 * @mirror: the mirror whose device receives the pages.
 * @src: the device the pages come from, or NULL for system memory.
 * @start: first address; [start, end) is covered by readable VMAs.
 * @end: end address.
 * @cpages: the pages moved are added here.
 *
 * Pages that are not in the source stay where they are. A device-to-device
 * move copies from one device's memory to the other's, with no bounce
 * through system memory.
 *
 * Return: 0, -EINVAL if the VMAs changed meanwhile, -ENOMEM when device
 * memory ran out, or another negative errno.
 */
int hmmsim_migrate_range_to_device(struct hmmsim_mirror *mirror,
				   struct hmmsim_device *src,
				   unsigned long start, unsigned long end,
				   unsigned long *cpages)
{
	struct mm_struct *mm = mirror->mm;
	struct hmmsim_migration *m;
	unsigned long addr, next, seq;
	long moved;
	int ret = 0;

	m = hmmsim_migration_get(mirror);
	if (!m)
		return -ENOMEM;

	for (addr = start; addr < end; addr = next) {
		/*
		 * From system memory, this device's own pages in the window
		 * are collected too, and left where they are: collected
		 * pages are busy, so making room for the others cannot
		 * evict them.
		 */
		struct migrate_vma args = {
			.src = m->src,
			.dst = m->dst,
			.pgmap_owner = src ? src : mirror->hdev,
			.flags = src ? hmmsim_select(src) :
				       MIGRATE_VMA_SELECT_SYSTEM |
				       hmmsim_select(mirror->hdev),
		};

		ret = hmmsim_window_setup(mm, &args, addr, end);
		if (ret)
			break;
		next = args.end;
		/* After the migration's own invalidation. */
		seq = mmu_interval_read_begin(&mirror->notifier);
		moved = hmmsim_migrate_window_to_device(m, mirror, &args, seq);
		if (moved < 0)
			ret = moved;
		else
			*cpages += moved;
		mmap_read_unlock(mm);
		if (!ret)
			ret = hmmsim_window_done();
		if (ret)
			break;
	}
	hmmsim_migration_put(mirror, m);
	return ret;
}

/**
 * hmmsim_migrate_to_device() - HMM_DMIRROR_MIGRATE_TO_DEV
 * @mirror: the mirror.
 * @cmd: the validated command; cpages is set.
 *
 * Moves the range's system pages (anonymous, private: what migrate_vma can
 * move) into this device's memory, then reads the range back through the
 * device: a page that did not end up in this device's memory (shared
 * memory, a page on another device) gives -ENOENT, as in lib/test_hmm.
 *
 * Return: 0, -EINVAL for a range with a hole or an unreadable VMA, -ENOMEM
 * when device memory ran out, -ENOENT, or another negative errno.
 */
int hmmsim_migrate_to_device(struct hmmsim_mirror *mirror,
			     struct hmm_dmirror_cmd *cmd)
{
	unsigned long start = cmd->addr;
	unsigned long end = start + (cmd->npages << PAGE_SHIFT);
	unsigned long moved = 0;
	int ret;

	/* More than the device holds can never all be on it at once. */
	if (cmd->npages > mirror->hdev->mem.npages)
		return -ENOMEM;
	ret = hmmsim_check_vmas(mirror->mm, start, end, 0);
	if (!ret)
		ret = hmmsim_migrate_range_to_device(mirror, NULL, start, end,
						     &moved);
	if (ret)
		return ret;
	return hmmsim_mirror_readback(mirror, cmd, true);
}

/*
 * One window from device memory to system memory; args from
 * migrate_vma_setup() or migrate_device_range() (then with no VMA). Returns
 * the number of pages moved; *err is set to a negative errno if a page
 * could not get system memory or the copy failed.
 */
static unsigned long hmmsim_migrate_window_to_ram(struct hmmsim_migration *m,
						  struct mm_struct *mm,
						  struct migrate_vma *args,
						  gfp_t gfp,
						  enum hmmsim_migrate_kind kind,
						  int *err)
{
	unsigned long i, moved = 0;
	int ret = 0;

	if (mm)
		hmmsim_mirrors_unmap_migrating(m->hdev, mm, args, NULL);

	hmmsim_copy_batch_reset(&m->batch);
	for (i = 0; i < args->npages; i++) {
		unsigned long src = args->src[i];
		struct page *spage = migrate_pfn_to_page(src);
		struct hmmsim_copy_desc d = { .len = PAGE_SIZE };
		struct page *dpage;

		args->dst[i] = 0;
		if (!spage || !(src & MIGRATE_PFN_MIGRATE))
			continue;
		if (args->vma)
			dpage = alloc_page_vma(gfp, args->vma,
					       args->start + (i << PAGE_SHIFT));
		else
			dpage = alloc_page(gfp);
		if (!dpage) {
			ret = -ENOMEM;
			continue;
		}
		lock_page(dpage);
		hmmsim_copy_endpoint(spage, &d.src_page, &d.src_addr);
		d.dst_page = dpage;
		hmmsim_copy_add(&m->batch, &d);
		args->dst[i] = migrate_pfn(page_to_pfn(dpage));
		if (src & MIGRATE_PFN_WRITE)
			args->dst[i] |= MIGRATE_PFN_WRITE;
	}
	hmmsim_copy_submit(&m->batch);
	if (hmmsim_copy_wait(&m->batch)) {
		for (i = 0; i < args->npages; i++) {
			struct page *dpage = migrate_pfn_to_page(args->dst[i]);

			if (dpage) {
				unlock_page(dpage);
				put_page(dpage);
			}
			args->dst[i] = 0;
		}
		ret = -EIO;
	}

	if (args->vma)
		migrate_vma_pages(args);
	else
		migrate_device_pages(args->src, args->dst, args->npages);
	for (i = 0; i < args->npages; i++)
		if ((args->src[i] & MIGRATE_PFN_VALID) &&
		    (args->src[i] & MIGRATE_PFN_MIGRATE))
			moved++;
	if (args->vma)
		migrate_vma_finalize(args);
	else
		migrate_device_finalize(args->src, args->dst, args->npages);

	hmmsim_count(m->hdev, HMMSIM_STAT_FROM_DEVICE, moved);
	trace_hmmsim_migrate(m->hdev->id, kind, args->start,
			     args->start + (args->npages << PAGE_SHIFT), moved);
	*err = ret;
	return moved;
}

/**
 * hmmsim_migrate_range_to_system() - move a device's pages back
 * @mirror: the mirror whose device's pages move.
 * @start: first address; [start, end) is covered by readable VMAs.
 * @end: end address.
 * @cpages: the pages moved are added here.
 *
 * Return: 0 or a negative errno.
 */
int hmmsim_migrate_range_to_system(struct hmmsim_mirror *mirror,
				   unsigned long start, unsigned long end,
				   unsigned long *cpages)
{
	struct mm_struct *mm = mirror->mm;
	struct hmmsim_migration *m;
	unsigned long addr, next;
	int ret = 0;

	m = hmmsim_migration_get(mirror);
	if (!m)
		return -ENOMEM;

	for (addr = start; addr < end; addr = next) {
		struct migrate_vma args = {
			.src = m->src,
			.dst = m->dst,
			.pgmap_owner = mirror->hdev,
			.flags = hmmsim_select(mirror->hdev),
		};

		ret = hmmsim_window_setup(mm, &args, addr, end);
		if (ret)
			break;
		next = args.end;
		*cpages += hmmsim_migrate_window_to_ram(m, mm, &args,
							GFP_HIGHUSER_MOVABLE,
							HMMSIM_TO_SYSTEM, &ret);
		mmap_read_unlock(mm);
		if (!ret)
			ret = hmmsim_window_done();
		if (ret)
			break;
	}
	hmmsim_migration_put(mirror, m);
	return ret;
}

/**
 * hmmsim_migrate_to_system() - HMM_DMIRROR_MIGRATE_TO_SYS
 * @mirror: the mirror.
 * @cmd: the validated command; cpages counts the pages moved.
 *
 * Return: 0, -EINVAL for a range with a hole or an unreadable VMA, or
 * another negative errno.
 */
int hmmsim_migrate_to_system(struct hmmsim_mirror *mirror,
			     struct hmm_dmirror_cmd *cmd)
{
	unsigned long start = cmd->addr;
	unsigned long end = start + (cmd->npages << PAGE_SHIFT);
	unsigned long moved = 0;
	int ret;

	ret = hmmsim_check_vmas(mirror->mm, start, end, 0);
	if (ret)
		return ret;
	ret = hmmsim_migrate_range_to_system(mirror, start, end, &moved);
	cmd->cpages = moved;
	return ret;
}

/**
 * hmmsim_migrate_home() - bring this device's pages in a range back
 * @mirror: the mirror.
 * @start: first address, in a VMA that hmm_range_fault() just walked.
 * @end: end address.
 *
 * For a device write to a page of this device that is mapped read-only:
 * hmm_range_fault() reports such pages without faulting them, so the write
 * fault must be taken on a system page.
 *
 * Return: 0 or a negative errno.
 */
int hmmsim_migrate_home(struct hmmsim_mirror *mirror, unsigned long start,
			unsigned long end)
{
	unsigned long moved = 0;

	return hmmsim_migrate_range_to_system(mirror, start, end, &moved);
}

/**
 * hmmsim_migrate_to_ram() - dev_pagemap_ops.migrate_to_ram
 * @vmf: the CPU fault on a device private page.
 *
 * Brings back the faulting page and, with it, every page of this device in
 * the same 2 MiB window of the VMA: a CPU touching one page of a buffer is
 * about to touch its neighbours.
 *
 * Return: 0, VM_FAULT_SIGBUS or VM_FAULT_OOM.
 */
vm_fault_t hmmsim_migrate_to_ram(struct vm_fault *vmf)
{
	struct hmmsim_device *hdev = hmmsim_page_device(vmf->page);
	struct vm_area_struct *vma = vmf->vma;
	struct hmmsim_migration m;
	struct migrate_vma args = {
		.vma = vma,
		.pgmap_owner = hdev,
		.flags = MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
		.fault_page = vmf->page,
	};
	unsigned long nr = HMMSIM_WINDOW_PAGES;
	int err;

	/* Under memory pressure, fall back to the faulting page alone. */
	if (hmmsim_migration_init(&m, hdev, nr, GFP_KERNEL | __GFP_NOWARN)) {
		nr = 1;
		if (hmmsim_migration_init(&m, hdev, nr, GFP_KERNEL))
			return VM_FAULT_OOM;
	}
	if (nr == 1) {
		args.start = vmf->address & PAGE_MASK;
		args.end = args.start + PAGE_SIZE;
	} else {
		args.start = max(vma->vm_start,
				 ALIGN_DOWN(vmf->address, HMMSIM_WINDOW_SIZE));
		args.end = min(vma->vm_end,
			       ALIGN_DOWN(vmf->address, HMMSIM_WINDOW_SIZE) +
			       HMMSIM_WINDOW_SIZE);
	}
	args.src = m.src;
	args.dst = m.dst;

	if (migrate_vma_setup(&args)) {
		hmmsim_migration_fini(&m);
		return VM_FAULT_SIGBUS;
	}
	hmmsim_count(hdev, HMMSIM_STAT_CPU_FAULTS, 1);
	hmmsim_migrate_window_to_ram(&m, vma->vm_mm, &args,
				     GFP_HIGHUSER_MOVABLE, HMMSIM_CPU_FAULT,
				     &err);
	hmmsim_migration_fini(&m);
	/*
	 * If the faulting page did not move, the fault is retried; only a
	 * failure to get memory for it is worth reporting.
	 */
	return err == -ENOMEM ? VM_FAULT_OOM : 0;
}

/* Move the device pages [idx, idx + n) to system memory, as they are. */
static unsigned long hmmsim_evict_run(struct hmmsim_migration *m,
				      unsigned long idx, unsigned long n,
				      gfp_t gfp, int *err)
{
	struct migrate_vma args = {
		.src = m->src,
		.dst = m->dst,
		.npages = n,
	};

	migrate_device_range(m->src, m->hdev->mem.pfn_first + idx, n);
	return hmmsim_migrate_window_to_ram(m, NULL, &args, gfp,
					    HMMSIM_TO_SYSTEM, err);
}

/* The mm of @owner, with a reference, if @owner is still a mirror of @hdev. */
static struct mm_struct *hmmsim_owner_mm(struct hmmsim_device *hdev,
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

static struct hmmsim_mirror *hmmsim_owner_of(struct hmmsim_device *hdev,
					     unsigned long idx)
{
	return READ_ONCE(pfn_to_page(hdev->mem.pfn_first + idx)->zone_device_data);
}

/*
 * Move the device pages [idx, idx + n) that are in use to system memory.
 * Returns the pages moved; busy pages stay, and so do the pages of a
 * process whose mmap lock is taken.
 *
 * migrate_device_range() takes neither the mmap lock nor a reference on the
 * anon_vma of the pages it unmaps: if the process unmapped them meanwhile,
 * migrate_device_finalize() would walk a freed anon_vma to put them back
 * (the rmap requires one or the other). So every page is evicted under the
 * mmap lock of the process of the mirror that owns it: @locked's, which the
 * caller holds, or one taken here with a trylock, since the caller may hold
 * another process's mmap lock already. Pages without an owner (their file
 * was closed with evict_on_close off) are evicted without.
 */
static unsigned long hmmsim_evict_pages(struct hmmsim_migration *m,
					unsigned long idx, unsigned long n,
					struct hmmsim_mirror *locked,
					gfp_t gfp, int *err)
{
	struct hmmsim_device *hdev = m->hdev;
	unsigned long end = idx + n, moved = 0, run;

	for (; idx < end; idx += run) {
		struct hmmsim_mirror *owner = hmmsim_owner_of(hdev, idx);
		struct mm_struct *mm;

		for (run = 1; idx + run < end &&
		     hmmsim_owner_of(hdev, idx + run) == owner; run++)
			;
		if (!owner || owner == locked) {
			moved += hmmsim_evict_run(m, idx, run, gfp, err);
			continue;
		}
		mm = hmmsim_owner_mm(hdev, owner);
		if (!mm)
			continue;	/* being closed: disowned shortly */
		if (mmap_read_trylock(mm)) {
			moved += hmmsim_evict_run(m, idx, run, gfp, err);
			mmap_read_unlock(mm);
		}
		mmdrop(mm);
	}
	return moved;
}

/**
 * hmmsim_evict_chunk() - evict a chunk of device memory to make room
 * @hdev: the device.
 * @chunk: index of the chunk (HMMSIM_CHUNK_SIZE bytes).
 * @locked: the mirror allocating, whose mm the caller holds locked.
 *
 * Pages in use that are not busy go to system memory, whoever maps them;
 * the CPU finds them there at its next access, with their data.
 *
 * Return: the pages evicted, or a negative errno.
 */
long hmmsim_evict_chunk(struct hmmsim_device *hdev, unsigned long chunk,
			struct hmmsim_mirror *locked)
{
	struct hmmsim_migration m;
	unsigned long moved;
	int ret;

	if (hmmsim_should_fail(&hdev->fail_evict))
		return -EIO;
	ret = hmmsim_migration_init(&m, hdev, HMMSIM_CHUNK_PAGES, GFP_KERNEL);
	if (ret)
		return ret;
	moved = hmmsim_evict_pages(&m, chunk * HMMSIM_CHUNK_PAGES,
				   HMMSIM_CHUNK_PAGES, locked,
				   GFP_HIGHUSER_MOVABLE, &ret);
	hmmsim_migration_fini(&m);
	hmmsim_count(hdev, HMMSIM_STAT_EVICTIONS, moved);
	trace_hmmsim_evict(hdev->id, chunk * HMMSIM_CHUNK_PAGES,
			   HMMSIM_CHUNK_PAGES, moved);
	return moved ? moved : ret;
}

/**
 * hmmsim_evict_owned() - move every page a mirror put on its device back
 * @mirror: the mirror (RELEASE, or its file is being closed).
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
 * them or exit, or the device goes away (the caller disowns them).
 */
void hmmsim_evict_owned(struct hmmsim_mirror *mirror)
{
	struct hmmsim_device *hdev = mirror->hdev;
	struct hmmsim_migration m;
	unsigned long idx, run, n;
	int pass, err;

	if (!hdev->mem.pagemap_live || !mmget_not_zero(mirror->mm))
		return;
	hmmsim_migration_init(&m, hdev, HMMSIM_EVICT_PAGES,
			      GFP_KERNEL | __GFP_NOFAIL);
	mmap_read_lock(mirror->mm);
	for (pass = 0; pass < 8; pass++) {
		bool found = false;

		for (idx = 0;; idx += run) {
			idx = hmmsim_devmem_find_owned(hdev, mirror, idx, &run);
			if (idx >= hdev->mem.npages)
				break;
			found = true;
			for (n = 0; n < run; n += HMMSIM_EVICT_PAGES)
				hmmsim_evict_pages(&m, idx + n,
						   min_t(unsigned long, run - n,
							 HMMSIM_EVICT_PAGES),
						   mirror, GFP_HIGHUSER_MOVABLE |
						   __GFP_NOFAIL, &err);
			cond_resched();
		}
		if (!found)
			break;
	}
	mmap_read_unlock(mirror->mm);
	/* Not the exit of the mm here, under the device's lock. */
	mmput_async(mirror->mm);
	hmmsim_migration_fini(&m);
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
	struct hmmsim_migration m;
	unsigned long idx, used;
	unsigned int waited = 0;
	int err;

	hmmsim_migration_init(&m, hdev, HMMSIM_EVICT_PAGES,
			      GFP_KERNEL | __GFP_NOFAIL);
	while ((used = hmmsim_devmem_nr_used(hdev))) {
		for (idx = 0; idx < mem->npages; idx += HMMSIM_EVICT_PAGES) {
			hmmsim_evict_pages(&m, idx,
					   min_t(unsigned long,
						 mem->npages - idx,
						 HMMSIM_EVICT_PAGES), NULL,
					   GFP_HIGHUSER_MOVABLE | __GFP_NOFAIL,
					   &err);
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
	hmmsim_migration_fini(&m);
}

/*
 * make_device_exclusive_range() skips the tail pages of a large folio
 * (hmmsim_exclusive_splits_thp()). Split any PMD-mapped THP in [start, end)
 * into small pages first:
 * migrate_vma_setup() splits a THP it collects, and finalizing without
 * destinations puts every page back where it was.
 */
static int hmmsim_split_thp(struct hmmsim_migration *m,
			    struct hmmsim_mirror *mirror,
			    struct vm_area_struct *vma, unsigned long start,
			    unsigned long end)
{
	struct hmm_range range = {
		.notifier = &mirror->notifier,
		.start = start,
		.end = end,
		.hmm_pfns = m->src,
		.dev_private_owner = mirror->hdev,
	};
	struct migrate_vma args = {
		.vma = vma,
		.src = m->src,
		.dst = m->dst,
		.start = start,
		.end = end,
		.pgmap_owner = mirror->hdev,
		.flags = MIGRATE_VMA_SELECT_SYSTEM,
	};
	unsigned long i, npages = (end - start) >> PAGE_SHIFT;
	bool thp = false;
	int ret;

	range.notifier_seq = mmu_interval_read_begin(range.notifier);
	ret = hmm_range_fault(&range);
	if (ret)
		return ret;
	for (i = 0; i < npages && !thp; i++)
		thp = (m->src[i] & HMM_PFN_VALID) &&
		      hmm_pfn_to_map_order(m->src[i]);
	if (!thp)
		return 0;

	ret = migrate_vma_setup(&args);
	if (ret)
		return ret;
	hmmsim_mirrors_unmap_migrating(mirror->hdev, vma->vm_mm, &args, NULL);
	memset(m->dst, 0, npages * sizeof(*m->dst));
	migrate_vma_pages(&args);
	migrate_vma_finalize(&args);
	return 0;
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

/* One window of HMM_DMIRROR_EXCLUSIVE, with the mmap lock held. */
static int hmmsim_exclusive_window(struct hmmsim_migration *m,
				   struct hmmsim_mirror *mirror,
				   struct vm_area_struct *vma,
				   unsigned long start, unsigned long end)
{
	unsigned long addr, npages = (end - start) >> PAGE_SHIFT;
	long pinned;
	int ret = 0;

	if (hmmsim_exclusive_splits_thp()) {
		ret = hmmsim_split_thp(m, mirror, vma, start, end);
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
					      m->pins);
	if (pinned < 0)
		return pinned;
	if (pinned < npages) {
		unpin_user_pages(m->pins, pinned);
		return -EBUSY;
	}
	for (addr = start; addr < end && !ret; addr += PAGE_SIZE)
		ret = hmmsim_exclusive_page(mirror, addr);
	unpin_user_pages(m->pins, pinned);
	return ret;
}

/**
 * hmmsim_migrate_exclusive() - HMM_DMIRROR_EXCLUSIVE
 * @mirror: the mirror.
 * @cmd: the validated command; cpages is set.
 *
 * Gives the device exclusive access to the range (the CPU's next access to a
 * page takes it back), maps it for atomics, and reads it back.
 *
 * Return: 0, -EBUSY if a page could not be made exclusive, or another
 * negative errno.
 */
int hmmsim_migrate_exclusive(struct hmmsim_mirror *mirror,
			     struct hmm_dmirror_cmd *cmd)
{
	unsigned long start = cmd->addr;
	unsigned long end = start + (cmd->npages << PAGE_SHIFT);
	struct mm_struct *mm = mirror->mm;
	struct hmmsim_migration *m;
	unsigned long addr, next;
	int ret, tries;

	/*
	 * Only private anonymous memory can hold device-exclusive entries:
	 * shared mappings (file, shmem) and hugetlbfs have no anonymous pages
	 * to convert. make_device_exclusive() says -EOPNOTSUPP for them,
	 * where make_device_exclusive_range() skipped them (-EBUSY): hmmsim
	 * says -EOPNOTSUPP on every kernel, before anything is exclusive.
	 */
	ret = hmmsim_check_vmas(mm, start, end, VM_SHARED | VM_HUGETLB);
	if (ret)
		return ret;
	m = hmmsim_migration_get(mirror);
	if (!m)
		return -ENOMEM;

	for (addr = start; addr < end; addr = next) {
		struct vm_area_struct *vma;

		for (tries = 0; tries < 8; tries++) {
			if (mmap_read_lock_killable(mm)) {
				ret = -EINTR;
				goto out;
			}
			vma = vma_lookup(mm, addr);
			if (!vma || !(vma->vm_flags & VM_READ)) {
				mmap_read_unlock(mm);
				ret = -EINVAL;
				goto out;
			}
			next = hmmsim_migrate_next(vma, addr, end);
			ret = hmmsim_exclusive_window(m, mirror, vma, addr,
						      next);
			mmap_read_unlock(mm);
			if (ret != -EAGAIN && ret != -EBUSY)
				break;
			if (fatal_signal_pending(current)) {
				ret = -EINTR;
				goto out;
			}
			cond_resched();
		}
		if (ret == -EAGAIN)
			ret = -EBUSY;
		if (ret)
			goto out;
	}
out:
	hmmsim_migration_put(mirror, m);
	if (ret)
		return ret;
	return hmmsim_mirror_readback(mirror, cmd, false);
}
