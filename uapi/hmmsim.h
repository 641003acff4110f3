/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * hmmsim: userspace ABI of the simulated shared-virtual-memory device.
 *
 * Every simulated device is a character device, /dev/<devname>N. Opening it
 * binds the file to the opener's address space (mm); every ioctl on the file
 * must come from a task using that same mm, or it fails with -EPERM.
 *
 * Command numbers use the ioctl type 'H'. Numbers 0x00-0x3f are the core,
 * kept compatible with the kernel's lib/test_hmm driver; hmmsim's own
 * commands start at 0x40.
 *
 * Extension commands take size-versioned structures: the first member,
 * @size, is set by the caller to the size of the structure it was built
 * with. The driver accepts any size from the first version's on: fields the
 * caller does not know about are treated as zero on input and are not
 * written on output, and fields the driver does not know about must be zero
 * (-E2BIG otherwise). Extension commands are matched on type and number
 * only, since the size encoded in the command changes as structures grow.
 * Flags and reserved members must be zero (-EINVAL otherwise), so that they
 * can be given a meaning later.
 */
#ifndef _UAPI_HMMSIM_H
#define _UAPI_HMMSIM_H

#include <linux/const.h>
#include <linux/ioctl.h>
#include <linux/types.h>

#define HMMSIM_IOCTL_TYPE	'H'

/*
 * The core: lib/test_hmm's commands, same layout, numbers and semantics.
 *
 * Every core command takes a struct hmm_dmirror_cmd describing @npages
 * pages of the caller's address space from @addr (page aligned); @ptr is a
 * user buffer of npages pages (READ, WRITE, MIGRATE_TO_DEV, EXCLUSIVE) or of
 * npages bytes (SNAPSHOT). On return @cpages counts the pages processed and
 * @faults the times the device had to fault the range in; their input
 * values are ignored. A zero @npages, an unaligned @addr or a range that
 * leaves the user address space gives -EINVAL.
 */

/**
 * struct hmm_dmirror_cmd - a core command
 * @addr: in: first virtual address of the range, page aligned.
 * @ptr: in: user buffer for the data or the SNAPSHOT codes.
 * @npages: in: number of pages in the range (for FLAGS: the flags).
 * @cpages: out: number of pages processed.
 * @faults: out: number of device faults taken.
 */
struct hmm_dmirror_cmd {
	__u64 addr;
	__u64 ptr;
	__u64 npages;
	__u64 cpages;
	__u64 faults;
};

/* The device reads the range into @ptr, faulting pages in as needed. */
#define HMM_DMIRROR_READ		_IOWR('H', 0x00, struct hmm_dmirror_cmd)
/* The device writes @ptr into the range, faulting pages in for write. */
#define HMM_DMIRROR_WRITE		_IOWR('H', 0x01, struct hmm_dmirror_cmd)
/*
 * Move the range to device memory, then read it back into @ptr. Every VMA
 * of the range is checked before anything moves: -EINVAL for a hole, a VMA
 * without PROT_READ, hugetlbfs, DAX, VM_IO, VM_PFNMAP or VM_MIXEDMAP;
 * -ENOENT for shared memory (shmem, memfd, a file mapped MAP_SHARED). A
 * page that did not arrive for another reason (on another device, page
 * cache of a private file mapping, a KSM page) gives -ENOENT after the
 * others moved.
 */
#define HMM_DMIRROR_MIGRATE_TO_DEV	_IOWR('H', 0x02, struct hmm_dmirror_cmd)
/*
 * Move the range's pages on this device back to system memory. -EINVAL,
 * before anything moves, for a hole or a VMA MIGRATE_TO_DEV refuses with
 * it.
 */
#define HMM_DMIRROR_MIGRATE_TO_SYS	_IOWR('H', 0x03, struct hmm_dmirror_cmd)
/* One HMM_DMIRROR_PROT_* byte per page into @ptr, without faulting. */
#define HMM_DMIRROR_SNAPSHOT		_IOWR('H', 0x04, struct hmm_dmirror_cmd)
/*
 * Take exclusive (atomic) access to the range, read it into @ptr. Only
 * private anonymous memory: -EOPNOTSUPP, before any page is exclusive, for
 * shared memory, hugetlbfs, DAX, VM_IO, VM_PFNMAP or VM_MIXEDMAP.
 */
#define HMM_DMIRROR_EXCLUSIVE		_IOWR('H', 0x05, struct hmm_dmirror_cmd)
/* -EPERM while any page of the range is still held exclusive. */
#define HMM_DMIRROR_CHECK_EXCLUSIVE	_IOWR('H', 0x06, struct hmm_dmirror_cmd)
/* Return every page this file moved to the device to system memory. */
#define HMM_DMIRROR_RELEASE		_IOWR('H', 0x07, struct hmm_dmirror_cmd)
/* Set per-file flags, given in @npages. */
#define HMM_DMIRROR_FLAGS		_IOWR('H', 0x08, struct hmm_dmirror_cmd)

