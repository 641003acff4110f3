// SPDX-License-Identifier: GPL-2.0
/*
 * hmmsim THP tests: transparent huge pages moved to device memory and back.
 *
 * Where the kernel migrates device-private THPs whole (INFO caps has
 * HMMSIM_CAP_THP: Linux 7.x), a 2 MiB THP moves to the device as one 2 MiB
 * device folio, which the device maps with one 2 MiB entry (SNAPSHOT says
 * HMM_DMIRROR_PROT_PMD), and comes back as one THP; the THP counters of
 * HMMSIM_IOCTL_STATS count what moved whole, what fell back to 4 KiB pages
 * and the device folios the kernel split. Elsewhere (6.12, 6.1) the THP
 * moves as 512 pages of 4 KiB, the THP counters stay zero, and the data is
 * just as intact. Each test expects what the device's caps promise.
 *
 * Fixtures:
 *   thp     the first device of each kind, one variant per kind: private
 *           (/dev/hmmsim0 with the default layout) and coherent
 *           (/dev/hmmsim2). Tests of CPU faults on device pages are for
 *           private memory only (the CPU accesses coherent memory in place).
 *   small   a private device of 8 MiB made through configfs
 *           (/sys/kernel/config/hmmsim/hmmsim_thp-PID), given three times
 *           its capacity in THPs.
 *
 * Every buffer a THP is meant to back is 2 MiB aligned and MADV_HUGEPAGE;
 * a test SKIPs, saying so, when no THP materialised (AnonHugePages of
 * /proc/self/smaps short of the buffer's size). Data is checked int by int
 * against a pattern derived from the page index and a per-test seed.
 *
 * The devices are /dev/$HMMSIM_DEVNAME<N> (default hmmsim), N from 0.
 */
#include <liburing.h>

#include "kselftest_harness.h"
#include "hmmsim_test.h"

#define THP_KB		(SZ_2M >> 10)

/* The small device, and the THP-backed memory it is given. */
#define SMALL_CAPACITY		(8UL << 20)
#define SMALL_CAPACITY_STR	"8M"
#define SMALL_LOAD		(3 * SMALL_CAPACITY)
#define CFS_PREFIX		"hmmsim_thp-"

/* ASSERT_THP_COUNTS() of a counter the test does not check. */
#define ANY		(~0ULL)

/* Even after a test that timed out (SIGKILLed, so no teardown). */
static void __attribute__((destructor)) remove_leftovers_at_exit(void)
{
	cfs_remove_leftovers(CFS_PREFIX);
}

/**
 * ASSERT_THP_COUNTS() - the THP counters went from @st0 to @st by exactly
 *	@to, @from, @fallbacks and @splits (thp_to_device, thp_from_device,
 *	thp_fallbacks, thp_splits); ANY for a counter left unchecked
 */
#define ASSERT_THP_COUNTS(st0, st, to, from, fallbacks, splits) \
	assert_thp_counts(_metadata, __LINE__, st0, st, to, from, fallbacks, \
			  splits)

static void assert_thp_counts(struct __test_metadata *_metadata, int line,
			      const struct hmmsim_stats *st0,
			      const struct hmmsim_stats *st, __u64 to,
			      __u64 from, __u64 fallbacks, __u64 splits)
{
	const struct {
		const char *name;
		__u64 before, after, delta;
	} c[] = {
		{ "thp_to_device", st0->thp_to_device, st->thp_to_device, to },
		{ "thp_from_device", st0->thp_from_device, st->thp_from_device,
		  from },
		{ "thp_fallbacks", st0->thp_fallbacks, st->thp_fallbacks,
		  fallbacks },
		{ "thp_splits", st0->thp_splits, st->thp_splits, splits },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(c); i++) {
		if (c[i].delta == ANY)
			continue;
		ASSERT_EQ(c[i].delta, c[i].after - c[i].before)
			TH_LOG("line %d: %s went from %llu to %llu", line,
			       c[i].name, (unsigned long long)c[i].before,
			       (unsigned long long)c[i].after);
	}
}

/* No SNAPSHOT code of [@addr, +@npages) says PMD. */
#define ASSERT_NO_PMD(fd, addr, npages) \
	assert_no_pmd(_metadata, __LINE__, fd, addr, npages)

