/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hmmsim: driver-internal types and interfaces shared by the files under
 * src/. The userspace ABI is uapi/hmmsim.h, included here as <hmmsim.h>;
 * how the files layer is in Documentation/hmmsim.rst.
 */
#ifndef _HMMSIM_DRV_H
#define _HMMSIM_DRV_H

#include <linux/cdev.h>
#include <linux/completion.h>
#include <linux/device.h>
#include <linux/hmm.h>
#include <linux/ioport.h>
#include <linux/list.h>
#include <linux/memremap.h>
#include <linux/migrate.h>
#include <linux/mm_types.h>
#include <linux/mmu_notifier.h>
#include <linux/mutex.h>
#include <linux/pid.h>
#include <linux/rwsem.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sizes.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>

#include <hmmsim.h>	/* uapi/hmmsim.h */
#include "hmmsim_compat.h"

/**
 * DOC: Locking
 *
 * Every lock of the driver, what it protects, and the order in which they
 * nest (outermost first). The functions that assume a lock is held assert
 * it (lockdep_assert_held(), hmmsim_mmap_assert_locked()), so a path that
 * breaks a rule is reported by lockdep the first time it runs.
 *
 * 1. ``hmmsim_cfs_dev.state_lock`` (mutex, configfs.c): one configfs
 *    item: its attributes and whether the device is powered on. Held while
 *    the device is created or removed.
 * 2. ``hdev->removal_lock`` (rw_semaphore): whether the device is removed.
 *    Every command holds it for reading while it uses the device
 *    (hmmsim_device_enter()): an ioctl for its whole duration, an io_uring
 *    command for one window at a time, a file's release while it evicts
 *    and disowns its pages. hmmsim_device_remove() takes it for writing
 *    to mark the device removed, so that device memory is torn down only
 *    once no command uses it. A device-to-device move also enters the
 *    source device, with a trylock (hmmsim_device_tryenter()): two moves in
 *    opposite directions while both devices are being removed could
 *    otherwise deadlock.
 * 3. ``mirror->scratch_lock`` (mutex): the file's scratch buffers
 *    (struct hmmsim_scratch), held by the command using them. Only ever
 *    trylocked: a second thread of the process makes buffers of its own.
 * 4. ``mmap_lock`` of the mirrored mm, for reading: around
 *    hmm_range_fault(), each migrate_vma window, the exclusive grant and
 *    the eviction of the pages a mirror owns. Another process's mmap_lock
 *    is only ever trylocked (eviction, see evict.c).
 * 5. ``mem->store_lock`` (mutex): the allocation of the simulated on-board
 *    memory of a private device; taken under mmap_lock, with no lock below
 *    held.
 * 6. ``hdev->mirrors_lock`` (mutex): the device's lists of mirrors and of
 *    the owners of its pages (struct hmmsim_owner); held by debugfs's
 *    clients file while it shows them, so that none goes away meanwhile.
 * 7. ``mirror->pt_lock`` (mutex): the device page table and the list of
 *    windows on their way to it (``mirror->arrivals``); the "driver
 *    update lock" of Documentation/mm/hmm.rst, and the only lock the
 *    invalidate callback takes. The callback runs under reclaim, so nothing
 *    allocates with direct reclaim while holding it (lockdep is told at
 *    mirror creation); see also DOC: Mirror.
 * 8. ``ps->lock`` and the lock of ``ps->pages`` (spinlocks, policy.c): a
 *    file's policy settings and advice, and what the policy remembers per
 *    page. Taken under ``mirror->pt_lock`` by the mirror's unmap op, on
 *    their own by access streams and advice; nothing is taken under them,
 *    and the page state's lock is dropped, never held, to allocate.
 * 9. ``mem->alloc_lock`` (spinlock): the free page stack, the chunks' use
 *    counts and the LRU of device memory. Taken from the pagemap's
 *    page_free(), which runs wherever the last reference to a device page
 *    is dropped, so a spinlock, held only for list and counter updates.
 *
 * The copy engine takes no lock: a batch is owned by its submitter until
 * its fence (a completion) is signalled. io_uring requests are owned by
 * their worker until completed (DOC: io_uring request lifetime and
 * locking in uring.c).
 */

/* Upper bound on simulated devices (and char device minors) per module. */
#define HMMSIM_MAX_DEVICES	64

/*
 * Device memory is managed in chunks of this size: the granularity at which
 * memremap_pages() can hotplug ZONE_DEVICE memory (a memory subsection), and
 * one PMD, so a chunk can back a 2 MiB device mapping.
 */
#define HMMSIM_CHUNK_SIZE	SZ_2M
#define HMMSIM_CHUNK_PAGES	(HMMSIM_CHUNK_SIZE >> PAGE_SHIFT)
#define HMMSIM_CHUNK_ORDER	ilog2(HMMSIM_CHUNK_PAGES)

/*
 * Work is done in windows of this many pages, aligned to a window boundary:
 * one hmm_range_fault(), one migrate_vma_setup(), one copy batch. A window
 * is one PMD, so a THP always falls in a single window.
 */
#define HMMSIM_WINDOW_PAGES	(SZ_2M >> PAGE_SHIFT)
#define HMMSIM_WINDOW_SIZE	SZ_2M

/*
 * Times HMM_DMIRROR_MIGRATE_TO_DEV migrates a range whose pages did not all
 * arrive (migrate_vma skips a page it cannot lock or isolate at once)
 * before it gives -ENOENT.
 */
#define HMMSIM_MIGRATE_TRIES	3

/**
 * struct hmmsim_device_config - what a simulated device is made of
 * @type: private or coherent memory.
 * @capacity: bytes of device memory; a multiple of %HMMSIM_CHUNK_SIZE.
 * @phys_base: first physical address of a coherent device's range; zero for
 *	a private device.
 * @copy_bandwidth: the copy engine's link in bytes per second, 0 for as fast
 *	as the CPU copies.
 * @copy_latency_us: the copy engine's latency per batch, in microseconds.
 * @fault_batch: device faults serviced in one batch (policy.c).
 * @fault_latency_us: what servicing a batch of device faults costs.
 */
