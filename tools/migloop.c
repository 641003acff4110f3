// SPDX-License-Identifier: GPL-2.0
/*
 * migloop - migrate one buffer of 4 KiB pages to a device and back, over
 * and over, for profiling one direction with kprof -c.
 *
 *   migloop [-s MIB] [-n LOOPS] [-p sys|dev] DEVICE...
 *
 * Maps SIZE MiB (64) with MADV_NOHUGEPAGE, fills it, then for each device
 * in turn, LOOPS (10) times: HMM_DMIRROR_MIGRATE_TO_DEV, then
 * HMM_DMIRROR_MIGRATE_TO_SYS of the whole buffer. If KPROF_FDS names
 * perf event descriptors (kprof -c), they are enabled for the phase -p
 * names (sys: to system, the default; dev: to the device) only. Prints
 * each device's per-phase median in GB/s.
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
	return ts.tv_sec + ts.tv_nsec * 1e-9;
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

int main(int argc, char **argv)
{
	size_t size = 64UL << 20;
	int loops = 10, to_sys = 1, opt, d, i;
	const char *fds = getenv("KPROF_FDS");
	char *buf, *mirror;

	while ((opt = getopt(argc, argv, "s:n:p:")) != -1) {
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
		default:
			fprintf(stderr, "usage: migloop [-s MIB] [-n LOOPS] "
					"[-p sys|dev] DEVICE...\n");
			return 1;
		}
	}
	while (fds && *fds && nkfds < 64) {
		char *end;

		kfds[nkfds++] = strtol(fds, &end, 10);
		fds = end;
	}
	if (loops < 1 || loops > 1000 || !size)
		return 1;
	buf = mmap(NULL, size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	mirror = malloc(size);
	if (buf == MAP_FAILED || !mirror)
		die("mmap");
	madvise(buf, size, MADV_NOHUGEPAGE);
	for (i = 0; (size_t)i < size / sizeof(int); i++)
		((int *)buf)[i] = i;

	for (d = optind; d < argc; d++) {
		double tdev[1000], tsys[1000];
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
		printf("# migloop %s: to_device %.3f GB/s, to_system %.3f GB/s "
		       "(median of %d)\n", argv[d], size / tdev[loops / 2] / 1e9,
		       size / tsys[loops / 2] / 1e9, loops);
		if (((int *)buf)[12345] != 12345)
			fprintf(stderr, "migloop: data corrupted\n");
	}
	return 0;
}
