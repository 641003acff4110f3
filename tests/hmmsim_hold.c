// SPDX-License-Identifier: GPL-2.0
/*
 * hmmsim_hold: keep data in the memory of every hmmsim device from a live
 * process, for the device removal tests (tests/device_removal.sh,
 * tests/configfs.sh) and hmmsimctl's (tests/hmmsimctl.sh).
 *
 * For each device /dev/$HMMSIM_DEVNAME<N> (default hmmsim, N from 0) it
 * fills a buffer with a pattern of its own, moves it to the device with
 * HMM_DMIRROR_MIGRATE_TO_DEV, checks the data the device read back and,
 * with SNAPSHOT, that every page is in the device's memory. Then it closes
 * every device file (unless -o), prints "ready" and waits for SIGUSR1, or
 * for end of file on its standard input when that is a pipe, a FIFO or a
 * socket (not /dev/null, which a shell gives background jobs). Woken, it
 * checks every byte of every buffer with the CPU and prints a summary.
 *
 * Options:
 *   -n N      expect exactly N devices (default: at least one)
 *   -s MIB    size of each buffer in MiB (default 4)
 *   -a WHERE  once the files are closed, check through a new file of each
 *             device where the pages are: "device" (still in its memory, as
 *             with evict_on_close=0) or "system" (back in system memory)
 *   -o        keep the device files open until woken (each device lists
 *             this process as a client, with its buffer's pages)
 *   -r        when woken, the module is gone: check in /proc/self/pagemap,
 *             before touching anything, that every page is present in system
 *             memory, outside every coherent device's range
 *
 * Exit status: 0 if every byte is intact (and, with -r, every page in system
 * memory), 1 if not, 2 if something failed before "ready".
 */
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>

#include "hmmsim_test.h"

#define MAX_DEVICES	64

/* One device and the buffer moved to it. */
struct held {
	unsigned int id;
	struct hmmsim_info info;
	char *buf;
	unsigned int seed;
};

static unsigned long npages;
static struct held held[MAX_DEVICES];
static unsigned int nr_held;
static int fds[MAX_DEVICES];
static bool keep_open;

static const char *type_name(const struct held *h)
{
	return h->info.type == HMMSIM_MEM_COHERENT ? "coherent" : "private";
}

static unsigned char local_code(const struct held *h)
{
	return h->info.type == HMMSIM_MEM_COHERENT ? COH_LOCAL : PRIV_LOCAL;
}

/* How many pages of buf differ from the pattern; the first one in *first. */
static unsigned long bad_pages(const char *buf, unsigned int seed,
			       long *first)
{
	unsigned long p, bad = 0;

	*first = -1;
	for (p = 0; p < npages; p++) {
		if (check_pattern(buf + p * page_size, p, 1, seed) == -1)
			continue;
		if (!bad)
			*first = p;
		bad++;
	}
	return bad;
}

/* SNAPSHOT of the buffer: how many pages have code (or alt, if >= 0). */
static long count_codes(int fd, const struct held *h, unsigned char code,
			int alt)
{
	unsigned char *m = malloc(npages);
	struct hmm_dmirror_cmd cmd;
	unsigned long p, n = 0;
	int ret;

	if (!m)
		return -ENOMEM;
	ret = dmirror(fd, HMM_DMIRROR_SNAPSHOT, h->buf, m, npages, &cmd);
	if (!ret && cmd.cpages != npages)
		ret = -EIO;
	for (p = 0; !ret && p < npages; p++)
		if (m[p] == code || (alt >= 0 && m[p] == alt))
			n++;
	free(m);
	return ret ? ret : (long)n;
}

