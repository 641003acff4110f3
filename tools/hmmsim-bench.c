// SPDX-License-Identifier: GPL-2.0
/*
 * hmmsim-bench: how fast a device that speaks the lib/test_hmm ioctls moves
 * data, against memcpy() of the same buffer (the physical limit of a copy
 * engine emulated by the CPU).
 *
 *   hmmsim-bench [-s MIB] [-r REPEAT] [-b 4k|thp|both] [-a ROUNDS] [-j]
 *                DEVICE [DEVICE...]
 *
 * For each device (e.g. /dev/hmmsim0, /dev/hmm_dmirror0 for the kernel's
 * lib/test_hmm.ko) and each operation, REPEAT timed runs on a buffer of MIB
 * MiB (default 64, 5 runs) give the median and the spread (min..max):
 *
 *   memcpy       memcpy() of the buffer into another
 *   to_device    HMM_DMIRROR_MIGRATE_TO_DEV of the whole buffer
 *   to_system    HMM_DMIRROR_MIGRATE_TO_SYS of the whole buffer
 *   fault_back   the CPU touching every page of a migrated buffer
 *   dev_read     HMM_DMIRROR_READ of a mirrored buffer
 *   dev_write    HMM_DMIRROR_WRITE of a mirrored buffer
 *
 * Throughput is in GB/s (10^9 bytes); fault_back also in microseconds per
 * page and per CPU fault taken (a fault may bring back more than a page),
 * and as a percentage of memcpy. With two or more devices, a ratio table
 * gives the first device's median throughput as a multiple of each
 * other's. -j prints JSON.
 *
 * The buffers are backed by 4 KiB pages (MADV_NOHUGEPAGE), by transparent
 * huge pages (2 MiB aligned, MADV_HUGEPAGE before the first touch), or
 * both, one after the other (-b, both by default), and then a last table
 * gives both side by side. Before every timed run the share of the buffers
 * that is AnonHugePages in /proc/self/smaps is read; a THP-backed buffer
 * that lost its huge pages (a migration back in 4 KiB pages) is refilled
 * first, and each row gives the least share seen before its runs, so that
 * a THP figure never hides small pages.
 *
 * -a ROUNDS alternates the devices instead: for each operation, a round
 * is REPEAT runs of each device, the devices taking turns run by run, the
 * first device first, ROUNDS rounds in all; each round's median per device
 * and the ratio of the first device's to each other's are printed, with
 * the least ratio of all rounds.
 *
 * -v says on stderr what is being measured as it starts (a sign of life
 * for a runner that watches the output).
 *
 * For an hmmsim device (one that answers HMMSIM_IOCTL_INFO), a second table
 * compares the ways of issuing migrations: the buffer goes to the device and
 * back in migrations of CHUNK KiB each (-c, default 2048), issued as
 * HMMSIM_IOCTL_MIGRATE from one thread, then as io_uring commands with 1, 8
 * and 32 in flight (-q to choose other queue depths). It gives migrations
 * per second, GB/s moved, and each as a multiple of the ioctl loop.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>

#include <hmmsim.h>

#define MAX_DEVICES	4
#define MAX_REPEAT	101
#define MAX_ROUNDS	20

enum op { OP_MEMCPY, OP_TO_DEVICE, OP_TO_SYSTEM, OP_FAULT_BACK, OP_READ,
	  OP_WRITE, NR_OPS };

static const char *const op_names[NR_OPS] = {
	"memcpy", "to_device", "to_system", "fault_back", "dev_read",
	"dev_write",
};

/* What backs the buffers: small pages, or transparent huge pages. */
enum backing { BACK_4K, BACK_THP, NR_BACKINGS };

static const char *const backing_names[NR_BACKINGS] = { "4k", "thp" };

static const char *const backing_titles[NR_BACKINGS] = {
	"4 KiB pages (MADV_NOHUGEPAGE)",
	"transparent huge pages (MADV_HUGEPAGE, 2 MiB aligned)",
};

struct result {
	double median, min, max;	/* seconds */
	/*
	 * The share of the buffers in THPs before the runs: the least on
	 * THPs, the greatest on 4 KiB pages.
	 */
	double huge;
	double faults;	/* median CPU faults of a run */
};

/* The two buffers of a backing, each in a PROT_NONE reservation. */
struct buffers {
	enum backing backing;
	char *buf, *mirror;
	char *res_buf, *res_mirror;
};

/* Ways to issue migrations: the ioctl loop, then io_uring queue depths. */
#define MAX_MODES	5
static unsigned int qdepth[MAX_MODES] = { 0, 1, 8, 32 };
static unsigned int nr_modes = 4;
static size_t chunk = 2UL << 20;