struct hmmsim_device_config {
	enum hmmsim_mem_type type;
	u64 capacity;
	phys_addr_t phys_base;
	u64 copy_bandwidth;
	u32 copy_latency_us;
	u32 fault_batch;
	u32 fault_latency_us;
};

/* How long a power-off waits for device pages in use (pinned) to go. */
#define HMMSIM_REMOVE_TIMEOUT_MS	5000

/* One second: a longer latency per batch would only stall the tests. */
#define HMMSIM_MAX_COPY_LATENCY_US	1000000

/*
 * The device's fault buffer: 256 entries by default, as NVIDIA's UVM
 * services them, at most 4096; servicing a batch costs at most 100 ms.
 */
#define HMMSIM_DEFAULT_FAULT_BATCH	256
#define HMMSIM_MAX_FAULT_BATCH		4096
#define HMMSIM_MAX_FAULT_LATENCY_US	100000

/*
 * The slowest link: 1 MiB/s, two seconds for a 2 MiB window. A slower one
 * would hold a window for hours.
 */
#define HMMSIM_MIN_COPY_BANDWIDTH	SZ_1M

/**
 * struct hmmsim_chunk - bookkeeping of one 2 MiB chunk of device memory
 * @lru: entry in &hmmsim_devmem.lru while @used is not zero.
 * @free_link: entry in &hmmsim_devmem.empty while @used is zero, in
 *	&hmmsim_devmem.partial while the chunk has both free pages and pages
 *	in use; not on a list when it is full.
 * @used: pages of the chunk in use, @retired ones included.
 * @retired: pages of the chunk taken out of use for good: poisoned, and
 *	freed or never allocated since (hmmsim_devmem_poison()).
 * @map: which pages are in use or retired.
 *
 * A chunk is the unit of a 2 MiB device folio, which takes an empty chunk
 * whole, and of eviction.
 */
struct hmmsim_chunk {
	struct list_head lru;
	struct list_head free_link;
	unsigned int used;
	unsigned int retired;
	DECLARE_BITMAP(map, HMMSIM_CHUNK_PAGES);
};

/**
 * struct hmmsim_devmem - the memory of one device
 * @pagemap: the ZONE_DEVICE pages, hotplugged with memremap_pages().
 * @res: the physical range behind @pagemap: a free range of the physical
 *	address space for private memory, the reserved range for coherent.
 * @pfn_first: first pfn of @pagemap, 2 MiB aligned.
 * @npages: number of pages of device memory.
 * @store: for private memory, the simulated on-board memory: one buffer of
 *	%HMMSIM_CHUNK_SIZE bytes per chunk, allocated when the chunk is
 *	first used and kept until the device goes away. NULL for coherent
 *	memory, whose pages are CPU-addressable.
 * @store_lock: serializes the allocation of @store chunks.
 * @owners: the owner each page was allocated for (hmmsim_devmem_owner()),
 *	kept here rather than in the pages, whose fields a large folio uses.
 * @addrs: the address each page is mapped at in its owner's address space
 *	(hmmsim_devmem_addr()), as of its migration; 0 if not known.
 * @poison: which pages have a memory error (hmmsim_devmem_poison()); set
 *	with atomic bitops, never cleared while the memory is there.
 * @alloc_lock: protects @nr_free, @nr_retired, @chunks, @empty, @partial
 *	and @lru; taken from the pagemap's free callback, in any context, so
 *	a spinlock.
 * @nr_free: number of free pages.
 * @nr_retired: number of pages retired (&hmmsim_chunk.retired, in all).
 * @chunks: one per %HMMSIM_CHUNK_SIZE of device memory.
 * @empty: chunks with no page in use, for 2 MiB folios first.
 * @partial: chunks with both free pages and pages in use, which single
 *	pages come from first, so that empty chunks stay whole.
 * @lru: chunks with pages in use, least recently used first: a chunk moves
 *	to the tail when a page of it is allocated or accessed by the device.
 * @thp: the device hands out 2 MiB folios (hmmsim_devmem_has_thp()).
 * @pagemap_live: @pagemap is set up and must be torn down.
 */
struct hmmsim_devmem {
	struct dev_pagemap pagemap;
	struct resource *res;
	unsigned long pfn_first;
	unsigned long npages;
	void **store;
	struct mutex store_lock;	/* see above */
	struct hmmsim_owner **owners;
	unsigned long *addrs;
	unsigned long *poison;
	spinlock_t alloc_lock;		/* see above */
	unsigned long nr_free;
	unsigned long nr_retired;
	struct hmmsim_chunk *chunks;
	struct list_head empty;
	struct list_head partial;
	struct list_head lru;
	bool thp;
	bool pagemap_live;
};

/* The counters of struct hmmsim_stats, in its order. */
enum hmmsim_stat {
	HMMSIM_STAT_TO_DEVICE,
	HMMSIM_STAT_FROM_DEVICE,
	HMMSIM_STAT_CPU_FAULTS,
	HMMSIM_STAT_DEVICE_FAULTS,
	HMMSIM_STAT_INVALIDATIONS,
	HMMSIM_STAT_EVICTIONS,
	HMMSIM_STAT_BYTES_COPIED,
	HMMSIM_STAT_ALLOC_FAILURES,
	HMMSIM_STAT_THP_TO_DEVICE,
	HMMSIM_STAT_THP_FROM_DEVICE,
	HMMSIM_STAT_THP_FALLBACKS,
	HMMSIM_STAT_THP_SPLITS,
	HMMSIM_STAT_MEMORY_ERRORS,
	HMMSIM_STAT_CLOSE_EVICTIONS,
	HMMSIM_STAT_FAULT_BATCHES,
	HMMSIM_STAT_FAULT_DUPLICATES,
	HMMSIM_STAT_FAULT_MIGRATIONS,
	HMMSIM_STAT_PREFETCH_MIGRATIONS,
	HMMSIM_STAT_REMOTE_ACCESSES,
	HMMSIM_STAT_COUNTER_MIGRATIONS,
	HMMSIM_STAT_THRASH_EVENTS,
	HMMSIM_STAT_THRASH_REMOTE,
	HMMSIM_NR_STATS
};