/*
 * HMM_DMIRROR_FLAGS: the next allocation of device memory by a migration of
 * this file fails its first attempt (test_hmm fails a 2 MiB allocation);
 * the migration falls back to single pages and succeeds.
 */
#define HMM_DMIRROR_FLAG_FAIL_ALLOC	_BITULL(0)

/**
 * enum hmm_dmirror_prot - HMM_DMIRROR_SNAPSHOT result codes
 * @HMM_DMIRROR_PROT_ERROR: no valid mapping (hole, no access).
 * @HMM_DMIRROR_PROT_NONE: nothing mapped, or not accessible to this device.
 * @HMM_DMIRROR_PROT_READ: mapped read-only.
 * @HMM_DMIRROR_PROT_WRITE: mapped read/write.
 * @HMM_DMIRROR_PROT_PMD: mapped by a PMD-sized entry.
 * @HMM_DMIRROR_PROT_PUD: mapped by a PUD-sized entry.
 * @HMM_DMIRROR_PROT_ZERO: the shared zero page.
 * @HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL: private memory of this device.
 * @HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE: private memory of another device.
 * @HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL: coherent memory of this device.
 * @HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE: coherent memory of another device.
 *
 * READ or WRITE is or'ed with the others, except ERROR and NONE.
 */
enum hmm_dmirror_prot {
	HMM_DMIRROR_PROT_ERROR			= 0xFF,
	HMM_DMIRROR_PROT_NONE			= 0x00,
	HMM_DMIRROR_PROT_READ			= 0x01,
	HMM_DMIRROR_PROT_WRITE			= 0x02,
	HMM_DMIRROR_PROT_PMD			= 0x04,
	HMM_DMIRROR_PROT_PUD			= 0x08,
	HMM_DMIRROR_PROT_ZERO			= 0x10,
	HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL	= 0x20,
	HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE	= 0x30,
	HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL	= 0x40,
	HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE	= 0x50,
};

/* hmmsim's own commands start here. */

/*
 * Version of the extension ABI; bumped when a command, a struct or a field
 * of one is added. 3: struct hmmsim_stats has @uring_inflight. 4: struct
 * hmmsim_info has @caps, struct hmmsim_stats the THP counters. 5: struct
 * hmmsim_stats has @memory_errors and @pages_retired. 6: struct hmmsim_stats
 * has @close_evictions. 7: the device policy (HMMSIM_IOCTL_SET_POLICY,
 * HMMSIM_IOCTL_GET_POLICY, HMMSIM_IOCTL_ADVISE, HMMSIM_IOCTL_ACCESS and
 * their io_uring commands), struct hmmsim_stats version 4.
 */
#define HMMSIM_ABI_VERSION	7

/**
 * enum hmmsim_mem_type - kind of memory a simulated device has
 * @HMMSIM_MEM_PRIVATE: MEMORY_DEVICE_PRIVATE; the CPU cannot access device
 *	pages and faults them back to system memory.
 * @HMMSIM_MEM_COHERENT: MEMORY_DEVICE_COHERENT; device pages are ordinary
 *	CPU-addressable memory the kernel does not manage as System RAM.
 *
 * The values match lib/test_hmm's HMM_DMIRROR_MEMORY_DEVICE_* codes.
 */
enum hmmsim_mem_type {
	HMMSIM_MEM_PRIVATE	= 1,
	HMMSIM_MEM_COHERENT	= 2,
};

/**
 * struct hmmsim_info - description of a simulated device
 * @size: in: sizeof(struct hmmsim_info) as known to the caller; at least
 *	%HMMSIM_INFO_SIZE_VER0.
 * @flags: in: must be zero.
 * @abi_version: out: %HMMSIM_ABI_VERSION of the driver.
 * @type: out: an &enum hmmsim_mem_type.
 * @id: out: device number N of /dev/<devname>N.
 * @page_shift: out: log2 of the device page size.
 * @capacity: out: bytes of device memory.
 * @phys_base: out: first physical address of a coherent device's memory;
 *	zero for a private device, whose memory is not CPU-addressable.
 * @caps: in: must be zero; out: %HMMSIM_CAP_* bits, what the device does
 *	on this kernel. Since %HMMSIM_ABI_VERSION 4 (zero before).
 * @fault_batch: out: the device faults the device services in one batch
 *	(configfs attribute fault_batch); its value on input is ignored.
 *	Since %HMMSIM_ABI_VERSION 7.
 * @fault_latency_us: out: what servicing a batch costs, in microseconds
 *	(configfs attribute fault_latency_us); ignored on input. Since
 *	%HMMSIM_ABI_VERSION 7.
 * @reserved: in: must be zero; out: zero.
 */
