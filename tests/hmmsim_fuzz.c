// SPDX-License-Identifier: GPL-2.0
/*
 * hmmsim_fuzz: an ioctl and io_uring fuzzer for every hmmsim device.
 *
 *   hmmsim_fuzz [-n CALLS_PER_DEVICE] [-s SEED] [-u PERCENT] [-F] [-V FIRST_CALL]
 *
 * -u: the share of the calls that are io_uring commands (default 20; 0:
 * ioctls only). -V: every call from number FIRST_CALL on is printed, with
 * its result, and every action on the memory or the files (for a replay).
 *
 * -F is for fault-injection runs (make faults): once set up, the program
 * marks itself for the task-filtered fault attributes (failslab,
 * fail_page_alloc), and its own munmap() and mprotect() retry on ENOMEM,
 * so that what it believes is mapped stays true; a file it cannot reopen
 * for want of memory is not a failure.
 *
 * Every core (lib/test_hmm compatible) and extension command, on every
 * device /dev/$HMMSIM_DEVNAME<N> (default hmmsim, N from 0), with fields
 * drawn from hostile values: zero, ~0, unaligned, kernel and non-canonical
 * addresses, holes, huge and overflowing page counts, and buffers of every
 * kind (private, read-only, PROT_NONE, shared anonymous, file-backed shared
 * and private, THP, hugetlbfs, the device's own mmap()) for both the range
 * and the user buffer; extension structures of every size, with random
 * flags, padding, reserved fields and source files; unknown commands and
 * wrongly encoded ones. Between calls the buffers are unmapped and mapped
 * again, their protections flipped, madvise()d, written and read by the
 * CPU, and the device files closed and opened again.
 *
 * A call fails the device's test when it returns anything but 0 or one of
 * the errnos hmmsim documents, when it succeeds although the ABI says it
 * must not (a zero, unaligned or out-of-range range, nonzero flags or
 * reserved fields, an unknown command, a bad source file...), when an
 * unknown command gives anything but ENOTTY, or when a successful call
 * returns nonsense (more pages than asked, an INFO that does not describe
 * the device, STATS counters that go backwards).
 *
 * The policy's commands (SET_POLICY, GET_POLICY, ADVISE, ACCESS) are judged
 * exactly, each call against the one set of answers the ABI allows it (see
 * ext_verdict()): an ACCESS stream is drawn here as the driver draws it
 * from its seed, so that every page it loads or stores is known. The files'
 * policies are set at random, so that streams run under every policy and
 * move pages; GET_POLICY must give back what was set last.
 *
 * An io_uring call (IORING_OP_URING_CMD on a ring with 128-byte SQEs and
 * 32-byte CQEs) takes its range and buffer from the same generators as the
 * core command of the same kind (PREFETCH those of MIGRATE_TO_SYS), with
 * hostile sizes, tails, flags, pad, reserved, ptr and src_fd in its
 * payload; or a cmd_op of no command; or a file that is not an hmmsim
 * device; and now and then SQE fields io_uring or hmmsim must refuse, a
 * ring without SQE128, IOSQE_ASYNC or IOSQE_IO_DRAIN. It is judged as the
 * ioctls are, side effects included, with the errnos io_uring adds:
 * EOPNOTSUPP for an unknown cmd_op or a file without io_uring commands,
 * EINVAL or EBADF for the SQE, ECANCELED only for a command that was
 * canceled. One step in ten is a batch of commands in flight together
 * (judged by their results), which are reaped, or have a file closed
 * under them, or are canceled (IORING_OP_ASYNC_CANCEL), or have their ring
 * closed under them, after which every device's requests must end.
 *
 * A "canary" buffer holds a pattern. It is moved around (MIGRATE_TO_DEV,
 * MIGRATE_TO_SYS, HMMSIM_IOCTL_MIGRATE from system memory and between
 * devices, EXCLUSIVE, ACCESS under a migrating policy) and read by the
 * devices (READ, SNAPSHOT, the source of WRITE, the loads of ACCESS; an
 * ACCESS store adds one to its page, so streams store only into the pool's
 * slots), but never written by them, nor discarded by the CPU: its
 * pattern is checked every CANARY_EVERY calls and at the end, and must be
 * intact. It lies below every other buffer, guarded, so that a device
 * writing past the end of another buffer cannot reach it.
 *
 * The address space is laid out in slots of 4 MiB: slot 0 holds the
 * arguments, slot 1 the canary, the others one buffer each at their start,
 * followed by a hole and a PROT_NONE guard page; a slot may also be empty.
 * Random addresses are drawn only where nothing of the program lives, so
 * that the device can write only into the buffers.
 *
 * Calls stay short: valid ranges are a few pages (a whole THP from its
 * start now and then), and the commands whose cost grows with the range
 * even over holes (SNAPSHOT, CHECK_EXCLUSIVE) have their valid ranges cut.
 * In the test VM (TCG, debug kernel with KASAN and lockdep) the default
 * 100000 calls on each of 4 devices take a little over a minute.
 *
 * The run is deterministic for a seed (printed at the start). The output is
 * TAP: progress comments every PROGRESS_EVERY calls, one line per device
 * and one for the canary. A crash of the program prints the call or action
 * it was in ("Bail out!"); a call that takes STALL_SECONDS is reported
 * while it runs. Exit status 0 if every line is ok, 1 if not, 4 if there
 * is no device.
 */
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <time.h>

#include <liburing.h>

#include "hmmsim_test.h"

#define MAX_DEVICES		64
#define FDS_PER_DEV		2	/* open files per device */
#define DEFAULT_CALLS		100000
#define PROGRESS_EVERY		10000
#define CANARY_EVERY		4096
#define MAX_REPORTS		16	/* failures printed per device */
#define MAX_CANARY_REPORTS	4
#define CANARY_LOG		32	/* canary events kept for a report */
#define STALL_SECONDS		60	/* a call this long is reported */

#define SLOT_SIZE		(4UL << 20)
#define NR_SLOTS		24
#define SLOT_ARGS		0
#define SLOT_CANARY		1
#define FIRST_POOL		2
#define SMALL_MAX_PAGES		32	/* pages of a buffer that is not huge */
#define SMALL_MAX_OFFSET	16	/* pages from the slot's start */
#define BUF_MAX_PAGES		520
#define FILE_PAGES_PER_SLOT	48
#define ARG_AREA_PAGES		2
/* Slot 0 also holds the LIST arrays of ACCESS, from here, in file page: */
#define LIST_AREA_OFFSET	(SZ_2M / 2)
#define LIST_FILE_PAGE		(1 + NR_SLOTS * FILE_PAGES_PER_SLOT)

/* Pages of a "small" valid range: keeps every call short. */
#define SMALL_NPAGES		4
/*
 * Larger valid ranges than this are cut for SNAPSHOT and CHECK_EXCLUSIVE,
 * whose cost grows with the range even where nothing is mapped: a
 * CHECK_EXCLUSIVE of the whole 5-level address space takes minutes.
 */
#define SNAPSHOT_MAX_NPAGES	_BITULL(12)
#define CHECK_EXCL_MAX_NPAGES	_BITULL(18)
#define CHECK_EXCL_HUGE_NPAGES	_BITULL(30)
/* Pages of a buffer the CPU touches or changes at once, mostly. */
#define SPAN_MAX_PAGES		64
/* One step in ACTION_ONE_IN is an action on the memory or the files. */
#define ACTION_ONE_IN		64

/* ------------------------------------------------------------ randomness */

static __u64 rng_state;

/* splitmix64: small, fast, and good for any seed. */
static __u64 rnd(void)
{
	__u64 z;

	rng_state += 0x9e3779b97f4a7c15ULL;
	z = rng_state;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static __u64 rnd_below(__u64 n)
{
	return n ? rnd() % n : 0;
}

static bool one_in(unsigned int n)
{
	return rnd_below(n) == 0;
}

/* An index into weights[], drawn with those weights. */
static unsigned int pick(const unsigned int *weights, unsigned int n)
{
	unsigned int i, total = 0;
	__u64 r;

	for (i = 0; i < n; i++)
		total += weights[i];
	r = rnd_below(total);
	for (i = 0; i < n; i++) {
		if (r < weights[i])
			return i;
		r -= weights[i];
	}
	return n - 1;
}

/* -------------------------------------------------------------- errnos */

static const struct {
	int err;
	const char *name;
} errnos[] = {
	{ 0, "0" },
	{ EINVAL, "EINVAL" },
	{ EFAULT, "EFAULT" },
	{ ENOMEM, "ENOMEM" },
	{ ENOENT, "ENOENT" },
	{ EPERM, "EPERM" },
	{ EBUSY, "EBUSY" },
	{ E2BIG, "E2BIG" },
	{ EBADF, "EBADF" },
	{ ENOTTY, "ENOTTY" },
	{ ENODEV, "ENODEV" },
	{ EIO, "EIO" },
	{ EINTR, "EINTR" },
	{ EAGAIN, "EAGAIN" },
	{ EOPNOTSUPP, "EOPNOTSUPP" },	/* EXCLUSIVE on hugetlbfs, shared */
	{ ECANCELED, "ECANCELED" },	/* an io_uring command canceled */
	{ ENOSPC, "ENOSPC" },		/* ADVISE: too many advice ranges */
};

#define HIST_OTHER	ARRAY_SIZE(errnos)
#define NR_HIST		(HIST_OTHER + 1)

/* The histogram slot of an errno: HIST_OTHER if it is not documented. */
static unsigned int errno_slot(int err)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(errnos); i++)
		if (errnos[i].err == err)
			return i;
	return HIST_OTHER;
}

static const char *errno_name(int err)
{
	unsigned int i = errno_slot(err);

	return i == HIST_OTHER ? "undocumented" : errnos[i].name;
}

/* ------------------------------------------------------------- devices */

struct dev {
	unsigned int id;
	char path[64];
	struct hmmsim_info info;
	int fd[FDS_PER_DEV];		/* -1 while closed */
	/* Each file's policy, as last set (SET_POLICY), and whether it may have advice. */
	struct hmmsim_policy pol[FDS_PER_DEV];
	bool advised[FDS_PER_DEV];
	struct hmmsim_stats last;	/* the last STATS, for the counters */
	bool have_last;
	unsigned long calls;
	unsigned long uring_calls;	/* of calls, those by io_uring */
	unsigned long hist[NR_HIST];
	unsigned long failures;
	unsigned long reports;
	/* ACCESS streams that ran to the end, by the file's policy. */
	unsigned long streams[HMMSIM_POLICY_COUNTERS + 1];
	unsigned long streams_migrated;	/* pages they moved */
};

static struct dev devs[MAX_DEVICES];
static unsigned int nr_devs;
/*
 * While an io_uring batch is drawn, no file is reopened: that could open
 * the closed file a command drawn earlier in the batch names.
 */
static bool no_reopen;

static __u64 task_size;			/* the kernel's TASK_SIZE */

/* A new file starts with the default policy and no advice. */
static const struct hmmsim_policy default_policy = {
	.size = sizeof(struct hmmsim_policy),
	.migrate = HMMSIM_POLICY_REMOTE,
	.prefetch = HMMSIM_PREFETCH_NONE,
	.prefetch_pages = 16,
	.density_pct = 50,
	.counter_threshold = 8,
	.counter_window = 0,
	.thrash_threshold = 3,
	.thrash_window = 4096,
	.thrash_pin = 4096,
};

static int dev_open(struct dev *d, unsigned int slot)
{
	d->pol[slot] = default_policy;
	d->advised[slot] = false;
	return open(d->path, O_RDWR | O_CLOEXEC);
}

/* Any open file of the device; reopens one if all are closed. */
static int dev_any_fd(struct dev *d, unsigned int *slot)
{
	unsigned int i, first = rnd_below(FDS_PER_DEV);

	for (i = 0; i < FDS_PER_DEV; i++) {
		unsigned int s = (first + i) % FDS_PER_DEV;

		if (d->fd[s] >= 0) {
			if (slot)
				*slot = s;
			return d->fd[s];
		}
	}
	if (no_reopen)
		return -1;
	d->fd[first] = dev_open(d, first);
	if (slot)
		*slot = first;
	return d->fd[first];
}

/* ------------------------------------------------------------- buffers */

enum buf_kind {
	BUF_NONE,		/* nothing mapped: the slot is a hole */
	BUF_ANON,
	BUF_ANON_RO,
	BUF_ANON_NONE,
	BUF_ANON_SHARED,
	BUF_FILE_SHARED,
	BUF_FILE_PRIVATE,
	BUF_THP,
	BUF_HUGETLB,
	BUF_DEVMAP,		/* mmap() of a device file */
	BUF_CANARY,
	NR_BUF_KINDS,
};

static const char * const kind_names[NR_BUF_KINDS] = {
	[BUF_NONE] = "none",
	[BUF_ANON] = "anon",
	[BUF_ANON_RO] = "anon-ro",
	[BUF_ANON_NONE] = "anon-none",
	[BUF_ANON_SHARED] = "anon-shared",
	[BUF_FILE_SHARED] = "file-shared",
	[BUF_FILE_PRIVATE] = "file-private",
	[BUF_THP] = "thp",
	[BUF_HUGETLB] = "hugetlb",
	[BUF_DEVMAP] = "devmap",
	[BUF_CANARY] = "canary",
};

struct buf {
	enum buf_kind kind;
	char *base;
	unsigned long npages;
	unsigned char prot[BUF_MAX_PAGES];	/* PROT_* of each page */
};

static char *arena;			/* NR_SLOTS slots of SLOT_SIZE */
static struct buf bufs[NR_SLOTS];
static struct buf *canary = &bufs[SLOT_CANARY];
static int file_fd = -1;		/* the O_TMPFILE */
static int pipe_fds[2] = { -1, -1 };
static int last_closed_fd = -1;

/* The arguments: ARG_AREA_PAGES read-write pages, a guard, a read-only view. */
static char *args;
static char *args_guard;
static char *args_ro;		/* file page 0, read-only */
static char *args_ro_alias;	/* file page 0, read-write */

static __u64 sink;		/* what the CPU reads, so it is read */

static char *slot_base(unsigned int s)
{
	return arena + (unsigned long)s * SLOT_SIZE;
}

static char *slot_guard(unsigned int s)
{
	return slot_base(s) + SLOT_SIZE - page_size;
}

static __u64 ptr_u64(const void *p)
{
	return (unsigned long)p;
}

static bool page_range_has(const struct buf *b, unsigned long first,
			   unsigned long n, int prot)
{
	unsigned long i;

	for (i = first; i < first + n; i++)
		if ((b->prot[i] & prot) != prot)
			return false;
	return true;
}

/* Fill pages with random data, where they are writable. */
static void cpu_write_buf(struct buf *b, unsigned long first, unsigned long n)
{
	unsigned long i, j;

	for (i = first; i < first + n && i < b->npages; i++) {
		__u64 *w = (__u64 *)(b->base + i * page_size);
		__u64 v = rnd();

		if (!(b->prot[i] & PROT_WRITE))
			continue;
		for (j = 0; j < page_size / sizeof(*w); j += 8)
			w[j] = v + j;
	}
}

static void cpu_read_buf(const struct buf *b, unsigned long first, unsigned long n)
{
	unsigned long i, j;

	for (i = first; i < first + n && i < b->npages; i++) {
		const __u64 *w = (const __u64 *)(b->base + i * page_size);

		if (!(b->prot[i] & PROT_READ))
			continue;
		for (j = 0; j < page_size / sizeof(*w); j += 64)
			sink += w[j];
	}
}

static void buf_set_prot(struct buf *b, unsigned long first, unsigned long n,
			 int prot)
{
	memset(b->prot + first, prot, n);
}

static void buf_unmap(unsigned int s)
{
	struct buf *b = &bufs[s];

	if (b->kind == BUF_NONE)
		return;
	while (munmap(b->base, b->npages * page_size) && fault_retry(errno))
		;
	b->kind = BUF_NONE;
	b->npages = 0;
}

/* A random open device file, or -1. */
static int any_open_fd(void)
{
	unsigned int i, first = rnd_below(nr_devs);

	for (i = 0; i < nr_devs; i++) {
		struct dev *d = &devs[(first + i) % nr_devs];
		unsigned int j;

		for (j = 0; j < FDS_PER_DEV; j++)
			if (d->fd[j] >= 0)
				return d->fd[j];
	}
	return -1;
}

/* Map a buffer of the given kind in slot s, which must be empty. */
static void buf_map(unsigned int s, enum buf_kind kind)
{
	int flags = MAP_FIXED_NOREPLACE, prot = PROT_READ | PROT_WRITE, fd = -1;
	struct buf *b = &bufs[s];
	unsigned long off = 0, n;
	off_t foff = 0;
	char *p;

	if (kind == BUF_NONE)
		return;
	if (kind == BUF_THP || kind == BUF_HUGETLB) {
		n = win_pages + (kind == BUF_THP ? rnd_below(4) : 0);
	} else {
		off = rnd_below(SMALL_MAX_OFFSET);
		n = 1 + rnd_below(SMALL_MAX_PAGES);
	}

	if (kind == BUF_ANON_NONE)
		prot = PROT_NONE;
	switch (kind) {
	case BUF_ANON_NONE:
	case BUF_ANON:
	case BUF_ANON_RO:
	case BUF_THP:
		flags |= MAP_PRIVATE | MAP_ANONYMOUS;
		break;
	case BUF_HUGETLB:
		flags |= MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB;
		break;
	case BUF_ANON_SHARED:
		flags |= MAP_SHARED | MAP_ANONYMOUS;
		break;
	case BUF_FILE_SHARED:
	case BUF_FILE_PRIVATE:
		flags |= kind == BUF_FILE_SHARED ? MAP_SHARED : MAP_PRIVATE;
		fd = file_fd;
		foff = (off_t)(1 + s * FILE_PAGES_PER_SLOT) * page_size;
		break;
	case BUF_DEVMAP:
		flags |= MAP_SHARED;
		fd = any_open_fd();
		if (fd < 0) {
			kind = BUF_ANON;
			flags = MAP_FIXED_NOREPLACE | MAP_PRIVATE | MAP_ANONYMOUS;
		}
		break;
	default:
		return;
	}

	p = mmap(slot_base(s) + off * page_size, n * page_size, prot, flags,
		 fd, foff);
	if (p == MAP_FAILED && kind == BUF_HUGETLB) {
		/* No huge page free: a THP instead. */
		buf_map(s, BUF_THP);
		return;
	}
	if (p == MAP_FAILED)
		return;

	b->kind = kind;
	b->base = p;
	b->npages = n;
	buf_set_prot(b, 0, n, prot);

	if (kind == BUF_THP)
		madvise(p, n * page_size, MADV_HUGEPAGE);
	else if (kind != BUF_HUGETLB && kind != BUF_DEVMAP && one_in(2))
		madvise(p, n * page_size, MADV_NOHUGEPAGE);
	/* Half the buffers start untouched: zero pages or nothing at all. */
	if (prot != PROT_NONE && one_in(2))
		cpu_write_buf(b, 0, n);
	if (kind == BUF_ANON_RO && !mprotect(p, n * page_size, PROT_READ))
		buf_set_prot(b, 0, n, PROT_READ);
}

static enum buf_kind random_kind(void)
{
	static const unsigned int weights[] = {
		[BUF_NONE] = 2,
		[BUF_ANON] = 8,
		[BUF_ANON_RO] = 2,
		[BUF_ANON_NONE] = 1,
		[BUF_ANON_SHARED] = 2,
		[BUF_FILE_SHARED] = 2,
		[BUF_FILE_PRIVATE] = 1,
		[BUF_THP] = 3,
		[BUF_HUGETLB] = 1,
		[BUF_DEVMAP] = 1,
		[BUF_CANARY] = 0,
	};

	return pick(weights, ARRAY_SIZE(weights));
}

/* A random mapped buffer of the pool (not the canary), or NULL. */
static struct buf *random_buf(void)
{
	unsigned int i, first = rnd_below(NR_SLOTS - FIRST_POOL);

	for (i = 0; i < NR_SLOTS - FIRST_POOL; i++) {
		struct buf *b = &bufs[FIRST_POOL +
				      (first + i) % (NR_SLOTS - FIRST_POOL)];

		if (b->kind != BUF_NONE)
			return b;
	}
	return NULL;
}

/* An address in no mapping: past the buffer of a pool slot. */
static __u64 hole_addr(void)
{
	unsigned int s = FIRST_POOL + rnd_below(NR_SLOTS - FIRST_POOL);
	unsigned long first = SZ_2M / page_size + 4;
	unsigned long last = SLOT_SIZE / page_size - 1;

	if (bufs[s].kind == BUF_NONE)
		first = 0;
	return ptr_u64(slot_base(s) + (first + rnd_below(last - first)) *
		       page_size);
}

/* ------------------------------------------------------------- canary */

static unsigned int canary_seed;
static unsigned long canary_checks;
static unsigned long canary_failures;

static unsigned int canary_word(unsigned long page, unsigned long i)
{
	unsigned int v = ((unsigned int)page * 0x9e3779b1u) ^
			 ((unsigned int)i * 0x85ebca77u) ^
			 (canary_seed * 0xc2b2ae3du);

	return v | 1;
}

static void canary_fill(void)
{
	unsigned long per = page_size / sizeof(unsigned int), p, i;
	unsigned int *w = (unsigned int *)canary->base;

	for (p = 0; p < canary->npages; p++)
		for (i = 0; i < per; i++)
			*w++ = canary_word(p, i);
}

