// SPDX-License-Identifier: GPL-2.0
/**
 * DOC: Migration
 *
 * Moving the pages of a range of an address space between system memory
 * and device memory, one window (at most 2 MiB, never across a VMA) at a
 * time: lock the mm, migrate_vma_setup(), then the steps of move.c.
 *
 * - system (or another device) to device: hmmsim_migrate_to_device(),
 *   which gets destination pages from hmmsim_evict_alloc() (evicting when
 *   the device is full) between migrate_vma_setup() and the copy;
 * - device to system: hmmsim_migrate_to_system();
 * - the CPU faulting on a device private page, dev_pagemap_ops
 *   .migrate_to_ram: hmmsim_migrate_cpu_fault(), which brings back the
 *   whole window around the fault rather than one page.
 *
 * The two range functions keep two windows in flight: the copy of one runs
 * on the copy engine's channels while the kernel finishes the migration of
 * the one before (struct hmmsim_migrate_run); to the device, one where the
 * device cannot hold two, and in a VMA that KSM may merge. They hold the
 * mmap lock from one window to the next, and let go of it between windows
 * when another task waits for it. A window in flight holds its pages
 * collected, so the eviction that makes room for the next one cannot take
 * them, nor the device pages they go to, whose address eviction learns
 * only when they have arrived.
 *
 * Both range functions add the pages they moved to the span as each window
 * completes, also the window that then fails.
 */
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/mmap_lock.h>

#include "hmmsim_drv.h"
#include "trace.h"

/*
 * A window in flight: collected, given its destinations, its copy started;
 * @ret is what giving it destinations returned. To the device: @got, the
 * device pages it was given, and @arrival, the mirror's watch on it
 * (hmmsim_mirror_expect()).
 */
struct hmmsim_migrate_flight {
	struct migrate_vma args;
	struct hmmsim_scratch *s;
	unsigned long got;
	struct hmmsim_arrival arrival;
	int ret;
};

/*
 * One migration of @span, to the mirror's device (@to_device, from @src, or
 * from system memory when NULL) or back to system memory, with up to @depth
 * windows of @flights in flight: @nr of them, listed in @f, the oldest
 * first. @err is what a window finished early returned
 * (hmmsim_migrate_end_early()).
 */
struct hmmsim_migrate_run {
	struct hmmsim_mirror *mirror;
	struct hmmsim_device *src;
	bool to_device;
	struct hmmsim_span *span;
	struct hmmsim_migrate_flight flights[2];
	struct hmmsim_migrate_flight *f[2];
	unsigned int nr;
	unsigned int depth;
	int err;
};

/* Whether an hmm_range_fault() entry is a KSM page. */
static bool hmmsim_migrate_pfn_ksm(unsigned long hmm_pfn)
{
	return (hmm_pfn & HMM_PFN_VALID) &&
	       folio_test_ksm(page_folio(hmm_pfn_to_page(hmm_pfn)));
}

/*
 * KSM pages must never be collected by a migration to a device (see
 * hmmsim_migrate_skip_ksm()). In a VM_MERGEABLE VMA, look at the window
 * [args->start, args->end) without faulting (into @pfns, a window's worth)
 * and cut it before its first KSM page. Returns 0, or, when the window
 * starts with KSM pages, the end of their run: the caller skips them.
 */
static unsigned long hmmsim_migrate_cut_ksm(struct hmmsim_mirror *mirror,
					    unsigned long *pfns,
					    struct migrate_vma *args)
{
	struct hmm_range range = {
		.notifier = &mirror->notifier,
		.start = args->start,
		.end = args->end,
		.hmm_pfns = pfns,
		.dev_private_owner = mirror->hdev,
	};
	unsigned long i = 0, npages = (args->end - args->start) >> PAGE_SHIFT;

	if (!(args->vma->vm_flags & VM_MERGEABLE))
		return 0;
	range.notifier_seq = mmu_interval_read_begin(range.notifier);
	if (hmm_range_fault(&range))
		return 0;	/* hmmsim_migrate_skip_ksm() is the fallback */
	while (i < npages && !hmmsim_migrate_pfn_ksm(pfns[i]))
		i++;
	if (i == npages)
		return 0;
	if (i) {
		args->end = args->start + (i << PAGE_SHIFT);
		return 0;
	}
	while (i < npages && hmmsim_migrate_pfn_ksm(pfns[i]))
		i++;
	return args->start + (i << PAGE_SHIFT);
}

