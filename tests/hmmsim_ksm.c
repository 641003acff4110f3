// SPDX-License-Identifier: GPL-2.0
/*
 * hmmsim_ksm: KSM pages never reach device memory.
 *
 * The kernel migrates a KSM page to device memory if a driver lets it, with
 * its node of KSM's stable tree, and ksmd then oopses on it: memcmp_pages()
 * reads a device private page (the kernel panics), ksm_get_folio() a
 * coherent page whose device was removed. hmmsim leaves KSM pages out of
 * every migration to a device (Documentation/reliability.rst).
 *
 * Each test makes a configfs device of its own (private, or coherent on the
 * guest's second memmap= reservation, which suites.sh leaves free by
 * loading hmmsim with one coherent device), so that it can power it off.
 * Its buffer has DUP_PAGES identical pages, which ksmd merges once they
 * are MADV_MERGEABLE (the test waits for /proc/self/ksm_merging_pages, with
 * ksmd scanning flat out), and UNIQUE_PAGES that stay ordinary anonymous
 * pages. Migrations to the device, with ksmd paused, then move the unique
 * pages only: the KSM pages stay in system memory (SNAPSHOT), still
 * merged, and every page keeps its data through full scans of ksmd, before
 * and after the device is powered off.
 *
 * Needs root and KSM (CONFIG_KSM); the KSM settings are restored at the
 * end of each test.
 */
#include <time.h>

#include "kselftest_harness.h"
#include "hmmsim_test.h"

#define KSM_DIR		"/sys/kernel/mm/ksm"
#define DUP_PAGES	16
#define UNIQUE_PAGES	16
#define NPAGES		(DUP_PAGES + UNIQUE_PAGES)
#define KSM_WAIT_S	120	/* for ksmd to merge or to scan, at most */
#define CFS_PREFIX	"ksm_"
#define CAPACITY	"32M"
#define CAPACITY_BYTES	(32UL << 20)

static const char * const ksm_knobs[] = {
	"run", "pages_to_scan", "sleep_millisecs",
};

static long ksm_read(const char *knob)
{
	char path[128];
	long v;

	snprintf(path, sizeof(path), KSM_DIR "/%s", knob);
	return read_long(path, &v) ? -1 : v;
}

static int ksm_write(const char *knob, long v)
{
	char path[128], val[32];

	snprintf(path, sizeof(path), KSM_DIR "/%s", knob);
	snprintf(val, sizeof(val), "%ld", v);
	return write_file(path, val);
}

/* Pages of this process merged by KSM, or pages_shared where not known. */
static long merged_pages(void)
{
	long v;

	if (!read_long("/proc/self/ksm_merging_pages", &v))
		return v;
	return ksm_read("pages_shared") > 0 ? DUP_PAGES : 0;
}

/* Poll until merged_pages() reaches @want, at most KSM_WAIT_S seconds. */
static bool wait_merged(long want)
{
	double end = now() + KSM_WAIT_S;

	while (merged_pages() < want) {
		if (now() > end)
			return false;
		usleep(10000);
	}
	return true;
}

/*
 * Poll until ksmd has finished a whole scan that started after this call:
 * full_scans goes up by two. At most KSM_WAIT_S seconds.
 */
static bool wait_full_scan(void)
{
	long first = ksm_read("full_scans");
	double end = now() + KSM_WAIT_S;

	while (ksm_read("full_scans") < first + 2) {
		if (now() > end)
			return false;
		usleep(10000);
	}
	return true;
}

/* A test's buffer, and the KSM settings it changed. */
struct ksm_state {
	long saved[ARRAY_SIZE(ksm_knobs)];	/* -1: not changed */
	char *buf;
	char *ptr;
	unsigned int seed;
};

FIXTURE(ksm)
{
	struct cfsdev dev;
	int fd;
	struct ksm_state k;
};

FIXTURE_VARIANT(ksm)
{
	bool coherent;
};

FIXTURE_VARIANT_ADD(ksm, private)
{
	.coherent = false,
};

FIXTURE_VARIANT_ADD(ksm, coherent)
{
	.coherent = true,
};

FIXTURE_SETUP(ksm)
{
	unsigned int i;

	self->fd = -1;
	self->dev.made = false;
	for (i = 0; i < ARRAY_SIZE(ksm_knobs); i++)
		self->k.saved[i] = -1;
	if (access(KSM_DIR "/run", W_OK))
		SETUP_SKIP("no writable " KSM_DIR "/run (CONFIG_KSM, root)");
	self->fd = CFS_DEVICE(&self->dev, CFS_PREFIX, variant->coherent,
			      CAPACITY_BYTES, CAPACITY);
	if (self->fd < 0)
		setup_skipped();
}

FIXTURE_TEARDOWN(ksm)
{
	unsigned int i;

	if (self->fd >= 0)
		close(self->fd);
	if (self->dev.made)
		cfs_remove(self->dev.item);
	/* "run" last: ksmd stops once the others are as they were. */
	for (i = ARRAY_SIZE(ksm_knobs); i-- > 0;)
		if (self->k.saved[i] >= 0)
			ksm_write(ksm_knobs[i], self->k.saved[i]);
}

