// SPDX-License-Identifier: GPL-2.0
/*
 * hmmsim-bench: how fast a device that speaks the lib/test_hmm ioctls moves
 * data, against memcpy() of the same buffer (the physical limit of a copy
 * engine emulated by the CPU).
 *
 *   hmmsim-bench [-s MIB] [-r REPEAT] [-j] DEVICE [DEVICE...]
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
 * page, and as a percentage of memcpy. With two or more devices, a last
 * table gives the first device's median throughput as a multiple of each
 * other's. -j prints JSON.
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
#include <time.h>
#include <unistd.h>

#include <liburing.h>

#include <hmmsim.h>

#define MAX_DEVICES	4
#define MAX_REPEAT	101

enum op { OP_MEMCPY, OP_TO_DEVICE, OP_TO_SYSTEM, OP_FAULT_BACK, OP_READ,
	  OP_WRITE, NR_OPS };

static const char *const op_names[NR_OPS] = {
	"memcpy", "to_device", "to_system", "fault_back", "dev_read",
	"dev_write",
};

struct result {
	double median, min, max;	/* seconds */
};

/* Ways to issue migrations: the ioctl loop, then io_uring queue depths. */
#define MAX_MODES	5
static unsigned int qdepth[MAX_MODES] = { 0, 1, 8, 32 };
static unsigned int nr_modes = 4;
static size_t chunk = 2UL << 20;

static size_t size = 64UL << 20;
static unsigned int repeat = 5;
static long page_size;

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

static void *map_buffer(void)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	/* THP=madvise: the benchmark measures small pages unless told. */
	memset(p, 0x5a, size);
	return p;
}