/* Fill a buffer and move it to the device; 0, or -1 with a message. */
static int hold_device(struct held *h, int fd)
{
	size_t len = npages * page_size;
	char *ptr = malloc(len);
	struct hmm_dmirror_cmd cmd;
	long bad_first, n;
	int ret;

	h->buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (h->buf == MAP_FAILED || !ptr) {
		fprintf(stderr, "device %u: out of memory\n", h->id);
		return -1;
	}
	h->seed = 0x5eed0000u + h->id * 7919u;
	fill_pattern(h->buf, 0, npages, h->seed);

	ret = dmirror(fd, HMM_DMIRROR_MIGRATE_TO_DEV, h->buf, ptr, npages,
		      &cmd);
	if (ret || cmd.cpages != npages) {
		fprintf(stderr, "device %u: MIGRATE_TO_DEV: %s, %llu of %lu pages\n",
			h->id, strerror(-ret), (unsigned long long)cmd.cpages,
			npages);
		return -1;
	}
	if (bad_pages(ptr, h->seed, &bad_first)) {
		fprintf(stderr, "device %u: MIGRATE_TO_DEV read back wrong data (page %ld)\n",
			h->id, bad_first);
		return -1;
	}
	free(ptr);

	/* A THP moved whole is mapped with a 2 MiB entry. */
	n = count_codes(fd, h, local_code(h),
			local_code(h) | HMM_DMIRROR_PROT_PMD);
	if (n != (long)npages) {
		fprintf(stderr, "device %u: SNAPSHOT: %ld of %lu pages on the device\n",
			h->id, n, npages);
		return -1;
	}
	printf("device %u (%s): %lu pages moved to the device\n", h->id,
	       type_name(h), npages);
	return 0;
}

/* Open every device, move a buffer to each, close them all. */
static int hold_all(int expect)
{
	unsigned int i;
	int ret = 0, err;

	for (nr_held = 0; nr_held < MAX_DEVICES; nr_held++) {
		struct held *h = &held[nr_held];
		int fd = open_dev(nr_held);

		if (fd < 0)
			break;
		fds[nr_held] = fd;
		h->id = nr_held;
		err = info(fd, &h->info);
		if (err) {
			fprintf(stderr, "device %u: INFO: %s\n", h->id,
				strerror(-err));
			ret = -1;
		}
	}
	if (!nr_held || (expect >= 0 && nr_held != (unsigned int)expect)) {
		fprintf(stderr, "found %u devices, expected %d\n", nr_held,
			expect);
		ret = -1;
	}
	for (i = 0; !ret && i < nr_held; i++)
		ret = hold_device(&held[i], fds[i]);
	for (i = 0; i < nr_held && (ret || !keep_open); i++)
		close(fds[i]);
	return ret;
}

/*
 * With the files closed, where are the pages? A new file of each device
 * looks: on_device says they must still be in its memory, or else back in
 * system memory (in small pages, or a THP if khugepaged was quick).
 */
static int check_after_close(bool on_device)
{
	unsigned int i;
	int ret = 0;

	for (i = 0; i < nr_held; i++) {
		const struct held *h = &held[i];
		int fd = open_dev(h->id);
		long n;

		if (fd < 0) {
			fprintf(stderr, "device %u: reopen: %s\n", h->id,
				strerror(errno));
			return -1;
		}
		if (on_device)
			n = count_codes(fd, h, local_code(h),
					local_code(h) | HMM_DMIRROR_PROT_PMD);
		else
			n = count_codes(fd, h, SYS_WRITE, WRITE_PMD);
		close(fd);
		printf("device %u: files closed, %ld of %lu pages in %s memory\n",
		       h->id, n, npages, on_device ? "device" : "system");
		if (n != (long)npages)
			ret = -1;
	}
	return ret;
}

/* Until SIGUSR1, or end of file on a standard input worth watching. */
static int wait_for_go(const sigset_t *set)
{
	struct pollfd pfd[2];
	struct stat st;
	int sfd = signalfd(-1, set, SFD_CLOEXEC);
	bool watch_stdin = !fstat(0, &st) &&
			   (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));

	if (sfd < 0) {
		perror("signalfd");
		return -1;
	}
	pfd[0].fd = sfd;
	pfd[0].events = POLLIN;
	pfd[1].fd = watch_stdin ? 0 : -1;
	pfd[1].events = POLLIN;
	for (;;) {
		char junk[256];

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			perror("poll");
			return -1;
		}
		if (pfd[0].revents) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				printf("woken by SIGUSR1\n");
				break;
			}
		}
		if (pfd[1].revents) {
			ssize_t n = read(0, junk, sizeof(junk));

			if (n == 0 || (n < 0 && errno != EINTR &&
				       errno != EAGAIN)) {
				printf("woken by the end of standard input\n");
				break;
			}
		}
	}
	close(sfd);
	return 0;
}