static void assert_no_pmd(struct __test_metadata *_metadata, int line, int fd,
			  void *addr, unsigned long npages)
{
	unsigned char *m = malloc(npages);
	unsigned long i;

	ASSERT_NE(NULL, m);
	hmmsim_snapshot(_metadata, line, fd, addr, m, npages);
	for (i = 0; i < npages; i++)
		ASSERT_EQ(0, m[i] & HMM_DMIRROR_PROT_PMD)
			TH_LOG("line %d: page %lu is %#x", line, i, m[i]);
	free(m);
}

/* AnonHugePages of [@addr, +@len) is all of it: THPs map it all. */
#define ASSERT_THP_BACKED(addr, len) \
	assert_thp_backed(_metadata, __LINE__, addr, len)

static void assert_thp_backed(struct __test_metadata *_metadata, int line,
			      const void *addr, size_t len)
{
	ASSERT_EQ((long)(len >> 10), anon_huge_kb_range(addr, len))
		TH_LOG("line %d: AnonHugePages of the range", line);
}

/*
 * THP_BUFFER() - THP_BUFFERS() into *@buf and *@ptr, the seed in *@seed:
 *	whether a THP backs the buffer; SKIPs if not, and the test returns
 */
#define THP_BUFFER(buf, ptr, seed) thp_buffer(_metadata, buf, ptr, seed)

static bool thp_buffer(struct __test_metadata *_metadata, char **buf,
		       char **ptr, unsigned int *seed)
{
	long kb;

	*seed = THP_BUFFERS(buf, ptr);
	kb = anon_huge_kb_range(*buf, SZ_2M);
	if (kb != THP_KB)
		SKIP(return false,
		     "no THP materialised (AnonHugePages %ld kB, THP %s)", kb,
		     thp_enabled() ? "enabled" : "never");
	return true;
}

/* ------------------------------------------------------------ fixture */

/* The device a thp test uses. */
struct thpdev {
	int fd;			/* the first device of the variant's kind */
	unsigned int id;	/* its number */
	bool private;		/* its memory is private (else coherent) */
	bool cap;		/* it has HMMSIM_CAP_THP */
	unsigned char local;	/* SNAPSHOT code of a page in its memory */
	unsigned char whole;	/* ...of a page of a THP moved whole */
};

FIXTURE(thp)
{
	struct thpdev d;
};

FIXTURE_VARIANT(thp)
{
	__u32 type;		/* enum hmmsim_mem_type */
};

FIXTURE_VARIANT_ADD(thp, private)
{
	.type = HMMSIM_MEM_PRIVATE,
};

FIXTURE_VARIANT_ADD(thp, coherent)
{
	.type = HMMSIM_MEM_COHERENT,
};

FIXTURE_SETUP(thp)
{
	struct thpdev *d = &self->d;
	struct hmmsim_info inf;

	d->fd = open_dev_of_type(variant->type, &d->id, &inf);
	d->private = variant->type == HMMSIM_MEM_PRIVATE;
	if (d->fd == -ENODEV)
		SETUP_SKIP("no device with %s memory",
			   d->private ? "private" : "coherent");
	ASSERT_LE(0, d->fd)
		TH_LOG("device 0, or an INFO: %s (is hmmsim loaded?)",
		       strerror(-d->fd));
	d->cap = inf.caps & HMMSIM_CAP_THP;
	d->local = d->private ? PRIV_LOCAL : COH_LOCAL;
	d->whole = d->local | (d->cap ? HMM_DMIRROR_PROT_PMD : 0);
}

FIXTURE_TEARDOWN(thp)
{
	if (self->d.fd >= 0)
		close(self->d.fd);
}

/* ------------------------------------------------------------- helpers */

/* io_uring command @op on [@addr, +@npages), which must move them all. */
#define URING_MOVE(ring, fd, op, addr, npages) \
	uring_move(_metadata, __LINE__, ring, fd, op, addr, npages)

static void uring_move(struct __test_metadata *_metadata, int line,
		       struct io_uring *ring, int fd, __u32 op, void *addr,
		       unsigned long npages)
{
	struct hmmsim_uring_cmd c = ucmd(addr, npages * page_size);
	__u64 pages;

	ASSERT_EQ(0, run(ring, fd, op, &c, &pages))
		TH_LOG("line %d: io_uring command %#x", line, op);
	ASSERT_EQ(npages, pages)
		TH_LOG("line %d: io_uring command %#x", line, op);
}