/* Why the policy moved pages, for the hmmsim_policy_migrate tracepoint. */
enum hmmsim_policy_reason {
	HMMSIM_POLICY_FAULT,
	HMMSIM_POLICY_COUNTER,
};

/* What happened to a 2 MiB move or folio, for the hmmsim_thp tracepoint. */
enum hmmsim_thp_event {
	HMMSIM_THP_FALLBACK_DEVICE,
	HMMSIM_THP_FALLBACK_SYSTEM,
	HMMSIM_THP_SPLIT,
};

/* What became of a device page with a memory error: hmmsim_memory_error. */
enum hmmsim_memory_error_event {
	HMMSIM_MEMORY_ERROR_FREE,
	HMMSIM_MEMORY_ERROR_IN_USE,
	HMMSIM_MEMORY_ERROR_SALVAGED,
	HMMSIM_MEMORY_ERROR_REFUSED,
};

/* Where a migration goes, for the hmmsim_migrate tracepoint. */
enum hmmsim_migrate_kind {
	HMMSIM_TO_DEVICE,
	HMMSIM_TO_SYSTEM,
	HMMSIM_DEVICE_TO_DEVICE,
	HMMSIM_CPU_FAULT,
};

/**
 * struct hmmsim_device - one simulated SVM device
 * @dev: the device behind /dev/<devname>N; its release frees this structure.
 * @cdev: the character device, added and removed together with @dev.
 * @id: N of /dev/<devname>N, also the char device minor.
 * @cfg: type and size of the device memory.
 * @mem: the device memory.
 * @removal_lock: protects @removed: held for reading by every command
 *	while it uses the device (hmmsim_device_enter()), for writing to mark
 *	the device removed.
 * @removed: the device was removed: its files remain, but every command
 *	gets -ENODEV.
 * @unplugged: hmmsim_device_remove() removed the char device and marked
 *	the device removed; its memory may still be there, for a later call
 *	to finish. Only the removal path, serialized by its callers, uses it.
 * @mirrors_lock: protects @mirrors and @owners.
 * @mirrors: every open file (struct hmmsim_mirror) of this device.
 * @owners: every owner of pages of this device (struct hmmsim_owner): one
 *	per open file, and those of closed files that still own pages.
 * @stats: the counters, see struct hmmsim_stats.
 * @copy_batches: copy engine completion statistics: batches completed,
 * @copy_descs: descriptors executed,
 * @copy_ns: and nanoseconds from submission to completion, in all.
 * @link_lock: protects @link_free_ns.
 * @link_free_ns: when the device's link is done with the batches booked on
 *	it so far (copy.c).
 * @uring_inflight: io_uring commands on the device's files accepted and not
 *	yet done with the device (see uring.c).
 * @debugfs: the device's debugfs directory.
 * @fail_alloc: fault injection: device page allocation fails.
 * @fail_copy: fault injection: a copy batch fails.
 * @fail_evict: fault injection: evicting a chunk fails.
 * @poison_work: moves the coherent pages in use that have a memory error
 *	to system memory, as poisoned pages (hmmsim_evict_poisoned()).
 *
 * Created by hmmsim_device_create() and removed by hmmsim_device_remove().
 * Every open file holds a reference on @dev (through @cdev), so the
 * structure outlives the last file even after the device is removed.
 */
struct hmmsim_device {
	struct device dev;
	struct cdev cdev;
	unsigned int id;
	struct hmmsim_device_config cfg;
	struct hmmsim_devmem mem;
	struct rw_semaphore removal_lock;	/* see above */
	bool removed;
	bool unplugged;
	struct mutex mirrors_lock;	/* see above */
	struct list_head mirrors;
	struct list_head owners;
	atomic64_t stats[HMMSIM_NR_STATS];
	atomic64_t copy_batches;
	atomic64_t copy_descs;
	atomic64_t copy_ns;
	spinlock_t link_lock;		/* see above */
	u64 link_free_ns;
	atomic_t uring_inflight;
	struct dentry *debugfs;
	struct hmmsim_fault fail_alloc;
	struct hmmsim_fault fail_copy;
	struct hmmsim_fault fail_evict;
	struct work_struct poison_work;
};

/*
 * The pages a migrate_vma entry stands for: a compound entry, the whole
 * 2 MiB of a THP or device folio; any other, one page.
 */
static inline unsigned long hmmsim_mpfn_pages(unsigned long mpfn)
{
	return mpfn & HMMSIM_MIGRATE_PFN_COMPOUND ? HMMSIM_CHUNK_PAGES : 1;
}

/* End of the window that starts at @addr: the next window boundary, or @end. */
static inline unsigned long hmmsim_window_end(unsigned long addr,
					      unsigned long end)
{
	return min(ALIGN_DOWN(addr, HMMSIM_WINDOW_SIZE) + HMMSIM_WINDOW_SIZE,
		   end);
}

/* Between windows, long commands stop for a fatal signal and let others run. */
static inline int hmmsim_window_done(void)
{
	if (fatal_signal_pending(current))
		return -EINTR;
	cond_resched();
	return 0;
}

static inline void hmmsim_count(struct hmmsim_device *hdev,
				enum hmmsim_stat stat, u64 n)
{
	atomic64_add(n, &hdev->stats[stat]);
}

