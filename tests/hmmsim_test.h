/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hmmsim_test: the helpers that hmmsim's test programs (tests/hmmsim_*.c)
 * share, in the spirit of the kernel's tools/testing/selftests/mm/vm_util.h.
 *
 * Conventions:
 *  - a function that can fail returns 0 (or a count) on success and a
 *    negative errno on failure, never -1 with errno set, so that
 *    ASSERT_EQ(0, ...) shows the error; the exceptions say so (the mapping
 *    helpers return MAP_FAILED as mmap() does, open_dev() returns -1 with
 *    errno as open() does);
 *  - the core commands (dmirror()) and HMMSIM_IOCTL_MIGRATE (hmigrate())
 *    go in with GARBAGE in their output-only fields and are retried on
 *    EINTR;
 *  - page_size, page_shift and win_pages are set before main() runs.
 *
 * The devices are /dev/$HMMSIM_DEVNAME<N> (default hmmsim), N from 0.
 *
 * It includes the C library's headers that most programs use.
 *
 * A program that uses the kselftest harness includes kselftest_harness.h
 * before this header: it then also gets the ASSERT_*() style helpers at the
 * end, which take the caller's line (the harness reports the helper's).
 */
#ifndef HMMSIM_TEST_H
#define HMMSIM_TEST_H

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hmmsim.h>

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#endif

#define SZ_1M		(1024UL * 1024)
#define SZ_2M		(2UL << 20)
#define SZ_16M		(16UL << 20)

/* What goes into the output-only fields of every command. */
#define GARBAGE		0xdeadbeefcafef00dULL

/* Fill byte for memory a command must not write. */
#define UNTOUCHED	0xa5

/* Not an HMM_DMIRROR_PROT_* code: a SNAPSHOT byte the driver did not set. */
#define NO_CODE		0xee

/* SNAPSHOT codes. */
#define RW_BITS		(HMM_DMIRROR_PROT_READ | HMM_DMIRROR_PROT_WRITE)
#define SYS_WRITE	HMM_DMIRROR_PROT_WRITE
#define WRITE_PMD	(HMM_DMIRROR_PROT_WRITE | HMM_DMIRROR_PROT_PMD)
#define PRIV_LOCAL	(HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | \
			 HMM_DMIRROR_PROT_WRITE)
#define COH_LOCAL	(HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL | \
			 HMM_DMIRROR_PROT_WRITE)
#define COH_REMOTE	(HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE | \
			 HMM_DMIRROR_PROT_WRITE)

/* /proc/self/pagemap entries */
#define PM_PRESENT	_BITULL(63)
#define PM_SWAP		_BITULL(62)
#define PM_PFN_MASK	((1ULL << 55) - 1)

/* Where hmmsim's configfs items, debugfs directories and module are. */
#define CFS_MOUNT	"/sys/kernel/config"
#define CFS_ROOT	CFS_MOUNT "/hmmsim"
#define DEBUGFS_ROOT	"/sys/kernel/debug/hmmsim"
#define MODULE_PARAMS	"/sys/module/hmmsim/parameters"

/*
 * How long a test waits for a state of the kernel (a count reaching zero,
 * say) before it fails: far longer than any of them takes.
 */
#define WAIT_SECONDS	60

extern size_t page_size;
extern unsigned int page_shift;
extern unsigned long win_pages;	/* pages in 2 MiB: a THP, a window */

/* ------------------------------------------------------------- devices */

/** hmmsim_devname() - the devices' name: $HMMSIM_DEVNAME, or "hmmsim" */
const char *hmmsim_devname(void);

/** dev_path() - /dev/<devname>@id into @buf; returns what snprintf() does */
int dev_path(char *buf, size_t len, unsigned int id);

/** open_dev() - open device @id O_RDWR | O_CLOEXEC; returns as open() */
int open_dev(unsigned int id);

/**
 * open_dev_wait() - open_dev() of a device whose node has just been made:
 *	retried for two seconds at most while the node does not exist
 */
int open_dev_wait(unsigned int id);

/** count_devices() - the number of devices that open, from 0 on */
unsigned int count_devices(void);

/** xioctl() - ioctl() that returns 0 or -errno */
int xioctl(int fd, unsigned long cmd, void *arg);

/** info() - HMMSIM_IOCTL_INFO into @inf, cleared and sized; 0 or -errno */
int info(int fd, struct hmmsim_info *inf);

/**
 * open_dev_of_type() - open the first device with memory of @type
 *	(enum hmmsim_mem_type), its number in *@id and its INFO in *@inf
 *
 * Returns the descriptor; -ENODEV if devices open but none has such
 * memory (a test SKIPs); else the -errno of opening device 0 (hmmsim is
 * not loaded) or of an INFO.
 */
int open_dev_of_type(__u32 type, unsigned int *id, struct hmmsim_info *inf);

/** get_stats() - HMMSIM_IOCTL_STATS into @st, cleared and sized; 0 or -errno */
int get_stats(int fd, struct hmmsim_stats *st);

/**
 * wait_stats() - wait until the counters of @fd's device satisfy @done,
 *	WAIT_SECONDS at most; 0, -ETIMEDOUT or the errno of STATS, with the
 *	last counters in @st
 */
int wait_stats(int fd, bool (*done)(const struct hmmsim_stats *),
	       struct hmmsim_stats *st);

/** uring_idle() - for wait_stats(): no io_uring request of the device is in flight */
bool uring_idle(const struct hmmsim_stats *st);

/**
 * uffd_register() - a userfaultfd registered for missing pages over @npages
 *	at @buf, which nobody serves until the caller does: its file
 *	descriptor, or -errno
 */
int uffd_register(char *buf, unsigned long npages);

/** kmsg_from_now() - /dev/kmsg from its end on, non-blocking: fd or -1 */
int kmsg_from_now(void);

/** kmsg_has() - whether the records of @fd up to now contain @needle */
bool kmsg_has(int fd, const char *needle);

/** evict_on_close_param() - the module parameter: 1 (Y), 0 (N), or -errno */
int evict_on_close_param(void);

/* ------------------------------------------------------------ commands */

