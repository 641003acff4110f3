// SPDX-License-Identifier: GPL-2.0
/*
 * hmmsim-replay: replay a trace of CPU and device accesses against an hmmsim
 * device under each of a set of policies, and say what each policy did.
 *
 *   hmmsim-replay [-d DEVICE] [-p POLICY[,POLICY...]] [-b BYTES/S]
 *                 [-l MICROSECONDS] [-o DIR [-g]] [-n] [-v] TRACE...
 *
 * The trace format, the policies, the table and the link model are
 * described in Documentation/policy.rst; hmmsim-replay --help sums them up.
 *
 * For each trace and each policy the buffer the trace describes is mapped
 * afresh, every page's first word set to a value of its own from the CPU,
 * and a new file of DEVICE (/dev/hmmsim0) is opened and given the policy
 * (HMMSIM_IOCTL_SET_POLICY). The trace then runs: device lines become
 * access streams (HMMSIM_IOCTL_ACCESS, HMMSIM_PATTERN_LIST), consecutive
 * device lines one stream; CPU lines load or store each page's first word
 * from the CPU, which faults device-private pages back; advice lines are
 * HMMSIM_IOCTL_ADVISE. After each step the residency of the buffer is read
 * with HMM_DMIRROR_SNAPSHOT through a second file of the device (a
 * snapshot maps what it finds into its file's device page table, which
 * would spare the replaying file faults it would otherwise take).
 *
 * A store adds one to its page's first word, from the device as from the
 * CPU, so the expected value of every word is known at all times: a CPU
 * load must read it exactly, the checksum of a stream's device loads must
 * lie between what the loads could have read, and every word is compared
 * at the end. Any difference is an error.
 *
 * Exit status: 0 when every replay ran and every value was right, 1 when
 * one failed or read a wrong value, 2 for bad usage or a bad trace.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hmmsim.h>

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define PAGE_SZ		4096UL
#define WORDS		(PAGE_SZ / sizeof(__u64))
#define PMD_SZ		(2UL << 20)
#define MAX_PAGES	1048576UL	/* 4 GiB of buffer */
#define MAX_OPS		1048576UL	/* trace lines, repeats expanded */
#define MAX_DEPTH	8		/* nested repeat blocks */
#define MAX_POLICIES	16
#define LINE_BYTES	64		/* a remote access moves one line */

/* What a remote access and a migrated page cost, for the link model. */
#define DEFAULT_BANDWIDTH	(16ULL << 30)	/* bytes/s */
#define DEFAULT_LATENCY_US	5

static bool verbose;

static void msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("hmmsim-replay: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* Report an error; returns -1, for a caller to pass on. */
static int fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("hmmsim-replay: error: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return -1;
}

/* ------------------------------------------------------------ the trace */

enum op_kind { OP_CPU_LOAD, OP_CPU_STORE, OP_DEV_LOAD, OP_DEV_STORE,
	       OP_ADVISE, OP_STEP };

/* One line of a trace; pages are below MAX_PAGES. */
struct op {
	unsigned char kind;		/* an enum op_kind */
	unsigned char preferred;	/* OP_ADVISE: struct hmmsim_advise's */
	unsigned char accessed_by;
	unsigned short granularity;
	unsigned int line;
	unsigned int first, last, stride;
};

struct trace {
	const char *path;
	char name[64];		/* the file's name, without .trace */
	unsigned long pages;
	struct op *ops;
	size_t nops, cap;
	unsigned long steps;	/* step markers, the implicit last included */
	unsigned long dev_accesses, cpu_accesses;
	/* Parsing: the repeat blocks open at a line, outermost first. */
	size_t rep_start[MAX_DEPTH];
	unsigned long rep_count[MAX_DEPTH];
	unsigned int rep_line[MAX_DEPTH];
	unsigned int depth, lineno;
};

static int trace_err(const struct trace *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "hmmsim-replay: %s:%u: ", t->path, t->lineno);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return -1;
}

/* A whole decimal number no larger than @max into @out; -1 if not one. */
static int parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long long v;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

/* A byte count with an optional K, M or G suffix (powers of 1024). */
static int parse_size(const char *s, unsigned long long *out)
{
	static const char units[] = "KMG";
	unsigned long long n;
	const char *unit;
	char *end;
	int shift = 0;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno)
		return -1;
	unit = *end ? strchr(units, toupper((unsigned char)*end)) : NULL;
	if (unit) {
		shift = 10 * (unit - units + 1);
		end++;
	}
	if ((*end && *end != '\n') || n > (~0ULL >> shift))
		return -1;
	*out = n << shift;
	return 0;
}

static struct op *new_op(struct trace *t, enum op_kind kind)
{
	struct op *o;

	if (t->nops == MAX_OPS) {
		trace_err(t, "more than %lu operations, repeats expanded",
			  MAX_OPS);
		return NULL;
	}
	if (t->nops == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 256;
		o = realloc(t->ops, t->cap * sizeof(*o));
		if (!o) {
			trace_err(t, "out of memory");
			return NULL;
		}
		t->ops = o;
	}
	o = &t->ops[t->nops++];
	memset(o, 0, sizeof(*o));
	o->kind = kind;
	o->line = t->lineno;
	return o;
}

/* "P", "P-Q" or "P-Q/S": pages P to Q of the buffer, every S-th. */
static int parse_range(struct trace *t, char *s, struct op *o)
{
	char *dash = strchr(s, '-'), *slash = strchr(s, '/');
	unsigned long first, last, stride = 1;

	if (slash) {
		*slash = '\0';
		if (parse_ulong(slash + 1, MAX_PAGES, &stride) || !stride)
			return trace_err(t, "'%s': a stride is a number from 1", slash + 1);
	}
	if (dash)
		*dash = '\0';
	if (parse_ulong(s, ULONG_MAX, &first) ||
	    (dash && parse_ulong(dash + 1, ULONG_MAX, &last)))
		return trace_err(t, "'%s%s%s': a page range is PAGE, PAGE-PAGE or PAGE-PAGE/STRIDE",
				 s, dash ? "-" : "", dash ? dash + 1 : "");
	if (!dash)
		last = first;
	if (last < first)
		return trace_err(t, "range %lu-%lu goes backwards", first, last);
	if (last >= t->pages)
		return trace_err(t, "page %lu is beyond the buffer's %lu pages",
				 last, t->pages);
	o->first = first;
	o->last = last;
	o->stride = stride;
	return 0;
}

static unsigned long range_pages(const struct op *o)
{
	return (o->last - o->first) / o->stride + 1;
}

/* One word of an advice line: preferred=, accessed-by, granularity=. */
static int parse_advice_word(struct trace *t, char *w, struct op *a)
{
	unsigned long g;

	if (!strcmp(w, "accessed-by")) {
		a->accessed_by = 1;
	} else if (!strcmp(w, "preferred=system")) {
		a->preferred = HMMSIM_LOCATION_SYSTEM;
	} else if (!strcmp(w, "preferred=device")) {
		a->preferred = HMMSIM_LOCATION_DEVICE;
	} else if (!strcmp(w, "preferred=none")) {
		a->preferred = HMMSIM_LOCATION_NONE;
	} else if (!strncmp(w, "granularity=", 12)) {
		if (parse_ulong(w + 12, 512, &g) || !g || (g & (g - 1)))
			return trace_err(t,
					 "'%s': a granularity is a power of two from 1 to 512 pages",
					 w);
		a->granularity = g;
	} else {
		return trace_err(t,
				 "'%s': advice is preferred=system|device|none, accessed-by or granularity=PAGES",
				 w);
	}
	return 0;
}