/**
 * struct hmmsim_devpt - the emulated device page table of one mirror
 * @blocks: one entry per 2 MiB block of virtual addresses, indexed by
 *	address >> PMD_SHIFT: either a table of %PTRS_PER_PTE 4 KiB entries
 *	(a pointer to a page of hmmsim_pte_t) or a single 2 MiB entry (an
 *	xarray value entry holding the block's first hmmsim_pte_t).
 * @lock: the owning mirror's @pt_lock, under which every update and lookup
 *	is made; kept here for the assertions.
 */
struct hmmsim_devpt {
	struct xarray blocks;
	struct mutex *lock;		/* see above */
};

/* A device page table entry: pfn << PAGE_SHIFT | flags. */
typedef u64 hmmsim_pte_t;
#define HMMSIM_PTE_VALID	BIT_ULL(0)
#define HMMSIM_PTE_WRITE	BIT_ULL(1)
#define HMMSIM_PTE_EXCLUSIVE	BIT_ULL(2)
#define HMMSIM_PTE_HUGE		BIT_ULL(3)	/* returned by lookups only */

#define HMMSIM_MIRROR_FAIL_ALLOC	0	/* bit of HMM_DMIRROR_FLAG_FAIL_ALLOC */

static inline unsigned long hmmsim_pte_pfn(hmmsim_pte_t pte)
{
	return pte >> PAGE_SHIFT;
}

static inline hmmsim_pte_t hmmsim_make_pte(struct page *page, u64 flags)
{
	return ((hmmsim_pte_t)page_to_pfn(page) << PAGE_SHIFT) | flags;
}

struct hmmsim_scratch;
struct hmmsim_mirror;
struct hmmsim_policy_state;

/**
 * struct hmmsim_mirror_ops - what the layer above a mirror hears from it
 * @unmap: [@start, @end) of the mirrored address space is being unmapped:
 *	munmap(), or mremap() moving it away. State the layer above keeps
 *	per address goes with it. Called from the invalidate callback, under
 *	the mirror's @pt_lock, in reclaim: it may take spinlocks and allocate
 *	with GFP_NOWAIT, nothing more.
 *
 * The mirror never calls into the layers above it but through these, as a
 * drm_gpusvm driver hears of invalidations through its ops.
 */
struct hmmsim_mirror_ops {
	void (*unmap)(struct hmmsim_mirror *mirror, unsigned long start,
		      unsigned long end);
};

/**
 * struct hmmsim_arrival - a window of a migration to a mirror's device, from
 *	before its collection until its pages are mapped
 * @link: entry in &hmmsim_mirror.arrivals.
 * @start: the window's first address.
 * @end: its end.
 * @task: the task migrating it.
 * @seq: the mirror's @last_seq when the window was announced.
 * @stale: an invalidation cleared part of the window, or may have: its
 *	pages are not mapped when they arrive, and the next device access
 *	faults them in.
 *
 * See hmmsim_mirror_expect().
 */
struct hmmsim_arrival {
	struct list_head link;
	unsigned long start;
	unsigned long end;
	struct task_struct *task;
	unsigned long seq;
	bool stale;
};

/**
 * struct hmmsim_mirror - one open file: a device's mirror of one process
 * @hdev: the device the file was opened on.
 * @mm: the address space bound at open; commands from any other mm are
 *	refused with -EPERM. Holds an mmgrab() reference.
 * @notifier: covers the whole address space of @mm; its invalidate callback
 *	keeps @pt coherent with the CPU page tables.
 * @pt_lock: protects @pt: the "driver update lock" of
 *	Documentation/mm/hmm.rst, held by the invalidate callback, and by
 *	everyone reading or updating @pt.
 * @pt: the device page table.
 * @arrivals: the windows of migrations to @hdev on their way, under
 *	@pt_lock (struct hmmsim_arrival).
 * @last_seq: the sequence of the last invalidation the callback ran for,
 *	under @pt_lock.
 * @link: entry in @hdev->mirrors.
 * @scratch_lock: protects @scratch while a command uses it.
 * @scratch: the buffers the commands on this file reuse (scratch.c).
 * @flags: HMM_DMIRROR_FLAG_* set with HMM_DMIRROR_FLAGS, as bits
 *	(HMMSIM_MIRROR_FAIL_ALLOC is HMM_DMIRROR_FLAG_FAIL_ALLOC's bit).
 * @owner: what the pages this file moves to the device are allocated for
 *	(evict.c); the mirror itself never looks at it.
 * @ops: what the layer above hears from the mirror, or NULL.
 * @policy: the file's device policy and its state (policy.c), for @ops;
 *	the mirror itself never looks at it.
 * @uring_lock: protects @uring_queue and @uring_running.
 * @uring_queue: the file's io_uring commands waiting for a worker.
 * @uring_running: the file's io_uring commands on a worker (uring.c).
 * @tgid: the process that opened the file, with a reference; for
 *	debugfs's clients file, as @comm.
 * @comm: its command name at open.
 */
struct hmmsim_mirror {
	struct hmmsim_device *hdev;
	struct mm_struct *mm;
	struct mmu_interval_notifier notifier;
	struct mutex pt_lock;		/* see above, and DOC: Locking */
	struct hmmsim_devpt pt;
	struct list_head arrivals;
	unsigned long last_seq;
	struct list_head link;
	struct mutex scratch_lock;	/* see above */
	struct hmmsim_scratch *scratch;
	unsigned long flags;
	struct hmmsim_owner *owner;
	const struct hmmsim_mirror_ops *ops;
	struct hmmsim_policy_state *policy;
	spinlock_t uring_lock;		/* see above */
	struct list_head uring_queue;
	unsigned int uring_running;
	struct pid *tgid;
	char comm[TASK_COMM_LEN];
};