/**
 * dmirror_raw() - core command @request (HMM_DMIRROR_*) with @cmd's addr,
 *	ptr and npages; cpages and faults go in as GARBAGE, EINTR is retried
 *
 * Return: 0 or -errno; @cmd has the command's outputs.
 */
int dmirror_raw(int fd, unsigned long request, __u64 addr, __u64 ptr,
		__u64 npages, struct hmm_dmirror_cmd *cmd);

/** dmirror() - dmirror_raw() on [@addr, +@npages) with buffer @ptr */
int dmirror(int fd, unsigned long request, void *addr, void *ptr,
	    unsigned long npages, struct hmm_dmirror_cmd *cmd);

/**
 * migrate_args() - HMMSIM_IOCTL_MIGRATE arguments: @a cleared, sized and
 *	filled, cpages GARBAGE; @src_fd is a device file or
 *	HMMSIM_MIGRATE_FROM_SYSTEM
 */
void migrate_args(struct hmmsim_migrate *a, __u32 flags, __u64 addr,
		  __u64 npages, int src_fd);

/** hmigrate_raw() - xioctl() with EINTR retried: 0 or -errno */
int hmigrate_raw(int fd, unsigned long request, void *arg);

/**
 * hmigrate_addr() - HMMSIM_IOCTL_MIGRATE of migrate_args() to the device of
 *	@fd; the pages moved in *@cpages if not NULL (GARBAGE if untouched)
 *
 * Return: 0 or -errno.
 */
int hmigrate_addr(int fd, __u32 flags, __u64 addr, __u64 npages, int src_fd,
		  __u64 *cpages);

/** hmigrate() - hmigrate_addr() of [@addr, +@npages) */
int hmigrate(int fd, __u32 flags, void *addr, __u64 npages, int src_fd,
	     __u64 *cpages);

/*
 * The device policy (HMMSIM_ABI_VERSION 7): the file's policy, advice and
 * access streams.
 */

/** policy_get() - HMMSIM_IOCTL_GET_POLICY into @p, cleared and sized: 0 or -errno */
int policy_get(int fd, struct hmmsim_policy *p);

/** policy_set() - HMMSIM_IOCTL_SET_POLICY of @p, sized: 0 or -errno */
int policy_set(int fd, struct hmmsim_policy *p);

/**
 * policy_set_migrate() - the file's policy with @migrate (an enum
 *	hmmsim_migrate_policy) and @prefetch (an enum hmmsim_prefetch_policy),
 *	the other fields as they were: 0 or -errno
 */
int policy_set_migrate(int fd, __u32 migrate, __u32 prefetch);

/**
 * advise_range() - HMMSIM_IOCTL_ADVISE of [@addr, +@npages) with
 *	@preferred (an enum hmmsim_location), @accessed_by and @granularity:
 *	0 or -errno
 */
int advise_range(int fd, void *addr, __u64 npages, __u32 preferred,
		 __u32 accessed_by, __u32 granularity);

/**
 * access_args() - struct hmmsim_access for a stream of @count accesses of
 *	@pattern over [@addr, +@npages): cleared, sized, the outputs GARBAGE
 */
void access_args(struct hmmsim_access *a, void *addr, __u64 npages,
		 __u32 pattern, __u64 count);

/** access_run() - HMMSIM_IOCTL_ACCESS of @a: 0 or -errno; @a has the outputs */
int access_run(int fd, struct hmmsim_access *a);

/* ------------------------------------------------------------ patterns */

/** test_seed() - an FNV-1a hash of @name: each test has its own data */
unsigned int test_seed(const char *name);

/**
 * pattern() - int @i of page @page of the pattern of @seed: never zero,
 *	so that it cannot pass for a zero page
 */
int pattern(unsigned long page, unsigned long i, unsigned int seed);

/** fill_pattern() - pages @first..@first+@npages-1 of the pattern, in @buf */
void fill_pattern(void *buf, unsigned long first, unsigned long npages,
		  unsigned int seed);

/**
 * check_pattern() - compare @buf with pages @first..@first+@npages-1 of the
 *	pattern: the index of the first int that differs, or -1
 */
long check_pattern(const void *buf, unsigned long first, unsigned long npages,
		   unsigned int seed);

/**
 * check_pages() - compare @buf with pages @first..@first+@npages-1, page p
 *	with the pattern of @seeds[p]: the index (from @first) of the first
 *	page that differs, or -1
 */
long check_pages(const void *buf, unsigned long first, unsigned long npages,
		 const unsigned int *seeds);

/** check_bytes() - the index of the first of @len bytes not @c, or -1 */
long check_bytes(const void *buf, size_t len, unsigned char c);

/* -------------------------------------------------------------- memory */

/** cpu_read() - a CPU read of one int, which the compiler cannot leave out */
int cpu_read(const void *addr);

/**
 * map_small() - @npages of private anonymous memory, MADV_NOHUGEPAGE so that
 *	it stays in small pages in every THP mode; or MAP_FAILED
 */
char *map_small(unsigned long npages, int prot);

/**
 * map_small_across_2m() - map_small() (read-write) with a 2 MiB boundary
 *	after @before pages: a driver that works in 2 MiB windows meets its
 *	two parts in two windows
 */
char *map_small_across_2m(unsigned long npages, unsigned long before);

/**
 * map_aligned() - @len bytes of 2 MiB aligned, read-write, private
 *	anonymous memory with @advice (MADV_HUGEPAGE, MADV_NOHUGEPAGE, or
 *	MADV_NORMAL for none); or MAP_FAILED. Requests in flight together
 *	must not share a THP, or all but one find its pages busy: give each
 *	its own 2 MiB.
 */
char *map_aligned(size_t len, int advice);

/** thp_enabled() - whether THP is "always" or "madvise" */
bool thp_enabled(void);

/** kernel_at_least() - whether the running kernel is @major.@minor or later */
bool kernel_at_least(int major, int minor);

/** anon_huge_kb() - AnonHugePages (kB) of the mapping of @addr, or -1 */
long anon_huge_kb(const void *addr);

/**
 * anon_huge_kb_range() - AnonHugePages (kB) of the mappings of
 *	[@addr, @addr + @len): -1 if nothing is mapped there, -ERANGE if a
 *	mapping reaches outside the range (its THPs could be elsewhere)
 */