/*
 * A THP of the pattern (THP_BUFFER()) moved to the device with
 * MIGRATE_TO_DEV, whole if the device can; the counters then in *@st0.
 * Whether there was a THP to move (if not, the test SKIPs and returns).
 */
#define THP_ON_DEVICE(buf, ptr, seed, st0) \
	thp_on_device(_metadata, &self->d, buf, ptr, seed, st0)

static bool thp_on_device(struct __test_metadata *_metadata,
			  const struct thpdev *d, char **buf, char **ptr,
			  unsigned int *seed, struct hmmsim_stats *st0)
{
	if (!THP_BUFFER(buf, ptr, seed))
		return false;
	MIGRATE_PATTERN(d->fd, *buf, *ptr, 0, win_pages, *seed);
	SNAPSHOT_PROT(d->fd, *buf, win_pages, d->whole);
	STATS(d->fd, st0);
	return true;
}

/*
 * Pages @first.. (@npages) of the pattern of @seed, at @addr, part of a THP
 * that went to the device whole and was then cut: the device reads them
 * right, maps none with a 2 MiB entry (no PMD can map a part of a THP), and
 * so does the CPU (bringing private pages back).
 */
#define ASSERT_PART_INTACT(fd, addr, first, npages, seed) \
	assert_part_intact(_metadata, __LINE__, fd, addr, first, npages, seed)

static void assert_part_intact(struct __test_metadata *_metadata, int line,
			       int fd, char *addr, unsigned long first,
			       unsigned long npages, unsigned int seed)
{
	device_reads_pattern(_metadata, line, fd, addr, npages, first, seed);
	assert_no_pmd(_metadata, line, fd, addr, npages);
	hmmsim_assert_pattern(_metadata, line, addr, first, npages, seed);
}

/*
 * After a THP on the device was cut: with HMMSIM_CAP_THP, a private device
 * counts the split of its folio; nothing else moved whole. A coherent
 * device's folio is the kernel's to split when it likes (the PMD is split
 * at once, the folio maybe later): what happened is only reported.
 */
#define ASSERT_SPLIT_COUNTED(st0) \
	assert_split_counted(_metadata, __LINE__, &self->d, st0)

static void assert_split_counted(struct __test_metadata *_metadata, int line,
				 const struct thpdev *d,
				 const struct hmmsim_stats *st0)
{
	struct hmmsim_stats st;

	STATS(d->fd, &st);
	if (!d->cap) {
		assert_thp_counts(_metadata, line, st0, &st, 0, 0, 0, 0);
		return;
	}
	assert_thp_counts(_metadata, line, st0, &st, 0, ANY, ANY, ANY);
	if (d->private) {
		ASSERT_LT(st0->thp_splits, st.thp_splits)
			TH_LOG("line %d: no split of the device folio counted",
			       line);
		return;
	}
	ksft_print_msg("line %d: coherent: thp_splits +%llu, thp_from_device +%llu\n",
		       line, st.thp_splits - st0->thp_splits,
		       st.thp_from_device - st0->thp_from_device);
}

/*
 * A THP to the device and back, by MIGRATE_TO_DEV and MIGRATE_TO_SYS, or by
 * io_uring commands on @ring when it is not NULL: whole with
 * HMMSIM_CAP_THP (one 2 MiB device entry, one THP again), as 512 small
 * pages without; every page counted, the data intact.
 */