/**
 * struct hmmsim_owner - an address space device pages were moved from
 * @mm: the address space, with an mmgrab() reference: eviction moves the
 *	owner's pages under its mmap lock (DOC: Eviction).
 * @link: entry in the device's @owners, under its @mirrors_lock.
 * @nr_pages: device pages allocated for this owner and not yet freed.
 * @closed: the file it was made for is closed; it goes once it owns no
 *	page.
 */
struct hmmsim_owner {
	struct mm_struct *mm;
	struct list_head link;
	atomic_long_t nr_pages;
	bool closed;
};

/**
 * struct hmmsim_copy_desc - one copy (or clear) for the copy engine
 * @src_page: source page, or NULL with @src_addr.
 * @src_addr: source kernel address when @src_page is NULL; NULL with a
 *	NULL @src_page means "zeroes": the destination is cleared.
 * @dst_page: destination page, or NULL with @dst_addr.
 * @dst_addr: destination kernel address when @dst_page is NULL.
 * @src_off: offset into the source page or at @src_addr.
 * @dst_off: offset into the destination page or at @dst_addr.
 * @len: bytes to copy; a page endpoint's offset plus @len is at most
 *	PAGE_SIZE.
 */
struct hmmsim_copy_desc {
	struct page *src_page;
	void *src_addr;
	struct page *dst_page;
	void *dst_addr;
	unsigned int src_off;
	unsigned int dst_off;
	unsigned int len;
};

/* At most this many channels work on one batch. */
#define HMMSIM_COPY_MAX_CHANNELS	16

/**
 * struct hmmsim_copy_piece - one channel's part in a batch
 * @work: the channel's work item.
 * @batch: the batch, whose descriptors it claims as it goes.
 */
struct hmmsim_copy_piece {
	struct work_struct work;
	struct hmmsim_copy_batch *batch;
};

/**
 * struct hmmsim_copy_batch - descriptors submitted and completed together
 * @hdev: the device whose copy engine runs the batch.
 * @descs: the descriptors.
 * @nr: descriptors in use.
 * @max: capacity of @descs.
 * @done: the fence: completed when every descriptor has been executed.
 * @error: 0, or the first error of the batch.
 * @pending: pieces still running, or not yet known never to run.
 * @next: the first descriptor no piece has claimed yet.
 * @start_ns: when the batch was submitted.
 * @link_done_ns: when the device's link is done with the batch (ktime, ns);
 *	0 for a link without limits.
 * @pieces: the pieces the channels (and the submitter) run, one per
 *	channel.
 * @nr_pieces: the pieces of the batch in flight; 0 if it completed at
 *	submission.
 * @stop: if set, says whether the command the batch is for is being
 *	canceled, which ends the wait for the link early. Set by the command
 *	layer from struct hmmsim_span.
 * @stop_arg: the argument of @stop.
 */
struct hmmsim_copy_batch {
	struct hmmsim_device *hdev;
	struct hmmsim_copy_desc *descs;
	unsigned int nr;
	unsigned int max;
	struct completion done;
	int error;
	atomic_t pending;
	atomic_t next;
	u64 start_ns;
	u64 link_done_ns;
	struct hmmsim_copy_piece *pieces;
	unsigned int nr_pieces;
	bool (*stop)(void *arg);
	void *stop_arg;
};

/**
 * struct hmmsim_scratch - the buffers one command works with, per window
 * @hdev: the device.
 * @nr: pages per window.
 * @src: migrate_vma source pfns, or hmm_range_fault() output.
 * @dst: migrate_vma destination pfns.
 * @pages: destination device pages of a migration, or the pinned pages of
 *	a user buffer or of a range made exclusive (@nr + 1: a window of user
 *	buffer may straddle one more page).
 * @codes: HMM_DMIRROR_SNAPSHOT codes; only for a file's scratch.
 * @batch: the copy batch.
 * @lost: NULL, or for moves to system memory that salvage device pages
 *	with a memory error (hmmsim_scratch_salvage()): the pfns of the
 *	cleared system pages they moved to, which hmmsim_move_poison_lost()
 *	poisons once the mmap lock is dropped, so that their data stays lost
 *	(DOC: Device memory errors). Without it, such pages stay where they
 *	are.
 * @nr_lost: the pfns in @lost, at most @nr.
 * @lost_first: @nr_lost when the window in flight began.
 * @twin: NULL, or the buffers of a second window in flight
 *	(hmmsim_scratch_twin()).
 *
 * Each file keeps one for the commands run on it (hmmsim_scratch_get());
 * the CPU fault handler and eviction make their own on the stack.
 */
struct hmmsim_scratch {
	struct hmmsim_device *hdev;
	unsigned long nr;
	unsigned long *src;
	unsigned long *dst;
	struct page **pages;
	u8 *codes;
	struct hmmsim_copy_batch batch;
	unsigned long *lost;
	unsigned int nr_lost;
	unsigned int lost_first;
	struct hmmsim_scratch *twin;
};

/**
 * struct hmmsim_span - the part of an address space one command works on
 * @start: first address, page aligned.
 * @end: end address (exclusive), page aligned, above @start.
 * @uptr: the user buffer of a device read or write, or of the snapshot
 *	codes; 0 for commands without one.
 * @pages: progress: pages moved, read, written, reported or faulted in.
 *	Every function that works on a span adds what it did here, also
 *	when it then fails, so a partial result is never lost.
 * @faults: device faults the command took (0 or 1: the first missing
 *	entry faults the rest of the range in).
 * @stop: if set, whether the command is being canceled (an io_uring
 *	command whose ring or process is going away), called with @stop_arg:
 *	it ends the wait for the copy engine's link early (copy.c).
 * @stop_arg: the argument of @stop.
 *
 * The front ends (cdev.c, uring.c) decode their ABI into a span with
 * hmmsim_cmd_span_init(); nothing below the command layer sees the ABI.
 */
