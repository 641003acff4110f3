// SPDX-License-Identifier: GPL-2.0
/*
 * hmmsim tests of devices with coherent memory (MEMORY_DEVICE_COHERENT: device
 * memory the CPU can address) and of HMMSIM_IOCTL_MIGRATE, which moves pages
 * from system memory or from another device to a device, or back to system
 * memory.
 *
 * Devices are found by their INFO type: the first two with private memory
 * and the first two with coherent memory. A test SKIPs when a device it
 * needs is missing.
 *
 * Fixtures:
 *   coherent  core commands on a coherent device, CPU access in place,
 *             pinning, fork(), RELEASE and close.
 *   move      HMMSIM_IOCTL_MIGRATE from one device to another, one variant
 *             per direction.
 *   dev       HMMSIM_IOCTL_MIGRATE between system memory and one device,
 *             one variant per kind of device memory.
 *   migrate   HMMSIM_IOCTL_MIGRATE with every kind of bad input: each test
 *             ends by checking that a bystander range did not move, and
 *             that the fields it left valid do move it.
 *
 * Data is checked int by int against a pattern derived from the page index
 * and a per-test seed. Buffers are MADV_NOHUGEPAGE unless the test is about
 * THP, so that SNAPSHOT codes do not depend on the THP mode. Every command
 * goes in with garbage in its output fields.
 *
 * The devices are /dev/$HMMSIM_DEVNAME<N> (default hmmsim), N from 0.
 */
#include <limits.h>
#include <sys/resource.h>

#include "kselftest_harness.h"
#include "hmmsim_test.h"
#include <mm/gup_test.h>

/* The largest struct size HMMSIM_IOCTL_MIGRATE looks at. */
#define MIGRATE_SIZE_MAX	4096

/*
 * gup_test's gup_flags are the kernel's own FOLL_* values, which 6.3
 * renumbered (include/linux/mm_types.h): FOLL_WRITE stayed, FOLL_LONGTERM
 * was 0x10000 before.
 */
#define GUP_FOLL_WRITE		0x001
#define GUP_FOLL_LONGTERM	(kernel_at_least(6, 3) ? 0x100 : 0x10000)

/* The kinds of device memory, as indexes. */
enum { PRIV, COH, NR_KINDS };

static const char *const kind_name[NR_KINDS] = { "private", "coherent" };

/* The first two devices of each kind, open; fd -1 where there is none. */
struct devs {
	int fd[NR_KINDS][2];
	unsigned int id[NR_KINDS][2];
	unsigned int n[NR_KINDS];
};

#define OPEN_DEVS(d) open_devs(_metadata, d)

static void open_devs(struct __test_metadata *_metadata, struct devs *d)
{
	unsigned int id, k, i;

	for (k = 0; k < NR_KINDS; k++) {
		d->n[k] = 0;
		for (i = 0; i < 2; i++)
			d->fd[k][i] = -1;
	}
	for (id = 0; ; id++) {
		struct hmmsim_info inf;
		int fd = open_dev(id);

		if (fd < 0)
			break;
		ASSERT_EQ(0, info(fd, &inf));
		ASSERT_TRUE(inf.type == HMMSIM_MEM_PRIVATE ||
			    inf.type == HMMSIM_MEM_COHERENT)
			TH_LOG("device %u has type %u", id, inf.type);
		k = inf.type == HMMSIM_MEM_COHERENT ? COH : PRIV;
		if (d->n[k] == 2) {
			close(fd);
			continue;
		}
		d->fd[k][d->n[k]] = fd;
		d->id[k][d->n[k]] = id;
		d->n[k]++;
	}
	ASSERT_NE(0, id)
		TH_LOG("cannot open device 0: %s (is hmmsim loaded?)",
		       strerror(errno));
}

static void close_devs(struct devs *d)
{
	unsigned int k, i;

	for (k = 0; k < NR_KINDS; k++)
		for (i = 0; i < 2; i++)
			if (d->fd[k][i] >= 0)
				close(d->fd[k][i]);
}

/* SNAPSHOT code of a page in the memory of a device of this kind... */
static unsigned char local_code(int kind)
{
	return kind == COH ? COH_LOCAL : PRIV_LOCAL;
}

/*
 * ...and as any other device sees it: a private page is not accessible to
 * other devices, a coherent one is (as remote device memory).
 */
static unsigned char remote_code(int kind)
{
	return kind == COH ? COH_REMOTE : HMM_DMIRROR_PROT_NONE;
}

/* Page faults this process has taken so far, minor and major. */
static long faults_so_far(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return -1;
	return ru.ru_minflt + ru.ru_majflt;
}

/*
 * The CPU reads every int of the buffer, overwrites it with another pattern
 * and reads it again; the number of passes that found wrong data.
 */
static int cpu_read_write_read(char *buf, unsigned long npages,
			       unsigned int seed, unsigned int new_seed)
{
	int bad = 0;

	if (check_pattern(buf, 0, npages, seed) != -1)
		bad++;
	fill_pattern(buf, 0, npages, new_seed);
	if (check_pattern(buf, 0, npages, new_seed) != -1)
		bad++;
	return bad;
}

/* One gup_test command on len bytes from addr; the bytes it got or pinned. */
static int run_gup_test(int gup_fd, unsigned long request, void *addr,
			size_t len, __u32 gup_flags, __u64 *done)
{
	struct gup_test gup;

	memset(&gup, 0, sizeof(gup));
	gup.addr = (unsigned long)addr;
	gup.size = len;
	gup.nr_pages_per_call = len / page_size;
	gup.gup_flags = gup_flags;
	if (ioctl(gup_fd, request, &gup))
		return -errno;
	*done = gup.size;
	return 0;
}

/*
 * Two devices: dst, the one a command is issued on, and src, where pages
 * come from.
 */
struct pair {
	int dst, dst_kind;
	unsigned int dst_id;
	int src, src_kind;
};

/* ------------------------------------------------- coherent: fixture */

FIXTURE(coherent)
{
	struct devs d;
	int coh;		/* the first coherent device */
	unsigned int coh_id;
	int others[2 * NR_KINDS];	/* every other device open */
	unsigned int nothers;
};

FIXTURE_SETUP(coherent)
{
	unsigned int k, i;

	OPEN_DEVS(&self->d);
	if (!self->d.n[COH])
		SETUP_SKIP("no device with coherent memory");
	self->coh = self->d.fd[COH][0];
	self->coh_id = self->d.id[COH][0];
	self->nothers = 0;
	for (k = 0; k < NR_KINDS; k++)
		for (i = 0; i < self->d.n[k]; i++)
			if (self->d.fd[k][i] != self->coh)
				self->others[self->nothers++] = self->d.fd[k][i];
}

FIXTURE_TEARDOWN(coherent)
{
	close_devs(&self->d);
}

/* --------------------------------------------- coherent: MIGRATE_TO_DEV */

TEST_F(coherent, migrate_to_dev_moves_pages_and_reads_them_back)
{
	const unsigned long npages = 64;
	char *buf, *ptr;
	unsigned int seed = SMALL_BUFFERS(&buf, &ptr, npages);

	SNAPSHOT_PROT(self->coh, buf, npages, SYS_WRITE);

	MIGRATE_PATTERN(self->coh, buf, ptr, 0, npages, seed);
	SNAPSHOT_PROT(self->coh, buf, npages, COH_LOCAL);

	/* The CPU reads them where they are. */
	ASSERT_PATTERN(buf, 0, npages, seed);
	SNAPSHOT_PROT(self->coh, buf, npages, COH_LOCAL);
}

/*
 * Pages never touched become zeroed pages of device memory, even when the
 * device memory they get held other data just before.
 */
TEST_F(coherent, migrate_never_touched_pages_gives_zeroed_device_pages)
{
	const unsigned long npages = 32;
	char *buf = map_small(npages, PROT_READ | PROT_WRITE);
	char *dirty, *ptr;

	ASSERT_NE(MAP_FAILED, buf);
	/* Device pages with data in them, freed by munmap(). */
	SMALL_BUFFERS(&dirty, &ptr, npages);
	MIGRATE_OK(self->coh, dirty, ptr, npages);
	ASSERT_EQ(0, munmap(dirty, npages * page_size));

	memset(ptr, UNTOUCHED, npages * page_size);
	MIGRATE_OK(self->coh, buf, ptr, npages);
	ASSERT_BYTES(ptr, npages * page_size, 0);
	SNAPSHOT_PROT(self->coh, buf, npages, COH_LOCAL);
	ASSERT_BYTES(buf, npages * page_size, 0);
	SNAPSHOT_PROT(self->coh, buf, npages, COH_LOCAL);
}