/* ------------------------------------------------------------- calls */

enum call_kind {
	CALL_CORE,
	CALL_EXT,
	CALL_BOGUS,
	CALL_BADFD,
	CALL_EVENT,
	CALL_URING,		/* an io_uring command */
};

enum {
	C_READ,
	C_WRITE,
	C_TO_DEV,
	C_TO_SYS,
	C_SNAPSHOT,
	C_EXCL,
	C_CHECK_EXCL,
	C_RELEASE,
	C_FLAGS,
	C_INFO,
	C_MIGRATE,
	C_STATS,
	C_SET_POLICY,
	C_GET_POLICY,
	C_ADVISE,
	C_ACCESS,
	NR_CMDS,
};

#define NR_EXT_CMDS	(NR_CMDS - C_INFO)

/* What a core command does with @ptr: the canary is never written. */
enum ptr_use {
	PTR_UNUSED,
	PTR_READ,		/* the device reads it (WRITE) */
	PTR_WRITTEN_PAGES,	/* the device writes npages pages there */
	PTR_WRITTEN_BYTES,	/* the device writes npages bytes (SNAPSHOT) */
};

static const struct cmd_desc {
	const char *name;
	unsigned long request;
	unsigned int weight;
	enum ptr_use ptr;
} cmds[NR_CMDS] = {
	[C_READ] = { "READ", HMM_DMIRROR_READ, 10, PTR_WRITTEN_PAGES },
	[C_WRITE] = { "WRITE", HMM_DMIRROR_WRITE, 10, PTR_READ },
	[C_TO_DEV] = { "MIGRATE_TO_DEV", HMM_DMIRROR_MIGRATE_TO_DEV, 10,
		       PTR_WRITTEN_PAGES },
	[C_TO_SYS] = { "MIGRATE_TO_SYS", HMM_DMIRROR_MIGRATE_TO_SYS, 8,
		       PTR_UNUSED },
	[C_SNAPSHOT] = { "SNAPSHOT", HMM_DMIRROR_SNAPSHOT, 7,
			 PTR_WRITTEN_BYTES },
	[C_EXCL] = { "EXCLUSIVE", HMM_DMIRROR_EXCLUSIVE, 5, PTR_WRITTEN_PAGES },
	[C_CHECK_EXCL] = { "CHECK_EXCLUSIVE", HMM_DMIRROR_CHECK_EXCLUSIVE, 4,
			   PTR_UNUSED },
	[C_RELEASE] = { "RELEASE", HMM_DMIRROR_RELEASE, 1, PTR_UNUSED },
	[C_FLAGS] = { "FLAGS", HMM_DMIRROR_FLAGS, 3, PTR_UNUSED },
	[C_INFO] = { "INFO", HMMSIM_IOCTL_INFO, 4, PTR_UNUSED },
	[C_MIGRATE] = { "HMMSIM_MIGRATE", HMMSIM_IOCTL_MIGRATE, 14, PTR_UNUSED },
	[C_STATS] = { "STATS", HMMSIM_IOCTL_STATS, 4, PTR_UNUSED },
	[C_SET_POLICY] = { "SET_POLICY", HMMSIM_IOCTL_SET_POLICY, 5,
			   PTR_UNUSED },
	[C_GET_POLICY] = { "GET_POLICY", HMMSIM_IOCTL_GET_POLICY, 2,
			   PTR_UNUSED },
	[C_ADVISE] = { "ADVISE", HMMSIM_IOCTL_ADVISE, 5, PTR_UNUSED },
	[C_ACCESS] = { "ACCESS", HMMSIM_IOCTL_ACCESS, 14, PTR_UNUSED },
};

/*
 * The io_uring commands, and the core command whose generated arguments
 * each takes: its range, and its buffer for a device read or write.
 */
enum {
	U_TO_DEV,
	U_TO_SYS,
	U_DEV_TO_DEV,
	U_PREFETCH,
	U_READ,
	U_WRITE,
	U_ADVISE,
	NR_UOPS,
};

static const struct uop_desc {
	const char *name;
	__u32 op;
	unsigned int core;
} uops[NR_UOPS] = {
	[U_TO_DEV] = { "MIGRATE_TO_DEVICE", HMMSIM_URING_MIGRATE_TO_DEVICE,
		       C_TO_DEV },
	[U_TO_SYS] = { "MIGRATE_TO_SYSTEM", HMMSIM_URING_MIGRATE_TO_SYSTEM,
		       C_TO_SYS },
	[U_DEV_TO_DEV] = { "MIGRATE_DEV_TO_DEV",
			   HMMSIM_URING_MIGRATE_DEV_TO_DEV, C_TO_DEV },
	[U_PREFETCH] = { "PREFETCH", HMMSIM_URING_PREFETCH, C_TO_SYS },
	[U_READ] = { "READ", HMMSIM_URING_READ, C_READ },
	[U_WRITE] = { "WRITE", HMMSIM_URING_WRITE, C_WRITE },
	[U_ADVISE] = { "ADVISE", HMMSIM_URING_ADVISE, C_TO_SYS },
};

#define NO_PAGES	(~0ULL)		/* a CQE without a page count */

/* Where the argument of a call is, and what the kernel can do with it. */
enum arg_state {
	ARG_OK,			/* readable and writable */
	ARG_RO,			/* readable only */
	ARG_BAD,		/* not (entirely) readable */
};

union ext {
	struct hmmsim_info info;
	struct hmmsim_migrate mig;
	struct hmmsim_stats stats;
	struct hmmsim_policy pol;
	struct hmmsim_advise adv;
	struct hmmsim_access acc;
};

struct call {
	unsigned long nr;
	unsigned int dev;
	int fd;
	enum call_kind kind;
	unsigned int cmd;
	unsigned long request;
	__u64 arg;
	enum arg_state arg_state;
	size_t arg_readable;		/* bytes readable at arg */
	const char *arg_cls;
	const char *addr_cls;
	const char *ptr_cls;
	const char *np_cls;
	const char *size_cls;
	const char *src_cls;
	const char *event;
	struct hmm_dmirror_cmd core;
	union ext ext;
	__u32 usize;
	long tail;			/* offset of a nonzero tail byte, or -1 */
	const char *must_fail;		/* why it cannot succeed, or NULL */
	int want_err;			/* the only errno it may give, or 0 */
	bool touches_canary;
	/* The new commands: the errnos it may give, exactly (see judge_exact()). */
	bool exact;
	unsigned long ok_mask;		/* BIT(errno_slot()) of each */
	bool copy_in_ok;		/* the kernel gets the structure */
	bool must_succeed;		/* io_uring ADVISE: fine and mapped */
	bool no_moves;			/* moves no page, whatever the result */
	const char *list_cls;		/* ACCESS: the LIST array's place */
	const char *model;		/* ACCESS: what the stream meets */
	unsigned long list_readable;	/* ACCESS: LIST entries readable */
	__u32 pol_migrate;		/* the file's policy at the call */
	bool pol_advised;		/* the file may have advice */
	bool done;			/* ret and err are set */
	int ret;
	int err;
	bool watched;			/* effects_watched() */
	__u64 moved_before;		/* pages_moved() before the call */
	int excl_before;		/* excl_state() before the call */
	/* CALL_URING */
	unsigned int uop;		/* index in uops[] */
	unsigned int fd_slot;		/* c->fd is devs[c->dev].fd[fd_slot] */
	__u32 cmd_op;
	const char *op_cls;
	struct hmmsim_uring_cmd uc;	/* the payload as generated */
	__u8 area[CMD_AREA];		/* the SQE's command area */
	const char *sqe_cls;
	__u8 sqe_flags;
	__u32 uring_cmd_flags;
	__u32 pad1;
	bool plain;			/* on the ring without SQE128 */
	int want_alt;			/* the other errno want_err allows */
	bool cancelable;		/* ECANCELED is an answer */
	bool fd_closed;			/* EBADF is an answer */
	__u64 pages;			/* the CQE's page count, or NO_PAGES */
};

/* What is going on, for the crash handler and the stall watchdog. */
static struct call cur;
static char cur_action[160];
static unsigned long progress_mark;	/* bumped at every step */
static unsigned long nr_calls;		/* calls issued so far */
/* -V: every call from this one on is printed (0: none). */
static unsigned long verbose_from;

static struct call canary_log[CANARY_LOG];
static unsigned long canary_log_n;

static unsigned long long ull(__u64 v)
{
	return v;
}