struct hmmsim_span {
	unsigned long start;
	unsigned long end;
	unsigned long uptr;
	unsigned long pages;
	unsigned long faults;
	bool (*stop)(void *arg);
	void *stop_arg;
};

/* Where a device access went, for hmmsim_mirror_touch(). */
enum hmmsim_touch_result {
	HMMSIM_TOUCH_MISS,	/* no entry allows it: a device fault */
	HMMSIM_TOUCH_LOCAL,	/* the device's own memory */
	HMMSIM_TOUCH_REMOTE,	/* other memory, over the link */
};

/**
 * struct hmmsim_touch - one load or store of a device access stream
 * @addr: the page's address.
 * @store: a store (adds one to the page's first word), not a load.
 * @result: out: an &enum hmmsim_touch_result.
 */
struct hmmsim_touch {
	unsigned long addr;
	bool store;
	u8 result;
};

/* Where a span's progress has got to: the address of its next page. */
static inline unsigned long hmmsim_span_addr(const struct hmmsim_span *span)
{
	return span->start + (span->pages << PAGE_SHIFT);
}

/* src/config.c */
int hmmsim_config_parse_size_until(const char *str, char stop, u64 *out,
				   const char **end);
int hmmsim_config_parse_size(const char *str, u64 *out);
int hmmsim_config_check(const struct hmmsim_device_config *cfg,
			const char *what);

/* src/configfs.c */
int hmmsim_configfs_init(const struct hmmsim_device_config *defaults);
void hmmsim_configfs_exit(void);

/* src/device.c */
int hmmsim_device_init(const char *devname);
void hmmsim_device_exit(void);
struct hmmsim_device *hmmsim_device_create(const struct hmmsim_device_config *cfg);
int hmmsim_device_remove(struct hmmsim_device *hdev, unsigned int timeout_ms);
void hmmsim_device_destroy(struct hmmsim_device *hdev);
bool hmmsim_device_enter(struct hmmsim_device *hdev);
bool hmmsim_device_tryenter(struct hmmsim_device *hdev);
void hmmsim_device_leave(struct hmmsim_device *hdev);

/*
 * Whether @hdev was removed, without entering it: for a quick refusal
 * where entering is not possible (under the mmap lock) or not needed yet.
 */
static inline bool hmmsim_device_removed(struct hmmsim_device *hdev)
{
	return READ_ONCE(hdev->removed);
}

/* The command runs inside hmmsim_device_enter() of @hdev. */
static inline void hmmsim_device_assert_entered(struct hmmsim_device *hdev)
{
	lockdep_assert_held_read(&hdev->removal_lock);
}

/* src/cdev.c */
extern const struct file_operations hmmsim_fops;

/* src/uring.c */
int hmmsim_uring_init(void);
void hmmsim_uring_exit(void);
int hmmsim_uring_cmd(struct io_uring_cmd *ioucmd, unsigned int issue_flags);

/* src/cmd.c */
int hmmsim_cmd_prepare_user(const struct hmmsim_span *span, bool to_user);
int hmmsim_cmd_span_init(struct hmmsim_span *span, u64 addr, u64 npages,
			 u64 uptr);
int hmmsim_cmd_check_migrate(struct hmmsim_mirror *mirror,
			     const struct hmmsim_span *span);
struct hmmsim_mirror *hmmsim_cmd_open(struct hmmsim_device *hdev);
void hmmsim_cmd_close(struct hmmsim_mirror *mirror);
struct file *hmmsim_cmd_source_file(struct hmmsim_mirror *mirror, int fd,
				    struct hmmsim_device **src);
int hmmsim_cmd_set_flags(struct hmmsim_mirror *mirror, u64 flags);
int hmmsim_cmd_read(struct hmmsim_mirror *mirror, struct hmmsim_span *span);
int hmmsim_cmd_write(struct hmmsim_mirror *mirror, struct hmmsim_span *span);
int hmmsim_cmd_prefetch(struct hmmsim_mirror *mirror, struct hmmsim_span *span,
			bool write);
int hmmsim_cmd_snapshot(struct hmmsim_mirror *mirror,
			struct hmmsim_span *span);
int hmmsim_cmd_migrate_to_device(struct hmmsim_mirror *mirror,
				 struct hmmsim_device *src,
				 struct hmmsim_span *span);
int hmmsim_cmd_migrate_to_system(struct hmmsim_mirror *mirror,
				 struct hmmsim_span *span);
int hmmsim_cmd_migrate_and_read(struct hmmsim_mirror *mirror,
				struct hmmsim_span *span);
int hmmsim_cmd_exclusive(struct hmmsim_mirror *mirror,
			 struct hmmsim_span *span);
int hmmsim_cmd_check_exclusive(struct hmmsim_mirror *mirror,
			       struct hmmsim_span *span);
void hmmsim_cmd_release(struct hmmsim_mirror *mirror);
int hmmsim_cmd_set_policy(struct hmmsim_mirror *mirror,
			  const struct hmmsim_policy *pol);
void hmmsim_cmd_get_policy(struct hmmsim_mirror *mirror,
			   struct hmmsim_policy *pol);
int hmmsim_cmd_advise(struct hmmsim_mirror *mirror,
		      const struct hmmsim_span *span, u32 advice);
int hmmsim_cmd_access_stream(struct hmmsim_mirror *mirror,
			     struct hmmsim_access *acc);

/* src/policy.c */
/*
 * Advice, packed as HMMSIM_URING_ADVISE packs it (uapi/hmmsim.h): the
 * preferred location, accessed-by, and log2 of the granularity plus one.
 */
#define HMMSIM_ADVICE_PREFERRED(adv)	((adv) & 0x3)
#define HMMSIM_ADVICE_GRAN_SHIFT	4
#define HMMSIM_ADVICE_MASK		0xf7
#define HMMSIM_MAX_ADVICE_RANGES	4096