struct hmmsim_info {
	__u32 size;
	__u32 flags;
	__u32 abi_version;
	__u32 type;
	__u32 id;
	__u32 page_shift;
	__u64 capacity;
	__u64 phys_base;
	__u64 caps;
	__u32 fault_batch;
	__u32 fault_latency_us;
	__u64 reserved[2];
};

#define HMMSIM_INFO_SIZE_VER0	72

/*
 * struct hmmsim_info.caps: a transparent huge page moves to the device as one
 * 2 MiB device folio, is mapped by the device with one 2 MiB entry, and
 * comes back as one (kernels with device-private THP migration, 7.0 on).
 */
#define HMMSIM_CAP_THP			_BITULL(0)

/* Describe the device behind the file descriptor. */
#define HMMSIM_IOCTL_INFO	_IOWR(HMMSIM_IOCTL_TYPE, 0x40, struct hmmsim_info)

/* struct hmmsim_migrate.flags */
#define HMMSIM_MIGRATE_TO_SYSTEM	_BITULL(0)

/* struct hmmsim_migrate.src_fd: the pages come from system memory. */
#define HMMSIM_MIGRATE_FROM_SYSTEM	(-1)

/**
 * struct hmmsim_migrate - move a range's pages to or from a device
 * @size: in: sizeof(struct hmmsim_migrate) as known to the caller; at least
 *	%HMMSIM_MIGRATE_SIZE_VER0.
 * @flags: in: 0, or %HMMSIM_MIGRATE_TO_SYSTEM.
 * @addr: in: first address of the range, page aligned.
 * @npages: in: number of pages; the range must be covered by readable VMAs.
 * @src_fd: in: where the pages come from when moving to the device of the
 *	file the command is issued on: %HMMSIM_MIGRATE_FROM_SYSTEM, or an
 *	open hmmsim file of another device, bound to the same process, to
 *	move that device's pages directly, without a copy through system
 *	memory. Must be %HMMSIM_MIGRATE_FROM_SYSTEM with
 *	%HMMSIM_MIGRATE_TO_SYSTEM, which moves this device's pages in the
 *	range to system memory.
 * @pad: in: must be zero.
 * @cpages: out: number of pages moved.
 * @reserved: in: must be zero.
 *
 * Only pages in the source are moved; others are left where they are and
 * are not counted in @cpages, shared memory (shmem, memfd, a file mapped
 * MAP_SHARED) and KSM pages (which never move to a device) included.
 * Every VMA of the range is checked before anything moves. Errors: -EINVAL
 * for a bad range or bad fields, a hole, a VMA without PROT_READ, or one
 * migrate_vma cannot work on (hugetlbfs, DAX, VM_IO, VM_PFNMAP,
 * VM_MIXEDMAP such as a device file's mmap()), -EBADF for a @src_fd that
 * is not open, -EINVAL for a file that is not an hmmsim device or is this
 * same device, -EPERM for a file bound to another process, -ENOMEM when
 * the destination device is out of memory.
 */
struct hmmsim_migrate {
	__u32 size;
	__u32 flags;
	__u64 addr;
	__u64 npages;
	__s32 src_fd;
	__u32 pad;
	__u64 cpages;
	__u64 reserved[4];
};

#define HMMSIM_MIGRATE_SIZE_VER0	72

/* Move pages between system memory and devices, or between devices. */
#define HMMSIM_IOCTL_MIGRATE	_IOWR(HMMSIM_IOCTL_TYPE, 0x41, struct hmmsim_migrate)

