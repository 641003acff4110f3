// SPDX-License-Identifier: GPL-2.0
/*
 * hmmsimctl: look at hmmsim devices from the shell.
 *
 *   hmmsimctl [-d DEVNAME] info      list every device and what it is
 *   hmmsimctl [-d DEVNAME] demo [N]  show device N (default 0) at work on a
 *                                    buffer: mirror, migrate, fault back,
 *                                    release
 *
 * DEVNAME defaults to $HMMSIM_DEVNAME, then to "hmmsim".
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <hmmsim.h>

static const char *devname = "hmmsim";

static int open_dev(unsigned int id, char *path, size_t len)
{
	snprintf(path, len, "/dev/%s%u", devname, id);
	return open(path, O_RDWR | O_CLOEXEC);
}

static const char *type_name(unsigned int type)
{
	switch (type) {
	case HMMSIM_MEM_PRIVATE:
		return "private";
	case HMMSIM_MEM_COHERENT:
		return "coherent";
	default:
		return "unknown";
	}
}

/* Bytes as the largest exact K/M/G/T unit, e.g. 256M. */
static const char *fmt_size(unsigned long long bytes, char *buf, size_t len)
{
	static const char units[] = "KMGT";
	int u = -1;

	while (bytes >= 1024 && !(bytes % 1024) && u < 3) {
		bytes /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, len, "%llu", bytes);
	else
		snprintf(buf, len, "%llu%c", bytes, units[u]);
	return buf;
}

static int cmd_info(void)
{
	unsigned int id;
	char path[64], size[32];

	printf("%-20s %-9s %9s  %s\n", "DEVICE", "MEMORY", "CAPACITY",
	       "PHYSICAL RANGE");
	for (id = 0;; id++) {
		struct hmmsim_info inf = { .size = sizeof(inf) };
		int fd = open_dev(id, path, sizeof(path));

		if (fd < 0) {
			if (errno == ENOENT && id > 0)
				return 0;
			fprintf(stderr, "hmmsimctl: %s: %s\n", path,
				strerror(errno));
			return 1;
		}
		if (ioctl(fd, HMMSIM_IOCTL_INFO, &inf)) {
			fprintf(stderr, "hmmsimctl: %s: INFO: %s\n", path,
				strerror(errno));
			close(fd);
			return 1;
		}
		close(fd);

		printf("%-20s %-9s %9s", path, type_name(inf.type),
		       fmt_size(inf.capacity, size, sizeof(size)));
		if (inf.type == HMMSIM_MEM_COHERENT)
			printf("  %#llx-%#llx", (unsigned long long)inf.phys_base,
			       (unsigned long long)(inf.phys_base +
						    inf.capacity - 1));
		printf("\n");
	}
}

/* ---------------------------------------------------------------- demo */

#define DEMO_SIZE	(8UL << 20)

static long page_size;

static int dmirror(int fd, unsigned long request, void *addr, void *buf,
		   unsigned long npages, struct hmm_dmirror_cmd *cmd)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->addr = (unsigned long)addr;
	cmd->ptr = (unsigned long)buf;
	cmd->npages = npages;
	return ioctl(fd, request, cmd) ? -errno : 0;
}

/* Pages of the buffer in this device's memory, per SNAPSHOT. */
static long on_device(int fd, void *buf, unsigned long npages)
{
	struct hmm_dmirror_cmd cmd;
	unsigned char *codes = malloc(npages);
	unsigned long i;
	long n = 0;

	if (!codes || dmirror(fd, HMM_DMIRROR_SNAPSHOT, buf, codes, npages,
			      &cmd)) {
		free(codes);
		return -1;
	}
	for (i = 0; i < npages; i++)
		n += (codes[i] & 0xf0) == HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL ||
		     (codes[i] & 0xf0) == HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL;
	free(codes);
	return n;
}

static long cpu_faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt + ru.ru_majflt;
}

static int check_pattern(const unsigned int *p, unsigned long words,
			 unsigned int seed)
{
	unsigned long i;

	for (i = 0; i < words; i++)
		if (p[i] != (unsigned int)i * 2654435761u + seed)
			return -1;
	return 0;
}