/* "advise RANGE ADVICE...": no advice at all removes the range's. */
static int parse_advise(struct trace *t, char **w, int n)
{
	struct op *o;
	int i;

	if (n < 2)
		return trace_err(t, "advise needs a page range");
	o = new_op(t, OP_ADVISE);
	if (!o || parse_range(t, w[1], o))
		return -1;
	if (o->stride != 1)
		return trace_err(t, "advice takes a range without a stride");
	for (i = 2; i < n; i++)
		if (parse_advice_word(t, w[i], o))
			return -1;
	return 0;
}

/* "cpu|dev load|store RANGE". */
static int parse_access(struct trace *t, char **w, int n)
{
	bool dev = !strcmp(w[0], "dev");
	enum op_kind kind;
	struct op *o;

	if (n != 3 || (strcmp(w[1], "load") && strcmp(w[1], "store")))
		return trace_err(t, "expected '%s load|store PAGE[-PAGE[/STRIDE]]'", w[0]);
	if (!strcmp(w[1], "load"))
		kind = dev ? OP_DEV_LOAD : OP_CPU_LOAD;
	else
		kind = dev ? OP_DEV_STORE : OP_CPU_STORE;
	o = new_op(t, kind);
	if (!o || parse_range(t, w[2], o))
		return -1;
	if (dev)
		t->dev_accesses += range_pages(o);
	else
		t->cpu_accesses += range_pages(o);
	return 0;
}

static int parse_pages(struct trace *t, char **w, int n)
{
	if (t->pages)
		return trace_err(t, "a second 'pages' line");
	if (n != 2 || parse_ulong(w[1], MAX_PAGES, &t->pages) || !t->pages)
		return trace_err(t, "expected 'pages N', N from 1 to %lu", MAX_PAGES);
	return 0;
}

static int parse_repeat(struct trace *t, char **w, int n)
{
	unsigned long count;

	if (n != 2 || parse_ulong(w[1], MAX_OPS, &count) || !count)
		return trace_err(t, "expected 'repeat N', N from 1");
	if (t->depth == MAX_DEPTH)
		return trace_err(t, "repeat blocks nest at most %d deep", MAX_DEPTH);
	t->rep_start[t->depth] = t->nops;
	t->rep_count[t->depth] = count;
	t->rep_line[t->depth] = t->lineno;
	t->depth++;
	return 0;
}

/* "end": the block's operations, copied to make up its count. */
static int parse_end(struct trace *t, int n)
{
	size_t start, len, i;
	unsigned long k;

	if (n != 1 || !t->depth)
		return trace_err(t, "'end' without a 'repeat'");
	t->depth--;
	start = t->rep_start[t->depth];
	len = t->nops - start;
	for (k = 1; k < t->rep_count[t->depth]; k++) {
		for (i = 0; i < len; i++) {
			struct op *o = new_op(t, OP_STEP);

			if (!o)
				return -1;
			*o = t->ops[start + i];
			if (o->kind == OP_STEP)
				t->steps++;
			else if (o->kind == OP_DEV_LOAD || o->kind == OP_DEV_STORE)
				t->dev_accesses += range_pages(o);
			else if (o->kind != OP_ADVISE)
				t->cpu_accesses += range_pages(o);
		}
	}
	return 0;
}

/* One line, split into at most 8 words. */
static int parse_line(struct trace *t, char *line)
{
	char *w[8], *save = NULL, *tok, *hash = strchr(line, '#');
	int n = 0;

	if (hash)
		*hash = '\0';
	for (tok = strtok_r(line, " \t\r\n", &save); tok;
	     tok = strtok_r(NULL, " \t\r\n", &save)) {
		if (n == 8)
			return trace_err(t, "too many words");
		w[n++] = tok;
	}
	if (!n)
		return 0;
	if (!strcmp(w[0], "pages"))
		return parse_pages(t, w, n);
	if (!t->pages)
		return trace_err(t, "'%s' before the 'pages N' line", w[0]);
	if (!strcmp(w[0], "cpu") || !strcmp(w[0], "dev"))
		return parse_access(t, w, n);
	if (!strcmp(w[0], "advise"))
		return parse_advise(t, w, n);
	if (!strcmp(w[0], "step")) {
		t->steps++;
		return new_op(t, OP_STEP) ? 0 : -1;
	}
	if (!strcmp(w[0], "repeat"))
		return parse_repeat(t, w, n);
	if (!strcmp(w[0], "end"))
		return parse_end(t, n);
	return trace_err(t,
			 "unknown line '%s': expected pages, cpu, dev, advise, step, repeat or end",
			 w[0]);
}

/* The trace's name: its file's, without the directory and ".trace". */
static void trace_name(struct trace *t)
{
	const char *base = strrchr(t->path, '/');
	size_t len;

	base = base ? base + 1 : t->path;
	len = strlen(base);
	if (len > 6 && !strcmp(base + len - 6, ".trace"))
		len -= 6;
	if (len >= sizeof(t->name))
		len = sizeof(t->name) - 1;
	memcpy(t->name, base, len);
	t->name[len] = '\0';
}

/* A trace ends with a step: what follows the last marker is one. */
static int finish_trace(struct trace *t)
{
	if (t->depth) {
		t->lineno = t->rep_line[t->depth - 1];
		return trace_err(t, "'repeat' without its 'end'");
	}
	if (!t->pages)
		return trace_err(t, "no 'pages N' line");
	if (!t->nops)
		return trace_err(t, "no accesses");
	if (t->ops[t->nops - 1].kind != OP_STEP) {
		t->steps++;
		return new_op(t, OP_STEP) ? 0 : -1;
	}
	return 0;
}

static int load_trace(struct trace *t, const char *path)
{
	char line[512];
	FILE *f;
	int ret = 0;

	memset(t, 0, sizeof(*t));
	t->path = path;
	trace_name(t);
	f = fopen(path, "r");
	if (!f)
		return fail("%s: %s", path, strerror(errno));
	while (!ret && fgets(line, sizeof(line), f)) {
		t->lineno++;
		if (!strchr(line, '\n') && !feof(f))
			ret = trace_err(t, "line longer than %zu bytes", sizeof(line) - 2);
		else
			ret = parse_line(t, line);
	}
	if (!ret && ferror(f))
		ret = fail("%s: %s", path, strerror(errno));
	fclose(f);
	t->lineno++;
	return ret ? ret : finish_trace(t);
}

/* ----------------------------------------------------------- policies */

struct policy {
	char name[64];
	struct hmmsim_policy p;
};

