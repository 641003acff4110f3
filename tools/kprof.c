// SPDX-License-Identifier: GPL-2.0
/*
 * kprof - a small sampling profiler for the test VM, where there is no perf
 * tool and, under QEMU TCG, no hardware PMU.
 *
 *   kprof [-p PERIOD_NS] [-n TOP] [-g] [-c] -- COMMAND [ARG...]
 *
 * Opens one PERF_COUNT_SW_CPU_CLOCK event per online CPU (system wide,
 * kernel and user), samples every PERIOD_NS of CPU time (100000 by default)
 * while COMMAND runs, and prints the TOP (30) symbols by samples, kernel
 * symbols (modules' included) resolved against /proc/kallsyms. Samples are
 * split into the command's own tasks, the idle tasks and the rest (kworkers
 * and other tasks). With -g it records call chains and also prints the
 * symbols by inclusive samples (a symbol anywhere in a sample's chain).
 *
 * Each sample is also weighted by the time since its CPU's previous one
 * (at most 50 periods), and the tables are sorted by that weight, shown in
 * milliseconds: under QEMU TCG a CPU's timer fires late while its thread
 * is not running on the host or is in a long instruction, so that counts
 * of samples alone undercount such stretches.
 *
 * With -c the events start disabled and their descriptors are left open
 * across exec, named in KPROF_FDS (space separated): the command enables
 * and disables them itself (PERF_EVENT_IOC_ENABLE, _DISABLE) around the
 * phase it wants profiled.
 *
 * Needs root, or perf_event_paranoid -1 and kptr_restrict 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define RING_PAGES	256	/* data pages per CPU, a power of two */
#define MAX_CPUS	64
#define MAX_CHAIN	128

struct sym {
	uint64_t addr;
	char *name;
	uint64_t self[3];	/* by class: command, idle, other */
	uint64_t incl;
	uint64_t wself, wincl;	/* weighted, ns: busy self, inclusive */
	unsigned int mark;	/* last sample counted in incl */
};

enum { CL_CMD, CL_IDLE, CL_OTHER };
static const char *const class_name[] = { "command", "idle", "other" };

static struct sym *syms;
static size_t nsyms;
static uint64_t user_samples[3], unknown_samples[3], total[3];
static uint64_t nsamples, lost, period = 100000;
static uint64_t wtotal[3], last_time[MAX_CPUS];
static pid_t child;
static int callchains;

static void die(const char *what)
{
	perror(what);
	exit(2);
}

static int sym_cmp(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* Text symbols of /proc/kallsyms, sorted, "name [module]" for modules. */
static void load_kallsyms(void)
{
	FILE *f = fopen("/proc/kallsyms", "r");
	char line[512], name[256], mod[256];
	size_t cap = 0;

	if (!f)
		die("/proc/kallsyms");
	while (fgets(line, sizeof(line), f)) {
		unsigned long long addr;
		char type;
		int n;

		mod[0] = 0;
		n = sscanf(line, "%llx %c %255s %255s", &addr, &type, name, mod);
		if (n < 3 || !addr || !strchr("tTwW", type))
			continue;
		if (nsyms == cap) {
			cap = cap ? 2 * cap : 65536;
			syms = realloc(syms, cap * sizeof(*syms));
			if (!syms)
				die("realloc");
		}
		memset(&syms[nsyms], 0, sizeof(*syms));
		syms[nsyms].addr = addr;
		if (n == 4) {
			size_t len = strlen(name) + strlen(mod) + 2;

			syms[nsyms].name = malloc(len);
			if (syms[nsyms].name)
				snprintf(syms[nsyms].name, len, "%s %s", name,
					 mod);
		} else {
			syms[nsyms].name = strdup(name);
		}
		if (!syms[nsyms].name)
			die("malloc");
		nsyms++;
	}
	fclose(f);
	if (!nsyms) {
		fprintf(stderr, "kprof: no symbols (kptr_restrict?)\n");
		exit(2);
	}
	qsort(syms, nsyms, sizeof(*syms), sym_cmp);
}

static struct sym *lookup(uint64_t ip)
{
	size_t lo = 0, hi = nsyms;

	if (ip < syms[0].addr)
		return NULL;
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;

		if (syms[mid].addr <= ip)
			lo = mid;
		else
			hi = mid;
	}
	return &syms[lo];
}

static int classify(uint32_t pid)
{
	if (pid == 0)
		return CL_IDLE;
	if ((pid_t)pid == child || getpgid(pid) == child)
		return CL_CMD;
	return CL_OTHER;
}