/* Is the page at physical address phys in a coherent device's range? */
static bool in_coherent_range(__u64 phys)
{
	unsigned int i;

	for (i = 0; i < nr_held; i++) {
		const struct hmmsim_info *inf = &held[i].info;

		if (inf->type == HMMSIM_MEM_COHERENT &&
		    phys >= inf->phys_base &&
		    phys - inf->phys_base < inf->capacity)
			return true;
	}
	return false;
}

/* Pages of the buffer that are not present in system memory; -1: error. */
static long pages_not_in_system_memory(int pagemap, const struct held *h,
				       long *first)
{
	unsigned long p;
	long bad = 0;

	*first = -1;
	for (p = 0; p < npages; p++) {
		unsigned long vpn = (unsigned long)h->buf / page_size + p;
		__u64 e;

		if (pread(pagemap, &e, sizeof(e), vpn * sizeof(e)) !=
		    sizeof(e))
			return -1;
		if (!(e & PM_PRESENT) || (e & PM_SWAP) ||
		    ((e & PM_PFN_MASK) &&
		     in_coherent_range((e & PM_PFN_MASK) * page_size))) {
			if (!bad)
				*first = p;
			bad++;
		}
	}
	return bad;
}

/* Check every buffer: with -r, where its pages are; then every byte. */
static int verify_all(bool module_gone)
{
	int pagemap = -1;
	unsigned int i;
	int ret = 0;

	if (module_gone) {
		pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
		if (pagemap < 0) {
			perror("/proc/self/pagemap");
			ret = 1;
		}
	}
	/* Where the pages are first: the CPU checks could move them. */
	for (i = 0; pagemap >= 0 && i < nr_held; i++) {
		const struct held *h = &held[i];
		long first, n = pages_not_in_system_memory(pagemap, h, &first);

		if (n < 0) {
			perror("/proc/self/pagemap");
			ret = 1;
			break;
		}
		printf("device %u (%s): %ld of %lu pages not in system memory",
		       h->id, type_name(h), n, npages);
		if (n)
			printf(", the first is page %ld", first);
		printf("\n");
		if (n)
			ret = 1;
	}
	if (pagemap >= 0)
		close(pagemap);

	for (i = 0; i < nr_held; i++) {
		const struct held *h = &held[i];
		long first;
		unsigned long n = bad_pages(h->buf, h->seed, &first);

		printf("device %u (%s): %lu pages checked, %lu bad", h->id,
		       type_name(h), npages, n);
		if (n)
			printf(", the first is page %ld", first);
		printf("\n");
		if (n)
			ret = 1;
	}
	return ret;
}

static void bad_usage(const char *argv0)
{
	fprintf(stderr, "usage: %s [-n DEVICES] [-s MIB] [-a device|system] [-o] [-r]\n",
		argv0);
	exit(2);
}

int main(int argc, char **argv)
{
	bool module_gone = false, check_close = false, on_device = false;
	unsigned long mib = 4;
	int expect = -1;
	unsigned int i;
	sigset_t set;
	int opt, ret;

	while ((opt = getopt(argc, argv, "n:s:a:or")) != -1) {
		switch (opt) {
		case 'n':
			expect = atoi(optarg);
			break;
		case 's':
			mib = strtoul(optarg, NULL, 0);
			if (!mib)
				bad_usage(argv[0]);
			break;
		case 'a':
			check_close = true;
			if (!strcmp(optarg, "device"))
				on_device = true;
			else if (strcmp(optarg, "system"))
				bad_usage(argv[0]);
			break;
		case 'o':
			keep_open = true;
			break;
		case 'r':
			module_gone = true;
			break;
		default:
			bad_usage(argv[0]);
		}
	}
	if (optind != argc)
		bad_usage(argv[0]);

	/* Blocked from the start: an early SIGUSR1 stays pending until read. */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL)) {
		perror("sigprocmask");
		return 2;
	}
	npages = (mib << 20) / page_size;

	if (hold_all(expect))
		return 2;
	if (check_close && check_after_close(on_device))
		return 2;
	printf("ready\n");
	fflush(stdout);

	if (wait_for_go(&set))
		return 2;
	for (i = 0; keep_open && i < nr_held; i++)
		close(fds[i]);
	ret = verify_all(module_gone);
	printf("%s: %u buffers of %lu MiB, %s\n", argv[0], nr_held, mib,
	       ret ? "FAILED" : "every byte intact");
	return ret;
}