long anon_huge_kb_range(const void *addr, size_t len);

/** thp_backed() - whether [@addr, @addr + @len) is all backed by THPs */
bool thp_backed(const void *addr, size_t len);

/**
 * moves_thps() - whether the device of @fd moves THPs whole
 *	(HMMSIM_CAP_THP), and so maps them with 2 MiB entries
 */
bool moves_thps(int fd);

/** meminfo_kb() - @tag ("MemAvailable:") of /proc/meminfo, in kB, or -1 */
long meminfo_kb(const char *tag);

/**
 * user_va_end() - one past the last user address: 1 << 47 with 4-level page
 *	tables, 1 << 56 with 5-level ones, where an address from 1 << 47 on
 *	can be mapped (with a hint; x86-64 only)
 */
unsigned long user_va_end(void);

/* ----------------------------------------------------------- processes */

/** wait_child() - reap child @pid: its exit status, or -1 if it did not exit */
int wait_child(pid_t pid);

/** now() - CLOCK_MONOTONIC, in seconds */
double now(void);

/* -F of the stress and the fuzzer: failslab and fail_page_alloc are on. */
extern bool fault_injection;

/** fault_retry() - under fault_injection, whether errno @err is ENOMEM */
bool fault_retry(int err);

/**
 * make_it_fail() - let the task-filtered fault attributes hit this thread and
 *	the children it forks: 0 or -errno
 */
int make_it_fail(void);

/* ------------------------------------------------- sysfs, configfs, ... */

/** write_file() - @val into @path in one write(): 0 or -errno (-EIO: short) */
int write_file(const char *path, const char *val);

/** read_file() - the first line of @path, without its newline: 0 or -errno */
int read_file(const char *path, char *buf, size_t len);

/** read_long() - @path as a number (strtol() base 0): 0 or -errno */
int read_long(const char *path, long *v);

/* A device made through configfs. */
struct cfsdev {
	char item[128];		/* its configfs directory */
	char dbg[128];		/* its debugfs directory, once on */
	unsigned int id;	/* N of /dev/<devname>N, once on */
	bool made;		/* the configfs item exists */
};

/** configfs_mounted() - whether configfs is mounted on CFS_MOUNT */
bool configfs_mounted(void);

/**
 * cfs_unusable() - why this process cannot make configfs devices (no
 *	CFS_ROOT, or not writable: it needs root), or NULL if it can
 */
const char *cfs_unusable(void);

/** cfs_make() - mkdir CFS_ROOT/<@prefix><pid> into @d, cleared: 0 or -errno */
int cfs_make(struct cfsdev *d, const char *prefix);

/** cfs_write() - @val into attribute @attr of @d: 0 or -errno */
int cfs_write(const struct cfsdev *d, const char *attr, const char *val);

/** cfs_read() - attribute @attr of @d as a number: 0 or -errno */
int cfs_read(const struct cfsdev *d, const char *attr, long *v);

/** cfs_power_on() - power @d on, set its id and dbg: 0 or -errno */
int cfs_power_on(struct cfsdev *d);

/** cfs_remove() - power configfs item @item off and remove it, quietly */
void cfs_remove(const char *item);

/**
 * cfs_remove_leftovers() - cfs_remove() every item named @prefix...: those
 *	of a test killed before its teardown
 */
void cfs_remove_leftovers(const char *prefix);

/**
 * fault_write() - @val into @knob (probability, times...) of @d's debugfs
 *	fault attribute @attr (fail_alloc, fail_copy, fail_evict): 0 or -errno
 */
int fault_write(const struct cfsdev *d, const char *attr, const char *knob,
		const char *val);

/** fault_read() - @knob of @d's fault attribute @attr: 0 or -errno */
int fault_read(const struct cfsdev *d, const char *attr, const char *knob,
	       long *v);

/** fault_exists() - whether @d has fault attribute @attr, writable */
bool fault_exists(const struct cfsdev *d, const char *attr);

/** fault_disarm() - make @d's fault attribute @attr fail nothing */
void fault_disarm(const struct cfsdev *d, const char *attr);

/* ---------------------------------------------- io_uring, for liburing */

/*
 * A program that uses liburing includes <liburing.h> before this header (and
 * links with -luring): it then also gets these helpers, which submit
 * HMMSIM_URING_* commands on a ring with 128-byte SQEs, filled by hand
 * (liburing 2.3 has no helper for URING_CMD).
 */
#ifdef LIB_URING_H

#define CMD_AREA	80	/* the command area of a 128-byte SQE */

/** ucmd() - the payload of a command on [@addr, +@len), other fields zero */
static inline struct hmmsim_uring_cmd ucmd(void *addr, size_t len)
{
	struct hmmsim_uring_cmd c = {
		.size = sizeof(c),
		.addr = (uintptr_t)addr,
		.npages = len / page_size,
	};

	return c;
}

/*
 * Queue one command; @payload is CMD_AREA bytes (a struct hmmsim_uring_cmd,
 * possibly followed by more).
 */
static inline int queue_raw(struct io_uring *ring, int fd, __u32 op,
			    const void *payload, size_t len, __u64 user_data)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (!sqe)
		return -EBUSY;
	/* With SQE128, an SQE is two struct io_uring_sqe. */
	memset(sqe, 0, (ring->flags & IORING_SETUP_SQE128) ? 128 : 64);
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = fd;
	sqe->cmd_op = op;
	sqe->user_data = user_data;
	memcpy(sqe->cmd, payload,
	       (ring->flags & IORING_SETUP_SQE128) ? len : 16);
	return 0;
}

/* The SQE queued last, not yet submitted: for the fields queue_raw() zeroes. */
static inline struct io_uring_sqe *queued_sqe(struct io_uring *ring)
{
	unsigned int shift = (ring->flags & IORING_SETUP_SQE128) ? 1 : 0;

	return &ring->sq.sqes[((ring->sq.sqe_tail - 1) & *ring->sq.kring_mask)
			      << shift];
}

/** queue() - queue_raw() of the struct hmmsim_uring_cmd @c */
static inline int queue(struct io_uring *ring, int fd, __u32 op,
			const struct hmmsim_uring_cmd *c, __u64 user_data)
{
	return queue_raw(ring, fd, op, c, sizeof(*c), user_data);
}

