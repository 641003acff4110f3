/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hmmsim: driver-internal types shared by the files under src/. The
 * userspace ABI is uapi/hmmsim.h, included here as <hmmsim.h>.
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
#include <linux/rwsem.h>
#include <linux/sched/signal.h>
#include <linux/sizes.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>

#include <hmmsim.h>	/* uapi/hmmsim.h */
#include "hmmsim_compat.h"

/* Upper bound on simulated devices (and char device minors) per module. */
#define HMMSIM_MAX_DEVICES	64

/*
 * Device memory is managed in chunks of this size: the granularity at which
 * memremap_pages() can hotplug ZONE_DEVICE memory (a memory subsection), and
 * one PMD, so a chunk can back a 2 MiB device mapping.
 */
#define HMMSIM_CHUNK_SIZE	SZ_2M
#define HMMSIM_CHUNK_PAGES	(HMMSIM_CHUNK_SIZE >> PAGE_SHIFT)

/*
 * Work is done in windows of this many pages, aligned to a window boundary:
 * one hmm_range_fault(), one migrate_vma_setup(), one copy batch. A window
 * is one PMD, so a THP always falls in a single window.
 */
#define HMMSIM_WINDOW_PAGES	(SZ_2M >> PAGE_SHIFT)
#define HMMSIM_WINDOW_SIZE	SZ_2M

/**
 * struct hmmsim_device_config - what a simulated device is made of
 * @type: private or coherent memory.
 * @capacity: bytes of device memory; a multiple of %HMMSIM_CHUNK_SIZE.
 * @phys_base: first physical address of a coherent device's range; zero for
 *	a private device.
 * @copy_bandwidth: the copy engine's link in bytes per second, 0 for as fast
 *	as the CPU copies.
 * @copy_latency_us: the copy engine's latency per batch, in microseconds.
 */
struct hmmsim_device_config {
	enum hmmsim_mem_type type;
	u64 capacity;
	phys_addr_t phys_base;
	u64 copy_bandwidth;
	u32 copy_latency_us;
};

/* One second: a longer latency per batch would only stall the tests. */
#define HMMSIM_MAX_COPY_LATENCY_US	1000000

/**
 * struct hmmsim_chunk - bookkeeping of one 2 MiB chunk of device memory
 * @lru: entry in &hmmsim_devmem.lru while @used is not zero.
 * @used: pages of the chunk in use.
 */
struct hmmsim_chunk {
	struct list_head lru;
	unsigned int used;
};

/**
 * struct hmmsim_devmem - the memory of one device
 * @pagemap: the ZONE_DEVICE pages, hotplugged with memremap_pages().
 * @res: the physical range behind @pagemap: a free range of the physical
 *	address space for private memory, the reserved range for coherent.
 * @pfn_first: first pfn of @pagemap.
 * @npages: number of pages of device memory.
 * @store: for private memory, the simulated on-board memory: one buffer of
 *	%HMMSIM_CHUNK_SIZE bytes per chunk, allocated when the chunk is
 *	first used and kept until the device goes away. NULL for coherent
 *	memory, whose pages are CPU-addressable.
 * @store_lock: serializes the allocation of @store chunks.
 * @lock: protects @free, @nr_free, @chunks and @lru; taken from
 *	page_free(), in any context, so a spinlock.
 * @free: stack of free page indices (pfn - @pfn_first).
 * @nr_free: number of entries on @free.
 * @chunks: one per %HMMSIM_CHUNK_SIZE of device memory.
 * @lru: chunks with pages in use, least recently used first: a chunk moves
 *	to the tail when a page of it is allocated or accessed by the device.
 * @pagemap_live: @pagemap is set up and must be torn down.
 */