/**
 * struct hmmsim_stats - HMMSIM_IOCTL_STATS: the device's counters
 * @size: in: sizeof(struct hmmsim_stats) as known to the caller; at least
 *	%HMMSIM_STATS_SIZE_VER0.
 * @flags: in: must be zero.
 * @to_device: pages moved into the device's memory, from system memory or
 *	from another device.
 * @from_device: pages moved out of the device's memory, to system memory
 *	or to another device, whatever the reason.
 * @cpu_faults: CPU faults on the device's private pages (migrate_to_ram).
 * @device_faults: device page-table misses served by hmm_range_fault():
 *	for READ, WRITE and prefetches, counted per window faulted; for an
 *	access stream, per faulting page of each batch (@fault_duplicates
 *	not included).
 * @invalidations: mmu notifier invalidations that reached a device page
 *	table of this device.
 * @evictions: pages evicted to system memory to make room.
 * @bytes_copied: bytes the copy engine moved or cleared.
 * @alloc_failures: device pages that could not be allocated, even after
 *	eviction.
 * @pages_used: device pages in use now.
 * @thp_to_device: 2 MiB folios moved into the device's memory as one
 *	(also counted, in pages, in @to_device). Since %HMMSIM_ABI_VERSION 4.
 * @thp_from_device: 2 MiB device folios moved out as one, to a system THP
 *	or to another device's folio (also counted in @from_device).
 * @thp_fallbacks: 2 MiB moves that fell back to 4 KiB pages because the
 *	destination could not get a 2 MiB folio.
 * @thp_splits: device folios the kernel split (a partial munmap, mprotect
 *	or mremap of a device THP, or a 4 KiB fallback from the device).
 * @reserved: in: must be zero; out: zero.
 * @uring_inflight: io_uring commands on this device's files that the
 *	driver has accepted and not finished: queued or running. A command is
 *	accepted when io_uring issues it (in io_uring_enter(), unless it goes
 *	through io-wq or SQPOLL) and leaves the count when it is done with the
 *	device, before its CQE is posted: once this reads zero, the commands
 *	accepted until then move, read and write nothing more, and the other
 *	counters include what they did. Since version 1
 *	(%HMMSIM_STATS_SIZE_VER1) and %HMMSIM_ABI_VERSION 3.
 * @memory_errors: device pages that got a memory error (the debugfs file
 *	poison, or memory_failure() on their pfn). Since version 2
 *	(%HMMSIM_STATS_SIZE_VER2) and %HMMSIM_ABI_VERSION 5.
 * @pages_retired: device pages with a memory error that were free or have
 *	been freed since, and are never used again: the device's usable
 *	memory is its capacity less these. Since version 2.
 * @close_evictions: pages the release of a file moved back to system
 *	memory (the evict_on_close module parameter); also counted in
 *	@from_device. A file's release can come after its last close(), when
 *	the kernel still held it (an io_uring request being freed): this
 *	tells such moves from a command's. Since version 3
 *	(%HMMSIM_STATS_SIZE_VER3) and %HMMSIM_ABI_VERSION 6.
 * @fault_batches: batches of device faults the device serviced (access
 *	streams, HMMSIM_IOCTL_ACCESS). Since version 4
 *	(%HMMSIM_STATS_SIZE_VER4) and %HMMSIM_ABI_VERSION 7.
 * @fault_duplicates: device faults on a page that already had a fault in
 *	the same batch, coalesced with it.
 * @fault_migrations: pages moved to the device because the device faulted
 *	on them (also in @to_device).
 * @prefetch_migrations: pages moved to the device with a faulting page,
 *	by prefetch or a migration granularity, that were not faulting
 *	themselves (also in @to_device).
 * @remote_accesses: device accesses of a stream served from memory that is
 *	not the device's: system memory, over the link.
 * @counter_migrations: pages moved to the device because their access
 *	counter reached the policy's threshold (also in @to_device).
 * @thrash_events: pages found thrashing: about to move to the device once
 *	more than the policy allows within its window.
 * @thrash_remote: device faults on a page pinned in system memory as
 *	thrashing, served by mapping it remotely instead of moving it.
 *
 * Counters start at zero when the device is created and only grow, but for
 * @pages_used, @uring_inflight and @pages_retired, which say how things
 * are now. A caller
 * whose @size is that of an older version gets the fields of that version
 * only.
 */
struct hmmsim_stats {
	__u32 size;
	__u32 flags;
	__u64 to_device;
	__u64 from_device;
	__u64 cpu_faults;
	__u64 device_faults;
	__u64 invalidations;
	__u64 evictions;
	__u64 bytes_copied;
	__u64 alloc_failures;
	__u64 pages_used;
	__u64 thp_to_device;
	__u64 thp_from_device;
	__u64 thp_fallbacks;
	__u64 thp_splits;
	__u64 reserved[2];
	__u64 uring_inflight;
	__u64 memory_errors;
	__u64 pages_retired;
	__u64 close_evictions;
	__u64 fault_batches;
	__u64 fault_duplicates;
	__u64 fault_migrations;
	__u64 prefetch_migrations;
	__u64 remote_accesses;
	__u64 counter_migrations;
	__u64 thrash_events;
	__u64 thrash_remote;
};

#define HMMSIM_STATS_SIZE_VER0	128
#define HMMSIM_STATS_SIZE_VER1	136
#define HMMSIM_STATS_SIZE_VER2	152
#define HMMSIM_STATS_SIZE_VER3	160
#define HMMSIM_STATS_SIZE_VER4	224

/* Read the device's counters (debugfs shows the same, but is not ABI). */
#define HMMSIM_IOCTL_STATS	_IOWR(HMMSIM_IOCTL_TYPE, 0x42, struct hmmsim_stats)