/*
 * Reap one completion: its result, user data and (CQE32) page count; those
 * are 0 and -1 when there is no completion to reap.
 */
static inline int reap(struct io_uring *ring, __u64 *user_data, __u64 *pages)
{
	struct io_uring_cqe *cqe;
	int ret;

	if (user_data)
		*user_data = 0;
	if (pages)
		*pages = (__u64)-1;
	ret = io_uring_wait_cqe(ring, &cqe);
	if (ret)
		return ret;
	ret = cqe->res;
	if (user_data)
		*user_data = cqe->user_data;
	if (pages)
		*pages = (ring->flags & IORING_SETUP_CQE32) ?
			 cqe->big_cqe[0] : (__u64)-1;
	io_uring_cqe_seen(ring, cqe);
	return ret;
}

/* One command, submitted and waited for. */
static inline int run_raw(struct io_uring *ring, int fd, __u32 op,
			  const void *payload, size_t len, __u64 *pages)
{
	int ret = queue_raw(ring, fd, op, payload, len, 0);

	if (ret)
		return ret;
	ret = io_uring_submit(ring);
	if (ret != 1)
		return ret < 0 ? ret : -EIO;
	return reap(ring, NULL, pages);
}

/** run() - run_raw() of @c, in a command area zeroed past it */
static inline int run(struct io_uring *ring, int fd, __u32 op,
		      const struct hmmsim_uring_cmd *c, __u64 *pages)
{
	__u8 area[CMD_AREA] = { 0 };

	memcpy(area, c, sizeof(*c));
	return run_raw(ring, fd, op, area, sizeof(area), pages);
}

#endif /* LIB_URING_H */

/* ---------------------------------------- assertions, for the harness */

#ifdef __KSELFTEST_HARNESS_H

/*
 * SETUP_SKIP() - skip the test from its FIXTURE_SETUP(): SKIP(), then
 * setup_skipped().
 *
 * setup_skipped() - end a FIXTURE_SETUP() that has SKIP()ped (itself or in
 * a helper): end the process that runs it, with the status the harness
 * takes for a skip. The harness of 6.1 (which has no XFAIL) runs setup and
 * test in one process, would go on to the test on a fixture half set up
 * after a setup that returns, and reads 255 as a skip; later ones run them
 * in a process of their own, whose SKIP() has said all, and end it with 0
 * themselves.
 */
#ifdef KSELFTEST_PRIO_XFAIL
#define SETUP_SKIP_STATUS	0
#else
#define SETUP_SKIP_STATUS	255
#endif

static inline void setup_skipped(void)
{
	_exit(SETUP_SKIP_STATUS);
}

#define SETUP_SKIP(fmt, ...)	SKIP(setup_skipped(), fmt, ##__VA_ARGS__)

/** ASSERT_PATTERN() - @buf holds pages @first.. of the pattern of @seed */
#define ASSERT_PATTERN(buf, first, npages, seed) \
	hmmsim_assert_pattern(_metadata, __LINE__, buf, first, npages, seed)

static inline void hmmsim_assert_pattern(struct __test_metadata *_metadata,
					 int line, const void *buf,
					 unsigned long first,
					 unsigned long npages,
					 unsigned int seed)
{
	unsigned long per = page_size / sizeof(int);
	long bad = check_pattern(buf, first, npages, seed);

	ASSERT_EQ(-1, bad) {
		TH_LOG("line %d: page %lu, int %lu is %#x, expected %#x",
		       line, first + bad / per, bad % per,
		       ((const int *)buf)[bad],
		       pattern(first + bad / per, bad % per, seed));
	}
}

/** ASSERT_PAGES() - @buf holds pages @first.., page p of seed @seeds[p] */
#define ASSERT_PAGES(buf, first, npages, seeds) \
	hmmsim_assert_pages(_metadata, __LINE__, buf, first, npages, seeds)

static inline void hmmsim_assert_pages(struct __test_metadata *_metadata,
				       int line, const void *buf,
				       unsigned long first,
				       unsigned long npages,
				       const unsigned int *seeds)
{
	long bad = check_pages(buf, first, npages, seeds);

	ASSERT_EQ(-1, bad) {
		unsigned long p = first + bad;

		TH_LOG("line %d: page %lu (window %lu): int 0 is %#x, expected %#x",
		       line, p, p / win_pages,
		       *(const int *)((const char *)buf + bad * page_size),
		       pattern(p, 0, seeds[p]));
	}
}

/** ASSERT_MAPPED() - @buf is mapped and @ptr allocated */
#define ASSERT_MAPPED(buf, ptr) do { \
	ASSERT_NE(MAP_FAILED, buf); \
	ASSERT_NE(NULL, ptr); \
} while (0)

/**
 * ASSERT_BUFFERS() - ASSERT_MAPPED(): then @buf gets pages 0 to @npages - 1
 *	of the pattern of @seed
 */
#define ASSERT_BUFFERS(buf, ptr, npages, seed) do { \
	void *__buf = (buf); \
	ASSERT_MAPPED(__buf, ptr); \
	fill_pattern(__buf, 0, npages, seed); \
} while (0)

/**
 * SMALL_BUFFERS() - map_small() (read-write) of @npages into *@buf, filled
 *	with pages 0.. of the pattern of the test's seed, and *@ptr as
 *	large unless @ptr is NULL, both asserted: returns the seed
 */
#define SMALL_BUFFERS(buf, ptr, npages) \
	hmmsim_buffers(_metadata, NULL, buf, ptr, npages)

/**
 * hmmsim_buffers() - SMALL_BUFFERS() of the mapping @map (or MAP_FAILED);
 *	NULL: map_small()
 */
static inline unsigned int
hmmsim_buffers(struct __test_metadata *_metadata, char *map, char **buf,
	       char **ptr, unsigned long npages)
{
	unsigned int seed = test_seed(_metadata->name);

	*buf = map ? map : map_small(npages, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, *buf);
	if (ptr) {
		*ptr = malloc(npages * page_size);
		ASSERT_NE(NULL, *ptr);
	}
	fill_pattern(*buf, 0, npages, seed);
	return seed;
}

