// SPDX-License-Identifier: GPL-2.0
/*
 * hmmsimctl: look at hmmsim devices, make and remove them, watch them work.
 *
 * The subcommands, their options and their output are in the usage text
 * below (hmmsimctl --help) and in Documentation/hmmsimctl.rst. What each
 * reads or writes:
 *
 *   info, list, stats, demo   the device nodes' ioctls (HMMSIM_IOCTL_INFO,
 *                             HMMSIM_IOCTL_STATS, the lib/test_hmm
 *                             commands): what a member of the devices'
 *                             group may do; list's owners come from
 *                             debugfs (<devname>N/clients), root's
 *   create, remove            configfs, /sys/kernel/config/hmmsim
 *   trace                     tracefs, events/hmmsim
 *
 * Exit status: 0, 1 when something failed (a message on stderr says what),
 * 2 for a command line it does not understand.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <hmmsim.h>

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define MAX_DEVICES	64	/* the driver's HMMSIM_MAX_DEVICES */
#define CHUNK_SIZE	(2ULL << 20)	/* device memory comes in 2 MiB */

static const char *devname = "hmmsim";
static bool json;

static const char usage_text[] =
"usage: hmmsimctl [-d DEVNAME] [--json] COMMAND [OPTIONS] [ARGUMENTS]\n"
"\n"
"Devices are /dev/DEVNAME<N>; DEVNAME is -d's, else $HMMSIM_DEVNAME's,\n"
"else \"hmmsim\". N is a device number, as `list` shows them.\n"
"\n"
"Commands:\n"
"  list [--json]\n"
"      every device: number, memory type, capacity, device pages in use,\n"
"      the configfs item that made it, and the processes that have it open\n"
"      (pid, device pages of theirs, command name; needs debugfs: root)\n"
"  info\n"
"      every device: memory type, capacity, coherent memory's physical range\n"
"  stats [-w SECS] [-c COUNT] [--json] [N]\n"
"      the counters of device N, or of every device. -w SECS: watch, a\n"
"      sample every SECS seconds (fractions allowed), each after the first\n"
"      showing what changed since the one before; -c COUNT: stop after\n"
"      COUNT samples (default 1 without -w; -c alone samples every second).\n"
"      SIGUSR1 takes the next sample at once. --json: one JSON object a\n"
"      sample, one a line\n"
"  create [--type private|coherent] [--capacity SIZE] [--name NAME]\n"
"         [--phys-base ADDR] [--copy-bandwidth BYTES_PER_SEC]\n"
"         [--copy-latency-us USECS]\n"
"      make a device through configfs and power it on; prints its node.\n"
"      SIZE and BYTES_PER_SEC take a K, M, G or T suffix; the capacity is a\n"
"      multiple of 2M; a coherent device needs --phys-base, the start of a\n"
"      reserved range (memmap=SIZE$ADDR). Defaults: the module parameters';\n"
"      NAME: ctl0, ctl1, ... (needs root)\n"
"  remove NAME|N\n"
"      power off and remove a device made through configfs, by its item's\n"
"      name or its number; its pages go back to system memory (needs root)\n"
"  trace on [EVENT...] | off [EVENT...] | status | clear | show [-f]\n"
"      hmmsim's tracepoints in tracefs (events/hmmsim): enable every one, or\n"
"      the EVENTs named (migrate or hmmsim_migrate, thp, fault, invalidate,\n"
"      evict), and switch tracing on; disable them; show their state; empty\n"
"      the trace buffer; print the hmmsim events in it (-f: follow\n"
"      trace_pipe, consuming the events, until interrupted) (needs root)\n"
"  demo [N]\n"
"      show device N (default 0) at work on an 8 MiB buffer: read by the\n"
"      device, migrated to it, faulted back by the CPU, released; the data\n"
"      is checked\n"
"  help [COMMAND]\n"
"      this text\n"
"\n"
"Options:\n"
"  -d, --devname DEVNAME   the devices' base name\n"
"  -j, --json              JSON output, for list and stats\n"
"  -h, --help              this text\n"
"\n"
"Exit status: 0; 1 if something failed, with a message; 2 for bad usage.\n";

static void usage(FILE *f)
{
	fputs(usage_text, f);
}

/*
 * The usage line and one command's part of the text: its line, "  CMD",
 * and the lines indented deeper that follow it; false if there is none.
 */
static bool usage_of(const char *cmd, bool print)
{
	const char *line = strstr(usage_text, "\nCommands:\n"), *next;
	size_t len = strlen(cmd);
	bool in = false, found = false;

	if (print)
		printf("%.*s\n", (int)strcspn(usage_text, "\n"), usage_text);
	for (; line && *++line; line = next) {
		next = strchr(line, '\n');
		if (!next)
			break;
		if (!strncmp(line, "  ", 2) && line[2] != ' ')
			in = !strncmp(line + 2, cmd, len) &&
			     (line[2 + len] == ' ' || line[2 + len] == '\n');
		else if (*line != ' ')
			in = false;
		if (in && print)
			printf("%.*s\n", (int)(next - line), line);
		found |= in;
	}
	return found;
}

