// SPDX-License-Identifier: GPL-2.0
/*
 * hmmsim_poison: device memory errors (Documentation/reliability.rst,
 * DOC: Device memory errors in src/devmem.c).
 *
 * Each test makes a configfs device of its own, private or coherent (on
 * the guest's second memmap= reservation, which suites.sh leaves free), of
 * one chunk: a buffer of NPAGES pages fills it. It gives a page an error
 * through the device's debugfs file poison, which goes through the
 * kernel's memory_failure(). A free page is retired; the page of the
 * buffer that was on a page in use loses its data: the CPU gets SIGBUS
 * (BUS_MCEERR_AR) there, the device an error, and every other page keeps
 * its data, through eviction and the device's removal too.
 *
 * Which page of the buffer a device page holds is the driver's business:
 * the tests find the lost page by looking at every page, and check that
 * there is exactly one.
 *
 * Needs root and configfs; skips on a kernel without CONFIG_MEMORY_FAILURE,
 * where hmmsim has no poison file.
 */
#include <setjmp.h>
#include <signal.h>

#include "kselftest_harness.h"
#include "hmmsim_test.h"

#define CFS_PREFIX	"poison_"
#define CAPACITY	"2M"
#define NPAGES		(SZ_2M / 4096)
#define LOST		100	/* the device page that gets the error */
#define MF_SYSCTL	"/proc/sys/vm/memory_failure_recovery"

/* ------------------------------------------------------- CPU accesses */

static sigjmp_buf probe_env;

/* BUS_* codes are never 0: sigsetjmp() returns the code. */
static void probe_sigbus(int sig, siginfo_t *si, void *uc)
{
	siglongjmp(probe_env, si->si_code);
}

/*
 * The CPU reads @addr: 0 if it can, or the si_code of the SIGBUS it gets.
 */
static int cpu_probe(const char *addr)
{
	struct sigaction sa = {
		.sa_sigaction = probe_sigbus,
		.sa_flags = SA_SIGINFO,
	}, old;
	int code;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &old);
	code = sigsetjmp(probe_env, 1);
	if (!code)
		cpu_read(addr);
	sigaction(SIGBUS, &old, NULL);
	return code;
}

/* Whether the CPU gets SIGBUS on a page of @buf. */
static bool some_page_lost(const char *buf)
{
	unsigned long i;

	for (i = 0; i < NPAGES; i++)
		if (cpu_probe(buf + i * page_size))
			return true;
	return false;
}

/*
 * Every page of @buf but one holds its pattern, read by the CPU; that one
 * gives SIGBUS with BUS_MCEERR_AR, as a poisoned page of system memory
 * does. Returns its index.
 */
static unsigned long one_page_lost(struct __test_metadata *_metadata,
				   const char *buf, unsigned int seed)
{
	unsigned long i, lost = NPAGES, n = 0;
	int code;

	for (i = 0; i < NPAGES; i++) {
		code = cpu_probe(buf + i * page_size);
		if (!code) {
			ASSERT_PATTERN(buf + i * page_size, i, 1, seed);
			continue;
		}
		ASSERT_EQ(BUS_MCEERR_AR, code)
			TH_LOG("page %lu: SIGBUS code %d", i, code);
		lost = i;
		n++;
	}
	ASSERT_EQ(1, n)
		TH_LOG("%lu pages of the buffer lost their data", n);
	return lost;
}

/* ----------------------------------------------------------- fixture */

FIXTURE(poison)
{
	struct cfsdev dev;
	int fd;
	char knob[192];
	char *buf;
	unsigned int seed;
};

FIXTURE_VARIANT(poison)
{
	bool coherent;
};

FIXTURE_VARIANT_ADD(poison, private)
{
	.coherent = false,
};

FIXTURE_VARIANT_ADD(poison, coherent)
{
	.coherent = true,
};