/** THP_BUFFERS() - SMALL_BUFFERS() of 2 MiB, aligned and MADV_HUGEPAGE */
#define THP_BUFFERS(buf, ptr) \
	hmmsim_buffers(_metadata, map_aligned(SZ_2M, MADV_HUGEPAGE), buf, \
		       ptr, SZ_2M / page_size)

/** ASSERT_BYTES() - every one of @len bytes of @buf is @c */
#define ASSERT_BYTES(buf, len, c) \
	hmmsim_assert_bytes(_metadata, __LINE__, buf, len, c)

static inline void hmmsim_assert_bytes(struct __test_metadata *_metadata,
				       int line, const void *buf, size_t len,
				       unsigned char c)
{
	long bad = check_bytes(buf, len, c);

	ASSERT_EQ(-1, bad) {
		TH_LOG("line %d: byte %ld (page %ld) is %#x, expected %#x",
		       line, bad, bad / (long)page_size,
		       ((const unsigned char *)buf)[bad], c);
	}
}

/**
 * read_only_code() - SNAPSHOT code @code with READ instead of WRITE, as
 *	after fork() for instance
 * @code: the code.
 */
static inline unsigned char read_only_code(unsigned char code)
{
	if (code == HMM_DMIRROR_PROT_ERROR || !(code & RW_BITS))
		return code;
	return (code & ~RW_BITS) | HMM_DMIRROR_PROT_READ;
}

/**
 * ASSERT_PROT() - SNAPSHOT codes @m[@from..@to) are all @prot...
 * ASSERT_PROT2() - ...or either of @prot and @alt...
 * ASSERT_PROT_RW() - ...or @prot, or @prot with READ instead of WRITE
 */
#define ASSERT_PROT(m, from, to, prot) \
	hmmsim_assert_prot(_metadata, __LINE__, m, from, to, prot, -1)
#define ASSERT_PROT2(m, from, to, prot, alt) \
	hmmsim_assert_prot(_metadata, __LINE__, m, from, to, prot, alt)
#define ASSERT_PROT_RW(m, from, to, prot) do { \
	unsigned char __prot = (prot); \
	hmmsim_assert_prot(_metadata, __LINE__, m, from, to, __prot, \
			   read_only_code(__prot)); \
} while (0)

static inline void hmmsim_assert_prot(struct __test_metadata *_metadata,
				      int line, const unsigned char *m,
				      unsigned long from, unsigned long to,
				      unsigned char prot, int alt)
{
	unsigned long i;

	for (i = from; i < to; i++) {
		if (alt >= 0 && m[i] == alt)
			continue;
		ASSERT_EQ(prot, m[i]) {
			TH_LOG("line %d: snapshot of page %lu (window %lu)",
			       line, i, i / win_pages);
		}
	}
}

/**
 * DMIRROR_OK() - core command that must succeed with cpages == @npages;
 *	@cmd, if not NULL, has its outputs
 */
#define DMIRROR_OK(fd, request, addr, ptr, npages, cmd) \
	hmmsim_dmirror_ok(_metadata, __LINE__, fd, request, #request, addr, \
			  ptr, npages, cmd)

static inline void hmmsim_dmirror_ok(struct __test_metadata *_metadata,
				     int line, int fd, unsigned long request,
				     const char *name, void *addr, void *ptr,
				     unsigned long npages,
				     struct hmm_dmirror_cmd *cmd)
{
	struct hmm_dmirror_cmd local;

	if (!cmd)
		cmd = &local;
	ASSERT_EQ(0, dmirror(fd, request, addr, ptr, npages, cmd))
		TH_LOG("line %d: %s", line, name);
	ASSERT_EQ(npages, cmd->cpages)
		TH_LOG("line %d: %s", line, name);
}

/** DMIRROR_RET() - core command that must return @ret: 0 or a -errno */
#define DMIRROR_RET(ret, fd, request, addr, ptr, npages) \
	hmmsim_dmirror_ret(_metadata, __LINE__, ret, fd, request, #request, \
			   addr, ptr, npages)

static inline void hmmsim_dmirror_ret(struct __test_metadata *_metadata,
				      int line, int ret, int fd,
				      unsigned long request, const char *name,
				      void *addr, void *ptr,
				      unsigned long npages)
{
	struct hmm_dmirror_cmd cmd;

	ASSERT_EQ(ret, dmirror(fd, request, addr, ptr, npages, &cmd))
		TH_LOG("line %d: %s", line, name);
}

/**
 * SNAPSHOT() - SNAPSHOT of @npages from @addr into @m (first NO_CODE), which
 *	must succeed with cpages == @npages
 */
#define SNAPSHOT(fd, addr, m, npages) \
	hmmsim_snapshot(_metadata, __LINE__, fd, addr, m, npages)

static inline void hmmsim_snapshot(struct __test_metadata *_metadata,
				   int line, int fd, void *addr,
				   unsigned char *m, unsigned long npages)
{
	memset(m, NO_CODE, npages);
	hmmsim_dmirror_ok(_metadata, line, fd, HMM_DMIRROR_SNAPSHOT,
			  "SNAPSHOT", addr, m, npages, NULL);
}

/** SNAPSHOT_PROT() - SNAPSHOT() of @npages, then ASSERT_PROT() of them all */
#define SNAPSHOT_PROT(fd, addr, npages, prot) \
	hmmsim_snapshot_prot(_metadata, __LINE__, fd, addr, npages, prot)

static inline void hmmsim_snapshot_prot(struct __test_metadata *_metadata,
					int line, int fd, void *addr,
					unsigned long npages,
					unsigned char prot)
{
	unsigned char *m = malloc(npages);

	ASSERT_NE(NULL, m);
	hmmsim_snapshot(_metadata, line, fd, addr, m, npages);
	hmmsim_assert_prot(_metadata, line, m, 0, npages, prot, -1);
	free(m);
}

/** MIGRATE_OK() - MIGRATE_TO_DEV that must succeed and move all @npages */
#define MIGRATE_OK(fd, addr, ptr, npages) \
	DMIRROR_OK(fd, HMM_DMIRROR_MIGRATE_TO_DEV, addr, ptr, npages, NULL)