TEST_F(coherent, snapshot_through_every_other_device_is_coherent_remote)
{
	const unsigned long npages = 16;
	char *buf, *ptr;
	unsigned int seed = SMALL_BUFFERS(&buf, &ptr, npages);
	unsigned int i;

	MIGRATE_OK(self->coh, buf, ptr, npages);
	for (i = 0; i < self->nothers; i++)
		SNAPSHOT_PROT(self->others[i], buf, npages, COH_REMOTE);
	SNAPSHOT_PROT(self->coh, buf, npages, COH_LOCAL);
	ASSERT_PATTERN(buf, 0, npages, seed);
	if (!self->nothers)
		SKIP(return, "no other device to look through");
}

/* ------------------------------------------------- coherent: CPU access */

/* After migration the PTEs are present: the CPU takes no fault at all. */
TEST_F(coherent, cpu_reads_and_writes_in_place_without_faults)
{
	const unsigned long npages = 256;
	char *buf, *warm, *ptr;
	unsigned int seed = SMALL_BUFFERS(&buf, &ptr, npages);
	long before, after;
	int bad;

	SMALL_BUFFERS(&warm, NULL, npages);
	MIGRATE_PATTERN(self->coh, buf, ptr, 0, npages, seed);

	/*
	 * The same work on system memory first, so that the code and stack
	 * it uses are faulted in already.
	 */
	ASSERT_EQ(0, cpu_read_write_read(warm, npages, seed, seed + 1));
	ASSERT_LE(0, faults_so_far());

	before = faults_so_far();
	bad = cpu_read_write_read(buf, npages, seed, seed + 1);
	after = faults_so_far();

	ASSERT_EQ(0, bad);
	ASSERT_EQ(0, after - before)
		TH_LOG("%ld page faults reading and writing %lu pages",
		       after - before, npages);
	SNAPSHOT_PROT(self->coh, buf, npages, COH_LOCAL);
	/* The data the CPU wrote is in device memory. */
	DEVICE_READS_PATTERN(self->coh, buf, npages, 0, seed + 1);
	ASSERT_PATTERN(buf, 0, npages, seed + 1);
}

/* CPU writes reach the device and device writes reach the CPU, in place. */
TEST_F(coherent, cpu_and_device_writes_meet_in_device_memory)
{
	const unsigned long npages = 16;
	char *buf, *ptr;
	unsigned int seed = SMALL_BUFFERS(&buf, &ptr, npages);
	unsigned long p;

	MIGRATE_OK(self->coh, buf, ptr, npages);

	/* One int of each page from the CPU... */
	for (p = 0; p < npages; p++)
		((int *)(buf + p * page_size))[7] = pattern(p, 7, seed + 1);
	SNAPSHOT_PROT(self->coh, buf, npages, COH_LOCAL);
	memset(ptr, UNTOUCHED, npages * page_size);
	DMIRROR_OK(self->coh, HMM_DMIRROR_READ, buf, ptr, npages, NULL);
	for (p = 0; p < npages; p++) {
		int *v = (int *)(ptr + p * page_size);

		ASSERT_EQ(pattern(p, 7, seed + 1), v[7]);
		v[7] = pattern(p, 7, seed);
	}
	ASSERT_PATTERN(ptr, 0, npages, seed);

	/* ...and whole pages from the device. */
	fill_pattern(ptr, 0, npages, seed + 2);
	DMIRROR_OK(self->coh, HMM_DMIRROR_WRITE, buf, ptr, npages, NULL);
	SNAPSHOT_PROT(self->coh, buf, npages, COH_LOCAL);
	ASSERT_PATTERN(buf, 0, npages, seed + 2);
	SNAPSHOT_PROT(self->coh, buf, npages, COH_LOCAL);
}

/* Another device reads coherent memory where it is, like system memory. */
TEST_F(coherent, read_through_other_device_leaves_pages_in_place)
{
	const unsigned long npages = 16;
	char *buf, *ptr;
	unsigned int seed = SMALL_BUFFERS(&buf, &ptr, npages);
	unsigned int i;

	MIGRATE_OK(self->coh, buf, ptr, npages);
	for (i = 0; i < self->nothers; i++) {
		DEVICE_READS_PATTERN(self->others[i], buf, npages, 0, seed);
		SNAPSHOT_PROT(self->coh, buf, npages, COH_LOCAL);
	}
	ASSERT_PATTERN(buf, 0, npages, seed);
	if (!self->nothers)
		SKIP(return, "no other device to read through");
}

/* --------------------------------------------- coherent: MIGRATE_TO_SYS */

TEST_F(coherent, migrate_to_sys_moves_every_page_back)
{
	migrate_to_sys_returns_every_page(_metadata, self->coh, 64);
}

TEST_F(coherent, migrate_to_sys_counts_pages_moved)
{
	migrate_to_sys_counts_pages_moved(_metadata, self->coh, COH_LOCAL);
}

/* MIGRATE_TO_SYS moves the pages of its own device only. */
TEST_F(coherent, migrate_to_sys_through_other_device_moves_nothing)
{
	migrate_to_sys_through_others_moves_nothing(_metadata, self->coh,
						    COH_LOCAL, self->others,
						    self->nothers);
	if (!self->nothers)
		SKIP(return, "no other device");
}

/* 2 MiB of THP to coherent memory and back. */
TEST_F(coherent, migrate_thp_to_dev_and_back)
{
	if (!migrate_thp_to_dev_and_back(_metadata, self->coh, COH_LOCAL,
					 false))
		SKIP(return, "no THP materialised: checked on small pages");
}

/* ------------------------------ coherent: pages on another device: ENOENT */

TEST_F(coherent, migrate_page_on_other_coherent_device_is_enoent)
{
	if (self->d.n[COH] < 2)
		SKIP(return, "needs two coherent devices");
	migrate_from_other_device_is_enoent(_metadata, self->d.fd[COH][1],
					    COH_LOCAL, self->coh);
}

TEST_F(coherent, migrate_coherent_page_to_private_device_is_enoent)
{
	if (!self->d.n[PRIV])
		SKIP(return, "needs a private device");
	migrate_from_other_device_is_enoent(_metadata, self->coh, COH_LOCAL,
					    self->d.fd[PRIV][0]);
}

TEST_F(coherent, migrate_private_page_to_coherent_device_is_enoent)
{
	if (!self->d.n[PRIV])
		SKIP(return, "needs a private device");
	migrate_from_other_device_is_enoent(_metadata, self->d.fd[PRIV][0],
					    PRIV_LOCAL, self->coh);
}

/* ------------------------------------------------- coherent: pinning */

/* A long-term pin cannot hold device memory: the page moves first. */
TEST_F(coherent, longterm_pin_moves_page_to_system_memory)
{
	const unsigned long npages = 4;
	char *buf, *ptr;
	unsigned int seed = SMALL_BUFFERS(&buf, &ptr, npages);
	unsigned char m[4];
	__u64 done;
	int gup_fd;

	gup_fd = open("/sys/kernel/debug/gup_test", O_RDWR | O_CLOEXEC);
	if (gup_fd < 0)
		SKIP(return, "no /sys/kernel/debug/gup_test");
	MIGRATE_OK(self->coh, buf, ptr, npages);

	ASSERT_EQ(0, run_gup_test(gup_fd, PIN_LONGTERM_BENCHMARK,
				  buf + page_size, page_size, GUP_FOLL_WRITE,
				  &done));
	ASSERT_EQ(page_size, done);
	ASSERT_EQ(0, run_gup_test(gup_fd, PIN_FAST_BENCHMARK,
				  buf + 2 * page_size, page_size,
				  GUP_FOLL_WRITE | GUP_FOLL_LONGTERM, &done));
	ASSERT_EQ(page_size, done);

	SNAPSHOT(self->coh, buf, m, npages);
	ASSERT_EQ(COH_LOCAL, m[0]);
	ASSERT_EQ(SYS_WRITE, m[1]);
	ASSERT_EQ(SYS_WRITE, m[2]);
	ASSERT_EQ(COH_LOCAL, m[3]);
	ASSERT_PATTERN(buf, 0, npages, seed);
	close(gup_fd);
}

