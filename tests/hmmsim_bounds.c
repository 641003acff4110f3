// SPDX-License-Identifier: GPL-2.0
/*
 * hmmsim bounds tests: no command can hold a CPU or ignore SIGKILL.
 *
 * Each command is given the longest valid range the address space allows:
 * one MAP_NORESERVE mapping of many TiB (nothing is ever touched in most of
 * it, so it costs no memory), or a range over the whole user address space
 * for the commands that accept holes. A child process issues the command
 * and the parent kills it after a moment. The child must die of the
 * SIGKILL (or have finished: CHECK_EXCLUSIVE skips what the device never
 * mapped, so it may well be done) within KILL_GRACE seconds; a command that
 * runs on for minutes without looking at signals, as lib/test_hmm's
 * CHECK_EXCLUSIVE does, leaves the child alive and fails the test. The
 * soft lockup detector of the test kernel watches for a command that does
 * not reschedule.
 *
 * The devices are /dev/$HMMSIM_DEVNAME<N> (default hmmsim), N from 0; the
 * first one is used.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include <hmmsim.h>

/* How long the child runs before it is killed, and how long it may take to die. */
#define RUN_MS		500
#define KILL_GRACE	20

/* The huge mapping: 16 TiB fits in a 4-level (128 TiB) address space. */
#define HUGE_SIZE	_BITULL(44)

static int open_dev(void)
{
	const char *name = getenv("HMMSIM_DEVNAME");
	char path[64];

	snprintf(path, sizeof(path), "/dev/%s0", name ? name : "hmmsim");
	return open(path, O_RDWR | O_CLOEXEC);
}

FIXTURE(bounds) {
	int fd;
	size_t page;
	void *huge;
	void *out;
};

FIXTURE_SETUP(bounds)
{
	self->page = sysconf(_SC_PAGESIZE);
	self->fd = open_dev();
	if (self->fd < 0)
		SKIP(return, "no hmmsim device");
	self->huge = mmap(NULL, HUGE_SIZE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	/* One byte per page for SNAPSHOT, one page per page for READ. */
	self->out = mmap(NULL, HUGE_SIZE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (self->huge == MAP_FAILED || self->out == MAP_FAILED)
		SKIP(return, "cannot map 2 x 16 TiB (overcommit policy?)");
	/* Some real pages for the device to find, at the start. */
	memset(self->huge, 0x5a, 64 * self->page);
}

FIXTURE_TEARDOWN(bounds)
{
	if (self->fd >= 0)
		close(self->fd);
}

/*
 * Run @request in a child and kill it after RUN_MS. Returns 0 if the child
 * died of SIGKILL or finished the command with an errno in @ok_errnos (a
 * zero-terminated list; 0 itself always counts), 1 if it still ran
 * KILL_GRACE seconds after the kill, 2 if it finished with another result.
 */
static int run_and_kill(int fd, unsigned long request, void *addr, void *ptr,
			unsigned long long npages, const int *ok_errnos,
			int *result)
{
	struct timespec ts = { RUN_MS / 1000, (RUN_MS % 1000) * 1000000L };
	int status, i;
	pid_t pid;

	*result = -1;
	pid = fork();
	if (pid < 0)
		return 2;
	if (!pid) {
		struct hmm_dmirror_cmd cmd = {
			.addr = (unsigned long)addr,
			.ptr = (unsigned long)ptr,
			.npages = npages,
		};
		int err;

		/* A file is bound to the mm that opened it: open our own. */
		close(fd);
		fd = open_dev();
		if (fd < 0)
			_exit(255);
		err = ioctl(fd, request, &cmd) ? errno : 0;
		_exit(err);
	}
	nanosleep(&ts, NULL);
	kill(pid, SIGKILL);
	for (i = 0; i < KILL_GRACE * 10; i++) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid) {
			if (WIFSIGNALED(status) &&
			    WTERMSIG(status) == SIGKILL)
				return 0;
			*result = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
			if (!*result)
				return 0;
			for (; *ok_errnos; ok_errnos++)
				if (*result == *ok_errnos)
					return 0;
			return 2;
		}
		usleep(100000);
	}
	/* Still there: leave it to the harness (the test fails). */
	return 1;
}

static const int none[] = { 0 };

/*
 * The ranges. Each command is given the whole huge mapping: every page
 * valid and, for all but a few pages, never touched.
 */
#define HUGE_PAGES(s)	(HUGE_SIZE / (s)->page)