/* The named policies; a name may be followed by :KEY=VALUE changes. */
static const struct {
	const char *name;
	__u32 migrate, prefetch;
	const char *what;
} base_policies[] = {
	{ "remote", HMMSIM_POLICY_REMOTE, HMMSIM_PREFETCH_NONE,
	  "map remotely, never migrate (lib/test_hmm's behaviour)" },
	{ "first-touch", HMMSIM_POLICY_FIRST_TOUCH, HMMSIM_PREFETCH_NONE,
	  "migrate the faulting page" },
	{ "fixed", HMMSIM_POLICY_FIRST_TOUCH, HMMSIM_PREFETCH_FIXED,
	  "migrate the aligned 16-page (64 KiB) block around it" },
	{ "density", HMMSIM_POLICY_FIRST_TOUCH, HMMSIM_PREFETCH_DENSITY,
	  "migrate the largest block, up to 2 MiB, that is half touched" },
	{ "counters", HMMSIM_POLICY_COUNTERS, HMMSIM_PREFETCH_NONE,
	  "map remotely, migrate a page after 8 remote accesses" },
};

#define NR_BASE	ARRAY_SIZE(base_policies)

/* struct hmmsim_policy's defaults, as a new file has them. */
static void policy_defaults(struct hmmsim_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->size = sizeof(*p);
	p->prefetch_pages = 16;
	p->density_pct = 50;
	p->counter_threshold = 8;
	p->counter_window = 0;
	p->thrash_threshold = 3;
	p->thrash_window = 4096;
	p->thrash_pin = 4096;
}

static const struct {
	const char *key;
	size_t offset;
} policy_keys[] = {
#define KEY(k, f) { k, offsetof(struct hmmsim_policy, f) }
	KEY("pages", prefetch_pages),
	KEY("density", density_pct),
	KEY("threshold", counter_threshold),
	KEY("window", counter_window),
	KEY("thrash", thrash_threshold),
	KEY("thrash-window", thrash_window),
	KEY("pin", thrash_pin),
#undef KEY
};

/* One ":KEY=VALUE" of a policy; the kernel checks the value's range. */
static int policy_change(struct policy *pol, char *kv)
{
	char *eq = strchr(kv, '=');
	unsigned long v;
	size_t i;

	if (!eq || parse_ulong(eq + 1, UINT_MAX, &v))
		return fail("policy %s: '%s': expected KEY=NUMBER", pol->name, kv);
	*eq = '\0';
	for (i = 0; i < ARRAY_SIZE(policy_keys); i++) {
		if (!strcmp(kv, policy_keys[i].key)) {
			*(__u32 *)((char *)&pol->p + policy_keys[i].offset) = v;
			return 0;
		}
	}
	return fail("policy %s: unknown key '%s' (%s)", pol->name, kv,
		    "pages, density, threshold, window, thrash, thrash-window, pin");
}

/* "NAME[:KEY=VALUE...]" into @pol. */
static int parse_policy(char *spec, struct policy *pol)
{
	char *save = NULL, *name = strtok_r(spec, ":", &save), *kv;
	size_t i;

	snprintf(pol->name, sizeof(pol->name), "%s", spec);
	policy_defaults(&pol->p);
	for (i = 0; i < NR_BASE; i++)
		if (name && !strcmp(name, base_policies[i].name))
			break;
	if (i == NR_BASE)
		return fail("unknown policy '%s' (remote, first-touch, fixed, density, counters)",
			    name ? name : "");
	pol->p.migrate = base_policies[i].migrate;
	pol->p.prefetch = base_policies[i].prefetch;
	while ((kv = strtok_r(NULL, ":", &save))) {
		if (policy_change(pol, kv))
			return -1;
		/* The table's name keeps the changes, separated by ':'. */
		snprintf(pol->name + strlen(pol->name),
			 sizeof(pol->name) - strlen(pol->name), ":%s=%s", kv,
			 kv + strlen(kv) + 1);
	}
	return 0;
}

/* "-p a,b:k=v,c" or "all" into @pols; returns how many, -1 on error. */
static int parse_policies(const char *arg, struct policy *pols)
{
	char buf[512], *save = NULL, *spec;
	int n = 0;
	size_t i;

	if (!strcmp(arg, "all")) {
		for (i = 0; i < NR_BASE; i++) {
			snprintf(buf, sizeof(buf), "%s", base_policies[i].name);
			if (parse_policy(buf, &pols[n++]))
				return -1;
		}
		return n;
	}
	if (strlen(arg) >= sizeof(buf))
		return fail("-p: too long");
	snprintf(buf, sizeof(buf), "%s", arg);
	for (spec = strtok_r(buf, ",", &save); spec;
	     spec = strtok_r(NULL, ",", &save)) {
		if (n == MAX_POLICIES)
			return fail("-p: at most %d policies", MAX_POLICIES);
		if (parse_policy(spec, &pols[n++]))
			return -1;
	}
	return n ? n : fail("-p: no policy");
}

/* -------------------------------------------------------- the link model */

struct link {
	unsigned long long bandwidth;	/* bytes/s */
	unsigned long long latency_us;	/* per copy batch */
	unsigned long long fault_latency_us;	/* per fault batch */
	const char *bw_from, *lat_from;
};

/* The configfs item of device @id, into @dir; false if there is none. */
static bool cfs_item(unsigned int id, char *dir, size_t len)
{
	const char *cfs = "/sys/kernel/config/hmmsim";
	char path[512], val[32];
	unsigned long v;
	struct dirent *de;
	bool found = false;
	DIR *d = opendir(cfs);
	FILE *f;

	if (!d)
		return false;
	while (!found && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/index", cfs, de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		val[0] = '\0';
		if (fgets(val, sizeof(val), f))
			val[strcspn(val, "\n")] = '\0';
		if (!parse_ulong(val, UINT_MAX, &v) && v == id) {
			snprintf(dir, len, "%s/%s", cfs, de->d_name);
			found = true;
		}
		fclose(f);
	}
	closedir(d);
	return found;
}

/* A number from the file @dir/@name; -1 if there is none. */
static int read_knob(const char *dir, const char *name, unsigned long long *v)
{
	char path[512], val[64];
	FILE *f;
	int ret = -1;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fgets(val, sizeof(val), f))
		ret = parse_size(val, v);
	fclose(f);
	return ret;
}

/*
 * The device's copy engine: its configfs item's, or the module's
 * parameters for a device the module made. -b and -l win; a link the
 * device does not limit (0) gets the defaults, said so in the header.
 */
static void find_link(struct link *l, unsigned int id)
{
	const char *params = "/sys/module/hmmsim/parameters";
	char dir[512];
	const char *from = "module parameter";
	unsigned long long v;

	if (cfs_item(id, dir, sizeof(dir)))
		from = "configfs";
	else
		snprintf(dir, sizeof(dir), "%s", params);
	if (!l->bw_from) {
		l->bw_from = "default: the device's is unlimited";
		l->bandwidth = DEFAULT_BANDWIDTH;
		if (!read_knob(dir, "copy_bandwidth", &v) && v) {
			l->bandwidth = v;
			l->bw_from = from;
		}
	}
	if (!l->lat_from) {
		l->lat_from = "default: the device's is zero";
		l->latency_us = DEFAULT_LATENCY_US;
		if (!read_knob(dir, "copy_latency_us", &v) && v) {
			l->latency_us = v;
			l->lat_from = from;
		}
	}
}