extern const struct hmmsim_mirror_ops hmmsim_policy_mirror_ops;
struct hmmsim_policy_state *hmmsim_policy_create(void);
void hmmsim_policy_destroy(struct hmmsim_policy_state *ps);
int hmmsim_policy_check(const struct hmmsim_policy *pol);
void hmmsim_policy_set(struct hmmsim_mirror *mirror,
		       const struct hmmsim_policy *pol);
void hmmsim_policy_get(struct hmmsim_mirror *mirror,
		       struct hmmsim_policy *pol);
int hmmsim_policy_advise(struct hmmsim_mirror *mirror, unsigned long start,
			 unsigned long end, u32 advice);
int hmmsim_policy_check_stream(const struct hmmsim_access *acc);
int hmmsim_policy_run(struct hmmsim_mirror *mirror, struct hmmsim_scratch *s,
		      struct hmmsim_access *acc);

/* src/scratch.c */
int hmmsim_scratch_init(struct hmmsim_scratch *s, struct hmmsim_device *hdev,
			unsigned long nr, bool user, gfp_t gfp);
void hmmsim_scratch_fini(struct hmmsim_scratch *s);
int hmmsim_scratch_salvage(struct hmmsim_scratch *s, gfp_t gfp);
struct hmmsim_scratch *hmmsim_scratch_get(struct hmmsim_mirror *mirror,
					  bool user);
void hmmsim_scratch_put(struct hmmsim_mirror *mirror, struct hmmsim_scratch *s);
void hmmsim_scratch_free(struct hmmsim_scratch *s);
struct hmmsim_scratch *hmmsim_scratch_twin(struct hmmsim_scratch *s);

/* src/devmem.c */
int hmmsim_devmem_init(struct hmmsim_device *hdev);
void hmmsim_devmem_fini(struct hmmsim_device *hdev);
unsigned int hmmsim_devmem_alloc(struct hmmsim_device *hdev,
				 struct hmmsim_owner *owner,
				 struct page **pages, unsigned int nr);
struct page *hmmsim_devmem_alloc_thp(struct hmmsim_device *hdev,
				     struct hmmsim_owner *owner);
void hmmsim_devmem_free_unused(struct page *page);
void hmmsim_devmem_touch(struct page *page, struct hmmsim_chunk **last);
long hmmsim_devmem_lru_pick(struct hmmsim_device *hdev);
bool hmmsim_is_device_page(const struct page *page);
struct hmmsim_device *hmmsim_page_device(const struct page *page);
bool hmmsim_is_own_page(const struct page *page, struct hmmsim_device *hdev);
void *hmmsim_devmem_page_addr(struct page *page);
unsigned long hmmsim_devmem_nr_used(struct hmmsim_device *hdev);
unsigned long hmmsim_devmem_nr_retired(struct hmmsim_device *hdev);
unsigned long hmmsim_devmem_poisoned(struct page *page, unsigned long nr);
void hmmsim_devmem_error_event(struct page *page,
			       enum hmmsim_memory_error_event event);
bool hmmsim_devmem_poison(struct hmmsim_device *hdev, unsigned long idx);
struct hmmsim_owner *hmmsim_devmem_owner(struct hmmsim_device *hdev,
					 unsigned long idx);
unsigned long hmmsim_devmem_addr(struct hmmsim_device *hdev, unsigned long idx);
void hmmsim_devmem_set_addr(struct page *page, unsigned long nr,
			    unsigned long addr);
bool hmmsim_devmem_has_thp(const struct hmmsim_device *hdev);

/* src/debugfs.c */
void hmmsim_debugfs_init(void);
void hmmsim_debugfs_exit(void);
void hmmsim_debugfs_add(struct hmmsim_device *hdev);
void hmmsim_debugfs_remove(struct hmmsim_device *hdev);

/* src/stats.c */
const char *hmmsim_stat_name(enum hmmsim_stat stat);
void hmmsim_stats_read(struct hmmsim_device *hdev, struct hmmsim_stats *st);

/* src/devpt.c */
void hmmsim_devpt_init(struct hmmsim_devpt *pt, struct mutex *lock);
void hmmsim_devpt_fini(struct hmmsim_devpt *pt);
int hmmsim_devpt_prepare(struct hmmsim_devpt *pt, unsigned long start,
			 unsigned long end);
int hmmsim_devpt_map_range(struct hmmsim_devpt *pt,
			   const struct hmm_range *range);
int hmmsim_devpt_set(struct hmmsim_devpt *pt, unsigned long addr,
		     hmmsim_pte_t pte);
int hmmsim_devpt_set_block(struct hmmsim_devpt *pt, unsigned long addr,
			   hmmsim_pte_t pte);
hmmsim_pte_t hmmsim_devpt_lookup(struct hmmsim_devpt *pt, unsigned long addr);
void hmmsim_devpt_clear(struct hmmsim_devpt *pt, unsigned long start,
			unsigned long end);
void hmmsim_devpt_clear_page(struct hmmsim_devpt *pt, unsigned long addr);
bool hmmsim_devpt_any_exclusive(struct hmmsim_devpt *pt, unsigned long start,
				unsigned long end);
unsigned long hmmsim_devpt_next_mapped(struct hmmsim_devpt *pt,
				       unsigned long addr, unsigned long end);

/* src/mirror.c */
struct hmmsim_mirror *hmmsim_mirror_create(struct hmmsim_device *hdev,
					   const struct hmmsim_mirror_ops *ops,
					   struct hmmsim_policy_state *policy);
void hmmsim_mirror_unlink(struct hmmsim_mirror *mirror);
void hmmsim_mirror_destroy(struct hmmsim_mirror *mirror);
bool hmmsim_mirror_uffd_armed(struct mm_struct *mm, unsigned long start,
			      unsigned long end);
int hmmsim_mirror_rw(struct hmmsim_mirror *mirror, struct hmmsim_scratch *s,
		     struct hmmsim_span *span, bool write);
