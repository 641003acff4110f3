// SPDX-License-Identifier: GPL-2.0
/**
 * DOC: Eviction
 *
 * Device memory is bounded. When an allocation finds the device full,
 * hmmsim_evict_alloc() evicts the least recently used chunk (2 MiB) with
 * pages in use to system memory and tries again, as a real driver does;
 * pages that are busy (in a migration, this very one too) stay. A file's
 * pages also go home on HMM_DMIRROR_RELEASE and when it is closed
 * (hmmsim_evict_owned()), and every page does when the device is removed
 * (hmmsim_evict_all()).
 *
 * Moving a mapped page back needs its anon_vma to stay alive from the
 * moment its mappings become migration entries until they are page table
 * entries again: the kernel's own migrate_pages() holds a reference on it
 * (folio_get_anon_vma(), which modules cannot call). The driver interface
 * for device pages, migrate_device_range(), holds none, and if the last
 * process mapping the pages unmaps them meanwhile (munmap, exit), putting
 * them back walks a freed anon_vma. So hmmsim never uses it. It evicts by
 * address, with migrate_vma_setup(), under the mmap lock of an address
 * space that maps the pages, whose VMA keeps the anon_vma alive until the
 * lock is dropped: the address space they were migrated from, their owner
 * (struct hmmsim_owner), at the address recorded for each page
 * (hmmsim_devmem_addr()). An owner outlives its file as long as it owns
 * pages, so the pages of a file closed with evict_on_close off stay
 * evictable while their process lives.
 *
 * The owner's mmap lock is the one the caller holds, when it is evicting
 * for that address space, or else one taken with a trylock, since the
 * caller may hold another process's mmap lock already. A page the owner no
 * longer maps at its address is left: one only a forked child still maps,
 * or one the owner moved with mremap(). Closing a file (or RELEASE) sweeps
 * the owner's whole address space for the moved ones; removing the device
 * sweeps every process's, which finds every page any process maps, at the
 * cost of an invalidation of every anonymous range it looks at.
 *
 * Pages with a memory error are never evicted to make room, nor moved home
 * by RELEASE or close: their data is lost. Device removal salvages them
 * (&hmmsim_scratch.lost), and so does hmmsim_evict_poisoned() for the
 * coherent pages the CPU maps (DOC: Device memory errors), poisoning the
 * pages they moved to once the mmap lock is dropped.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/delay.h>
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/mmap_lock.h>
#include <linux/pid.h>
#include <linux/sched/mm.h>
#include <linux/sched/task.h>
#include <linux/slab.h>

#include "hmmsim_drv.h"
#include "trace.h"

/* Eviction works in windows of a chunk, so that a folio moves whole. */
#define HMMSIM_EVICT_PAGES	HMMSIM_CHUNK_PAGES

/* End of the eviction window from @idx: the chunk's end, or @end. */
static unsigned long hmmsim_evict_window_end(unsigned long idx,
					     unsigned long end)
{
	return min(ALIGN_DOWN(idx, HMMSIM_EVICT_PAGES) + HMMSIM_EVICT_PAGES,
		   end);
}

/* Device removal sweeps every process again after this many waits. */
#define HMMSIM_EVICT_SWEEP_EVERY	1000

/**
 * hmmsim_evict_owner_add() - give a new mirror the owner of its pages
 * @mirror: the mirror of a file being opened.
 *
 * Return: 0 or -ENOMEM.
 */
int hmmsim_evict_owner_add(struct hmmsim_mirror *mirror)
{
	struct hmmsim_device *hdev = mirror->hdev;
	struct hmmsim_owner *owner = kzalloc_obj(*owner, GFP_KERNEL);

	if (!owner)
		return -ENOMEM;
	owner->mm = mirror->mm;
	mmgrab(owner->mm);
	mutex_lock(&hdev->mirrors_lock);
	list_add(&owner->link, &hdev->owners);
	mutex_unlock(&hdev->mirrors_lock);
	WRITE_ONCE(mirror->owner, owner);
	return 0;
}