static int cmd_demo(unsigned int id)
{
	unsigned long npages, i, words = DEMO_SIZE / sizeof(unsigned int);
	struct hmm_dmirror_cmd cmd;
	unsigned int *buf, *mirror, seed = 0x5eed;
	unsigned long bad = 0;
	char path[64];
	long faults;
	int fd, ret;

	page_size = sysconf(_SC_PAGESIZE);
	npages = DEMO_SIZE / page_size;
	fd = open_dev(id, path, sizeof(path));
	if (fd < 0) {
		fprintf(stderr, "hmmsimctl: %s: %s\n", path, strerror(errno));
		return 1;
	}
	buf = mmap(NULL, DEMO_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	mirror = malloc(DEMO_SIZE);
	if (buf == MAP_FAILED || !mirror) {
		perror("hmmsimctl: demo buffer");
		return 1;
	}
	for (i = 0; i < words; i++)
		buf[i] = (unsigned int)i * 2654435761u + seed;

	printf("demo on %s: a %lu MiB buffer of %lu pages at %p\n", path,
	       DEMO_SIZE >> 20, npages, (void *)buf);

	ret = dmirror(fd, HMM_DMIRROR_READ, buf, mirror, npages, &cmd);
	printf("  device READ        %s: %llu pages read, %llu device faults, data %s\n",
	       ret ? strerror(-ret) : "ok", (unsigned long long)cmd.cpages,
	       (unsigned long long)cmd.faults,
	       check_pattern(mirror, words, seed) ? "WRONG" : "intact");
	if (ret)
		return 1;

	ret = dmirror(fd, HMM_DMIRROR_MIGRATE_TO_DEV, buf, mirror, npages,
		      &cmd);
	printf("  MIGRATE_TO_DEV     %s: %llu pages moved, %ld now in device memory\n",
	       ret ? strerror(-ret) : "ok", (unsigned long long)cmd.cpages,
	       on_device(fd, buf, npages));
	if (ret)
		return 1;

	/*
	 * The CPU reads one word per 2 MiB of the first half: each fault
	 * brings back the 2 MiB window around it, not just one page.
	 */
	faults = cpu_faults();
	for (i = 0; i < words / 2; i += (2UL << 20) / sizeof(unsigned int))
		bad += buf[i] != (unsigned int)i * 2654435761u + seed;
	faults = cpu_faults() - faults;
	printf("  CPU reads 1 word per 2 MiB of the first half: %s, %ld CPU faults,\n"
	       "                     %ld pages still in device memory\n",
	       bad ? "WRONG data" : "data ok", faults,
	       on_device(fd, buf, npages));

	ret = dmirror(fd, HMM_DMIRROR_RELEASE, buf, NULL, npages, &cmd);
	printf("  RELEASE            %s: %ld pages left in device memory\n",
	       ret ? strerror(-ret) : "ok", on_device(fd, buf, npages));

	ret = check_pattern(buf, words, seed);
	printf("  CPU reads the whole buffer: data %s\n",
	       ret ? "WRONG" : "intact");
	close(fd);
	munmap(buf, DEMO_SIZE);
	free(mirror);
	return ret || bad ? 1 : 0;
}

static const char usage[] =
	"usage: hmmsimctl [-d DEVNAME] info\n"
	"       hmmsimctl [-d DEVNAME] demo [DEVICE]\n";

int main(int argc, char **argv)
{
	const char *env = getenv("HMMSIM_DEVNAME");
	int opt;

	if (env && *env)
		devname = env;
	while ((opt = getopt(argc, argv, "d:h")) != -1) {
		switch (opt) {
		case 'd':
			devname = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind >= argc || !strcmp(argv[optind], "info"))
		return cmd_info();
	if (!strcmp(argv[optind], "demo"))
		return cmd_demo(optind + 1 < argc ? atoi(argv[optind + 1]) : 0);
	fputs(usage, stderr);
	return 2;
}