/*
 * "hmmsimctl: MESSAGE" on stderr, with a pointer to --help for a usage
 * error; returns the exit status: 1 when something failed (fail()), 2 for
 * a command line hmmsimctl does not understand (bad_usage()).
 */
static int complain(int status, const char *fmt, ...)
{
	va_list ap;

	fputs("hmmsimctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (status == 2)
		fputs("(hmmsimctl --help lists the commands and their options)\n",
		      stderr);
	return status;
}

#define fail(...)	complain(1, __VA_ARGS__)
#define bad_usage(...)	complain(2, __VA_ARGS__)

/* ------------------------------------------------------------- helpers */

/*
 * The options getopt_long() loops share: -j (--json), -h (--help), and
 * what is none. Returns the exit status to leave with, or -1 to go on.
 */
static int other_opt(int opt, const char *cmd)
{
	switch (opt) {
	case 'j':
		json = true;
		return -1;
	case 'h':
		usage(stdout);
		return 0;
	}
	return bad_usage("%sbad option", cmd);
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

/* A byte count with an optional K, M, G or T suffix; -1 if it is not one. */
static int parse_size(const char *s, unsigned long long *out)
{
	static const char units[] = "KMGT";
	const char *unit;
	unsigned long long n;
	char *end;
	int shift = 0;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	n = strtoull(s, &end, 0);
	if (errno)
		return -1;
	unit = *end ? strchr(units, toupper((unsigned char)*end)) : NULL;
	if (unit) {
		shift = 10 * (unit - units + 1);
		end++;
	}
	if (*end || (shift && n > (~0ULL >> shift)))
		return -1;
	*out = n << shift;
	return 0;
}

/* A number in any base strtoull() takes, whole; -1 if it is not one. */
static int parse_u64(const char *s, unsigned long long *out)
{
	char *end;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	*out = strtoull(s, &end, 0);
	return errno || *end ? -1 : 0;
}

/* A device number: digits only, below MAX_DEVICES; -1 if it is not one. */
static int parse_id(const char *s)
{
	const char *p;

	if (!*s || strlen(s) > 3)
		return -1;
	for (p = s; *p; p++)
		if (!isdigit((unsigned char)*p))
			return -1;
	return atoi(s) < MAX_DEVICES ? atoi(s) : -1;
}

static void dev_path(unsigned int id, char *path, size_t len)
{
	snprintf(path, len, "/dev/%s%u", devname, id);
}

static int open_dev(unsigned int id, char *path, size_t len)
{
	dev_path(id, path, len);
	return open(path, O_RDWR | O_CLOEXEC);
}

static int cmp_uint(const void *a, const void *b)
{
	unsigned int x = *(const unsigned int *)a, y = *(const unsigned int *)b;

	return x < y ? -1 : x > y;
}

/* The numbers of the device nodes /dev/<devname>N, in order. */
static int device_ids(unsigned int *ids)
{
	size_t len = strlen(devname);
	struct dirent *de;
	DIR *d = opendir("/dev");
	int n = 0, id;

	if (!d)
		return -errno;
	while ((de = readdir(d)) && n < MAX_DEVICES) {
		if (strncmp(de->d_name, devname, len))
			continue;
		id = parse_id(de->d_name + len);
		if (id >= 0)
			ids[n++] = id;
	}
	closedir(d);
	qsort(ids, n, sizeof(*ids), cmp_uint);
	return n;
}

/* The first mount point of a filesystem type, from /proc/mounts. */
static int fs_mount(const char *type, char *dir, size_t len)
{
	char line[512], mnt[256], fstype[64];
	FILE *f = fopen("/proc/mounts", "re");
	int ret = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%*s %255s %63s", mnt, fstype) == 2 &&
		    !strcmp(fstype, type)) {
			snprintf(dir, len, "%s", mnt);
			ret = 0;
			break;
		}
	}
	fclose(f);
	return ret;
}

/* A small file's contents, trailing newline dropped; -errno on failure. */
static int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0) {
		n = -errno;
		close(fd);
		return n;
	}
	close(fd);
	buf[n] = '\0';
	if (n && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	return 0;
}

/* Write a value to a configfs, tracefs or sysfs file; -errno on failure. */
static int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	if (n < 0) {
		n = -errno;
		close(fd);
		return n;
	}
	close(fd);
	return 0;
}

/* What an error means to a user of a root-only interface. */
static const char *why(int err)
{
	if (err == -EACCES || err == -EPERM)
		return geteuid() ? "permission denied: this needs root" :
				   strerror(-err);
	return strerror(-err);
}