int hmmsim_mirror_prefetch(struct hmmsim_mirror *mirror,
			   struct hmmsim_scratch *s, struct hmmsim_span *span,
			   bool write);
int hmmsim_mirror_fault_in(struct hmmsim_mirror *mirror,
			   struct hmmsim_scratch *s, struct hmmsim_span *span,
			   bool write);
int hmmsim_mirror_snapshot(struct hmmsim_mirror *mirror,
			   struct hmmsim_scratch *s, struct hmmsim_span *span);
int hmmsim_mirror_readback(struct hmmsim_mirror *mirror,
			   struct hmmsim_scratch *s, struct hmmsim_span *span,
			   bool local_only);
int hmmsim_mirror_check_exclusive(struct hmmsim_mirror *mirror,
				  const struct hmmsim_span *span);
int hmmsim_mirror_touch(struct hmmsim_mirror *mirror, struct hmmsim_touch *t,
			unsigned int nr, u64 *sum);
void hmmsim_mirror_local_map(struct hmmsim_mirror *mirror,
			     unsigned long start, unsigned long end,
			     unsigned long *map);
void hmmsim_mirrors_unmap_migrating(struct hmmsim_device *hdev,
				    struct mm_struct *mm,
				    const struct migrate_vma *args,
				    struct hmmsim_device *stays);
void hmmsim_mirror_expect(struct hmmsim_mirror *mirror,
			  struct hmmsim_arrival *a, unsigned long start,
			  unsigned long end);
void hmmsim_mirror_map_migrated(struct hmmsim_mirror *mirror,
				const struct migrate_vma *args,
				struct hmmsim_arrival *a);
int hmmsim_mirror_map_exclusive(struct hmmsim_mirror *mirror,
				unsigned long addr, struct page *page,
				unsigned long seq);

/* src/move.c */
void hmmsim_move_to_device_begin(struct hmmsim_scratch *s,
				 struct migrate_vma *args, unsigned int got);
int hmmsim_move_to_device_end(struct hmmsim_scratch *s,
			      struct hmmsim_mirror *mirror,
			      struct migrate_vma *args,
			      struct hmmsim_arrival *a, unsigned long *moved);
unsigned long hmmsim_move_window_end(struct vm_area_struct *vma,
				     unsigned long addr, unsigned long end);
unsigned long hmmsim_move_select(const struct hmmsim_device *hdev);
unsigned long hmmsim_move_compound(const struct hmmsim_device *hdev);
void hmmsim_move_skip_lost(struct migrate_vma *args);
void hmmsim_move_poison_lost(struct hmmsim_scratch *s);
int hmmsim_move_to_system_begin(struct hmmsim_scratch *s,
				struct migrate_vma *args, gfp_t gfp);
int hmmsim_move_to_system_end(struct hmmsim_scratch *s,
			      struct migrate_vma *args, int ret,
			      enum hmmsim_migrate_kind kind,
			      unsigned long *moved);
int hmmsim_move_to_system(struct hmmsim_scratch *s, struct migrate_vma *args,
			  gfp_t gfp, enum hmmsim_migrate_kind kind,
			  unsigned long *moved);
unsigned long hmmsim_move_home(struct hmmsim_scratch *s, struct mm_struct *mm,
			       unsigned long start, unsigned long end,
			       unsigned long nr, gfp_t gfp);

/* src/evict.c */
unsigned int hmmsim_evict_alloc(struct hmmsim_mirror *mirror,
				struct page **pages, unsigned int nr);
struct page *hmmsim_evict_alloc_thp(struct hmmsim_mirror *mirror);
int hmmsim_evict_owner_add(struct hmmsim_mirror *mirror);
unsigned long hmmsim_evict_owned(struct hmmsim_mirror *mirror);
void hmmsim_evict_owner_close(struct hmmsim_mirror *mirror);
void hmmsim_evict_poisoned(struct work_struct *work);
unsigned long hmmsim_evict_all(struct hmmsim_device *hdev,
			       unsigned int timeout_ms);

/* src/poison.c */
extern const struct file_operations hmmsim_poison_fops;
int hmmsim_poison_memory_failure(struct dev_pagemap *pgmap, unsigned long pfn,
				 unsigned long nr_pages, int mf_flags);

/* src/migrate.c */
int hmmsim_migrate_to_device(struct hmmsim_mirror *mirror,
			     struct hmmsim_scratch *s,
			     struct hmmsim_device *src,
			     struct hmmsim_span *span);
int hmmsim_migrate_to_system(struct hmmsim_mirror *mirror,
			     struct hmmsim_scratch *s,
			     struct hmmsim_span *span);
vm_fault_t hmmsim_migrate_cpu_fault(struct vm_fault *vmf);

/* src/exclusive.c */
int hmmsim_exclusive(struct hmmsim_mirror *mirror, struct hmmsim_scratch *s,
		     const struct hmmsim_span *span);

/* src/copy.c */
int hmmsim_copy_init(void);
void hmmsim_copy_exit(void);
int hmmsim_copy_batch_init(struct hmmsim_copy_batch *batch,
			   struct hmmsim_device *hdev, unsigned int max,
			   gfp_t gfp);
void hmmsim_copy_batch_fini(struct hmmsim_copy_batch *batch);
void hmmsim_copy_batch_reset(struct hmmsim_copy_batch *batch);
void hmmsim_copy_add(struct hmmsim_copy_batch *batch,
		     const struct hmmsim_copy_desc *desc);
void hmmsim_copy_endpoint(struct page *page, struct page **pagep,
			  void **addrp);
void hmmsim_copy_endpoint_next(struct page **pagep, void **addrp);
void hmmsim_copy_submit(struct hmmsim_copy_batch *batch);
int hmmsim_copy_wait(struct hmmsim_copy_batch *batch);

#endif /* _HMMSIM_DRV_H */