/*
 * The device's policy: where pages live when the device touches them.
 *
 * The device runs work as access streams (HMMSIM_IOCTL_ACCESS): loads and
 * stores to pages of the caller's address space, each through the device
 * page table. An access whose page the table does not map (or maps
 * read-only, for a store) is a device fault. Faults go to a fault buffer
 * while the device goes on with the accesses that do not fault, as a GPU's
 * other warps do; when the buffer holds the device's fault batch size
 * (configfs attribute fault_batch), or the stream has nothing else to
 * issue, the driver services the batch: faults on the same page are
 * coalesced (@fault_duplicates of struct hmmsim_stats), and for each page
 * the policy decides, in this order:
 *
 * - the page's advice (HMMSIM_IOCTL_ADVISE) says accessed-by, or preferred
 *   location system: map it remotely;
 * - the page is pinned in system memory as thrashing: map it remotely;
 * - preferred location device, or the policy is %HMMSIM_POLICY_FIRST_TOUCH:
 *   migrate it to the device, with the pages around it that the advice's
 *   granularity or else the prefetch policy adds, but for those whose own
 *   advice says accessed-by or preferred location system;
 * - otherwise (%HMMSIM_POLICY_REMOTE, %HMMSIM_POLICY_COUNTERS): map it
 *   remotely.
 *
 * then replays the faulted accesses. A batch costs the device's fault
 * latency (configfs attribute fault_latency_us). An access to a page
 * mapped remotely is a remote access (@remote_accesses): the page stays in
 * system memory and the data crosses the link. With
 * %HMMSIM_POLICY_COUNTERS each page has an access counter of its remote
 * accesses; when it reaches @counter_threshold within @counter_window
 * accesses, the page migrates at the next batch, when as many pages wait
 * as a batch holds faults, or at the end of the stream
 * (@counter_migrations), unless its advice or thrashing says otherwise.
 *
 * Thrashing: each page remembers when the policy last moved it to the
 * device (a move the policy decided: one the kernel then refuses, of a
 * shared page say, counts too). A device fault that would move it there although it moved
 * @thrash_threshold times within the last @thrash_window accesses is a
 * thrashing event (@thrash_events): the page is pinned in system memory,
 * mapped remotely, for the next @thrash_pin accesses instead, and after
 * that moves again only when the last @thrash_window accesses allow it.
 * So within any window of @thrash_window accesses the policy moves a page
 * to the device at most @thrash_threshold times and the CPU brings it back
 * at most as often, however the CPU and the device alternate. A fault on
 * a pinned page counts in @thrash_remote; the remote mapping it gets stays
 * until something invalidates it (the CPU's writes to a page it maps
 * writable do not), and accesses through it take no fault.
 *
 * Time, for the windows and the pin, is counted in the file's device
 * accesses: every access of every stream on the file advances it by one,
 * so a policy decides the same way on a slow machine and a fast one.
 *
 * The policy belongs to the file, as a GPU context's does: a new file
 * starts with %HMMSIM_POLICY_REMOTE and the defaults listed below, the
 * behaviour of lib/test_hmm, and HMMSIM_IOCTL_SET_POLICY changes it for
 * that file only. HMM_DMIRROR_READ and HMM_DMIRROR_WRITE, the core
 * commands, always access remotely, as test_hmm's do.
 */

/**
 * enum hmmsim_migrate_policy - what a device fault does with a system page
 * @HMMSIM_POLICY_REMOTE: map it remotely; pages move to the device only
 *	by migration commands (the default).
 * @HMMSIM_POLICY_FIRST_TOUCH: move it to the device (migrate on first
 *	touch), with its prefetch region.
 * @HMMSIM_POLICY_COUNTERS: map it remotely and count the device's
 *	accesses to it; move it once they reach the threshold.
 */
enum hmmsim_migrate_policy {
	HMMSIM_POLICY_REMOTE		= 0,
	HMMSIM_POLICY_FIRST_TOUCH	= 1,
	HMMSIM_POLICY_COUNTERS		= 2,
};

/**
 * enum hmmsim_prefetch_policy - what moves with a faulting page
 * @HMMSIM_PREFETCH_NONE: the faulting page alone.
 * @HMMSIM_PREFETCH_FIXED: the aligned block of @prefetch_pages pages
 *	around it.
 * @HMMSIM_PREFETCH_DENSITY: the largest aligned block around it, from
 *	one page up to 2 MiB, of which at least @density_pct percent of the
 *	pages are on the device already or faulting in the same batch: a
 *	sequential sweep grows into whole 2 MiB blocks.
 */
enum hmmsim_prefetch_policy {
	HMMSIM_PREFETCH_NONE	= 0,
	HMMSIM_PREFETCH_FIXED	= 1,
	HMMSIM_PREFETCH_DENSITY	= 2,
};