/* snprintf() that appends, and never overflows. */
static void append(char *buf, size_t len, const char *fmt, ...)
{
	size_t used = strlen(buf);
	va_list ap;

	if (used + 1 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}

static void describe_policy_call(const struct call *c, char *buf, size_t len)
{
	const union ext *e = &c->ext;
	const __u64 *r = e->pol.reserved;
	unsigned int i;

	append(buf, len, " size %u (%s) flags %#x", c->usize, c->size_cls,
	       e->info.flags);
	if (c->cmd == C_ACCESS) {
		const struct hmmsim_access *a = &e->acc;

		append(buf, len,
		       " addr %#llx (%s) npages %#llx (%s) pattern %u store_pct %u count %#llx stride %#llx hot %#llx+%#llx %u%% pad %#x seed %#llx ptr %#llx (%s)",
		       ull(a->addr), c->addr_cls, ull(a->npages), c->np_cls,
		       a->pattern, a->store_pct, ull(a->count), ull(a->stride),
		       ull(a->hot_offset), ull(a->hot_npages), a->hot_pct,
		       a->pad, ull(a->seed), ull(a->ptr),
		       c->list_cls ? c->list_cls : "none");
		if (a->pattern == HMMSIM_PATTERN_LIST && c->list_cls)
			append(buf, len, " (%lu entries readable)",
			       c->list_readable);
		r = a->reserved;
	} else if (c->cmd == C_ADVISE) {
		const struct hmmsim_advise *a = &e->adv;

		append(buf, len,
		       " addr %#llx (%s) npages %#llx (%s) preferred %u accessed_by %u granularity %u pad %#x",
		       ull(a->addr), c->addr_cls, ull(a->npages), c->np_cls,
		       a->preferred, a->accessed_by, a->granularity, a->pad);
		r = a->reserved;
	} else {
		const struct hmmsim_policy *p = &e->pol;

		append(buf, len,
		       " migrate %u prefetch %u pages %u density %u counter %u/%u thrash %u/%u/%u pad %#x",
		       p->migrate, p->prefetch, p->prefetch_pages,
		       p->density_pct, p->counter_threshold, p->counter_window,
		       p->thrash_threshold, p->thrash_window, p->thrash_pin,
		       p->pad);
	}
	for (i = 0; i < 4; i++)
		if (r[i])
			append(buf, len, " reserved[%u] %#llx", i, ull(r[i]));
	if (c->tail >= 0)
		append(buf, len, " nonzero tail byte at %ld", c->tail);
	append(buf, len, " [file: policy %u%s]", c->pol_migrate,
	       c->pol_advised ? ", advice" : "");
}

static void describe_ioctl(const struct call *c, char *buf, size_t len)
{
	append(buf, len, ": %s request %#lx arg %#llx (%s)",
	       c->kind == CALL_BOGUS ? "bogus" : cmds[c->cmd].name,
	       c->request, ull(c->arg), c->arg_cls);
	if (c->kind == CALL_CORE) {
		append(buf, len, " addr %#llx (%s) ptr %#llx (%s) npages %#llx (%s)",
		       ull(c->core.addr), c->addr_cls, ull(c->core.ptr),
		       c->ptr_cls, ull(c->core.npages), c->np_cls);
	} else if (c->kind == CALL_EXT && c->cmd >= C_SET_POLICY) {
		describe_policy_call(c, buf, len);
	} else if (c->kind == CALL_EXT) {
		const union ext *e = &c->ext;
		unsigned int i;

		append(buf, len, " size %u (%s) flags %#x", c->usize,
		       c->size_cls, e->info.flags);
		if (c->cmd == C_MIGRATE)
			append(buf, len,
			       " addr %#llx (%s) npages %#llx (%s) src_fd %d (%s) pad %#x",
			       ull(e->mig.addr), c->addr_cls,
			       ull(e->mig.npages), c->np_cls, e->mig.src_fd,
			       c->src_cls, e->mig.pad);
		for (i = 0; i < (c->cmd == C_STATS ? ARRAY_SIZE(e->stats.reserved) :
				 c->cmd == C_INFO ? ARRAY_SIZE(e->info.reserved) :
				 ARRAY_SIZE(e->mig.reserved)); i++) {
			__u64 r = c->cmd == C_INFO ? e->info.reserved[i] :
				  c->cmd == C_MIGRATE ? e->mig.reserved[i] :
				  e->stats.reserved[i];

			if (r)
				append(buf, len, " reserved[%u] %#llx", i,
				       ull(r));
		}
		if (c->tail >= 0)
			append(buf, len, " nonzero tail byte at %ld", c->tail);
	}
}

static void describe_uring(const struct call *c, char *buf, size_t len)
{
	const struct hmmsim_uring_cmd *u = &c->uc;
	unsigned int i;

	append(buf, len,
	       ": io_uring %s cmd_op %#x%s%s%s sqe %s%s size %u (%s) flags %#x",
	       uops[c->uop].name, c->cmd_op, c->op_cls ? " (" : "",
	       c->op_cls ? c->op_cls : "", c->op_cls ? ")" : "", c->sqe_cls,
	       c->plain ? " (ring without SQE128)" : "", u->size, c->size_cls,
	       u->flags);
	append(buf, len,
	       " addr %#llx (%s) npages %#llx (%s) ptr %#llx (%s) src_fd %d (%s) pad %#x",
	       ull(u->addr), c->addr_cls, ull(u->npages), c->np_cls,
	       ull(u->ptr), c->ptr_cls, u->src_fd,
	       c->src_cls ? c->src_cls : "none", u->pad);
	for (i = 0; i < ARRAY_SIZE(u->reserved); i++)
		if (u->reserved[i])
			append(buf, len, " reserved[%u] %#llx", i,
			       ull(u->reserved[i]));
	if (c->tail >= 0)
		append(buf, len, " nonzero tail byte at %ld", c->tail);
	if (c->cancelable)
		append(buf, len, " [canceled]");
	if (c->fd_closed)
		append(buf, len, " [file closed after submission]");
}

static void describe(const struct call *c, char *buf, size_t len)
{
	const struct dev *d = &devs[c->dev];

	buf[0] = '\0';
	append(buf, len, "call #%lu %s fd %d", c->nr, d->path, c->fd);
	if (c->kind == CALL_EVENT) {
		append(buf, len, ": %s", c->event);
		return;
	}
	if (c->kind == CALL_URING)
		describe_uring(c, buf, len);
	else
		describe_ioctl(c, buf, len);
	if (c->must_fail)
		append(buf, len, " [must fail: %s]", c->must_fail);
	if (!c->done)
		append(buf, len, " (no result yet)");
	else if (c->ret == 0)
		append(buf, len, " -> 0");
	else if (c->ret < 0)
		append(buf, len, " -> %s (%d)", errno_name(c->err), c->err);
	else
		append(buf, len, " -> returned %d", c->ret);
	if (c->kind == CALL_URING && c->done && c->pages != NO_PAGES)
		append(buf, len, ", %llu pages", ull(c->pages));
}

/* ----------------------------------------------------- hostile values */

static const struct {
	__u64 v;
	const char *name;
} hostile[] = {
	{ 0, "zero" },
	{ ~0ULL, "~0" },
	{ 0xffff888000000000ULL, "kernel-direct-map" },
	{ 0xffffffff81000000ULL, "kernel-text" },
	{ 0x0000800000000000ULL, "non-canonical-4level" },
	{ 0x8000000000000000ULL, "non-canonical" },
	{ 0x00007ffffffff000ULL, "last-user-page-4level" },
	{ 0x00007fffffffe000ULL, "below-last-user-page" },
	{ 0x00fffffffffff000ULL, "last-user-page-5level" },
	{ 0xfffffffffffff000ULL, "last-page" },
	{ 0x1000ULL, "low" },
	{ 0x10000ULL, "low-64k" },
	{ 0xfffffffffffffff8ULL, "~7" },
	{ 0x0000000100000000ULL, "4G" },
};

/* Hostile addresses that happen to be mapped here are not hostile: dropped. */
static bool hostile_ok[ARRAY_SIZE(hostile)];

static bool is_mapped(__u64 addr)
{
	unsigned char vec;

	if (addr >= task_size)
		return false;
	return !mincore((void *)(unsigned long)(addr & ~(__u64)(page_size - 1)),
			page_size, &vec);
}

static __u64 hostile_value(const char **cls)
{
	unsigned int i;

	do {
		i = rnd_below(ARRAY_SIZE(hostile));
	} while (!hostile_ok[i]);
	*cls = hostile[i].name;
	return hostile[i].v;
}

/* A page address where nothing of this program can be: [4G, 64T). */
static __u64 random_user_page(void)
{
	__u64 a = (1ULL << 32) + rnd_below((1ULL << 46) - (1ULL << 32));

	return a & ~(__u64)(page_size - 1);
}

/* A random 64-bit value, never one in the part of user space we use. */
static __u64 random_u64(void)
{
	__u64 v = rnd();

	if (v < (1ULL << 47))
		v |= 1ULL << 63;
	return v;
}

/*
 * Whether the kernel's range check must refuse [addr, addr + npages pages):
 * empty, unaligned, or leaving the user address space.
 */
static bool range_bad_for(__u64 addr, __u64 npages, __u64 top)
{
	if (!npages || (addr & (page_size - 1)))
		return true;
	if (npages > top >> page_shift)
		return true;
	return addr > top - (npages << page_shift);
}

static bool range_bad(__u64 addr, __u64 npages)
{
	return range_bad_for(addr, npages, task_size);
}

/*
 * Whether it is bad whatever the kernel's TASK_SIZE (at most 1 << 56 on any
 * 64-bit machine Linux runs on): the safe side, where limiting the work a
 * range can cause and keeping the device away from the canary.
 */
static bool range_surely_bad(__u64 addr, __u64 npages)
{
	return range_bad_for(addr, npages, (1ULL << 56) - page_size);
}

static bool overlaps(__u64 start, __u64 len, const void *base, __u64 blen)
{
	__u64 b = ptr_u64(base);
	__u64 end = start + len < start ? ~0ULL : start + len;

	return start < b + blen && end > b;
}

static bool overlaps_canary(__u64 start, __u64 len)
{
	return overlaps(start, len, canary->base, canary->npages * page_size);
}

/* The buffer an address is in, and its page there, or NULL. */
static struct buf *buf_of(__u64 addr, unsigned long *page)
{
	unsigned int s;

	for (s = SLOT_CANARY; s < NR_SLOTS; s++) {
		struct buf *b = &bufs[s];
		__u64 base = ptr_u64(b->base);

		if (b->kind == BUF_NONE || addr < base ||
		    addr >= base + b->npages * page_size)
			continue;
		*page = (addr - base) >> page_shift;
		return b;
	}
	return NULL;
}

/*
 * An address for a range or a buffer. allow_canary: it may be in the
 * canary. Sets *cls to its class.
 */
static __u64 gen_addr(bool allow_canary, const char **cls)
{
	enum {
		A_CANARY, A_BUF, A_BUF_START, A_BUF_END, A_UNALIGNED, A_HOLE,
		A_GUARD, A_BEFORE, A_HOSTILE, A_RANDOM_USER, A_RANDOM,
		NR_A,
	};
	static const unsigned int weights[NR_A] = {
		[A_CANARY] = 18, [A_BUF] = 30, [A_BUF_START] = 8,
		[A_BUF_END] = 6, [A_UNALIGNED] = 5, [A_HOLE] = 5,
		[A_GUARD] = 3, [A_BEFORE] = 2, [A_HOSTILE] = 14,
		[A_RANDOM_USER] = 3, [A_RANDOM] = 3,
	};
	unsigned int a = pick(weights, NR_A);
	struct buf *b = NULL;

	if (a == A_CANARY && !allow_canary)
		a = A_BUF;
	if (a == A_CANARY) {
		b = canary;
	} else if (a >= A_BUF && a <= A_BEFORE && a != A_HOLE &&
		   a != A_GUARD) {
		b = random_buf();
		if (!b)
			a = A_HOLE;
	}

	switch (a) {
	case A_CANARY:
		*cls = "canary";
		if (one_in(32))
			return ptr_u64(b->base);
		return ptr_u64(b->base + rnd_below(b->npages) * page_size);
	case A_BUF:
		*cls = kind_names[b->kind];
		return ptr_u64(b->base + rnd_below(b->npages) * page_size);
	case A_BUF_START:
		*cls = "buffer-start";
		return ptr_u64(b->base);
	case A_BUF_END:
		*cls = "buffer-end";
		return ptr_u64(b->base + (b->npages - 1 -
					  rnd_below(b->npages > 1 ? 2 : 1)) *
			       page_size);
	case A_UNALIGNED:
		*cls = "unaligned";
		return ptr_u64(b->base + rnd_below(b->npages) * page_size +
			       1 + rnd_below(page_size - 1));
	case A_HOLE:
		*cls = "hole";
		return hole_addr();
	case A_GUARD:
		*cls = "guard";
		if (one_in(4))
			return ptr_u64(canary->base +
				       canary->npages * page_size);
		return ptr_u64(slot_guard(FIRST_POOL +
					  rnd_below(NR_SLOTS - FIRST_POOL)));
	case A_BEFORE:
		*cls = "before-buffer";
		return ptr_u64(b->base - page_size);
	case A_HOSTILE:
		return hostile_value(cls);
	case A_RANDOM_USER:
		*cls = "random-user";
		return random_user_page();
	default:
		*cls = "random";
		return random_u64();
	}
}

/* A page count for a range at addr. */
static __u64 gen_npages(__u64 addr, const char **cls)
{
	enum {
		N_FIT, N_ONE, N_REST, N_PAST, N_THP, N_ZERO, N_ALL_ONES,
		N_2_52, N_TASK, N_5LEVEL, N_TOP_BIT, N_WRAP, N_TO_TOP,
		N_RANDOM, N_RANDOM32, NR_N,
	};
	static const unsigned int with_buf[NR_N] = {
		[N_FIT] = 50, [N_ONE] = 10, [N_REST] = 8, [N_PAST] = 6,
		[N_THP] = 3, [N_ZERO] = 3, [N_ALL_ONES] = 2, [N_2_52] = 3,
		[N_TASK] = 2, [N_5LEVEL] = 1, [N_TOP_BIT] = 1, [N_WRAP] = 3,
		[N_TO_TOP] = 3, [N_RANDOM] = 2, [N_RANDOM32] = 2,
	};
	static const unsigned int without[NR_N] = {
		[N_FIT] = 10, [N_ONE] = 10, [N_REST] = 0, [N_PAST] = 0,
		[N_THP] = 3, [N_ZERO] = 8, [N_ALL_ONES] = 6, [N_2_52] = 8,
		[N_TASK] = 6, [N_5LEVEL] = 3, [N_TOP_BIT] = 4, [N_WRAP] = 8,
		[N_TO_TOP] = 8, [N_RANDOM] = 6, [N_RANDOM32] = 6,
	};
	unsigned long page = 0, rest = 0;
	struct buf *b = buf_of(addr, &page);
	unsigned int n;

	if (b)
		rest = b->npages - page;
	n = pick(b ? with_buf : without, NR_N);
	/*
	 * Valid ranges stay small, but for a whole THP (or the canary) from
	 * its start, now and then: the calls must stay short.
	 */
	if (b && (n == N_REST || n == N_PAST) && rest > 2 * SMALL_NPAGES)
		n = N_FIT;
	if (b && n == N_THP && (addr & (SZ_2M - 1)))
		n = N_FIT;
	switch (n) {
	case N_FIT:
		*cls = "small";
		return 1 + rnd_below(rest && rest < SMALL_NPAGES ? rest :
				     SMALL_NPAGES);
	case N_ONE:
		*cls = "one";
		return 1;
	case N_REST:
		*cls = "to-buffer-end";
		return rest;
	case N_PAST:
		*cls = "past-buffer-end";
		return rest + 1 + rnd_below(3);
	case N_THP:
		*cls = "thp";
		return win_pages + rnd_below(2);
	case N_ZERO:
		*cls = "zero";
		return 0;
	case N_ALL_ONES:
		*cls = "~0";
		return ~0ULL;
	case N_2_52:
		*cls = "2^52";
		return (1ULL << 52) - 1 + rnd_below(3);
	case N_TASK:
		*cls = "task-size";
		return (task_size >> page_shift) - 1 + rnd_below(3);
	case N_5LEVEL:
		*cls = "2^44";
		return (1ULL << 44) - 1 + rnd_below(3);
	case N_TOP_BIT:
		*cls = "2^63";
		return (1ULL << 63) + rnd_below(2);
	case N_WRAP:
		/* addr + npages pages wraps around to a small address. */
		*cls = "wraps";
		return ((0 - addr) >> page_shift) + 1 + rnd_below(2);
	case N_TO_TOP:
		/* Up to the end of user space, or one page past it. */
		*cls = "to-task-size";
		if (addr >= task_size)
			return 1;
		return ((task_size - addr) >> page_shift) + rnd_below(2);
	case N_RANDOM:
		*cls = "random";
		return rnd();
	default:
		*cls = "random32";
		return rnd() & 0xffffffffULL;
	}
}

/* A user buffer for a core command; never in the canary if it is written. */
static __u64 gen_ptr(const struct call *c, bool allow_canary, const char **cls)
{
	if (c->kind == CALL_CORE && one_in(25) && c->core.addr < task_size) {
		*cls = "same-as-addr";
		return c->core.addr;
	}
	return gen_addr(allow_canary, cls);
}

/* ------------------------------------------------------- the argument */

/*
 * Put len bytes of data where the call's argument goes, and set c->arg,
 * c->arg_cls and c->arg_state.
 */
static void place_arg(struct call *c, const void *data, size_t len)
{
	enum {
		P_NORMAL, P_UNALIGNED, P_RO, P_POOL, P_STRADDLE, P_NULL,
		P_KERNEL, P_NONCANON, P_HOLE, P_GUARD, P_ALL_ONES, NR_P,
	};
	static const unsigned int weights[NR_P] = {
		[P_NORMAL] = 70, [P_UNALIGNED] = 8, [P_RO] = 5, [P_POOL] = 4,
		[P_STRADDLE] = 4, [P_NULL] = 2, [P_KERNEL] = 2,
		[P_NONCANON] = 1, [P_HOLE] = 1, [P_GUARD] = 1,
		[P_ALL_ONES] = 1,
	};
	size_t area = ARG_AREA_PAGES * page_size, off = 0, room;
	unsigned int p = pick(weights, NR_P);
	char *dst = NULL;
	struct buf *b;

	if (len > area)
		len = area;
	if (p == P_STRADDLE && len < 2)
		p = P_NORMAL;
	if (p == P_POOL) {
		/* A page of a writable buffer; the CPU writes the argument. */
		b = random_buf();
		if (b && len <= page_size) {
			off = rnd_below(b->npages);
			if (page_range_has(b, off, 1, PROT_READ | PROT_WRITE))
				dst = b->base + off * page_size;
			else
				p = P_NORMAL;
		} else {
			p = P_NORMAL;
		}
	}

	c->arg_state = ARG_BAD;
	c->arg_readable = p <= P_POOL ? SIZE_MAX : 0;
	switch (p) {
	case P_NORMAL:
		c->arg_cls = "normal";
		c->arg_state = ARG_OK;
		room = area - len;
		off = one_in(4) ? rnd_below(room / 8 + 1) * 8 : 0;
		memcpy(args + off, data, len);
		c->arg = ptr_u64(args + off);
		return;
	case P_UNALIGNED:
		c->arg_cls = "unaligned";
		c->arg_state = ARG_OK;
		if (len > area - 7)
			len = area - 7;
		off = 1 + rnd_below(7);
		memcpy(args + off, data, len);
		c->arg = ptr_u64(args + off);
		return;
	case P_RO:
		c->arg_cls = "read-only";
		c->arg_state = ARG_RO;
		if (len > page_size)
			len = page_size;
		off = rnd_below((page_size - len) / 8 + 1) * 8;
		memcpy(args_ro_alias + off, data, len);
		c->arg = ptr_u64(args_ro + off);
		return;
	case P_POOL:
		c->arg_cls = "in-buffer";
		c->arg_state = ARG_OK;
		dst += rnd_below((page_size - len) / 8 + 1) * 8;
		memcpy(dst, data, len);
		c->arg = ptr_u64(dst);
		return;
	case P_STRADDLE:
		/* Only the first part is mapped, the rest is the guard. */
		c->arg_cls = "straddles-guard";
		off = 1 + rnd_below(len - 1);
		c->arg_readable = off;
		memcpy(args_guard - off, data, off);
		c->arg = ptr_u64(args_guard - off);
		return;
	case P_NULL:
		c->arg_cls = "null";
		c->arg = 0;
		return;
	case P_KERNEL:
		c->arg_cls = "kernel";
		c->arg = one_in(2) ? 0xffff888000000000ULL :
				     0xffffffff81000000ULL;
		return;
	case P_NONCANON:
		c->arg_cls = "non-canonical";
		c->arg = one_in(2) ? 0x0000800000000000ULL :
				     0x8000000000000000ULL;
		if (c->arg < task_size)
			c->arg = 0x8000000000000000ULL;
		return;
	case P_HOLE:
		c->arg_cls = "hole";
		c->arg = hole_addr() + rnd_below(page_size / 8) * 8;
		return;
	case P_GUARD:
		c->arg_cls = "prot-none";
		c->arg = ptr_u64(args_guard);
		return;
	default:
		c->arg_cls = "~0";
		c->arg = ~0ULL - rnd_below(8);
		return;
	}
}

/* ---------------------------------------------------- building calls */

/* Keep a valid range from doing unbounded work; see the header. */
static void bound_work(struct call *c)
{
	struct hmm_dmirror_cmd *k = &c->core;

	if (range_surely_bad(k->addr, k->npages))
		return;
	if (c->cmd == C_SNAPSHOT && k->npages > SNAPSHOT_MAX_NPAGES) {
		k->npages = 1 + rnd_below(SNAPSHOT_MAX_NPAGES);
		c->np_cls = "cut";
	}
	if (c->cmd == C_CHECK_EXCL && k->npages > CHECK_EXCL_MAX_NPAGES) {
		k->npages = 1 + rnd_below(one_in(64) ? CHECK_EXCL_HUGE_NPAGES :
						       CHECK_EXCL_MAX_NPAGES);
		c->np_cls = "cut";
	}
}

static void gen_core(struct call *c)
{
	const struct cmd_desc *d = &cmds[c->cmd];
	struct hmm_dmirror_cmd *k = &c->core;
	bool ptr_written = d->ptr == PTR_WRITTEN_PAGES ||
			   d->ptr == PTR_WRITTEN_BYTES;

	k->cpages = one_in(2) ? GARBAGE : rnd();
	k->faults = one_in(2) ? GARBAGE : rnd();
	if (c->cmd == C_FLAGS) {
		static const __u64 flags[] = {
			0, HMM_DMIRROR_FLAG_FAIL_ALLOC, 2, 3, ~0ULL,
			1ULL << 63, 0x100,
		};

		k->addr = gen_addr(false, &c->addr_cls);
		k->ptr = gen_addr(false, &c->ptr_cls);
		if (one_in(8)) {
			k->npages = rnd();
			c->np_cls = "random";
		} else {
			k->npages = flags[rnd_below(ARRAY_SIZE(flags))];
			c->np_cls = "flags";
		}
		if (k->npages & ~HMM_DMIRROR_FLAG_FAIL_ALLOC)
			c->must_fail = "unknown flag";
		return;
	}

	/* The devices never write the canary. */
	k->addr = gen_addr(c->cmd != C_WRITE, &c->addr_cls);
	k->npages = gen_npages(k->addr, &c->np_cls);
	k->ptr = gen_ptr(c, !ptr_written, &c->ptr_cls);
	bound_work(c);

	if (!range_surely_bad(k->addr, k->npages)) {
		if (c->cmd == C_WRITE &&
		    overlaps_canary(k->addr, k->npages << page_shift)) {
			k->addr = hole_addr();
			c->addr_cls = "hole (not the canary)";
		}
		if (ptr_written &&
		    overlaps_canary(k->ptr, d->ptr == PTR_WRITTEN_BYTES ?
					    k->npages :
					    k->npages << page_shift)) {
			k->ptr = hole_addr();
			c->ptr_cls = "hole (not the canary)";
		}
		c->touches_canary = overlaps_canary(k->addr,
						    k->npages << page_shift);
	}
	if (range_bad(k->addr, k->npages))
		c->must_fail = "bad range";
}

/* A source file for HMMSIM_IOCTL_MIGRATE; sets *cls and, if bad, c->must_fail. */
static int gen_src_fd(struct call *c, const char **cls)
{
	enum {
		S_SYSTEM, S_OTHER_DEV, S_SAME_FD, S_SAME_DEV, S_MINUS_2,
		S_INT_MIN, S_INT_MAX, S_CLOSED, S_PIPE, S_FILE, S_SMALL,
		NR_S,
	};
	static const unsigned int weights[NR_S] = {
		[S_SYSTEM] = 40, [S_OTHER_DEV] = 35, [S_SAME_FD] = 4,
		[S_SAME_DEV] = 4, [S_MINUS_2] = 2, [S_INT_MIN] = 1,
		[S_INT_MAX] = 1, [S_CLOSED] = 4, [S_PIPE] = 2, [S_FILE] = 2,
		[S_SMALL] = 3,
	};
	unsigned int s = pick(weights, NR_S), i;
	int fd;

	switch (s) {
	case S_SYSTEM:
		*cls = "system";
		return HMMSIM_MIGRATE_FROM_SYSTEM;
	case S_OTHER_DEV:
		*cls = "other-device";
		if (nr_devs < 2)
			return HMMSIM_MIGRATE_FROM_SYSTEM;
		i = (c->dev + 1 + rnd_below(nr_devs - 1)) % nr_devs;
		fd = devs[i].fd[rnd_below(FDS_PER_DEV)];
		return fd >= 0 ? fd : dev_any_fd(&devs[i], NULL);
	case S_SAME_FD:
		*cls = "same-file";
		return c->fd;
	case S_SAME_DEV:
		*cls = "same-device";
		return devs[c->dev].fd[rnd_below(FDS_PER_DEV)];
	case S_MINUS_2:
		*cls = "-2";
		return -2;
	case S_INT_MIN:
		*cls = "INT_MIN";
		return INT_MIN;
	case S_INT_MAX:
		*cls = "INT_MAX";
		return INT_MAX;
	case S_CLOSED:
		*cls = "closed";
		return last_closed_fd >= 0 ? last_closed_fd : 1023;
	case S_PIPE:
		*cls = "pipe";
		return pipe_fds[rnd_below(2)];
	case S_FILE:
		*cls = "tmpfile";
		return file_fd;
	default:
		*cls = "small";
		return rnd_below(64);
	}
}

/* Why a source file must be refused, or NULL if it is a good one. */
static const char *src_fd_verdict(const struct call *c, int fd)
{
	unsigned int i, j;

	if (fd == HMMSIM_MIGRATE_FROM_SYSTEM)
		return NULL;
	for (i = 0; i < nr_devs; i++)
		for (j = 0; j < FDS_PER_DEV; j++)
			if (devs[i].fd[j] >= 0 && devs[i].fd[j] == fd)
				return i == c->dev ? "source is the same device" :
						     NULL;
	if (fd < 0 || fcntl(fd, F_GETFD) < 0)
		return "source file not open";
	return "source is not an hmmsim file";
}

static const size_t ext_size[] = {
	[C_INFO] = sizeof(struct hmmsim_info),
	[C_MIGRATE] = sizeof(struct hmmsim_migrate),
	[C_STATS] = sizeof(struct hmmsim_stats),
	[C_SET_POLICY] = sizeof(struct hmmsim_policy),
	[C_GET_POLICY] = sizeof(struct hmmsim_policy),
	[C_ADVISE] = sizeof(struct hmmsim_advise),
	[C_ACCESS] = sizeof(struct hmmsim_access),
};

static const size_t ext_min[] = {
	[C_INFO] = HMMSIM_INFO_SIZE_VER0,
	[C_MIGRATE] = HMMSIM_MIGRATE_SIZE_VER0,
	[C_STATS] = HMMSIM_STATS_SIZE_VER0,
	[C_SET_POLICY] = HMMSIM_POLICY_SIZE_VER0,
	[C_GET_POLICY] = HMMSIM_POLICY_SIZE_VER0,
	[C_ADVISE] = HMMSIM_ADVISE_SIZE_VER0,
	[C_ACCESS] = HMMSIM_ACCESS_SIZE_VER0,
};

static void gen_policy_call(struct call *c);
static void gen_advise_call(struct call *c);
static void gen_access_call(struct call *c);

/* A hostile flags or reserved value: zero most of the time. */
static __u64 maybe_nonzero(unsigned int one_in_n)
{
	static const __u64 v[] = { 1, 0x80000000, ~0ULL, 1ULL << 63, 2 };

	if (!one_in(one_in_n))
		return 0;
	return one_in(2) ? v[rnd_below(ARRAY_SIZE(v))] : rnd() | 1;
}

/*
 * A hostile @size for a structure of @ks bytes, at least @min for the ABI;
 * sets c->size_cls, and *dirty for a bigger one with a nonzero tail byte.
 */
static __u32 gen_size(struct call *c, size_t ks, size_t min, bool *dirty)
{
	enum {
		Z_ZERO, Z_SMALL, Z_SHORT, Z_EXACT, Z_BIGGER, Z_BIGGER_DIRTY,
		Z_PAGE, Z_PAGE_PLUS, Z_HUGE, NR_Z,
	};
	static const unsigned int weights[NR_Z] = {
		[Z_ZERO] = 2, [Z_SMALL] = 2, [Z_SHORT] = 2, [Z_EXACT] = 70,
		[Z_BIGGER] = 10, [Z_BIGGER_DIRTY] = 4, [Z_PAGE] = 3,
		[Z_PAGE_PLUS] = 2, [Z_HUGE] = 2,
	};
	static const __u32 huge[] = { 0xffffffff, 0x80000000, 1 << 20, 8193 };
	unsigned int z = pick(weights, NR_Z);

	*dirty = z == Z_BIGGER_DIRTY;
	switch (z) {
	case Z_ZERO:
		c->size_cls = "zero";
		return 0;
	case Z_SMALL:
		c->size_cls = "small";
		return 1 + rnd_below(8);
	case Z_SHORT:
		c->size_cls = "short";
		return min - 1 - rnd_below(8);
	case Z_EXACT:
		c->size_cls = "exact";
		return ks;
	case Z_BIGGER:
	case Z_BIGGER_DIRTY:
		c->size_cls = z == Z_BIGGER ? "bigger" : "bigger-dirty-tail";
		return ks + 1 + rnd_below(one_in(2) ? 16 : page_size - ks);
	case Z_PAGE:
		c->size_cls = "page";
		return page_size;
	case Z_PAGE_PLUS:
		c->size_cls = "page+1";
		return page_size + 1;
	default:
		c->size_cls = "huge";
		return huge[rnd_below(ARRAY_SIZE(huge))];
	}
}

static void gen_ext(struct call *c, unsigned char *data, size_t *len)
{
	size_t ks = ext_size[c->cmd], area = ARG_AREA_PAGES * page_size;
	union ext *e = &c->ext;
	unsigned int i;
	bool dirty;
	__u32 usize;

	memset(e, 0, sizeof(*e));
	c->tail = -1;
	usize = gen_size(c, ks, ext_min[c->cmd], &dirty);
	c->usize = usize;

	/* Output fields go in as garbage; they are ignored. */
	if (c->cmd == C_SET_POLICY || c->cmd == C_GET_POLICY) {
		gen_policy_call(c);
	} else if (c->cmd == C_ADVISE) {
		gen_advise_call(c);
	} else if (c->cmd == C_ACCESS) {
		gen_access_call(c);
	} else if (c->cmd == C_INFO) {
		e->info.flags = maybe_nonzero(12);
		if (one_in(2)) {
			e->info.abi_version = rnd();
			e->info.type = rnd();
			e->info.capacity = GARBAGE;
		}
		/*
		 * @fault_batch and @fault_latency_us are outputs only: their
		 * values on input are ignored, so passing an earlier INFO's
		 * structure again works.
		 */
		if (one_in(16)) {
			e->info.fault_batch = one_in(2) ? 256 : rnd();
			e->info.fault_latency_us = one_in(2) ? 0 : rnd();
		}
		/* @caps is an output too, but must come in as zero. */
		e->info.caps = maybe_nonzero(12);
		e->info.reserved[rnd_below(ARRAY_SIZE(e->info.reserved))] =
			maybe_nonzero(12);
	} else if (c->cmd == C_STATS) {
		e->stats.flags = maybe_nonzero(12);
		if (one_in(2))
			e->stats.to_device = GARBAGE;
		e->stats.reserved[rnd_below(ARRAY_SIZE(e->stats.reserved))] =
			maybe_nonzero(12);
	} else {
		struct hmmsim_migrate *m = &e->mig;

		if (one_in(10))
			m->flags = maybe_nonzero(1);
		else if (one_in(3))
			m->flags = HMMSIM_MIGRATE_TO_SYSTEM;
		m->addr = gen_addr(true, &c->addr_cls);
		m->npages = gen_npages(m->addr, &c->np_cls);
		m->src_fd = gen_src_fd(c, &c->src_cls);
		/* To system memory, the source is system memory... mostly. */
		if ((m->flags & HMMSIM_MIGRATE_TO_SYSTEM) && !one_in(8)) {
			m->src_fd = HMMSIM_MIGRATE_FROM_SYSTEM;
			c->src_cls = "system";
		}
		m->pad = maybe_nonzero(16);
		m->cpages = GARBAGE;
		m->reserved[rnd_below(4)] = maybe_nonzero(16);
		c->touches_canary = !range_surely_bad(m->addr, m->npages) &&
				    overlaps_canary(m->addr,
						    m->npages << page_shift);
	}
	e->info.size = usize;

	/* What goes in memory: the struct, cut or with a tail. */
	*len = usize < ks ? (usize < 4 ? 4 : usize) : usize;
	if (*len > area)
		*len = area;
	memset(data, 0, *len);
	memcpy(data, e, *len < ks ? *len : ks);
	if (dirty && *len > ks) {
		c->tail = ks + rnd_below(*len - ks);
		data[c->tail] = 1 + rnd_below(255);
	}

	/* What the ABI says about it. */
	if (usize < ext_min[c->cmd]) {
		c->must_fail = "size below the first version";
	} else if (c->tail >= 0) {
		c->must_fail = "nonzero tail";
	} else if (c->cmd >= C_SET_POLICY) {
		/* judged exactly: ext_verdict(), once the argument is placed */
	} else if (c->cmd == C_MIGRATE) {
		const struct hmmsim_migrate *m = &e->mig;

		for (i = 0; i < ARRAY_SIZE(m->reserved); i++)
			if (m->reserved[i])
				c->must_fail = "nonzero reserved";
		if (m->pad)
			c->must_fail = "nonzero pad";
		else if (m->flags & ~HMMSIM_MIGRATE_TO_SYSTEM)
			c->must_fail = "unknown flag";
		else if ((m->flags & HMMSIM_MIGRATE_TO_SYSTEM) &&
			 m->src_fd != HMMSIM_MIGRATE_FROM_SYSTEM)
			c->must_fail = "source file with TO_SYSTEM";
		else if (range_bad(m->addr, m->npages))
			c->must_fail = "bad range";
		else if (!c->must_fail)
			c->must_fail = src_fd_verdict(c, m->src_fd);
	} else {
		const __u64 *r = c->cmd == C_INFO ? e->info.reserved :
				 e->stats.reserved;
		unsigned int n = c->cmd == C_INFO ?
				 ARRAY_SIZE(e->info.reserved) :
				 ARRAY_SIZE(e->stats.reserved);

		for (i = 0; i < n; i++)
			if (r[i])
				c->must_fail = "nonzero reserved";
		if (c->cmd == C_INFO && e->info.caps)
			c->must_fail = "nonzero caps (an output)";
		if (e->info.flags)
			c->must_fail = "nonzero flags";
	}

	/* Extension commands match on number and direction only. */
	c->request = cmds[c->cmd].request;
	if (one_in(8)) {
		c->request = _IOC(_IOC_DIR(c->request), HMMSIM_IOCTL_TYPE,
				  _IOC_NR(c->request), rnd_below(1 << 14));
	}
}

/* ------------------------------------------------- the device's policy */

/*
 * The policy commands (SET_POLICY, GET_POLICY, ADVISE, ACCESS) are judged
 * exactly: each call gets the set of answers the ABI allows it (ok_mask:
 * success and errnos), from its fields, where its argument lies and, for
 * ACCESS, what each access of its stream meets. The stream is drawn here as
 * the driver draws it (policy.c: the same xorshift64* from the same seed),
 * so that every page it touches, and whether it stores there, is known.
 *
 * A store adds one to the first word of its page: a stream stores only
 * into the pool's slots, never into the canary (its range must lie in the
 * pool, or its stores are dropped); it may load from anywhere.
 */

#define ACCESS_MAX_COUNT	300	/* accesses of a valid stream, at most */
#define STREAM_SEED0		0x9e3779b97f4a7c15ULL	/* the driver's seed 0 */

/* The answers a call may give: bit errno_slot() of each, bit 0 for success. */
#define OK(err)			_BITUL(errno_slot(err))
#define ACCESS_UNKNOWN		(OK(0) | OK(EFAULT) | OK(EPERM))

static char *list_area;		/* a page for LIST arrays, a guard after it */
static char *list_ro;		/* a read-only view of a file page */
static char *list_ro_alias;	/* the same page, writable */
static __u64 list_copy[ACCESS_MAX_COUNT];	/* the last LIST array drawn */

static unsigned int log2_win(void)
{
	return __builtin_ctzl(win_pages);
}

static bool pow2_upto(__u64 v, __u64 max)
{
	return v && !(v & (v - 1)) && v <= max;
}

/* Why policy settings must be refused (EINVAL), or NULL. */
static const char *policy_bad(const struct hmmsim_policy *p)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(p->reserved); i++)
		if (p->reserved[i])
			return "nonzero reserved";
	if (p->flags)
		return "nonzero flags";
	if (p->pad)
		return "nonzero pad";
	if (p->migrate > HMMSIM_POLICY_COUNTERS)
		return "unknown migrate policy";
	if (p->prefetch > HMMSIM_PREFETCH_DENSITY)
		return "unknown prefetch policy";
	if (!pow2_upto(p->prefetch_pages, win_pages))
		return "prefetch_pages not a power of two up to 2 MiB";
	if (!p->density_pct || p->density_pct > 100)
		return "density_pct not 1 to 100";
	if (!p->counter_threshold)
		return "zero counter_threshold";
	if (p->thrash_threshold > HMMSIM_MAX_THRASH_THRESHOLD)
		return "thrash_threshold above its maximum";
	if (!p->thrash_window)
		return "zero thrash_window";
	if (!p->thrash_pin)
		return "zero thrash_pin";
	return NULL;
}