/* Finish the oldest window in flight; what it moved is added to the span. */
static int hmmsim_migrate_end(struct hmmsim_migrate_run *r)
{
	struct hmmsim_migrate_flight *f = r->f[0];
	unsigned long *moved = &r->span->pages;
	int ret;

	if (r->to_device)
		ret = hmmsim_move_to_device_end(f->s, r->mirror, &f->args,
						&f->arrival, moved);
	else
		ret = hmmsim_move_to_system_end(f->s, &f->args, f->ret,
						HMMSIM_TO_SYSTEM, moved);
	r->f[0] = r->f[1];
	r->nr--;
	return f->ret ? f->ret : ret;
}

/* Finish the window in flight ahead of time; its error becomes the run's. */
static void hmmsim_migrate_end_early(struct hmmsim_migrate_run *r)
{
	int err = hmmsim_migrate_end(r);

	r->err = r->err ? r->err : err;
}

/*
 * Set up the migration of the window of @r that starts at @addr in @f
 * (whose args have src, dst, pgmap_owner and flags set), with the mmap
 * lock held: the VMA must be readable, and the window ends at the next
 * window boundary, the VMA's end or the span's. To the device, the window
 * also ends before a KSM page, and the mirror expects it. Returns 1, with
 * @f->args.end set, for a window of KSM pages, which is not set up.
 */
static int hmmsim_migrate_collect(struct hmmsim_migrate_run *r,
				  struct hmmsim_migrate_flight *f,
				  unsigned long addr)
{
	struct migrate_vma *args = &f->args;
	unsigned long skip;
	int ret;

	hmmsim_mmap_assert_locked(r->mirror->mm);
	args->vma = vma_lookup(r->mirror->mm, addr);
	if (!args->vma || !(args->vma->vm_flags & VM_READ))
		return -EINVAL;
	args->start = addr;
	args->end = hmmsim_move_window_end(args->vma, addr, r->span->end);
	if (!r->to_device)
		return migrate_vma_setup(args);
	/*
	 * The look for KSM pages waits out the invalidations in progress, one
	 * of which may be waiting for the pages of the window in flight.
	 */
	if ((args->vma->vm_flags & VM_MERGEABLE) && r->nr)
		hmmsim_migrate_end_early(r);
	skip = hmmsim_migrate_cut_ksm(r->mirror, args->dst, args);
	if (skip) {
		args->end = skip;
		return 1;
	}
	hmmsim_mirror_expect(r->mirror, &f->arrival, args->start, args->end);
	ret = migrate_vma_setup(args);
	/* No pages (args->npages is 0): the mirror just lets go of it. */
	if (ret)
		hmmsim_mirror_map_migrated(r->mirror, args, &f->arrival);
	return ret;
}

/* The collected pages of the window that need a page of @hdev's. */
static unsigned int hmmsim_migrate_wants(const struct migrate_vma *args,
					 struct hmmsim_device *hdev)
{
	unsigned int want = 0;
	unsigned long i;

	for (i = 0; i < args->npages; i++)
		if ((args->src[i] & MIGRATE_PFN_MIGRATE) &&
		    !hmmsim_is_own_page(migrate_pfn_to_page(args->src[i]), hdev))
			want++;
	return want;
}

/*
 * The fallback for a page that became KSM after hmmsim_migrate_cut_ksm()
 * looked: leave the window's KSM pages out of the migration by clearing
 * MIGRATE_PFN_MIGRATE before anything counts them or gives them a
 * destination, so that nothing downstream sees them as moving (the device
 * page table, the allocation, the copy, the counters) and
 * migrate_vma_finalize() maps them back where they were. The kernel
 * migrates a KSM page to device memory with its stable tree node, and ksmd
 * then reads it: memcmp_pages() on a device private page, ksm_get_folio()
 * on a coherent page whose device is gone, both oops (see
 * Documentation/reliability.rst). Only a fallback: on 7.2 a KSM page that
 * migrate_vma_setup() collected was seen not to be mapped back everywhere
 * by migrate_vma_finalize(), which is why the window is cut first.
 */
static void hmmsim_migrate_skip_ksm(struct migrate_vma *args)
{
	unsigned long i;

	for (i = 0; i < args->npages; i++) {
		struct page *page = migrate_pfn_to_page(args->src[i]);

		if ((args->src[i] & MIGRATE_PFN_MIGRATE) && page &&
		    folio_test_ksm(page_folio(page)))
			args->src[i] &= ~MIGRATE_PFN_MIGRATE;
	}
}

/*
 * For a window collected as one THP (it is 2 MiB, aligned, and its first
 * entry is compound), a 2 MiB device folio in @s->pages[0]. Returns whether
 * it got one; when it did not, the migration falls back to single pages,
 * one per page of the window.
 */