/**
 * struct hmmsim_policy - HMMSIM_IOCTL_SET_POLICY and HMMSIM_IOCTL_GET_POLICY
 * @size: in: sizeof(struct hmmsim_policy) as known to the caller; at least
 *	%HMMSIM_POLICY_SIZE_VER0.
 * @flags: in: must be zero.
 * @migrate: an &enum hmmsim_migrate_policy (default: REMOTE).
 * @prefetch: an &enum hmmsim_prefetch_policy (default: NONE).
 * @prefetch_pages: for %HMMSIM_PREFETCH_FIXED, the block size in pages: a
 *	power of two from 1 to 512 (default: 16, 64 KiB).
 * @density_pct: for %HMMSIM_PREFETCH_DENSITY, 1 to 100 (default: 50).
 * @counter_threshold: for %HMMSIM_POLICY_COUNTERS, the remote accesses to
 *	a page that make it move: at least 1 (default: 8).
 * @counter_window: the accesses after which a page's access count starts
 *	again from zero, counted from its first counted access; 0 for never
 *	(default: 0).
 * @thrash_threshold: moves of a page to the device within @thrash_window
 *	accesses that the policy allows before it calls it thrashing, 0 to
 *	%HMMSIM_MAX_THRASH_THRESHOLD; 0 turns the detection off (default: 3).
 * @thrash_window: at least 1 (default: 4096).
 * @thrash_pin: accesses a thrashing page stays in system memory, mapped
 *	remotely: at least 1 (default: 4096).
 * @pad: in: must be zero.
 * @reserved: in: must be zero; out: zero.
 *
 * Errors: -EINVAL for a value out of its range, a flag, pad or reserved
 * field that is not zero.
 */
struct hmmsim_policy {
	__u32 size;
	__u32 flags;
	__u32 migrate;
	__u32 prefetch;
	__u32 prefetch_pages;
	__u32 density_pct;
	__u32 counter_threshold;
	__u32 counter_window;
	__u32 thrash_threshold;
	__u32 thrash_window;
	__u32 thrash_pin;
	__u32 pad;
	__u64 reserved[4];
};

#define HMMSIM_POLICY_SIZE_VER0	80

/* The largest struct hmmsim_policy.thrash_threshold. */
#define HMMSIM_MAX_THRASH_THRESHOLD	16

/* Set the file's policy, every field of it: read it first to change one. */
#define HMMSIM_IOCTL_SET_POLICY	_IOW(HMMSIM_IOCTL_TYPE, 0x43, struct hmmsim_policy)
/* Read the file's policy. */
#define HMMSIM_IOCTL_GET_POLICY	_IOWR(HMMSIM_IOCTL_TYPE, 0x44, struct hmmsim_policy)

/**
 * enum hmmsim_location - a preferred location
 * @HMMSIM_LOCATION_NONE: none: the policy decides.
 * @HMMSIM_LOCATION_SYSTEM: system memory: the device maps the pages
 *	remotely and the policy never moves them to the device.
 * @HMMSIM_LOCATION_DEVICE: the device of the file: a device fault moves
 *	the page there, whatever the policy.
 */
enum hmmsim_location {
	HMMSIM_LOCATION_NONE	= 0,
	HMMSIM_LOCATION_SYSTEM	= 1,
	HMMSIM_LOCATION_DEVICE	= 2,
};

/**
 * struct hmmsim_advise - HMMSIM_IOCTL_ADVISE: advice for a range
 * @size: in: sizeof(struct hmmsim_advise) as known to the caller; at least
 *	%HMMSIM_ADVISE_SIZE_VER0.
 * @flags: in: must be zero.
 * @addr: in: first address, page aligned.
 * @npages: in: number of pages; every page must be mapped.
 * @preferred: in: an &enum hmmsim_location.
 * @accessed_by: in: 1: the device accesses the range where it is, mapped
 *	remotely, and never moves it on its faults; 0: no such advice.
 * @granularity: in: 0, or a power of two from 1 to 512: the pages, in an
 *	aligned block, that move with a faulting page of the range, instead
 *	of the prefetch policy's.
 * @pad: in: must be zero.
 * @reserved: in: must be zero.
 *
 * The advice replaces whatever advice the range had, page by page; all
 * three fields zero remove it. It belongs to the file and to the
 * addresses: it applies to this device's faults only, stays through
 * mprotect(), madvise() and migrations, and is dropped with the mapping on
 * munmap(), and on mremap() from the old addresses (the new ones get none).
 * A child of fork() cannot use the file (-EPERM), so it has none. Errors:
 * -EINVAL for a bad field or a range with a hole, -ENOSPC when the file
 * would hold advice for more than 4096 separate ranges.
 */
struct hmmsim_advise {
	__u32 size;
	__u32 flags;
	__u64 addr;
	__u64 npages;
	__u32 preferred;
	__u32 accessed_by;
	__u32 granularity;
	__u32 pad;
	__u64 reserved[4];
};

#define HMMSIM_ADVISE_SIZE_VER0	72

/* Give advice for a range. */
#define HMMSIM_IOCTL_ADVISE	_IOW(HMMSIM_IOCTL_TYPE, 0x45, struct hmmsim_advise)

/**
 * enum hmmsim_pattern - the addresses of an access stream
 * @HMMSIM_PATTERN_SEQUENTIAL: access k is to page k mod @npages.
 * @HMMSIM_PATTERN_STRIDED: access k is to page (k * @stride) mod @npages.
 * @HMMSIM_PATTERN_RANDOM: uniformly random pages of the range.
 * @HMMSIM_PATTERN_HOT: @hot_pct percent of the accesses to uniformly
 *	random pages of the hot set (@hot_npages pages from page
 *	@hot_offset), the others to random pages of the rest of the range.
 * @HMMSIM_PATTERN_LIST: the pages of an array at @ptr: @count entries of
 *	a __u64 page index, or'ed with %HMMSIM_ACCESS_STORE for a store.
 */