FIXTURE_SETUP(poison)
{
	self->dev.made = false;
	/* The kernel's memory failure sysctl: it has memory_failure(). */
	if (access(MF_SYSCTL, F_OK))
		SETUP_SKIP("no %s: a kernel without CONFIG_MEMORY_FAILURE",
			   MF_SYSCTL);
	self->fd = CFS_DEVICE(&self->dev, CFS_PREFIX, variant->coherent, SZ_2M,
			      CAPACITY);
	if (self->fd < 0)
		setup_skipped();
	snprintf(self->knob, sizeof(self->knob), "%s/poison", self->dev.dbg);
	ASSERT_EQ(0, access(self->knob, W_OK))
		TH_LOG("%s: %s", self->knob, strerror(errno));
	self->seed = test_seed(_metadata->name);
	self->buf = map_aligned(SZ_2M, MADV_NOHUGEPAGE);
	ASSERT_NE(MAP_FAILED, self->buf);
	fill_pattern(self->buf, 0, NPAGES, self->seed);
}

FIXTURE_TEARDOWN(poison)
{
	if (self->fd >= 0)
		close(self->fd);
	if (self->dev.made)
		cfs_remove(self->dev.item);
}

/* Give device page @idx an error. */
static int poison(const char *knob, unsigned long idx)
{
	char val[32];

	snprintf(val, sizeof(val), "%lu", idx);
	return write_file(knob, val);
}

static bool one_retired(const struct hmmsim_stats *st)
{
	return st->pages_retired == 1;
}

/*
 * The buffer fills the device; then device page LOST gets an error. A
 * coherent page, which the CPU maps, moves at once to a system page, which
 * is then poisoned, and the device page it leaves is retired: wait for
 * both.
 */
static void fill_then_poison(struct __test_metadata *_metadata, int fd,
			     const char *knob, char *buf, bool coherent)
{
	struct hmmsim_stats st;
	__u64 cpages;
	double end;

	ASSERT_EQ(0, hmigrate(fd, 0, buf, NPAGES, HMMSIM_MIGRATE_FROM_SYSTEM,
			      &cpages));
	ASSERT_EQ(NPAGES, cpages);
	ASSERT_EQ(0, poison(knob, LOST));
	STATS(fd, &st);
	ASSERT_EQ(1, st.memory_errors);
	if (!coherent) {
		ASSERT_EQ(0, st.pages_retired);
		ASSERT_EQ(NPAGES, st.pages_used);
		return;
	}
	ASSERT_EQ(0, wait_stats(fd, one_retired, &st))
		TH_LOG("the coherent page with the error was not salvaged");
	ASSERT_EQ(NPAGES - 1, st.pages_used);
	end = now() + WAIT_SECONDS;
	while (!some_page_lost(buf)) {
		ASSERT_GT(end, now())
			TH_LOG("no page gives SIGBUS after the salvage");
		/* Not ordering: the pace of a loop that waits for a state. */
		usleep(1000);
	}
}

/* -------------------------------------------------------------- tests */

TEST_F(poison, free_page_is_retired)
{
	struct hmmsim_stats st;
	char val[32];
	int ret;

	ASSERT_EQ(0, poison(self->knob, LOST));
	STATS(self->fd, &st);
	ASSERT_EQ(1, st.memory_errors);
	ASSERT_EQ(1, st.pages_retired);
	ASSERT_EQ(0, st.pages_used);

	/* An error on a page that has one changes nothing. */
	ASSERT_EQ(0, poison(self->knob, LOST));
	/* Past the device's memory, or not a number. */
	ASSERT_EQ(-EINVAL, poison(self->knob, NPAGES));
	ASSERT_EQ(-EINVAL, write_file(self->knob, "page"));
	snprintf(val, sizeof(val), "%lu", -1UL);
	ASSERT_EQ(-EINVAL, write_file(self->knob, val));
	STATS(self->fd, &st);
	ASSERT_EQ(1, st.memory_errors);
	ASSERT_EQ(1, st.pages_retired);

	/* The device has one page less; the one left over stays home. */
	ret = hmigrate(self->fd, 0, self->buf, NPAGES,
		       HMMSIM_MIGRATE_FROM_SYSTEM, NULL);
	ASSERT_EQ(-ENOMEM, ret);
	STATS(self->fd, &st);
	ASSERT_EQ(NPAGES - 1, st.to_device);
	ASSERT_EQ(NPAGES - 1, st.pages_used);
	ASSERT_PATTERN(self->buf, 0, NPAGES, self->seed);
}