/**
 * DMIRROR_PATTERN() - DMIRROR_OK() into @ptr, filled UNTOUCHED first, which
 *	must then hold pages @first.. of the pattern of @seed;
 * MIGRATE_PATTERN(), READ_PATTERN() - that of MIGRATE_TO_DEV, of READ
 */
#define DMIRROR_PATTERN(fd, request, addr, ptr, first, npages, seed) \
	hmmsim_dmirror_pattern(_metadata, __LINE__, fd, request, #request, \
			       addr, ptr, first, npages, seed)
#define MIGRATE_PATTERN(fd, addr, ptr, first, npages, seed) \
	DMIRROR_PATTERN(fd, HMM_DMIRROR_MIGRATE_TO_DEV, addr, ptr, first, \
			npages, seed)
#define READ_PATTERN(fd, addr, ptr, first, npages, seed) \
	DMIRROR_PATTERN(fd, HMM_DMIRROR_READ, addr, ptr, first, npages, seed)

static inline void
hmmsim_dmirror_pattern(struct __test_metadata *_metadata, int line, int fd,
		       unsigned long request, const char *name, void *addr,
		       void *ptr, unsigned long first, unsigned long npages,
		       unsigned int seed)
{
	memset(ptr, UNTOUCHED, npages * page_size);
	hmmsim_dmirror_ok(_metadata, line, fd, request, name, addr, ptr,
			  npages, NULL);
	hmmsim_assert_pattern(_metadata, line, ptr, first, npages, seed);
}

/**
 * DEVICE_READS_PATTERN() - READ of @npages at @addr, into a buffer of its
 *	own, which must succeed and return pages @first.. of the pattern
 */
#define DEVICE_READS_PATTERN(fd, addr, npages, first, seed) \
	device_reads_pattern(_metadata, __LINE__, fd, addr, npages, first, seed)

static inline void
device_reads_pattern(struct __test_metadata *_metadata, int line, int fd,
		     void *addr, unsigned long npages, unsigned long first,
		     unsigned int seed)
{
	char *ptr = malloc(npages * page_size);

	ASSERT_NE(NULL, ptr);
	hmmsim_dmirror_pattern(_metadata, line, fd, HMM_DMIRROR_READ, "READ",
			       addr, ptr, first, npages, seed);
	free(ptr);
}

/**
 * HMIGRATE_OK() - HMMSIM_IOCTL_MIGRATE that must succeed and move exactly
 *	@expect pages
 */
#define HMIGRATE_OK(fd, flags, addr, npages, src_fd, expect) \
	hmmsim_hmigrate_ok(_metadata, __LINE__, fd, flags, addr, npages, \
			   src_fd, expect)

static inline void hmmsim_hmigrate_ok(struct __test_metadata *_metadata,
				      int line, int fd, __u32 flags,
				      void *addr, unsigned long npages,
				      int src_fd, __u64 expect)
{
	__u64 cpages;

	ASSERT_EQ(0, hmigrate(fd, flags, addr, npages, src_fd, &cpages))
		TH_LOG("line %d: HMMSIM_IOCTL_MIGRATE", line);
	ASSERT_EQ(expect, cpages)
		TH_LOG("line %d: HMMSIM_IOCTL_MIGRATE", line);
}

/** STATS() - get_stats() that must succeed */
#define STATS(fd, st) ASSERT_EQ(0, get_stats(fd, st))

/**
 * FAULT_ARM_DEV() - make the next attempts of fault attribute @attr of
 *	device @d fail, as many as @times says ("-1": all of them), without
 *	a word in the kernel log
 */
#define FAULT_ARM_DEV(d, attr, times) \
	hmmsim_fault_arm(_metadata, __LINE__, d, attr, times)

static inline void hmmsim_fault_arm(struct __test_metadata *_metadata,
				    int line, const struct cfsdev *d,
				    const char *attr, const char *times)
{
	static const char * const knobs[][2] = {
		{ "verbose", "0" }, { "interval", "1" }, { "space", "0" },
		{ "task-filter", "N" }, { "times", NULL },
		{ "probability", "100" },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(knobs); i++) {
		const char *val = knobs[i][1] ? knobs[i][1] : times;

		ASSERT_EQ(0, fault_write(d, attr, knobs[i][0], val))
			TH_LOG("line %d: %s/%s", line, attr, knobs[i][0]);
	}
}

/**
 * CFS_PRIVATE_DEVICE() - a private device of @capacity bytes (@cap_str, as
 *	configfs takes it: "64M") made through configfs as @d, item
 *	<@prefix><pid>, after the leftovers of killed tests: its open file.
 *	SKIPs (returning -1) when configfs is not mounted or this process
 *	cannot make devices (cfs_unusable()); the caller removes
 *	@d (cfs_remove() of d->item when d->made) whatever happened.
 */
#define CFS_PRIVATE_DEVICE(d, prefix, capacity, cap_str) \
	hmmsim_cfs_private_device(_metadata, d, prefix, capacity, cap_str)

static inline int
hmmsim_cfs_private_device(struct __test_metadata *_metadata,
			  struct cfsdev *d, const char *prefix,
			  unsigned long capacity, const char *cap_str)
{
	struct hmmsim_info inf;
	const char *why;
	int fd;

	cfs_remove_leftovers(prefix);
	if (access(CFS_ROOT, F_OK)) {
		if (!configfs_mounted())
			SKIP(return -1, "configfs is not mounted on %s",
			     CFS_MOUNT);
		ASSERT_EQ(0, access(CFS_ROOT, F_OK))
			TH_LOG("%s: %s (is hmmsim loaded?)", CFS_ROOT,
			       strerror(errno));
	}
	why = cfs_unusable();
	if (why)
		SKIP(return -1, "%s", why);
	ASSERT_EQ(0, cfs_make(d, prefix))
		TH_LOG("mkdir %s: %s", d->item, strerror(errno));
	ASSERT_EQ(0, cfs_write(d, "capacity", cap_str));
	ASSERT_EQ(0, cfs_power_on(d));

	fd = open_dev_wait(d->id);
	ASSERT_LE(0, fd)
		TH_LOG("device %u: %s", d->id, strerror(errno));
	ASSERT_EQ(0, info(fd, &inf));
	ASSERT_EQ(HMMSIM_MEM_PRIVATE, inf.type);
	ASSERT_EQ(capacity, inf.capacity);
	ASSERT_EQ(d->id, inf.id);
	return fd;
}