TEST_F_TIMEOUT(bounds, migrate_to_sys_huge_range_is_killable, 60)
{
	int res;

	ASSERT_EQ(0, run_and_kill(self->fd, HMM_DMIRROR_MIGRATE_TO_SYS,
				  self->huge, self->out, HUGE_PAGES(self),
				  none, &res)) TH_LOG("result %d", res);
}

TEST_F_TIMEOUT(bounds, release_huge_range_is_killable, 60)
{
	int res;

	ASSERT_EQ(0, run_and_kill(self->fd, HMM_DMIRROR_RELEASE,
				  self->huge, self->out, HUGE_PAGES(self),
				  none, &res)) TH_LOG("result %d", res);
}

TEST_F_TIMEOUT(bounds, snapshot_huge_range_is_killable, 60)
{
	int res;

	ASSERT_EQ(0, run_and_kill(self->fd, HMM_DMIRROR_SNAPSHOT,
				  self->huge, self->out, HUGE_PAGES(self),
				  none, &res)) TH_LOG("result %d", res);
}

TEST_F_TIMEOUT(bounds, check_exclusive_huge_range_is_killable, 60)
{
	int res;

	ASSERT_EQ(0, run_and_kill(self->fd, HMM_DMIRROR_CHECK_EXCLUSIVE,
				  self->huge, self->out, HUGE_PAGES(self),
				  none, &res)) TH_LOG("result %d", res);
}

/*
 * The whole user address space, holes and all: CHECK_EXCLUSIVE and
 * RELEASE accept holes. The range starts at the first page above
 * mmap_min_addr any system allows and ends at the last page of the 4-level
 * address space; with 5-level paging that is still valid, just not all.
 */
#define SPACE_START	0x10000ULL
#define SPACE_END	_BITULL(47)

TEST_F_TIMEOUT(bounds, check_exclusive_whole_address_space_is_killable, 60)
{
	unsigned long long npages = (SPACE_END - SPACE_START - self->page) /
				    self->page;
	int res;

	ASSERT_EQ(0, run_and_kill(self->fd, HMM_DMIRROR_CHECK_EXCLUSIVE,
				  (void *)SPACE_START, NULL, npages, none,
				  &res)) TH_LOG("result %d", res);
}

TEST_F_TIMEOUT(bounds, release_whole_address_space_is_killable, 60)
{
	unsigned long long npages = (SPACE_END - SPACE_START - self->page) /
				    self->page;
	int res;

	ASSERT_EQ(0, run_and_kill(self->fd, HMM_DMIRROR_RELEASE,
				  (void *)SPACE_START, NULL, npages, none,
				  &res)) TH_LOG("result %d", res);
}

/* READ and WRITE copy every page: the output is as big as the range. */
TEST_F_TIMEOUT(bounds, read_huge_range_is_killable, 60)
{
	int res;

	ASSERT_EQ(0, run_and_kill(self->fd, HMM_DMIRROR_READ, self->huge,
				  self->out, HUGE_PAGES(self), none, &res))
		TH_LOG("result %d", res);
}

TEST_F_TIMEOUT(bounds, write_huge_range_is_killable, 60)
{
	int res;

	ASSERT_EQ(0, run_and_kill(self->fd, HMM_DMIRROR_WRITE, self->huge,
				  self->out, HUGE_PAGES(self), none, &res))
		TH_LOG("result %d", res);
}

/*
 * MIGRATE_TO_DEV of more than the device holds fails at once (ENOMEM);
 * within the device's size it is bounded by it. EXCLUSIVE faults in every
 * page for write: bounded by memory, and killable like the others.
 */
TEST_F_TIMEOUT(bounds, exclusive_huge_range_is_killable, 60)
{
	static const int ok[] = { ENOMEM, 0 };
	int res;

	ASSERT_EQ(0, run_and_kill(self->fd, HMM_DMIRROR_EXCLUSIVE, self->huge,
				  self->out, HUGE_PAGES(self), ok, &res))
		TH_LOG("result %d", res);
}

TEST_F_TIMEOUT(bounds, migrate_to_dev_huge_range_is_enomem, 60)
{
	int res;
	static const int ok[] = { ENOMEM, 0 };

	ASSERT_EQ(0, run_and_kill(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV,
				  self->huge, self->out, HUGE_PAGES(self), ok,
				  &res)) TH_LOG("result %d", res);
	ASSERT_EQ(ENOMEM, res);
}

TEST_HARNESS_MAIN