/* The time since @cpu's previous sample at @time, at most 50 periods. */
static uint64_t weight(uint32_t cpu, uint64_t time)
{
	uint64_t w = period;

	if (cpu >= MAX_CPUS)
		return w;
	if (last_time[cpu] && time > last_time[cpu])
		w = time - last_time[cpu];
	last_time[cpu] = time;
	return w < 50 * period ? w : 50 * period;
}

/* One PERF_RECORD_SAMPLE: ip, pid/tid, time, cpu/res, [nr, ips...]. */
static void sample(const uint64_t *v)
{
	uint32_t pid = (uint32_t)v[1];
	int cl = classify(pid);
	uint64_t w = weight((uint32_t)v[3], v[2]);
	struct sym *s;
	uint64_t nr, i;

	nsamples++;
	total[cl]++;
	wtotal[cl] += w;
	s = (int64_t)v[0] < 0 ? lookup(v[0]) : NULL;
	if ((int64_t)v[0] >= 0) {
		user_samples[cl]++;
	} else if (s) {
		s->self[cl]++;
		if (cl != CL_IDLE)
			s->wself += w;
	} else {
		unknown_samples[cl]++;
	}
	if (!callchains)
		return;
	nr = v[4];
	for (i = 0; i < nr && i < MAX_CHAIN; i++) {
		uint64_t ip = v[5 + i];

		if (ip >= (uint64_t)PERF_CONTEXT_MAX)
			continue;
		if ((int64_t)ip >= 0)
			break;	/* user part of the chain */
		s = lookup(ip);
		if (s && s->mark != (unsigned int)nsamples) {
			s->mark = (unsigned int)nsamples;
			s->incl++;
			s->wincl += w;
		}
	}
}

struct ring {
	struct perf_event_mmap_page *meta;
	unsigned char *data;
	uint64_t size;
};

static void drain(struct ring *r)
{
	uint64_t head = __atomic_load_n(&r->meta->data_head, __ATOMIC_ACQUIRE);
	uint64_t tail = r->meta->data_tail;
	unsigned char rec[sizeof(uint64_t) * (MAX_CHAIN + 8)];

	while (tail < head) {
		struct perf_event_header h;
		uint64_t off = tail % r->size, i;

		for (i = 0; i < sizeof(h); i++)
			((unsigned char *)&h)[i] = r->data[(off + i) % r->size];
		if (h.size < sizeof(h))
			break;
		if (h.size <= sizeof(rec)) {
			for (i = 0; i < h.size; i++)
				rec[i] = r->data[(off + i) % r->size];
			if (h.type == PERF_RECORD_SAMPLE)
				sample((uint64_t *)(rec + sizeof(h)));
			else if (h.type == PERF_RECORD_LOST)
				lost += ((uint64_t *)(rec + sizeof(h)))[1];
		}
		tail += h.size;
	}
	__atomic_store_n(&r->meta->data_tail, tail, __ATOMIC_RELEASE);
}

static int by_self(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	return x->wself < y->wself ? 1 : x->wself > y->wself ? -1 : 0;
}

static int by_incl(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	return x->wincl < y->wincl ? 1 : x->wincl > y->wincl ? -1 : 0;
}

static double pct(uint64_t n, uint64_t of)
{
	return of ? 100.0 * n / of : 0.0;
}

static void report(int top)
{
	uint64_t busy = total[CL_CMD] + total[CL_OTHER];
	uint64_t wbusy = wtotal[CL_CMD] + wtotal[CL_OTHER];
	uint64_t wall = wbusy + wtotal[CL_IDLE];
	int i, c;

	printf("# kprof: %llu samples every %llu ns (%llu lost): ",
	       (unsigned long long)nsamples, (unsigned long long)period,
	       (unsigned long long)lost);
	printf("command %llu, idle %llu, other %llu\n",
	       (unsigned long long)total[CL_CMD],
	       (unsigned long long)total[CL_IDLE],
	       (unsigned long long)total[CL_OTHER]);
	for (c = 0; c < 3; c++)
		if (user_samples[c] || unknown_samples[c])
			printf("# %s: user %llu, unresolved kernel %llu\n",
			       class_name[c],
			       (unsigned long long)user_samples[c],
			       (unsigned long long)unknown_samples[c]);
	printf("# weighted ms: command %.1f, idle %.1f, other %.1f\n",
	       wtotal[CL_CMD] / 1e6, wtotal[CL_IDLE] / 1e6,
	       wtotal[CL_OTHER] / 1e6);
	printf("# self, idle excluded; busy%%: of the %.1f busy ms (%llu samples)\n",
	       wbusy / 1e6, (unsigned long long)busy);
	printf("%8s %6s %7s %7s %7s  %s\n", "ms", "busy%", "samples",
	       "command", "other", "symbol");
	qsort(syms, nsyms, sizeof(*syms), by_self);
	for (i = 0; i < top && (size_t)i < nsyms; i++) {
		uint64_t n = syms[i].self[CL_CMD] + syms[i].self[CL_OTHER];

		if (!syms[i].wself)
			break;
		printf("%8.1f %5.1f%% %7llu %7llu %7llu  %s\n",
		       syms[i].wself / 1e6, pct(syms[i].wself, wbusy),
		       (unsigned long long)n,
		       (unsigned long long)syms[i].self[CL_CMD],
		       (unsigned long long)syms[i].self[CL_OTHER],
		       syms[i].name);
	}
	if (!callchains)
		return;
	printf("# inclusive (symbol anywhere in the kernel chain), idle included\n");
	printf("# all%%: of the %.1f ms of all CPUs\n", wall / 1e6);
	printf("%8s %6s %7s  %s\n", "ms", "all%", "samples", "symbol");
	qsort(syms, nsyms, sizeof(*syms), by_incl);
	for (i = 0; i < top && (size_t)i < nsyms && syms[i].wincl; i++)
		printf("%8.1f %5.1f%% %7llu  %s\n", syms[i].wincl / 1e6,
		       pct(syms[i].wincl, wall),
		       (unsigned long long)syms[i].incl, syms[i].name);
}