static size_t size = 64UL << 20;
static unsigned int repeat = 5;
static long page_size;
static size_t pmd_size = 2UL << 20;

/* What was measured, by backing, device and operation or mode. */
static bool backing_on[NR_BACKINGS] = { true, true };
static const char *dev[MAX_DEVICES];
static unsigned int ndev;
static bool hmmsim[MAX_DEVICES];
static __u64 caps[MAX_DEVICES];
static struct result res[NR_BACKINGS][MAX_DEVICES][NR_OPS];
static struct result mig[NR_BACKINGS][MAX_DEVICES][MAX_MODES];
/* hmmsim's THP counters over the operations' runs, warm-up excluded. */
static const char *const thp_counter_names[] = {
	"thp_to_device", "thp_from_device", "thp_fallbacks", "thp_splits",
};

static __u64 thp_moves[NR_BACKINGS][MAX_DEVICES][4];
static unsigned int rounds;
/* Migrations to a device issued again after ENOENT (dmirror()). */
static unsigned int migrations_again;
static bool verbose;
static struct result alt[NR_BACKINGS][NR_OPS][MAX_ROUNDS][MAX_DEVICES];

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "hmmsim-bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* The PMD size THPs have here, from sysfs; 2 MiB if it does not say. */
static void read_pmd_size(void)
{
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size",
			"r");
	unsigned long v;

	if (!f)
		return;
	if (fscanf(f, "%lu", &v) == 1 && v && !(v & (v - 1)))
		pmd_size = v;
	fclose(f);
}

/*
 * Map @size bytes of fresh memory at @p, over what was there (which also
 * frees the page tables of what was there: MADV_DONTNEED leaves them, and
 * a fault under a page table maps no THP), advise them for @b and touch
 * them: THPs, if @b asks for them, where the kernel can.
 */
static void fill_at(char *p, enum backing b)
{
	if (mmap(p, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
		die("mmap");
	if (madvise(p, size, b == BACK_THP ? MADV_HUGEPAGE : MADV_NOHUGEPAGE))
		die("madvise");
	memset(p, 0x5a, size);
}

/*
 * A buffer of @size bytes, PMD aligned, inside a PROT_NONE reservation
 * whose ends keep it a VMA of its own (so that smaps describes it alone),
 * filled for @b (fill_at()). Returns the buffer; *@resv is the
 * reservation, to unmap.
 */
static char *map_buffer(enum backing b, char **resv)
{
	size_t len = size + 2 * pmd_size;
	char *r, *p;

	r = mmap(NULL, len, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r == MAP_FAILED)
		die("mmap");
	p = (char *)(((unsigned long)r + page_size + pmd_size - 1) &
		     ~(pmd_size - 1));
	fill_at(p, b);
	*resv = r;
	return p;
}

static void map_buffers(struct buffers *b, enum backing backing)
{
	b->backing = backing;
	b->buf = map_buffer(backing, &b->res_buf);
	b->mirror = map_buffer(backing, &b->res_mirror);
}

static void unmap_buffers(struct buffers *b)
{
	munmap(b->res_buf, size + 2 * pmd_size);
	munmap(b->res_mirror, size + 2 * pmd_size);
}

/* Bytes of the buffer at @p that are AnonHugePages (/proc/self/smaps). */
static size_t huge_bytes(const char *p)
{
	unsigned long start, end, lo = (unsigned long)p, hi = lo + size, kb;
	bool in = false;
	size_t total = 0;
	char line[256];
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		die("/proc/self/smaps");
	while (fgets(line, sizeof(line), f)) {
		/* A VMA's first line; no field's line reads as a range. */
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2)
			in = start >= lo && end <= hi;
		else if (in && sscanf(line, "AnonHugePages: %lu kB", &kb) == 1)
			total += kb << 10;
	}
	fclose(f);
	return total;
}

/* The least share of the two buffers that is in THPs now, 0 to 1. */
static double huge_share(struct buffers *b)
{
	size_t a = huge_bytes(b->buf), m = huge_bytes(b->mirror);

	return (double)(a < m ? a : m) / size;
}

/*
 * Before a timed run: a THP-backed buffer that lost its huge pages (a
 * migration back in small pages, a split) gets new ones. Returns the share
 * of the buffers in THPs, as the run will find them.
 */
static double prepare(struct buffers *b)
{
	if (b->backing == BACK_THP) {
		if (huge_bytes(b->buf) < size)
			fill_at(b->buf, BACK_THP);
		if (huge_bytes(b->mirror) < size)
			fill_at(b->mirror, BACK_THP);
	}
	return huge_share(b);
}

/* The path @fd was opened as, for messages. */
static const char *fd_name(int fd)
{
	static char name[256];
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, name, sizeof(name) - 1);
	if (n < 0)
		return "?";
	name[n] = '\0';
	return name;
}