/* Short-term references, pins included, leave the page in device memory. */
TEST_F(coherent, short_term_gup_and_pin_leave_page_in_place)
{
	static const unsigned long requests[] = {
		GUP_BASIC_TEST, GUP_FAST_BENCHMARK, PIN_BASIC_TEST,
		PIN_FAST_BENCHMARK,
	};
	const unsigned long npages = ARRAY_SIZE(requests);
	char *buf, *ptr;
	unsigned int seed = SMALL_BUFFERS(&buf, &ptr, npages);
	unsigned long p;
	__u64 done;
	int gup_fd;

	gup_fd = open("/sys/kernel/debug/gup_test", O_RDWR | O_CLOEXEC);
	if (gup_fd < 0)
		SKIP(return, "no /sys/kernel/debug/gup_test");
	MIGRATE_OK(self->coh, buf, ptr, npages);

	for (p = 0; p < npages; p++) {
		ASSERT_EQ(0, run_gup_test(gup_fd, requests[p],
					  buf + p * page_size, page_size,
					  GUP_FOLL_WRITE, &done))
			TH_LOG("gup_test request %#lx", requests[p]);
		ASSERT_EQ(page_size, done);
	}
	SNAPSHOT_PROT(self->coh, buf, npages, COH_LOCAL);
	ASSERT_PATTERN(buf, 0, npages, seed);
	close(gup_fd);
}

/* ----------------------------------------------------- coherent: fork */

/*
 * The child of the fork test: once the parent has written its pages (go),
 * it must see the data of before the fork, then its writes must stick.
 */
static int child_reads_then_writes(int go, char *buf, unsigned long npages,
				   unsigned long nwrite, unsigned int seed)
{
	char c;

	if (read(go, &c, 1) != 1)
		return 10;
	if (check_pattern(buf, 0, npages, seed) != -1)
		return 1;
	fill_pattern(buf, 0, nwrite, seed + 2);
	if (check_pattern(buf, 0, nwrite, seed + 2) != -1)
		return 2;
	if (check_pattern(buf + nwrite * page_size, nwrite, npages - nwrite,
			  seed) != -1)
		return 3;
	return 0;
}

/*
 * Pages 0-3: the child writes them. 4-7: the parent writes them while the
 * child still maps them. 8-15: nobody writes them.
 */
TEST_F(coherent, fork_child_and_parent_keep_their_own_data)
{
	const unsigned long npages = 16;
	char *buf, *ptr;
	unsigned int seed = SMALL_BUFFERS(&buf, &ptr, npages);
	unsigned char m[16];
	int go[2];
	pid_t pid;

	ASSERT_EQ(0, pipe(go));
	MIGRATE_OK(self->coh, buf, ptr, npages);

	pid = fork();
	if (pid == 0) {
		close(go[1]);
		_exit(child_reads_then_writes(go[0], buf, npages, 4, seed));
	}
	ASSERT_GT(pid, 0);
	close(go[0]);
	fill_pattern(buf + 4 * page_size, 4, 4, seed + 1);
	ASSERT_EQ(1, write(go[1], "g", 1));
	close(go[1]);
	ASSERT_EQ(0, wait_child(pid));

	/* Written by the parent during the fork: copied to system memory. */
	SNAPSHOT(self->coh, buf, m, npages);
	ASSERT_PROT(m, 4, 8, SYS_WRITE);
	/* The others are still in device memory, maybe write-protected. */
	ASSERT_PROT_RW(m, 0, 4, COH_LOCAL);
	ASSERT_PROT_RW(m, 8, npages, COH_LOCAL);

	ASSERT_PATTERN(buf, 0, 4, seed);
	ASSERT_PATTERN(buf + 4 * page_size, 4, 4, seed + 1);
	ASSERT_PATTERN(buf + 8 * page_size, 8, npages - 8, seed);
}

/* --------------------------------------------- coherent: RELEASE, close */

TEST_F(coherent, release_returns_every_page_to_system_memory)
{
	release_returns_every_page(_metadata, self->coh, 32, COH_LOCAL);
}

TEST_F(coherent, close_returns_pages_to_system_memory)
{
	if (!evict_on_close_param())
		SKIP(return, "hmmsim loaded with evict_on_close=N");
	close_returns_pages(_metadata, self->coh, self->coh_id, COH_LOCAL);
}

/* ------------------------------------- move: from one device to another */

FIXTURE(move)
{
	struct devs d;
	struct pair p;
	int third;		/* a device that is neither, or -1 */
	int third_kind;
};

FIXTURE_VARIANT(move)
{
	int src_kind;
	unsigned int src_idx;
	int dst_kind;
	unsigned int dst_idx;
};

/* With coherent=A,B: devices 0 and 1 are private, 2 and 3 coherent. */
FIXTURE_VARIANT_ADD(move, private0_to_private1)
{
	.src_kind = PRIV, .src_idx = 0, .dst_kind = PRIV, .dst_idx = 1,
};

FIXTURE_VARIANT_ADD(move, private1_to_private0)
{
	.src_kind = PRIV, .src_idx = 1, .dst_kind = PRIV, .dst_idx = 0,
};

FIXTURE_VARIANT_ADD(move, private0_to_coherent0)
{
	.src_kind = PRIV, .src_idx = 0, .dst_kind = COH, .dst_idx = 0,
};

FIXTURE_VARIANT_ADD(move, coherent0_to_private0)
{
	.src_kind = COH, .src_idx = 0, .dst_kind = PRIV, .dst_idx = 0,
};

FIXTURE_VARIANT_ADD(move, coherent0_to_coherent1)
{
	.src_kind = COH, .src_idx = 0, .dst_kind = COH, .dst_idx = 1,
};

FIXTURE_VARIANT_ADD(move, coherent1_to_coherent0)
{
	.src_kind = COH, .src_idx = 1, .dst_kind = COH, .dst_idx = 0,
};

FIXTURE_SETUP(move)
{
	unsigned int k, i;

	OPEN_DEVS(&self->d);
	if (self->d.n[variant->src_kind] <= variant->src_idx ||
	    self->d.n[variant->dst_kind] <= variant->dst_idx)
		SETUP_SKIP("needs %s device %u and %s device %u",
			   kind_name[variant->src_kind], variant->src_idx,
			   kind_name[variant->dst_kind], variant->dst_idx);
	self->p.src_kind = variant->src_kind;
	self->p.dst_kind = variant->dst_kind;
	self->p.src = self->d.fd[variant->src_kind][variant->src_idx];
	self->p.dst = self->d.fd[variant->dst_kind][variant->dst_idx];
	self->p.dst_id = self->d.id[variant->dst_kind][variant->dst_idx];
	self->third = -1;
	self->third_kind = PRIV;
	for (k = 0; k < NR_KINDS; k++) {
		for (i = 0; i < self->d.n[k] && self->third < 0; i++) {
			self->third = self->d.fd[k][i];
			self->third_kind = k;
			if (self->third == self->p.src ||
			    self->third == self->p.dst)
				self->third = -1;
		}
	}
}

FIXTURE_TEARDOWN(move)
{
	close_devs(&self->d);
}

/*
 * The pages of buf are on the destination: local to it, not to the source,
 * and the destination reads the pattern.
 */
#define ASSERT_ON_DST(pair, buf, npages, seed) \
	assert_on_dst(_metadata, __LINE__, pair, buf, npages, seed)

static void assert_on_dst(struct __test_metadata *_metadata, int line,
			  const struct pair *pair, char *buf,
			  unsigned long npages, unsigned int seed)
{
	unsigned char local = local_code(pair->dst_kind);

	hmmsim_snapshot_prot(_metadata, line, pair->dst, buf, npages, local);
	hmmsim_snapshot_prot(_metadata, line, pair->src, buf, npages,
			     remote_code(pair->dst_kind));
	device_reads_pattern(_metadata, line, pair->dst, buf, npages, 0, seed);
	/* Reading its own memory did not move anything. */
	hmmsim_snapshot_prot(_metadata, line, pair->dst, buf, npages, local);
}

TEST_F(move, moves_pages_put_there_by_migrate_to_dev)
{
	const unsigned long npages = 32;
	char *buf, *ptr;
	unsigned int seed = SMALL_BUFFERS(&buf, &ptr, npages);

	MIGRATE_OK(self->p.src, buf, ptr, npages);
	SNAPSHOT_PROT(self->p.src, buf, npages, local_code(self->p.src_kind));

	HMIGRATE_OK(self->p.dst, 0, buf, npages, self->p.src, npages);
	ASSERT_ON_DST(&self->p, buf, npages, seed);

	/* Nothing left on the source: a second move moves nothing. */
	HMIGRATE_OK(self->p.dst, 0, buf, npages, self->p.src, 0);
	SNAPSHOT_PROT(self->p.dst, buf, npages, local_code(self->p.dst_kind));
	ASSERT_PATTERN(buf, 0, npages, seed);
}