static void round_trip(struct __test_metadata *_metadata,
		       const struct thpdev *d, struct io_uring *ring)
{
	const unsigned long npages = win_pages;
	unsigned char *m = malloc(npages);
	struct hmmsim_stats st0, st1, st2;
	unsigned int seed;
	char *buf, *ptr;

	ASSERT_NE(NULL, m);
	if (!THP_BUFFER(&buf, &ptr, &seed))
		return;
	SNAPSHOT_PROT(d->fd, buf, npages, WRITE_PMD);

	STATS(d->fd, &st0);
	if (ring) {
		URING_MOVE(ring, d->fd, HMMSIM_URING_MIGRATE_TO_DEVICE, buf,
			   npages);
		READ_PATTERN(d->fd, buf, ptr, 0, npages, seed);
	} else {
		MIGRATE_PATTERN(d->fd, buf, ptr, 0, npages, seed);
	}
	SNAPSHOT_PROT(d->fd, buf, npages, d->whole);
	STATS(d->fd, &st1);
	ASSERT_EQ(st0.to_device + npages, st1.to_device);
	ASSERT_THP_COUNTS(&st0, &st1, d->cap, 0, 0, 0);

	if (ring)
		URING_MOVE(ring, d->fd, HMMSIM_URING_MIGRATE_TO_SYSTEM, buf,
			   npages);
	else
		DMIRROR_OK(d->fd, HMM_DMIRROR_MIGRATE_TO_SYS, buf, ptr,
			   npages, NULL);
	STATS(d->fd, &st2);
	ASSERT_EQ(st1.from_device + npages, st2.from_device);
	ASSERT_THP_COUNTS(&st1, &st2, 0, d->cap, 0, 0);
	SNAPSHOT(d->fd, buf, m, npages);
	if (d->cap) {
		/* One THP again, mapped by a PMD. */
		ASSERT_PROT(m, 0, npages, WRITE_PMD);
		ASSERT_THP_BACKED(buf, SZ_2M);
	} else {
		/* Small pages, unless khugepaged collapsed them already. */
		ASSERT_PROT2(m, 0, npages, SYS_WRITE, WRITE_PMD);
	}
	ASSERT_PATTERN(buf, 0, npages, seed);
	free(m);
}

/* --------------------------------------------------------------- tests */

TEST_F(thp, migrate_to_dev_and_back_whole)
{
	round_trip(_metadata, &self->d, NULL);
}

TEST_F(thp, uring_migrate_to_dev_and_back_whole)
{
	struct io_uring ring;

	ASSERT_EQ(0, io_uring_queue_init(8, &ring, IORING_SETUP_SQE128 |
					 IORING_SETUP_CQE32));
	round_trip(_metadata, &self->d, &ring);
	io_uring_queue_exit(&ring);
}

/* One CPU access to the middle of a device THP brings it all back, as one. */
TEST_F(thp, cpu_fault_brings_the_whole_thp_back)
{
	const unsigned long npages = win_pages, mid = npages / 2;
	struct hmmsim_stats st0, st;
	unsigned int seed;
	char *buf, *ptr;

	if (!self->d.private)
		SKIP(return, "the CPU accesses coherent memory in place");
	if (!THP_ON_DEVICE(&buf, &ptr, &seed, &st0))
		return;

	ASSERT_EQ(pattern(mid, 0, seed), cpu_read(buf + mid * page_size));
	STATS(self->d.fd, &st);
	ASSERT_LT(st0.cpu_faults, st.cpu_faults);
	if (self->d.cap) {
		ASSERT_EQ(st0.from_device + npages, st.from_device);
		ASSERT_THP_COUNTS(&st0, &st, 0, 1, 0, 0);
		SNAPSHOT_PROT(self->d.fd, buf, npages, WRITE_PMD);
		ASSERT_THP_BACKED(buf, SZ_2M);
	} else {
		ASSERT_THP_COUNTS(&st0, &st, 0, 0, 0, 0);
	}
	ASSERT_PATTERN(buf, 0, npages, seed);
}

/* One page of a device THP unmapped: the rest is intact. */
TEST_F(thp, partial_munmap_of_device_thp)
{
	const unsigned long npages = win_pages, k = 100;
	struct hmmsim_stats st0;
	unsigned int seed;
	char *buf, *ptr;

	if (!THP_ON_DEVICE(&buf, &ptr, &seed, &st0))
		return;

	ASSERT_EQ(0, munmap(buf + k * page_size, page_size));
	ASSERT_PART_INTACT(self->d.fd, buf, 0, k, seed);
	ASSERT_PART_INTACT(self->d.fd, buf + (k + 1) * page_size, k + 1,
			   npages - k - 1, seed);
	ASSERT_SPLIT_COUNTED(&st0);
}

