// SPDX-License-Identifier: GPL-2.0
/**
 * DOC: Device counters
 *
 * Every device counts what it does in &hmmsim_device.stats, one atomic64_t
 * per &enum hmmsim_stat, bumped where the work is done. This file reads
 * them: hmmsim_stats_read() for HMMSIM_IOCTL_STATS, the ABI, and
 * hmmsim_stat_name() for debugfs's stats file, which is not.
 */
#include "hmmsim_drv.h"

static const char *const hmmsim_stat_names[HMMSIM_NR_STATS] = {
	[HMMSIM_STAT_TO_DEVICE]		= "to_device",
	[HMMSIM_STAT_FROM_DEVICE]	= "from_device",
	[HMMSIM_STAT_CPU_FAULTS]	= "cpu_faults",
	[HMMSIM_STAT_DEVICE_FAULTS]	= "device_faults",
	[HMMSIM_STAT_INVALIDATIONS]	= "invalidations",
	[HMMSIM_STAT_EVICTIONS]		= "evictions",
	[HMMSIM_STAT_BYTES_COPIED]	= "bytes_copied",
	[HMMSIM_STAT_ALLOC_FAILURES]	= "alloc_failures",
	[HMMSIM_STAT_THP_TO_DEVICE]	= "thp_to_device",
	[HMMSIM_STAT_THP_FROM_DEVICE]	= "thp_from_device",
	[HMMSIM_STAT_THP_FALLBACKS]	= "thp_fallbacks",
	[HMMSIM_STAT_THP_SPLITS]	= "thp_splits",
	[HMMSIM_STAT_MEMORY_ERRORS]	= "memory_errors",
	[HMMSIM_STAT_CLOSE_EVICTIONS]	= "close_evictions",
	[HMMSIM_STAT_FAULT_BATCHES]	= "fault_batches",
	[HMMSIM_STAT_FAULT_DUPLICATES]	= "fault_duplicates",
	[HMMSIM_STAT_FAULT_MIGRATIONS]	= "fault_migrations",
	[HMMSIM_STAT_PREFETCH_MIGRATIONS] = "prefetch_migrations",
	[HMMSIM_STAT_REMOTE_ACCESSES]	= "remote_accesses",
	[HMMSIM_STAT_COUNTER_MIGRATIONS] = "counter_migrations",
	[HMMSIM_STAT_THRASH_EVENTS]	= "thrash_events",
	[HMMSIM_STAT_THRASH_REMOTE]	= "thrash_remote",
};

/**
 * hmmsim_stat_name() - the name of a counter
 * @stat: the counter, below %HMMSIM_NR_STATS.
 *
 * Return: its name, the field of struct hmmsim_stats that holds it.
 */
const char *hmmsim_stat_name(enum hmmsim_stat stat)
{
	return hmmsim_stat_names[stat];
}

/* The policy's counters, struct hmmsim_stats version 4. */
static void hmmsim_stats_read_policy(struct hmmsim_device *hdev,
				     struct hmmsim_stats *st)
{
	atomic64_t *c = hdev->stats;

	st->fault_batches = atomic64_read(&c[HMMSIM_STAT_FAULT_BATCHES]);
	st->fault_duplicates = atomic64_read(&c[HMMSIM_STAT_FAULT_DUPLICATES]);
	st->fault_migrations = atomic64_read(&c[HMMSIM_STAT_FAULT_MIGRATIONS]);
	st->prefetch_migrations =
		atomic64_read(&c[HMMSIM_STAT_PREFETCH_MIGRATIONS]);
	st->remote_accesses = atomic64_read(&c[HMMSIM_STAT_REMOTE_ACCESSES]);
	st->counter_migrations =
		atomic64_read(&c[HMMSIM_STAT_COUNTER_MIGRATIONS]);
	st->thrash_events = atomic64_read(&c[HMMSIM_STAT_THRASH_EVENTS]);
	st->thrash_remote = atomic64_read(&c[HMMSIM_STAT_THRASH_REMOTE]);
}

/**
 * hmmsim_stats_read() - a consistent-enough copy of a device's counters
 * @hdev: the device.
 * @st: filled from @to_device on; @size, @flags and @reserved are left
 *	alone.
 *
 * @uring_inflight is read first, with acquire semantics: once it reads
 * zero, the other counters include everything the requests that left it
 * did (uring.c decrements it with release semantics).
 */
void hmmsim_stats_read(struct hmmsim_device *hdev, struct hmmsim_stats *st)
{
	st->uring_inflight = atomic_read_acquire(&hdev->uring_inflight);
	st->to_device = atomic64_read(&hdev->stats[HMMSIM_STAT_TO_DEVICE]);
	st->from_device = atomic64_read(&hdev->stats[HMMSIM_STAT_FROM_DEVICE]);
	st->cpu_faults = atomic64_read(&hdev->stats[HMMSIM_STAT_CPU_FAULTS]);
	st->device_faults =
		atomic64_read(&hdev->stats[HMMSIM_STAT_DEVICE_FAULTS]);
	st->invalidations =
		atomic64_read(&hdev->stats[HMMSIM_STAT_INVALIDATIONS]);
	st->evictions = atomic64_read(&hdev->stats[HMMSIM_STAT_EVICTIONS]);
	st->bytes_copied =
		atomic64_read(&hdev->stats[HMMSIM_STAT_BYTES_COPIED]);
	st->alloc_failures =
		atomic64_read(&hdev->stats[HMMSIM_STAT_ALLOC_FAILURES]);
	st->thp_to_device =
		atomic64_read(&hdev->stats[HMMSIM_STAT_THP_TO_DEVICE]);
	st->thp_from_device =
		atomic64_read(&hdev->stats[HMMSIM_STAT_THP_FROM_DEVICE]);
	st->thp_fallbacks =
		atomic64_read(&hdev->stats[HMMSIM_STAT_THP_FALLBACKS]);
	st->thp_splits = atomic64_read(&hdev->stats[HMMSIM_STAT_THP_SPLITS]);
	st->pages_used = hmmsim_devmem_nr_used(hdev);
	st->memory_errors =
		atomic64_read(&hdev->stats[HMMSIM_STAT_MEMORY_ERRORS]);
	st->pages_retired = hmmsim_devmem_nr_retired(hdev);
	st->close_evictions =
		atomic64_read(&hdev->stats[HMMSIM_STAT_CLOSE_EVICTIONS]);
	hmmsim_stats_read_policy(hdev, st);
}