/* A JSON string: quoted, escaped; bytes above 0x7f as \u00XX. */
static void json_str(const char *s)
{
	const unsigned char *p;

	putchar('"');
	for (p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20 || *p > 0x7e)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

/* ------------------------------------------------------------ devices */

struct device {
	unsigned int id;
	char path[64];
	struct hmmsim_info info;
	struct hmmsim_stats st;
	char item[256];		/* the configfs item's name, or "" */
};

/* INFO (and STATS) of device @id; -errno with a message on failure. */
static int query(unsigned int id, struct device *d, bool stats)
{
	int fd = open_dev(id, d->path, sizeof(d->path)), ret = 0;

	d->id = id;
	d->item[0] = '\0';
	if (fd < 0) {
		ret = -errno;
		if (ret == -ENOENT)
			fail("%s: no such device (hmmsimctl list shows them)",
			     d->path);
		else
			fail("%s: %s", d->path, strerror(-ret));
		return ret;
	}
	memset(&d->info, 0, sizeof(d->info));
	d->info.size = sizeof(d->info);
	memset(&d->st, 0, sizeof(d->st));
	d->st.size = sizeof(d->st);
	if (ioctl(fd, HMMSIM_IOCTL_INFO, &d->info)) {
		ret = -errno;
		fail("%s: HMMSIM_IOCTL_INFO: %s", d->path, strerror(-ret));
	} else if (stats && ioctl(fd, HMMSIM_IOCTL_STATS, &d->st)) {
		ret = -errno;
		fail("%s: HMMSIM_IOCTL_STATS: %s", d->path, strerror(-ret));
	}
	close(fd);
	return ret;
}

/* Every device, or a message and -errno; none at all is an error. */
static int devices(unsigned int *ids)
{
	int n = device_ids(ids);

	if (n < 0) {
		fail("/dev: %s", strerror(-n));
		return n;
	}
	if (!n) {
		fail("no /dev/%sN device (is the hmmsim module loaded%s?)",
		     devname, strcmp(devname, "hmmsim") ?
		     ", with this devname" : "");
		return -ENODEV;
	}
	return n;
}

static int cmd_info(void)
{
	unsigned int ids[MAX_DEVICES];
	struct device d;
	char size[32];
	int i, n = devices(ids);

	if (n < 0)
		return 1;
	printf("%-20s %-9s %9s  %s\n", "DEVICE", "MEMORY", "CAPACITY",
	       "PHYSICAL RANGE");
	for (i = 0; i < n; i++) {
		if (query(ids[i], &d, false))
			return 1;
		printf("%-20s %-9s %9s", d.path, type_name(d.info.type),
		       fmt_size(d.info.capacity, size, sizeof(size)));
		if (d.info.type == HMMSIM_MEM_COHERENT)
			printf("  %#llx-%#llx",
			       (unsigned long long)d.info.phys_base,
			       (unsigned long long)(d.info.phys_base +
						    d.info.capacity - 1));
		printf("\n");
	}
	return 0;
}

/* ------------------------------------------------------------ configfs */

/* hmmsim's configfs directory, or a message saying why there is none. */
static int cfs_dir(char *dir, size_t len)
{
	char mnt[256];
	struct stat st;

	if (fs_mount("configfs", mnt, sizeof(mnt)))
		return fail("configfs is not mounted (mount -t configfs none /sys/kernel/config)");
	snprintf(dir, len, "%s/hmmsim", mnt);
	if (stat(dir, &st) || !S_ISDIR(st.st_mode))
		return fail("%s: missing: is the hmmsim module loaded?", dir);
	return 0;
}

/* The configfs item whose index is @id, into @item; false if none. */
static bool cfs_item_of(const char *cfs, unsigned int id, char *item,
			size_t len)
{
	char path[512], val[32];
	struct dirent *de;
	DIR *d = opendir(cfs);
	bool found = false;

	if (!d)
		return false;
	while (!found && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/index", cfs, de->d_name);
		if (!read_file(path, val, sizeof(val)) &&
		    atoi(val) == (int)id && parse_id(val) >= 0) {
			snprintf(item, len, "%s", de->d_name);
			found = true;
		}
	}
	closedir(d);
	return found;
}

/* -------------------------------------------------------------- list */

/* Each line of debugfs's <devname>N/clients after its header, as JSON or
 * text; -errno if the file cannot be read.
 */
static int show_clients(const char *dbg, unsigned int id, bool first_json)
{
	char path[512], line[512];
	bool header = true;
	FILE *f;

	snprintf(path, sizeof(path), "%s/hmmsim/%s%u/clients", dbg, devname,
		 id);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long pages;
		int pid, off = 0;

		line[strcspn(line, "\n")] = '\0';
		if (header) {
			header = false;
			continue;
		}
		if (sscanf(line, "%d %lu %n", &pid, &pages, &off) < 2 || !off)
			continue;
		if (json) {
			printf("%s{\"pid\":%d,\"pages\":%lu,\"comm\":",
			       first_json ? "" : ",", pid, pages);
			json_str(line + off);
			putchar('}');
			first_json = false;
		} else {
			printf("    pid %d (%s): %lu pages\n", pid, line + off,
			       pages);
		}
	}
	fclose(f);
	return 0;
}