/* One page of a device THP made read-only: the rest is intact. */
TEST_F(thp, partial_mprotect_of_device_thp)
{
	const unsigned long npages = win_pages, k = 100;
	unsigned char *m = malloc(npages);
	struct hmmsim_stats st0;
	unsigned int seed;
	char *buf, *ptr;

	ASSERT_NE(NULL, m);
	if (!THP_ON_DEVICE(&buf, &ptr, &seed, &st0))
		return;

	ASSERT_EQ(0, mprotect(buf + k * page_size, page_size, PROT_READ));
	/* Still on the device, in small entries; page k read-only. */
	SNAPSHOT(self->d.fd, buf, m, npages);
	ASSERT_PROT(m, 0, k, self->d.local);
	ASSERT_PROT(m, k, k + 1, read_only_code(self->d.local));
	ASSERT_PROT(m, k + 1, npages, self->d.local);
	ASSERT_PART_INTACT(self->d.fd, buf, 0, npages, seed);
	ASSERT_SPLIT_COUNTED(&st0);
	free(m);
}

/* The first half of a device THP moved elsewhere: both halves intact. */
TEST_F(thp, partial_mremap_of_device_thp)
{
	const unsigned long npages = win_pages, half = npages / 2;
	struct hmmsim_stats st0;
	unsigned int seed;
	char *buf, *ptr, *dst, *moved;

	if (!THP_ON_DEVICE(&buf, &ptr, &seed, &st0))
		return;

	dst = mmap(NULL, SZ_1M, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, dst);
	moved = mremap(buf, SZ_1M, SZ_1M, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	ASSERT_EQ(dst, moved);
	ASSERT_PART_INTACT(self->d.fd, moved, 0, half, seed);
	ASSERT_PART_INTACT(self->d.fd, buf + SZ_1M, half, npages - half, seed);
	ASSERT_SPLIT_COUNTED(&st0);
}

/*
 * fork() with a THP on the device: the child reads it, then writes half of
 * it (copy-on-write); the parent's data, as its CPU and the device read
 * it, does not change.
 */
TEST_F(thp, fork_child_reads_and_copies_on_write)
{
	const unsigned long npages = win_pages, half = npages / 2;
	struct hmmsim_stats st0;
	unsigned int seed;
	char *buf, *ptr;
	pid_t pid;

	if (!THP_ON_DEVICE(&buf, &ptr, &seed, &st0))
		return;

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		/* No ASSERT_*() in the child: its exit status says. */
		if (check_pattern(buf, 0, npages, seed) != -1)
			_exit(1);
		fill_pattern(buf, 0, half, seed + 1);
		if (check_pattern(buf, 0, half, seed + 1) != -1 ||
		    check_pattern(buf + half * page_size, half, npages - half,
				  seed) != -1)
			_exit(2);
		_exit(0);
	}
	ASSERT_EQ(0, wait_child(pid))
		TH_LOG("child: 1: did not read the pattern, 2: lost data in its copy-on-write");
	READ_PATTERN(self->d.fd, buf, ptr, 0, npages, seed);
	ASSERT_PATTERN(buf, 0, npages, seed);
}

/*
 * Another file of the device, whose page table is empty, reads and then
 * writes pages in the middle of a THP the device holds whole: each access
 * faults in a range that starts inside the 2 MiB mapping, and must reach
 * the pages at those addresses, not the folio's first ones (7.2's
 * hmm_range_fault() reports a device-private PMD from the folio's first
 * pfn on, wherever the range starts in it).
 */
TEST_F(thp, other_file_accesses_the_middle_of_a_device_thp)
{
	const unsigned long npages = win_pages, n = 3;
	const unsigned long rd = npages - 7, wr = npages / 2;
	unsigned int *seeds = malloc(npages * sizeof(*seeds));
	struct hmmsim_stats st0;
	unsigned long i;
	unsigned int seed;
	char *buf, *ptr;
	int fd;

	ASSERT_NE(NULL, seeds);
	if (!THP_ON_DEVICE(&buf, &ptr, &seed, &st0))
		return;

	fd = open_dev(self->d.id);
	ASSERT_LE(0, fd);
	DEVICE_READS_PATTERN(fd, buf + rd * page_size, n, rd, seed);
	close(fd);

	fd = open_dev(self->d.id);
	ASSERT_LE(0, fd);
	fill_pattern(ptr, wr, n, seed + 1);
	DMIRROR_OK(fd, HMM_DMIRROR_WRITE, buf + wr * page_size, ptr, n, NULL);
	close(fd);

	for (i = 0; i < npages; i++)
		seeds[i] = i >= wr && i < wr + n ? seed + 1 : seed;
	ASSERT_PAGES(buf, 0, npages, seeds);
	free(seeds);
}