/* The duplicates stay in system memory, the unique pages are @unique. */
static void ksm_check(struct __test_metadata *_metadata, int fd, char *buf,
		      unsigned char unique)
{
	unsigned char m[NPAGES];

	SNAPSHOT(fd, buf, m, NPAGES);
	/* KSM maps its pages read-only. */
	ASSERT_PROT(m, 0, DUP_PAGES, HMM_DMIRROR_PROT_READ);
	ASSERT_PROT(m, DUP_PAGES, NPAGES, unique);
	ASSERT_LE(DUP_PAGES, merged_pages());
}

/* Every page holds its data: read by the CPU. */
static void ksm_data(struct __test_metadata *_metadata, char *buf,
		     unsigned int seed)
{
	unsigned long i;

	for (i = 0; i < DUP_PAGES; i++)
		ASSERT_PATTERN(buf + i * page_size, 0, 1, seed);
	ASSERT_PATTERN(buf + DUP_PAGES * page_size, DUP_PAGES, UNIQUE_PAGES,
		       seed);
}

/*
 * The buffer: the duplicates hold page 0 of the pattern, the others their
 * own pages. ksmd then scans flat out until it has merged the duplicates.
 * NULL, or why it could not be done.
 */
static const char *ksm_merge(struct __test_metadata *_metadata,
			     struct ksm_state *k)
{
	unsigned int i;

	k->seed = test_seed(_metadata->name);
	k->buf = map_small(NPAGES, PROT_READ | PROT_WRITE);
	k->ptr = malloc(NPAGES * page_size);
	ASSERT_MAPPED(k->buf, k->ptr);
	for (i = 0; i < DUP_PAGES; i++)
		fill_pattern(k->buf + i * page_size, 0, 1, k->seed);
	fill_pattern(k->buf + DUP_PAGES * page_size, DUP_PAGES,
		     UNIQUE_PAGES, k->seed);
	if (madvise(k->buf, NPAGES * page_size, MADV_MERGEABLE))
		return "MADV_MERGEABLE refused";

	for (i = 0; i < ARRAY_SIZE(ksm_knobs); i++)
		k->saved[i] = ksm_read(ksm_knobs[i]);
	ASSERT_EQ(0, ksm_write("pages_to_scan", 100000));
	ASSERT_EQ(0, ksm_write("sleep_millisecs", 0));
	ASSERT_EQ(0, ksm_write("run", 1));
	if (!wait_merged(DUP_PAGES))
		return "ksmd did not merge the duplicate pages in time";
	/*
	 * ksmd pauses while the test migrates: a page it is comparing has
	 * a reference of ksmd's, and migrate_vma rightly leaves such a page
	 * where it is. Writing "run" waits for ksmd's batch to end; merged
	 * pages stay merged.
	 */
	ASSERT_EQ(0, ksm_write("run", 0));
	return NULL;
}

TEST_F_TIMEOUT(ksm, ksm_pages_stay_in_system_memory, 600)
{
	unsigned char local = variant->coherent ? COH_LOCAL : PRIV_LOCAL;
	struct hmmsim_stats before, after;
	const char *why = ksm_merge(_metadata, &self->k);
	__u64 cpages;

	if (why)
		SKIP(return, "%s (%d s at most)", why, KSM_WAIT_S);

	/* HMMSIM_IOCTL_MIGRATE moves what it can: the unique pages. */
	STATS(self->fd, &before);
	ASSERT_EQ(0, hmigrate(self->fd, 0, self->k.buf, NPAGES,
			      HMMSIM_MIGRATE_FROM_SYSTEM, &cpages));
	ASSERT_EQ(UNIQUE_PAGES, cpages);
	STATS(self->fd, &after);
	ASSERT_EQ(before.to_device + UNIQUE_PAGES, after.to_device);
	ASSERT_EQ(UNIQUE_PAGES, after.pages_used);
	ksm_check(_metadata, self->fd, self->k.buf, local);

	/* MIGRATE_TO_DEV needs every page there: KSM pages never are. */
	DMIRROR_RET(-ENOENT, self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, self->k.buf,
		    self->k.ptr, NPAGES);
	DMIRROR_RET(-ENOENT, self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, self->k.buf,
		    self->k.ptr, DUP_PAGES);
	STATS(self->fd, &after);
	ASSERT_EQ(before.to_device + UNIQUE_PAGES, after.to_device);
	ASSERT_EQ(UNIQUE_PAGES, after.pages_used);
	ksm_check(_metadata, self->fd, self->k.buf, local);
	/* The device reads them where they are. */
	DEVICE_READS_PATTERN(self->fd, self->k.buf + DUP_PAGES * page_size,
			     UNIQUE_PAGES, DUP_PAGES, self->k.seed);

	/* ksmd scans its stable tree again, with the device holding pages. */
	ASSERT_EQ(0, ksm_write("run", 1));
	ASSERT_TRUE(wait_full_scan())
		TH_LOG("ksmd did not finish a full scan in %d s", KSM_WAIT_S);
	ksm_check(_metadata, self->fd, self->k.buf, local);

	/* The device goes away: its pages come home; ksmd scans again. */
	ASSERT_EQ(0, cfs_write(&self->dev, "power", "0"));
	ASSERT_TRUE(wait_full_scan())
		TH_LOG("ksmd did not finish a full scan in %d s", KSM_WAIT_S);
	ksm_data(_metadata, self->k.buf, self->k.seed);
	ASSERT_LE(DUP_PAGES, merged_pages());
}

TEST_HARNESS_MAIN
