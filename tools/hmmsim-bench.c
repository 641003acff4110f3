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

int main(int argc, char **argv)
{
	struct result res[MAX_DEVICES][NR_OPS];
	double times[MAX_REPEAT];
	const char *dev[MAX_DEVICES];
	unsigned int ndev = 0, d, r;
	char *buf, *mirror;
	bool json = false;
	int opt, op, fd;

	page_size = sysconf(_SC_PAGESIZE);
	while ((opt = getopt(argc, argv, "s:r:jh")) != -1) {
		switch (opt) {
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
				"usage: hmmsim-bench [-s MIB] [-r REPEAT] [-j] DEVICE...\n");
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
			printf(", \"fault_back_us_per_page\": %.3f}",
			       res[d][OP_FAULT_BACK].median * 1e6 /
			       (size / page_size));
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
	}
	for (d = 1; d < ndev; d++) {
		printf("\n%s vs %s (median throughput ratio)\n", dev[0], dev[d]);
		for (op = OP_TO_DEVICE; op < NR_OPS; op++)
			printf("  %-11s %6.2fx\n", op_names[op],
			       res[d][op].median / res[0][op].median);
	}
	return 0;
}
