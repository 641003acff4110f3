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
 * hmmsim_stats has @memory_errors and @pages_retired.
 */
#define HMMSIM_ABI_VERSION	6

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
	__u64 reserved[3];
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
 * @device_faults: device page-table misses served by hmm_range_fault(),
 *	counted per window faulted.
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
};

#define HMMSIM_STATS_SIZE_VER0	128
#define HMMSIM_STATS_SIZE_VER1	136
#define HMMSIM_STATS_SIZE_VER2	152
#define HMMSIM_STATS_SIZE_VER3	160

/* Read the device's counters (debugfs shows the same, but is not ABI). */
#define HMMSIM_IOCTL_STATS	_IOWR(HMMSIM_IOCTL_TYPE, 0x42, struct hmmsim_stats)

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

/**
 * struct hmmsim_uring_cmd - the payload of an hmmsim io_uring command
 * @size: in: sizeof(struct hmmsim_uring_cmd) as known to the caller; at
 *	least %HMMSIM_URING_CMD_SIZE_VER0 and at most 80 (the SQE128
 *	command area).
 * @flags: in: %HMMSIM_URING_PREFETCH_WRITE for HMMSIM_URING_PREFETCH;
 *	zero for every other command.
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

#endif /* _UAPI_HMMSIM_H */
