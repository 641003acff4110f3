// SPDX-License-Identifier: GPL-2.0
/*
 * hmmsim_mlock: mlocked memory on the device.
 *
 * Pages of a VM_LOCKED mapping move to device memory and back like any
 * other: their data stays, and the device's pages all come back free. The
 * kernel counts a device folio mapped into a VM_LOCKED mapping as mlocked
 * (the rmap does, when migrate_vma maps it), but munlock() passes over
 * device folios, and free_zone_device_folio() does not clear PG_mlocked as
 * the page allocator's free does: a page munlocked on the device stayed
 * counted in Mlocked for good (Documentation/reliability.rst). hmmsim
 * clears it when its page is freed, so each test here also checks that
 * Mlocked is back where it was once the buffer is gone.
 *
 * Each test makes a configfs device of its own, private or coherent (on a
 * memmap= reservation no other device holds: suites.sh loads hmmsim with
 * one coherent device), so that its counters start at zero and it can be
 * powered off. Mlocked is system wide: it is read after
 * /proc/sys/vm/stat_refresh has folded the per-CPU counts in, and compared
 * within a quarter of the buffer, which the kernel counts whole or not at
 * all.
 *
 * Needs root, for configfs and stat_refresh, and an RLIMIT_MEMLOCK of
 * NPAGES at least.
 */
#include "kselftest_harness.h"
#include "hmmsim_test.h"

#define NPAGES		256
#define CFS_PREFIX	"hmmsim_mlock-"
#define CAPACITY	"16M"
#define STAT_REFRESH	"/proc/sys/vm/stat_refresh"
#define COMPACT_MEMORY	"/proc/sys/vm/compact_memory"

/* A test's device and mlocked buffer. */
struct mlocked {
	int fd;
	char *buf;
	char *ptr;
	unsigned int seed;
	long base_kb;		/* Mlocked before the buffer was mlocked */
};

FIXTURE(mlock)
{
	struct cfsdev dev;
	struct mlocked m;
};

FIXTURE_VARIANT(mlock)
{
	bool coherent;
};

FIXTURE_VARIANT_ADD(mlock, private)
{
	.coherent = false,
};

FIXTURE_VARIANT_ADD(mlock, coherent)
{
	.coherent = true,
};

/* Mlocked, in kB, with every CPU's share counted. */
static long mlocked_kb(void)
{
	write_file(STAT_REFRESH, "1");
	return meminfo_kb("Mlocked:");
}

/* Mlocked is @pages pages above where it was before the test's mlock(). */
#define ASSERT_MLOCKED(m, pages) \
	hmmsim_assert_mlocked(_metadata, __LINE__, (m)->base_kb, pages)

static void hmmsim_assert_mlocked(struct __test_metadata *_metadata,
				  int line, long base_kb, long pages)
{
	long slack = NPAGES / 4 * (page_size / 1024);
	long want = base_kb + pages * (long)(page_size / 1024);
	long kb = mlocked_kb();

	ASSERT_TRUE(kb >= want - slack && kb <= want + slack)
		TH_LOG("line %d: Mlocked %ld kB, %ld kB expected (%ld pages above %ld kB)",
		       line, kb, want, pages, base_kb);
}

FIXTURE_SETUP(mlock)
{
	struct mlocked *m = &self->m;

	m->fd = -1;
	m->buf = MAP_FAILED;
	self->dev.made = false;
	if (access(STAT_REFRESH, W_OK))
		SETUP_SKIP("no writable %s (root)", STAT_REFRESH);
	m->fd = CFS_DEVICE(&self->dev, CFS_PREFIX, variant->coherent,
			   16UL << 20, CAPACITY);
	if (m->fd < 0)
		setup_skipped();

	m->base_kb = mlocked_kb();
	m->seed = SMALL_BUFFERS(&m->buf, &m->ptr, NPAGES);
	ASSERT_EQ(0, mlock(m->buf, NPAGES * page_size))
		TH_LOG("mlock: %s (RLIMIT_MEMLOCK?)", strerror(errno));
	ASSERT_MLOCKED(m, NPAGES);
}

FIXTURE_TEARDOWN(mlock)
{
	if (self->m.buf != MAP_FAILED)
		munmap(self->m.buf, NPAGES * page_size);
	if (self->m.fd >= 0)
		close(self->m.fd);
	if (self->dev.made)
		cfs_remove(self->dev.item);
}

static bool no_page_used(const struct hmmsim_stats *st)
{
	return !st->pages_used;
}

