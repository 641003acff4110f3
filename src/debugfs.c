// SPDX-License-Identifier: GPL-2.0
/**
 * DOC: debugfs
 *
 * /sys/kernel/debug/hmmsim/<devname>N/ holds, per device:
 *
 * - stats: the counters of struct hmmsim_stats, one "name value" per line,
 *   named by stats.c (HMMSIM_IOCTL_STATS returns the same to programs:
 *   debugfs is not ABI), then the copy engine's completion statistics;
 * - fail_alloc, fail_copy, fail_evict: the kernel's fault_attr directories
 *   (probability, interval, times, ...; see
 *   Documentation/fault-injection/fault-injection.rst) that make device
 *   page allocation, a copy batch, or the eviction of a chunk fail.
 */
#include <linux/debugfs.h>
#include <linux/math64.h>
#include <linux/seq_file.h>

#include "hmmsim_drv.h"

static struct dentry *hmmsim_debugfs_root;

static int hmmsim_stats_show(struct seq_file *m, void *unused)
{
	struct hmmsim_device *hdev = m->private;
	int i;

	for (i = 0; i < HMMSIM_NR_STATS; i++)
		seq_printf(m, "%s %lld\n", hmmsim_stat_name(i),
			   atomic64_read(&hdev->stats[i]));
	seq_printf(m, "pages_used %lu\n", hmmsim_devmem_nr_used(hdev));
	seq_printf(m, "uring_inflight %d\n",
		   atomic_read(&hdev->uring_inflight));
	seq_printf(m, "copy_batches %lld\n", atomic64_read(&hdev->copy_batches));
	seq_printf(m, "copy_descs %lld\n", atomic64_read(&hdev->copy_descs));
	seq_printf(m, "copy_us %lld\n",
		   div_u64(atomic64_read(&hdev->copy_ns), NSEC_PER_USEC));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(hmmsim_stats);

/**
 * hmmsim_debugfs_add() - a new device's debugfs directory
 * @hdev: the device, named.
 */
void hmmsim_debugfs_add(struct hmmsim_device *hdev)
{
	hmmsim_fault_init(&hdev->fail_alloc);
	hmmsim_fault_init(&hdev->fail_copy);
	hmmsim_fault_init(&hdev->fail_evict);

	hdev->debugfs = debugfs_create_dir(dev_name(&hdev->dev),
					   hmmsim_debugfs_root);
	debugfs_create_file("stats", 0444, hdev->debugfs, hdev,
			    &hmmsim_stats_fops);
	hmmsim_fault_debugfs(&hdev->fail_alloc, "fail_alloc", hdev->debugfs);
	hmmsim_fault_debugfs(&hdev->fail_copy, "fail_copy", hdev->debugfs);
	hmmsim_fault_debugfs(&hdev->fail_evict, "fail_evict", hdev->debugfs);
}

/**
 * hmmsim_debugfs_remove() - remove a device's debugfs directory
 * @hdev: the device.
 */
void hmmsim_debugfs_remove(struct hmmsim_device *hdev)
{
	debugfs_remove(hdev->debugfs);
	hdev->debugfs = NULL;
}

/**
 * hmmsim_debugfs_init() - create /sys/kernel/debug/hmmsim
 */
void hmmsim_debugfs_init(void)
{
	hmmsim_debugfs_root = debugfs_create_dir(KBUILD_MODNAME, NULL);
}

/**
 * hmmsim_debugfs_exit() - remove /sys/kernel/debug/hmmsim
 */
void hmmsim_debugfs_exit(void)
{
	debugfs_remove(hmmsim_debugfs_root);
}
