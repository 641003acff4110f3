// SPDX-License-Identifier: GPL-2.0
/*
 * migloop - migrate one buffer to a device and back, over and over, for
 * profiling one direction with kprof -c.
 *
 *   migloop [-s MIB] [-n LOOPS] [-p sys|dev] [-i] [-t] DEVICE...
 *
 * Maps a buffer of SIZE MiB (64) and a user buffer for the read-back of
 * the same size, as hmmsim-bench does: 2 MiB aligned, MADV_NOHUGEPAGE (with
 * -t, MADV_HUGEPAGE, for THPs where the kernel gives them), touched before
 * the first loop. Then for each device in turn, LOOPS (10) times:
 * HMM_DMIRROR_MIGRATE_TO_DEV, then
 * HMM_DMIRROR_MIGRATE_TO_SYS of the whole buffer. If KPROF_FDS names
 * perf event descriptors (kprof -c), they are enabled for the phase -p
 * names (sys: to system, the default; dev: to the device) only. Prints
 * each device's per-phase median in GB/s. With -i the devices take turns
 * in every loop instead, and the median of each loop's ratio of the first
 * device's throughput to each other's is printed too: on a noisy host, a
 * pair of runs a second apart compares better than two medians.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <linux/perf_event.h>

#include <hmmsim.h>

#define THP_SIZE	(2UL << 20)

static int kfds[64], nkfds;

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void profile(int on)
{
	int i;

	for (i = 0; i < nkfds; i++)
		ioctl(kfds[i], on ? PERF_EVENT_IOC_ENABLE :
				    PERF_EVENT_IOC_DISABLE, 0);
}

static double migrate(int fd, unsigned long req, char *buf, char *mirror,
		      size_t size, int profiled)
{
	struct hmm_dmirror_cmd cmd = {
		.addr = (uintptr_t)buf,
		.ptr = (uintptr_t)mirror,
		.npages = size / 4096,
	};
	double t0, t;

	if (profiled)
		profile(1);
	t0 = now();
	if (ioctl(fd, req, &cmd))
		die("migrate");
	t = now() - t0;
	if (profiled)
		profile(0);
	return t;
}

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

#define MAX_LOOPS	1000
#define MAX_DEVS	4

static double median(double *t, int n)
{
	qsort(t, n, sizeof(double), dbl_cmp);
	return t[n / 2];
}

/*
 * A buffer of @size bytes as hmmsim-bench maps them: 2 MiB aligned, THPs
 * (@thp) or 4 KiB pages, and touched, so that no loop pays for first
 * faults, and whole pages go to and from the user buffer.
 */
static char *map_buffer(size_t size, int thp)
{
	char *p = mmap(NULL, size + THP_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	p = (char *)(((uintptr_t)p + THP_SIZE - 1) & ~(THP_SIZE - 1));
	madvise(p, size, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	memset(p, 0x5a, size);
	return p;
}

/* -i: every loop moves the buffer through each device in turn. */
static void interleave(char **devs, int ndevs, char *buf, char *mirror,
		       size_t size, int loops, int to_sys)
{
	static double tdev[MAX_DEVS][MAX_LOOPS], tsys[MAX_DEVS][MAX_LOOPS];
	static double ratio[MAX_LOOPS];
	int fds[MAX_DEVS], d, i;

	for (d = 0; d < ndevs; d++) {
		fds[d] = open(devs[d], O_RDWR);
		if (fds[d] < 0)
			die(devs[d]);
	}
	for (i = 0; i < loops; i++) {
		for (d = 0; d < ndevs; d++) {
			tdev[d][i] = migrate(fds[d], HMM_DMIRROR_MIGRATE_TO_DEV,
					     buf, mirror, size, !to_sys);
			tsys[d][i] = migrate(fds[d], HMM_DMIRROR_MIGRATE_TO_SYS,
					     buf, mirror, size, to_sys);
		}
	}
	for (d = 1; d < ndevs; d++) {
		for (i = 0; i < loops; i++)
			ratio[i] = tsys[d][i] / tsys[0][i];
		printf("# migloop -i: to_system %s/%s per-loop ratio: median %.3fx",
		       devs[0], devs[d], median(ratio, loops));
		printf(", least %.3fx, most %.3fx\n", ratio[0],
		       ratio[loops - 1]);
		for (i = 0; i < loops; i++)
			ratio[i] = tdev[d][i] / tdev[0][i];
		printf("# migloop -i: to_device %s/%s per-loop ratio: median %.3fx\n",
		       devs[0], devs[d], median(ratio, loops));
	}
	for (d = 0; d < ndevs; d++) {
		printf("# migloop -i %s: to_device %.3f GB/s, to_system %.3f GB/s (median of %d)\n",
		       devs[d],
		       size / median(tdev[d], loops) / 1e9,
		       size / median(tsys[d], loops) / 1e9, loops);
		close(fds[d]);
	}
}

int main(int argc, char **argv)
{
	size_t size = 64UL << 20;
	int loops = 10, to_sys = 1, inter = 0, thp = 0, opt, d, i;
	const char *fds = getenv("KPROF_FDS");
	char *buf, *mirror;

	while ((opt = getopt(argc, argv, "s:n:p:it")) != -1) {
		switch (opt) {
		case 's':
			size = strtoul(optarg, NULL, 0) << 20;
			break;
		case 'n':
			loops = atoi(optarg);
			break;
		case 'p':
			to_sys = strcmp(optarg, "dev") != 0;
			break;
		case 'i':
			inter = 1;
			break;
		case 't':
			thp = 1;
			break;
		default:
			fprintf(stderr,
				"usage: migloop [-s MIB] [-n LOOPS] [-p sys|dev] [-i] [-t] DEVICE...\n");
			return 1;
		}
	}
	while (fds && *fds && nkfds < 64) {
		char *end;

		kfds[nkfds++] = strtol(fds, &end, 10);
		fds = end;
	}
	if (loops < 1 || loops > MAX_LOOPS || !size ||
	    (inter && argc - optind > MAX_DEVS))
		return 1;
	buf = map_buffer(size, thp);
	mirror = map_buffer(size, thp);
	for (i = 0; (size_t)i < size / sizeof(int); i++)
		((int *)buf)[i] = i;

	if (inter) {
		interleave(argv + optind, argc - optind, buf, mirror, size,
			   loops, to_sys);
		argc = optind;
	}
	for (d = optind; d < argc; d++) {
		double tdev[MAX_LOOPS], tsys[MAX_LOOPS];
		int fd = open(argv[d], O_RDWR);

		if (fd < 0)
			die(argv[d]);
		for (i = 0; i < loops; i++) {
			tdev[i] = migrate(fd, HMM_DMIRROR_MIGRATE_TO_DEV, buf,
					  mirror, size, !to_sys);
			tsys[i] = migrate(fd, HMM_DMIRROR_MIGRATE_TO_SYS, buf,
					  mirror, size, to_sys);
		}
		close(fd);
		qsort(tdev, loops, sizeof(double), dbl_cmp);
		qsort(tsys, loops, sizeof(double), dbl_cmp);
		printf("# migloop %s: to_device %.3f GB/s, to_system %.3f GB/s (median of %d)\n",
		       argv[d], size / tdev[loops / 2] / 1e9,
		       size / tsys[loops / 2] / 1e9, loops);
		if (((int *)buf)[12345] != 12345)
			fprintf(stderr, "migloop: data corrupted\n");
	}
	return 0;
}