struct hmmsim_devmem {
	struct dev_pagemap pagemap;
	struct resource *res;
	unsigned long pfn_first;
	unsigned long npages;
	void **store;
	struct mutex store_lock;	/* see above */
	spinlock_t lock;		/* see above */
	unsigned int *free;
	unsigned long nr_free;
	struct hmmsim_chunk *chunks;
	struct list_head lru;
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
	HMMSIM_NR_STATS
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
 * @lock: held for reading by every command while it uses the device, for
 *	writing to mark the device dead when it is removed.
 * @dead: the device was removed: its files remain, but every command gets
 *	-ENODEV.
 * @mirrors_lock: protects @mirrors.
 * @mirrors: every open file (struct hmmsim_mirror) of this device.
 * @stats: the counters, see struct hmmsim_stats.
 * @copy_batches: copy engine completion statistics: batches completed,
 * @copy_descs: descriptors executed,
 * @copy_ns: and nanoseconds from submission to completion, in all.
 * @uring_inflight: io_uring commands on the device's files accepted and not
 *	yet done with the device (see uring.c).
 * @debugfs: the device's debugfs directory.
 * @fail_alloc: fault injection: device page allocation fails.
 * @fail_copy: fault injection: a copy batch fails.
 * @fail_evict: fault injection: evicting a chunk fails.
 *
 * Created by hmmsim_device_create() and removed by hmmsim_device_destroy().
 * Every open file holds a reference on @dev (through @cdev), so the
 * structure outlives the last file even after the device is removed.
 */
struct hmmsim_device {
	struct device dev;
	struct cdev cdev;
	unsigned int id;
	struct hmmsim_device_config cfg;
	struct hmmsim_devmem mem;
	struct rw_semaphore lock;	/* see above */
	bool dead;
	struct mutex mirrors_lock;	/* see above */
	struct list_head mirrors;
	atomic64_t stats[HMMSIM_NR_STATS];
	atomic64_t copy_batches;
	atomic64_t copy_descs;
	atomic64_t copy_ns;
	atomic_t uring_inflight;
	struct dentry *debugfs;
	struct hmmsim_fault fail_alloc;
	struct hmmsim_fault fail_copy;
	struct hmmsim_fault fail_evict;
};

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
 *	xarray value entry holding the hmmsim_pte_t shifted right by one).
 *
 * All updates and lookups are made under the owning mirror's lock.
 */
struct hmmsim_devpt {
	struct xarray blocks;
};

/* A device page table entry: pfn << PAGE_SHIFT | flags. */
typedef u64 hmmsim_pte_t;
#define HMMSIM_PTE_VALID	BIT_ULL(0)
#define HMMSIM_PTE_WRITE	BIT_ULL(1)
#define HMMSIM_PTE_EXCLUSIVE	BIT_ULL(2)
#define HMMSIM_PTE_HUGE		BIT_ULL(3)	/* returned by lookups only */
#define HMMSIM_PTE_FLAGS	(BIT_ULL(PAGE_SHIFT) - 1)

#define HMMSIM_MIRROR_FAIL_ALLOC	0	/* bit of HMM_DMIRROR_FLAG_FAIL_ALLOC */

static inline unsigned long hmmsim_pte_pfn(hmmsim_pte_t pte)
{
	return pte >> PAGE_SHIFT;
}

struct hmmsim_xfer;
struct hmmsim_migration;

/**
 * struct hmmsim_mirror - one open file: a device's mirror of one process
 * @hdev: the device the file was opened on.
 * @mm: the address space bound at open; commands from any other mm are
 *	refused with -EPERM. Holds an mmgrab() reference.
 * @notifier: covers the whole address space of @mm; its invalidate callback
 *	keeps @pt coherent with the CPU page tables.
 * @lock: the "driver update lock" of Documentation/mm/hmm.rst: held by the
 *	invalidate callback, and by everyone reading or updating @pt.
 * @pt: the device page table.
 * @link: entry in @hdev->mirrors.
 * @xfer_lock: protects @xfer while a command uses it.
 * @xfer: the buffers commands on this file reuse (see mirror.c).
 * @mig_lock: protects @mig while a command uses it.
 * @mig: the migration buffers commands on this file reuse (migrate.c).
 * @flags: HMM_DMIRROR_FLAG_* set with HMM_DMIRROR_FLAGS, as bits
 *	(HMMSIM_MIRROR_FAIL_ALLOC is HMM_DMIRROR_FLAG_FAIL_ALLOC's bit).
 */