/**
 * CFS_COHERENT_DEVICE() - a coherent device of @cap_str ("64M") made
 *	through configfs as @d, item <@prefix><pid>, at the first of the
 *	test VM's memmap= reservations no other device holds: its open
 *	file. SKIPs (returning -1) when every range is held or this process
 *	cannot make devices; the caller removes @d as for CFS_PRIVATE_DEVICE().
 */
#define CFS_COHERENT_DEVICE(d, prefix, cap_str) \
	hmmsim_cfs_coherent_device(_metadata, d, prefix, cap_str)

static inline int
hmmsim_cfs_coherent_device(struct __test_metadata *_metadata,
			   struct cfsdev *d, const char *prefix,
			   const char *cap_str)
{
	static const char *const bases[] = { "0x70000000", "0x60000000" };
	const char *why = cfs_unusable();
	unsigned int i;

	if (why)
		SKIP(return -1, "%s", why);
	cfs_remove_leftovers(prefix);
	for (i = 0; i < ARRAY_SIZE(bases); i++) {
		if (cfs_make(d, prefix) ||
		    cfs_write(d, "type", "coherent") ||
		    cfs_write(d, "capacity", cap_str) ||
		    cfs_write(d, "phys_base", bases[i]))
			break;
		if (!cfs_power_on(d)) {
			int fd = open_dev_wait(d->id);

			ASSERT_LE(0, fd);
			return fd;
		}
		cfs_remove(d->item);
		d->made = false;
	}
	SKIP(return -1, "no free reserved range for a coherent device%s",
	     " (load hmmsim with one coherent= range)");
}

/**
 * CFS_DEVICE() - CFS_COHERENT_DEVICE() if @coherent, else
 *	CFS_PRIVATE_DEVICE(), of @capacity bytes (@cap_str)
 */
#define CFS_DEVICE(d, prefix, coherent, capacity, cap_str) \
	hmmsim_cfs_device(_metadata, d, prefix, coherent, capacity, cap_str)

static inline int hmmsim_cfs_device(struct __test_metadata *_metadata,
				    struct cfsdev *d, const char *prefix,
				    bool coherent, unsigned long capacity,
				    const char *cap_str)
{
	if (coherent)
		return hmmsim_cfs_coherent_device(_metadata, d, prefix,
						  cap_str);
	return hmmsim_cfs_private_device(_metadata, d, prefix, capacity,
					 cap_str);
}

/* ----------------------------- scenarios core and coherent both run */

/**
 * migrate_to_sys_returns_every_page() - @npages moved to the device of @fd
 *	all come back with MIGRATE_TO_SYS, after which it moves nothing
 */
static inline void
migrate_to_sys_returns_every_page(struct __test_metadata *_metadata, int fd,
				  unsigned long npages)
{
	char *buf, *ptr;
	unsigned int seed = SMALL_BUFFERS(&buf, &ptr, npages);
	struct hmm_dmirror_cmd cmd;

	MIGRATE_OK(fd, buf, ptr, npages);

	DMIRROR_OK(fd, HMM_DMIRROR_MIGRATE_TO_SYS, buf, ptr, npages, &cmd);
	SNAPSHOT_PROT(fd, buf, npages, HMM_DMIRROR_PROT_WRITE);

	/* Nothing left to move. */
	ASSERT_EQ(0, dmirror(fd, HMM_DMIRROR_MIGRATE_TO_SYS, buf, ptr, npages,
			     &cmd));
	ASSERT_EQ(0, cmd.cpages);
	ASSERT_PATTERN(buf, 0, npages, seed);
}

/**
 * migrate_to_sys_counts_pages_moved() - MIGRATE_TO_SYS through @fd of ranges
 *	partly on its device (pages coded @local) counts the pages it moved
 */
static inline void
migrate_to_sys_counts_pages_moved(struct __test_metadata *_metadata, int fd,
				  unsigned char local)
{
	const unsigned long npages = 16;
	char *buf, *ptr;
	unsigned int seed = SMALL_BUFFERS(&buf, &ptr, npages);
	struct hmm_dmirror_cmd cmd;
	unsigned char m[16];

	MIGRATE_PATTERN(fd, buf + 4 * page_size, ptr, 4, 8, seed);

	/* Pages 4..11 are on the device; return 2..5 first. */
	ASSERT_EQ(0, dmirror(fd, HMM_DMIRROR_MIGRATE_TO_SYS,
			     buf + 2 * page_size, ptr, 4, &cmd));
	ASSERT_EQ(2, cmd.cpages);
	SNAPSHOT(fd, buf, m, npages);
	ASSERT_PROT(m, 0, 6, HMM_DMIRROR_PROT_WRITE);
	ASSERT_PROT(m, 6, 12, local);
	ASSERT_PROT(m, 12, npages, HMM_DMIRROR_PROT_WRITE);

	ASSERT_EQ(0, dmirror(fd, HMM_DMIRROR_MIGRATE_TO_SYS, buf, ptr, npages,
			     &cmd));
	ASSERT_EQ(6, cmd.cpages);
	SNAPSHOT_PROT(fd, buf, npages, HMM_DMIRROR_PROT_WRITE);
	ASSERT_PATTERN(buf, 0, npages, seed);
}

/**
 * migrate_to_sys_through_others_moves_nothing() - MIGRATE_TO_SYS through
 *	any of the @n files @others moves none of the pages on the device of
 *	@fd (coded @local there)
 */
static inline void
migrate_to_sys_through_others_moves_nothing(struct __test_metadata *_metadata,
					    int fd, unsigned char local,
					    const int *others, unsigned int n)
{
	const unsigned long npages = 16;
	char *buf, *ptr;
	unsigned int seed = SMALL_BUFFERS(&buf, &ptr, npages);
	struct hmm_dmirror_cmd cmd;
	unsigned int i;

	MIGRATE_OK(fd, buf, ptr, npages);
	for (i = 0; i < n; i++) {
		ASSERT_EQ(0, dmirror(others[i], HMM_DMIRROR_MIGRATE_TO_SYS,
				     buf, ptr, npages, &cmd));
		ASSERT_EQ(0, cmd.cpages);
	}
	SNAPSHOT_PROT(fd, buf, npages, local);
	ASSERT_PATTERN(buf, 0, npages, seed);
}