static int cmd_list(void)
{
	unsigned int ids[MAX_DEVICES];
	char cfs[300] = "", dbg[256], size[32];
	bool have_cfs, have_dbg, owners_missing = false, first = true;
	struct device d;
	int i, n, ret = 0;

	n = devices(ids);
	if (n < 0)
		return 1;
	have_dbg = !fs_mount("debugfs", dbg, sizeof(dbg));
	have_cfs = !fs_mount("configfs", cfs, sizeof(cfs));
	if (have_cfs)
		strcat(cfs, "/hmmsim");

	if (json)
		printf("{\"devices\":[");
	else
		printf("%-16s %-9s %9s %10s  %s\n", "DEVICE", "TYPE",
		       "CAPACITY", "PAGES USED", "CONFIGFS");
	for (i = 0; i < n; i++) {
		/* Queried, then closed: this file is none of the owners. */
		if (query(ids[i], &d, true)) {
			ret = 1;
			continue;
		}
		if (!have_cfs || !cfs_item_of(cfs, d.id, d.item,
					      sizeof(d.item)))
			d.item[0] = '\0';
		if (json) {
			printf("%s{\"device\":", first ? "" : ",");
			first = false;
			json_str(d.path);
			printf(",\"id\":%u,\"type\":\"%s\"", d.id,
			       type_name(d.info.type));
			printf(",\"capacity\":%llu,\"phys_base\":%llu",
			       (unsigned long long)d.info.capacity,
			       (unsigned long long)d.info.phys_base);
			printf(",\"page_size\":%lu,\"pages\":%llu",
			       1UL << d.info.page_shift,
			       (unsigned long long)(d.info.capacity >>
						    d.info.page_shift));
			printf(",\"pages_used\":%llu,\"thp\":%s,\"configfs\":",
			       (unsigned long long)d.st.pages_used,
			       d.info.caps & HMMSIM_CAP_THP ? "true" : "false");
			if (d.item[0])
				json_str(d.item);
			else
				printf("null");
			printf(",\"clients\":[");
			if (!have_dbg || show_clients(dbg, d.id, true)) {
				owners_missing = true;
				/* No list rather than a wrong one. */
				printf("]");
				printf(",\"clients_unknown\":true}");
				continue;
			}
			printf("]}");
			continue;
		}
		printf("%-16s %-9s %9s %10llu  %s\n", d.path,
		       type_name(d.info.type),
		       fmt_size(d.info.capacity, size, sizeof(size)),
		       (unsigned long long)d.st.pages_used,
		       d.item[0] ? d.item : "-");
		if (!have_dbg || show_clients(dbg, d.id, true))
			owners_missing = true;
	}
	if (json)
		printf("]}\n");
	if (owners_missing)
		fprintf(stderr,
			"hmmsimctl: the processes that have the devices open are in debugfs (%s/hmmsim/%sN/clients): %s\n",
			have_dbg ? dbg : "/sys/kernel/debug", devname,
			!have_dbg ? "debugfs is not mounted" :
			geteuid() ? "readable by root only" :
			"not there (an hmmsim without it?)");
	return ret;
}

/* ------------------------------------------------------------- stats */

/* The counters of struct hmmsim_stats; a gauge says how things are now. */
static const struct {
	const char *name;
	size_t offset;
	bool gauge;
} counters[] = {
#define COUNTER(f, g) { #f, offsetof(struct hmmsim_stats, f), g }
	COUNTER(to_device, false),
	COUNTER(from_device, false),
	COUNTER(cpu_faults, false),
	COUNTER(device_faults, false),
	COUNTER(invalidations, false),
	COUNTER(evictions, false),
	COUNTER(bytes_copied, false),
	COUNTER(alloc_failures, false),
	COUNTER(thp_to_device, false),
	COUNTER(thp_from_device, false),
	COUNTER(thp_fallbacks, false),
	COUNTER(thp_splits, false),
	COUNTER(memory_errors, false),
	COUNTER(close_evictions, false),
	COUNTER(fault_batches, false),
	COUNTER(fault_duplicates, false),
	COUNTER(fault_migrations, false),
	COUNTER(prefetch_migrations, false),
	COUNTER(remote_accesses, false),
	COUNTER(counter_migrations, false),
	COUNTER(thrash_events, false),
	COUNTER(thrash_remote, false),
	COUNTER(pages_used, true),
	COUNTER(uring_inflight, true),
	COUNTER(pages_retired, true),
#undef COUNTER
};

#define NR_COUNTERS	ARRAY_SIZE(counters)

static unsigned long long counter(const struct hmmsim_stats *st,
				  unsigned int i)
{
	return *(const __u64 *)((const char *)st + counters[i].offset);
}

struct watched {
	unsigned int id;
	char path[64];
	int fd;
	struct hmmsim_stats now, before;
};

static int sample(struct watched *w)
{
	w->before = w->now;
	memset(&w->now, 0, sizeof(w->now));
	w->now.size = sizeof(w->now);
	if (ioctl(w->fd, HMMSIM_IOCTL_STATS, &w->now))
		return fail("%s: HMMSIM_IOCTL_STATS: %s", w->path,
			    strerror(errno));
	return 0;
}

