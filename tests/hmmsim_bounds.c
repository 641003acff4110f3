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
#include <signal.h>
#include <time.h>

#include "kselftest_harness.h"
#include "hmmsim_test.h"

/* How long the command runs before it is killed, and how long it may take to die. */
#define RUN_MS		500
#define KILL_GRACE	20

/* The huge mapping: 16 TiB fits in a 4-level (128 TiB) address space. */
#define HUGE_SIZE	_BITULL(44)

FIXTURE(bounds) {
	int fd;
	size_t page;
	void *huge;
	void *out;
};

FIXTURE_SETUP(bounds)
{
	self->page = sysconf(_SC_PAGESIZE);
	self->fd = open_dev(0);
	if (self->fd < 0)
		SETUP_SKIP("no hmmsim device");
	self->huge = mmap(NULL, HUGE_SIZE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	/* One byte per page for SNAPSHOT, one page per page for READ. */
	self->out = mmap(NULL, HUGE_SIZE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (self->huge == MAP_FAILED || self->out == MAP_FAILED)
		SETUP_SKIP("cannot map 2 x 16 TiB (overcommit policy?)");
	/* Some real pages for the device to find, at the start. */
	memset(self->huge, 0x5a, 64 * self->page);
}

FIXTURE_TEARDOWN(bounds)
{
	if (self->fd >= 0)
		close(self->fd);
}

/*
 * Run @request in a child and kill it RUN_MS after it has opened its file
 * and is about to issue the command. Returns 0 if the child died of
 * SIGKILL or finished the command with an errno in @ok_errnos (a
 * zero-terminated list; 0 itself always counts), 1 if it still ran
 * KILL_GRACE seconds after the kill, 2 if it finished with another result.
 */
static int run_and_kill(int fd, unsigned long request, void *addr, void *ptr,
			unsigned long long npages, const int *ok_errnos,
			int *result)
{
	struct timespec ts = { RUN_MS / 1000, (RUN_MS % 1000) * 1000000L };
	int status, i, sync[2];
	pid_t pid;
	char c;

	*result = -1;
	if (pipe(sync))
		return 2;
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
		close(sync[0]);
		fd = open_dev(0);
		if (fd < 0)
			_exit(255);
		if (write(sync[1], "x", 1) != 1)
			_exit(254);
		err = ioctl(fd, request, &cmd) ? errno : 0;
		_exit(err);
	}
	/* Once the child is about to issue the command (EOF: it failed). */
	close(sync[1]);
	if (read(sync[0], &c, 1) == 1)
		/* Not ordering: how long the command runs before the kill. */
		nanosleep(&ts, NULL);
	close(sync[0]);
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
		/* Not ordering: the pace of a loop that waits for the exit. */
		usleep(100000);
	}
	/* Still there: leave it to the harness (the test fails). */
	return 1;
}

/*
 * The cases. Each command is given the whole huge mapping (every page valid
 * and, for all but a few pages, never touched), or, for the commands that
 * accept holes, the whole user address space: from the first page above
 * any mmap_min_addr to the last page of the 4-level address space (with
 * 5-level paging that is still valid, just not all of it). READ and WRITE
 * copy every page and need an output as big as the range; EXCLUSIVE faults
 * in every page for write: both are bounded by memory, and killable like
 * the others. MIGRATE_TO_DEV of more than the device holds fails at once.
 */
#define SPACE_START	0x10000ULL
#define SPACE_END	_BITULL(47)

FIXTURE_VARIANT(bounds) {
	unsigned long request;
	bool whole_space;	/* the address space, not the mapping */
	int ok_errno;		/* besides 0 */
	bool must_fail;		/* with ok_errno, at once */
};

FIXTURE_VARIANT_ADD(bounds, migrate_to_sys) {
	.request = HMM_DMIRROR_MIGRATE_TO_SYS,
};

FIXTURE_VARIANT_ADD(bounds, release) {
	.request = HMM_DMIRROR_RELEASE,
};

FIXTURE_VARIANT_ADD(bounds, snapshot) {
	.request = HMM_DMIRROR_SNAPSHOT,
};

FIXTURE_VARIANT_ADD(bounds, check_exclusive) {
	.request = HMM_DMIRROR_CHECK_EXCLUSIVE,
};

FIXTURE_VARIANT_ADD(bounds, check_exclusive_whole_space) {
	.request = HMM_DMIRROR_CHECK_EXCLUSIVE,
	.whole_space = true,
};

FIXTURE_VARIANT_ADD(bounds, release_whole_space) {
	.request = HMM_DMIRROR_RELEASE,
	.whole_space = true,
};

FIXTURE_VARIANT_ADD(bounds, read) {
	.request = HMM_DMIRROR_READ,
};

FIXTURE_VARIANT_ADD(bounds, write) {
	.request = HMM_DMIRROR_WRITE,
};

FIXTURE_VARIANT_ADD(bounds, exclusive) {
	.request = HMM_DMIRROR_EXCLUSIVE,
	.ok_errno = ENOMEM,
};

FIXTURE_VARIANT_ADD(bounds, migrate_to_dev) {
	.request = HMM_DMIRROR_MIGRATE_TO_DEV,
	.ok_errno = ENOMEM,
	.must_fail = true,
};

TEST_F_TIMEOUT(bounds, longest_range_is_killable, 60)
{
	int ok[] = { variant->ok_errno, 0 };
	unsigned long long npages = HUGE_SIZE / self->page;
	void *addr = self->huge, *out = self->out;
	int res;

	if (variant->whole_space) {
		addr = (void *)SPACE_START;
		out = NULL;
		npages = (SPACE_END - SPACE_START - self->page) / self->page;
	}
	ASSERT_EQ(0, run_and_kill(self->fd, variant->request, addr, out,
				  npages, ok, &res))
		TH_LOG("result %d", res);
	if (variant->must_fail)
		ASSERT_EQ(variant->ok_errno, res);
}

TEST_HARNESS_MAIN