static void dmirror(int fd, unsigned long request, void *addr, void *buf)
{
	struct hmm_dmirror_cmd cmd = {
		.addr = (unsigned long)addr,
		.ptr = (unsigned long)buf,
		.npages = size / page_size,
	};

	while (ioctl(fd, request, &cmd)) {
		if (errno == EINTR)
			continue;
		fprintf(stderr, "hmmsim-bench: ioctl %#lx: %s\n", request,
			strerror(errno));
		exit(1);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static struct result summarize(double *t, unsigned int n)
{
	struct result r;

	qsort(t, n, sizeof(*t), cmp_double);
	r.min = t[0];
	r.max = t[n - 1];
	r.median = n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
	return r;
}

/* One timed run of @op on device @fd; returns seconds. */
static double run_op(enum op op, int fd, char *buf, char *mirror)
{
	double t0, t;
	size_t i;

	switch (op) {
	case OP_MEMCPY:
		t0 = now();
		memcpy(mirror, buf, size);
		return now() - t0;
	case OP_TO_DEVICE:
		t0 = now();
		dmirror(fd, HMM_DMIRROR_MIGRATE_TO_DEV, buf, mirror);
		t = now() - t0;
		dmirror(fd, HMM_DMIRROR_MIGRATE_TO_SYS, buf, mirror);
		return t;
	case OP_TO_SYSTEM:
		dmirror(fd, HMM_DMIRROR_MIGRATE_TO_DEV, buf, mirror);
		t0 = now();
		dmirror(fd, HMM_DMIRROR_MIGRATE_TO_SYS, buf, mirror);
		return now() - t0;
	case OP_FAULT_BACK:
		dmirror(fd, HMM_DMIRROR_MIGRATE_TO_DEV, buf, mirror);
		t0 = now();
		/* A relaxed atomic load: a read the compiler cannot drop. */
		for (i = 0; i < size; i += page_size)
			(void)__atomic_load_n(&buf[i], __ATOMIC_RELAXED);
		return now() - t0;
	case OP_READ:
		dmirror(fd, HMM_DMIRROR_READ, buf, mirror);
		t0 = now();
		dmirror(fd, HMM_DMIRROR_READ, buf, mirror);
		return now() - t0;
	case OP_WRITE:
		dmirror(fd, HMM_DMIRROR_WRITE, buf, mirror);
		t0 = now();
		dmirror(fd, HMM_DMIRROR_WRITE, buf, mirror);
		return now() - t0;
	default:
		return 0;
	}
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

static bool is_hmmsim(int fd)
{
	struct hmmsim_info info = { .size = sizeof(info) };

	return !ioctl(fd, HMMSIM_IOCTL_INFO, &info);
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

int main(int argc, char **argv)
{
	struct result res[MAX_DEVICES][NR_OPS], mig[MAX_DEVICES][MAX_MODES];
	bool hmmsim[MAX_DEVICES] = { false };
	struct io_uring ring;
	unsigned int m;
	double times[MAX_REPEAT];
	const char *dev[MAX_DEVICES];
	unsigned int ndev = 0, d, r;
	char *buf, *mirror;
	bool json = false;
	int opt, op, fd;

	page_size = sysconf(_SC_PAGESIZE);
	while ((opt = getopt(argc, argv, "s:r:c:q:jh")) != -1) {
		switch (opt) {
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
		default:
			fprintf(stderr,
				"usage: hmmsim-bench [-s MIB] [-r REPEAT] [-c CHUNK_KIB] [-q QD,...] [-j] DEVICE...\n");
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

	buf = map_buffer();
	mirror = map_buffer();
	for (d = 0; d < ndev; d++) {
		fd = open(dev[d], O_RDWR);
		if (fd < 0)
			die(dev[d]);
		/* A warm-up: device memory hot-plugged on first use, etc. */
		for (op = 0; op < NR_OPS; op++)
			run_op(op, fd, buf, mirror);
		for (op = 0; op < NR_OPS; op++) {
			for (r = 0; r < repeat; r++)
				times[r] = run_op(op, fd, buf, mirror);
			res[d][op] = summarize(times, repeat);
		}
		hmmsim[d] = is_hmmsim(fd);
		if (hmmsim[d]) {
			errno = -io_uring_queue_init(64, &ring,
						     IORING_SETUP_SQE128 |
						     IORING_SETUP_CQE32);
			if (errno > 0)
				die("io_uring_queue_init");
			for (m = 0; m < nr_modes; m++) {
				run_migrations(fd, &ring, buf, qdepth[m]);
				for (r = 0; r < repeat; r++)
					times[r] = run_migrations(fd, &ring, buf,
								  qdepth[m]);
				mig[d][m] = summarize(times, repeat);
			}
			io_uring_queue_exit(&ring);
		}
		close(fd);
	}

	if (json) {
		printf("{\"size\": %zu, \"repeat\": %u, \"results\": [", size,
		       repeat);
		for (d = 0; d < ndev; d++) {
			printf("%s{\"device\": \"%s\"", d ? ", " : "", dev[d]);
			for (op = 0; op < NR_OPS; op++) {
				printf(", \"%s\": {", op_names[op]);
				printf("\"median_gbps\": %.3f, ",
				       gbps(res[d][op].median));
				printf("\"min_gbps\": %.3f, ", gbps(res[d][op].max));
				printf("\"max_gbps\": %.3f}", gbps(res[d][op].min));
			}
			printf(", \"fault_back_us_per_page\": %.3f",
			       res[d][OP_FAULT_BACK].median * 1e6 /
			       (size / page_size));
			if (hmmsim[d]) {
				printf(", \"migrations\": {\"chunk\": %zu", chunk);
				for (m = 0; m < nr_modes; m++)
					printf(", \"%s%.0u\": {\"median_per_s\": %.1f, %s%.3f}",
					       qdepth[m] ? "qd" : "ioctl", qdepth[m],
					       mig_rate(mig[d][m].median),
					       "\"median_gbps\": ",
					       mig_gbps(mig[d][m].median));
				printf("}");
			}
			printf("}");
		}
		printf("]}\n");
		return 0;
	}

	printf("%zu MiB buffer, median of %u runs (min..max), GB/s\n",
	       size >> 20, repeat);
	for (d = 0; d < ndev; d++) {
		printf("\n%s\n", dev[d]);
		printf("  %-11s %8s %17s %9s\n", "operation", "median",
		       "spread", "memcpy%");
		for (op = 0; op < NR_OPS; op++) {
			double g = gbps(res[d][op].median);

			printf("  %-11s %8.3f %8.3f..%-8.3f %8.0f%%\n",
			       op_names[op], g, gbps(res[d][op].max),
			       gbps(res[d][op].min),
			       100 * g / gbps(res[d][OP_MEMCPY].median));
		}
		printf("  fault_back: %.2f us per page\n",
		       res[d][OP_FAULT_BACK].median * 1e6 / (size / page_size));
		if (!hmmsim[d])
			continue;
		printf("\n  migrations of %zu KiB, the buffer to the device and back\n",
		       chunk >> 10);
		printf("  %-15s %9s %21s %8s %9s\n", "issued as", "migr/s",
		       "spread", "GB/s", "vs ioctl");
		for (m = 0; m < nr_modes; m++)
			printf("  %-15s %9.0f %10.0f..%-10.0f %8.3f %8.2fx\n",
			       mode_name(m), mig_rate(mig[d][m].median),
			       mig_rate(mig[d][m].max), mig_rate(mig[d][m].min),
			       mig_gbps(mig[d][m].median),
			       mig[d][0].median / mig[d][m].median);
	}
	for (d = 1; d < ndev; d++) {
		printf("\n%s vs %s (median throughput ratio)\n", dev[0], dev[d]);
		for (op = OP_TO_DEVICE; op < NR_OPS; op++)
			printf("  %-11s %6.2fx\n", op_names[op],
			       res[d][op].median / res[0][op].median);
	}
	return 0;
}