TEST_F(move, moves_pages_put_there_by_migrate_from_system)
{
	const unsigned long npages = 32;
	char *buf;
	unsigned int seed = SMALL_BUFFERS(&buf, NULL, npages);

	HMIGRATE_OK(self->p.src, 0, buf, npages, HMMSIM_MIGRATE_FROM_SYSTEM,
		    npages);
	SNAPSHOT_PROT(self->p.src, buf, npages, local_code(self->p.src_kind));

	HMIGRATE_OK(self->p.dst, 0, buf, npages, self->p.src, npages);
	ASSERT_ON_DST(&self->p, buf, npages, seed);

	/* And from the destination back to system memory. */
	HMIGRATE_OK(self->p.dst, HMMSIM_MIGRATE_TO_SYSTEM, buf, npages,
		    HMMSIM_MIGRATE_FROM_SYSTEM, npages);
	SNAPSHOT_PROT(self->p.dst, buf, npages, SYS_WRITE);
	SNAPSHOT_PROT(self->p.src, buf, npages, SYS_WRITE);
	ASSERT_PATTERN(buf, 0, npages, seed);
}

/* Even pages on the source, odd ones in system memory. */
TEST_F(move, moves_only_the_source_pages_of_a_mixed_range)
{
	const unsigned long npages = 32;
	char *buf, *ptr;
	unsigned int seed = SMALL_BUFFERS(&buf, &ptr, npages);
	unsigned char m[32];
	unsigned long p;

	for (p = 0; p < npages; p += 2)
		MIGRATE_OK(self->p.src, buf + p * page_size, ptr, 1);

	HMIGRATE_OK(self->p.dst, 0, buf, npages, self->p.src, npages / 2);
	SNAPSHOT(self->p.dst, buf, m, npages);
	for (p = 0; p < npages; p++)
		ASSERT_EQ(p % 2 ? SYS_WRITE : local_code(self->p.dst_kind), m[p])
			TH_LOG("page %lu through the destination", p);
	SNAPSHOT(self->p.src, buf, m, npages);
	for (p = 0; p < npages; p++)
		ASSERT_EQ(p % 2 ? SYS_WRITE : remote_code(self->p.dst_kind),
			  m[p])
			TH_LOG("page %lu through the source", p);
	for (p = 0; p < npages; p += 2)
		DEVICE_READS_PATTERN(self->p.dst, buf + p * page_size, 1, p,
				     seed);
	ASSERT_PATTERN(buf, 0, npages, seed);
}

/*
 * Pages 0-3 on the source, 4-7 on a third device, 8-11 on the destination
 * already, 12-15 in system memory: only 0-3 move.
 */
TEST_F(move, leaves_pages_that_are_not_on_the_source)
{
	const unsigned long npages = 16;
	char *buf, *ptr;
	unsigned int seed = SMALL_BUFFERS(&buf, &ptr, npages);
	unsigned char m[16];

	if (self->third < 0)
		SKIP(return, "needs a third device");
	MIGRATE_OK(self->p.src, buf, ptr, 4);
	MIGRATE_OK(self->third, buf + 4 * page_size, ptr, 4);
	MIGRATE_OK(self->p.dst, buf + 8 * page_size, ptr, 4);

	HMIGRATE_OK(self->p.dst, 0, buf, npages, self->p.src, 4);
	SNAPSHOT(self->p.dst, buf, m, npages);
	ASSERT_PROT(m, 0, 4, local_code(self->p.dst_kind));
	ASSERT_PROT(m, 4, 8, remote_code(self->third_kind));
	ASSERT_PROT(m, 8, 12, local_code(self->p.dst_kind));
	ASSERT_PROT(m, 12, 16, SYS_WRITE);
	SNAPSHOT(self->third, buf, m, npages);
	ASSERT_PROT(m, 4, 8, local_code(self->third_kind));
	DEVICE_READS_PATTERN(self->p.dst, buf, 4, 0, seed);
	ASSERT_PATTERN(buf, 0, npages, seed);
}

/* ---------------------------- dev: between system memory and one device */

FIXTURE(dev)
{
	struct devs d;
	int fd, kind;
	int other, other_kind;	/* the first device of the other kind, or -1 */
};

FIXTURE_VARIANT(dev)
{
	int kind;
};

FIXTURE_VARIANT_ADD(dev, private)
{
	.kind = PRIV,
};

FIXTURE_VARIANT_ADD(dev, coherent)
{
	.kind = COH,
};

FIXTURE_SETUP(dev)
{
	OPEN_DEVS(&self->d);
	if (!self->d.n[variant->kind])
		SETUP_SKIP("no %s device", kind_name[variant->kind]);
	self->kind = variant->kind;
	self->fd = self->d.fd[variant->kind][0];
	self->other_kind = variant->kind == COH ? PRIV : COH;
	self->other = self->d.fd[self->other_kind][0];
}

FIXTURE_TEARDOWN(dev)
{
	close_devs(&self->d);
}

TEST_F(dev, from_system_moves_every_page)
{
	const unsigned long npages = 64;
	char *buf;
	unsigned int seed = SMALL_BUFFERS(&buf, NULL, npages);

	HMIGRATE_OK(self->fd, 0, buf, npages, HMMSIM_MIGRATE_FROM_SYSTEM,
		    npages);
	SNAPSHOT_PROT(self->fd, buf, npages, local_code(self->kind));
	DEVICE_READS_PATTERN(self->fd, buf, npages, 0, seed);

	/* Already on this device: nothing to move. */
	HMIGRATE_OK(self->fd, 0, buf, npages, HMMSIM_MIGRATE_FROM_SYSTEM, 0);
	SNAPSHOT_PROT(self->fd, buf, npages, local_code(self->kind));
	ASSERT_PATTERN(buf, 0, npages, seed);
}

TEST_F(dev, from_system_counts_pages_moved)
{
	const unsigned long npages = 32;
	char *buf;
	unsigned int seed = SMALL_BUFFERS(&buf, NULL, npages);
	unsigned char m[32];

	HMIGRATE_OK(self->fd, 0, buf + 8 * page_size, 16,
		    HMMSIM_MIGRATE_FROM_SYSTEM, 16);
	SNAPSHOT(self->fd, buf, m, npages);
	ASSERT_PROT(m, 0, 8, SYS_WRITE);
	ASSERT_PROT(m, 8, 24, local_code(self->kind));
	ASSERT_PROT(m, 24, npages, SYS_WRITE);

	HMIGRATE_OK(self->fd, 0, buf, npages, HMMSIM_MIGRATE_FROM_SYSTEM, 16);
	SNAPSHOT_PROT(self->fd, buf, npages, local_code(self->kind));
	ASSERT_PATTERN(buf, 0, npages, seed);
}

/* Pages 0-3 on the other device, 4-7 on this one, 8-15 in system memory. */
TEST_F(dev, from_system_leaves_pages_of_other_devices)
{
	const unsigned long npages = 16;
	char *buf, *ptr;
	unsigned int seed = SMALL_BUFFERS(&buf, &ptr, npages);
	unsigned char m[16];

	if (self->other < 0)
		SKIP(return, "no %s device", kind_name[self->other_kind]);
	MIGRATE_OK(self->other, buf, ptr, 4);
	MIGRATE_OK(self->fd, buf + 4 * page_size, ptr, 4);

	HMIGRATE_OK(self->fd, 0, buf, npages, HMMSIM_MIGRATE_FROM_SYSTEM, 8);
	SNAPSHOT(self->fd, buf, m, npages);
	ASSERT_PROT(m, 0, 4, remote_code(self->other_kind));
	ASSERT_PROT(m, 4, npages, local_code(self->kind));
	SNAPSHOT(self->other, buf, m, npages);
	ASSERT_PROT(m, 0, 4, local_code(self->other_kind));
	ASSERT_PROT(m, 4, npages, remote_code(self->kind));
	ASSERT_PATTERN(buf, 0, npages, seed);
}

/* Pages 0-7 on this device, 8-11 on the other device, 12-15 in system RAM. */
TEST_F(dev, to_system_moves_only_this_devices_pages)
{
	const unsigned long npages = 16;
	char *buf, *ptr;
	unsigned int seed = SMALL_BUFFERS(&buf, &ptr, npages);
	unsigned char m[16];

	if (self->other < 0)
		SKIP(return, "no %s device", kind_name[self->other_kind]);
	MIGRATE_OK(self->fd, buf, ptr, 8);
	MIGRATE_OK(self->other, buf + 8 * page_size, ptr, 4);

	HMIGRATE_OK(self->fd, HMMSIM_MIGRATE_TO_SYSTEM, buf, npages,
		    HMMSIM_MIGRATE_FROM_SYSTEM, 8);
	SNAPSHOT(self->fd, buf, m, npages);
	ASSERT_PROT(m, 0, 8, SYS_WRITE);
	ASSERT_PROT(m, 8, 12, remote_code(self->other_kind));
	ASSERT_PROT(m, 12, npages, SYS_WRITE);
	SNAPSHOT(self->other, buf, m, npages);
	ASSERT_PROT(m, 8, 12, local_code(self->other_kind));

	HMIGRATE_OK(self->fd, HMMSIM_MIGRATE_TO_SYSTEM, buf, npages,
		    HMMSIM_MIGRATE_FROM_SYSTEM, 0);
	ASSERT_PATTERN(buf, 0, npages, seed);
}