struct hmmsim_mirror {
	struct hmmsim_device *hdev;
	struct mm_struct *mm;
	struct mmu_interval_notifier notifier;
	struct mutex lock;		/* see above, and DOC: mirror locking */
	struct hmmsim_devpt pt;
	struct list_head link;
	struct mutex xfer_lock;		/* see above */
	struct hmmsim_xfer *xfer;
	struct mutex mig_lock;		/* see above */
	struct hmmsim_migration *mig;
	unsigned long flags;
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
 * struct hmmsim_copy_piece - the part of a batch one channel copies
 * @work: the channel's work item.
 * @batch: the batch.
 * @first: first descriptor.
 * @last: one past the last descriptor.
 */
struct hmmsim_copy_piece {
	struct work_struct work;
	struct hmmsim_copy_batch *batch;
	unsigned int first;
	unsigned int last;
};

/**
 * struct hmmsim_copy_batch - descriptors submitted and completed together
 * @hdev: the device whose copy engine runs the batch.
 * @descs: the descriptors.
 * @nr: descriptors in use.
 * @max: capacity of @descs.
 * @done: the fence: completed when every descriptor has been executed.
 * @error: 0, or the first error of the batch.
 * @pending: pieces still running.
 * @start_ns: when the batch was submitted.
 * @pieces: the pieces the channels run, one per channel.
 */
struct hmmsim_copy_batch {
	struct hmmsim_device *hdev;
	struct hmmsim_copy_desc *descs;
	unsigned int nr;
	unsigned int max;
	struct completion done;
	int error;
	atomic_t pending;
	u64 start_ns;
	struct hmmsim_copy_piece *pieces;
};

/* src/main.c */
extern bool hmmsim_evict_on_close;
int hmmsim_parse_size(const char *str, u64 *out);
int hmmsim_check_config(const struct hmmsim_device_config *cfg,
			const char *what);
void hmmsim_default_config(struct hmmsim_device_config *cfg);

/* src/configfs.c */
int hmmsim_configfs_init(void);
void hmmsim_configfs_exit(void);

/* src/cdev.c */
extern dev_t hmmsim_devt;
extern const char *hmmsim_devname;
extern struct class hmmsim_class;
extern const struct file_operations hmmsim_fops;
int hmmsim_cdev_init(const char *devname);
void hmmsim_cdev_exit(void);
int hmmsim_check_range(const struct hmm_dmirror_cmd *cmd);
struct file *hmmsim_source_file(struct hmmsim_mirror *mirror, int fd,
				struct hmmsim_device **src);

/* src/uring.c */
int hmmsim_uring_init(void);
void hmmsim_uring_exit(void);
int hmmsim_uring_cmd(struct io_uring_cmd *ioucmd, unsigned int issue_flags);

/* src/device.c */
struct hmmsim_device *hmmsim_device_create(const struct hmmsim_device_config *cfg);
void hmmsim_device_destroy(struct hmmsim_device *hdev);

/* src/devmem.c */
int hmmsim_devmem_init(struct hmmsim_device *hdev);
void hmmsim_devmem_fini(struct hmmsim_device *hdev);
unsigned int hmmsim_devmem_alloc(struct hmmsim_device *hdev,
				 struct hmmsim_mirror *owner,
				 struct page **pages, unsigned int nr);
void hmmsim_devmem_free_unused(struct page *page);
void hmmsim_devmem_touch(struct page *page, struct hmmsim_chunk **last);
long hmmsim_devmem_lru_pick(struct hmmsim_device *hdev);
bool hmmsim_is_device_page(const struct page *page);
struct hmmsim_device *hmmsim_page_device(const struct page *page);
void *hmmsim_devmem_page_addr(struct page *page);
unsigned long hmmsim_devmem_nr_used(struct hmmsim_device *hdev);
unsigned long hmmsim_devmem_find_owned(struct hmmsim_device *hdev,
				       struct hmmsim_mirror *owner,
				       unsigned long from,
				       unsigned long *run);
void hmmsim_devmem_disown(struct hmmsim_device *hdev,
			  struct hmmsim_mirror *owner);

/* src/debugfs.c */
void hmmsim_debugfs_init(void);
void hmmsim_debugfs_exit(void);
void hmmsim_debugfs_add(struct hmmsim_device *hdev);
void hmmsim_debugfs_remove(struct hmmsim_device *hdev);

/* src/stats.c */
const char *hmmsim_stat_name(enum hmmsim_stat stat);
void hmmsim_stats_read(struct hmmsim_device *hdev, struct hmmsim_stats *st);

/* src/devpt.c */
void hmmsim_devpt_init(struct hmmsim_devpt *pt);
void hmmsim_devpt_fini(struct hmmsim_devpt *pt);
int hmmsim_devpt_prepare(struct hmmsim_devpt *pt, unsigned long start,
			 unsigned long end);
int hmmsim_devpt_map_range(struct hmmsim_devpt *pt,
			   const struct hmm_range *range);
int hmmsim_devpt_set(struct hmmsim_devpt *pt, unsigned long addr,
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
struct hmmsim_mirror *hmmsim_mirror_create(struct hmmsim_device *hdev);
void hmmsim_mirror_destroy(struct hmmsim_mirror *mirror);
int hmmsim_mirror_read(struct hmmsim_mirror *mirror,
		       struct hmm_dmirror_cmd *cmd);
int hmmsim_mirror_write(struct hmmsim_mirror *mirror,
			struct hmm_dmirror_cmd *cmd);
int hmmsim_mirror_prefetch(struct hmmsim_mirror *mirror, unsigned long start,
			   unsigned long end, bool write);
int hmmsim_mirror_snapshot(struct hmmsim_mirror *mirror,
			   struct hmm_dmirror_cmd *cmd);
int hmmsim_mirror_readback(struct hmmsim_mirror *mirror,
			   struct hmm_dmirror_cmd *cmd, bool local_only);
int hmmsim_mirror_check_exclusive(struct hmmsim_mirror *mirror,
				  struct hmm_dmirror_cmd *cmd);
void hmmsim_mirrors_unmap_migrating(struct hmmsim_device *hdev,
				    struct mm_struct *mm,
				    const struct migrate_vma *args,
				    struct hmmsim_device *stays);
void hmmsim_mirror_map_migrated(struct hmmsim_mirror *mirror,
				const struct migrate_vma *args,
				unsigned long seq);
int hmmsim_mirror_map_exclusive(struct hmmsim_mirror *mirror,
				unsigned long addr, struct page *page,
				unsigned long seq);

/* src/migrate.c */
int hmmsim_migrate_range_to_device(struct hmmsim_mirror *mirror,
				   struct hmmsim_device *src,
				   unsigned long start, unsigned long end,
				   unsigned long *cpages);
int hmmsim_migrate_range_to_system(struct hmmsim_mirror *mirror,
				   unsigned long start, unsigned long end,
				   unsigned long *cpages);
int hmmsim_check_vmas(struct mm_struct *mm, unsigned long start,
		      unsigned long end, vm_flags_t refuse);
void hmmsim_migration_free(struct hmmsim_migration *m);
int hmmsim_migrate_to_device(struct hmmsim_mirror *mirror,
			     struct hmm_dmirror_cmd *cmd);
int hmmsim_migrate_to_system(struct hmmsim_mirror *mirror,
			     struct hmm_dmirror_cmd *cmd);
int hmmsim_migrate_home(struct hmmsim_mirror *mirror, unsigned long start,
			unsigned long end);
vm_fault_t hmmsim_migrate_to_ram(struct vm_fault *vmf);
int hmmsim_migrate_exclusive(struct hmmsim_mirror *mirror,
			     struct hmm_dmirror_cmd *cmd);
void hmmsim_evict_owned(struct hmmsim_mirror *mirror);
void hmmsim_evict_all(struct hmmsim_device *hdev);
long hmmsim_evict_chunk(struct hmmsim_device *hdev, unsigned long chunk,
			struct hmmsim_mirror *locked);

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
void hmmsim_copy_submit(struct hmmsim_copy_batch *batch);
int hmmsim_copy_wait(struct hmmsim_copy_batch *batch);

#endif /* _HMMSIM_DRV_H */