/*
 * HMM_DMIRROR_FLAG_FAIL_ALLOC fails the device's first allocation: a THP
 * then moves as 512 small pages (a fallback, with HMMSIM_CAP_THP), all of
 * them, with no 2 MiB entry.
 */
TEST_F(thp, fail_alloc_falls_back_to_small_pages)
{
	const unsigned long npages = win_pages;
	struct hmmsim_stats st0, st;
	unsigned int seed;
	char *buf, *ptr;

	if (!THP_BUFFER(&buf, &ptr, &seed))
		return;
	STATS(self->d.fd, &st0);
	DMIRROR_RET(0, self->d.fd, HMM_DMIRROR_FLAGS, NULL, NULL,
		    HMM_DMIRROR_FLAG_FAIL_ALLOC);
	MIGRATE_PATTERN(self->d.fd, buf, ptr, 0, npages, seed);
	SNAPSHOT_PROT(self->d.fd, buf, npages, self->d.local);
	STATS(self->d.fd, &st);
	ASSERT_EQ(st0.to_device + npages, st.to_device);
	ASSERT_THP_COUNTS(&st0, &st, 0, 0, self->d.cap, 0);
	ASSERT_PATTERN(buf, 0, npages, seed);
}

/* ------------------------------------------------------ small device */

FIXTURE(small)
{
	struct cfsdev dev;
	int fd;
	bool cap;		/* it has HMMSIM_CAP_THP */
};

FIXTURE_SETUP(small)
{
	struct hmmsim_info inf;

	self->fd = -1;
	self->fd = CFS_PRIVATE_DEVICE(&self->dev, CFS_PREFIX, SMALL_CAPACITY,
				      SMALL_CAPACITY_STR);
	if (self->fd < 0)
		setup_skipped();
	ASSERT_EQ(0, info(self->fd, &inf));
	self->cap = inf.caps & HMMSIM_CAP_THP;
}

FIXTURE_TEARDOWN(small)
{
	if (self->fd >= 0)
		close(self->fd);
	if (self->dev.made)
		cfs_remove(self->dev.item);
}

/*
 * Three times the device's capacity in THPs, 2 MiB at a time: every move
 * succeeds, by evicting the oldest; each THP moves whole or falls back,
 * and all the data reads back right, through the device and the CPU.
 */
TEST_F_TIMEOUT(small, thps_beyond_capacity_move_by_eviction, 120)
{
	const unsigned long nwin = SMALL_LOAD / SZ_2M;
	const unsigned long npages = SMALL_LOAD / page_size;
	unsigned int seed = test_seed(_metadata->name);
	char *buf = map_aligned(SMALL_LOAD, MADV_HUGEPAGE);
	char *ptr = malloc(SZ_2M);
	struct hmmsim_stats st0, st;
	unsigned long w;
	long kb;

	ASSERT_BUFFERS(buf, ptr, npages, seed);
	kb = anon_huge_kb_range(buf, SMALL_LOAD);
	if (kb != (long)(SMALL_LOAD >> 10))
		SKIP(return, "not all THPs materialised (AnonHugePages %ld kB of %lu)",
		     kb, SMALL_LOAD >> 10);

	STATS(self->fd, &st0);
	for (w = 0; w < nwin; w++)
		MIGRATE_PATTERN(self->fd, buf + w * SZ_2M, ptr, w * win_pages,
				win_pages, seed);
	STATS(self->fd, &st);
	ASSERT_EQ(npages, st.to_device - st0.to_device);
	ASSERT_GE(SMALL_CAPACITY / page_size, st.pages_used);
	/* What the device cannot hold was evicted. */
	ASSERT_LE((SMALL_LOAD - SMALL_CAPACITY) / page_size,
		  st.evictions - st0.evictions);
	if (self->cap) {
		ASSERT_EQ(nwin, st.thp_to_device - st0.thp_to_device +
			  st.thp_fallbacks - st0.thp_fallbacks);
		ksft_print_msg("thp_to_device +%llu, thp_fallbacks +%llu\n",
			       st.thp_to_device - st0.thp_to_device,
			       st.thp_fallbacks - st0.thp_fallbacks);
		ksft_print_msg("thp_from_device +%llu, evictions +%llu\n",
			       st.thp_from_device - st0.thp_from_device,
			       st.evictions - st0.evictions);
	} else {
		ASSERT_THP_COUNTS(&st0, &st, 0, 0, 0, 0);
	}

	for (w = 0; w < nwin; w++)
		READ_PATTERN(self->fd, buf + w * SZ_2M, ptr, w * win_pages,
			     win_pages, seed);
	ASSERT_PATTERN(buf, 0, npages, seed);
}