TEST_F(dev, to_system_counts_pages_moved)
{
	const unsigned long npages = 16;
	char *buf;
	unsigned int seed = SMALL_BUFFERS(&buf, NULL, npages);
	unsigned char m[16];

	HMIGRATE_OK(self->fd, 0, buf, npages, HMMSIM_MIGRATE_FROM_SYSTEM,
		    npages);
	HMIGRATE_OK(self->fd, HMMSIM_MIGRATE_TO_SYSTEM, buf + 4 * page_size,
		    8, HMMSIM_MIGRATE_FROM_SYSTEM, 8);
	SNAPSHOT(self->fd, buf, m, npages);
	ASSERT_PROT(m, 0, 4, local_code(self->kind));
	ASSERT_PROT(m, 4, 12, SYS_WRITE);
	ASSERT_PROT(m, 12, npages, local_code(self->kind));

	HMIGRATE_OK(self->fd, HMMSIM_MIGRATE_TO_SYSTEM, buf, npages,
		    HMMSIM_MIGRATE_FROM_SYSTEM, 8);
	SNAPSHOT_PROT(self->fd, buf, npages, SYS_WRITE);
	ASSERT_PATTERN(buf, 0, npages, seed);
}

/*
 * HMMSIM_IOCTL_MIGRATE of 8 pages to the device of @fd (pages coded @local
 * there) and back, for each of the @n @sizes: of the struct, which starts
 * MIGRATE_SIZE_MAX zero bytes, or encoded in the request if @in_request.
 * Both ways move every page and write nothing past the struct.
 */
static void there_and_back(struct __test_metadata *_metadata, int fd,
			   unsigned char local, const __u32 *sizes, size_t n,
			   bool in_request)
{
	const __u32 flags[] = { 0, HMMSIM_MIGRATE_TO_SYSTEM };
	const unsigned char codes[] = { local, SYS_WRITE };
	const unsigned long npages = 8;
	unsigned char *raw = calloc(1, MIGRATE_SIZE_MAX);
	struct hmmsim_migrate *a = (struct hmmsim_migrate *)raw;
	unsigned long request = HMMSIM_IOCTL_MIGRATE;
	char *buf;
	unsigned int seed = SMALL_BUFFERS(&buf, NULL, npages);
	size_t i, way;

	ASSERT_NE(NULL, raw);
	for (i = 0; i < n; i++) {
		if (in_request)
			request = _IOC(_IOC_READ | _IOC_WRITE,
				       HMMSIM_IOCTL_TYPE,
				       _IOC_NR(HMMSIM_IOCTL_MIGRATE), sizes[i]);
		for (way = 0; way < 2; way++) {
			migrate_args(a, flags[way], (unsigned long)buf, npages,
				     HMMSIM_MIGRATE_FROM_SYSTEM);
			if (!in_request)
				a->size = sizes[i];
			ASSERT_EQ(0, hmigrate_raw(fd, request, a))
				TH_LOG("request %#lx, size %u", request,
				       a->size);
			ASSERT_EQ(npages, a->cpages);
			ASSERT_BYTES(raw + sizeof(*a),
				     MIGRATE_SIZE_MAX - sizeof(*a), 0);
			SNAPSHOT_PROT(fd, buf, npages, codes[way]);
		}
	}
	ASSERT_PATTERN(buf, 0, npages, seed);
}

/* A caller built with a larger struct: its zero tail is accepted. */
TEST_F(dev, larger_struct_with_zero_tail_is_accepted)
{
	static const __u32 sizes[] = {
		HMMSIM_MIGRATE_SIZE_VER0 + 8, HMMSIM_MIGRATE_SIZE_VER0 + 1,
		1024, MIGRATE_SIZE_MAX,
	};

	there_and_back(_metadata, self->fd, local_code(self->kind), sizes,
		       ARRAY_SIZE(sizes), false);
}

/* Extension commands are matched on type and number, not encoded size. */
TEST_F(dev, other_encoded_size_in_request_still_migrates)
{
	static const __u32 sizes[] = {
		0, 8, HMMSIM_MIGRATE_SIZE_VER0 + 8, MIGRATE_SIZE_MAX,
	};

	there_and_back(_metadata, self->fd, local_code(self->kind), sizes,
		       ARRAY_SIZE(sizes), true);
}

/* ------------------------------------------------ migrate: bad input */

/*
 * dst: the device the command is issued on (the first coherent device if
 * there is one), src: another device. buf: a bystander range of 4 pages,
 * pages 0 and 1 in system memory, page 2 on src, page 3 on dst. Whatever a
 * bad command wrongly did with [buf, +4 pages), in any of the three forms
 * (from system, from src, to system), would show.
 */
struct bystander {
	struct pair p;
	char *buf;
	unsigned int seed;
};

#define BYSTANDER_PAGES	4

FIXTURE(migrate)
{
	struct devs d;
	struct bystander b;
};

FIXTURE_SETUP(migrate)
{
	struct bystander *b = &self->b;
	struct pair *p = &b->p;
	char *ptr;

	OPEN_DEVS(&self->d);
	if (self->d.n[COH] && self->d.n[PRIV]) {
		p->dst_kind = COH;
		p->src_kind = PRIV;
		p->src = self->d.fd[PRIV][0];
	} else {
		p->dst_kind = self->d.n[COH] ? COH : PRIV;
		p->src_kind = p->dst_kind;
		p->src = self->d.fd[p->src_kind][1];
	}
	p->dst = self->d.fd[p->dst_kind][0];
	p->dst_id = self->d.id[p->dst_kind][0];
	if (p->src < 0)
		SETUP_SKIP("needs two devices");

	b->seed = test_seed(_metadata->name);
	/*
	 * A 2 MiB window of its own: a CPU fault on a device page brings
	 * back that device's pages in the whole 2 MiB window around it, and
	 * the tests' own buffers must not share a window with the bystander.
	 */
	b->buf = map_aligned(SZ_2M, MADV_HUGEPAGE);
	ASSERT_NE(MAP_FAILED, b->buf);
	ASSERT_EQ(0, madvise(b->buf, SZ_2M, MADV_NOHUGEPAGE));
	ptr = malloc(page_size);
	ASSERT_NE(NULL, ptr);
	fill_pattern(b->buf, 0, BYSTANDER_PAGES, b->seed);
	MIGRATE_OK(p->src, b->buf + 2 * page_size, ptr, 1);
	MIGRATE_OK(p->dst, b->buf + 3 * page_size, ptr, 1);
	free(ptr);
}

FIXTURE_TEARDOWN(migrate)
{
	close_devs(&self->d);
}

/* The bystander as each device sees it. */
static void bystander_codes(struct bystander *b, unsigned char *dst,
			    unsigned char *src)
{
	dst[0] = SYS_WRITE;
	dst[1] = SYS_WRITE;
	dst[2] = remote_code(b->p.src_kind);
	dst[3] = local_code(b->p.dst_kind);
	src[0] = SYS_WRITE;
	src[1] = SYS_WRITE;
	src[2] = local_code(b->p.src_kind);
	src[3] = remote_code(b->p.dst_kind);
}

/*
 * Nothing moved and nothing changed in the bystander. Then the valid
 * commands the bad ones were made from do move it, which shows that only
 * the field each test broke made them fail. After a fork(), pages may have
 * become read-only: forked says so.
 */
#define ASSERT_BYSTANDER(b, forked) \
	assert_bystander(_metadata, __LINE__, b, forked)

static void assert_bystander(struct __test_metadata *_metadata, int line,
			     struct bystander *b, bool forked)
{
	unsigned char want_dst[BYSTANDER_PAGES], want_src[BYSTANDER_PAGES];
	unsigned char m[BYSTANDER_PAGES], code;
	unsigned long p;

	bystander_codes(b, want_dst, want_src);
	hmmsim_snapshot(_metadata, line, b->p.dst, b->buf, m, BYSTANDER_PAGES);
	for (p = 0; p < BYSTANDER_PAGES; p++)
		hmmsim_assert_prot(_metadata, line, m, p, p + 1, want_dst[p],
				   forked ? read_only_code(want_dst[p]) : -1);
	hmmsim_snapshot(_metadata, line, b->p.src, b->buf, m, BYSTANDER_PAGES);
	for (p = 0; p < BYSTANDER_PAGES; p++)
		hmmsim_assert_prot(_metadata, line, m, p, p + 1, want_src[p],
				   forked ? read_only_code(want_src[p]) : -1);