/* SET_POLICY: settings, valid most of the time; GET_POLICY: the same, ignored. */
static void gen_policy_call(struct call *c)
{
	static const unsigned int migrate_weights[] = { 3, 5, 4 };
	struct hmmsim_policy *p = &c->ext.pol;

	p->migrate = pick(migrate_weights, ARRAY_SIZE(migrate_weights));
	p->prefetch = rnd_below(3);
	p->prefetch_pages = 1U << rnd_below(log2_win() + 1);
	p->density_pct = 1 + rnd_below(100);
	p->counter_threshold = one_in(8) ? ~0U : 1 + rnd_below(8);
	p->counter_window = one_in(2) ? 0 : one_in(8) ? ~0U : 1 + rnd_below(512);
	p->thrash_threshold = one_in(8) ? ~0U : rnd_below(5);
	p->thrash_window = one_in(8) ? ~0U : 1 + rnd_below(2048);
	p->thrash_pin = one_in(8) ? ~0U : 1 + rnd_below(2048);
	if (one_in(5)) {
		/* One setting out of its range. */
		switch (rnd_below(8)) {
		case 0:
			p->migrate = one_in(2) ? 3 : rnd();
			break;
		case 1:
			p->prefetch = one_in(2) ? 3 : rnd();
			break;
		case 2:
			p->prefetch_pages = one_in(2) ? 0 :
					    one_in(2) ? 3 + 2 * rnd_below(256) :
					    win_pages << (1 + rnd_below(8));
			break;
		case 3:
			p->density_pct = one_in(2) ? 0 : 101 + rnd_below(1000);
			break;
		case 4:
			p->counter_threshold = 0;
			break;
		case 5:
			p->thrash_window = 0;
			break;
		case 6:
			p->thrash_pin = 0;
			break;
		default:
			p->prefetch_pages = rnd();
			break;
		}
	}
	p->flags = maybe_nonzero(16);
	p->pad = maybe_nonzero(16);
	p->reserved[rnd_below(ARRAY_SIZE(p->reserved))] = maybe_nonzero(16);
}

/* Why advice must be refused (EINVAL), or NULL: hmmsim_advise's own fields. */
static const char *advise_bad(const struct hmmsim_advise *a)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(a->reserved); i++)
		if (a->reserved[i])
			return "nonzero reserved";
	if (a->flags)
		return "nonzero flags";
	if (a->pad)
		return "nonzero pad";
	if (a->preferred > HMMSIM_LOCATION_DEVICE)
		return "unknown preferred location";
	if (a->accessed_by > 1)
		return "accessed_by not 0 or 1";
	if (a->granularity && !pow2_upto(a->granularity, win_pages))
		return "granularity not a power of two up to 2 MiB";
	return NULL;
}

/* Why HMMSIM_URING_ADVISE's packed advice must be refused, or NULL. */
static const char *advice_flags_bad(__u32 f)
{
	/* Bits 0-1 the location, bit 2 accessed-by, 4-7 the granularity. */
	if (f & ~0xf7U)
		return "unknown flag";
	if (HMMSIM_URING_ADVISE_PREFERRED(f) > HMMSIM_LOCATION_DEVICE)
		return "unknown preferred location";
	if ((f >> 4) > log2_win() + 1)
		return "granularity above 2 MiB";
	return NULL;
}

/* Packed advice for HMMSIM_URING_ADVISE: valid most of the time. */
static __u32 gen_advice_flags(void)
{
	__u32 f = HMMSIM_URING_ADVISE_PREFERRED(rnd_below(3));

	if (one_in(4))
		f |= HMMSIM_URING_ADVISE_ACCESSED_BY;
	if (one_in(2))
		f |= HMMSIM_URING_ADVISE_GRANULARITY(rnd_below(log2_win() + 1));
	if (one_in(6))
		f = 0;		/* removes the range's advice */
	if (one_in(8)) {
		switch (rnd_below(4)) {
		case 0:
			f |= 3;				/* no such location */
			break;
		case 1:
			f |= 1U << 3;			/* no such bit */
			break;
		case 2:
			f = (f & 0xf) | (log2_win() + 2 + rnd_below(15 - log2_win() - 1)) << 4;
			break;
		default:
			f |= 1U << (8 + rnd_below(24));
			break;
		}
	}
	return f;
}

/*
 * Whether every page of [addr, +npages) is mapped (a PROT_NONE guard
 * counts): 1 or 0, or -1 for a range too long to ask mincore() about.
 */
static int range_mapped(__u64 addr, __u64 npages)
{
	static unsigned char vec[1 << 16];

	if (npages > sizeof(vec))
		return -1;
	if (!mincore((void *)(unsigned long)addr, npages << page_shift, vec))
		return 1;
	return errno == ENOMEM ? 0 : -1;
}

/* A range for ADVISE and ACCESS: a whole buffer now and then. */
static void gen_policy_range(struct call *c, __u64 *addr, __u64 *npages)
{
	struct buf *b = one_in(3) ? random_buf() : NULL;

	if (b) {
		*addr = ptr_u64(b->base);
		*npages = b->npages;
		c->addr_cls = kind_names[b->kind];
		c->np_cls = "whole-buffer";
	} else {
		*addr = gen_addr(true, &c->addr_cls);
		*npages = gen_npages(*addr, &c->np_cls);
	}
	c->touches_canary = !range_surely_bad(*addr, *npages) &&
			    overlaps_canary(*addr, *npages << page_shift);
}

static void gen_advise_call(struct call *c)
{
	static const __u32 bad_gran[] = { 3, 0x80000000, ~0U, 6 };
	struct hmmsim_advise *a = &c->ext.adv;

	gen_policy_range(c, &a->addr, &a->npages);
	a->preferred = one_in(16) ? (one_in(2) ? 3 : rnd()) : rnd_below(3);
	a->accessed_by = one_in(16) ? (one_in(2) ? 2 : rnd()) : one_in(4);
	a->granularity = one_in(2) ? 0 : 1U << rnd_below(log2_win() + 1);
	if (one_in(16))
		a->granularity = one_in(2) ? win_pages << 1 :
					     bad_gran[rnd_below(ARRAY_SIZE(bad_gran))];
	if (one_in(6)) {
		/* No advice: the range's goes. */
		a->preferred = 0;
		a->accessed_by = 0;
		a->granularity = 0;
	}
	a->flags = maybe_nonzero(16);
	a->pad = maybe_nonzero(16);
	a->reserved[rnd_below(ARRAY_SIZE(a->reserved))] = maybe_nonzero(16);
	/* Whatever comes of it, the file may have advice from now on. */
	devs[c->dev].advised[c->fd_slot] = true;
}

/* Why a stream must be refused before it runs (EINVAL), or NULL. */
static const char *access_bad(const struct hmmsim_access *a)
{
	bool list = a->pattern == HMMSIM_PATTERN_LIST;
	bool hot = a->pattern == HMMSIM_PATTERN_HOT;
	bool strided = a->pattern == HMMSIM_PATTERN_STRIDED;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(a->reserved); i++)
		if (a->reserved[i])
			return "nonzero reserved";
	if (a->flags)
		return "nonzero flags";
	if (a->pad)
		return "nonzero pad";
	if (a->pattern > HMMSIM_PATTERN_LIST)
		return "unknown pattern";
	if (a->store_pct > 100)
		return "store_pct above 100";
	if (list && a->store_pct)
		return "store_pct with a list";
	if (!a->count || a->count > 1ULL << 32)
		return "count not 1 to 2^32";
	if (strided != !!a->stride)
		return strided ? "zero stride" : "stride without STRIDED";
	if (list != !!a->ptr)
		return list ? "no list" : "ptr without LIST";
	if (!hot && (a->hot_offset || a->hot_npages || a->hot_pct))
		return "hot set without HOT";
	if (hot && (!a->hot_npages || a->hot_npages >= a->npages ||
		    a->hot_offset > a->npages - a->hot_npages ||
		    a->hot_pct > 100))
		return "bad hot set";
	return NULL;
}

/* The LIST array: its entries in list_copy[], placed somewhere. */
static void gen_list(struct call *c, bool stores)
{
	enum {
		L_NORMAL, L_UNALIGNED, L_RO, L_STRADDLE, L_NULL, L_KERNEL,
		L_HOLE, L_NONCANON, NR_L,
	};
	static const unsigned int weights[NR_L] = {
		[L_NORMAL] = 60, [L_UNALIGNED] = 8, [L_RO] = 8,
		[L_STRADDLE] = 8, [L_NULL] = 2, [L_KERNEL] = 3, [L_HOLE] = 3,
		[L_NONCANON] = 2,
	};
	struct hmmsim_access *a = &c->ext.acc;
	unsigned long n = a->count < ACCESS_MAX_COUNT ? a->count :
						       ACCESS_MAX_COUNT;
	unsigned long i, m, off;
	__u64 page;
	char *dst;

	for (i = 0; i < n; i++) {
		if (one_in(64)) {
			/* Beyond the range: the stream stops there, EINVAL. */
			page = one_in(2) ? a->npages + rnd_below(4) :
			       one_in(2) ? ~HMMSIM_ACCESS_STORE : rnd();
		} else if (i && one_in(3)) {
			/* Next to the last one: a sweep, for the prefetch. */
			page = ((list_copy[i - 1] & ~HMMSIM_ACCESS_STORE) + 1) %
			       (a->npages ? a->npages : 1);
		} else {
			page = rnd_below(a->npages);
		}
		list_copy[i] = page;
		if (one_in(3) && (stores || page >= a->npages))
			list_copy[i] |= HMMSIM_ACCESS_STORE;
	}

	c->list_readable = 0;
	switch (pick(weights, NR_L)) {
	case L_NORMAL:
		c->list_cls = "normal";
		off = rnd_below(page_size / 8 - n + 1) * 8;
		dst = list_area + off;
		a->ptr = ptr_u64(dst);
		c->list_readable = n;
		break;
	case L_UNALIGNED:
		c->list_cls = "unaligned";
		dst = list_area + 1 + rnd_below(7);
		a->ptr = ptr_u64(dst);
		c->list_readable = n;
		break;
	case L_RO:
		c->list_cls = "read-only";
		off = rnd_below(page_size / 8 - n + 1) * 8;
		dst = list_ro_alias + off;
		a->ptr = ptr_u64(list_ro + off);
		c->list_readable = n;
		break;
	case L_STRADDLE:
		/* The first m entries, and a part of the next, before the guard. */
		c->list_cls = "straddles-guard";
		m = rnd_below(n);
		off = one_in(2) ? rnd_below(8) : 0;
		dst = list_area + page_size - m * 8 - off;
		a->ptr = ptr_u64(dst);
		c->list_readable = m;
		memcpy(dst, list_copy, m * 8 + off);
		return;
	case L_NULL:
		c->list_cls = "null";
		a->ptr = 0;
		return;
	case L_KERNEL:
		c->list_cls = "kernel";
		a->ptr = one_in(2) ? 0xffff888000000000ULL : 0xffffffff81000000ULL;
		return;
	case L_HOLE:
		c->list_cls = "hole";
		a->ptr = hole_addr();
		return;
	default:
		c->list_cls = "non-canonical";
		a->ptr = 0x8000000000000000ULL;
		return;
	}
	memcpy(dst, list_copy, n * 8);
}

/*
 * Whether a stream on [addr, +npages) may store: only into the pool, never
 * into the canary nor the program's own memory.
 */
static bool stores_allowed(__u64 addr, __u64 npages)
{
	__u64 lo = ptr_u64(slot_base(FIRST_POOL)), hi = ptr_u64(slot_base(NR_SLOTS));

	return !range_surely_bad(addr, npages) && addr >= lo && addr < hi &&
	       npages <= (hi - addr) >> page_shift;
}

static void gen_access_call(struct call *c)
{
	static const __u64 bad_counts[] = {
		0, (1ULL << 32) + 1, ~0ULL, 1ULL << 63,
	};
	struct hmmsim_access *a = &c->ext.acc;
	bool stores;

	gen_policy_range(c, &a->addr, &a->npages);
	stores = stores_allowed(a->addr, a->npages);
	a->pattern = rnd_below(HMMSIM_PATTERN_LIST + 1);
	if (one_in(24))
		a->pattern = one_in(2) ? HMMSIM_PATTERN_LIST + 1 + rnd_below(4) :
					 rnd();
	a->count = 1 + rnd_below(one_in(4) ? ACCESS_MAX_COUNT : 64);
	if (one_in(24))
		a->count = bad_counts[rnd_below(ARRAY_SIZE(bad_counts))];
	a->store_pct = one_in(3) ? 0 : one_in(4) ? 100 : rnd_below(101);
	if (one_in(24))
		a->store_pct = one_in(2) ? 101 : rnd();
	a->seed = one_in(8) ? 0 : rnd();

	switch (a->pattern) {
	case HMMSIM_PATTERN_STRIDED:
		a->stride = one_in(8) ? ~0ULL - rnd_below(2) :
			    1 + rnd_below(a->npages < 512 ? 2 * a->npages : 1024);
		if (one_in(24))
			a->stride = 0;
		break;
	case HMMSIM_PATTERN_HOT:
		if (a->npages >= 2) {
			a->hot_npages = 1 + rnd_below(a->npages - 1 < 512 ?
						      a->npages - 1 : 512);
			a->hot_offset = rnd_below(a->npages - a->hot_npages + 1);
			a->hot_pct = rnd_below(101);
		} else {
			a->hot_npages = 1;	/* no room for it */
		}
		if (one_in(8)) {
			switch (rnd_below(4)) {
			case 0:
				a->hot_npages = one_in(2) ? 0 : a->npages;
				break;
			case 1:
				a->hot_offset = a->npages - a->hot_npages + 1;
				break;
			case 2:
				a->hot_offset = ~0ULL;
				break;
			default:
				a->hot_pct = one_in(2) ? 101 : rnd();
				break;
			}
		}
		break;
	case HMMSIM_PATTERN_LIST:
		if (!one_in(16))
			a->store_pct = 0;
		gen_list(c, stores);
		break;
	}
	/* Fields of another pattern. */
	if (one_in(32) && a->pattern != HMMSIM_PATTERN_STRIDED)
		a->stride = 1 + rnd_below(8);
	if (one_in(32) && a->pattern != HMMSIM_PATTERN_HOT)
		a->hot_pct = 1 + rnd_below(100);
	if (one_in(32) && a->pattern != HMMSIM_PATTERN_LIST)
		a->ptr = gen_addr(false, &c->list_cls);
	if (!stores && a->pattern != HMMSIM_PATTERN_LIST && a->store_pct <= 100)
		a->store_pct = 0;

	a->flags = maybe_nonzero(24);
	a->pad = maybe_nonzero(24);
	a->reserved[rnd_below(ARRAY_SIZE(a->reserved))] = maybe_nonzero(24);
	/* The outputs go in as garbage. */
	if (one_in(2)) {
		a->done = GARBAGE;
		a->faults = rnd();
		a->migrated = GARBAGE;
		a->checksum = rnd();
	}
}

/* The driver's stream (hmmsim_stream_page(), hmmsim_stream_issue()). */
struct stream_sim {
	__u64 rng;
	__u64 pos;
	__u64 step;
};

static __u64 sim_random(struct stream_sim *st)
{
	st->rng ^= st->rng >> 12;
	st->rng ^= st->rng << 25;
	st->rng ^= st->rng >> 27;
	return st->rng * 0x2545f4914f6cdd1dULL;
}

static __u64 sim_below(struct stream_sim *st, __u64 n)
{
	return (__u64)(((__uint128_t)sim_random(st) * n) >> 64);
}

static __u64 sim_page(struct stream_sim *st, const struct hmmsim_access *a)
{
	__u64 cold, page = st->pos;

	switch (a->pattern) {
	case HMMSIM_PATTERN_SEQUENTIAL:
	case HMMSIM_PATTERN_STRIDED:
		st->pos += st->step;
		if (st->pos >= a->npages)
			st->pos -= a->npages;
		return page;
	case HMMSIM_PATTERN_RANDOM:
		return sim_below(st, a->npages);
	}
	if (sim_below(st, 100) < a->hot_pct)
		return a->hot_offset + sim_below(st, a->hot_npages);
	cold = sim_below(st, a->npages - a->hot_npages);
	return cold < a->hot_offset ? cold : cold + a->hot_npages;
}

/*
 * What a device access at @addr may give: OK(0) where it is served,
 * EFAULT where the device cannot fault it in (a hole, PROT_NONE), EPERM
 * for a store the process may not do; all three where this program cannot
 * tell (memory not its own buffers, the device's own mmap()).
 */