/* ------------------------------------------------------------ a replay */

/* Where a page is, from its HMM_DMIRROR_SNAPSHOT code. */
enum where { W_NONE, W_SYSTEM, W_DEVICE, W_OTHER };

/* The sections of a residency data file, gnuplot indexes 0 to 3. */
enum section { SEC_RESIDENCY, SEC_TO_DEVICE, SEC_TO_SYSTEM, SEC_STEPS,
	       NR_SECTIONS };

struct totals {
	__u64 streams, done, faults, batches, remote, migrated;
	__u64 copy_batches;	/* batches of streams that migrated */
};

struct replay {
	const struct trace *t;
	const struct policy *pol;
	const char *dev;
	int fd, snap_fd;
	void *map;
	size_t map_len;
	__u64 *buf;
	__u64 *exp;		/* the expected first word of each page */
	unsigned char *codes, *where, *was;
	__u64 *list;		/* the device stream being gathered */
	size_t nlist;
	__u32 *stores;		/* per page, the stores of that stream */
	unsigned int stream_line;
	unsigned long step;
	struct hmmsim_stats st0, st_step, st_end;
	struct totals tot;
	FILE *sec[NR_SECTIONS];
	unsigned long errors;
};

/* The value a page's first word starts with: its own, never another's. */
static __u64 initial_value(unsigned long page)
{
	return (__u64)page << 32 | 0x5a5a;
}

static int read_stats(struct replay *r, struct hmmsim_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	if (ioctl(r->fd, HMMSIM_IOCTL_STATS, st))
		return fail("%s: HMMSIM_IOCTL_STATS: %s", r->dev, strerror(errno));
	return 0;
}

/* A wrong value: said, counted; only the first ten are shown. */
static void data_error(struct replay *r, unsigned int line, const char *fmt, ...)
{
	va_list ap;

	if (r->errors++ >= 10)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "hmmsim-replay: DATA MISMATCH: %s, policy %s, line %u: ",
		r->t->path, r->pol->name, line);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void gather(struct replay *r, const struct op *o)
{
	__u64 store = o->kind == OP_DEV_STORE ? HMMSIM_ACCESS_STORE : 0;
	unsigned long p;

	if (!r->nlist)
		r->stream_line = o->line;
	for (p = o->first; p <= o->last; p += o->stride)
		r->list[r->nlist++] = p | store;
}

/*
 * What the stream's loads can have read, in sum: a page's stores in the
 * same stream may land before or after its loads (the device goes on past
 * a faulting access), so each load reads between the page's value before
 * the stream and after it. The expected values move past the stream.
 */
static void stream_bounds(struct replay *r, __u64 *lo, __u64 *hi)
{
	unsigned long p;
	size_t i;

	*lo = 0;
	*hi = 0;
	for (i = 0; i < r->nlist; i++)
		if (r->list[i] & HMMSIM_ACCESS_STORE)
			r->stores[r->list[i] & ~HMMSIM_ACCESS_STORE]++;
	for (i = 0; i < r->nlist; i++) {
		if (r->list[i] & HMMSIM_ACCESS_STORE)
			continue;
		p = r->list[i];
		*lo += r->exp[p];
		*hi += r->exp[p] + r->stores[p];
	}
	for (i = 0; i < r->nlist; i++) {
		p = r->list[i] & ~HMMSIM_ACCESS_STORE;
		r->exp[p] += r->stores[p];
		r->stores[p] = 0;
	}
}

static void count_stream(struct replay *r, const struct hmmsim_access *a)
{
	r->tot.streams++;
	r->tot.done += a->done;
	r->tot.faults += a->faults;
	r->tot.batches += a->batches;
	r->tot.remote += a->remote;
	r->tot.migrated += a->migrated;
	if (a->migrated)
		r->tot.copy_batches += a->batches;
	if (verbose)
		msg("%s %s line %u: %llu accesses, %llu faults, %llu batches, %llu remote, %llu in",
		    r->t->name, r->pol->name, r->stream_line,
		    (unsigned long long)a->done, (unsigned long long)a->faults,
		    (unsigned long long)a->batches, (unsigned long long)a->remote,
		    (unsigned long long)a->migrated);
}

/* The gathered device lines, run as one access stream. */
static int flush_stream(struct replay *r)
{
	struct hmmsim_access a = {
		.size = sizeof(a),
		.addr = (unsigned long)r->buf,
		.npages = r->t->pages,
		.pattern = HMMSIM_PATTERN_LIST,
		.count = r->nlist,
		.ptr = (unsigned long)r->list,
	};
	__u64 lo, hi;

	if (!r->nlist)
		return 0;
	stream_bounds(r, &lo, &hi);
	r->nlist = 0;
	if (ioctl(r->fd, HMMSIM_IOCTL_ACCESS, &a))
		return fail("%s, policy %s, line %u: %s of %llu accesses: %s (%llu done)",
			    r->t->path, r->pol->name, r->stream_line,
			    "HMMSIM_IOCTL_ACCESS", (unsigned long long)a.count,
			    strerror(errno),
			    (unsigned long long)a.done);
	count_stream(r, &a);
	if (a.done != a.count)
		return fail("%s, policy %s, line %u: the device did %llu of %llu accesses",
			    r->t->path, r->pol->name, r->stream_line,
			    (unsigned long long)a.done, (unsigned long long)a.count);
	if (a.checksum < lo || a.checksum > hi)
		data_error(r, r->stream_line,
			   "the device's loads read a sum of %#llx, expected %#llx to %#llx",
			   (unsigned long long)a.checksum,
			   (unsigned long long)lo, (unsigned long long)hi);
	return 0;
}

/* A CPU line: each page's first word read (and, for a store, written). */
static void cpu_access(struct replay *r, const struct op *o)
{
	unsigned long p;
	__u64 v;

	for (p = o->first; p <= o->last; p += o->stride) {
		v = r->buf[p * WORDS];
		if (v != r->exp[p])
			data_error(r, o->line, "page %lu: the CPU read %#llx, expected %#llx",
				   p, (unsigned long long)v,
				   (unsigned long long)r->exp[p]);
		if (o->kind == OP_CPU_STORE) {
			r->buf[p * WORDS] = v + 1;
			r->exp[p] = v + 1;
		}
	}
}

static int advise(struct replay *r, const struct op *o)
{
	struct hmmsim_advise a = {
		.size = sizeof(a),
		.preferred = o->preferred,
		.accessed_by = o->accessed_by,
		.granularity = o->granularity,
	};

	a.addr = (unsigned long)r->buf + o->first * PAGE_SZ;
	a.npages = o->last - o->first + 1;
	if (ioctl(r->fd, HMMSIM_IOCTL_ADVISE, &a))
		return fail("%s, policy %s, line %u: HMMSIM_IOCTL_ADVISE: %s",
			    r->t->path, r->pol->name, o->line, strerror(errno));
	return 0;
}