	hmmsim_hmigrate_ok(_metadata, line, b->p.dst, 0, b->buf,
			   BYSTANDER_PAGES, b->p.src, 1);
	hmmsim_hmigrate_ok(_metadata, line, b->p.dst, 0, b->buf,
			   BYSTANDER_PAGES, HMMSIM_MIGRATE_FROM_SYSTEM, 2);
	hmmsim_snapshot(_metadata, line, b->p.dst, b->buf, m, BYSTANDER_PAGES);
	code = local_code(b->p.dst_kind);
	hmmsim_assert_prot(_metadata, line, m, 0, BYSTANDER_PAGES, code,
			   forked ? read_only_code(code) : -1);
	hmmsim_hmigrate_ok(_metadata, line, b->p.dst, HMMSIM_MIGRATE_TO_SYSTEM,
			   b->buf, BYSTANDER_PAGES, HMMSIM_MIGRATE_FROM_SYSTEM,
			   BYSTANDER_PAGES);
	hmmsim_assert_pattern(_metadata, line, b->buf, 0, BYSTANDER_PAGES,
			      b->seed);
}

/* The three forms of the command on [addr, +npages) all fail with err. */
#define ASSERT_ALL_FORMS_FAIL(b, addr, npages, err) \
	assert_all_forms_fail(_metadata, __LINE__, b, addr, npages, err)

static void assert_all_forms_fail(struct __test_metadata *_metadata, int line,
				  struct bystander *b, __u64 addr,
				  __u64 npages, int err)
{
	static const char *const form[] = {
		"from system", "from another device", "to system",
	};
	__u32 flags[] = { 0, 0, HMMSIM_MIGRATE_TO_SYSTEM };
	int src[] = {
		HMMSIM_MIGRATE_FROM_SYSTEM, b->p.src,
		HMMSIM_MIGRATE_FROM_SYSTEM,
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(form); i++) {
		ASSERT_EQ(err, hmigrate_addr(b->p.dst, flags[i], addr, npages,
					     src[i], NULL)) {
			TH_LOG("line %d: %s, addr %#llx npages %#llx", line,
			       form[i], (unsigned long long)addr,
			       (unsigned long long)npages);
		}
	}
}

/* One of the three valid forms on the bystander, for a test to break. */
static void bystander_args(struct bystander *b, int form,
			   struct hmmsim_migrate *a)
{
	if (form == 2)
		migrate_args(a, HMMSIM_MIGRATE_TO_SYSTEM,
			     (unsigned long)b->buf, BYSTANDER_PAGES,
			     HMMSIM_MIGRATE_FROM_SYSTEM);
	else
		migrate_args(a, 0, (unsigned long)b->buf, BYSTANDER_PAGES,
			     form ? b->p.src : HMMSIM_MIGRATE_FROM_SYSTEM);
}

#define NR_FORMS 3

/*
 * Sets the @width-byte field at @offset of @a to element @i of @values, an
 * array of such fields, or ORs it in: returns the element.
 */
static __u64 set_field(struct hmmsim_migrate *a, size_t offset, size_t width,
		       const void *values, size_t i, bool or)
{
	void *f = (char *)a + offset;
	__u64 v;

	if (width == sizeof(__u32)) {
		v = ((const __u32 *)values)[i];
		*(__u32 *)f = (or ? *(__u32 *)f : 0) | v;
	} else {
		v = ((const __u64 *)values)[i];
		*(__u64 *)f = (or ? *(__u64 *)f : 0) | v;
	}
	return v;
}

/*
 * Every form on the bystander, with field @field set to each of the @n
 * @values (of its type), or with each ORed in, fails with @err. The struct starts a
 * zeroed 128 KiB: a size larger than it finds zeroes.
 */
#define ASSERT_FIELD_REFUSED(b, field, values, n, or, err) \
	assert_field_refused(_metadata, b, #field, \
			     offsetof(struct hmmsim_migrate, field), values, \
			     n, sizeof(values[0]), or, err)

static void assert_field_refused(struct __test_metadata *_metadata,
				 struct bystander *b, const char *name,
				 size_t offset, const void *values, size_t n,
				 size_t width, bool or, int err)
{
	const size_t len = 1UL << 17;
	void *raw = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	size_t i;
	int form;
	__u64 v;

	ASSERT_NE(MAP_FAILED, raw);
	for (form = 0; form < NR_FORMS; form++) {
		for (i = 0; i < n; i++) {
			bystander_args(b, form, raw);
			v = set_field(raw, offset, width, values, i, or);
			ASSERT_EQ(err, hmigrate_raw(b->p.dst,
						    HMMSIM_IOCTL_MIGRATE, raw))
				TH_LOG("form %d, %s (byte %zu) %#llx", form,
				       name, offset, (unsigned long long)v);
		}
	}
	munmap(raw, len);
}

TEST_F(migrate, size_below_version0_is_einval)
{
	static const __u32 sizes[] = {
		0, 1, 4, 8, 16, 40, 64, HMMSIM_MIGRATE_SIZE_VER0 - 1,
	};

	ASSERT_FIELD_REFUSED(&self->b, size, sizes, ARRAY_SIZE(sizes), false,
			     -EINVAL);
	ASSERT_BYSTANDER(&self->b, false);
}

/* Fields the driver does not know about must be zero. */
TEST_F(migrate, larger_struct_with_nonzero_tail_is_e2big)
{
	struct bystander *b = &self->b;
	static const struct {
		__u32 size;
		__u32 offset;	/* of the nonzero byte */
		unsigned char value;
	} cases[] = {
		{ HMMSIM_MIGRATE_SIZE_VER0 + 1, HMMSIM_MIGRATE_SIZE_VER0, 1 },
		{ HMMSIM_MIGRATE_SIZE_VER0 + 8, HMMSIM_MIGRATE_SIZE_VER0, 0x80 },
		{ HMMSIM_MIGRATE_SIZE_VER0 + 8, HMMSIM_MIGRATE_SIZE_VER0 + 7, 1 },
		{ MIGRATE_SIZE_MAX, 100, 0xff },
		{ MIGRATE_SIZE_MAX, MIGRATE_SIZE_MAX - 1, 1 },
	};
	unsigned char *raw = calloc(1, MIGRATE_SIZE_MAX);
	struct hmmsim_migrate *a = (struct hmmsim_migrate *)raw;
	size_t i;
	int form;

	ASSERT_NE(NULL, raw);
	for (form = 0; form < NR_FORMS; form++) {
		for (i = 0; i < ARRAY_SIZE(cases); i++) {
			memset(raw, 0, MIGRATE_SIZE_MAX);
			bystander_args(b, form, a);
			a->size = cases[i].size;
			raw[cases[i].offset] = cases[i].value;
			ASSERT_EQ(-E2BIG, hmigrate_raw(b->p.dst,
						       HMMSIM_IOCTL_MIGRATE,
						       a))
				TH_LOG("form %d, size %u, byte %u is %#x",
				       form, cases[i].size, cases[i].offset,
				       cases[i].value);
		}
	}
	free(raw);
	ASSERT_BYSTANDER(b, false);
}

/* Beyond MIGRATE_SIZE_MAX, even with a zero tail. */
TEST_F(migrate, size_above_4096_is_e2big)
{
	static const __u32 sizes[] = {
		MIGRATE_SIZE_MAX + 1, 2 * MIGRATE_SIZE_MAX, 1U << 16,
		1U << 31, UINT_MAX,
	};

	ASSERT_FIELD_REFUSED(&self->b, size, sizes, ARRAY_SIZE(sizes), false,
			     -E2BIG);
	ASSERT_BYSTANDER(&self->b, false);
}

TEST_F(migrate, unknown_flags_are_einval)
{
	static const __u32 bad[] = {
		1U << 1, 1U << 2, 1U << 16, 1U << 31,
		HMMSIM_MIGRATE_TO_SYSTEM | (1U << 1), UINT_MAX,
	};

	ASSERT_FIELD_REFUSED(&self->b, flags, bad, ARRAY_SIZE(bad), true,
			     -EINVAL);
	ASSERT_BYSTANDER(&self->b, false);
}

TEST_F(migrate, nonzero_pad_is_einval)
{
	static const __u32 bad[] = { 1, 1U << 8, 1U << 31, UINT_MAX };

	ASSERT_FIELD_REFUSED(&self->b, pad, bad, ARRAY_SIZE(bad), false,
			     -EINVAL);
	ASSERT_BYSTANDER(&self->b, false);
}