static bool hmmsim_migrate_alloc_thp(struct hmmsim_scratch *s,
				     struct hmmsim_mirror *mirror,
				     const struct migrate_vma *args, bool fail)
{
	if (!(args->src[0] & HMMSIM_MIGRATE_PFN_COMPOUND))
		return false;
	s->pages[0] = fail ? NULL : hmmsim_evict_alloc_thp(mirror);
	if (s->pages[0])
		return true;
	hmmsim_count(mirror->hdev, HMMSIM_STAT_THP_FALLBACKS, 1);
	trace_hmmsim_thp(mirror->hdev->id, HMMSIM_THP_FALLBACK_DEVICE,
			 args->src[0] >> MIGRATE_PFN_SHIFT);
	return false;
}

/*
 * Eviction cannot take the pages of the window in flight until they have
 * arrived: when the device cannot hold them and @want pages more, finish
 * that window first, as a driver waits for a copy's fence before it
 * reuses the memory.
 */
static void hmmsim_migrate_make_room(struct hmmsim_migrate_run *r,
				     unsigned long want)
{
	struct hmmsim_device *hdev = r->mirror->hdev;

	if (r->nr && r->f[0]->got + want >
		     hdev->mem.npages - hmmsim_devmem_nr_retired(hdev))
		hmmsim_migrate_end_early(r);
}

/*
 * Give a window collected for the mirror's device (@f) its device pages,
 * and start its copy, with the mmap lock held. Returns 0, or -ENOMEM when
 * some pages could not get device memory (the others move).
 */
static int hmmsim_migrate_window(struct hmmsim_migrate_run *r,
				 struct hmmsim_migrate_flight *f)
{
	struct hmmsim_mirror *mirror = r->mirror;
	struct migrate_vma *args = &f->args;
	struct hmmsim_scratch *s = f->s;
	bool thp = args->src[0] & HMMSIM_MIGRATE_PFN_COMPOUND;
	unsigned int want, got;
	bool fail = false;

	hmmsim_mmap_assert_locked(mirror->mm);
	hmmsim_migrate_skip_ksm(args);
	hmmsim_move_skip_lost(args);
	want = hmmsim_migrate_wants(args, mirror->hdev);
	f->got = 0;
	if (!want) {
		hmmsim_move_to_device_begin(s, args, 0);
		return 0;
	}
	hmmsim_migrate_make_room(r, thp ? args->npages : want);
	/*
	 * HMM_DMIRROR_FLAG_FAIL_ALLOC fails this window's first allocation
	 * attempt, as lib/test_hmm fails a 2 MiB one; the migration falls
	 * back to single pages and goes on. The failed attempt shows in
	 * alloc_failures, and for a THP in thp_fallbacks.
	 */
	if (test_and_clear_bit(HMMSIM_MIRROR_FAIL_ALLOC, &mirror->flags)) {
		hmmsim_count(mirror->hdev, HMMSIM_STAT_ALLOC_FAILURES, 1);
		fail = true;
	}
	if (hmmsim_migrate_alloc_thp(s, mirror, args, fail)) {
		f->got = args->npages;
		hmmsim_move_to_device_begin(s, args, 1);
		return 0;
	}
	/* The fallback: a page for each page of the THP (or 2 MiB hole). */
	if (thp)
		want = args->npages;
	got = hmmsim_evict_alloc(mirror, s->pages, want);
	/*
	 * A 2 MiB hole is filled whole or not at all: the kernel inserts a
	 * page for every entry of a compound hole whose destination is not
	 * compound, and would find none past the pages allocated.
	 */
	if (got < want && thp && !migrate_pfn_to_page(args->src[0])) {
		while (got)
			hmmsim_devmem_free_unused(s->pages[--got]);
	}
	f->got = got;
	hmmsim_move_to_device_begin(s, args, got);
	return got < want ? -ENOMEM : 0;
}

/* What @f collects: the pages of @r's source. */
static void hmmsim_migrate_args(struct hmmsim_migrate_run *r,
				struct hmmsim_migrate_flight *f)
{
	struct hmmsim_device *hdev = r->mirror->hdev;
	struct hmmsim_device *src = r->src ? r->src : hdev;
	unsigned long select = hmmsim_move_select(src);

	/*
	 * From system memory, this device's own pages in the window are
	 * collected too, and left where they are: collected pages are busy,
	 * so making room for the others cannot evict them.
	 */
	if (r->to_device && !r->src)
		select |= MIGRATE_VMA_SELECT_SYSTEM;
	f->args = (struct migrate_vma){
		.src = f->s->src,
		.dst = f->s->dst,
		.pgmap_owner = src,
		.flags = select | hmmsim_move_compound(hdev),
	};
}