static enum where where_of(unsigned char code)
{
	switch (code & 0xf0) {
	case HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL:
	case HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL:
		return W_DEVICE;
	case HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE:
	case HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE:
		return code == HMM_DMIRROR_PROT_ERROR ? W_NONE : W_OTHER;
	case HMM_DMIRROR_PROT_ZERO:
		return W_SYSTEM;
	}
	return code & (HMM_DMIRROR_PROT_READ | HMM_DMIRROR_PROT_WRITE) ?
	       W_SYSTEM : W_NONE;
}

static int snapshot(struct replay *r)
{
	struct hmm_dmirror_cmd cmd = {
		.addr = (unsigned long)r->buf,
		.ptr = (unsigned long)r->codes,
		.npages = r->t->pages,
	};
	unsigned long p;

	if (ioctl(r->snap_fd, HMM_DMIRROR_SNAPSHOT, &cmd))
		return fail("%s: HMM_DMIRROR_SNAPSHOT: %s", r->dev, strerror(errno));
	memcpy(r->was, r->where, r->t->pages);
	for (p = 0; p < r->t->pages; p++)
		r->where[p] = where_of(r->codes[p]);
	return 0;
}

/*
 * Runs of pages, in the step's column: "STEP FIRST LAST WHERE" where every
 * page is, and "STEP FIRST LAST" the pages that moved to the device and
 * those that left it since the step before.
 */
static void write_runs(struct replay *r)
{
	unsigned long p, start = 0, n = r->t->pages;
	int kind, prev = -1;

	for (p = 0; p <= n; p++) {
		kind = p < n ? r->where[p] : -1;
		if (p && kind != prev)
			fprintf(r->sec[SEC_RESIDENCY], "%lu %lu %lu %d\n",
				r->step, start, p - 1, prev);
		if (kind != prev)
			start = p;
		prev = kind;
	}
	for (prev = 0, p = 0; p <= n; p++) {
		kind = 0;
		if (p < n && r->was[p] != W_DEVICE && r->where[p] == W_DEVICE)
			kind = SEC_TO_DEVICE;
		else if (p < n && r->was[p] == W_DEVICE && r->where[p] != W_DEVICE)
			kind = SEC_TO_SYSTEM;
		if (p && kind != prev && prev)
			fprintf(r->sec[prev], "%lu %lu %lu\n", r->step, start, p - 1);
		if (kind != prev)
			start = p;
		prev = kind;
	}
}

/* Every counter's change from @b to @a, into @d (gauges too: ignore them). */
static void stats_delta(const struct hmmsim_stats *a,
			const struct hmmsim_stats *b, struct hmmsim_stats *d)
{
	size_t i, first = offsetof(struct hmmsim_stats, to_device) / 8;
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;
	__u64 *z = (__u64 *)d;

	memset(d, 0, sizeof(*d));
	for (i = first; i < sizeof(*d) / 8; i++)
		z[i] = x[i] - y[i];
}

/* The counters' changes over the step, in the step's line. */
static int write_step_counts(struct replay *r)
{
	struct hmmsim_stats st, d;

	if (read_stats(r, &st))
		return -1;
	stats_delta(&st, &r->st_step, &d);
	fprintf(r->sec[SEC_STEPS], "%lu %llu %llu %llu %llu %llu %llu %llu\n",
		r->step, (unsigned long long)d.to_device,
		(unsigned long long)d.from_device,
		(unsigned long long)d.remote_accesses,
		(unsigned long long)d.device_faults,
		(unsigned long long)d.cpu_faults,
		(unsigned long long)d.fault_batches,
		(unsigned long long)d.thrash_events);
	r->st_step = st;
	return 0;
}

/* The end of a step: the stream run, where every page is now. */
static int end_step(struct replay *r)
{
	if (flush_stream(r))
		return -1;
	r->step++;
	if (snapshot(r))
		return -1;
	if (r->sec[0]) {
		write_runs(r);
		if (write_step_counts(r))
			return -1;
	}
	return 0;
}

static int run_op(struct replay *r, const struct op *o)
{
	switch (o->kind) {
	case OP_DEV_LOAD:
	case OP_DEV_STORE:
		gather(r, o);
		return 0;
	case OP_CPU_LOAD:
	case OP_CPU_STORE:
		if (flush_stream(r))
			return -1;
		cpu_access(r, o);
		return 0;
	case OP_ADVISE:
		return flush_stream(r) ? -1 : advise(r, o);
	case OP_STEP:
		return end_step(r);
	}
	return 0;
}

/* Every page's word, compared with what the trace's stores made it. */
static void verify(struct replay *r)
{
	unsigned long p;
	__u64 v;

	for (p = 0; p < r->t->pages; p++) {
		v = r->buf[p * WORDS];
		if (v != r->exp[p])
			data_error(r, r->t->lineno,
				   "at the end, page %lu holds %#llx, expected %#llx",
				   p, (unsigned long long)v,
				   (unsigned long long)r->exp[p]);
	}
}

/* The longest run of device accesses between two other operations. */
static size_t longest_stream(const struct trace *t)
{
	size_t i, n = 0, max = 0;

	for (i = 0; i < t->nops; i++) {
		if (t->ops[i].kind == OP_DEV_LOAD || t->ops[i].kind == OP_DEV_STORE)
			n += range_pages(&t->ops[i]);
		else
			n = 0;
		if (n > max)
			max = n;
	}
	return max;
}