/**
 * migrate_thp_to_dev_and_back() - 2 MiB, a THP if one materialises, to the
 *	device of @fd (pages coded @local there, with a 2 MiB entry where the
 *	device moves THPs whole) and back, by a CPU access
 *	when @cpu_brings_back, else by MIGRATE_TO_SYS: whether a THP backed it
 */
static inline bool
migrate_thp_to_dev_and_back(struct __test_metadata *_metadata, int fd,
			    unsigned char local, bool cpu_brings_back)
{
	const unsigned long npages = SZ_2M / page_size;
	unsigned char *m = malloc(npages);
	char *buf, *ptr;
	unsigned int seed = THP_BUFFERS(&buf, &ptr);
	bool thp = thp_backed(buf, SZ_2M);

	ASSERT_NE(NULL, m);
	SNAPSHOT_PROT(fd, buf, npages,
		      thp ? WRITE_PMD : HMM_DMIRROR_PROT_WRITE);

	MIGRATE_PATTERN(fd, buf, ptr, 0, npages, seed);
	SNAPSHOT_PROT(fd, buf, npages,
		      thp && moves_thps(fd) ? local | HMM_DMIRROR_PROT_PMD :
					      local);
	ASSERT_PATTERN(buf, 0, npages, seed);

	if (!cpu_brings_back)
		DMIRROR_OK(fd, HMM_DMIRROR_MIGRATE_TO_SYS, buf, ptr, npages,
			   NULL);
	/* Back in small pages, unless khugepaged collapsed them already. */
	SNAPSHOT(fd, buf, m, npages);
	ASSERT_PROT2(m, 0, npages, HMM_DMIRROR_PROT_WRITE, WRITE_PMD);
	ASSERT_PATTERN(buf, 0, npages, seed);
	return thp;
}

/**
 * migrate_from_other_device_is_enoent() - MIGRATE_TO_DEV through @to_fd of
 *	a range whose last page is on the device of @from_fd (coded
 *	@from_local there) fails with ENOENT and leaves the page there
 */
static inline void
migrate_from_other_device_is_enoent(struct __test_metadata *_metadata,
				    int from_fd, unsigned char from_local,
				    int to_fd)
{
	const unsigned long npages = 16, last = npages - 1;
	char *buf, *ptr;
	unsigned int seed = SMALL_BUFFERS(&buf, &ptr, npages);

	MIGRATE_OK(from_fd, buf + last * page_size, ptr, 1);

	DMIRROR_RET(-ENOENT, to_fd, HMM_DMIRROR_MIGRATE_TO_DEV,
		    buf + last * page_size, ptr, 1);
	/* The page did not move. */
	SNAPSHOT_PROT(from_fd, buf + last * page_size, 1, from_local);
	DMIRROR_RET(-ENOENT, to_fd, HMM_DMIRROR_MIGRATE_TO_DEV, buf, ptr,
		    npages);
	SNAPSHOT_PROT(from_fd, buf + last * page_size, 1, from_local);
	ASSERT_PATTERN(buf, 0, npages, seed);
}

/**
 * release_returns_every_page() - RELEASE through @fd returns every page the
 *	file moved, whatever range it names, and its device memory serves
 *	again (as pages coded @local)
 */
static inline void
release_returns_every_page(struct __test_metadata *_metadata, int fd,
			   unsigned long npages, unsigned char local)
{
	unsigned int seed = test_seed(_metadata->name);
	char *a = map_small(npages, PROT_READ | PROT_WRITE);
	char *b = map_small(npages, PROT_READ | PROT_WRITE);
	char *ptr = malloc(npages * page_size);

	ASSERT_NE(MAP_FAILED, a);
	ASSERT_BUFFERS(b, ptr, npages, seed + 1);
	fill_pattern(a, 0, npages, seed);
	MIGRATE_OK(fd, a, ptr, npages);
	MIGRATE_OK(fd, b, ptr, npages);

	DMIRROR_RET(0, fd, HMM_DMIRROR_RELEASE, a, ptr, npages);
	SNAPSHOT_PROT(fd, a, npages, HMM_DMIRROR_PROT_WRITE);
	SNAPSHOT_PROT(fd, b, npages, HMM_DMIRROR_PROT_WRITE);
	ASSERT_PATTERN(a, 0, npages, seed);
	ASSERT_PATTERN(b, 0, npages, seed + 1);

	/* The device memory can be used again. */
	MIGRATE_PATTERN(fd, a, ptr, 0, npages, seed);
	SNAPSHOT_PROT(fd, a, npages, local);
}

/**
 * close_returns_pages() - closing a second file of device @id returns the
 *	pages it moved (coded @local) to system memory, as @fd then sees
 */
static inline void close_returns_pages(struct __test_metadata *_metadata,
				       int fd, unsigned int id,
				       unsigned char local)
{
	const unsigned long npages = 32;
	char *buf, *ptr;
	unsigned int seed = SMALL_BUFFERS(&buf, &ptr, npages);
	int second = open_dev(id);
	struct hmmsim_stats st0, st;

	ASSERT_GE(second, 0);
	MIGRATE_OK(second, buf, ptr, npages);
	SNAPSHOT_PROT(second, buf, npages, local);

	STATS(fd, &st0);
	ASSERT_EQ(0, close(second));
	SNAPSHOT_PROT(fd, buf, npages, HMM_DMIRROR_PROT_WRITE);
	ASSERT_PATTERN(buf, 0, npages, seed);
	/* Counted as moved by the close, and as moved from the device. */
	STATS(fd, &st);
	ASSERT_EQ(st0.close_evictions + npages, st.close_evictions);
	ASSERT_EQ(st0.from_device + npages, st.from_device);
}

#endif /* __KSELFTEST_HARNESS_H */

#endif /* HMMSIM_TEST_H */