/* One sample of every watched device: totals (@k == 0) or changes. */
static void print_sample(const struct watched *w, int n, unsigned long k,
			 double secs)
{
	unsigned long long v;
	unsigned int c;
	int i;

	if (json)
		printf("{\"sample\":%lu,\"seconds\":%.3f,\"delta\":%s,\"devices\":[",
		       k, secs, k ? "true" : "false");
	else if (k)
		printf("--- sample %lu: changes in %.3f s (gauges: now)\n",
		       k, secs);
	else
		printf("--- sample 0: totals\n");
	for (i = 0; i < n; i++) {
		if (json) {
			printf("%s{\"device\":", i ? "," : "");
			json_str(w[i].path);
			printf(",\"id\":%u", w[i].id);
		} else {
			printf("%s\n", w[i].path);
		}
		for (c = 0; c < NR_COUNTERS; c++) {
			v = counter(&w[i].now, c);
			if (k && !counters[c].gauge)
				v -= counter(&w[i].before, c);
			if (json)
				printf(",\"%s\":%llu", counters[c].name, v);
			else
				printf("  %-19s %llu\n", counters[c].name, v);
		}
		if (json)
			putchar('}');
	}
	if (json)
		printf("]}\n");
	fflush(stdout);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Until @secs from @since, or a SIGUSR1 (blocked, so never lost). */
static void wait_for_sample(const sigset_t *set, double since, double secs)
{
	struct timespec ts;
	double left;

	for (;;) {
		left = since + secs - now_s();
		if (left <= 0)
			return;
		ts.tv_sec = (time_t)left;
		ts.tv_nsec = (long)((left - ts.tv_sec) * 1e9);
		if (sigtimedwait(set, NULL, &ts) == SIGUSR1)
			return;
	}
}

static int cmd_stats(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "watch", required_argument, NULL, 'w' },
		{ "count", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	unsigned int ids[MAX_DEVICES];
	struct watched w[MAX_DEVICES];
	double interval = 0, last;
	unsigned long count = 0, k;
	sigset_t set;
	char *end;
	int opt, n, i, ret = 0;

	while ((opt = getopt_long(argc, argv, "+w:c:jh", opts, NULL)) != -1) {
		switch (opt) {
		case 'w':
			interval = strtod(optarg, &end);
			if (*end || !(interval >= 0.01 && interval <= 86400))
				return bad_usage("stats: -w SECS: 0.01 to 86400, not '%s'",
						 optarg);
			break;
		case 'c':
			count = strtoul(optarg, &end, 10);
			if (*end || !count || optarg[0] == '-')
				return bad_usage("stats: -c COUNT: at least 1, not '%s'",
						 optarg);
			break;
		default:
			opt = other_opt(opt, "stats: ");
			if (opt >= 0)
				return opt;
		}
	}
	if (argc - optind > 1)
		return bad_usage("stats: one device number at most");
	if (optind < argc) {
		i = parse_id(argv[optind]);
		if (i < 0)
			return bad_usage("stats: '%s' is not a device number",
					 argv[optind]);
		ids[0] = i;
		n = 1;
	} else {
		n = devices(ids);
		if (n < 0)
			return 1;
	}
	if (!interval && count > 1)
		interval = 1;
	if (!count && !interval)
		count = 1;

	/* Blocked from the start: a SIGUSR1 stays pending until waited for. */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);

	for (i = 0; i < n; i++) {
		w[i].id = ids[i];
		w[i].fd = open_dev(ids[i], w[i].path, sizeof(w[i].path));
		memset(&w[i].now, 0, sizeof(w[i].now));
		if (w[i].fd < 0) {
			ret = errno == ENOENT ?
			      fail("%s: no such device (hmmsimctl list shows them)",
				   w[i].path) :
			      fail("%s: %s", w[i].path, strerror(errno));
			n = i;
			goto out;
		}
	}
	last = now_s();
	for (k = 0; !count || k < count; k++) {
		double t;

		if (k)
			wait_for_sample(&set, last, interval);
		t = now_s();
		for (i = 0; i < n; i++)
			if (sample(&w[i])) {
				ret = 1;
				goto out;
			}
		print_sample(w, n, k, k ? t - last : 0);
		last = t;
	}
out:
	for (i = 0; i < n; i++)
		close(w[i].fd);
	return ret;
}

/* ------------------------------------------------------ create, remove */

/* The configfs attributes create sets, with its options. */
enum {
	ATTR_TYPE,
	ATTR_CAPACITY,
	ATTR_PHYS_BASE,
	ATTR_COPY_BANDWIDTH,
	ATTR_COPY_LATENCY_US,
	NR_ATTRS
};

static const char *const attr_names[NR_ATTRS] = {
	[ATTR_TYPE]		= "type",
	[ATTR_CAPACITY]		= "capacity",
	[ATTR_PHYS_BASE]	= "phys_base",
	[ATTR_COPY_BANDWIDTH]	= "copy_bandwidth",
	[ATTR_COPY_LATENCY_US]	= "copy_latency_us",
};

/* Check create's values before anything is made; the kernel has the last
 * word (hmmsim_config_check()) at power-on.
 */