/* The buffer, 2 MiB aligned in its own VMA, on 4 KiB pages. */
static int map_buffer(struct replay *r)
{
	size_t len = r->t->pages * PAGE_SZ;
	unsigned long p;
	char *m, *b;

	r->map_len = len + 2 * PMD_SZ;
	m = mmap(NULL, r->map_len, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED)
		return fail("mmap of %zu bytes: %s", r->map_len, strerror(errno));
	r->map = m;
	b = (char *)(((unsigned long)m + PAGE_SZ + PMD_SZ - 1) & ~(PMD_SZ - 1));
	if (mmap(b, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
		return fail("mmap: %s", strerror(errno));
	if (madvise(b, len, MADV_NOHUGEPAGE))
		return fail("madvise: %s", strerror(errno));
	r->buf = (__u64 *)b;
	for (p = 0; p < r->t->pages; p++) {
		r->exp[p] = initial_value(p);
		r->buf[p * WORDS] = r->exp[p];
	}
	return 0;
}

static int open_device(struct replay *r, struct hmmsim_info *info)
{
	struct hmmsim_policy p = r->pol->p;

	r->fd = open(r->dev, O_RDWR | O_CLOEXEC);
	r->snap_fd = r->fd < 0 ? -1 : open(r->dev, O_RDWR | O_CLOEXEC);
	if (r->fd < 0 || r->snap_fd < 0)
		return fail("%s: %s", r->dev, strerror(errno));
	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	if (ioctl(r->fd, HMMSIM_IOCTL_INFO, info))
		return fail("%s: HMMSIM_IOCTL_INFO: %s (not an hmmsim device?)",
			    r->dev, strerror(errno));
	if (info->abi_version < 7)
		return fail("%s: hmmsim's ABI version is %u; the device policy needs 7",
			    r->dev, info->abi_version);
	if (ioctl(r->fd, HMMSIM_IOCTL_SET_POLICY, &p))
		return fail("%s: HMMSIM_IOCTL_SET_POLICY of policy %s: %s",
			    r->dev, r->pol->name, strerror(errno));
	return 0;
}

static void free_replay(struct replay *r)
{
	int i;

	if (r->map)
		munmap(r->map, r->map_len);
	if (r->snap_fd >= 0)
		close(r->snap_fd);
	if (r->fd >= 0)
		close(r->fd);
	for (i = 0; i < NR_SECTIONS; i++)
		if (r->sec[i])
			fclose(r->sec[i]);
	free(r->exp);
	free(r->codes);
	free(r->where);
	free(r->was);
	free(r->list);
	free(r->stores);
}

static int alloc_replay(struct replay *r, bool files)
{
	size_t n = r->t->pages, longest = longest_stream(r->t);
	int i;

	if (longest > UINT_MAX)
		return fail("%s: a stream of %zu device accesses: at most %u",
			    r->t->path, longest, UINT_MAX);
	r->exp = calloc(n, sizeof(*r->exp));
	r->codes = calloc(n, 1);
	r->where = calloc(n, 1);
	r->was = calloc(n, 1);
	r->stores = calloc(n, sizeof(*r->stores));
	r->list = calloc(longest ? longest : 1, sizeof(*r->list));
	if (!r->exp || !r->codes || !r->where || !r->was || !r->stores || !r->list)
		return fail("out of memory");
	for (i = 0; files && i < NR_SECTIONS; i++) {
		r->sec[i] = tmpfile();
		if (!r->sec[i])
			return fail("tmpfile: %s", strerror(errno));
	}
	return 0;
}

/* The replay of a trace under a policy, up to the final check. */
static int replay_ops(struct replay *r)
{
	size_t i;

	r->step = (unsigned long)-1;	/* the state before the trace: 0 */
	if (read_stats(r, &r->st0))
		return -1;
	r->st_step = r->st0;
	if (end_step(r))
		return -1;
	for (i = 0; i < r->t->nops; i++)
		if (run_op(r, &r->t->ops[i]))
			return -1;
	return read_stats(r, &r->st_end);
}

/* -------------------------------------------------------------- output */

struct row {
	unsigned long long faults, batches, to_dev, to_sys, cpu_faults;
	unsigned long long remote, thrash, copy_batches;
	double link_mib, model_ms;
	struct hmmsim_stats d;	/* every counter's change */
	bool valid;
};

static struct link lnk;
static unsigned int fault_latency_us;
static int name_width = 11;

static void make_row(const struct replay *r, struct row *w)
{
	struct hmmsim_stats *d = &w->d;
	double bytes;

	stats_delta(&r->st_end, &r->st0, d);
	w->valid = true;
	w->faults = r->tot.faults;
	w->batches = d->fault_batches;
	w->to_dev = d->to_device;
	w->to_sys = d->from_device;
	w->cpu_faults = d->cpu_faults;
	w->remote = d->remote_accesses;
	w->thrash = d->thrash_events;
	w->copy_batches = r->tot.copy_batches + w->cpu_faults;
	bytes = (double)(w->to_dev + w->to_sys) * PAGE_SZ +
		(double)w->remote * LINE_BYTES;
	w->link_mib = bytes / (1 << 20);
	w->model_ms = bytes / lnk.bandwidth * 1e3 +
		      (w->copy_batches * lnk.latency_us +
		       w->batches * fault_latency_us) / 1e3;
}

/* A rule of @narrow columns of 7 and @wide of 8, after the policy's. */
static void table_rule(int narrow, int wide)
{
	int i;

	for (i = 0; i < name_width; i++)
		putchar('=');
	for (i = 0; i < narrow + wide; i++)
		printf("  %s", i < narrow ? "=======" : "========");
	putchar('\n');
}

static void table_head(void)
{
	table_rule(7, 2);
	printf("%-*s  %7s  %7s  %7s  %7s  %7s  %7s  %7s  %8s  %8s\n",
	       name_width, "policy", "faults", "batches", "to dev", "to sys",
	       "CPU flt", "remote", "thrash", "link MiB", "model ms");
	table_rule(7, 2);
}

static void table_row(const char *name, const struct row *w, bool ok)
{
	printf("%-*s  %7llu  %7llu  %7llu  %7llu  %7llu  %7llu  %7llu  %8.2f  %8.2f%s\n",
	       name_width, name, w->faults, w->batches, w->to_dev, w->to_sys,
	       w->cpu_faults, w->remote, w->thrash, w->link_mib, w->model_ms,
	       ok ? "" : "  FAILED");
	fflush(stdout);
}

/* A file name for DIR/TRACE-POLICY.EXT: the policy's odd characters as _. */
static void out_path(char *path, size_t len, const char *dir,
		     const struct replay *r, const char *ext)
{
	char pol[sizeof(r->pol->name)];
	size_t i;

	for (i = 0; r->pol->name[i]; i++)
		pol[i] = isalnum((unsigned char)r->pol->name[i]) ||
			 r->pol->name[i] == '-' ? r->pol->name[i] : '_';
	pol[i] = '\0';
	snprintf(path, len, "%s%s%s-%s%s", dir ? dir : "", dir ? "/" : "",
		 r->t->name, pol, ext);
}

static const char *const section_heads[NR_SECTIONS] = {
	"residency after each step: STEP FIRST LAST WHERE (0 unmapped, 1 system, 2 this device, 3 another device)",
	"moved to the device during the step: STEP FIRST LAST",
	"moved back to system memory during the step: STEP FIRST LAST",
	"counters' changes in the step: STEP TO_DEVICE FROM_DEVICE REMOTE_ACCESSES DEVICE_FAULTS CPU_FAULTS FAULT_BATCHES THRASH_EVENTS",
};

/* The data file: the sections, two blank lines apart (gnuplot indexes). */
static int write_data(struct replay *r, const char *path)
{
	char line[256];
	FILE *f = fopen(path, "w");
	int i;

	if (!f)
		return fail("%s: %s", path, strerror(errno));
	fprintf(f, "# hmmsim-replay: %s under policy %s, on %s\n", r->t->path,
		r->pol->name, r->dev);
	for (i = 0; i < NR_SECTIONS; i++) {
		fprintf(f, "%s# index %d: %s\n", i ? "\n\n" : "", i, section_heads[i]);
		/* An empty index would make gnuplot warn: a point off the plot. */
		if (!ftell(r->sec[i]))
			fprintf(f, "-10 -10 -10 0 0 0 0 0\n");
		rewind(r->sec[i]);
		while (fgets(line, sizeof(line), r->sec[i]))
			fputs(line, f);
	}
	if (fclose(f))
		return fail("%s: %s", path, strerror(errno));
	return 0;
}

/*
 * The gnuplot script that draws the data file as an SVG: above, every
 * page's place after each step (x: step, y: page) with the moves marked
 * on the step's left edge; below, the pages moved each way and the remote
 * accesses, step by step, from the device's counters.
 */
static const char plot_script[] =
"# hmmsim-replay: draw with 'gnuplot %1$s.gp' (gnuplot 5.4), in this directory\n"
"set terminal svg size 960,720 dynamic font 'sans,12' background rgb 'white'\n"
"set output '%1$s.svg'\n"
"set termoption noenhanced\n"
"data = '%1$s.dat'\n"
"steps = %2$lu\n"
"pages = %3$lu\n"
"colour(w) = w == 2 ? 0x1f77b4 : w == 1 ? 0xd9d9d9 : w == 3 ? 0xff7f0e : 0xffffff\n"
"set multiplot title \"%4$s: policy %5$s\"\n"
"set lmargin at screen 0.10\n"
"set rmargin at screen 0.88\n"
"set tmargin at screen 0.88\n"
"set bmargin at screen 0.36\n"
"set xrange [-0.5:steps + 0.5]\n"
"set yrange [-0.5:pages - 0.5]\n"
"set format x ''\n"
"set ylabel 'page'\n"
"set key at screen 0.5, screen 0.935 center horizontal samplen 1.5\n"
"set style fill solid 1.0 noborder\n"
"plot data index 0 using 1:(($2 + $3) / 2.0):(0.51):(($3 - $2 + 1) / 2.0):(colour($4)) \\\n"
"	with boxxyerror lc rgb variable notitle, \\\n"
"     data index 1 using ($1 - 0.5):($2 - 0.5):(0):($3 - $2 + 1) \\\n"
"	with vectors nohead lw 3 lc rgb '#2ca02c' title 'moved to the device', \\\n"
"     data index 2 using ($1 - 0.5):($2 - 0.5):(0):($3 - $2 + 1) \\\n"
"	with vectors nohead lw 3 lc rgb '#d62728' title 'moved to system memory', \\\n"
"     keyentry with boxes fc rgb '#1f77b4' title 'on the device', \\\n"
"     keyentry with boxes fc rgb '#d9d9d9' title 'in system memory'\n"
"set tmargin at screen 0.32\n"
"set bmargin at screen 0.08\n"
"set format x '%%g'\n"
"set xlabel 'step (0: before the trace)'\n"
"set ylabel 'pages moved'\n"
"set yrange [*<-1:1<*]\n"
"set boxwidth 0.8\n"
"set key at screen 0.5, screen 0.34 center horizontal samplen 1.5\n"
"moved = \"data index 3 using 1:2 with boxes fc rgb '#2ca02c' title 'to the device', \\\n"
"	data index 3 using 1:(-$3) with boxes fc rgb '#d62728' title 'to system (down)'\"\n"
"if (%6$d) {\n"
"	set y2label 'remote accesses'\n"
"	set ytics nomirror\n"
"	set y2tics\n"
"	set y2range [0:*]\n"
"	plot @moved, data index 3 using 1:4 axes x1y2 \\\n"
"		with linespoints lc rgb 'black' pt 7 ps 0.4 title 'remote accesses'\n"
"} else {\n"
"	plot @moved\n"
"}\n"
"unset multiplot\n";

static int write_plot(struct replay *r, const char *path, const char *base)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return fail("%s: %s", path, strerror(errno));
	fprintf(f, plot_script, base, r->step, r->t->pages, r->t->name,
		r->pol->name, r->st_end.remote_accesses != r->st0.remote_accesses);
	if (fclose(f))
		return fail("%s: %s", path, strerror(errno));
	return 0;
}

/* gnuplot FILE.gp, in @dir. */
static int run_gnuplot(const char *dir, const char *gp)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return fail("fork: %s", strerror(errno));
	if (!pid) {
		if (chdir(dir))
			_exit(126);
		execlp("gnuplot", "gnuplot", gp, (char *)NULL);
		fprintf(stderr, "hmmsim-replay: gnuplot: %s (%s)\n",
			strerror(errno), "Debian: apt-get install gnuplot-nox");
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return fail("waitpid: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		return fail("gnuplot %s/%s failed", dir, gp);
	return 0;
}

/* The data file, its script and, with -g, the picture. */
static int write_files(struct replay *r, const char *dir, bool draw)
{
	char base[256], path[512];

	out_path(base, sizeof(base), NULL, r, "");
	out_path(path, sizeof(path), dir, r, ".dat");
	if (write_data(r, path))
		return -1;
	out_path(path, sizeof(path), dir, r, ".gp");
	if (write_plot(r, path, base))
		return -1;
	snprintf(path, sizeof(path), "%s.gp", base);
	return draw ? run_gnuplot(dir, path) : 0;
}

/* ------------------------------------------------------------------ main */

static const char *device = "/dev/hmmsim0";
static const char *out_dir;
static bool draw;

/* One trace under one policy: its row of the table; -1 if it failed. */
static int replay(const struct trace *t, const struct policy *pol,
		  struct hmmsim_info *info, struct row *w)
{
	struct replay r = { .t = t, .pol = pol, .dev = device, .fd = -1,
			    .snap_fd = -1 };
	int ret;

	memset(w, 0, sizeof(*w));
	ret = alloc_replay(&r, out_dir);
	if (!ret)
		ret = open_device(&r, info);
	if (!ret)
		ret = map_buffer(&r);
	if (!ret)
		ret = replay_ops(&r);
	if (!ret) {
		make_row(&r, w);
		verify(&r);
		if (out_dir && write_files(&r, out_dir, draw))
			r.errors++;
	}
	if (r.errors)
		fail("%s, policy %s: %lu wrong value%s read%s", t->path,
		     pol->name, r.errors, r.errors > 1 ? "s" : "",
		     r.errors > 10 ? " (shown: the first ten)" : "");
	free_replay(&r);
	if (ret)
		return -1;
	return r.errors ? 1 : 0;
}

static const char usage_text[] =
"usage: hmmsim-replay [-d DEVICE] [-p POLICY[,POLICY...]] [-b BYTES/S]\n"
"                     [-l MICROSECONDS] [-o DIR [-g]] [-n] [-v] TRACE...\n"
"\n"
"Replays each TRACE against DEVICE (/dev/hmmsim0) under each POLICY, on a\n"
"fresh buffer and a fresh file each time, checks every value read, and\n"
"prints a table per trace: a row per policy with the device's counters'\n"
"changes (device faults, fault batches, pages moved to the device and\n"
"back, CPU faults, remote accesses, thrashing events), the bytes over the\n"
"link and the time the link model gives them.\n"
"\n"
"  -p  policies, comma-separated (default: all): remote, first-touch,\n"
"      fixed, density, counters; each may take :KEY=VALUE changes of its\n"
"      struct hmmsim_policy: pages, density, threshold, window, thrash,\n"
"      thrash-window, pin (e.g. counters:threshold=2)\n"
"  -b  the link's bandwidth in bytes/s, K/M/G suffixes (default: the\n"
"      device's copy_bandwidth, or 16G if it has none)\n"
"  -l  the copy latency per batch in microseconds (default: the device's\n"
"      copy_latency_us, or 5 if it is 0)\n"
"  -o  write DIR/TRACE-POLICY.dat (residency after each step, moves, the\n"
"      counters per step) and DIR/TRACE-POLICY.gp, its gnuplot script\n"
"  -g  with -o: run gnuplot on each script, for DIR/TRACE-POLICY.svg\n"
"  -n  only read the traces and describe them (no device needed)\n"
"  -v  say what each access stream did\n"
"\n"
"A trace is text, a command a line, '#' to the end of a line a comment:\n"
"  pages N                         the buffer (first; at most 1048576)\n"
"  cpu load|store RANGE            the CPU reads (and increments) the\n"
"                                  first word of each page of RANGE\n"
"  dev load|store RANGE            the same, by the device; consecutive\n"
"                                  dev lines are one access stream\n"
"  advise RANGE [preferred=system|device|none] [accessed-by]\n"
"                [granularity=PAGES]   HMMSIM_IOCTL_ADVISE\n"
"  step                            end of a step: residency recorded\n"
"  repeat N ... end                the lines between, N times\n"
"RANGE is PAGE, FIRST-LAST or FIRST-LAST/STRIDE. See\n"
"Documentation/policy.rst.\n"
"\n"
"Exit status: 0 all good, 1 a replay failed or read a wrong value, 2 bad\n"
"usage or a bad trace.\n";

static void describe(const struct trace *t)
{
	size_t i, streams = 0;
	bool in = false;

	for (i = 0; i < t->nops; i++) {
		bool dev = t->ops[i].kind == OP_DEV_LOAD ||
			   t->ops[i].kind == OP_DEV_STORE;

		streams += dev && !in;
		in = dev;
	}
	printf("# %s (%s): %lu pages (%lu KiB), %lu steps, ", t->name, t->path,
	       t->pages, t->pages * PAGE_SZ >> 10, t->steps);
	printf("%lu device accesses in %zu streams (the longest %zu), ",
	       t->dev_accesses, streams, longest_stream(t));
	printf("%lu CPU accesses\n", t->cpu_accesses);
}

/* The device's description, for the header and the link model. */
static int probe_device(struct hmmsim_info *info)
{
	int fd = open(device, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return fail("%s: %s", device, strerror(errno));
	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	if (ioctl(fd, HMMSIM_IOCTL_INFO, info)) {
		close(fd);
		return fail("%s: HMMSIM_IOCTL_INFO: %s (not an hmmsim device?)",
			    device, strerror(errno));
	}
	close(fd);
	if (info->abi_version < 7)
		return fail("%s: hmmsim's ABI version is %u; the device policy needs 7",
			    device, info->abi_version);
	fault_latency_us = info->fault_latency_us;
	find_link(&lnk, info->id);
	return 0;
}

static void print_header(const struct trace *t, const struct hmmsim_info *info)
{
	describe(t);
	printf("# %s: %s memory, fault batch %u, fault latency %u us\n",
	       device, info->type == HMMSIM_MEM_COHERENT ? "coherent" : "private",
	       info->fault_batch, info->fault_latency_us);
	printf("# link model: %.2f GiB/s (%s), %llu us per copy batch (%s)\n",
	       lnk.bandwidth / (double)(1 << 30), lnk.bw_from, lnk.latency_us, lnk.lat_from);
}

/*
 * The second table: where the moves to the device came from, and the
 * counters behind the first's faults.
 */
static void detail_table(const struct policy *pols, const struct row *w,
			 int npols)
{
	const struct hmmsim_stats *d;
	int k;

	putchar('\n');
	table_rule(6, 0);
	printf("%-*s  %7s  %7s  %7s  %7s  %7s  %7s\n", name_width, "policy",
	       "fault", "prefet.", "counter", "dup flt", "pinned", "windows");
	table_rule(6, 0);
	for (k = 0; k < npols; k++) {
		if (!w[k].valid)
			continue;
		d = &w[k].d;
		printf("%-*s  %7llu  %7llu  %7llu  %7llu  %7llu  %7llu\n",
		       name_width, pols[k].name,
		       (unsigned long long)d->fault_migrations,
		       (unsigned long long)d->prefetch_migrations,
		       (unsigned long long)d->counter_migrations,
		       (unsigned long long)d->fault_duplicates,
		       (unsigned long long)d->thrash_remote,
		       (unsigned long long)d->device_faults);
	}
	table_rule(6, 0);
}

/* Every policy on one trace; the number that failed. */
static int run_trace(const struct trace *t, const struct policy *pols,
		     int npols, const struct hmmsim_info *info)
{
	struct row w[MAX_POLICIES];
	struct hmmsim_info i2;
	int k, ret, failed = 0;

	print_header(t, info);
	table_head();
	for (k = 0; k < npols; k++) {
		ret = replay(t, &pols[k], &i2, &w[k]);
		if (ret < 0)
			printf("%-*s  (failed: see the error above)\n",
			       name_width, pols[k].name);
		else
			table_row(pols[k].name, &w[k], !ret);
		failed += !!ret;
	}
	table_rule(7, 2);
	detail_table(pols, w, npols);
	return failed;
}

static int parse_args(int argc, char **argv, struct policy *pols, int *npols,
		      bool *dry)
{
	int c;

	while ((c = getopt(argc, argv, "d:p:b:l:o:gnvh")) != -1) {
		switch (c) {
		case 'd':
			device = optarg;
			break;
		case 'p':
			*npols = parse_policies(optarg, pols);
			if (*npols < 0)
				return -1;
			break;
		case 'b':
			if (parse_size(optarg, &lnk.bandwidth) || !lnk.bandwidth)
				return fail("-b %s: bytes/s, K/M/G suffixes",
					    optarg);
			lnk.bw_from = "-b";
			break;
		case 'l':
			if (parse_size(optarg, &lnk.latency_us))
				return fail("-l %s: a latency in microseconds", optarg);
			lnk.lat_from = "-l";
			break;
		case 'o':
			out_dir = optarg;
			break;
		case 'g':
			draw = true;
			break;
		case 'n':
			*dry = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			exit(0);
		default:
			fputs(usage_text, stderr);
			return -1;
		}
	}
	if (optind == argc)
		return fail("no trace given (hmmsim-replay -h for help)");
	if (draw && !out_dir)
		return fail("-g draws the files of -o DIR: give -o");
	return 0;
}

int main(int argc, char **argv)
{
	static struct policy pols[MAX_POLICIES];
	struct hmmsim_info info;
	struct trace *traces;
	int i, k, ntraces, npols = 0, failed = 0;
	bool dry = false;

	if (parse_args(argc, argv, pols, &npols, &dry))
		return 2;
	if (!npols)
		npols = parse_policies("all", pols);
	for (k = 0; k < npols; k++)
		if ((int)strlen(pols[k].name) > name_width)
			name_width = strlen(pols[k].name);
	ntraces = argc - optind;
	traces = calloc(ntraces, sizeof(*traces));
	if (!traces)
		return fail("out of memory"), 2;
	/* Every trace is read before anything runs: a bad one stops all. */
	for (i = 0; i < ntraces; i++)
		if (load_trace(&traces[i], argv[optind + i]))
			return 2;
	if (dry) {
		for (i = 0; i < ntraces; i++)
			describe(&traces[i]);
		return 0;
	}
	if (probe_device(&info))
		return 1;
	for (i = 0; i < ntraces; i++) {
		if (i)
			putchar('\n');
		failed += run_trace(&traces[i], pols, npols, &info);
	}
	return failed ? 1 : 0;
}
