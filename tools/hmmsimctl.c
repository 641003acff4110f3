// SPDX-License-Identifier: GPL-2.0
/*
 * hmmsimctl: look at hmmsim devices from the shell.
 *
 *   hmmsimctl [-d DEVNAME] info      list every device and what it is
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

static const char usage[] = "usage: hmmsimctl [-d DEVNAME] info\n";

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
	if (optind < argc && strcmp(argv[optind], "info")) {
		fputs(usage, stderr);
		return 2;
	}
	return cmd_info();
}