enum hmmsim_pattern {
	HMMSIM_PATTERN_SEQUENTIAL	= 0,
	HMMSIM_PATTERN_STRIDED		= 1,
	HMMSIM_PATTERN_RANDOM		= 2,
	HMMSIM_PATTERN_HOT		= 3,
	HMMSIM_PATTERN_LIST		= 4,
};

/* An entry of a %HMMSIM_PATTERN_LIST array: a store, not a load. */
#define HMMSIM_ACCESS_STORE	_BITULL(63)

/**
 * struct hmmsim_access - HMMSIM_IOCTL_ACCESS: the device runs an access stream
 * @size: in: sizeof(struct hmmsim_access) as known to the caller; at least
 *	%HMMSIM_ACCESS_SIZE_VER0.
 * @flags: in: must be zero.
 * @addr: in: first address of the range the stream covers, page aligned.
 * @npages: in: pages in the range.
 * @pattern: in: an &enum hmmsim_pattern.
 * @store_pct: in: percent of the accesses that are stores, 0 to 100,
 *	chosen at random; must be zero for %HMMSIM_PATTERN_LIST.
 * @count: in: number of accesses, 1 to 2^32.
 * @stride: in: for %HMMSIM_PATTERN_STRIDED, pages from one access to the
 *	next, at least 1; zero otherwise.
 * @hot_offset: in: for %HMMSIM_PATTERN_HOT, first page of the hot set;
 *	zero otherwise.
 * @hot_npages: in: for %HMMSIM_PATTERN_HOT, pages of the hot set, at least
 *	1 and fewer than @npages; zero otherwise.
 * @hot_pct: in: for %HMMSIM_PATTERN_HOT, 0 to 100; zero otherwise.
 * @pad: in: must be zero.
 * @seed: in: seed of the random choices (pages, stores); the same seed
 *	gives the same stream.
 * @ptr: in: for %HMMSIM_PATTERN_LIST, the array; zero otherwise.
 * @done: out: accesses done, also on error.
 * @faults: out: device faults taken, duplicates coalesced.
 * @batches: out: fault batches serviced.
 * @remote: out: accesses served remotely, from system memory.
 * @migrated: out: pages the policy moved to the device.
 * @checksum: out: the sum of the values the loads read.
 * @reserved: in: must be zero; out: zero.
 *
 * A load reads the first 64-bit word of its page and adds it to
 * @checksum; a store adds one to that word. The device's accesses go
 * through the policy (HMMSIM_IOCTL_SET_POLICY, above). Errors: -EINVAL
 * for a bad field or a list entry beyond the range; -EFAULT for a page the
 * device cannot fault in (a hole; a bad @ptr); -EPERM for a store to a
 * page the process cannot write; -EIO for a device page with a memory
 * error; -EINTR when a fatal signal came. The outputs are written also on
 * error.
 */
struct hmmsim_access {
	__u32 size;
	__u32 flags;
	__u64 addr;
	__u64 npages;
	__u32 pattern;
	__u32 store_pct;
	__u64 count;
	__u64 stride;
	__u64 hot_offset;
	__u64 hot_npages;
	__u32 hot_pct;
	__u32 pad;
	__u64 seed;
	__u64 ptr;
	__u64 done;
	__u64 faults;
	__u64 batches;
	__u64 remote;
	__u64 migrated;
	__u64 checksum;
	__u64 reserved[4];
};

#define HMMSIM_ACCESS_SIZE_VER0	168

/* The device runs an access stream. */
#define HMMSIM_IOCTL_ACCESS	_IOWR(HMMSIM_IOCTL_TYPE, 0x46, struct hmmsim_access)

/*
 * io_uring commands (IORING_OP_URING_CMD on an hmmsim file).
 *
 * The ring must be set up with IORING_SETUP_SQE128: the 80-byte command
 * area of a 128-byte SQE (sqe->cmd) holds a struct hmmsim_uring_cmd, and
 * sqe->cmd_op one of the HMMSIM_URING_* numbers below. These are ioctl
 * numbers of type 'H' from 0x50 on, so that they cannot be confused with a
 * real ioctl, and like the extension ioctls they are matched on type,
 * number and direction, not on the size they encode: the payload's own
 * @size says which version of the structure the caller has.
 *
 * A command is validated when it is submitted, runs asynchronously, and
 * completes with a CQE whose res is 0 or a negative errno; on a ring set up
 * with IORING_SETUP_CQE32, big_cqe[0] (extra1) is the number of pages
 * moved, read, written or prefetched, including before an error. Errors
 * are those of the ioctls, plus: -EINVAL for a ring without SQE128, an SQE
 * with a uring_cmd flag (%IORING_URING_CMD_FIXED: no command takes a
 * registered buffer; IORING_URING_CMD_MULTISHOT: none is multishot), a
 * payload @size below %HMMSIM_URING_CMD_SIZE_VER0 or above 80, or a flag,
 * pad, reserved or unused field that is not zero; -E2BIG for payload bytes
 * the driver does not know that are not zero; -EOPNOTSUPP for an unknown
 * cmd_op; -ECANCELED for a command canceled while it ran, because its ring
 * was torn down or its process is exiting or killed (its pages moved so far
 * stay moved).
 */