TEST_F(migrate, nonzero_reserved_is_einval)
{
	static const __u64 bad[] = { 1, 1ULL << 32, 1ULL << 63, ~0ULL };
	struct hmmsim_migrate a;
	size_t r;

	for (r = 0; r < ARRAY_SIZE(a.reserved); r++)
		assert_field_refused(_metadata, &self->b, "reserved[]",
				     offsetof(struct hmmsim_migrate, reserved) +
				     r * sizeof(a.reserved[0]), bad,
				     ARRAY_SIZE(bad), sizeof(bad[0]), false,
				     -EINVAL);
	ASSERT_BYSTANDER(&self->b, false);
}

/* cpages is an output: what goes in there changes nothing. */
TEST_F(migrate, cpages_input_is_ignored)
{
	struct bystander *b = &self->b;
	static const __u64 junk[] = { 0, 1, 4, ~0ULL };
	struct hmmsim_migrate a;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(junk); i++) {
		bystander_args(b, 0, &a);
		a.cpages = junk[i];
		ASSERT_EQ(0, hmigrate_raw(b->p.dst, HMMSIM_IOCTL_MIGRATE,
					  &a));
		ASSERT_EQ(i ? 0 : 2, a.cpages);
	}
	HMIGRATE_OK(b->p.dst, HMMSIM_MIGRATE_TO_SYSTEM, b->buf,
		    BYSTANDER_PAGES, HMMSIM_MIGRATE_FROM_SYSTEM, 3);
	ASSERT_PATTERN(b->buf, 0, BYSTANDER_PAGES, b->seed);
}

TEST_F(migrate, zero_npages_is_einval)
{
	struct bystander *b = &self->b;
	unsigned long buf = (unsigned long)b->buf;

	ASSERT_ALL_FORMS_FAIL(b, buf, 0, -EINVAL);
	ASSERT_ALL_FORMS_FAIL(b, buf + 2 * page_size, 0, -EINVAL);
	ASSERT_ALL_FORMS_FAIL(b, buf + 3 * page_size, 0, -EINVAL);
	ASSERT_ALL_FORMS_FAIL(b, 0, 0, -EINVAL);
	ASSERT_BYSTANDER(b, false);
}

TEST_F(migrate, unaligned_addr_is_einval)
{
	struct bystander *b = &self->b;
	unsigned long offsets[] = { 1, 8, page_size / 2, page_size - 1 };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(offsets); i++) {
		unsigned long addr = (unsigned long)b->buf + offsets[i];

		ASSERT_ALL_FORMS_FAIL(b, addr, 1, -EINVAL);
		ASSERT_ALL_FORMS_FAIL(b, addr, BYSTANDER_PAGES - 1, -EINVAL);
		/* Ending on the pages on the devices. */
		ASSERT_ALL_FORMS_FAIL(b, addr + page_size, 2, -EINVAL);
	}
	ASSERT_BYSTANDER(b, false);
}

/* npages * page_size or addr + that wraps around. */
TEST_F(migrate, range_overflow_is_einval)
{
	struct bystander *b = &self->b;
	unsigned long addr = (unsigned long)b->buf;
	__u64 npages[] = {
		1ULL << 52,				/* size 0 with 4K pages */
		1ULL << (64 - page_shift),		/* size 0 */
		(1ULL << (64 - page_shift)) - 1,	/* end = addr - page */
		~0ULL,
		((0ULL - addr) >> page_shift) + 1,	/* end wraps to a page */
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(npages); i++)
		ASSERT_ALL_FORMS_FAIL(b, addr, npages[i], -EINVAL);
	ASSERT_ALL_FORMS_FAIL(b, 0xfffffffffffff000ULL, 2, -EINVAL);
	ASSERT_BYSTANDER(b, false);
}

/* Ranges that start in user space and end past its last page. */
TEST_F(migrate, range_past_user_space_is_einval)
{
	struct bystander *b = &self->b;
	unsigned long end = user_va_end();
	unsigned long buf = (unsigned long)b->buf;

	ASSERT_ALL_FORMS_FAIL(b, end - page_size, 1, -EINVAL);
	ASSERT_ALL_FORMS_FAIL(b, end - 2 * page_size, 2, -EINVAL);
	ASSERT_ALL_FORMS_FAIL(b, buf, (end - buf) >> page_shift, -EINVAL);
	ASSERT_ALL_FORMS_FAIL(b, buf, (end - buf) / page_size + 1, -EINVAL);
	ASSERT_ALL_FORMS_FAIL(b, buf, 1ULL << (57 - page_shift), -EINVAL);
	ASSERT_BYSTANDER(b, false);
}

TEST_F(migrate, kernel_and_noncanonical_addresses_are_einval)
{
	struct bystander *b = &self->b;
	static const __u64 addrs[] = {
		0xffff888000000000ULL,	/* the direct map */
		0xffffffff81000000ULL,	/* kernel text */
		0xfffffffffffff000ULL,	/* the last page */
		0x8000000000000000ULL,	/* non-canonical */
	};
	unsigned long end = user_va_end();
	size_t i;

	for (i = 0; i < ARRAY_SIZE(addrs); i++)
		ASSERT_ALL_FORMS_FAIL(b, addrs[i], 1, -EINVAL);
	/* The first address past user space, in either paging mode. */
	ASSERT_ALL_FORMS_FAIL(b, end, 1, -EINVAL);
	ASSERT_BYSTANDER(b, false);
}

/*
 * An 8-page range: 0, 4, 7 in system memory, 1 and 5 on src, 2 and 6 on dst,
 * and page 3 unmapped (hole) or PROT_NONE. Every range that includes page 3
 * fails, in every form, and moves nothing.
 */
static void range_with_gap_is_einval(struct __test_metadata *_metadata,
				     struct bystander *b, bool hole)
{
	unsigned int seed = test_seed(_metadata->name) + 1;
	const unsigned long npages = 8;
	char *buf = map_small(npages, PROT_READ | PROT_WRITE);
	char *ptr = malloc(npages * page_size);
	unsigned long base = (unsigned long)buf;
	unsigned char m[8];
	unsigned long p;

	ASSERT_BUFFERS(buf, ptr, npages, seed);
	MIGRATE_OK(b->p.src, buf + 1 * page_size, ptr, 1);
	MIGRATE_OK(b->p.dst, buf + 2 * page_size, ptr, 1);
	MIGRATE_OK(b->p.src, buf + 5 * page_size, ptr, 1);
	MIGRATE_OK(b->p.dst, buf + 6 * page_size, ptr, 1);
	if (hole) {
		ASSERT_EQ(0, munmap(buf + 3 * page_size, page_size));
	} else {
		ASSERT_EQ(0, mprotect(buf + 3 * page_size, page_size,
				      PROT_NONE));
	}

	ASSERT_ALL_FORMS_FAIL(b, base, npages, -EINVAL);
	ASSERT_ALL_FORMS_FAIL(b, base + 3 * page_size, 5, -EINVAL);
	ASSERT_ALL_FORMS_FAIL(b, base, 4, -EINVAL);
	ASSERT_ALL_FORMS_FAIL(b, base + 3 * page_size, 1, -EINVAL);
	ASSERT_ALL_FORMS_FAIL(b, base + 2 * page_size, 2, -EINVAL);

	SNAPSHOT(b->p.dst, buf, m, npages);
	for (p = 0; p < npages; p++) {
		unsigned char want = SYS_WRITE;

		if (p == 1 || p == 5)
			want = remote_code(b->p.src_kind);
		else if (p == 2 || p == 6)
			want = local_code(b->p.dst_kind);
		else if (p == 3)
			want = HMM_DMIRROR_PROT_ERROR;
		ASSERT_EQ(want, m[p])
			TH_LOG("page %lu through the destination", p);
	}
	SNAPSHOT(b->p.src, buf, m, npages);
	ASSERT_EQ(local_code(b->p.src_kind), m[1]);
	ASSERT_EQ(local_code(b->p.src_kind), m[5]);

	ASSERT_PATTERN(buf, 0, 3, seed);
	ASSERT_PATTERN(buf + 4 * page_size, 4, 4, seed);
	if (!hole) {
		ASSERT_EQ(0, mprotect(buf + 3 * page_size, page_size,
				      PROT_READ));
		ASSERT_PATTERN(buf + 3 * page_size, 3, 1, seed);
	}
}

TEST_F(migrate, range_with_hole_is_einval)
{
	struct bystander *b = &self->b;

	range_with_gap_is_einval(_metadata, b, true);
	ASSERT_BYSTANDER(b, false);
}