/* Free the closed owners of @hdev that own no page any more. */
static void hmmsim_evict_owners_reap(struct hmmsim_device *hdev)
{
	struct hmmsim_owner *owner, *next;

	lockdep_assert_held(&hdev->mirrors_lock);
	list_for_each_entry_safe(owner, next, &hdev->owners, link) {
		if (!owner->closed || atomic_long_read(&owner->nr_pages))
			continue;
		list_del(&owner->link);
		mmdrop(owner->mm);
		kfree(owner);
	}
}

/**
 * hmmsim_evict_owner_close() - a mirror's file is closed
 * @mirror: the mirror; its pages went home already, unless evict_on_close
 *	is off or they could not move.
 *
 * Its owner stays, for eviction to find the process of the pages it still
 * owns, until it owns none; closed owners that own none any more go too.
 */
void hmmsim_evict_owner_close(struct hmmsim_mirror *mirror)
{
	struct hmmsim_device *hdev = mirror->hdev;

	if (!mirror->owner)
		return;
	mutex_lock(&hdev->mirrors_lock);
	mirror->owner->closed = true;
	hmmsim_evict_owners_reap(hdev);
	mutex_unlock(&hdev->mirrors_lock);
	mirror->owner = NULL;
}

/*
 * The mm of @owner, with a user reference (mmput_async() it), if @owner is
 * still an owner of @hdev's pages and its address space is still there.
 */
static struct mm_struct *hmmsim_evict_owner_mm(struct hmmsim_device *hdev,
					       struct hmmsim_owner *owner)
{
	struct hmmsim_owner *o;
	struct mm_struct *mm = NULL;

	mutex_lock(&hdev->mirrors_lock);
	list_for_each_entry(o, &hdev->owners, link) {
		if (o == owner) {
			if (mmget_not_zero(o->mm))
				mm = o->mm;
			break;
		}
	}
	mutex_unlock(&hdev->mirrors_lock);
	return mm;
}

/* Pages from @idx on, up to @end, mapped at consecutive addresses in turn. */
static unsigned long hmmsim_evict_addr_run(struct hmmsim_device *hdev,
					   unsigned long idx, unsigned long end)
{
	struct hmmsim_owner *owner = hmmsim_devmem_owner(hdev, idx);
	unsigned long addr = hmmsim_devmem_addr(hdev, idx), n = 1;

	while (idx + n < end && hmmsim_devmem_owner(hdev, idx + n) == owner &&
	       hmmsim_devmem_addr(hdev, idx + n) == addr + (n << PAGE_SHIFT))
		n++;
	return n;
}

/*
 * Move back the pages of [idx, idx + n) that @owner owns, by address in
 * @mm, whose mmap lock the caller holds. Returns the pages moved.
 */
static unsigned long hmmsim_evict_run(struct hmmsim_scratch *s,
				      struct mm_struct *mm,
				      struct hmmsim_owner *owner,
				      unsigned long idx, unsigned long n,
				      gfp_t gfp)
{
	unsigned long end = idx + n, moved = 0, run, addr;

	hmmsim_mmap_assert_locked(mm);
	for (; idx < end; idx += run) {
		run = hmmsim_evict_addr_run(s->hdev, idx, end);
		addr = hmmsim_devmem_addr(s->hdev, idx);
		if (hmmsim_devmem_owner(s->hdev, idx) == owner && addr)
			moved += hmmsim_move_home(s, mm, addr,
						  addr + (run << PAGE_SHIFT),
						  run, gfp);
	}
	return moved;
}

/*
 * Move back the pages of [idx, idx + n), all @owner's, under the mmap lock
 * of its mm: the caller's, if it holds it (@locked), else a trylock of it.
 */
static unsigned long hmmsim_evict_owner_run(struct hmmsim_scratch *s,
					    struct hmmsim_owner *owner,
					    unsigned long idx, unsigned long n,
					    struct mm_struct *locked, gfp_t gfp)
{
	struct mm_struct *mm = hmmsim_evict_owner_mm(s->hdev, owner);
	unsigned long moved = 0;