/*
 * A copy that fails (fail_copy armed once) leaves a THP where it was, and
 * intact, each way: MIGRATE_TO_DEV gives -EIO and the THP stays home
 * behind its PMD (without HMMSIM_CAP_THP, in the small pages the kernel
 * split it into to collect it); MIGRATE_TO_SYS gives -EIO and it stays on
 * the device (one 2 MiB entry, with HMMSIM_CAP_THP); a CPU fault whose
 * copy fails is taken again and brings it back (whole, with the
 * capability).
 */
TEST_F(small, fail_copy_leaves_a_thp_where_it_was)
{
	const unsigned long npages = win_pages;
	const unsigned char whole = PRIV_LOCAL |
				    (self->cap ? HMM_DMIRROR_PROT_PMD : 0);
	struct hmmsim_stats st0, st;
	unsigned int seed;
	char *buf, *ptr;
	long times;

	if (!fault_exists(&self->dev, "fail_copy"))
		SKIP(return, "no %s/fail_copy (no CONFIG_FAULT_INJECTION_DEBUG_FS?)",
		     self->dev.dbg);
	if (!THP_BUFFER(&buf, &ptr, &seed))
		return;
	STATS(self->fd, &st0);
	FAULT_ARM_DEV(&self->dev, "fail_copy", "1");
	DMIRROR_RET(-EIO, self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, buf, ptr,
		    npages);
	if (self->cap) {
		SNAPSHOT_PROT(self->fd, buf, npages, WRITE_PMD);
		ASSERT_THP_BACKED(buf, SZ_2M);
	} else {
		/* Collected as small pages, the THP was split. */
		SNAPSHOT_PROT(self->fd, buf, npages, HMM_DMIRROR_PROT_WRITE);
	}
	STATS(self->fd, &st);
	ASSERT_EQ(0, st.pages_used);
	ASSERT_THP_COUNTS(&st0, &st, 0, 0, 0, 0);
	ASSERT_PATTERN(buf, 0, npages, seed);

	MIGRATE_PATTERN(self->fd, buf, ptr, 0, npages, seed);
	SNAPSHOT_PROT(self->fd, buf, npages, whole);
	FAULT_ARM_DEV(&self->dev, "fail_copy", "1");
	DMIRROR_RET(-EIO, self->fd, HMM_DMIRROR_MIGRATE_TO_SYS, buf, ptr,
		    npages);
	SNAPSHOT_PROT(self->fd, buf, npages, whole);
	READ_PATTERN(self->fd, buf, ptr, 0, npages, seed);

	FAULT_ARM_DEV(&self->dev, "fail_copy", "1");
	ASSERT_EQ(pattern(5, 0, seed), cpu_read(buf + 5 * page_size));
	ASSERT_EQ(0, fault_read(&self->dev, "fail_copy", "times", &times));
	ASSERT_EQ(0, times);
	fault_disarm(&self->dev, "fail_copy");
	if (self->cap)
		ASSERT_THP_BACKED(buf, SZ_2M);
	ASSERT_PATTERN(buf, 0, npages, seed);
	STATS(self->fd, &st);
	ASSERT_EQ(0, st.pages_used);
	ASSERT_THP_COUNTS(&st0, &st, self->cap, self->cap, 0, 0);
}

/*
 * The fail_alloc fault attribute armed once fails the 2 MiB allocation of a
 * THP moving to the device: the migration falls back to 512 single pages
 * and succeeds (alloc_failures +1, thp_fallbacks +1 with HMMSIM_CAP_THP;
 * without it, the one allocation the attribute fails is the window's, which
 * then moves nothing and fails).
 */