static unsigned long access_answers(__u64 addr, bool store)
{
	unsigned long page;
	struct buf *b = buf_of(addr, &page);
	unsigned int s;

	if (!b) {
		if (!is_mapped(addr) ||
		    addr == ptr_u64(canary->base + canary->npages * page_size))
			return OK(EFAULT);
		for (s = SLOT_CANARY; s < NR_SLOTS; s++)
			if (addr == ptr_u64(slot_guard(s)))
				return OK(EFAULT);
		return ACCESS_UNKNOWN;
	}
	if (b->kind == BUF_DEVMAP)
		return ACCESS_UNKNOWN;
	if (!(b->prot[page] & PROT_READ))
		return store ? OK(EFAULT) | OK(EPERM) : OK(EFAULT);
	if (store && !(b->prot[page] & PROT_WRITE))
		return OK(EPERM);
	return OK(0);
}

/*
 * The answers a valid stream may give, from the accesses it makes in order:
 * it fails with the errno of one of its bad accesses (which one depends on
 * the batches), stops at the first list entry beyond the range (EINVAL) or
 * that it cannot read (EFAULT), and succeeds only if every access can be
 * served. The driver reads a LIST array a group of entries at a time, as
 * many as its fault buffer has room for: an array it cannot read to the
 * end can give EFAULT before any entry is looked at. Sets c->model.
 */
static unsigned long access_run_answers(struct call *c)
{
	const struct hmmsim_access *a = &c->ext.acc;
	struct stream_sim st = { .rng = a->seed ? a->seed : STREAM_SEED0 };
	bool list = a->pattern == HMMSIM_PATTERN_LIST, can_succeed = true;
	unsigned long errs = 0, ans, loads = 0, stores = 0, unknown = 0;
	__u64 k, page;
	bool store;

	if (a->pattern == HMMSIM_PATTERN_SEQUENTIAL)
		st.step = 1 % a->npages;
	else if (a->pattern == HMMSIM_PATTERN_STRIDED)
		st.step = a->stride % a->npages;
	c->model = "every access served";
	if (list && c->list_readable < a->count) {
		c->model = "list unreadable";
		errs |= OK(EFAULT);
		can_succeed = false;
	}
	for (k = 0; k < a->count; k++) {
		if (list) {
			if (k >= c->list_readable)
				break;
			store = list_copy[k] & HMMSIM_ACCESS_STORE;
			page = list_copy[k] & ~HMMSIM_ACCESS_STORE;
			if (page >= a->npages) {
				c->model = "list entry beyond the range";
				errs |= OK(EINVAL);
				can_succeed = false;
				break;
			}
		} else {
			page = sim_page(&st, a);
			store = a->store_pct &&
				sim_below(&st, 100) < a->store_pct;
		}
		ans = access_answers(a->addr + (page << page_shift), store);
		if (ans == ACCESS_UNKNOWN)
			unknown++;
		else if (!(ans & OK(0)))
			can_succeed = false;
		if (store)
			stores++;
		else
			loads++;
		errs |= ans & ~OK(0);
	}
	if (!can_succeed && c->model[0] == 'e')
		c->model = "a bad access";
	else if (unknown && can_succeed)
		c->model = "accesses to memory of unknown kind";
	return errs | (can_succeed ? OK(0) : 0);
}

/*
 * The answers of one of the policy commands, once its argument is placed:
 * hmmsim_copy_ext_from_user() first (@size from its first 4 bytes, its
 * bounds, then copy_struct_from_user(), which checks the tail first), then
 * the command's own checks; sets c->exact, c->ok_mask, c->must_fail.
 */
static void ext_verdict(struct call *c)
{
	size_t r = c->arg_readable;
	unsigned long ok = 0;
	const char *why = NULL;
	const union ext *e = &c->ext;
	bool prerun = true;
	int mapped;

	c->exact = true;
	c->copy_in_ok = false;
	c->pol_migrate = devs[c->dev].pol[c->fd_slot].migrate;
	c->pol_advised = devs[c->dev].advised[c->fd_slot];
	if (r < 4) {
		why = "unreadable argument";
		ok = OK(EFAULT);
	} else if (c->usize < ext_min[c->cmd]) {
		why = "size below the first version";
		ok = OK(EINVAL);
	} else if (c->usize > page_size) {
		why = "size above a page";
		ok = OK(E2BIG);
	} else if (r < c->usize) {
		why = "unreadable argument";
		ok = OK(EFAULT);
		if (c->tail >= 0 && (size_t)c->tail < r)
			ok |= OK(E2BIG);
	} else if (c->tail >= 0) {
		why = "nonzero tail";
		ok = OK(E2BIG);
	}
	if (why) {
		c->must_fail = why;
		c->ok_mask = ok;
		c->no_moves = true;
		return;
	}
	c->copy_in_ok = true;

	switch (c->cmd) {
	case C_SET_POLICY:
		why = policy_bad(&e->pol);
		ok = why ? OK(EINVAL) : OK(0);
		break;
	case C_GET_POLICY:
		why = policy_bad(&(struct hmmsim_policy){
			.flags = e->pol.flags, .pad = e->pol.pad,
			.reserved = { e->pol.reserved[0], e->pol.reserved[1],
				      e->pol.reserved[2], e->pol.reserved[3] },
			.prefetch_pages = 1, .density_pct = 1,
			.counter_threshold = 1, .thrash_window = 1,
			.thrash_pin = 1 });
		ok = why ? OK(EINVAL) : OK(0);
		if (!why && c->arg_state == ARG_RO) {
			why = "read-only argument";
			ok = OK(EFAULT);
		}
		break;
	case C_ADVISE:
		why = advise_bad(&e->adv);
		if (!why && range_bad(e->adv.addr, e->adv.npages))
			why = "bad range";
		if (why) {
			ok = OK(EINVAL);
			break;
		}
		/* ENOSPC: more than 4096 ranges with advice in the file. */
		mapped = range_mapped(e->adv.addr, e->adv.npages);
		if (!mapped)
			why = "a hole in the range";
		ok = !mapped ? OK(EINVAL) : mapped > 0 ? OK(0) | OK(ENOSPC) :
			OK(0) | OK(EINVAL) | OK(ENOSPC);
		break;
	default:
		why = access_bad(&e->acc);
		if (!why && range_bad(e->acc.addr, e->acc.npages))
			why = "bad range";
		if (why) {
			ok = OK(EINVAL);
			break;
		}
		prerun = false;
		ok = access_run_answers(c);
		if (!(ok & OK(0)))
			why = c->model;
		/* The outputs are written back after a stream that ran well. */
		if ((ok & OK(0)) && c->arg_state == ARG_RO) {
			ok = (ok & ~OK(0)) | OK(EFAULT);
			why = "read-only argument";
		}
		break;
	}
	c->ok_mask = ok;
	if (!(ok & OK(0)))
		c->must_fail = why;
	/* Refused before it runs: the stream moves nothing. */
	c->no_moves = c->cmd != C_ACCESS || prerun;
}

/*
 * After an ACCESS, the CPU touches the range's buffer now and then: pages
 * go back and forth between the CPU and the device, as the thrashing
 * detection wants them to.
 */
static void cpu_after_access(const struct call *c)
{
	const struct hmmsim_access *a = &c->ext.acc;
	unsigned long page, n;
	struct buf *b = buf_of(a->addr, &page);
	bool write = one_in(2);

	if (!b || b == canary)
		return;
	n = a->npages < b->npages - page ? a->npages : b->npages - page;
	snprintf(cur_action, sizeof(cur_action),
		 "CPU %s after ACCESS %s %p +%lu pages",
		 write ? "write" : "read", kind_names[b->kind],
		 b->base + page * page_size, n);
	cur.kind = CALL_EVENT;
	if (write)
		cpu_write_buf(b, page, n);
	else
		cpu_read_buf(b, page, n);
	cur_action[0] = '\0';
}

/* A command no driver code may accept: it must give ENOTTY. */
static void gen_bogus(struct call *c, unsigned char *data, size_t *len)
{
	static const unsigned int other_types[] = { 'h', 'G', 'I', 0xaa };
	unsigned int dir = rnd_below(4), size = rnd_below(1 << 14), nr;
	unsigned int type = HMMSIM_IOCTL_TYPE;
	size_t i;

	switch (rnd_below(4)) {
	case 0:
		/* An unknown number. */
		nr = one_in(2) ? 0x09 + rnd_below(0x40 - 0x09) :
				 0x47 + rnd_below(0x100 - 0x47);
		break;
	case 1:
		/* A core number with the wrong direction or size. */
		nr = rnd_below(C_FLAGS + 1);
		do {
			dir = rnd_below(4);
			size = one_in(2) ? sizeof(struct hmm_dmirror_cmd) :
					   rnd_below(1 << 14);
		} while (dir == (_IOC_READ | _IOC_WRITE) &&
			 size == sizeof(struct hmm_dmirror_cmd));
		break;
	case 2:
		/* An extension number with the wrong direction. */
		nr = C_INFO + rnd_below(NR_EXT_CMDS);
		do {
			dir = rnd_below(4);
		} while (dir == _IOC_DIR(cmds[nr].request));
		nr = _IOC_NR(cmds[nr].request);
		break;
	default:
		/* Another type, sometimes with a real command's encoding. */
		type = other_types[rnd_below(ARRAY_SIZE(other_types))];
		nr = rnd_below(0x100);
		if (one_in(2)) {
			unsigned long r = cmds[rnd_below(NR_CMDS)].request;

			nr = _IOC_NR(r);
			dir = _IOC_DIR(r);
			size = _IOC_SIZE(r);
		}
		break;
	}
	c->request = _IOC(dir, type, nr, size);
	c->want_err = ENOTTY;
	*len = sizeof(struct hmm_dmirror_cmd);
	for (i = 0; i < *len; i++)
		data[i] = rnd();
}

/* ------------------------------------------------------ io_uring calls */

#define URING_ENTRIES		16
#define BATCH_MAX		6	/* io_uring commands in flight at once */
#define CANCEL_TAG		_BITULL(32)	/* user_data of a cancel */
#define DUP_FD_MIN		512	/* see batch_dup_fd() */
#define DEFAULT_URING_PERCENT	20

static struct io_uring ring;		/* SQE128 and CQE32 */
static struct io_uring plain_ring;	/* 64-byte SQEs: no command fits */
static bool ring_up, plain_up;
/*
 * A pipe whose write end only the ring holds (a registered file): its
 * read end sees the end of the file once the ring is freed, with every
 * request and file reference it had.
 */
static int ring_watch = -1;
static unsigned int uring_percent = DEFAULT_URING_PERCENT;

/* What the SQE around a command may be: see gen_sqe(). */
#define SQE_PLAIN	_BITUL(0)	/* on the ring without SQE128 */
#define SQE_ASYNC	_BITUL(1)	/* IOSQE_ASYNC */
/*
 * IOSQE_IO_DRAIN, only for a command run alone: on 6.12 a drained request
 * waits forever when one submitted after it fails at submission, whose
 * CQE comes first (req_need_defer() compares the CQE count with !=).
 */
#define SQE_DRAIN	_BITUL(2)

/* c->want_err, or either of two errnos. */
static void want(struct call *c, int err, int alt)
{
	c->want_err = err;
	c->want_alt = alt;
}

enum {
	Q_NORMAL, Q_ASYNC, Q_DRAIN, Q_FIXED_FILE, Q_BAD_FLAG, Q_BUF_SELECT,
	Q_MULTISHOT, Q_CMD_FIXED, Q_CMD_FLAG, Q_PAD1, Q_PLAIN, NR_Q,
};

/*
 * What an SQE can be, and what io_uring or hmmsim must answer before they
 * look at the command. IOSQE_BUFFER_SELECT: EOPNOTSUPP where URING_CMD has
 * no buffer selection, EINVAL where it has, without
 * IORING_URING_CMD_MULTISHOT or where that flag is unknown; and no hmmsim
 * command is multishot, which hmmsim must refuse (EINVAL) where io_uring
 * passes it on (7.2). IORING_URING_CMD_FIXED: EINVAL from hmmsim,
 * or EFAULT where io_uring looks the buffer up itself at prep (6.12), and
 * none is registered. One file is registered (ring_watch's): with
 * IOSQE_FIXED_FILE a device's fd is an index past it.
 */
static const struct sqe_desc {
	const char *name;
	__u8 flags;
	__u32 cmd_flags;
	int want, alt;
} sqes[NR_Q] = {
	[Q_NORMAL] = { "normal" },
	[Q_ASYNC] = { "IOSQE_ASYNC", IOSQE_ASYNC },
	[Q_DRAIN] = { "IOSQE_IO_DRAIN", IOSQE_IO_DRAIN },
	[Q_FIXED_FILE] = { "IOSQE_FIXED_FILE", IOSQE_FIXED_FILE, 0, EBADF },
	[Q_BAD_FLAG] = { "unknown sqe flag", 1 << 7, 0, EINVAL },
	[Q_BUF_SELECT] = { "IOSQE_BUFFER_SELECT", IOSQE_BUFFER_SELECT, 0,
			   EINVAL, EOPNOTSUPP },
	[Q_MULTISHOT] = { "IOSQE_BUFFER_SELECT, multishot",
			  IOSQE_BUFFER_SELECT, 1U << 1, EINVAL, EOPNOTSUPP },
	[Q_CMD_FIXED] = { "IORING_URING_CMD_FIXED", 0, IORING_URING_CMD_FIXED,
			  EINVAL, EFAULT },
	[Q_CMD_FLAG] = { "unknown uring_cmd_flags", 0, 0, EINVAL },
	[Q_PAD1] = { "nonzero __pad1", 0, 0, EINVAL },
	[Q_PLAIN] = { "normal", 0, 0, EINVAL },
};

/* The SQE's own fields, hostile now and then; @allow: SQE_*. */
static void gen_sqe(struct call *c, unsigned long allow)
{
	static const unsigned int weights[NR_Q] = {
		[Q_NORMAL] = 70, [Q_ASYNC] = 8, [Q_DRAIN] = 2,
		[Q_FIXED_FILE] = 2, [Q_BAD_FLAG] = 2, [Q_BUF_SELECT] = 2,
		[Q_MULTISHOT] = 1, [Q_CMD_FIXED] = 2, [Q_CMD_FLAG] = 2,
		[Q_PAD1] = 2, [Q_PLAIN] = 3,
	};
	unsigned int q = pick(weights, NR_Q);
	const struct sqe_desc *d;

	if ((q == Q_ASYNC && !(allow & SQE_ASYNC)) ||
	    (q == Q_DRAIN && !(allow & SQE_DRAIN)) ||
	    (q == Q_PLAIN && !(allow & SQE_PLAIN && plain_up)))
		q = Q_NORMAL;
	d = &sqes[q];
	c->sqe_cls = d->name;
	c->sqe_flags = d->flags;
	c->uring_cmd_flags = d->cmd_flags;
	if (q == Q_CMD_FLAG)
		c->uring_cmd_flags = 1U << (2 + rnd_below(30));
	if (q == Q_PAD1)
		c->pad1 = rnd() | 1;
	c->plain = q == Q_PLAIN;
	/* io-wq cancels what it finds no worker for: -F can fail one. */
	c->cancelable = q == Q_ASYNC && fault_injection;
	if (d->want)
		want(c, d->want, d->alt);
}

/* The fields of the payload besides the range and the buffer. */
static void gen_payload_fields(struct call *c)
{
	struct hmmsim_uring_cmd *u = &c->uc;
	__u64 flags_ok = c->uop == U_PREFETCH ? HMMSIM_URING_PREFETCH_WRITE :
			 c->uop == U_ADVISE ? ~0ULL : 0;
	const char *why;
	unsigned int i;

	if (c->uop == U_DEV_TO_DEV) {
		u->src_fd = gen_src_fd(c, &c->src_cls);
		if (!c->must_fail)
			c->must_fail = u->src_fd == HMMSIM_MIGRATE_FROM_SYSTEM ?
				       "no source file" :
				       src_fd_verdict(c, u->src_fd);
	} else if (one_in(16)) {
		u->src_fd = gen_src_fd(c, &c->src_cls);
		if (u->src_fd)
			c->must_fail = "source file for a command without one";
	}
	if (c->uop == U_PREFETCH && one_in(2))
		u->flags = HMMSIM_URING_PREFETCH_WRITE;
	if (c->uop == U_ADVISE)
		u->flags = gen_advice_flags();
	if (one_in(12))
		u->flags = maybe_nonzero(1);
	u->pad = maybe_nonzero(16);
	u->reserved[rnd_below(ARRAY_SIZE(u->reserved))] = maybe_nonzero(16);
	for (i = 0; i < ARRAY_SIZE(u->reserved); i++)
		if (u->reserved[i])
			c->must_fail = "nonzero reserved";
	if (u->pad)
		c->must_fail = "nonzero pad";
	if (u->flags & ~flags_ok)
		c->must_fail = "unknown flag";
	why = c->uop == U_ADVISE ? advice_flags_bad(u->flags) : NULL;
	if (why)
		c->must_fail = why;
}

/* @size, and what lies in the command area past the structure. */
static void gen_payload_size(struct call *c)
{
	struct hmmsim_uring_cmd *u = &c->uc;
	size_t ks = sizeof(*u);
	bool dirty;

	u->size = gen_size(c, ks, HMMSIM_URING_CMD_SIZE_VER0, &dirty);
	c->usize = u->size;
	memset(c->area, 0, sizeof(c->area));
	memcpy(c->area, u, ks);
	if (u->size < HMMSIM_URING_CMD_SIZE_VER0) {
		c->must_fail = "size below the first version";
	} else if (u->size > CMD_AREA) {
		c->must_fail = "size beyond the command area";
	} else if (dirty && u->size > ks) {
		c->tail = ks + rnd_below(u->size - ks);
		c->area[c->tail] = 1 + rnd_below(255);
		c->must_fail = "nonzero tail";
	} else if (u->size < CMD_AREA && one_in(8)) {
		/* Bytes past @size are not looked at. */
		c->area[u->size + rnd_below(CMD_AREA - u->size)] = 0xff;
	}
}

/*
 * The payload of command c->uop: the range and buffer are those drawn for
 * its core command (gen_core(), which keeps the device from writing the
 * canary), the other fields hostile now and then.
 */
static void gen_payload(struct call *c)
{
	struct hmmsim_uring_cmd *u = &c->uc;

	c->cmd = uops[c->uop].core;
	gen_core(c);
	memset(u, 0, sizeof(*u));
	u->addr = c->core.addr;
	u->npages = c->core.npages;
	if (c->uop == U_READ || c->uop == U_WRITE) {
		u->ptr = c->core.ptr;
	} else if (one_in(16) && c->core.ptr) {
		u->ptr = c->core.ptr;
		c->must_fail = "buffer for a command without one";
	}
	gen_payload_fields(c);
	gen_payload_size(c);
	if (c->uop == U_ADVISE) {
		int mapped = c->must_fail ? -1 :
			     range_mapped(u->addr, u->npages);

		/* Whatever comes of it, the file may have advice now. */
		devs[c->dev].advised[c->fd_slot] = true;
		if (!mapped)
			c->must_fail = "a hole in the range";
		c->must_succeed = mapped > 0;
	}

	c->cmd_op = uops[c->uop].op;
	if (one_in(8)) {
		/* Commands match on type, number and direction only. */
		c->cmd_op = _IOC(_IOC_WRITE, HMMSIM_IOCTL_TYPE,
				 _IOC_NR(c->cmd_op), rnd_below(1 << 14));
		c->op_cls = "other size";
	}
}

/* A cmd_op of no command: EOPNOTSUPP, whatever the payload. */
static void gen_bogus_op(struct call *c)
{
	static const __u32 fixed[] = {
		0, 0xffffffff, HMM_DMIRROR_READ, HMMSIM_IOCTL_MIGRATE,
		HMMSIM_IOCTL_STATS,
	};
	static const unsigned int types[] = { 'h', 'G', 'I', 0xaa };
	static const unsigned int dirs[] = {
		_IOC_NONE, _IOC_READ, _IOC_READ | _IOC_WRITE,
	};
	unsigned int nr;

	switch (rnd_below(4)) {
	case 0:
		c->op_cls = "bogus: an ioctl's";
		c->cmd_op = fixed[rnd_below(ARRAY_SIZE(fixed))];
		break;
	case 1:
		c->op_cls = "bogus: unknown number";
		nr = one_in(2) ? rnd_below(0x50) : 0x57 + rnd_below(0xa9);
		c->cmd_op = _IOC(rnd_below(4), HMMSIM_IOCTL_TYPE, nr,
				 rnd_below(1 << 14));
		break;
	case 2:
		c->op_cls = "bogus: wrong direction";
		c->cmd_op = _IOC(dirs[rnd_below(ARRAY_SIZE(dirs))],
				 HMMSIM_IOCTL_TYPE, _IOC_NR(c->cmd_op),
				 sizeof(struct hmmsim_uring_cmd));
		break;
	default:
		c->op_cls = "bogus: another type";
		c->cmd_op = _IOC(_IOC_WRITE, types[rnd_below(ARRAY_SIZE(types))],
				 _IOC_NR(c->cmd_op),
				 sizeof(struct hmmsim_uring_cmd));
		break;
	}
	want(c, EOPNOTSUPP, 0);
}