TEST_F(migrate, range_with_prot_none_page_is_einval)
{
	struct bystander *b = &self->b;

	range_with_gap_is_einval(_metadata, b, false);
	ASSERT_BYSTANDER(b, false);
}

TEST_F(migrate, src_fd_not_open_is_ebadf)
{
	struct bystander *b = &self->b;
	int closed = open("/dev/null", O_RDONLY | O_CLOEXEC);

	ASSERT_GE(closed, 0);
	ASSERT_EQ(0, close(closed));
	ASSERT_EQ(-EBADF, hmigrate(b->p.dst, 0, b->buf, BYSTANDER_PAGES,
				   closed, NULL));
	ASSERT_EQ(-EBADF, hmigrate(b->p.dst, 0, b->buf, BYSTANDER_PAGES,
				   1000000, NULL));
	ASSERT_BYSTANDER(b, false);
}

/* Only -1 means system memory: other negative numbers are not open files. */
TEST_F(migrate, negative_src_fd_other_than_minus_one_is_ebadf)
{
	struct bystander *b = &self->b;
	static const int bad[] = { -2, -100, INT_MIN };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++)
		ASSERT_EQ(-EBADF, hmigrate(b->p.dst, 0, b->buf,
					   BYSTANDER_PAGES, bad[i], NULL))
			TH_LOG("src_fd %d", bad[i]);
	ASSERT_BYSTANDER(b, false);
}

TEST_F(migrate, src_fd_not_hmmsim_is_einval)
{
	struct bystander *b = &self->b;
	int pipefd[2], devnull, file;
	int fds[4];
	size_t i;

	ASSERT_EQ(0, pipe2(pipefd, O_CLOEXEC));
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	ASSERT_GE(devnull, 0);
	file = open("/tmp", O_TMPFILE | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	ASSERT_GE(file, 0);
	fds[0] = pipefd[0];
	fds[1] = pipefd[1];
	fds[2] = devnull;
	fds[3] = file;
	for (i = 0; i < ARRAY_SIZE(fds); i++)
		ASSERT_EQ(-EINVAL, hmigrate(b->p.dst, 0, b->buf,
					    BYSTANDER_PAGES, fds[i], NULL))
			TH_LOG("file %zu", i);
	for (i = 0; i < ARRAY_SIZE(fds); i++)
		close(fds[i]);
	ASSERT_BYSTANDER(b, false);
}

/* The same file, a dup() of it, or another file of the same device. */
TEST_F(migrate, src_fd_on_the_same_device_is_einval)
{
	struct bystander *b = &self->b;
	int dup_fd = dup(b->p.dst);
	int second = open_dev(b->p.dst_id);

	ASSERT_GE(dup_fd, 0);
	ASSERT_GE(second, 0);
	ASSERT_EQ(-EINVAL, hmigrate(b->p.dst, 0, b->buf, BYSTANDER_PAGES,
				    b->p.dst, NULL));
	ASSERT_EQ(-EINVAL, hmigrate(b->p.dst, 0, b->buf, BYSTANDER_PAGES,
				    dup_fd, NULL));
	ASSERT_EQ(-EINVAL, hmigrate(b->p.dst, 0, b->buf, BYSTANDER_PAGES,
				    second, NULL));
	/* The other way round: the second file as the destination. */
	ASSERT_EQ(-EINVAL, hmigrate(second, 0, b->buf, BYSTANDER_PAGES,
				    b->p.dst, NULL));
	close(dup_fd);
	close(second);
	ASSERT_BYSTANDER(b, false);
}

TEST_F(migrate, to_system_with_src_fd_is_einval)
{
	struct bystander *b = &self->b;
	int pipefd[2];

	ASSERT_EQ(0, pipe2(pipefd, O_CLOEXEC));
	ASSERT_EQ(-EINVAL, hmigrate(b->p.dst, HMMSIM_MIGRATE_TO_SYSTEM,
				    b->buf, BYSTANDER_PAGES, b->p.src,
				    NULL));
	ASSERT_EQ(-EINVAL, hmigrate(b->p.dst, HMMSIM_MIGRATE_TO_SYSTEM,
				    b->buf, BYSTANDER_PAGES, b->p.dst,
				    NULL));
	ASSERT_EQ(-EINVAL, hmigrate(b->p.dst, HMMSIM_MIGRATE_TO_SYSTEM,
				    b->buf, BYSTANDER_PAGES, pipefd[0],
				    NULL));
	close(pipefd[0]);
	close(pipefd[1]);
	ASSERT_BYSTANDER(b, false);
}

/*
 * The child of a fork(): with a destination file of its own, it passes the
 * parent's source file, bound to the parent's mm. It must get -EPERM, and
 * the page on the source device must not have moved in its address space.
 */
static int child_passes_parents_src_fd(struct bystander *b)
{
	unsigned char want_dst[BYSTANDER_PAGES], want_src[BYSTANDER_PAGES];
	struct hmm_dmirror_cmd cmd;
	unsigned char m[BYSTANDER_PAGES];
	int fd = open_dev(b->p.dst_id);
	unsigned long p;

	if (fd < 0)
		return 10;
	if (hmigrate(fd, 0, b->buf, BYSTANDER_PAGES, b->p.src, NULL) !=
	    -EPERM)
		return 11;
	memset(m, NO_CODE, sizeof(m));
	if (dmirror(fd, HMM_DMIRROR_SNAPSHOT, b->buf, m, BYSTANDER_PAGES,
		    &cmd) || cmd.cpages != BYSTANDER_PAGES)
		return 12;
	bystander_codes(b, want_dst, want_src);
	/* Page 3, on dst in the parent, is shared with the child. */
	for (p = 0; p < 3; p++)
		if (m[p] != want_dst[p] && m[p] != read_only_code(want_dst[p]))
			return 13 + p;
	close(fd);
	return 0;
}

TEST_F(migrate, src_fd_of_another_process_is_eperm)
{
	struct bystander *b = &self->b;
	pid_t pid = fork();
	int ret;

	if (pid == 0)
		_exit(child_passes_parents_src_fd(b));
	ret = wait_child(pid);
	ASSERT_EQ(0, ret) {
		if (ret == 11)
			TH_LOG("the child did not get -EPERM");
		else if (ret >= 13)
			TH_LOG("page %d moved in the child", ret - 13);
		else
			TH_LOG("the child failed (open or SNAPSHOT)");
	}
	ASSERT_BYSTANDER(b, true);
}

/* A forked child uses the parent's destination file: -EPERM, always. */
static int child_uses_parents_dst_fd(struct bystander *b)
{
	struct hmmsim_migrate a;
	int form;

	for (form = 0; form < NR_FORMS; form++) {
		bystander_args(b, form, &a);
		if (hmigrate_raw(b->p.dst, HMMSIM_IOCTL_MIGRATE, &a) != -EPERM)
			return 1 + form;
	}
	return 0;
}

TEST_F(migrate, ioctl_from_forked_child_is_eperm)
{
	struct bystander *b = &self->b;
	pid_t pid = fork();
	int ret;

	if (pid == 0)
		_exit(child_uses_parents_dst_fd(b));
	ret = wait_child(pid);
	ASSERT_EQ(0, ret)
		TH_LOG("form %d did not fail with -EPERM", ret - 1);
	ASSERT_BYSTANDER(b, true);
}

TEST_F(migrate, bad_struct_pointer_is_efault)
{
	struct bystander *b = &self->b;
	struct hmmsim_migrate *a;
	char *map;

	ASSERT_EQ(-EFAULT, hmigrate_raw(b->p.dst, HMMSIM_IOCTL_MIGRATE, NULL));
	ASSERT_EQ(-EFAULT, hmigrate_raw(b->p.dst, HMMSIM_IOCTL_MIGRATE,
					(void *)1));
	ASSERT_EQ(-EFAULT, hmigrate_raw(b->p.dst, HMMSIM_IOCTL_MIGRATE,
					(void *)0xffff888000000000UL));

	/* size and flags readable, the rest in an unmapped page. */
	map = mmap(NULL, 2 * page_size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, map);
	ASSERT_EQ(0, munmap(map + page_size, page_size));
	a = (struct hmmsim_migrate *)(map + page_size - 8);
	a->size = sizeof(*a);
	a->flags = 0;
	ASSERT_EQ(-EFAULT, hmigrate_raw(b->p.dst, HMMSIM_IOCTL_MIGRATE, a));

	/* Entirely unmapped. */
	ASSERT_EQ(0, munmap(map, page_size));
	ASSERT_EQ(-EFAULT, hmigrate_raw(b->p.dst, HMMSIM_IOCTL_MIGRATE, map));
	ASSERT_BYSTANDER(b, false);
}

TEST_HARNESS_MAIN