static void print_usage(void)
{
	fprintf(stderr,
		"usage: kprof [-p PERIOD_NS] [-n TOP] [-g] [-c] -- COMMAND [ARG...]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int top = 30, control = 0, ncpus, cpu, opt, status;
	struct ring rings[MAX_CPUS];
	int fds[MAX_CPUS];
	long page = sysconf(_SC_PAGESIZE);
	char fdlist[MAX_CPUS * 8] = "";

	while ((opt = getopt(argc, argv, "+p:n:gc")) != -1) {
		switch (opt) {
		case 'p':
			period = strtoull(optarg, NULL, 0);
			break;
		case 'n':
			top = atoi(optarg);
			break;
		case 'g':
			callchains = 1;
			break;
		case 'c':
			control = 1;
			break;
		default:
			print_usage();
		}
	}
	if (optind >= argc || !period)
		print_usage();
	load_kallsyms();

	ncpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpus > MAX_CPUS)
		ncpus = MAX_CPUS;
	for (cpu = 0; cpu < ncpus; cpu++) {
		struct perf_event_attr attr = {
			.size = sizeof(attr),
			.type = PERF_TYPE_SOFTWARE,
			.config = PERF_COUNT_SW_CPU_CLOCK,
			.sample_period = period,
			.sample_type = PERF_SAMPLE_IP | PERF_SAMPLE_TID |
				       PERF_SAMPLE_TIME | PERF_SAMPLE_CPU |
				       (callchains ? PERF_SAMPLE_CALLCHAIN : 0),
			.disabled = 1,
			.wakeup_events = 64,
		};
		size_t len = (RING_PAGES + 1) * page;
		void *p;

		fds[cpu] = syscall(SYS_perf_event_open, &attr, -1, cpu, -1,
				   control ? 0 : PERF_FLAG_FD_CLOEXEC);
		if (fds[cpu] < 0)
			die("perf_event_open");
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED,
			 fds[cpu], 0);
		if (p == MAP_FAILED)
			die("mmap");
		rings[cpu].meta = p;
		rings[cpu].data = (unsigned char *)p + page;
		rings[cpu].size = (uint64_t)RING_PAGES * page;
		snprintf(fdlist + strlen(fdlist), sizeof(fdlist) - strlen(fdlist),
			 "%s%d", cpu ? " " : "", fds[cpu]);
	}

	child = fork();
	if (child < 0)
		die("fork");
	if (!child) {
		setpgid(0, 0);
		if (control)
			setenv("KPROF_FDS", fdlist, 1);
		execvp(argv[optind], argv + optind);
		die(argv[optind]);
	}
	setpgid(child, child);
	if (!control)
		for (cpu = 0; cpu < ncpus; cpu++)
			ioctl(fds[cpu], PERF_EVENT_IOC_ENABLE, 0);

	for (;;) {
		pid_t w = waitpid(child, &status, WNOHANG);

		for (cpu = 0; cpu < ncpus; cpu++)
			drain(&rings[cpu]);
		if (w == child)
			break;
		if (w < 0 && errno != EINTR)
			die("waitpid");
		poll(NULL, 0, 10);
	}
	for (cpu = 0; cpu < ncpus; cpu++) {
		ioctl(fds[cpu], PERF_EVENT_IOC_DISABLE, 0);
		drain(&rings[cpu]);
	}
	report(top);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