/* struct hmmsim_uring_cmd.flags for HMMSIM_URING_PREFETCH. */
#define HMMSIM_URING_PREFETCH_WRITE	_BITULL(0)

/*
 * struct hmmsim_uring_cmd.flags for HMMSIM_URING_ADVISE: the advice of
 * struct hmmsim_advise, packed: bits 0-1 @preferred, bit 2 @accessed_by,
 * bits 4-7 log2(@granularity) + 1 (0 for none).
 */
#define HMMSIM_URING_ADVISE_PREFERRED(loc)	((__u32)(loc) & 0x3)
#define HMMSIM_URING_ADVISE_ACCESSED_BY		_BITULL(2)
#define HMMSIM_URING_ADVISE_GRANULARITY(log2)	((((__u32)(log2) + 1) & 0xf) << 4)

/**
 * struct hmmsim_uring_cmd - the payload of an hmmsim io_uring command
 * @size: in: sizeof(struct hmmsim_uring_cmd) as known to the caller; at
 *	least %HMMSIM_URING_CMD_SIZE_VER0 and at most 80 (the SQE128
 *	command area).
 * @flags: in: %HMMSIM_URING_PREFETCH_WRITE for HMMSIM_URING_PREFETCH;
 *	the HMMSIM_URING_ADVISE_* advice for HMMSIM_URING_ADVISE; zero for
 *	every other command.
 * @addr: in: first virtual address of the range, page aligned.
 * @npages: in: number of pages in the range, not zero.
 * @ptr: in: the user buffer of npages pages for HMMSIM_URING_READ and
 *	HMMSIM_URING_WRITE; zero for every other command.
 * @src_fd: in: for HMMSIM_URING_MIGRATE_DEV_TO_DEV, an open hmmsim file of
 *	the device the pages come from (as @src_fd of HMMSIM_IOCTL_MIGRATE);
 *	zero for every other command.
 * @pad: in: must be zero.
 * @reserved: in: must be zero.
 *
 * Nothing is written back: results are in the CQE.
 */
struct hmmsim_uring_cmd {
	__u32 size;
	__u32 flags;
	__u64 addr;
	__u64 npages;
	__u64 ptr;
	__s32 src_fd;
	__u32 pad;
	__u64 reserved[4];
};

#define HMMSIM_URING_CMD_SIZE_VER0	72

/* Move the range's system pages to the device (HMMSIM_IOCTL_MIGRATE). */
#define HMMSIM_URING_MIGRATE_TO_DEVICE \
	_IOW(HMMSIM_IOCTL_TYPE, 0x50, struct hmmsim_uring_cmd)
/* Move the device's pages in the range back to system memory. */
#define HMMSIM_URING_MIGRATE_TO_SYSTEM \
	_IOW(HMMSIM_IOCTL_TYPE, 0x51, struct hmmsim_uring_cmd)
/* Move @src_fd's device's pages in the range straight to this device. */
#define HMMSIM_URING_MIGRATE_DEV_TO_DEV \
	_IOW(HMMSIM_IOCTL_TYPE, 0x52, struct hmmsim_uring_cmd)
/*
 * Fault the range into the device page table (read, or write with
 * %HMMSIM_URING_PREFETCH_WRITE) without moving any page, as a device
 * prefetches translations before it touches a buffer.
 */
#define HMMSIM_URING_PREFETCH \
	_IOW(HMMSIM_IOCTL_TYPE, 0x53, struct hmmsim_uring_cmd)
/* The device reads the range into @ptr (HMM_DMIRROR_READ). */
#define HMMSIM_URING_READ \
	_IOW(HMMSIM_IOCTL_TYPE, 0x54, struct hmmsim_uring_cmd)
/* The device writes @ptr into the range (HMM_DMIRROR_WRITE). */
#define HMMSIM_URING_WRITE \
	_IOW(HMMSIM_IOCTL_TYPE, 0x55, struct hmmsim_uring_cmd)
/* Give advice for the range (HMMSIM_IOCTL_ADVISE), packed in @flags. */
#define HMMSIM_URING_ADVISE \
	_IOW(HMMSIM_IOCTL_TYPE, 0x56, struct hmmsim_uring_cmd)

#endif /* _UAPI_HMMSIM_H */