static int check_attrs(const char *const *val)
{
	unsigned long long n;

	if (val[ATTR_TYPE] && strcmp(val[ATTR_TYPE], "private") &&
	    strcmp(val[ATTR_TYPE], "coherent"))
		return bad_usage("create: --type is private or coherent, not '%s'",
				 val[ATTR_TYPE]);
	if (val[ATTR_CAPACITY] &&
	    (parse_size(val[ATTR_CAPACITY], &n) || !n || n % CHUNK_SIZE))
		return fail("bad capacity '%s': not a non-zero multiple of 2M (e.g. 512M)",
			    val[ATTR_CAPACITY]);
	if (val[ATTR_PHYS_BASE] &&
	    (parse_u64(val[ATTR_PHYS_BASE], &n) || n % CHUNK_SIZE))
		return fail("bad physical base '%s': an address aligned to 2M, e.g. 0x60000000",
			    val[ATTR_PHYS_BASE]);
	if (val[ATTR_COPY_BANDWIDTH] && parse_size(val[ATTR_COPY_BANDWIDTH], &n))
		return fail("bad copy bandwidth '%s': bytes per second (e.g. 1G)",
			    val[ATTR_COPY_BANDWIDTH]);
	if (val[ATTR_COPY_LATENCY_US] &&
	    (parse_u64(val[ATTR_COPY_LATENCY_US], &n) || n > 0xffffffffULL))
		return fail("bad copy latency '%s': microseconds",
			    val[ATTR_COPY_LATENCY_US]);
	if (val[ATTR_TYPE] && !strcmp(val[ATTR_TYPE], "coherent") &&
	    !val[ATTR_PHYS_BASE])
		return fail("a coherent device needs --phys-base, a memmap=SIZE$ADDR range");
	return 0;
}

/* Undo a half-made item, keeping errno's message the caller prints. */
static void cfs_drop(const char *item)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/power", item);
	write_file(path, "0");
	rmdir(item);
}

static int cmd_create(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "type", required_argument, NULL, 't' },
		{ "capacity", required_argument, NULL, 's' },
		{ "name", required_argument, NULL, 'n' },
		{ "phys-base", required_argument, NULL, 'p' },
		{ "copy-bandwidth", required_argument, NULL, 'b' },
		{ "copy-latency-us", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	const char *val[NR_ATTRS] = {}, *name = NULL;
	char cfs[300], item[600], path[700], index[32], dev[64], size[32];
	unsigned int k;
	int opt, a, err, id;

	while ((opt = getopt_long(argc, argv, "+t:s:n:p:b:l:h", opts,
				  NULL)) != -1) {
		switch (opt) {
		case 't':
			val[ATTR_TYPE] = optarg;
			break;
		case 's':
			val[ATTR_CAPACITY] = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'p':
			val[ATTR_PHYS_BASE] = optarg;
			break;
		case 'b':
			val[ATTR_COPY_BANDWIDTH] = optarg;
			break;
		case 'l':
			val[ATTR_COPY_LATENCY_US] = optarg;
			break;
		default:
			opt = other_opt(opt, "create: ");
			if (opt >= 0)
				return opt;
		}
	}
	if (optind < argc)
		return bad_usage("create: unexpected argument '%s'",
				 argv[optind]);
	if (name && (!*name || strchr(name, '/') || name[0] == '.' ||
		     strlen(name) > 200))
		return bad_usage("create: bad name '%s'", name);
	err = check_attrs(val);
	if (err)
		return err;
	if (cfs_dir(cfs, sizeof(cfs)))
		return 1;

	if (name) {
		snprintf(item, sizeof(item), "%s/%s", cfs, name);
		if (mkdir(item, 0755))
			return fail("%s: %s", item, errno == EEXIST ?
				    "a configfs item of that name exists already" :
				    why(-errno));
	} else {
		for (k = 0;; k++) {
			snprintf(item, sizeof(item), "%s/ctl%u", cfs, k);
			if (!mkdir(item, 0755))
				break;
			if (errno != EEXIST || k > 10000)
				return fail("%s: %s", item, why(-errno));
		}
	}

	for (a = 0; a < NR_ATTRS; a++) {
		if (!val[a])
			continue;
		snprintf(path, sizeof(path), "%s/%s", item, attr_names[a]);
		err = write_file(path, val[a]);
		if (err) {
			cfs_drop(item);
			return fail("%s: %s: %s", path, val[a],
				    err == -ENOENT ?
				    "this hmmsim has no such attribute" :
				    why(err));
		}
	}
	snprintf(path, sizeof(path), "%s/power", item);
	err = write_file(path, "1");
	if (err) {
		cfs_drop(item);
		return fail("%s: power on failed: %s (the kernel log says why)",
			    item, why(err));
	}
	snprintf(path, sizeof(path), "%s/index", item);
	id = read_file(path, index, sizeof(index)) ? -1 : parse_id(index);
	if (id < 0) {
		cfs_drop(item);
		return fail("%s: powered on, but its index reads '%s'", item,
			    index);
	}

	dev_path(id, dev, sizeof(dev));
	snprintf(path, sizeof(path), "%s/capacity", item);
	if (read_file(path, size, sizeof(size)) == 0)
		fmt_size(strtoull(size, NULL, 0), size, sizeof(size));
	else
		snprintf(size, sizeof(size), "?");
	snprintf(path, sizeof(path), "%s/type", item);
	if (read_file(path, index, sizeof(index)))
		snprintf(index, sizeof(index), "?");
	printf("%s: %s, %s, configfs item %s\n", dev, index, size,
	       strrchr(item, '/') + 1);
	return 0;
}

static const char module_made[] =
	"made by the module's parameters, not configfs: rmmod removes it";

