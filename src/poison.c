// SPDX-License-Identifier: GPL-2.0
/**
 * DOC: Device memory errors
 *
 * Real device memory has uncorrectable errors, and a driver must keep the
 * data of the page lost and the page out of use. hmmsim's are injected:
 * writing a page's index to the device's debugfs file poison calls
 * memory_failure() on the page's pfn, as the machine check handler would,
 * and the kernel hands the ZONE_DEVICE page to the pagemap's
 * memory_failure operation, hmmsim_poison_memory_failure(), which marks it
 * in &hmmsim_devmem.poison (also when a real error, or hwpoison's
 * injector, calls memory_failure()). Then:
 *
 * - a free page is retired: never handed out again (pages_retired);
 * - a page in use keeps its mapping, and its data is gone. The device
 *   refuses to read or write it (-EIO for READ and WRITE) and never
 *   copies it: migrations, eviction and RELEASE leave it where it is.
 *   The CPU faulting on a private page gets SIGBUS (BUS_MCEERR_AR), as
 *   for a poisoned page of system memory. A coherent page, which the CPU
 *   maps directly, is moved at once (by hmmsim_evict_poisoned(), in a
 *   worker) to a cleared system page that is then poisoned with
 *   memory_failure(): the kernel replaces its mapping with a hwpoison
 *   entry, and the CPU gets SIGBUS from there on. The page is retired when
 *   its owner frees it;
 * - when the device goes away, its private pages that still hold lost
 *   data move to system memory the same way, so the loss outlives it.
 *
 * Each costs a page of system memory, poisoned for good (HardwareCorrupted
 * in /proc/meminfo), as a real error would. Without CONFIG_MEMORY_FAILURE
 * there is no poison file.
 */
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/memremap.h>
#include <linux/mm.h>
#include <linux/workqueue.h>

#include "hmmsim_drv.h"
#include "trace.h"

/**
 * hmmsim_poison_memory_failure() - dev_pagemap_ops.memory_failure
 * @pgmap: the device's pagemap.
 * @pfn: the first pfn with an error.
 * @nr_pages: the number of pages from @pfn on.
 * @mf_flags: memory_failure()'s MF_* flags.
 *
 * memory_failure() was called on pages of this device, and holds its
 * mf_mutex: the device is only tried (it may be on its way out), and the
 * pages the CPU maps are left to a worker.
 *
 * Return: 0, or -ENXIO for pages that are not the device's, or when it is
 * being removed.
 */
int hmmsim_poison_memory_failure(struct dev_pagemap *pgmap, unsigned long pfn,
				 unsigned long nr_pages, int mf_flags)
{
	struct hmmsim_device *hdev = container_of(pgmap, struct hmmsim_device,
						  mem.pagemap);
	struct hmmsim_devmem *mem = &hdev->mem;
	unsigned long i, idx = pfn - mem->pfn_first;
	bool coherent_in_use = false, in_use;

	if (idx >= mem->npages || nr_pages > mem->npages - idx)
		return -ENXIO;
	/*
	 * Only tried, inside mf_mutex; once the device is marked removed,
	 * nothing queues the worker, which its removal then cancels.
	 */
	if (!hmmsim_device_tryenter(hdev))
		return -ENXIO;
	for (i = idx; i < idx + nr_pages; i++) {
		if (test_bit(i, mem->poison))
			continue;
		in_use = hmmsim_devmem_poison(hdev, i);
		hmmsim_count(hdev, HMMSIM_STAT_MEMORY_ERRORS, 1);
		trace_hmmsim_memory_error(hdev->id, in_use ?
					  HMMSIM_MEMORY_ERROR_IN_USE :
					  HMMSIM_MEMORY_ERROR_FREE, i);
		coherent_in_use |= in_use && !mem->store;
	}
	if (coherent_in_use)
		queue_work(system_unbound_wq, &hdev->poison_work);
	hmmsim_device_leave(hdev);
	return 0;
}

/*
 * Give page @idx of @hdev a memory error, through memory_failure(), as a
 * machine check would; a page that has one already is left as it is.
 * Returns 0, -EINVAL for an index past the device's memory, -ENODEV if the
 * device was removed, -EOPNOTSUPP without CONFIG_MEMORY_FAILURE, or the
 * error of memory_failure() (-ENXIO once the device's removal has begun).
 */
static int hmmsim_poison_inject(struct hmmsim_device *hdev, unsigned long idx)
{
	int ret = 0;

	if (!IS_ENABLED(CONFIG_MEMORY_FAILURE))
		return -EOPNOTSUPP;
	if (!hmmsim_device_enter(hdev))
		return -ENODEV;
	if (idx >= hdev->mem.npages)
		ret = -EINVAL;
	else if (!test_bit(idx, hdev->mem.poison))
		ret = hmmsim_memory_failure(hdev->mem.pfn_first + idx);
	hmmsim_device_leave(hdev);
	return ret;
}

static ssize_t hmmsim_poison_write(struct file *file, const char __user *ubuf,
				   size_t len, loff_t *ppos)
{
	struct hmmsim_device *hdev = file->private_data;
	unsigned long idx;
	int ret;

	ret = kstrtoul_from_user(ubuf, len, 0, &idx);
	if (!ret)
		ret = hmmsim_poison_inject(hdev, idx);
	return ret ? ret : len;
}

/* The debugfs file poison: a device page's index in, an error on it. */
const struct file_operations hmmsim_poison_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = hmmsim_poison_write,
};