TEST_F(poison, page_in_use_loses_its_data_only)
{
	struct hmm_dmirror_cmd cmd;
	struct hmmsim_stats st;
	unsigned long i, lost = NPAGES;
	char *one = malloc(page_size);
	int ret;

	ASSERT_NE(NULL, one);
	fill_then_poison(_metadata, self->fd, self->knob, self->buf,
			 variant->coherent);

	/* The device reads every page but the lost one. */
	for (i = 0; i < NPAGES; i++) {
		ret = dmirror(self->fd, HMM_DMIRROR_READ,
			      self->buf + i * page_size, one, 1, &cmd);
		if (!ret) {
			ASSERT_PATTERN(one, i, 1, self->seed);
			continue;
		}
		ASSERT_EQ(NPAGES, lost)
			TH_LOG("a second page the device cannot read: %lu", i);
		lost = i;
		/* Its ECC, or the kernel's hwpoison entry once salvaged. */
		ASSERT_EQ(variant->coherent ? -EFAULT : -EIO, ret);
		ASSERT_EQ(variant->coherent ? -EFAULT : -EIO,
			  dmirror(self->fd, HMM_DMIRROR_WRITE,
				  self->buf + i * page_size, one, 1, &cmd));
	}
	ASSERT_GT(NPAGES, lost);

	/* The CPU: SIGBUS there, and its data everywhere else. */
	ASSERT_EQ(lost, one_page_lost(_metadata, self->buf, self->seed));

	/* Freed, the page is retired; no other is. */
	ASSERT_EQ(0, munmap(self->buf, SZ_2M));
	ASSERT_EQ(0, wait_stats(self->fd, one_retired, &st));
	ASSERT_EQ(0, st.pages_used);
	ASSERT_EQ(1, st.memory_errors);
	free(one);
}

TEST_F(poison, eviction_leaves_the_lost_page)
{
	char *other = map_aligned(SZ_2M, MADV_NOHUGEPAGE);
	struct hmmsim_stats before, after;

	ASSERT_NE(MAP_FAILED, other);
	fill_pattern(other, NPAGES, NPAGES, self->seed);
	fill_then_poison(_metadata, self->fd, self->knob, self->buf,
			 variant->coherent);

	/*
	 * A second buffer evicts the first, all but the lost page, and gets
	 * every page but one: that page is either lost or retired.
	 */
	STATS(self->fd, &before);
	ASSERT_EQ(-ENOMEM, hmigrate(self->fd, 0, other, NPAGES,
				    HMMSIM_MIGRATE_FROM_SYSTEM, NULL));
	STATS(self->fd, &after);
	ASSERT_EQ(before.to_device + NPAGES - 1, after.to_device);
	ASSERT_EQ(NPAGES - 1, after.evictions - before.evictions);
	ASSERT_EQ(NPAGES, after.pages_used + after.pages_retired);

	one_page_lost(_metadata, self->buf, self->seed);
	ASSERT_PATTERN(other, NPAGES, NPAGES, self->seed);
}

TEST_F(poison, removal_keeps_the_loss)
{
	fill_then_poison(_metadata, self->fd, self->knob, self->buf,
			 variant->coherent);

	/* Every page goes home, the lost one to a poisoned system page. */
	ASSERT_EQ(0, cfs_write(&self->dev, "power", "0"));
	one_page_lost(_metadata, self->buf, self->seed);
}

TEST_HARNESS_MAIN