/*
 * One ioctl of the test_hmm ABI on the whole buffer. migrate_vma is best
 * effort: a page another CPU still holds (its LRU batch, a split) is left
 * where it is, and lib/test_hmm's MIGRATE_TO_DEV then fails with ENOENT
 * where hmmsim tries again itself. Such a migration is issued again, at
 * most MAX_TRIES times in all, and counted (the run takes longer).
 */
#define MAX_TRIES	3

static void dmirror(int fd, unsigned long request, void *addr, void *buf)
{
	struct hmm_dmirror_cmd cmd = {
		.addr = (unsigned long)addr,
		.ptr = (unsigned long)buf,
		.npages = size / page_size,
	};
	unsigned int tries = 0;

	while (ioctl(fd, request, &cmd)) {
		int err = errno;

		if (err == EINTR)
			continue;
		if (err == ENOENT && request == HMM_DMIRROR_MIGRATE_TO_DEV &&
		    ++tries < MAX_TRIES) {
			migrations_again++;
			continue;
		}
		fprintf(stderr, "hmmsim-bench: %s: ioctl %#lx: %s\n",
			fd_name(fd), request, strerror(err));
		exit(1);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *t, unsigned int n)
{
	qsort(t, n, sizeof(*t), cmp_double);
	return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

static struct result summarize(double *t, unsigned int n)
{
	struct result r = { 0 };

	r.median = median(t, n);
	r.min = t[0];
	r.max = t[n - 1];
	return r;
}

/* CPU faults the process has taken so far, minor and major. */
static double faults_now(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt + ru.ru_majflt;
}

/*
 * One timed run of @op on device @fd; returns seconds, and in *@faults the
 * CPU faults taken in the timed part.
 */
static double run_op(enum op op, int fd, struct buffers *b, double *faults)
{
	char *buf = b->buf, *mirror = b->mirror;
	double t0, t, f0 = faults_now();
	size_t i;

	switch (op) {
	case OP_MEMCPY:
		t0 = now();
		memcpy(mirror, buf, size);
		t = now() - t0;
		break;
	case OP_TO_DEVICE:
		t0 = now();
		dmirror(fd, HMM_DMIRROR_MIGRATE_TO_DEV, buf, mirror);
		t = now() - t0;
		dmirror(fd, HMM_DMIRROR_MIGRATE_TO_SYS, buf, mirror);
		break;
	case OP_TO_SYSTEM:
		dmirror(fd, HMM_DMIRROR_MIGRATE_TO_DEV, buf, mirror);
		t0 = now();
		dmirror(fd, HMM_DMIRROR_MIGRATE_TO_SYS, buf, mirror);
		t = now() - t0;
		break;
	case OP_FAULT_BACK:
		dmirror(fd, HMM_DMIRROR_MIGRATE_TO_DEV, buf, mirror);
		f0 = faults_now();
		t0 = now();
		/* A relaxed atomic load: a read the compiler cannot drop. */
		for (i = 0; i < size; i += page_size)
			(void)__atomic_load_n(&buf[i], __ATOMIC_RELAXED);
		t = now() - t0;
		*faults = faults_now() - f0;
		return t;
	case OP_READ:
		dmirror(fd, HMM_DMIRROR_READ, buf, mirror);
		t0 = now();
		dmirror(fd, HMM_DMIRROR_READ, buf, mirror);
		t = now() - t0;
		break;
	case OP_WRITE:
		dmirror(fd, HMM_DMIRROR_WRITE, buf, mirror);
		t0 = now();
		dmirror(fd, HMM_DMIRROR_WRITE, buf, mirror);
		t = now() - t0;
		break;
	default:
		return 0;
	}
	*faults = faults_now() - f0;
	return t;
}

/*
 * The share of the buffers in THPs a figure may claim, from @worst so far
 * and @h now: the least on THPs, the greatest on 4 KiB pages.
 */
static double worse_share(struct buffers *b, double worst, double h)
{
	if (b->backing == BACK_THP)
		return h < worst ? h : worst;
	return h > worst ? h : worst;
}

static double first_share(struct buffers *b)
{
	return b->backing == BACK_THP ? 1 : 0;
}

/* REPEAT timed runs of @op, each on buffers prepared for their backing. */
static struct result measure(enum op op, int fd, struct buffers *b)
{
	double times[MAX_REPEAT], faults[MAX_REPEAT], huge = first_share(b);
	struct result r;
	unsigned int i;

	for (i = 0; i < repeat; i++) {
		huge = worse_share(b, huge, prepare(b));
		times[i] = run_op(op, fd, b, &faults[i]);
	}
	r = summarize(times, repeat);
	r.huge = huge;
	r.faults = median(faults, repeat);
	return r;
}

static double gbps(double seconds)
{
	return size / seconds / 1e9;
}

/* One HMMSIM_IOCTL_MIGRATE of a chunk; returns the pages moved. */
static __u64 ioctl_migrate(int fd, char *addr, bool to_system)
{
	struct hmmsim_migrate m = {
		.size = sizeof(m),
		.flags = to_system ? HMMSIM_MIGRATE_TO_SYSTEM : 0,
		.addr = (unsigned long)addr,
		.npages = chunk / page_size,
		.src_fd = HMMSIM_MIGRATE_FROM_SYSTEM,
	};

	while (ioctl(fd, HMMSIM_IOCTL_MIGRATE, &m)) {
		if (errno == EINTR)
			continue;
		die("HMMSIM_IOCTL_MIGRATE");
	}
	return m.cpages;
}

/*
 * Every chunk of the buffer to the device, then back, with at most @qd
 * io_uring commands in flight. Returns the pages moved.
 */
static __u64 uring_migrate(struct io_uring *ring, int fd, char *buf,
			   unsigned int qd, bool to_system)
{
	size_t nr = size / chunk, queued = 0, done = 0, inflight = 0;
	__u64 pages = 0;

	while (done < nr) {
		struct io_uring_cqe *cqe;
		unsigned int head, seen = 0;

		for (; inflight < qd && queued < nr; queued++, inflight++) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
			struct hmmsim_uring_cmd c = {
				.size = sizeof(c),
				.addr = (unsigned long)(buf + queued * chunk),
				.npages = chunk / page_size,
			};

			if (!sqe)
				break;
			/* An SQE128 entry: the command area is 80 bytes. */
			memset(sqe, 0, 128);
			sqe->opcode = IORING_OP_URING_CMD;
			sqe->fd = fd;
			sqe->cmd_op = to_system ?
				      HMMSIM_URING_MIGRATE_TO_SYSTEM :
				      HMMSIM_URING_MIGRATE_TO_DEVICE;
			memcpy(sqe->cmd, &c, sizeof(c));
		}
		errno = -io_uring_submit_and_wait(ring, 1);
		if (errno > 0)
			die("io_uring_submit_and_wait");
		io_uring_for_each_cqe(ring, head, cqe) {
			if (cqe->res < 0) {
				errno = -cqe->res;
				die("io_uring migration");
			}
			pages += cqe->big_cqe[0];
			seen++;
		}
		io_uring_cq_advance(ring, seen);
		done += seen;
		inflight -= seen;
	}
	return pages;
}

/*
 * One timed round trip of the buffer, to the device and back, in chunks:
 * @qd 0 is the ioctl loop. Returns seconds; the buffer must come back.
 */
static double run_migrations(int fd, struct io_uring *ring, char *buf,
			     unsigned int qd)
{
	size_t i, nr = size / chunk;
	__u64 to = 0, back = 0;
	double t0 = now(), t;

	if (!qd) {
		for (i = 0; i < nr; i++)
			to += ioctl_migrate(fd, buf + i * chunk, false);
		for (i = 0; i < nr; i++)
			back += ioctl_migrate(fd, buf + i * chunk, true);
	} else {
		to = uring_migrate(ring, fd, buf, qd, false);
		back = uring_migrate(ring, fd, buf, qd, true);
	}
	t = now() - t0;
	if (to != size / page_size || back != to) {
		fprintf(stderr,
			"hmmsim-bench: qd %u: %llu pages moved there, %llu back, not %zu\n",
			qd, (unsigned long long)to, (unsigned long long)back,
			size / page_size);
		exit(1);
	}
	return t;
}

/* Whether @fd is an hmmsim device; its HMMSIM_CAP_* bits in *@caps. */
static bool is_hmmsim(int fd, __u64 *caps)
{
	struct hmmsim_info info = { .size = sizeof(info) };

	if (ioctl(fd, HMMSIM_IOCTL_INFO, &info))
		return false;
	*caps = info.caps;
	return true;
}

/* hmmsim's counters; zeroes from a device that has none. */
static void read_stats(int fd, struct hmmsim_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	if (ioctl(fd, HMMSIM_IOCTL_STATS, st))
		memset(st, 0, sizeof(*st));
}

static const char *mode_name(unsigned int m)
{
	static char names[MAX_MODES][24];

	if (!qdepth[m])
		return "ioctl";
	snprintf(names[m], sizeof(names[m]), "io_uring qd%u", qdepth[m]);
	return names[m];
}

/* Migrations per second and GB/s moved, for a median time. */
static double mig_rate(double seconds)
{
	return 2.0 * (size / chunk) / seconds;
}

static double mig_gbps(double seconds)
{
	return 2.0 * size / seconds / 1e9;
}

static void parse_qdepths(char *arg)
{
	char *tok;

	nr_modes = 1;
	for (tok = strtok(arg, ","); tok && nr_modes < MAX_MODES;
	     tok = strtok(NULL, ","))
		qdepth[nr_modes++] = strtoul(tok, NULL, 0);
}

static bool parse_backing(const char *arg)
{
	backing_on[BACK_4K] = !strcmp(arg, "4k") || !strcmp(arg, "both");
	backing_on[BACK_THP] = !strcmp(arg, "thp") || !strcmp(arg, "both");
	return backing_on[BACK_4K] || backing_on[BACK_THP];
}

static int open_device(unsigned int d)
{
	int fd = open(dev[d], O_RDWR);

	if (fd < 0)
		die(dev[d]);
	return fd;
}

/* Every operation, then for hmmsim the ways of migrating, on device @d. */
static void bench_device(unsigned int d, struct buffers *b)
{
	enum backing bk = b->backing;
	struct hmmsim_stats before, after;
	double times[MAX_REPEAT], huge;
	struct io_uring ring;
	unsigned int m, r;
	double faults;
	int op, fd;

	if (verbose)
		fprintf(stderr, "hmmsim-bench: %s, %s\n", dev[d],
			backing_names[bk]);
	fd = open_device(d);
	/* A warm-up: device memory hot-plugged on first use, etc. */
	for (op = 0; op < NR_OPS; op++)
		run_op(op, fd, b, &faults);
	read_stats(fd, &before);
	for (op = 0; op < NR_OPS; op++)
		res[bk][d][op] = measure(op, fd, b);
	hmmsim[d] = is_hmmsim(fd, &caps[d]);
	if (hmmsim[d]) {
		read_stats(fd, &after);
		thp_moves[bk][d][0] = after.thp_to_device - before.thp_to_device;
		thp_moves[bk][d][1] = after.thp_from_device -
				      before.thp_from_device;
		thp_moves[bk][d][2] = after.thp_fallbacks - before.thp_fallbacks;
		thp_moves[bk][d][3] = after.thp_splits - before.thp_splits;
		errno = -io_uring_queue_init(64, &ring, IORING_SETUP_SQE128 |
						       IORING_SETUP_CQE32);
		if (errno > 0)
			die("io_uring_queue_init");
		for (m = 0; m < nr_modes; m++) {
			huge = first_share(b);
			prepare(b);
			run_migrations(fd, &ring, b->buf, qdepth[m]);
			for (r = 0; r < repeat; r++) {
				huge = worse_share(b, huge, prepare(b));
				times[r] = run_migrations(fd, &ring, b->buf,
							  qdepth[m]);
			}
			mig[bk][d][m] = summarize(times, repeat);
			mig[bk][d][m].huge = huge;
		}
		io_uring_queue_exit(&ring);
	}
	close(fd);
}

/* One run of @op on a file of device @d's own, opened for the run alone. */
static double run_alone(enum op op, unsigned int d, struct buffers *b,
			double *faults)
{
	int fd = open_device(d);
	double t = run_op(op, fd, b, faults);

	close(fd);
	return t;
}

/*
 * The devices in turn, for each operation: a round is a warm-up run on each
 * device, then REPEAT timed runs of each, the devices taking turns run by
 * run, so that a slow stretch of the host falls on all of them alike. Each
 * run has a file opened for it alone (so that no other device's notifier
 * sees the migrations).
 */
static void bench_alternating(struct buffers *b)
{
	double times[MAX_DEVICES][MAX_REPEAT], faults[MAX_DEVICES][MAX_REPEAT];
	double huge[MAX_DEVICES], f;
	unsigned int d, r, i;
	int op, fd;

	for (d = 0; d < ndev; d++) {
		fd = open_device(d);
		hmmsim[d] = is_hmmsim(fd, &caps[d]);
		close(fd);
	}
	for (op = 0; op < NR_OPS; op++) {
		if (verbose)
			fprintf(stderr, "hmmsim-bench: %s, %s, alternating\n",
				op_names[op], backing_names[b->backing]);
		for (r = 0; r < rounds; r++) {
			for (d = 0; d < ndev; d++) {
				huge[d] = first_share(b);
				run_alone(op, d, b, &f);
			}
			for (i = 0; i < repeat; i++) {
				for (d = 0; d < ndev; d++) {
					huge[d] = worse_share(b, huge[d],
							      prepare(b));
					times[d][i] = run_alone(op, d, b,
								&faults[d][i]);
				}
			}
			for (d = 0; d < ndev; d++) {
				struct result *res = &alt[b->backing][op][r][d];

				*res = summarize(times[d], repeat);
				res->huge = huge[d];
				res->faults = median(faults[d], repeat);
			}
		}
	}
}

static void print_json_result(const char *name, struct result *r)
{
	printf(", \"%s\": {\"median_gbps\": %.3f, \"min_gbps\": %.3f, ",
	       name, gbps(r->median), gbps(r->max));
	printf("\"max_gbps\": %.3f, \"anon_huge_min_pct\": %.1f}",
	       gbps(r->min), 100 * r->huge);
}

/* One device's runs of one round of the alternating mode. */
static void print_json_round(int bk, int op, unsigned int r, unsigned int d,
			     unsigned int n)
{
	printf("%s{\"device\": \"%s\", \"backing\": \"%s\"",
	       n ? ", " : "", dev[d], backing_names[bk]);
	printf(", \"op\": \"%s\", \"round\": %u", op_names[op], r + 1);
	print_json_result("result", &alt[bk][op][r][d]);
	printf("}");
}

static void print_json(void)
{
	unsigned int d, m, r, n = 0;
	struct result *fb;
	int bk, op;

	printf("{\"size\": %zu, \"repeat\": %u", size, repeat);
	if (rounds) {
		printf(", \"rounds\": %u, \"alternating\": [", rounds);
		for (bk = 0; bk < NR_BACKINGS; bk++) {
			if (!backing_on[bk])
				continue;
			for (op = 0; op < NR_OPS; op++)
				for (r = 0; r < rounds; r++)
					for (d = 0; d < ndev; d++)
						print_json_round(bk, op, r, d,
								 n++);
		}
		printf("]}\n");
		return;
	}
	printf(", \"results\": [");
	for (bk = 0; bk < NR_BACKINGS; bk++) {
		if (!backing_on[bk])
			continue;
		for (d = 0; d < ndev; d++) {
			printf("%s{\"device\": \"%s\", \"backing\": \"%s\"",
			       n++ ? ", " : "", dev[d], backing_names[bk]);
			printf(", \"hmmsim\": %s, \"caps_thp\": %s",
			       hmmsim[d] ? "true" : "false",
			       caps[d] & HMMSIM_CAP_THP ? "true" : "false");
			for (op = 0; op < NR_OPS; op++)
				print_json_result(op_names[op], &res[bk][d][op]);
			fb = &res[bk][d][OP_FAULT_BACK];
			printf(", \"fault_back_us_per_page\": %.3f",
			       fb->median * 1e6 / (size / page_size));
			printf(", \"fault_back_faults\": %.0f", fb->faults);
			printf(", \"fault_back_us_per_fault\": %.3f",
			       fb->faults ? fb->median * 1e6 / fb->faults : 0);
			if (hmmsim[d]) {
				for (m = 0; m < 4; m++)
					printf(", \"%s\": %llu",
					       thp_counter_names[m],
					       (unsigned long long)thp_moves[bk][d][m]);
				printf(", \"migrations\": {\"chunk\": %zu", chunk);
				for (m = 0; m < nr_modes; m++)
					printf(", \"%s%.0u\": {%s%.1f, %s%.3f, %s%.1f}",
					       qdepth[m] ? "qd" : "ioctl", qdepth[m],
					       "\"median_per_s\": ",
					       mig_rate(mig[bk][d][m].median),
					       "\"median_gbps\": ",
					       mig_gbps(mig[bk][d][m].median),
					       "\"anon_huge_min_pct\": ",
					       100 * mig[bk][d][m].huge);
				printf("}");
			}
			printf("}");
		}
	}
	printf("]}\n");
}

static void print_device_title(unsigned int d)
{
	if (!hmmsim[d])
		printf("\n%s\n", dev[d]);
	else
		printf("\n%s (hmmsim, %s HMMSIM_CAP_THP)\n", dev[d],
		       caps[d] & HMMSIM_CAP_THP ? "with" : "without");
}

/* The tables of one backing: each device's, then the ratios. */
static void print_backing(enum backing bk)
{
	struct result *r, *fb;
	unsigned int d, m;
	double g;
	int op;

	printf("\n=== %s ===\n", backing_titles[bk]);
	for (d = 0; d < ndev; d++) {
		print_device_title(d);
		printf("  %-11s %8s %17s %9s %6s\n", "operation", "median",
		       "spread", "memcpy%", "THP%");
		for (op = 0; op < NR_OPS; op++) {
			r = &res[bk][d][op];
			g = gbps(r->median);
			printf("  %-11s %8.3f %8.3f..%-8.3f %8.0f%% %5.0f%%\n",
			       op_names[op], g, gbps(r->max), gbps(r->min),
			       100 * g / gbps(res[bk][d][OP_MEMCPY].median),
			       100 * r->huge);
		}
		fb = &res[bk][d][OP_FAULT_BACK];
		printf("  fault_back: %.2f us per page, %.1f us per fault (%.0f for %zu pages)\n",
		       fb->median * 1e6 / (size / page_size),
		       fb->faults ? fb->median * 1e6 / fb->faults : 0,
		       fb->faults, size / page_size);
		if (!hmmsim[d])
			continue;
		printf("  hmmsim's counters over the runs above:");
		for (m = 0; m < 4; m++)
			printf(" %s %llu", thp_counter_names[m],
			       (unsigned long long)thp_moves[bk][d][m]);
		printf("\n\n  migrations of %zu KiB, the buffer to the device and back\n",
		       chunk >> 10);
		printf("  %-15s %9s %21s %8s %9s %5s\n", "issued as", "migr/s",
		       "spread", "GB/s", "vs ioctl", "THP%");
		for (m = 0; m < nr_modes; m++) {
			r = &mig[bk][d][m];
			printf("  %-15s %9.0f %10.0f..%-10.0f %8.3f %8.2fx %4.0f%%\n",
			       mode_name(m), mig_rate(r->median),
			       mig_rate(r->max), mig_rate(r->min),
			       mig_gbps(r->median),
			       mig[bk][d][0].median / r->median, 100 * r->huge);
		}
	}
	for (d = 1; d < ndev; d++) {
		printf("\n%s vs %s, %s (median throughput ratio)\n", dev[0],
		       dev[d], backing_names[bk]);
		for (op = OP_TO_DEVICE; op < NR_OPS; op++)
			printf("  %-11s %6.2fx\n", op_names[op],
			       res[bk][d][op].median / res[bk][0][op].median);
	}
}

static void print_legend(void)
{
	unsigned int d;

	for (d = 0; d < ndev; d++)
		printf("%s%c = %s", d ? ", " : "", 'A' + d, dev[d]);
	printf("\n");
}

/* The columns of one backing for one operation: GB/s, then ratios. */
static void print_columns(struct result *r)
{
	unsigned int d;

	for (d = 0; d < ndev; d++)
		printf(" %7.3f", gbps(r[d].median));
	for (d = 1; d < ndev; d++)
		printf(" %6.2fx", r[d].median / r[0].median);
}

/* Both backings, side by side, with the THP share each row ran on. */
static void print_side_by_side(void)
{
	struct result row[NR_BACKINGS][MAX_DEVICES];
	unsigned int d, width = 8 * ndev + 8 * (ndev - 1);
	double huge;
	int bk, op;

	printf("\n=== side by side: median GB/s, A's as a multiple of each other's ===\n");
	print_legend();
	printf("%-11s", "");
	for (bk = 0; bk < NR_BACKINGS; bk++)
		printf(" | %-*s", width - 1, bk ? "THP" : "4 KiB pages");
	printf("\n%-11s", "operation");
	for (bk = 0; bk < NR_BACKINGS; bk++) {
		printf(" |");
		for (d = 0; d < ndev; d++)
			printf(" %7c", 'A' + d);
		for (d = 1; d < ndev; d++)
			printf("    A/%c", 'A' + d);
	}
	printf(" | THP/4k(A)\n");
	for (op = 0; op < NR_OPS; op++) {
		printf("%-11s", op_names[op]);
		for (bk = 0; bk < NR_BACKINGS; bk++) {
			for (d = 0; d < ndev; d++)
				row[bk][d] = res[bk][d][op];
			printf(" |");
			print_columns(row[bk]);
		}
		printf(" | %8.2fx\n", res[BACK_4K][0][op].median /
		       res[BACK_THP][0][op].median);
	}
	printf("THP-backed rows ran on buffers at least this much AnonHugePages:");
	for (d = 0; d < ndev; d++) {
		huge = 1;
		for (op = 0; op < NR_OPS; op++)
			if (res[BACK_THP][d][op].huge < huge)
				huge = res[BACK_THP][d][op].huge;
		printf("%s %c %.0f%%", d ? "," : "", 'A' + d, 100 * huge);
	}
	printf("\n");
}

/* Each round's median per device, the ratios, and the least ratio. */
static void print_alternating(enum backing bk)
{
	double ratio, least[MAX_DEVICES], huge = bk == BACK_THP ? 1 : 0;
	unsigned int d, r;
	struct result *a;
	int op;

	printf("\n=== alternating, %s: %u rounds of %u runs per device, in turns ===\n",
	       backing_titles[bk], rounds, repeat);
	print_legend();
	printf("%-11s %5s", "operation", "round");
	for (d = 0; d < ndev; d++)
		printf(" %7c", 'A' + d);
	for (d = 1; d < ndev; d++)
		printf("    A/%c", 'A' + d);
	printf("\n");
	for (op = 0; op < NR_OPS; op++) {
		for (d = 0; d < ndev; d++)
			least[d] = 1e9;
		for (r = 0; r < rounds; r++) {
			a = alt[bk][op][r];
			printf("%-11s %5u", op_names[op], r + 1);
			print_columns(a);
			printf("\n");
			for (d = 0; d < ndev; d++) {
				ratio = a[d].median / a[0].median;
				if (ratio < least[d])
					least[d] = ratio;
				if (bk == BACK_THP ? a[d].huge < huge :
						     a[d].huge > huge)
					huge = a[d].huge;
			}
		}
		printf("%-11s %5s", op_names[op], "least");
		printf(" %*s", 8 * ndev - 1, "");
		for (d = 1; d < ndev; d++)
			printf(" %6.2fx", least[d]);
		printf("\n");
	}
	printf("the runs' buffers were at %s %.0f%% AnonHugePages\n",
	       bk == BACK_THP ? "least" : "most", 100 * huge);
}

static void print_usage(FILE *f)
{
	fprintf(f,
		"usage: hmmsim-bench [-s MIB] [-r REPEAT] [-b 4k|thp|both] [-a ROUNDS]\n"
		"                    [-c CHUNK_KIB] [-q QD,...] [-j] [-v] DEVICE...\n");
}

int main(int argc, char **argv)
{
	struct buffers b;
	bool json = false;
	unsigned int m;
	int opt, bk;

	page_size = sysconf(_SC_PAGESIZE);
	read_pmd_size();
	while ((opt = getopt(argc, argv, "s:r:c:q:b:a:jvh")) != -1) {
		switch (opt) {
		case 'a':
			rounds = strtoul(optarg, NULL, 0);
			if (!rounds || rounds > MAX_ROUNDS) {
				fprintf(stderr, "hmmsim-bench: 1..%d rounds\n",
					MAX_ROUNDS);
				return 2;
			}
			break;
		case 'b':
			if (!parse_backing(optarg)) {
				print_usage(stderr);
				return 2;
			}
			break;
		case 'c':
			chunk = strtoul(optarg, NULL, 0) << 10;
			break;
		case 'q':
			parse_qdepths(optarg);
			break;
		case 's':
			size = strtoul(optarg, NULL, 0) << 20;
			break;
		case 'r':
			repeat = strtoul(optarg, NULL, 0);
			break;
		case 'j':
			json = true;
			break;
		case 'v':
			verbose = true;
			break;
		default:
			print_usage(opt == 'h' ? stdout : stderr);
			return opt == 'h' ? 0 : 2;
		}
	}
	for (; optind < argc && ndev < MAX_DEVICES; optind++)
		dev[ndev++] = argv[optind];
	if (!ndev || !size || !repeat || repeat > MAX_REPEAT) {
		fprintf(stderr, "hmmsim-bench: need a device, a size and 1..%d runs\n",
			MAX_REPEAT);
		return 2;
	}
	for (m = 1; m < nr_modes; m++)
		if (!qdepth[m] || qdepth[m] > 64)
			break;
	if (!chunk || chunk % page_size || size % chunk || m < nr_modes) {
		fprintf(stderr,
			"hmmsim-bench: chunks of whole pages that divide the buffer, qd 1..64\n");
		return 2;
	}
	if (backing_on[BACK_THP] && size % pmd_size) {
		fprintf(stderr, "hmmsim-bench: THP-backed buffers are a multiple of %zu KiB\n",
			pmd_size >> 10);
		return 2;
	}

	for (bk = 0; bk < NR_BACKINGS; bk++) {
		if (!backing_on[bk])
			continue;
		map_buffers(&b, bk);
		if (rounds) {
			bench_alternating(&b);
		} else {
			for (m = 0; m < ndev; m++)
				bench_device(m, &b);
		}
		unmap_buffers(&b);
	}

	if (migrations_again)
		fprintf(stderr,
			"hmmsim-bench: %u migrations to a device were issued again after ENOENT\n",
			migrations_again);
	if (json) {
		print_json();
		return 0;
	}
	printf("%zu MiB buffer, median of %u runs (min..max), GB/s. THP%%: the share of\n"
	       "the buffers that was AnonHugePages before the row's runs: the least\n"
	       "of them on THPs, the greatest on 4 KiB pages\n",
	       size >> 20, repeat);
	for (bk = 0; bk < NR_BACKINGS; bk++) {
		if (!backing_on[bk])
			continue;
		if (rounds)
			print_alternating(bk);
		else
			print_backing(bk);
	}
	if (!rounds && backing_on[BACK_4K] && backing_on[BACK_THP])
		print_side_by_side();
	return 0;
}