/* A file that is no hmmsim device: EBADF, or EOPNOTSUPP if it is open. */
static void gen_uring_badfd(struct call *c)
{
	switch (rnd_below(6)) {
	case 0:
		c->fd = -1;
		break;
	case 1:
		c->fd = INT_MAX;
		break;
	case 2:
		c->fd = last_closed_fd >= 0 ? last_closed_fd : 1023;
		if (fcntl(c->fd, F_GETFD) >= 0)
			c->fd = -1;
		break;
	case 3:
		c->fd = pipe_fds[rnd_below(2)];
		break;
	case 4:
		c->fd = file_fd;
		break;
	default:
		c->fd = ring.ring_fd;
		break;
	}
	c->sqe_cls = "normal";
	if (fcntl(c->fd, F_GETFD) < 0)
		want(c, EBADF, 0);
	else
		want(c, EOPNOTSUPP, 0);
}

static void call_init(struct call *c, unsigned int di)
{
	memset(c, 0, sizeof(*c));
	c->nr = nr_calls;
	c->dev = di;
	c->tail = -1;
	c->fd = dev_any_fd(&devs[di], &c->fd_slot);
}

/* An io_uring call on device @di; @allow: SQE_* for gen_sqe(). */
static void gen_uring_call(struct call *c, unsigned int di, unsigned long allow)
{
	enum { G_CMD, G_BOGUS, G_BADFD, NR_G };
	static const unsigned int weights[NR_G] = {
		[G_CMD] = 88, [G_BOGUS] = 10, [G_BADFD] = 2,
	};
	static const unsigned int uop_weights[NR_UOPS] = {
		[U_TO_DEV] = 10, [U_TO_SYS] = 8, [U_DEV_TO_DEV] = 10,
		[U_PREFETCH] = 8, [U_READ] = 10, [U_WRITE] = 10,
		[U_ADVISE] = 8,
	};
	unsigned int g;

	call_init(c, di);
	c->kind = CALL_URING;
	c->pages = NO_PAGES;
	c->uop = pick(uop_weights, NR_UOPS);
	gen_payload(c);
	g = pick(weights, NR_G);
	if (g == G_BOGUS)
		gen_bogus_op(c);
	if (g == G_BADFD)
		gen_uring_badfd(c);
	else
		gen_sqe(c, allow);
	/* A file that could not be reopened (fault injection). */
	c->fd_closed = c->fd < 0 && g != G_BADFD;
}

/* --------------------------------------------------------- the checks */

static void report(struct call *c, const char *why)
{
	struct dev *d = &devs[c->dev];
	char buf[1024];

	d->failures++;
	if (d->reports++ >= MAX_REPORTS) {
		if (d->reports == MAX_REPORTS + 1)
			printf("# %s: more failures, not shown\n", d->path);
		return;
	}
	describe(c, buf, sizeof(buf));
	printf("# FAIL: %s\n#   %s\n", why, buf);
}

#define NR_COUNTERS	20

/* The STATS counters, which only grow. */
static void counters(const struct hmmsim_stats *st, __u64 *v)
{
	v[12] = st->fault_batches;
	v[13] = st->fault_duplicates;
	v[14] = st->fault_migrations;
	v[15] = st->prefetch_migrations;
	v[16] = st->remote_accesses;
	v[17] = st->counter_migrations;
	v[18] = st->thrash_events;
	v[19] = st->thrash_remote;
	v[0] = st->to_device;
	v[1] = st->from_device;
	v[2] = st->cpu_faults;
	v[3] = st->device_faults;
	v[4] = st->invalidations;
	v[5] = st->evictions;
	v[6] = st->bytes_copied;
	v[7] = st->alloc_failures;
	v[8] = st->thp_to_device;
	v[9] = st->thp_from_device;
	v[10] = st->thp_fallbacks;
	v[11] = st->thp_splits;
}

static __u64 policy_moves(const struct hmmsim_stats *st)
{
	return st->fault_migrations + st->prefetch_migrations +
	       st->counter_migrations;
}

/* GET_POLICY: the policy last set on the file, @size as the caller's. */
static void check_get_policy(struct call *c, const struct hmmsim_policy *p,
			     char *why, size_t len)
{
	struct hmmsim_policy want = devs[c->dev].pol[c->fd_slot];

	want.size = c->usize;
	if (memcmp(p, &want, sizeof(want)))
		snprintf(why, len,
			 "GET_POLICY gave size %u migrate %u prefetch %u/%u/%u counter %u/%u thrash %u/%u/%u, not what was set",
			 p->size, p->migrate, p->prefetch, p->prefetch_pages,
			 p->density_pct, p->counter_threshold,
			 p->counter_window, p->thrash_threshold,
			 p->thrash_window, p->thrash_pin);
}

/*
 * ACCESS, done: every access done; no more batches than faults, remote
 * accesses than accesses; nothing moved by a file with the default policy
 * and no advice. (Faults can outnumber the accesses: a replayed access
 * faults again where its entry was invalidated after its batch faulted it
 * in, by the batch's own moves of a device THP, say.)
 */
static void check_access(struct call *c, const struct hmmsim_access *a,
			 char *why, size_t len)
{
	const struct hmmsim_access *in = &c->ext.acc;
	const struct dev *d = &devs[c->dev];
	bool moves = d->pol[c->fd_slot].migrate != HMMSIM_POLICY_REMOTE ||
		     d->advised[c->fd_slot];
	unsigned int i;

	if (a->done != in->count || a->batches > a->faults ||
	    a->remote > a->done || (!moves && a->migrated))
		snprintf(why, len,
			 "ACCESS done %#llx faults %#llx batches %#llx remote %#llx migrated %#llx",
			 ull(a->done), ull(a->faults), ull(a->batches),
			 ull(a->remote), ull(a->migrated));
	for (i = 0; i < ARRAY_SIZE(a->reserved); i++)
		if (a->reserved[i])
			snprintf(why, len, "ACCESS reserved[%u] %#llx", i,
				 ull(a->reserved[i]));
}

/* ACCESS, failed: its outputs are written too, zero if it never ran. */
static void check_access_failed(struct call *c)
{
	const struct hmmsim_access *in = &c->ext.acc;
	struct hmmsim_access a;
	bool ran = !c->no_moves;
	char why[256];

	if (!c->copy_in_ok || c->arg_state != ARG_OK)
		return;
	memcpy(&a, (const void *)(unsigned long)c->arg, sizeof(a));
	why[0] = '\0';
	if (a.done > in->count || a.batches > a.faults ||
	    a.remote > a.done ||
	    (!ran && (a.done || a.faults || a.batches || a.remote ||
		      a.migrated || a.checksum)))
		snprintf(why, sizeof(why),
			 "ACCESS failed with done %#llx faults %#llx batches %#llx remote %#llx migrated %#llx checksum %#llx",
			 ull(a.done), ull(a.faults), ull(a.batches),
			 ull(a.remote), ull(a.migrated), ull(a.checksum));
	if (why[0])
		report(c, why);
}

/* After success: what came back must make sense. */
static void check_output(struct call *c)
{
	struct dev *d = &devs[c->dev];
	const void *out = (const void *)(unsigned long)c->arg;
	char why[256];

	why[0] = '\0';
	if (c->arg_state != ARG_OK)
		return;
	if (c->kind == CALL_CORE && c->cmd != C_FLAGS) {
		struct hmm_dmirror_cmd k;

		memcpy(&k, out, sizeof(k));
		if (k.cpages > c->core.npages)
			snprintf(why, sizeof(why), "cpages %#llx > npages",
				 ull(k.cpages));
	} else if (c->kind == CALL_EXT && c->cmd == C_INFO) {
		struct hmmsim_info info;

		memcpy(&info, out, sizeof(info));
		if (info.abi_version != HMMSIM_ABI_VERSION ||
		    info.type != d->info.type || info.id != d->info.id ||
		    info.page_shift != page_shift ||
		    info.capacity != d->info.capacity ||
		    info.phys_base != d->info.phys_base || info.flags ||
		    info.caps != d->info.caps ||
		    info.reserved[0] || info.reserved[1])
			snprintf(why, sizeof(why),
				 "INFO abi %u type %u id %u page_shift %u capacity %#llx",
				 info.abi_version, info.type, info.id,
				 info.page_shift, ull(info.capacity));
		/* configfs cannot change them while the device is on. */
		else if (!info.fault_batch || info.fault_batch > 4096 ||
			 info.fault_latency_us > 100000 ||
			 info.fault_batch != d->info.fault_batch ||
			 info.fault_latency_us != d->info.fault_latency_us)
			snprintf(why, sizeof(why),
				 "INFO fault_batch %u fault_latency_us %u",
				 info.fault_batch, info.fault_latency_us);
	} else if (c->kind == CALL_EXT && c->cmd == C_STATS) {
		struct hmmsim_stats st;
		__u64 now[NR_COUNTERS], was[NR_COUNTERS];
		unsigned int i;

		memcpy(&st, out, sizeof(st));
		counters(&st, now);
		counters(&d->last, was);
		for (i = 0; d->have_last && i < NR_COUNTERS; i++)
			if (now[i] < was[i])
				snprintf(why, sizeof(why),
					 "STATS counter %u went from %#llx to %#llx",
					 i, ull(was[i]), ull(now[i]));
		/* The policy's moves are also in to_device. */
		if (d->have_last && !why[0] &&
		    policy_moves(&st) - policy_moves(&d->last) >
		    st.to_device - d->last.to_device)
			snprintf(why, sizeof(why),
				 "STATS: the policy moved %llu pages to the device, to_device grew by %llu",
				 ull(policy_moves(&st) - policy_moves(&d->last)),
				 ull(st.to_device - d->last.to_device));
		if (st.pages_used > d->info.capacity >> page_shift)
			snprintf(why, sizeof(why),
				 "STATS pages_used %#llx beyond capacity",
				 ull(st.pages_used));
		for (i = 0; i < ARRAY_SIZE(st.reserved); i++)
			if (st.reserved[i])
				snprintf(why, sizeof(why),
					 "STATS reserved[%u] %#llx", i,
					 ull(st.reserved[i]));
		d->last = st;
		d->have_last = true;
	} else if (c->kind == CALL_EXT && c->cmd == C_GET_POLICY) {
		struct hmmsim_policy p;

		memcpy(&p, out, sizeof(p));
		check_get_policy(c, &p, why, sizeof(why));
	} else if (c->kind == CALL_EXT && c->cmd == C_ACCESS) {
		struct hmmsim_access a;

		memcpy(&a, out, sizeof(a));
		check_access(c, &a, why, sizeof(why));
	} else if (c->kind == CALL_EXT && c->cmd == C_MIGRATE) {
		struct hmmsim_migrate m;

		memcpy(&m, out, sizeof(m));
		if (m.cpages > c->ext.mig.npages)
			snprintf(why, sizeof(why), "cpages %#llx > npages",
				 ull(m.cpages));
	}
	if (why[0])
		report(c, why);
}

/* A set of buffer kinds. */
#define KIND(kind)	_BITUL(kind)

/*
 * Whether [addr, +npages) reaches, through mapped buffers from its start, a
 * buffer of one of the kinds of @kinds (a mask of KIND()s).
 */
static bool range_reaches(__u64 addr, __u64 npages, unsigned long kinds)
{
	__u64 end = addr + (npages << page_shift);
	unsigned long page;
	struct buf *b;

	for (; addr < end && (b = buf_of(addr, &page)); addr += page_size)
		if (kinds & KIND(b->kind))
			return true;
	return false;
}

#define SHARED_KINDS	(KIND(BUF_ANON_SHARED) | KIND(BUF_FILE_SHARED) | \
			 KIND(BUF_DEVMAP))

/*
 * EXCLUSIVE on a range that reaches a hugetlbfs or shared (file, shmem,
 * device file) buffer through mapped buffers: EOPNOTSUPP is its answer, as
 * only private anonymous memory can be made device-exclusive.
 */
static bool excl_unsupported(const struct call *c)
{
	if (c->kind != CALL_CORE || c->cmd != C_EXCL)
		return false;
	return range_reaches(c->core.addr, c->core.npages,
			     SHARED_KINDS | KIND(BUF_HUGETLB));
}

/* ---------------------------------------------------- side effects */

/*
 * The migrations and EXCLUSIVE check their whole range, every VMA of it,
 * before anything moves. A call that fails that check must leave every page
 * where it was: the device's to_device and from_device counters show a page
 * that moved (to, from or between devices, the called device is on one end)
 * and CHECK_EXCLUSIVE a page that became exclusive.
 *
 * SET_POLICY, GET_POLICY and ADVISE (and HMMSIM_URING_ADVISE) move no page
 * at all, nor does an ACCESS refused before its stream runs (c->no_moves):
 * those are watched whatever their result. An ACCESS that runs moves pages
 * under a migrating policy or advice, and so do the CPU faults on the pages
 * it moved; since the counters are read just before and just after each
 * watched call, what earlier streams moved is never taken for the call's.
 */
static bool effects_watched(const struct call *c)
{
	if (c->kind == CALL_URING)
		return c->uop == U_TO_DEV || c->uop == U_TO_SYS ||
		       c->uop == U_DEV_TO_DEV;
	if (c->kind == CALL_CORE)
		return c->cmd == C_TO_DEV || c->cmd == C_TO_SYS ||
		       c->cmd == C_EXCL;
	return c->kind == CALL_EXT && c->cmd == C_MIGRATE;
}

/*
 * to_device + from_device of the device of @fd, or ~0 if unknown, less
 * what the release of a file moved home: a file can be released after its
 * last close(), while another call runs (the kernel held it: an io_uring
 * request freed with its ring, a source file put by a worker).
 */
static __u64 pages_moved(int fd)
{
	struct hmmsim_stats st;

	return get_stats(fd, &st) ? ~0ULL :
	       st.to_device + st.from_device - st.close_evictions;
}

/* CHECK_EXCLUSIVE of an EXCLUSIVE call's range, -EINVAL for a bad one. */
static int excl_state(const struct call *c)
{
	struct hmm_dmirror_cmd cmd;

	if (c->kind != CALL_CORE || c->cmd != C_EXCL ||
	    c->core.npages > CHECK_EXCL_MAX_NPAGES ||
	    range_bad(c->core.addr, c->core.npages))
		return -EINVAL;
	return dmirror_raw(c->fd, HMM_DMIRROR_CHECK_EXCLUSIVE, c->core.addr,
			   0, c->core.npages, &cmd);
}

static void effects_before(struct call *c)
{
	if (c->kind == CALL_URING && c->uop == U_ADVISE)
		c->no_moves = true;
	c->watched = effects_watched(c) || c->no_moves;
	if (!c->watched)
		return;
	c->moved_before = pages_moved(c->fd);
	c->excl_before = excl_state(c);
}

/*
 * Whether the call failed the check of its range: EINVAL (a hole, an
 * unreadable VMA, one migrate_vma refuses, or bad fields), EOPNOTSUPP, or
 * ENOENT from MIGRATE_TO_DEV on a range that reaches shared memory.
 */
static bool failed_check(const struct call *c)
{
	if (!c->ret)
		return false;
	if (c->err == EINVAL || c->err == EOPNOTSUPP)
		return true;
	return c->err == ENOENT && c->kind == CALL_CORE && c->cmd == C_TO_DEV &&
	       range_reaches(c->core.addr, c->core.npages, SHARED_KINDS);
}

static void effects_after(struct call *c)
{
	__u64 moved;
	char why[160];

	if (!c->watched || (!c->no_moves && !failed_check(c)))
		return;
	moved = pages_moved(c->fd);
	if (c->moved_before != ~0ULL && moved != ~0ULL &&
	    moved != c->moved_before) {
		snprintf(why, sizeof(why), "%s %s, but moved %llu pages",
			 c->ret ? "failed with" : "succeeded",
			 c->ret ? errno_name(c->err) : "(it moves nothing)",
			 ull(moved - c->moved_before));
		report(c, why);
	}
	if (!c->excl_before && excl_state(c) == -EPERM) {
		snprintf(why, sizeof(why),
			 "failed with %s, but made pages exclusive",
			 errno_name(c->err));
		report(c, why);
	}
}

/*
 * Whether the call's error is one it must give: want_err (or want_alt),
 * EBADF for an io_uring command whose file was closed after it was queued
 * (with IOSQE_ASYNC io_uring looks the file up when it issues it) or for a
 * call whose file could not be reopened, or, under fault injection, ENOMEM
 * for an io_uring command: io_uring allocates for it before the driver
 * sees it.
 */
static bool wanted(const struct call *c)
{
	if (!c->ret)
		return false;
	return c->err == c->want_err || (c->want_alt && c->err == c->want_alt) ||
	       (c->fd_closed && c->err == EBADF) ||
	       (c->kind == CALL_URING && fault_retry(c->err));
}

/*
 * EOPNOTSUPP: EXCLUSIVE on hugetlbfs or shared memory, and from io_uring
 * an unknown cmd_op, or a file that has no io_uring commands.
 */
static bool eopnotsupp_ok(const struct call *c)
{
	return excl_unsupported(c) || c->want_err == EOPNOTSUPP ||
	       c->want_alt == EOPNOTSUPP;
}

/* io_uring: the CQE counts no more pages than the range has. */
static void check_cqe_pages(struct call *c)
{
	char why[128];

	if (c->kind != CALL_URING || c->pages == NO_PAGES ||
	    (c->pages <= c->uc.npages && !(c->uop == U_ADVISE && c->pages)))
		return;
	snprintf(why, sizeof(why), "CQE page count %#llx > %s",
		 ull(c->pages), c->uop == U_ADVISE ? "0 (advice moves nothing)" :
						    "npages");
	report(c, why);
}

/* The names of the answers in @mask. */
static void mask_names(unsigned long mask, char *buf, size_t len)
{
	unsigned int i;

	buf[0] = '\0';
	for (i = 0; i < ARRAY_SIZE(errnos); i++)
		if (mask & _BITUL(i))
			append(buf, len, "%s%s", buf[0] ? ", " : "",
			       i ? errnos[i].name : "success");
}

static void check_access_failed(struct call *c);

/*
 * A policy command: its answer must be one of c->ok_mask, but for ENOMEM
 * under fault injection (-F); there too, for a call that could succeed,
 * EIO (fail_copy fails the copy of a stream's move home) and EFAULT (an
 * allocation failing in the CPU fault path hmm_range_fault() takes is
 * VM_FAULT_OOM, which it gives as -EFAULT); and EBADF for a file that
 * could not be reopened.
 */
static void judge_exact(struct call *c, unsigned int slot)
{
	bool forgiven = c->ret &&
			(fault_retry(c->err) ||
			 (fault_injection && (c->ok_mask & OK(0)) &&
			  (c->err == EIO || c->err == EFAULT)) ||
			 (c->fd_closed && c->err == EBADF));
	char why[256], names[160];

	if (c->ret > 0) {
		report(c, "positive return value");
		return;
	}
	if (!(c->ok_mask & _BITUL(slot)) && !forgiven) {
		mask_names(c->ok_mask, names, sizeof(names));
		snprintf(why, sizeof(why), "%s, but the ABI allows only: %s%s%s",
			 c->ret ? errno_name(c->err) : "success", names,
			 c->model ? "; the stream meets: " : "",
			 c->model ? c->model : "");
		report(c, why);
		return;
	}
	if (!c->ret)
		check_output(c);
	else if (c->cmd == C_ACCESS)
		check_access_failed(c);
}

static void judge(struct call *c)
{
	struct dev *d = &devs[c->dev];
	unsigned int slot = c->ret ? errno_slot(c->err) : 0;
	char why[128];

	d->hist[slot]++;
	if (c->exact) {
		judge_exact(c, slot);
		return;
	}
	check_cqe_pages(c);
	if (c->ret > 0) {
		report(c, "positive return value");
	} else if (c->ret < 0 && slot == HIST_OTHER) {
		snprintf(why, sizeof(why),
			 "errno %d (%s) is not one of the documented errnos",
			 c->err, strerror(c->err));
		report(c, why);
	} else if (c->ret < 0 && c->err == ECANCELED) {
		/* Only io_uring cancels, and what it cancels may be anywhere. */
		if (!c->cancelable)
			report(c, "ECANCELED, but nothing canceled it");
	} else if (c->ret < 0 && c->err == EOPNOTSUPP && !eopnotsupp_ok(c)) {
		report(c, "EOPNOTSUPP is only for EXCLUSIVE on hugetlbfs or shared memory");
	} else if (c->ret < 0 && c->err == ENOSPC &&
		   !(c->kind == CALL_URING && c->uop == U_ADVISE)) {
		report(c, "ENOSPC is only for ADVISE");
	} else if (c->want_err && !wanted(c)) {
		snprintf(why, sizeof(why), "must give %s%s%s",
			 errno_name(c->want_err), c->want_alt ? " or " : "",
			 c->want_alt ? errno_name(c->want_alt) : "");
		report(c, why);
	} else if (!c->ret && c->must_fail) {
		report(c, "succeeded, but must fail");
	} else if (c->ret < 0 && c->must_succeed && !c->want_err &&
		   c->err != ENOSPC && !wanted(c)) {
		report(c, "failed, but the advice is valid and the range mapped");
	} else if (!c->ret) {
		check_output(c);
	}
}

/* ------------------------------------------------------------- canary */

static void canary_record(const struct call *c)
{
	canary_log[canary_log_n++ % CANARY_LOG] = *c;
}