static int cmd_remove(int argc, char **argv)
{
	char cfs[300], item[600], path[700], name[256], dev[64];
	struct stat st;
	int id, err;

	if (argc == 2 && (!strcmp(argv[1], "-h") ||
			  !strcmp(argv[1], "--help"))) {
		usage(stdout);
		return 0;
	}
	if (argc != 2)
		return bad_usage("remove: name the device: remove NAME|N");
	if (cfs_dir(cfs, sizeof(cfs)))
		return 1;

	id = parse_id(argv[1]);
	snprintf(item, sizeof(item), "%s/%s", cfs, argv[1]);
	if (strchr(argv[1], '/') || argv[1][0] == '.' || stat(item, &st) ||
	    !S_ISDIR(st.st_mode)) {
		if (id < 0)
			return fail("no configfs item named '%s' in %s",
				    argv[1], cfs);
		dev_path(id, dev, sizeof(dev));
		if (!cfs_item_of(cfs, id, name, sizeof(name))) {
			if (!access(dev, F_OK))
				return fail("%s: %s", dev, module_made);
			return fail("%s: no such device", dev);
		}
		snprintf(item, sizeof(item), "%s/%s", cfs, name);
	}

	snprintf(path, sizeof(path), "%s/index", item);
	if (read_file(path, name, sizeof(name)) || parse_id(name) < 0)
		snprintf(dev, sizeof(dev), "no device: it was powered off");
	else
		dev_path(parse_id(name), dev, sizeof(dev));
	snprintf(path, sizeof(path), "%s/power", item);
	err = write_file(path, "0");
	if (err)
		return fail("%s: %s", path, why(err));
	if (rmdir(item))
		return fail("%s: %s", item, why(-errno));
	printf("removed configfs item %s (%s)\n", strrchr(item, '/') + 1,
	       dev);
	return 0;
}

/* -------------------------------------------------------------- trace */

static const char *const trace_events[] = {
	"hmmsim_migrate", "hmmsim_thp", "hmmsim_fault", "hmmsim_invalidate",
	"hmmsim_evict", "hmmsim_memory_error",
};

#define NR_EVENTS	ARRAY_SIZE(trace_events)

/* The tracefs mount, and hmmsim's events in it; a message if missing. */
static int trace_dir(char *dir, size_t len)
{
	char mnt[256], events[400];
	struct stat st;

	if (!fs_mount("tracefs", mnt, sizeof(mnt)))
		snprintf(dir, len, "%s", mnt);
	else if (!fs_mount("debugfs", mnt, sizeof(mnt)))
		snprintf(dir, len, "%s/tracing", mnt);
	else
		return fail("tracefs is not mounted (mount -t tracefs none /sys/kernel/tracing)");
	snprintf(events, sizeof(events), "%s/events/hmmsim", dir);
	if (stat(events, &st)) {
		if (errno == EACCES)
			return fail("%s: %s", events, why(-EACCES));
		return fail("%s: missing: is the hmmsim module loaded?",
			    events);
	}
	return 0;
}

/* Whether an event is hmmsim's; its full name into @full. */
static bool trace_event(const char *name, char *full, size_t len)
{
	unsigned int i;

	for (i = 0; i < NR_EVENTS; i++) {
		if (!strcmp(name, trace_events[i]) ||
		    !strcmp(name, trace_events[i] + strlen("hmmsim_"))) {
			snprintf(full, len, "%s", trace_events[i]);
			return true;
		}
	}
	return false;
}

static int trace_enable(const char *tr, char **names, int n, bool on)
{
	char path[600], full[64];
	int i, err;

	for (i = 0; i < n; i++)
		if (!trace_event(names[i], full, sizeof(full)))
			return bad_usage("trace: no hmmsim event '%s'",
					 names[i]);
	if (!n) {
		snprintf(path, sizeof(path), "%s/events/hmmsim/enable", tr);
		err = write_file(path, on ? "1" : "0");
		if (err)
			return fail("%s: %s", path, why(err));
	}
	for (i = 0; i < n; i++) {
		trace_event(names[i], full, sizeof(full));
		snprintf(path, sizeof(path), "%s/events/hmmsim/%s/enable", tr,
			 full);
		err = write_file(path, on ? "1" : "0");
		if (err)
			return fail("%s: %s", path, why(err));
	}
	if (on) {
		snprintf(path, sizeof(path), "%s/tracing_on", tr);
		err = write_file(path, "1");
		if (err)
			return fail("%s: %s", path, why(err));
	}
	return 0;
}

/* Whether a line of the trace is an hmmsim event: "...: hmmsim_X: ...". */
static bool hmmsim_line(const char *line)
{
	const char *p = strstr(line, ": hmmsim_");

	return *line != '#' && p && strchr(p + 2, ':');
}

static int trace_show(const char *tr, bool follow)
{
	char path[600], line[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tr, follow ? "trace_pipe" : "trace");
	f = fopen(path, "re");
	if (!f)
		return fail("%s: %s", path, why(-errno));
	while (fgets(line, sizeof(line), f)) {
		if (!hmmsim_line(line))
			continue;
		fputs(line, stdout);
		if (follow)
			fflush(stdout);
	}
	fclose(f);
	return 0;
}