/*
 * Collect the window at @addr in @f, give it its destinations and start its
 * copy, with the mmap lock held. Returns 0 with the window in flight (and
 * what giving it destinations returned in @f->ret), or, with nothing in
 * flight, 1 for a window of KSM pages, which stay where they are (up to
 * @f->args.end), or a negative errno.
 */
static int hmmsim_migrate_begin(struct hmmsim_migrate_run *r,
				struct hmmsim_migrate_flight *f,
				unsigned long addr)
{
	int ret;

	hmmsim_migrate_args(r, f);
	ret = hmmsim_migrate_collect(r, f, addr);
	if (ret)
		return ret;
	if (r->to_device)
		f->ret = hmmsim_migrate_window(r, f);
	else
		f->ret = hmmsim_move_to_system_begin(f->s, &f->args,
						     GFP_HIGHUSER_MOVABLE);
	return 0;
}

/* Finish every window in flight; returns the first error. */
static int hmmsim_migrate_drain(struct hmmsim_migrate_run *r)
{
	int ret = 0, err;

	while (r->nr) {
		err = hmmsim_migrate_end(r);
		ret = ret ? ret : err;
	}
	return ret;
}

/*
 * Between windows: when another task waits for the mmap lock, or for a
 * fatal signal, finish the windows in flight and let go of the lock, then
 * take it again (*@locked) and go on, or stop.
 */
static int hmmsim_migrate_pause(struct hmmsim_migrate_run *r, bool *locked)
{
	struct mm_struct *mm = r->mirror->mm;
	int ret;

	if (!fatal_signal_pending(current) && !mmap_lock_is_contended(mm)) {
		cond_resched();
		return 0;
	}
	ret = hmmsim_migrate_drain(r);
	mmap_read_unlock(mm);
	*locked = false;
	if (!ret)
		ret = hmmsim_window_done();
	if (!ret && !mmap_read_lock_killable(mm))
		*locked = true;
	return ret ? ret : (*locked ? 0 : -EINTR);
}

/*
 * Run @r over its span: two windows in flight when @s has a twin
 * (hmmsim_scratch_twin()), one copying on the engine's channels while the
 * kernel finishes the migration of the one before. The mmap lock is held
 * from one window to the next, and let go of when another task waits for
 * it.
 */
static int hmmsim_migrate_run(struct hmmsim_migrate_run *r,
			      struct hmmsim_scratch *s)
{
	struct hmmsim_span *span = r->span;
	unsigned long addr = span->start;
	bool locked = true;
	int ret, err;

	r->flights[0].s = s;
	r->flights[1].s = span->end - span->start > HMMSIM_WINDOW_SIZE ?
			  hmmsim_scratch_twin(s) : NULL;
	r->depth = r->flights[1].s ? 2 : 1;
	if (mmap_read_lock_killable(r->mirror->mm))
		return -EINTR;
	for (ret = 0; !ret && !r->err && addr < span->end; ) {
		/* The window not in flight, of the two. */
		struct hmmsim_migrate_flight *f =
			&r->flights[r->nr && r->f[0] == &r->flights[0]];

		ret = hmmsim_migrate_begin(r, f, addr);
		if (ret < 0)
			break;
		addr = f->args.end;
		if (!ret) {
			r->f[r->nr++] = f;
			/* Out of memory: move what is in flight, and stop. */
			if (f->ret)
				break;
		}
		ret = r->nr == r->depth ? hmmsim_migrate_end(r) : 0;
		if (!ret && addr < span->end)
			ret = hmmsim_migrate_pause(r, &locked);
	}
	err = hmmsim_migrate_drain(r);
	ret = ret ? ret : (r->err ? r->err : err);
	if (locked)
		mmap_read_unlock(r->mirror->mm);
	return ret;
}

/**
 * hmmsim_migrate_to_device() - move a range's pages to a device
 * @mirror: the mirror whose device receives the pages.
 * @s: the command's scratch buffers.
 * @src: the device the pages come from, or NULL for system memory.
 * @span: the range, covered by readable VMAs; the pages moved are added to
 *	@span->pages.
 *
 * Pages that are not in the source stay where they are. A device-to-device
 * move copies from one device's memory to the other's, with no bounce
 * through system memory. Two windows are in flight, as in
 * hmmsim_migrate_to_system().
 *
 * Return: 0, -EINVAL if the VMAs changed meanwhile, -ENOMEM when device
 * memory ran out, or another negative errno.
 */
int hmmsim_migrate_to_device(struct hmmsim_mirror *mirror,
			     struct hmmsim_scratch *s,
			     struct hmmsim_device *src,
			     struct hmmsim_span *span)
{
	struct hmmsim_migrate_run r = {
		.mirror = mirror,
		.src = src,
		.to_device = true,
		.span = span,
	};