TEST_F(small, fail_alloc_of_a_thp_falls_back_to_small_pages)
{
	const unsigned long npages = win_pages;
	struct hmmsim_stats st0, st;
	unsigned int seed;
	char *buf, *ptr;

	if (!fault_exists(&self->dev, "fail_alloc"))
		SKIP(return, "no %s/fail_alloc (no CONFIG_FAULT_INJECTION_DEBUG_FS?)",
		     self->dev.dbg);
	if (!THP_BUFFER(&buf, &ptr, &seed))
		return;
	STATS(self->fd, &st0);
	FAULT_ARM_DEV(&self->dev, "fail_alloc", "1");
	if (!self->cap) {
		DMIRROR_RET(-ENOMEM, self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, buf,
			    ptr, npages);
		fault_disarm(&self->dev, "fail_alloc");
		ASSERT_PATTERN(buf, 0, npages, seed);
		return;
	}
	MIGRATE_PATTERN(self->fd, buf, ptr, 0, npages, seed);
	fault_disarm(&self->dev, "fail_alloc");
	SNAPSHOT_PROT(self->fd, buf, npages, PRIV_LOCAL);
	STATS(self->fd, &st);
	ASSERT_EQ(st0.alloc_failures + 1, st.alloc_failures);
	ASSERT_EQ(st0.to_device + npages, st.to_device);
	ASSERT_THP_COUNTS(&st0, &st, 0, 0, 1, 0);
	ASSERT_PATTERN(buf, 0, npages, seed);
}

/* Pages of [buf, +npages) that are not present in the CPU's page table. */
static long pages_not_present(const char *buf, unsigned long npages)
{
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	unsigned long i, vpn = (uintptr_t)buf / page_size;
	long missing = 0;
	__u64 e;

	if (fd < 0)
		return -errno;
	for (i = 0; i < npages; i++)
		if (pread(fd, &e, sizeof(e), (vpn + i) * sizeof(e)) !=
		    sizeof(e) || !(e & PM_PRESENT))
			missing++;
	close(fd);
	return missing;
}

/*
 * EXCLUSIVE of the first page of a THP whose PMD was split into PTEs (by
 * an mprotect() of its last page), so that the folio stays large (6.12's
 * make_device_exclusive_range() skips a tail page, and takes every PTE of
 * the folio for its head):
 * where the kernel makes that one page device-exclusive (7.2's
 * make_device_exclusive()) it succeeds and that page alone leaves the
 * CPU's page table; where it would make every PTE of the folio exclusive
 * (make_device_exclusive_range(), before 6.15) it is -EBUSY and every page
 * stays. Never more than the page asked for.
 */
TEST(exclusive_of_one_page_of_a_pte_mapped_thp)
{
	const unsigned long npages = SZ_2M / page_size, k = 0;
	char *buf = map_aligned(SZ_2M, MADV_HUGEPAGE);
	char *ptr = malloc(page_size);
	int fd = open_dev(0), ret;
	struct hmm_dmirror_cmd cmd;
	long missing;

	ASSERT_LE(0, fd);
	ASSERT_NE(MAP_FAILED, buf);
	ASSERT_NE(NULL, ptr);
	fill_pattern(buf, 0, npages, 12);
	if (anon_huge_kb(buf) < THP_KB)
		SKIP(return, "no THP behind the buffer");
	ASSERT_EQ(0, mprotect(buf + (npages - 1) * page_size, page_size,
			      PROT_READ));
	ret = dmirror(fd, HMM_DMIRROR_EXCLUSIVE, buf + k * page_size, ptr, 1,
		      &cmd);
	ASSERT_TRUE(ret == 0 || ret == -EBUSY)
		TH_LOG("EXCLUSIVE: %s", strerror(-ret));
	missing = pages_not_present(buf, npages);
	EXPECT_EQ(ret ? 0 : 1, missing)
		TH_LOG("EXCLUSIVE gave %d; %ld of %lu pages not present", ret,
		       missing, npages);
	ASSERT_EQ(-1, check_pattern(buf, 0, npages, 12));
	close(fd);
}

TEST_HARNESS_MAIN
