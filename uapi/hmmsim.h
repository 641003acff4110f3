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

#include <linux/ioctl.h>
#include <linux/types.h>

#define HMMSIM_IOCTL_TYPE	'H'

/* Version of the extension ABI; bumped when a command or struct is added. */
#define HMMSIM_ABI_VERSION	1

/**
 * enum hmmsim_mem_type - kind of memory a simulated device has
 * @HMMSIM_MEM_PRIVATE: MEMORY_DEVICE_PRIVATE; the CPU cannot access device
 *	pages and faults them back to system memory.
 * @HMMSIM_MEM_COHERENT: MEMORY_DEVICE_COHERENT; device pages are ordinary
 *	CPU-addressable memory the kernel does not manage as System RAM.
 *
 * The values match lib/test_hmm's memory type codes.
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
	__u64 reserved[4];
};

#define HMMSIM_INFO_SIZE_VER0	72

/* Describe the device behind the file descriptor. */
#define HMMSIM_IOCTL_INFO	_IOWR(HMMSIM_IOCTL_TYPE, 0x40, struct hmmsim_info)

#endif /* _UAPI_HMMSIM_H */