/* The buffer moves to the device: data, SNAPSHOT and counters. */
static void to_device(struct __test_metadata *_metadata, struct mlocked *m,
		      bool coherent)
{
	struct hmmsim_stats st;

	MIGRATE_PATTERN(m->fd, m->buf, m->ptr, 0, NPAGES, m->seed);
	SNAPSHOT_PROT(m->fd, m->buf, NPAGES, coherent ? COH_LOCAL : PRIV_LOCAL);
	STATS(m->fd, &st);
	ASSERT_EQ(NPAGES, st.to_device);
	ASSERT_EQ(NPAGES, st.pages_used);
	/* The device's folios are mlocked in the buffer's place. */
	ASSERT_MLOCKED(m, NPAGES);
}

/* munlock() of the whole buffer. */
static void munlock_all(struct __test_metadata *_metadata, struct mlocked *m)
{
	ASSERT_EQ(0, munlock(m->buf, NPAGES * page_size));
}

/* The buffer is unmapped: the device's pages are free, Mlocked as before. */
static void all_free(struct __test_metadata *_metadata, struct mlocked *m)
{
	struct hmmsim_stats st;

	ASSERT_EQ(0, munmap(m->buf, NPAGES * page_size));
	m->buf = MAP_FAILED;
	/*
	 * The unmap of a locked VMA munlocks each folio through a per-CPU
	 * batch that holds a reference on it until that CPU drains the
	 * batch, which an idle CPU never does: up to 31 device pages stay
	 * in use. Compaction drains every CPU's batches first.
	 */
	write_file(COMPACT_MEMORY, "1");
	ASSERT_EQ(0, wait_stats(m->fd, no_page_used, &st))
		TH_LOG("%llu device pages still in use", st.pages_used);
	ASSERT_MLOCKED(m, 0);
}

TEST_F(mlock, mlocked_pages_go_to_device_and_back)
{
	struct mlocked *m = &self->m;
	struct hmm_dmirror_cmd cmd;
	struct hmmsim_stats st;

	to_device(_metadata, m, variant->coherent);
	DMIRROR_OK(m->fd, HMM_DMIRROR_MIGRATE_TO_SYS, m->buf, m->ptr, NPAGES,
		   &cmd);
	SNAPSHOT_PROT(m->fd, m->buf, NPAGES, SYS_WRITE);
	ASSERT_EQ(0, wait_stats(m->fd, no_page_used, &st));
	ASSERT_EQ(NPAGES, st.from_device);
	ASSERT_MLOCKED(m, NPAGES);
	ASSERT_PATTERN(m->buf, 0, NPAGES, m->seed);
	all_free(_metadata, m);
}

TEST_F(mlock, mlocked_pages_unmapped_on_the_device)
{
	to_device(_metadata, &self->m, variant->coherent);
	all_free(_metadata, &self->m);
}

TEST_F(mlock, pages_munlocked_on_the_device_then_unmapped)
{
	struct mlocked *m = &self->m;

	to_device(_metadata, m, variant->coherent);
	munlock_all(_metadata, m);
	DEVICE_READS_PATTERN(m->fd, m->buf, NPAGES, 0, m->seed);
	all_free(_metadata, m);
}

TEST_F(mlock, pages_munlocked_on_the_device_then_written_by_the_cpu)
{
	struct mlocked *m = &self->m;

	to_device(_metadata, m, variant->coherent);
	munlock_all(_metadata, m);
	/* The CPU's write faults a private page home; a coherent one stays. */
	fill_pattern(m->buf, 0, NPAGES, m->seed + 1);
	DEVICE_READS_PATTERN(m->fd, m->buf, NPAGES, 0, m->seed + 1);
	all_free(_metadata, m);
}

TEST_F(mlock, pages_munlocked_on_the_device_then_device_powered_off)
{
	struct mlocked *m = &self->m;

	to_device(_metadata, m, variant->coherent);
	munlock_all(_metadata, m);
	ASSERT_EQ(0, cfs_write(&self->dev, "power", "0"));
	/* Its pages came home, unlocked: nothing of them is counted. */
	ASSERT_MLOCKED(m, 0);
	ASSERT_PATTERN(m->buf, 0, NPAGES, m->seed);
	ASSERT_EQ(0, munmap(m->buf, NPAGES * page_size));
	m->buf = MAP_FAILED;
	ASSERT_MLOCKED(m, 0);
}

TEST_HARNESS_MAIN