	return hmmsim_migrate_run(&r, s);
}

/**
 * hmmsim_migrate_to_system() - move a device's pages in a range back
 * @mirror: the mirror whose device's pages move.
 * @s: the command's scratch buffers.
 * @span: the range, covered by readable VMAs; the pages moved are added to
 *	@span->pages.
 *
 * Two windows are in flight when @s has a twin (hmmsim_scratch_twin()):
 * one copies, on the engine's channels, while the kernel finishes the
 * migration of the one before. The mmap lock is held from one window to
 * the next, and let go of when another task waits for it.
 *
 * Return: 0 or a negative errno.
 */
int hmmsim_migrate_to_system(struct hmmsim_mirror *mirror,
			     struct hmmsim_scratch *s,
			     struct hmmsim_span *span)
{
	struct hmmsim_migrate_run r = {
		.mirror = mirror,
		.span = span,
	};

	return hmmsim_migrate_run(&r, s);
}

/*
 * The window around a CPU fault: 2 MiB in the VMA, or the page alone. A
 * fault through a PMD is on a 2 MiB device folio, which the window then
 * covers exactly, and collects whole; through a PTE, a folio mapped in part
 * is split as it is collected.
 */
static void hmmsim_migrate_fault_window(struct vm_fault *vmf, unsigned long nr,
					struct migrate_vma *args)
{
	unsigned long base = ALIGN_DOWN(vmf->address, HMMSIM_WINDOW_SIZE);

	if (nr == 1) {
		args->start = vmf->address & PAGE_MASK;
		args->end = args->start + PAGE_SIZE;
	} else {
		args->start = max(vmf->vma->vm_start, base);
		args->end = min(vmf->vma->vm_end, base + HMMSIM_WINDOW_SIZE);
	}
}

/**
 * hmmsim_migrate_cpu_fault() - dev_pagemap_ops.migrate_to_ram
 * @vmf: the CPU fault on a device private page.
 *
 * Brings back the faulting page and, with it, every page of this device in
 * the same 2 MiB window of the VMA: a CPU touching one page of a buffer is
 * about to touch its neighbours. A device folio mapped by a PMD comes back
 * as a THP when the system has one. A page with a memory error gives the
 * CPU what a poisoned system page does (DOC: Device memory errors).
 *
 * Return: 0, VM_FAULT_SIGBUS, VM_FAULT_HWPOISON or VM_FAULT_OOM.
 */
vm_fault_t hmmsim_migrate_cpu_fault(struct vm_fault *vmf)
{
	struct hmmsim_device *hdev = hmmsim_page_device(vmf->page);
	struct hmmsim_scratch s;
	struct migrate_vma args = {
		.vma = vmf->vma,
		.pgmap_owner = hdev,
		.flags = MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
		.fault_page = vmf->page,
	};
	unsigned long nr = HMMSIM_WINDOW_PAGES, moved = 0;
	int err;

	if (hmmsim_devmem_poisoned(vmf->page, 1)) {
		hmmsim_devmem_error_event(vmf->page,
					  HMMSIM_MEMORY_ERROR_REFUSED);
		return VM_FAULT_HWPOISON;
	}
	/* Under memory pressure, fall back to the faulting page alone. */
	if (hmmsim_scratch_init(&s, hdev, nr, false, GFP_KERNEL | __GFP_NOWARN)) {
		hmmsim_scratch_fini(&s);
		nr = 1;
		if (hmmsim_scratch_init(&s, hdev, nr, false, GFP_KERNEL)) {
			hmmsim_scratch_fini(&s);
			return VM_FAULT_OOM;
		}
	}
	hmmsim_migrate_fault_window(vmf, nr, &args);
	if (!vmf->pte && nr > 1)
		args.flags |= hmmsim_move_compound(hdev);
	args.src = s.src;
	args.dst = s.dst;

	if (migrate_vma_setup(&args)) {
		hmmsim_scratch_fini(&s);
		return VM_FAULT_SIGBUS;
	}
	hmmsim_count(hdev, HMMSIM_STAT_CPU_FAULTS, 1);
	err = hmmsim_move_to_system(&s, &args, GFP_HIGHUSER_MOVABLE,
				    HMMSIM_CPU_FAULT, &moved);
	hmmsim_scratch_fini(&s);
	/*
	 * If the faulting page did not move, the fault is retried; only a
	 * failure to get memory for it is worth reporting.
	 */
	return err == -ENOMEM ? VM_FAULT_OOM : 0;
}