	if (!mm)
		return 0;	/* gone: its pages are being freed */
	if (mm == locked) {
		moved = hmmsim_evict_run(s, mm, owner, idx, n, gfp);
	} else if (mmap_read_trylock(mm)) {
		moved = hmmsim_evict_run(s, mm, owner, idx, n, gfp);
		mmap_read_unlock(mm);
		hmmsim_move_poison_lost(s);
	}
	/* Not the exit of the mm here, inside the device. */
	mmput_async(mm);
	return moved;
}

/*
 * Move the device pages [idx, idx + n) that are in use to system memory,
 * run by run of pages with the same owner. @locked is the mm whose lock
 * the caller holds, or NULL. Returns the pages moved.
 */
static unsigned long hmmsim_evict_pages(struct hmmsim_scratch *s,
					unsigned long idx, unsigned long n,
					struct mm_struct *locked, gfp_t gfp)
{
	struct hmmsim_device *hdev = s->hdev;
	unsigned long end = idx + n, moved = 0, run;

	if (locked)
		hmmsim_mmap_assert_locked(locked);
	for (; idx < end; idx += run) {
		struct hmmsim_owner *owner = hmmsim_devmem_owner(hdev, idx);

		for (run = 1; idx + run < end &&
		     hmmsim_devmem_owner(hdev, idx + run) == owner; run++)
			;
		if (owner)
			moved += hmmsim_evict_owner_run(s, owner, idx, run,
							locked, gfp);
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

	hmmsim_mmap_assert_locked(locked->mm);
	if (hmmsim_should_fail(&hdev->fail_evict))
		return 0;
	if (!hmmsim_scratch_init(&s, hdev, HMMSIM_CHUNK_PAGES, false,
				 GFP_KERNEL))
		moved = hmmsim_evict_pages(&s, chunk * HMMSIM_CHUNK_PAGES,
					   HMMSIM_CHUNK_PAGES, locked->mm,
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

	hmmsim_mmap_assert_locked(mirror->mm);
	if (hmmsim_should_fail(&hdev->fail_alloc))
		tries = 0;
	else
		n = hmmsim_devmem_alloc(hdev, mirror->owner, pages, nr);
	while (n < nr && tries) {
		if (!hmmsim_evict_lru(mirror))
			tries--;
		else
			n += hmmsim_devmem_alloc(hdev, mirror->owner, pages + n,
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

	hmmsim_mmap_assert_locked(mirror->mm);
	if (hmmsim_should_fail(&hdev->fail_alloc)) {
		hmmsim_count(hdev, HMMSIM_STAT_ALLOC_FAILURES, 1);
		return NULL;
	}
	while (!(page = hmmsim_devmem_alloc_thp(hdev, mirror->owner)) &&
	       tries--)
		hmmsim_evict_lru(mirror);
	return page;
}

/* The next run of pages @owner owns from @from on, its length in *@run. */
static unsigned long hmmsim_evict_find_owned(struct hmmsim_device *hdev,
					     struct hmmsim_owner *owner,
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

/*
 * One pass over the device; whether any page of @mirror's was found. The
 * pages moved are added to *@moved.
 */
static bool hmmsim_evict_owned_pass(struct hmmsim_scratch *s,
				    struct hmmsim_mirror *mirror,
				    unsigned long *moved)
{
	struct hmmsim_device *hdev = mirror->hdev;
	unsigned long idx, run, n, next;
	bool found = false;

	for (idx = 0;; idx += run) {
		idx = hmmsim_evict_find_owned(hdev, mirror->owner, idx, &run);
		if (idx >= hdev->mem.npages)
			break;
		found = true;
		for (n = idx; n < idx + run; n = next) {
			next = hmmsim_evict_window_end(n, idx + run);
			*moved += hmmsim_evict_run(s, mirror->mm,
						   mirror->owner, n, next - n,
						   GFP_HIGHUSER_MOVABLE |
						   __GFP_NOFAIL);
		}
		cond_resched();
	}
	return found;
}

/**
 * hmmsim_evict_owned() - move every page a mirror put on its device back
 * @mirror: the mirror (RELEASE, or its file is being closed); its device
 *	is entered.
 *
 * Pages found where they were migrated to go first, then, if some are
 * left, the whole address space is swept for those moved since. Pages
 * that stay busy through several passes, and those the process no longer
 * maps (a forked child does), stay: eviction or the device's removal moves
 * them later.
 *
 * Nothing moves once the mirror's mm has no users left: a process's files
 * are closed on exit after its address space is gone.
 *
 * Return: the number of pages moved.
 */
unsigned long hmmsim_evict_owned(struct hmmsim_mirror *mirror)
{
	struct hmmsim_owner *owner = mirror->owner;
	unsigned long left, moved = 0;
	struct hmmsim_scratch s;
	int pass;

	hmmsim_device_assert_entered(mirror->hdev);
	if (!mmget_not_zero(mirror->mm))
		return 0;
	hmmsim_scratch_init(&s, mirror->hdev, HMMSIM_EVICT_PAGES, false,
			    GFP_KERNEL | __GFP_NOFAIL);
	mmap_read_lock(mirror->mm);
	for (pass = 0; pass < 8; pass++)
		if (!hmmsim_evict_owned_pass(&s, mirror, &moved))
			break;
	left = atomic_long_read(&owner->nr_pages);
	if (left)
		moved += hmmsim_move_home(&s, mirror->mm, 0,
					  mirror->mm->task_size, left,
					  GFP_HIGHUSER_MOVABLE | __GFP_NOFAIL);
	mmap_read_unlock(mirror->mm);
	/* Not the exit of the mm here, inside the device. */
	mmput_async(mirror->mm);
	hmmsim_scratch_fini(&s);
	return moved;
}

/*
 * The next thread group leader from pid *@nr on, with a reference; *@nr
 * moves past it. NULL after the last.
 */
static struct task_struct *hmmsim_evict_next_task(int *nr)
{
	struct task_struct *task = NULL;
	struct pid *pid;

	rcu_read_lock();
	while (!task && (pid = find_ge_pid(*nr, &init_pid_ns))) {
		*nr = pid_nr(pid) + 1;
		task = pid_task(pid, PIDTYPE_TGID);
		if (task)
			get_task_struct(task);
	}
	rcu_read_unlock();
	return task;
}

/* Salvage the lost page @idx, in use, under its owner's mmap lock. */
static void hmmsim_evict_lost_one(struct hmmsim_scratch *s, unsigned long idx)
{
	struct hmmsim_owner *owner = hmmsim_devmem_owner(s->hdev, idx);
	struct mm_struct *mm;

	if (!owner)
		return;
	mm = hmmsim_evict_owner_mm(s->hdev, owner);
	if (!mm)
		return;		/* gone: the page is being freed */
	mmap_read_lock(mm);
	hmmsim_evict_run(s, mm, owner, idx, 1, GFP_HIGHUSER_MOVABLE);
	mmap_read_unlock(mm);
	hmmsim_move_poison_lost(s);
	mmput(mm);
}

/**
 * hmmsim_evict_poisoned() - salvage the coherent pages in use that have a
 *	memory error
 * @work: &hmmsim_device.poison_work.
 *
 * The CPU maps a coherent page directly, so its mapping must go for the
 * CPU to see the error: each such page moves to a system page poisoned
 * with memory_failure() (&hmmsim_scratch.lost). A page its owner no
 * longer maps where it was migrated to stays, refused by the device, until
 * it is freed or the device is removed.
 *
 * Runs while the device is there: its removal, once no command can queue
 * the work any more (hmmsim_poison_memory_failure() only tries to enter
 * the device), cancels it and waits for it before the pages go home.
 */
void hmmsim_evict_poisoned(struct work_struct *work)
{
	struct hmmsim_device *hdev = container_of(work, struct hmmsim_device,
						  poison_work);
	struct hmmsim_scratch s;
	unsigned long idx;

	if (!hmmsim_scratch_init(&s, hdev, HMMSIM_EVICT_PAGES, false,
				 GFP_KERNEL) &&
	    !hmmsim_scratch_salvage(&s, GFP_KERNEL)) {
		for_each_set_bit(idx, hdev->mem.poison, hdev->mem.npages) {
			hmmsim_evict_lost_one(&s, idx);
			cond_resched();
		}
	}
	hmmsim_scratch_fini(&s);
}

/*
 * Sweep every process's address space for @s->hdev's pages and move them
 * back: for the pages no owner maps any more, which only the processes
 * that map them can give back safely.
 */
static void hmmsim_evict_sweep(struct hmmsim_scratch *s)
{
	struct task_struct *task;
	struct mm_struct *mm;
	int nr = 1;

	while (hmmsim_devmem_nr_used(s->hdev) &&
	       (task = hmmsim_evict_next_task(&nr))) {
		mm = get_task_mm(task);
		put_task_struct(task);
		if (!mm)
			continue;	/* a kernel thread, or exiting */
		if (mmap_read_trylock(mm)) {
			hmmsim_move_home(s, mm, 0, mm->task_size,
					 hmmsim_devmem_nr_used(s->hdev),
					 GFP_HIGHUSER_MOVABLE | __GFP_NOFAIL);
			mmap_read_unlock(mm);
			hmmsim_move_poison_lost(s);
		}
		mmput_async(mm);
		cond_resched();
	}
}

/*
 * Move every page of @hdev back, sweeping every process when the owners'
 * pages do not all go, and waiting for busy pages until @deadline
 * (jiffies; 0: for as long as it takes). Returns the pages left in use.
 */
static unsigned long hmmsim_evict_all_until(struct hmmsim_device *hdev,
					    unsigned long deadline)
{
	struct hmmsim_devmem *mem = &hdev->mem;
	struct hmmsim_scratch s;
	unsigned long idx, used;
	unsigned int waited = 0;

	hmmsim_scratch_init(&s, hdev, HMMSIM_EVICT_PAGES, false,
			    GFP_KERNEL | __GFP_NOFAIL);
	hmmsim_scratch_salvage(&s, GFP_KERNEL | __GFP_NOFAIL);
	while ((used = hmmsim_devmem_nr_used(hdev))) {
		for (idx = 0; idx < mem->npages; idx += HMMSIM_EVICT_PAGES) {
			hmmsim_evict_pages(&s, idx, HMMSIM_EVICT_PAGES, NULL,
					   GFP_HIGHUSER_MOVABLE | __GFP_NOFAIL);
			cond_resched();
		}
		if (hmmsim_devmem_nr_used(hdev) < used)
			continue;
		if (!(waited % HMMSIM_EVICT_SWEEP_EVERY)) {
			hmmsim_evict_sweep(&s);
			if (hmmsim_devmem_nr_used(hdev) < used)
				continue;
		}
		if (deadline && time_after(jiffies, deadline))
			break;
		/*
		 * Pages in flight elsewhere (a fault, a migration), or pinned:
		 * wait. Say so once; a wait that never ends is for the hung
		 * task detector (and the test runner's watchdog) to report.
		 */
		if (++waited == HMMSIM_EVICT_SWEEP_EVERY && !deadline)
			pr_info("%s: waiting for %lu busy device pages\n",
				dev_name(&hdev->dev), used);
		usleep_range(1000, 2000);
	}
	hmmsim_scratch_fini(&s);
	return used;
}

/**
 * hmmsim_evict_all() - move every page on a device back to system memory
 * @hdev: the device, being removed: nothing can allocate from it any more.
 * @timeout_ms: how long to wait for pages that stay in use (pinned: a pipe
 *	holds a coherent page through vmsplice(), I/O is in flight on it); 0
 *	for as long as it takes.
 *
 * Returns only when no device page is in use, which memunmap_pages()
 * needs, or after @timeout_ms, saying how many pages are left. The owners
 * of the files closed before go with their last page.
 *
 * Return: the pages still in use: 0, unless @timeout_ms ran out.
 */
unsigned long hmmsim_evict_all(struct hmmsim_device *hdev,
			       unsigned int timeout_ms)
{
	unsigned long left;

	left = hmmsim_evict_all_until(hdev, timeout_ms ? jiffies +
				      msecs_to_jiffies(timeout_ms) : 0);
	if (left)
		pr_warn("%s: %lu device pages still in use after %u ms (pinned, by a pipe or I/O?)\n",
			dev_name(&hdev->dev), left, timeout_ms);
	mutex_lock(&hdev->mirrors_lock);
	hmmsim_evict_owners_reap(hdev);
	mutex_unlock(&hdev->mirrors_lock);
	return left;
}