/* Check every int of the canary; report and restore it if it is damaged. */
static void canary_check(const char *when)
{
	unsigned long per = page_size / sizeof(unsigned int), p, i, bad = 0;
	unsigned long first_page = 0, first_int = 0;
	unsigned int got = 0;
	char buf[1024];

	snprintf(cur_action, sizeof(cur_action), "canary check (%s)", when);
	cur.kind = CALL_EVENT;
	__atomic_add_fetch(&progress_mark, 1, __ATOMIC_RELAXED);
	while (mprotect(canary->base, canary->npages * page_size,
			PROT_READ | PROT_WRITE)) {
		if (fault_retry(errno))
			continue;
		printf("# canary: mprotect: %s\n", strerror(errno));
		canary_failures++;
		return;
	}
	buf_set_prot(canary, 0, canary->npages, PROT_READ | PROT_WRITE);
	canary_checks++;

	for (p = 0; p < canary->npages; p++) {
		const unsigned int *w =
			(const unsigned int *)(canary->base + p * page_size);

		for (i = 0; i < per; i++) {
			if (w[i] == canary_word(p, i))
				continue;
			if (!bad++) {
				first_page = p;
				first_int = i;
				got = w[i];
			}
		}
	}
	cur_action[0] = '\0';
	if (!bad)
		return;

	canary_failures++;
	if (canary_failures > MAX_CANARY_REPORTS) {
		canary_fill();
		return;
	}
	printf("# FAIL: canary damaged (%s, after %lu calls): %lu ints wrong\n",
	       when, nr_calls, bad);
	printf("#   first: page %lu int %lu is %#x, expected %#x\n",
	       first_page, first_int, got, canary_word(first_page, first_int));
	printf("# canary at %p; its last %lu events, oldest first:\n",
	       canary->base, canary_log_n < CANARY_LOG ? canary_log_n :
						       (unsigned long)CANARY_LOG);
	for (i = canary_log_n < CANARY_LOG ? 0 : canary_log_n - CANARY_LOG;
	     i < canary_log_n; i++) {
		describe(&canary_log[i % CANARY_LOG], buf, sizeof(buf));
		printf("#   %s\n", buf);
	}
	canary_fill();
}

/* ------------------------------------------------------------ actions */

/* A random [first, first + n) of a buffer. */
static void random_span(const struct buf *b, unsigned long *first,
			unsigned long *n)
{
	*first = rnd_below(b->npages);
	*n = 1 + rnd_below(b->npages - *first);
	if (one_in(3)) {
		*first = 0;
		*n = b->npages;
	}
	if (*n > SPAN_MAX_PAGES && !one_in(16)) {
		*first += rnd_below(*n - SPAN_MAX_PAGES);
		*n = 1 + rnd_below(SPAN_MAX_PAGES);
	}
}

static void act_remap(void)
{
	unsigned int s = FIRST_POOL + rnd_below(NR_SLOTS - FIRST_POOL);
	enum buf_kind kind = random_kind();

	snprintf(cur_action, sizeof(cur_action), "remap slot %u as %s", s,
		 kind_names[kind]);
	buf_unmap(s);
	if (!one_in(8))
		buf_map(s, kind);
}

static void act_mprotect(struct buf *b)
{
	static const int prots[] = {
		PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE,
	};
	int prot = prots[rnd_below(ARRAY_SIZE(prots))];
	unsigned long first, n;

	random_span(b, &first, &n);
	snprintf(cur_action, sizeof(cur_action), "mprotect %s %p +%lu pages %d",
		 kind_names[b->kind], b->base + first * page_size, n, prot);
	while (mprotect(b->base + first * page_size, n * page_size, prot))
		if (!fault_retry(errno))
			return;
	buf_set_prot(b, first, n, prot);
}

static void act_madvise(struct buf *b)
{
	static const int advice[] = {
		MADV_DONTNEED, MADV_HUGEPAGE, MADV_NOHUGEPAGE,
	};
	int adv = advice[rnd_below(ARRAY_SIZE(advice))];
	unsigned long first, n;

	/* The canary's data must stay; pages of the device's mmap() do not come back. */
	if (adv == MADV_DONTNEED &&
	    (b->kind == BUF_CANARY || b->kind == BUF_DEVMAP))
		adv = MADV_HUGEPAGE;
	random_span(b, &first, &n);
	snprintf(cur_action, sizeof(cur_action), "madvise %s %p +%lu pages %d",
		 kind_names[b->kind], b->base + first * page_size, n, adv);
	madvise(b->base + first * page_size, n * page_size, adv);
}

/*
 * Fresh anonymous memory over [first, +n) of a private anonymous buffer,
 * with MAP_FIXED: an munmap() of those pages, then a new mapping. The
 * advice files hold for the pages is cut there: a range of advice across
 * them is split in two.
 */
