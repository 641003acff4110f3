// SPDX-License-Identifier: GPL-2.0
/**
 * DOC: debugfs
 *
 * /sys/kernel/debug/hmmsim/<devname>N/ holds, per device:
 *
 * - stats: the counters of struct hmmsim_stats, one "name value" per line,
 *   named by stats.c (HMMSIM_IOCTL_STATS returns the same to programs:
 *   debugfs is not ABI), then the copy engine's completion statistics;
 * - clients: the device's open files, one line each after a header line
 *   "TGID PAGES COMM": the process that opened the file (its thread group
 *   id in the reader's pid namespace, 0 if it is not visible there; a
 *   process that has exited while a forked child keeps the file keeps its
 *   number here), the device pages allocated for that file and still in
 *   use (its owner's count, struct hmmsim_owner), and the process's
 *   command name at open; hmmsimctl list shows them;
 * - fail_alloc, fail_copy, fail_evict: the kernel's fault_attr directories
 *   (probability, interval, times, ...; see
 *   Documentation/fault-injection/fault-injection.rst) that make device
 *   page allocation, a copy batch, or the eviction of a chunk fail;
 * - poison (write only, with CONFIG_MEMORY_FAILURE): writing the index of
 *   a page of the device's memory (0 to capacity / page size - 1) gives it
 *   an uncorrectable memory error (DOC: Device memory errors, poison.c).
 */
#include <linux/debugfs.h>
#include <linux/lockdep.h>
#include <linux/math64.h>
#include <linux/pid.h>
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
	seq_printf(m, "pages_retired %lu\n", hmmsim_devmem_nr_retired(hdev));
	seq_printf(m, "uring_inflight %d\n",
		   atomic_read(&hdev->uring_inflight));
	seq_printf(m, "copy_batches %lld\n", atomic64_read(&hdev->copy_batches));
	seq_printf(m, "copy_descs %lld\n", atomic64_read(&hdev->copy_descs));
	seq_printf(m, "copy_us %lld\n",
		   div_u64(atomic64_read(&hdev->copy_ns), NSEC_PER_USEC));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(hmmsim_stats);

/*
 * One line of the clients file. The mirror stays listed while it is shown,
 * and its owner, which goes only once its file is closed (after the mirror
 * left the list), stays too; a mirror just made may not have one yet.
 */
static void hmmsim_clients_show_one(struct seq_file *m,
				    struct hmmsim_mirror *mirror)
{
	struct hmmsim_owner *owner = READ_ONCE(mirror->owner);

	lockdep_assert_held(&mirror->hdev->mirrors_lock);
	seq_printf(m, "%d %ld %s\n", pid_vnr(mirror->tgid),
		   owner ? atomic_long_read(&owner->nr_pages) : 0,
		   mirror->comm);
}

/* The mirrors lock keeps every listed mirror, and its owner, alive. */
static int hmmsim_clients_show(struct seq_file *m, void *unused)
{
	struct hmmsim_device *hdev = m->private;
	struct hmmsim_mirror *mirror;

	seq_puts(m, "TGID PAGES COMM\n");
	mutex_lock(&hdev->mirrors_lock);
	list_for_each_entry(mirror, &hdev->mirrors, link)
		hmmsim_clients_show_one(m, mirror);
	mutex_unlock(&hdev->mirrors_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(hmmsim_clients);

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
	debugfs_create_file("clients", 0444, hdev->debugfs, hdev,
			    &hmmsim_clients_fops);
	hmmsim_fault_debugfs(&hdev->fail_alloc, "fail_alloc", hdev->debugfs);
	hmmsim_fault_debugfs(&hdev->fail_copy, "fail_copy", hdev->debugfs);
	hmmsim_fault_debugfs(&hdev->fail_evict, "fail_evict", hdev->debugfs);
	if (IS_ENABLED(CONFIG_MEMORY_FAILURE))
		debugfs_create_file("poison", 0200, hdev->debugfs, hdev,
				    &hmmsim_poison_fops);
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