static int trace_status(const char *tr)
{
	char path[600], val[64], line[4096];
	unsigned long events = 0;
	unsigned int i;
	FILE *f;
	int err;

	for (i = 0; i < NR_EVENTS; i++) {
		snprintf(path, sizeof(path), "%s/events/hmmsim/%s/enable", tr,
			 trace_events[i]);
		err = read_file(path, val, sizeof(val));
		printf("%-18s %s\n", trace_events[i],
		       err ? why(err) : !strcmp(val, "1") ? "on" : "off");
	}
	snprintf(path, sizeof(path), "%s/tracing_on", tr);
	err = read_file(path, val, sizeof(val));
	printf("%-18s %s\n", "tracing_on",
	       err ? why(err) : !strcmp(val, "1") ? "on" : "off");
	snprintf(path, sizeof(path), "%s/trace", tr);
	f = fopen(path, "re");
	if (!f)
		return fail("%s: %s", path, why(-errno));
	while (fgets(line, sizeof(line), f))
		events += hmmsim_line(line);
	fclose(f);
	printf("%-18s %lu\n", "events in buffer", events);
	return 0;
}

static int cmd_trace(int argc, char **argv)
{
	const char *act = argc > 1 ? argv[1] : "";
	bool events = !strcmp(act, "on") || !strcmp(act, "off");
	bool follow = false;
	char tr[300], path[600];
	int fd;

	if (!strcmp(act, "-h") || !strcmp(act, "--help")) {
		usage(stdout);
		return 0;
	}
	if (!events && strcmp(act, "status") && strcmp(act, "clear") &&
	    strcmp(act, "show"))
		return bad_usage("trace: on, off, status, clear or show, not '%s'",
				 act);
	if (!strcmp(act, "show") && argc == 3 &&
	    (!strcmp(argv[2], "-f") || !strcmp(argv[2], "--follow")))
		follow = true;
	if (!events && argc > 2 + follow)
		return bad_usage("trace %s: unexpected argument '%s'", act,
				 argv[argc - 1]);
	if (trace_dir(tr, sizeof(tr)))
		return 1;

	if (events)
		return trace_enable(tr, argv + 2, argc - 2, act[1] == 'n');
	if (!strcmp(act, "status"))
		return trace_status(tr);
	if (!strcmp(act, "show"))
		return trace_show(tr, follow);
	/* clear: truncating the trace file empties the buffer. */
	snprintf(path, sizeof(path), "%s/trace", tr);
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return fail("%s: %s", path, why(-errno));
	close(fd);
	return 0;
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
	if (fd < 0)
		return fail("%s: %s", path, errno == ENOENT ?
			    "no such device (hmmsimctl list shows them)" :
			    strerror(errno));
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

/* ---------------------------------------------------------------- main */

/* A command that takes no options but --json (and --help). */
static int simple_opts(int argc, char **argv, bool takes_json)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		}
		if (takes_json && (!strcmp(argv[i], "-j") ||
				   !strcmp(argv[i], "--json"))) {
			json = true;
			continue;
		}
		return bad_usage("%s: unexpected argument '%s'", argv[0],
				 argv[i]);
	}
	return -1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "devname", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	const char *env = getenv("HMMSIM_DEVNAME"), *cmd;
	int opt, ret, id;

	if (env && *env)
		devname = env;
	while ((opt = getopt_long(argc, argv, "+d:jh", opts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			devname = optarg;
			break;
		default:
			opt = other_opt(opt, "");
			if (opt >= 0)
				return opt;
		}
	}
	if (!*devname || strchr(devname, '/'))
		return bad_usage("bad devname '%s'", devname);

	/* The subcommand's own arguments: argv[0] is its name. */
	argc -= optind;
	argv += optind;
	optind = 0;
	cmd = argc ? argv[0] : "info";
	if (!argc || !strcmp(cmd, "info")) {
		ret = argc ? simple_opts(argc, argv, false) : -1;
		return ret >= 0 ? ret : cmd_info();
	}
	if (!strcmp(cmd, "list")) {
		ret = simple_opts(argc, argv, true);
		return ret >= 0 ? ret : cmd_list();
	}
	if (!strcmp(cmd, "stats"))
		return cmd_stats(argc, argv);
	if (!strcmp(cmd, "create"))
		return cmd_create(argc, argv);
	if (!strcmp(cmd, "remove"))
		return cmd_remove(argc, argv);
	if (!strcmp(cmd, "trace"))
		return cmd_trace(argc, argv);
	if (!strcmp(cmd, "demo")) {
		if (argc > 2)
			return bad_usage("demo: one device number at most");
		if (argc == 2 && (!strcmp(argv[1], "-h") ||
				  !strcmp(argv[1], "--help"))) {
			usage(stdout);
			return 0;
		}
		id = argc == 2 ? parse_id(argv[1]) : 0;
		if (id < 0)
			return bad_usage("demo: '%s' is not a device number",
					 argv[1]);
		return cmd_demo(id);
	}
	if (!strcmp(cmd, "help")) {
		if (argc > 2)
			return bad_usage("help: one command at most");
		if (argc == 1) {
			usage(stdout);
			return 0;
		}
		if (!usage_of(argv[1], false))
			return bad_usage("help: no command '%s'", argv[1]);
		usage_of(argv[1], true);
		return 0;
	}
	return bad_usage("unknown command '%s'", cmd);
}