static void act_punch(struct buf *b, unsigned long first, unsigned long n)
{
	char *p = b->base + first * page_size;
	void *q;

	if ((b->kind != BUF_ANON && b->kind != BUF_THP) || !n ||
	    first + n > b->npages)
		return;
	snprintf(cur_action, sizeof(cur_action), "punch %s %p +%lu pages",
		 kind_names[b->kind], p, n);
	do {
		q = mmap(p, n * page_size, PROT_READ | PROT_WRITE,
			 MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	} while (q == MAP_FAILED && fault_retry(errno));
	if (q == p) {
		buf_set_prot(b, first, n, PROT_READ | PROT_WRITE);
		return;
	}
	/* What is left mapped there is not known: the buffer goes. */
	buf_unmap(b - bufs);
}

/* After an ADVISE on a buffer, now and then: a hole punched in its range. */
static void punch_after_advise(const struct call *c)
{
	const struct hmmsim_advise *a = &c->ext.adv;
	unsigned long page, n, first;
	struct buf *b = buf_of(a->addr, &page);

	if (!b)
		return;
	n = a->npages < b->npages - page ? a->npages : b->npages - page;
	if (n < 3)
		return;
	/* Strictly inside the range: a page of it left on each side. */
	first = page + 1 + rnd_below(n - 2);
	act_punch(b, first, 1 + rnd_below(page + n - 1 - first));
	cur_action[0] = '\0';
}

static void act_reopen(void)
{
	unsigned int di = rnd_below(nr_devs), s = rnd_below(FDS_PER_DEV);
	struct dev *d = &devs[di];
	struct call ev = {
		.nr = nr_calls, .dev = di, .fd = d->fd[s], .kind = CALL_EVENT,
	};

	snprintf(cur_action, sizeof(cur_action), "close/reopen %s fd %d",
		 d->path, d->fd[s]);
	if (d->fd[s] >= 0) {
		close(d->fd[s]);
		last_closed_fd = d->fd[s];
		d->fd[s] = -1;
		ev.event = "closed";
		canary_record(&ev);
	}
	/* Sometimes the slot stays closed for a while. */
	if (one_in(4))
		return;
	d->fd[s] = dev_open(d, s);
	if (d->fd[s] < 0 && !fault_retry(errno)) {
		printf("# %s: reopen: %s\n", d->path, strerror(errno));
		d->failures++;
	}
	ev.fd = d->fd[s];
	ev.event = "opened";
	canary_record(&ev);
}

/*
 * Flip the protection of part of the canary, or give it all back: it should
 * be movable most of the time.
 */
static void act_canary_prot(void)
{
	static const int prots[] = {
		PROT_READ, PROT_READ, PROT_NONE, PROT_READ | PROT_WRITE,
	};
	int prot = prots[rnd_below(ARRAY_SIZE(prots))];
	unsigned long first, n;

	random_span(canary, &first, &n);
	if (one_in(2)) {
		first = 0;
		n = canary->npages;
		prot = PROT_READ | PROT_WRITE;
	}
	snprintf(cur_action, sizeof(cur_action),
		 "mprotect canary +%lu pages +%lu prot %d", first, n, prot);
	while (mprotect(canary->base + first * page_size, n * page_size, prot))
		if (!fault_retry(errno))
			return;
	buf_set_prot(canary, first, n, prot);
}

/* The CPU reads a canary page, which must be intact. */
static void act_canary_peek(void)
{
	unsigned long p = rnd_below(canary->npages), i;
	unsigned long per = page_size / sizeof(unsigned int);
	const unsigned int *w =
		(const unsigned int *)(canary->base + p * page_size);

	snprintf(cur_action, sizeof(cur_action), "canary peek page %lu", p);
	if (!(canary->prot[p] & PROT_READ)) {
		if (mprotect(canary->base + p * page_size, page_size,
			     PROT_READ))
			return;
		canary->prot[p] = PROT_READ;
	}
	for (i = 0; i < per; i++)
		if (w[i] != canary_word(p, i))
			break;
	if (i < per)
		canary_check("CPU read of one page found it damaged");
}

static void do_action(void)
{
	enum {
		X_REMAP, X_MPROTECT, X_MADVISE, X_WRITE, X_READ, X_PUNCH,
		X_REOPEN, X_CANARY_PROT, X_CANARY_ADVISE, X_CANARY_PEEK, NR_X,
	};
	static const unsigned int weights[NR_X] = {
		[X_REMAP] = 6, [X_MPROTECT] = 6, [X_MADVISE] = 5,
		[X_WRITE] = 8, [X_READ] = 5, [X_PUNCH] = 3, [X_REOPEN] = 2,
		[X_CANARY_PROT] = 3, [X_CANARY_ADVISE] = 2,
		[X_CANARY_PEEK] = 4,
	};
	unsigned int x = pick(weights, NR_X);
	struct buf *b = random_buf();
	unsigned long first, n;

	__atomic_add_fetch(&progress_mark, 1, __ATOMIC_RELAXED);
	cur.kind = CALL_EVENT;
	if (verbose_from && nr_calls >= verbose_from)
		printf("# action %u\n", x);
	if (!b && x <= X_PUNCH)
		x = X_REMAP;
	switch (x) {
	case X_REMAP:
		act_remap();
		break;
	case X_MPROTECT:
		act_mprotect(b);
		break;
	case X_MADVISE:
		act_madvise(b);
		break;
	case X_WRITE:
	case X_READ:
		random_span(b, &first, &n);
		snprintf(cur_action, sizeof(cur_action),
			 "CPU %s %s %p +%lu pages",
			 x == X_WRITE ? "write" : "read", kind_names[b->kind],
			 b->base + first * page_size, n);
		if (x == X_WRITE)
			cpu_write_buf(b, first, n);
		else
			cpu_read_buf(b, first, n);
		break;
	case X_PUNCH:
		random_span(b, &first, &n);
		act_punch(b, first, n);
		break;
	case X_REOPEN:
		act_reopen();
		break;
	case X_CANARY_PROT:
		act_canary_prot();
		break;
	case X_CANARY_ADVISE:
		act_madvise(canary);
		break;
	default:
		act_canary_peek();
		break;
	}
	cur_action[0] = '\0';
}

/* ------------------------------------------------------------- a call */

/* A call has its result: count it, judge it. */
static void finish_call(struct call *c)
{
	char buf[1024];

	if (verbose_from && c->nr >= verbose_from) {
		describe(c, buf, sizeof(buf));
		printf("# %s\n", buf);
	}
	if (c->kind == CALL_URING)
		devs[c->dev].uring_calls++;
	devs[c->dev].calls++;
	nr_calls++;
	judge(c);
	effects_after(c);
	if (c->kind == CALL_EXT && c->cmd == C_ACCESS && !c->ret &&
	    c->pol_migrate <= HMMSIM_POLICY_COUNTERS) {
		devs[c->dev].streams[c->pol_migrate]++;
		if (c->arg_state == ARG_OK)
			devs[c->dev].streams_migrated +=
				((const struct hmmsim_access *)
				 (unsigned long)c->arg)->migrated;
	}
	if (c->kind == CALL_EXT && c->cmd == C_SET_POLICY && !c->ret) {
		devs[c->dev].pol[c->fd_slot] = c->ext.pol;
		devs[c->dev].pol[c->fd_slot].size = sizeof(struct hmmsim_policy);
	}
	if (c->touches_canary)
		canary_record(c);
}

static void run_uring_step(unsigned int di);

/* Time in the ioctls, by command: what the run's length goes to. */
static double cmd_seconds[NR_CMDS];
static unsigned long cmd_calls[NR_CMDS];

static double elapsed(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) + (t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void print_cmd_times(void)
{
	char buf[1024];
	unsigned int i;

	buf[0] = '\0';
	for (i = 0; i < NR_CMDS; i++)
		append(buf, sizeof(buf), "%s%s %lu in %.1f s", i ? ", " : "",
		       cmds[i].name, cmd_calls[i], cmd_seconds[i]);
	printf("# ioctls by command: %s\n", buf);
}

static void run_call(unsigned int di)
{
	enum { K_CORE, K_EXT, K_BOGUS, K_BADFD, NR_K };
	static const unsigned int kinds[NR_K] = {
		[K_CORE] = 57, [K_EXT] = 32, [K_BOGUS] = 10, [K_BADFD] = 1,
	};
	static unsigned int core_weights[C_FLAGS + 1];
	static unsigned int ext_weights[NR_EXT_CMDS];
	static unsigned char data[ARG_AREA_PAGES * 65536];
	struct call *c = &cur;
	struct timespec t0;
	size_t len = 0;
	unsigned int k, i;

	if (uring_percent && ring_up && rnd_below(100) < uring_percent) {
		run_uring_step(di);
		return;
	}
	if (!core_weights[0]) {
		for (i = 0; i <= C_FLAGS; i++)
			core_weights[i] = cmds[i].weight;
		for (i = 0; i < NR_EXT_CMDS; i++)
			ext_weights[i] = cmds[C_INFO + i].weight;
	}

	call_init(c, di);
	/* A file that could not be reopened (fault injection). */
	c->fd_closed = c->fd < 0;
	k = pick(kinds, NR_K);
	switch (k) {
	case K_CORE:
		c->kind = CALL_CORE;
		c->cmd = pick(core_weights, C_FLAGS + 1);
		c->request = cmds[c->cmd].request;
		gen_core(c);
		len = sizeof(c->core);
		memcpy(data, &c->core, len);
		break;
	case K_EXT:
		c->kind = CALL_EXT;
		c->cmd = C_INFO + pick(ext_weights, NR_EXT_CMDS);
		gen_ext(c, data, &len);
		break;
	case K_BOGUS:
		c->kind = CALL_BOGUS;
		gen_bogus(c, data, &len);
		break;
	default:
		c->kind = CALL_BADFD;
		c->cmd = rnd_below(NR_CMDS);
		c->request = cmds[c->cmd].request;
		c->fd = one_in(2) ? -1 : one_in(2) ? INT_MAX : 1023;
		if (c->fd == 1023 && fcntl(c->fd, F_GETFD) >= 0)
			c->fd = -1;
		c->want_err = EBADF;
		len = sizeof(c->core);
		memset(data, 0, len);
		break;
	}
	place_arg(c, data, len);
	if (c->kind == CALL_EXT && c->cmd >= C_SET_POLICY)
		ext_verdict(c);
	else if (!c->must_fail && c->arg_state == ARG_BAD)
		c->must_fail = "unreadable argument";
	if (!c->must_fail && !c->exact && c->arg_state == ARG_RO &&
	    !(c->kind == CALL_CORE && c->cmd == C_FLAGS))
		c->must_fail = "read-only argument";

	effects_before(c);
	__atomic_add_fetch(&progress_mark, 1, __ATOMIC_RELAXED);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	c->ret = ioctl(c->fd, c->request, (void *)(unsigned long)c->arg);
	c->err = c->ret < 0 ? errno : 0;
	if (c->kind == CALL_CORE || c->kind == CALL_EXT) {
		cmd_seconds[c->cmd] += elapsed(&t0);
		cmd_calls[c->cmd]++;
	}
	c->done = true;
	finish_call(c);
	if (c->kind == CALL_EXT && c->cmd == C_ACCESS && !c->ret && one_in(3))
		cpu_after_access(c);
	if (c->kind == CALL_EXT && c->cmd == C_ADVISE && !c->ret && one_in(3))
		punch_after_advise(c);
}

/* ---------------------------------------------------- io_uring calls */

/* ring_watch for the new ring; 0 or a negative errno. */
static int ring_watch_setup(void)
{
	int fds[2], ret;

	while (pipe2(fds, O_CLOEXEC))
		if (!fault_retry(errno))
			return -errno;
	do {
		ret = io_uring_register_files(&ring, &fds[1], 1);
	} while (ret && fault_retry(-ret));
	close(fds[1]);
	if (ret) {
		close(fds[0]);
		io_uring_queue_exit(&ring);
		return ret;
	}
	ring_watch = fds[0];
	return 0;
}

/* Wait for the closed ring to be freed (the stall watchdog tells if not). */
static void ring_watch_wait(void)
{
	char b;

	snprintf(cur_action, sizeof(cur_action),
		 "waiting for the closed ring to be freed");
	while (read(ring_watch, &b, 1) < 0 && errno == EINTR)
		;
	close(ring_watch);
	ring_watch = -1;
}

/* Whether [p, +len) is among the slots, where addresses are drawn. */
static bool in_arena(const void *p, size_t len)
{
	return arena && overlaps(ptr_u64(p), len, arena,
				 (__u64)NR_SLOTS * SLOT_SIZE);
}

/*
 * The fuzzer's ring, SQE128 and CQE32; 0 or a negative errno. A ring made
 * again (after one was closed) must not land in a hole of the slots, which
 * the devices may be told to write.
 */
static int ring_setup(void)
{
	int ret;

	do {
		ret = io_uring_queue_init(URING_ENTRIES, &ring,
					  IORING_SETUP_SQE128 |
					  IORING_SETUP_CQE32);
	} while (ret && fault_retry(-ret));
	if (!ret && (in_arena(ring.sq.ring_ptr, ring.sq.ring_sz) ||
		     in_arena(ring.cq.ring_ptr, ring.cq.ring_sz) ||
		     in_arena(ring.sq.sqes, URING_ENTRIES * 128))) {
		io_uring_queue_exit(&ring);
		ret = -EADDRINUSE;
	}
	if (!ret)
		ret = ring_watch_setup();
	ring_up = !ret;
	return ret;
}

/* Every device's io_uring requests over, WAIT_SECONDS at most each. */
static void wait_uring_idle(struct call *c)
{
	struct hmmsim_stats st;
	unsigned int i;
	int fd;

	snprintf(cur_action, sizeof(cur_action),
		 "waiting for io_uring requests to end");
	for (i = 0; i < nr_devs; i++) {
		fd = dev_any_fd(&devs[i], NULL);
		if (fd >= 0 && wait_stats(fd, uring_idle, &st) == -ETIMEDOUT) {
			c->dev = i;
			report(c, "io_uring requests in flight a minute after their ring closed");
		}
	}
}

/* Close the ring with whatever is in flight, and set up another. */
static void ring_reset(struct call *c)
{
	int ret;

	io_uring_queue_exit(&ring);
	ring_up = false;
	wait_uring_idle(c);
	ring_watch_wait();
	ret = ring_setup();
	if (ret)
		printf("# io_uring: no new ring (%s): ioctls only from now on\n",
		       strerror(-ret));
}

/* Queue @c on its ring, with its SQE's own fields; 0 or -EBUSY. */
static int uring_queue(struct call *c, __u64 user_data)
{
	struct io_uring *r = c->plain ? &plain_ring : &ring;
	struct io_uring_sqe *sqe;
	int ret;

	ret = queue_raw(r, c->fd, c->cmd_op, c->area, CMD_AREA, user_data);
	if (ret)
		return ret;
	sqe = queued_sqe(r);
	sqe->flags = c->sqe_flags;
	sqe->uring_cmd_flags = c->uring_cmd_flags;
	sqe->__pad1 = c->pad1;
	return 0;
}

/* Submit all that is queued on @r: 0, or a negative errno. */
static int uring_submit(struct io_uring *r)
{
	int ret;

	while (io_uring_sq_ready(r)) {
		ret = io_uring_submit(r);
		if (ret < 0 && ret != -EINTR && !fault_retry(-ret) &&
		    !(fault_injection && ret == -EAGAIN))
			return ret;
	}
	return 0;
}

static int uring_wait(struct io_uring *r, struct io_uring_cqe **cqe)
{
	int ret;

	do {
		ret = io_uring_wait_cqe(r, cqe);
	} while (ret == -EINTR);
	return ret;
}

static void uring_result(struct call *c, const struct io_uring_cqe *cqe)
{
	c->ret = cqe->res < 0 ? -1 : cqe->res;
	c->err = cqe->res < 0 ? -cqe->res : 0;
	c->pages = c->plain ? NO_PAGES : cqe->big_cqe[0];
	c->done = true;
}

/* The ring failed the program: say so, and start again on a new one. */
static void uring_broken(struct call *c, const char *what, int err)
{
	char why[128];

	snprintf(why, sizeof(why), "io_uring: %s: %s", what, strerror(-err));
	report(c, why);
	ring_reset(c);
}

/* One command, judged as an ioctl is, side effects included. */
static void run_uring_one(unsigned int di)
{
	struct call *c = &cur;
	struct io_uring_cqe *cqe;
	struct io_uring *r;
	int ret;

	gen_uring_call(c, di, SQE_PLAIN | SQE_ASYNC | SQE_DRAIN);
	r = c->plain ? &plain_ring : &ring;
	effects_before(c);
	__atomic_add_fetch(&progress_mark, 1, __ATOMIC_RELAXED);
	ret = uring_queue(c, 0);
	if (!ret)
		ret = uring_submit(r);
	if (ret) {
		uring_broken(c, "submit", ret);
		return;
	}
	ret = uring_wait(r, &cqe);
	if (ret) {
		uring_broken(c, "wait", ret);
		return;
	}
	uring_result(c, cqe);
	io_uring_cqe_seen(r, cqe);
	finish_call(c);
}

/*
 * Several commands in flight at once: they run together, so that nothing
 * but their results is judged (not their side effects), and the batch ends
 * in one of these ways.
 */
enum batch_end {
	E_REAP,		/* their completions are reaped */
	E_CLOSE_FD,	/* a device file is closed, then they are reaped */
	E_CANCEL,	/* some are canceled (IORING_OP_ASYNC_CANCEL) */
	E_CLOSE_RING,	/* the ring is closed: no completion comes */
	NR_E,
};

static const char * const end_names[NR_E] = {
	[E_REAP] = "reaped",
	[E_CLOSE_FD] = "a file closed",
	[E_CANCEL] = "some canceled",
	[E_CLOSE_RING] = "the ring closed",
};

static struct call batch[BATCH_MAX];
static unsigned int batch_n;
static bool batch_in_flight;		/* for the stall watchdog */
static bool cancel_badfd[BATCH_MAX];	/* its cancel by fd names no file */
static unsigned long batch_ends[NR_E];	/* batches, by how they ended */

/*
 * Give the commands on the file of batch[i] a dup() of its fd, to close
 * while they run: the file stays open, so that its release (which moves
 * its pages home) does not come later, in the middle of another call.
 * The dup is above any fd the batch may name as a closed one. Returns the
 * dup, or -1.
 */
static int batch_dup_fd(unsigned int i)
{
	int fd = batch[i].fd, dupfd;
	unsigned int j;

	if (fd < 0 || fd != devs[batch[i].dev].fd[batch[i].fd_slot])
		return -1;
	dupfd = fcntl(fd, F_DUPFD_CLOEXEC, DUP_FD_MIN);
	if (dupfd < 0)
		return -1;
	for (j = 0; j < batch_n; j++) {
		if (batch[j].kind == CALL_URING && batch[j].fd == fd) {
			batch[j].fd = dupfd;
			batch[j].fd_closed = true;
		}
	}
	return dupfd;
}

/* Queue cancels of some of the batch; returns how many. */
static unsigned int batch_cancel(void)
{
	struct io_uring_sqe *sqe;
	unsigned int i, j, k = 0;

	for (i = 0; i < batch_n; i++) {
		if (one_in(2))
			continue;
		sqe = io_uring_get_sqe(&ring);
		if (!sqe)
			break;
		cancel_badfd[i] = false;
		if (one_in(4)) {
			/* Every request on the file. */
			io_uring_prep_cancel_fd(sqe, batch[i].fd,
						IORING_ASYNC_CANCEL_ALL);
			cancel_badfd[i] = fcntl(batch[i].fd, F_GETFD) < 0;
			for (j = 0; j < batch_n; j++)
				if (batch[j].fd == batch[i].fd)
					batch[j].cancelable = true;
		} else {
			io_uring_prep_cancel64(sqe, i, 0);
			batch[i].cancelable = true;
		}
		sqe->user_data = CANCEL_TAG | i;
		k++;
	}
	return k;
}

/*
 * A cancel's answer: how many it canceled, that it found none, or (by fd)
 * that the fd is no file.
 */
static void check_cancel(unsigned int i, int res)
{
	char why[128];

	if (res >= 0 || res == -ENOENT || res == -EALREADY ||
	    (res == -EBADF && cancel_badfd[i]))
		return;
	snprintf(why, sizeof(why), "its ASYNC_CANCEL gave %d (%s)", res,
		 strerror(-res));
	report(&batch[i], why);
}

/* Reap @n completions: the batch's, and its cancels'. */
static int batch_reap(unsigned int n)
{
	struct io_uring_cqe *cqe;
	__u64 ud;
	int ret;

	while (n--) {
		ret = uring_wait(&ring, &cqe);
		if (ret)
			return ret;
		ud = cqe->user_data;
		if (ud & CANCEL_TAG && (ud & ~CANCEL_TAG) < batch_n)
			check_cancel(ud & ~CANCEL_TAG, cqe->res);
		else if (ud < batch_n && !batch[ud].done)
			uring_result(&batch[ud], cqe);
		else
			report(&batch[0], "a completion of no request of the batch");
		io_uring_cqe_seen(&ring, cqe);
	}
	return 0;
}

static void run_uring_batch(void)
{
	static const unsigned int weights[NR_E] = {
		[E_REAP] = 4, [E_CLOSE_FD] = 2, [E_CANCEL] = 4,
		[E_CLOSE_RING] = 2,
	};
	enum batch_end e = pick(weights, NR_E);
	unsigned int i, cancels = 0;
	int ret = 0, dupfd = -1;

	batch_n = 2 + rnd_below(BATCH_MAX - 1);
	/*
	 * Closing the ring, every request is to be in hmmsim's hands when
	 * it goes: none waits in io-wq.
	 */
	for (i = 0; i < nr_devs; i++)
		dev_any_fd(&devs[i], NULL);
	no_reopen = true;
	for (i = 0; i < batch_n; i++) {
		gen_uring_call(&batch[i], rnd_below(nr_devs),
			       e == E_CLOSE_RING ? 0 : SQE_ASYNC);
		batch[i].nr = nr_calls + i;
	}
	no_reopen = false;
	if (e == E_CLOSE_FD)
		dupfd = batch_dup_fd(rnd_below(batch_n));
	for (i = 0; i < batch_n && !ret; i++)
		ret = uring_queue(&batch[i], i);
	batch_in_flight = true;
	snprintf(cur_action, sizeof(cur_action),
		 "io_uring: %u commands in flight (call #%lu on), %s",
		 batch_n, nr_calls, end_names[e]);
	batch_ends[e]++;
	cur.kind = CALL_EVENT;
	__atomic_add_fetch(&progress_mark, 1, __ATOMIC_RELAXED);
	/* Cancels submitted with the commands find some still in io-wq. */
	if (e == E_CANCEL && one_in(2))
		cancels = batch_cancel();
	if (!ret)
		ret = uring_submit(&ring);
	if (!ret && e == E_CANCEL && !cancels) {
		cancels = batch_cancel();
		ret = uring_submit(&ring);
	}
	if (dupfd >= 0)
		close(dupfd);
	if (ret) {
		uring_broken(&batch[0], "submit", ret);
	} else if (e == E_CLOSE_RING) {
		ring_reset(&batch[0]);
	} else {
		ret = batch_reap(batch_n + cancels);
		if (ret)
			uring_broken(&batch[0], "wait", ret);
	}
	batch_in_flight = false;
	for (i = 0; i < batch_n; i++) {
		if (batch[i].done) {
			finish_call(&batch[i]);
		} else {
			devs[batch[i].dev].calls++;
			nr_calls++;
		}
	}
	cur_action[0] = '\0';
}

static void print_batches(void)
{
	char buf[256];
	unsigned int e;

	buf[0] = '\0';
	for (e = 0; e < NR_E; e++)
		append(buf, sizeof(buf), "%s%lu %s", e ? ", " : "",
		       batch_ends[e], end_names[e]);
	printf("# io_uring batches: %s\n", buf);
}

static void run_uring_step(unsigned int di)
{
	if (one_in(10))
		run_uring_batch();
	else
		run_uring_one(di);
}

/* --------------------------------------------------- crash and stalls */

static void fatal_signal(int sig, siginfo_t *si, void *uc)
{
	char buf[1024];

	if (cur.kind == CALL_EVENT && cur_action[0])
		snprintf(buf, sizeof(buf), "%s", cur_action);
	else
		describe(&cur, buf, sizeof(buf));
	dprintf(STDOUT_FILENO, "Bail out! signal %d (%s) at %p during %s\n",
		sig, strsignal(sig), si->si_addr, buf);
	raise(sig);
}

/* The commands of a batch in flight, with what came back so far. */
static void stall_batch(void)
{
	char buf[1024];
	unsigned int i;

	for (i = 0; batch_in_flight && i < batch_n; i++) {
		describe(&batch[i], buf, sizeof(buf));
		printf("#   %s\n", buf);
	}
}

static void *stall_watchdog(void *unused)
{
	unsigned long last = 0, now;
	unsigned int still = 0;
	char buf[1024];

	for (;;) {
		/* Not ordering: the pace of a watchdog that only reports. */
		sleep(5);
		now = __atomic_load_n(&progress_mark, __ATOMIC_RELAXED);
		if (now != last) {
			last = now;
			still = 0;
			continue;
		}
		still += 5;
		if (still != STALL_SECONDS)
			continue;
		if (cur.kind == CALL_EVENT)
			snprintf(buf, sizeof(buf), "%s", cur_action);
		else
			describe(&cur, buf, sizeof(buf));
		printf("# no progress for %u s, in: %s\n", still, buf);
		stall_batch();
	}
	return unused;
}

/* --------------------------------------------------------------- setup */

static int guard_at(void *addr, size_t len)
{
	void *p = mmap(addr, len, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	return p == addr ? 0 : -1;
}

static int setup_memory(void)
{
	size_t len = (NR_SLOTS + 1) * SLOT_SIZE, area = ARG_AREA_PAGES * page_size;
	char *p, *slot;
	unsigned int s;

	file_fd = open("/tmp", O_TMPFILE | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	if (file_fd < 0)
		file_fd = memfd_create("hmmsim_fuzz", MFD_CLOEXEC);
	if (file_fd < 0 ||
	    ftruncate(file_fd, (off_t)(LIST_FILE_PAGE + 1) * page_size)) {
		printf("# tmpfile: %s\n", strerror(errno));
		return -1;
	}
	if (pipe2(pipe_fds, O_CLOEXEC)) {
		printf("# pipe: %s\n", strerror(errno));
		return -1;
	}

	/* Find room for the slots, then give it all back: holes are holes. */
	p = mmap(NULL, len, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		printf("# arena: %s\n", strerror(errno));
		return -1;
	}
	munmap(p, len);
	arena = (char *)(((unsigned long)p + SLOT_SIZE - 1) & ~(SLOT_SIZE - 1));

	for (s = 0; s < NR_SLOTS; s++)
		if (guard_at(slot_guard(s), page_size))
			goto fail;

	/* Slot 0: the arguments. */
	slot = slot_base(SLOT_ARGS);
	args = mmap(slot, area, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	args_guard = slot + area;
	args_ro = slot + area + page_size;
	args_ro_alias = slot + area + 3 * page_size;
	if (args != slot || guard_at(args_guard, page_size) ||
	    mmap(args_ro, page_size, PROT_READ,
		 MAP_SHARED | MAP_FIXED_NOREPLACE, file_fd, 0) != args_ro ||
	    mmap(args_ro_alias, page_size, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED_NOREPLACE, file_fd, 0) != args_ro_alias)
		goto fail;

	/* The LIST arrays: a page, a guard, a read-only view of a file page. */
	list_area = slot + LIST_AREA_OFFSET;
	list_ro = list_area + 2 * page_size;
	list_ro_alias = list_area + 4 * page_size;
	if (mmap(list_area, page_size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) !=
	    list_area || guard_at(list_area + page_size, page_size) ||
	    mmap(list_ro, page_size, PROT_READ, MAP_SHARED | MAP_FIXED_NOREPLACE,
		 file_fd, (off_t)LIST_FILE_PAGE * page_size) != list_ro ||
	    mmap(list_ro_alias, page_size, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED_NOREPLACE, file_fd,
		 (off_t)LIST_FILE_PAGE * page_size) != list_ro_alias)
		goto fail;

	/* Slot 1: the canary, 2 MiB aligned, with a guard page after it. */
	slot = slot_base(SLOT_CANARY);
	canary->base = mmap(slot, SZ_2M, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
			    -1, 0);
	if (canary->base != slot || guard_at(slot + SZ_2M, page_size))
		goto fail;
	canary->kind = BUF_CANARY;
	canary->npages = win_pages;
	buf_set_prot(canary, 0, canary->npages, PROT_READ | PROT_WRITE);
	madvise(canary->base, SZ_2M, MADV_HUGEPAGE);
	canary_fill();

	for (s = FIRST_POOL; s < NR_SLOTS; s++)
		buf_map(s, random_kind());
	return 0;

fail:
	printf("# cannot lay out the buffers at %p: %s\n", arena,
	       strerror(errno));
	return -1;
}

/* The rings, before the slots are laid out; -1 with errno on failure. */
static int setup_rings(void)
{
	int ret;

	if (!uring_percent)
		return 0;
	ret = ring_setup();
	if (ret) {
		errno = -ret;
		return -1;
	}
	plain_up = !io_uring_queue_init(4, &plain_ring, 0);
	return 0;
}

static void setup_hostile(void)
{
	unsigned int i;

	/*
	 * A range or a buffer that starts in a hole fails there; one that
	 * starts in the program's memory would let the device write it.
	 */
	for (i = 0; i < ARRAY_SIZE(hostile); i++)
		hostile_ok[i] = !is_mapped(hostile[i].v);
}

static unsigned int find_devices(void)
{
	unsigned int id, bad = 0;

	for (id = 0; id < MAX_DEVICES; id++) {
		struct dev *d = &devs[nr_devs];
		int fd, i, err;

		dev_path(d->path, sizeof(d->path), id);
		fd = dev_open(d, 0);
		if (fd < 0) {
			if (errno != ENOENT && errno != ENXIO && errno != ENODEV) {
				printf("# %s: %s\n", d->path, strerror(errno));
				bad++;
			}
			continue;
		}
		err = info(fd, &d->info);
		if (err) {
			printf("# %s: INFO: %s\n", d->path, strerror(-err));
			close(fd);
			bad++;
			continue;
		}
		d->id = id;
		d->fd[0] = fd;
		for (i = 1; i < FDS_PER_DEV; i++)
			d->fd[i] = dev_open(d, i);
		printf("# %s: %s, %llu MiB\n", d->path,
		       d->info.type == HMMSIM_MEM_COHERENT ? "coherent" :
		       d->info.type == HMMSIM_MEM_PRIVATE ? "private" : "?",
		       ull(d->info.capacity >> 20));
		nr_devs++;
	}
	return bad;
}

/* What the streams did: the policy's counters of each device. */
static void print_policy(void)
{
	struct hmmsim_stats st;
	unsigned int i;

	for (i = 0; i < nr_devs; i++) {
		struct dev *d = &devs[i];
		int fd = dev_any_fd(d, NULL);

		if (fd < 0 || get_stats(fd, &st))
			continue;
		printf("# %s: streams %lu remote, %lu first-touch, %lu counters (%lu moved);",
		       d->path, d->streams[HMMSIM_POLICY_REMOTE],
		       d->streams[HMMSIM_POLICY_FIRST_TOUCH],
		       d->streams[HMMSIM_POLICY_COUNTERS], d->streams_migrated);
		printf(" batches %llu, dups %llu; moved %llu fault, %llu prefetch, %llu counter;",
		       ull(st.fault_batches), ull(st.fault_duplicates),
		       ull(st.fault_migrations), ull(st.prefetch_migrations),
		       ull(st.counter_migrations));
		printf(" remote accesses %llu; thrashing %llu, served remotely %llu\n",
		       ull(st.remote_accesses), ull(st.thrash_events),
		       ull(st.thrash_remote));
	}
}

/* At the end: the canary on a device, every file closed, still intact. */
static void final_round(void)
{
	static char readback[SZ_2M];
	struct hmm_dmirror_cmd k;
	unsigned int i, j, s;
	int fd;

	/* Through every device in turn: it ends on the last one. */
	for (i = 0; i < nr_devs; i++) {
		memset(&k, 0, sizeof(k));
		k.addr = ptr_u64(canary->base);
		k.ptr = ptr_u64(readback);
		k.npages = canary->npages;
		fd = dev_any_fd(&devs[i], NULL);
		if (ioctl(fd, HMM_DMIRROR_MIGRATE_TO_DEV, &k) &&
		    errno_slot(errno) == HIST_OTHER) {
			printf("# FAIL: %s: final MIGRATE_TO_DEV of the canary: %s\n",
			       devs[i].path, strerror(errno));
			devs[i].failures++;
		}
	}
	for (s = FIRST_POOL; s < NR_SLOTS; s++)
		buf_unmap(s);
	for (i = 0; i < nr_devs; i++) {
		for (j = 0; j < FDS_PER_DEV; j++) {
			if (devs[i].fd[j] >= 0)
				close(devs[i].fd[j]);
			devs[i].fd[j] = -1;
		}
	}
	canary_check("every file closed");
}

static void die_usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [-n CALLS_PER_DEVICE] [-s SEED] [-u PERCENT] [-F] [-V FIRST_CALL]\n",
		prog);
	exit(2);
}

int main(int argc, char **argv)
{
	unsigned long per_dev = DEFAULT_CALLS, total, i;
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };
	struct sigaction sa = { .sa_sigaction = fatal_signal,
				.sa_flags = SA_RESETHAND | SA_SIGINFO };
	struct timespec t0;
	unsigned int bad, n, j;
	bool seeded = false;
	__u64 seed = 0;
	pthread_t thread;
	char *end;
	int opt, status = 0;

	while ((opt = getopt(argc, argv, "n:s:u:V:Fh")) != -1) {
		switch (opt) {
		case 'V':
			verbose_from = strtoul(optarg, &end, 0);
			if (*end || !optarg[0])
				die_usage(argv[0]);
			break;
		case 'u':
			uring_percent = strtoul(optarg, &end, 0);
			if (*end || !optarg[0] || uring_percent > 100)
				die_usage(argv[0]);
			break;
		case 'F':
			fault_injection = true;
			break;
		case 'n':
			per_dev = strtoul(optarg, &end, 0);
			if (*end || !optarg[0])
				die_usage(argv[0]);
			break;
		case 's':
			seed = strtoull(optarg, &end, 0);
			if (*end || !optarg[0])
				die_usage(argv[0]);
			seeded = true;
			break;
		default:
			die_usage(argv[0]);
		}
	}
	if (optind != argc)
		die_usage(argv[0]);

	setvbuf(stdout, NULL, _IOLBF, 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (!seeded) {
		struct timespec now;

		clock_gettime(CLOCK_REALTIME, &now);
		seed = ((__u64)now.tv_sec << 32) ^ now.tv_nsec ^
		       ((__u64)getpid() << 16);
	}
	rng_state = seed;
	canary_seed = rnd();

	task_size = user_va_end() - page_size;

	printf("TAP version 13\n");
	printf("# seed %#llx, %lu calls per device (replay: hmmsim_fuzz -s %#llx -n %lu -u %u)\n",
	       ull(seed), per_dev, ull(seed), per_dev, uring_percent);
	printf("# %u%% of the calls by io_uring\n", uring_percent);

	for (i = 0; i < ARRAY_SIZE(sigs); i++)
		sigaction(sigs[i], &sa, NULL);

	bad = find_devices();
	if (!nr_devs) {
		printf("1..0 # SKIP no hmmsim device\n");
		return bad ? 1 : 4;
	}
	if (setup_rings()) {
		printf("Bail out! io_uring: %s (-u 0: ioctls only)\n",
		       strerror(errno));
		return 1;
	}
	setup_hostile();
	if (setup_memory()) {
		printf("Bail out! cannot set up the buffers\n");
		return 1;
	}
	if (!pthread_create(&thread, NULL, stall_watchdog, NULL))
		pthread_detach(thread);
	if (fault_injection) {
		int err = make_it_fail();

		if (err) {
			printf("Bail out! make-it-fail: %s\n", strerror(-err));
			return 1;
		}
	}

	total = per_dev * nr_devs;
	for (i = 0; i < total; i++) {
		if (one_in(ACTION_ONE_IN))
			do_action();
		run_call(i % nr_devs);
		if ((i + 1) % CANARY_EVERY == 0)
			canary_check("periodic");
		if ((i + 1) % PROGRESS_EVERY == 0) {
			unsigned long f = canary_failures;

			for (j = 0; j < nr_devs; j++)
				f += devs[j].failures;
			printf("# %lu/%lu calls, %.1f s, %lu canary checks, %lu failures\n",
			       i + 1, total, elapsed(&t0), canary_checks, f);
		}
	}
	canary_check("end");
	print_policy();
	final_round();

	printf("# %lu calls in %.1f s (CPU read checksum %#llx)\n", nr_calls,
	       elapsed(&t0), ull(sink));
	print_batches();
	print_cmd_times();
	for (n = 0; n < nr_devs; n++) {
		struct dev *d = &devs[n];
		char hist[512], fails[64];

		hist[0] = '\0';
		for (j = 0; j < NR_HIST; j++)
			if (d->hist[j])
				append(hist, sizeof(hist), " %s:%lu",
				       j == HIST_OTHER ? "other" : errnos[j].name,
				       d->hist[j]);
		fails[0] = '\0';
		if (d->failures) {
			status = 1;
			snprintf(fails, sizeof(fails), "%lu failures, ",
				 d->failures);
		}
		printf("%sok %u fuzz %s: %lu calls (%lu by io_uring), %serrno histogram%s\n",
		       d->failures ? "not " : "", n + 1, d->path, d->calls,
		       d->uring_calls, fails, hist);
	}
	if (canary_failures) {
		status = 1;
		printf("not ok %u canary: pattern damaged at %lu of %lu checks\n",
		       nr_devs + 1, canary_failures, canary_checks);
	} else {
		printf("ok %u canary: pattern intact at %lu checks\n",
		       nr_devs + 1, canary_checks);
	}
	printf("1..%u\n", nr_devs + 1);
	return status || bad;
}
