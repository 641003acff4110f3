// SPDX-License-Identifier: GPL-2.0
/*
 * hmmsim policy tests: the device policy layer (HMMSIM_ABI_VERSION 7):
 * access streams (HMMSIM_IOCTL_ACCESS), the file's policy
 * (HMMSIM_IOCTL_SET_POLICY, HMMSIM_IOCTL_GET_POLICY), advice
 * (HMMSIM_IOCTL_ADVISE, HMMSIM_URING_ADVISE) and the counters of struct
 * hmmsim_stats version 4.
 *
 * The model the tests hold the driver to: a stream walks its accesses in
 * order; an access to a page the device page table does not map is a
 * device fault, which takes an entry of the fault buffer (info.fault_batch
 * entries; a fault on a page already in the buffer is a duplicate, counted
 * in fault_duplicates and not in device_faults) and is deferred. When the
 * buffer is full, or the stream has nothing more to issue, the batch is
 * serviced (fault_batches): the policy decides for each faulting page
 * whether it migrates (fault_migrations, and prefetch_migrations for the
 * pages its block adds) or is mapped remotely; every faulting page is then
 * mapped, and the deferred accesses are replayed, in order. Every access
 * served from memory that is not the device's own, replays included, is a
 * remote access. model_stream() computes faults, duplicates and batches of
 * a stream from that model, for any batch size.
 *
 * Each test reads the device's counters before and after and checks every
 * policy counter's delta exactly (ASSERT_COUNTS(): a counter not named
 * must not move), the outputs of the stream, the SNAPSHOT codes of the
 * pages, and the data: a load adds the page's first u64 to the checksum, a
 * store adds one to it.
 *
 * Fixtures:
 *   policy  the first device of each kind, one variant per kind: private
 *           (/dev/hmmsim0 with the default layout) and coherent
 *           (/dev/hmmsim2), with a file of its own per test (a new file
 *           has the default policy). Tests whose scenario needs the CPU to
 *           fault pages back (thrashing) run their private half only.
 *   batch   a private device made through configfs
 *           (/sys/kernel/config/hmmsim/hmmsim_policy-PID) with the
 *           variant's fault_batch: 1, 7, 16 and 4096.
 *
 * Every buffer is MADV_NOHUGEPAGE but for the THP case of the density
 * prefetch, which SKIPs when no THP materialises. No test sleeps or times
 * anything: the policy counts time in the file's device accesses.
 *
 * The devices are /dev/$HMMSIM_DEVNAME<N> (default hmmsim), N from 0.
 */
#include <liburing.h>

#include "kselftest_harness.h"
#include "hmmsim_test.h"

#define CFS_PREFIX		"hmmsim_policy-"
#define CFS_CAPACITY_STR	"64M"

/* The fault batch hmmsim has when nothing sets it. */
#define DEFAULT_FAULT_BATCH	256

/* ASSERT_COUNTS() and ASSERT_ACCESS() of a value the test does not check. */
#define ANY		(~0ULL)

/* An entry of a LIST stream. */
#define STORE		HMMSIM_ACCESS_STORE

/* The largest struct a test hands the extension commands. */
#define STRUCT_MAX	4096

/* Even after a test that timed out (SIGKILLed, so no teardown). */
static void __attribute__((destructor)) remove_leftovers_at_exit(void)
{
	cfs_remove_leftovers(CFS_PREFIX);
}

/* ------------------------------------------------------------- values */

/* The first u64 of page @i of a value buffer, before any store. */
static __u64 value_of(unsigned long i)
{
	return 0x1000000ULL + 0x101ULL * i;
}

/* u64 @w of page @i of @buf, as the CPU reads it (the compiler cannot elide it) */
static __u64 get_word(const char *buf, unsigned long i, unsigned int w)
{
	return __atomic_load_n((const __u64 *)(buf + i * page_size) + w,
			       __ATOMIC_RELAXED);
}

static void set_word(char *buf, unsigned long i, unsigned int w, __u64 v)
{
	__atomic_store_n((__u64 *)(buf + i * page_size) + w, v,
			 __ATOMIC_RELAXED);
}

/* Pages [0, @npages) of @buf: first u64 value_of(i), the rest zero. */
static void fill_values(char *buf, unsigned long npages)
{
	unsigned long i;

	memset(buf, 0, npages * page_size);
	for (i = 0; i < npages; i++)
		set_word(buf, i, 0, value_of(i));
}

/*
 * @npages of small pages from a 2 MiB boundary (prefetch blocks and
 * granularity are aligned in the address space), filled by fill_values();
 * or MAP_FAILED.
 */
static char *value_buffer(unsigned long npages)
{
	char *buf = map_aligned(npages * page_size, MADV_NOHUGEPAGE);

	if (buf != MAP_FAILED)
		fill_values(buf, npages);
	return buf;
}

static __u64 value_sum(unsigned long from, unsigned long n)
{
	__u64 s = 0;
	unsigned long i;

	for (i = from; i < from + n; i++)
		s += value_of(i);
	return s;
}

/* VALUE_BUFFER() - value_buffer() that must succeed */
#define VALUE_BUFFER(npages) value_buffer_ok(_metadata, npages)

static char *value_buffer_ok(struct __test_metadata *_metadata,
			     unsigned long npages)
{
	char *buf = value_buffer(npages);

	ASSERT_NE(MAP_FAILED, buf);
	return buf;
}

/* ASSERT_VALUES() - the first u64 of each page is value_of(i) + @inc[i] */
#define ASSERT_VALUES(buf, npages, inc) \
	assert_values(_metadata, __LINE__, buf, npages, inc)

static void assert_values(struct __test_metadata *_metadata, int line,
			  char *buf, unsigned long npages, const __u64 *inc)
{
	unsigned long i;

	for (i = 0; i < npages; i++)
		ASSERT_EQ(value_of(i) + (inc ? inc[i] : 0), get_word(buf, i, 0))
			TH_LOG("line %d: first u64 of page %lu", line, i);
}

static unsigned int xorshift(unsigned int *state)
{
	unsigned int x = *state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	return x;
}

/* -------------------------------------------------------------- model */

/* What model_stream() expects of a stream. */
struct model {
	__u64 faults;		/* device faults, duplicates not included */
	__u64 duplicates;
	__u64 batches;
};

/*
 * The fault buffer of @batch entries given the accesses to pages @pages
 * (LIST entries: STORE is ignored), @count of them, when every faulting
 * page is mapped at the batch that services it and stays mapped: @mapped
 * (one bool per page of the range) says which pages the device maps
 * before, and is updated.
 */
static struct model model_stream(const __u64 *pages, __u64 count,
				 unsigned int batch, bool *mapped,
				 unsigned long npages)
{
	bool *pending = calloc(npages, sizeof(bool));
	__u64 *fbuf = calloc(batch, sizeof(__u64));
	struct model m = { 0 };
	unsigned int used = 0, j;
	__u64 k;

	assert(pending && fbuf);
	for (k = 0; k <= count; k++) {
		if (k < count) {
			__u64 p = pages[k] & ~STORE;

			assert(p < npages);
			if (mapped[p])
				continue;
			if (pending[p]) {
				m.duplicates++;
			} else {
				m.faults++;
				pending[p] = true;
			}
			fbuf[used++] = p;
			if (used < batch)
				continue;
		}
		if (!used)
			continue;
		for (j = 0; j < used; j++) {
			mapped[fbuf[j]] = true;
			pending[fbuf[j]] = false;
		}
		used = 0;
		m.batches++;
	}
	free(pending);
	free(fbuf);
	return m;
}

/* The pages of a SEQUENTIAL stream of @count accesses over @npages. */
static __u64 *seq_list(unsigned long npages, __u64 count)
{
	__u64 *l = malloc(count * sizeof(*l));
	__u64 k;

	assert(l);
	for (k = 0; k < count; k++)
		l[k] = k % npages;
	return l;
}

/* model_stream() of a SEQUENTIAL stream over @npages fresh pages. */
static struct model model_sweep(unsigned long npages, __u64 count,
				unsigned int batch)
{
	bool *mapped = calloc(npages, sizeof(bool));
	__u64 *l = seq_list(npages, count);
	struct model m;

	assert(mapped);
	m = model_stream(l, count, batch, mapped, npages);
	free(mapped);
	free(l);
	return m;
}

/* ---------------------------------------------------------- assertions */

/* The counters of struct hmmsim_stats version 4 a test checks. */
struct counts {
	__u64 to_device;
	__u64 cpu_faults;
	__u64 device_faults;
	__u64 fault_batches;
	__u64 fault_duplicates;
	__u64 fault_migrations;
	__u64 prefetch_migrations;
	__u64 remote_accesses;
	__u64 counter_migrations;
	__u64 thrash_events;
	__u64 thrash_remote;
	__u64 thp_to_device;
};

/*
 * ASSERT_COUNTS() - the counters went from @st0 to @st by exactly what the
 *	designated initialisers say (.device_faults = 3, ...): those not
 *	named by 0, those named ANY by anything
 */
#define ASSERT_COUNTS(st0, st, ...) \
	assert_counts(_metadata, __LINE__, st0, st, \
		      &(const struct counts){ __VA_ARGS__ })

static void assert_counts(struct __test_metadata *_metadata, int line,
			  const struct hmmsim_stats *st0,
			  const struct hmmsim_stats *st,
			  const struct counts *want)
{
	const struct {
		const char *name;
		__u64 before, after, delta;
	} c[] = {
		{ "to_device", st0->to_device, st->to_device,
		  want->to_device },
		{ "cpu_faults", st0->cpu_faults, st->cpu_faults,
		  want->cpu_faults },
		{ "fault_batches", st0->fault_batches, st->fault_batches,
		  want->fault_batches },
		{ "fault_duplicates", st0->fault_duplicates,
		  st->fault_duplicates, want->fault_duplicates },
		{ "fault_migrations", st0->fault_migrations,
		  st->fault_migrations, want->fault_migrations },
		{ "prefetch_migrations", st0->prefetch_migrations,
		  st->prefetch_migrations, want->prefetch_migrations },
		{ "remote_accesses", st0->remote_accesses,
		  st->remote_accesses, want->remote_accesses },
		{ "counter_migrations", st0->counter_migrations,
		  st->counter_migrations, want->counter_migrations },
		{ "thrash_events", st0->thrash_events, st->thrash_events,
		  want->thrash_events },
		{ "thrash_remote", st0->thrash_remote, st->thrash_remote,
		  want->thrash_remote },
		{ "thp_to_device", st0->thp_to_device, st->thp_to_device,
		  want->thp_to_device },
		/* Last: the others say more of what went wrong. */
		{ "device_faults", st0->device_faults, st->device_faults,
		  want->device_faults },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(c); i++) {
		if (c[i].delta == ANY)
			continue;
		ASSERT_EQ(c[i].delta, c[i].after - c[i].before)
			TH_LOG("line %d: %s went from %llu to %llu", line,
			       c[i].name, (unsigned long long)c[i].before,
			       (unsigned long long)c[i].after);
	}
}

/*
 * ASSERT_ACCESS() - a stream's outputs: every access done, and @faults,
 *	@batches, @remote and @migrated (ANY: not checked)
 */
#define ASSERT_ACCESS(a, faults, batches, remote, migrated) \
	assert_access(_metadata, __LINE__, a, faults, batches, remote, migrated)

static void assert_access(struct __test_metadata *_metadata, int line,
			  const struct hmmsim_access *a, __u64 faults,
			  __u64 batches, __u64 remote, __u64 migrated)
{
	const struct {
		const char *name;
		__u64 got, want;
	} c[] = {
		{ "done", a->done, a->count },
		{ "faults", a->faults, faults },
		{ "batches", a->batches, batches },
		{ "remote", a->remote, remote },
		{ "migrated", a->migrated, migrated },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(c); i++) {
		if (c[i].want == ANY)
			continue;
		ASSERT_EQ(c[i].want, c[i].got)
			TH_LOG("line %d: the stream's %s", line, c[i].name);
	}
	for (i = 0; i < ARRAY_SIZE(a->reserved); i++)
		ASSERT_EQ(0, a->reserved[i])
			TH_LOG("line %d: reserved[%u] written", line, i);
}

/* ACCESS_OK() - HMMSIM_IOCTL_ACCESS of @a that must succeed */
#define ACCESS_OK(fd, a) access_ok(_metadata, __LINE__, fd, a)

static void access_ok(struct __test_metadata *_metadata, int line, int fd,
		      struct hmmsim_access *a)
{
	int ret = access_run(fd, a);

	ASSERT_EQ(0, ret)
		TH_LOG("line %d: HMMSIM_IOCTL_ACCESS: %s", line,
		       strerror(-ret));
}

/* SWEEP() - a SEQUENTIAL stream of @count loads over [@buf, +@npages) */
#define SWEEP(fd, buf, npages, count, a) \
	stream_ok(_metadata, __LINE__, fd, buf, npages, \
		  HMMSIM_PATTERN_SEQUENTIAL, count, NULL, a)

/* LIST() - a LIST stream of the @n entries @list over [@buf, +@npages) */
#define LIST(fd, buf, npages, list, n, a) \
	stream_ok(_metadata, __LINE__, fd, buf, npages, HMMSIM_PATTERN_LIST, \
		  n, list, a)

static void stream_ok(struct __test_metadata *_metadata, int line, int fd,
		      char *buf, unsigned long npages, __u32 pattern,
		      __u64 count, const __u64 *list, struct hmmsim_access *a)
{
	access_args(a, buf, npages, pattern, count);
	a->ptr = (uintptr_t)list;
	access_ok(_metadata, line, fd, a);
}

/* SET_POLICY() - policy_set_migrate() that must succeed */
#define SET_POLICY(fd, migrate, prefetch) \
	ASSERT_EQ(0, policy_set_migrate(fd, migrate, prefetch))

/* ADVISE() - advise_range() that must succeed */
#define ADVISE(fd, addr, npages, preferred, accessed_by, granularity) do { \
	int __ret = advise_range(fd, addr, npages, preferred, accessed_by, \
				 granularity); \
	ASSERT_EQ(0, __ret) TH_LOG("ADVISE: %s", strerror(-__ret)); \
} while (0)

/* ASSERT_SNAPSHOT() - SNAPSHOT codes [@from, @to) are @code, the others system */
#define ASSERT_SNAPSHOT(fd, buf, npages, from, to, code) \
	assert_snapshot(_metadata, __LINE__, fd, buf, npages, from, to, code)

static void assert_snapshot(struct __test_metadata *_metadata, int line,
			    int fd, char *buf, unsigned long npages,
			    unsigned long from, unsigned long to,
			    unsigned char code)
{
	unsigned char *m = malloc(npages);

	ASSERT_NE(NULL, m);
	hmmsim_snapshot(_metadata, line, fd, buf, m, npages);
	hmmsim_assert_prot(_metadata, line, m, 0, from, SYS_WRITE, -1);
	hmmsim_assert_prot(_metadata, line, m, from, to, code, -1);
	hmmsim_assert_prot(_metadata, line, m, to, npages, SYS_WRITE, -1);
	free(m);
}

/* ------------------------------------------------------------ fixture */

/* The device a policy test uses. */
struct pdev {
	int fd;			/* a file of its own, default policy */
	unsigned int id;
	bool private;		/* its memory is private (else coherent) */
	bool cap;		/* HMMSIM_CAP_THP */
	unsigned int batch;	/* info.fault_batch */
	unsigned char local;	/* SNAPSHOT code of a page in its memory */
};

FIXTURE(policy)
{
	struct pdev d;
};

FIXTURE_VARIANT(policy)
{
	__u32 type;		/* enum hmmsim_mem_type */
};

FIXTURE_VARIANT_ADD(policy, private)
{
	.type = HMMSIM_MEM_PRIVATE,
};

FIXTURE_VARIANT_ADD(policy, coherent)
{
	.type = HMMSIM_MEM_COHERENT,
};

FIXTURE_SETUP(policy)
{
	struct pdev *d = &self->d;
	struct hmmsim_info inf;

	d->fd = open_dev_of_type(variant->type, &d->id, &inf);
	d->private = variant->type == HMMSIM_MEM_PRIVATE;
	if (d->fd == -ENODEV)
		SETUP_SKIP("no device with %s memory",
			   d->private ? "private" : "coherent");
	ASSERT_LE(0, d->fd)
		TH_LOG("device 0, or an INFO: %s (is hmmsim loaded?)",
		       strerror(-d->fd));
	ASSERT_EQ(HMMSIM_ABI_VERSION, inf.abi_version);
	d->cap = inf.caps & HMMSIM_CAP_THP;
	d->batch = inf.fault_batch;
	ASSERT_LE(1, d->batch);
	ASSERT_GE(4096, d->batch);
	d->local = d->private ? PRIV_LOCAL : COH_LOCAL;
}

FIXTURE_TEARDOWN(policy)
{
	if (self->d.fd >= 0)
		close(self->d.fd);
}

/*
 * BATCH_BELOW() - whether the device's fault batch is under @n, which the
 *	test needs: it then SKIPs (and returns)
 */
#define BATCH_BELOW(n) batch_below(_metadata, &self->d, n)

static bool batch_below(struct __test_metadata *_metadata,
			const struct pdev *d, unsigned int n)
{
	if (d->batch >= n)
		return false;
	SKIP(return true, "the device's fault_batch is %u, under %u",
	     d->batch, n);
}

/* ----------------------------------------------- info, stats, policy */

/* The module parameter, or the default when it cannot be read. */
static long module_param_or(const char *name, long dflt)
{
	char path[128];
	long v;

	snprintf(path, sizeof(path), MODULE_PARAMS "/%s", name);
	return read_long(path, &v) ? dflt : v;
}

/*
 * INFO reports ABI version 7 and the fault batch and latency the module
 * parameters give the module's devices (256 and 0 by default).
 */
TEST_F(policy, info_reports_the_fault_batch_and_latency)
{
	struct hmmsim_info inf;

	ASSERT_EQ(0, info(self->d.fd, &inf));
	ASSERT_EQ(7, inf.abi_version);
	ASSERT_EQ(module_param_or("fault_batch", DEFAULT_FAULT_BATCH),
		  inf.fault_batch);
	ASSERT_EQ(module_param_or("fault_latency_us", 0),
		  inf.fault_latency_us);
	ASSERT_EQ(0, inf.reserved[0]);
	ASSERT_EQ(0, inf.reserved[1]);
}

/*
 * Stats version 4: a caller of that size gets the new counters, and
 * nothing past them; a caller of version 3's size gets nothing of them.
 */
TEST_F(policy, stats_version4_is_written_and_no_further)
{
	const __u32 sizes[] = { HMMSIM_STATS_SIZE_VER3, HMMSIM_STATS_SIZE_VER4 };
	unsigned char *raw = malloc(STRUCT_MAX);
	struct hmmsim_stats *st = (struct hmmsim_stats *)raw;
	unsigned int i;

	ASSERT_NE(NULL, raw);
	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		memset(raw, UNTOUCHED, STRUCT_MAX);
		memset(raw, 0, sizes[i]);
		st->size = sizes[i];
		ASSERT_EQ(0, xioctl(self->d.fd, HMMSIM_IOCTL_STATS, raw));
		ASSERT_EQ(sizes[i], st->size);
		ASSERT_BYTES(raw + sizes[i], STRUCT_MAX - sizes[i], UNTOUCHED);
	}
	ASSERT_EQ(HMMSIM_STATS_SIZE_VER4, sizeof(*st));
	free(raw);
}

/* A new file has REMOTE and the documented defaults. */
TEST_F(policy, new_file_has_the_default_policy)
{
	struct hmmsim_policy p;
	unsigned int i;

	memset(&p, 0xff, sizeof(p));
	p.size = sizeof(p);
	p.flags = 0;
	p.pad = 0;
	memset(p.reserved, 0, sizeof(p.reserved));
	ASSERT_EQ(0, xioctl(self->d.fd, HMMSIM_IOCTL_GET_POLICY, &p));
	ASSERT_EQ(sizeof(p), p.size);
	ASSERT_EQ(0, p.flags);
	ASSERT_EQ(HMMSIM_POLICY_REMOTE, p.migrate);
	ASSERT_EQ(HMMSIM_PREFETCH_NONE, p.prefetch);
	ASSERT_EQ(16, p.prefetch_pages);
	ASSERT_EQ(50, p.density_pct);
	ASSERT_EQ(8, p.counter_threshold);
	ASSERT_EQ(0, p.counter_window);
	ASSERT_EQ(3, p.thrash_threshold);
	ASSERT_EQ(4096, p.thrash_window);
	ASSERT_EQ(4096, p.thrash_pin);
	ASSERT_EQ(0, p.pad);
	for (i = 0; i < ARRAY_SIZE(p.reserved); i++)
		ASSERT_EQ(0, p.reserved[i]);
}

/* SET_POLICY changes every field, for that file only. */
TEST_F(policy, set_policy_reads_back_for_that_file_only)
{
	struct hmmsim_policy p, q;
	int other = open_dev(self->d.id);

	ASSERT_LE(0, other);
	ASSERT_EQ(0, policy_get(self->d.fd, &p));
	p.migrate = HMMSIM_POLICY_COUNTERS;
	p.prefetch = HMMSIM_PREFETCH_FIXED;
	p.prefetch_pages = 512;
	p.density_pct = 100;
	p.counter_threshold = 1;
	p.counter_window = 77;
	p.thrash_threshold = 0;
	p.thrash_window = 1;
	p.thrash_pin = 1;
	ASSERT_EQ(0, policy_set(self->d.fd, &p));
	ASSERT_EQ(0, policy_get(self->d.fd, &q));
	ASSERT_EQ(0, memcmp(&p, &q, sizeof(p)));

	/* The other edges of the ranges. */
	p.migrate = HMMSIM_POLICY_FIRST_TOUCH;
	p.prefetch = HMMSIM_PREFETCH_DENSITY;
	p.prefetch_pages = 1;
	p.density_pct = 1;
	p.counter_threshold = ~0U;
	p.counter_window = 0;
	p.thrash_threshold = HMMSIM_MAX_THRASH_THRESHOLD;
	p.thrash_window = ~0U;
	p.thrash_pin = ~0U;
	ASSERT_EQ(0, policy_set(self->d.fd, &p));
	ASSERT_EQ(0, policy_get(self->d.fd, &q));
	ASSERT_EQ(0, memcmp(&p, &q, sizeof(p)));

	/* The other file of the same device, and a new one, keep REMOTE. */
	ASSERT_EQ(0, policy_get(other, &q));
	ASSERT_EQ(HMMSIM_POLICY_REMOTE, q.migrate);
	ASSERT_EQ(16, q.prefetch_pages);
	close(other);
	other = open_dev(self->d.id);
	ASSERT_LE(0, other);
	ASSERT_EQ(0, policy_get(other, &q));
	ASSERT_EQ(HMMSIM_POLICY_REMOTE, q.migrate);
	ASSERT_EQ(8, q.counter_threshold);
	close(other);
}

/* ------------------------------------------------------ REMOTE policy */

/*
 * Under the default policy a stream maps every page remotely and moves
 * none: every access is remote, the first sweep takes one fault per page
 * in ceil(N / fault_batch) batches, the second none.
 */
TEST_F(policy, remote_policy_maps_remotely_and_moves_nothing)
{
	const unsigned long npages = 300, count = 1000;
	struct model m = model_sweep(npages, npages, self->d.batch);
	struct hmmsim_stats st0, st;
	struct hmmsim_access a;
	__u64 stores = 0;
	unsigned long i;
	char *buf;

	buf = VALUE_BUFFER(npages);
	ASSERT_EQ(npages, m.faults);
	ASSERT_EQ((npages + self->d.batch - 1) / self->d.batch, m.batches);

	STATS(self->d.fd, &st0);
	SWEEP(self->d.fd, buf, npages, npages, &a);
	ASSERT_ACCESS(&a, npages, m.batches, npages, 0);
	ASSERT_EQ(value_sum(0, npages), a.checksum);
	STATS(self->d.fd, &st);
	ASSERT_COUNTS(&st0, &st, .device_faults = npages,
		      .fault_batches = m.batches, .remote_accesses = npages);
	ASSERT_SNAPSHOT(self->d.fd, buf, npages, 0, 0, 0);

	/* Mapped now: no fault, every access remote again. */
	st0 = st;
	SWEEP(self->d.fd, buf, npages, npages, &a);
	ASSERT_ACCESS(&a, 0, 0, npages, 0);
	ASSERT_EQ(value_sum(0, npages), a.checksum);
	STATS(self->d.fd, &st);
	ASSERT_COUNTS(&st0, &st, .remote_accesses = npages);

	/* Random loads and stores: still nothing moves. */
	st0 = st;
	access_args(&a, buf, npages, HMMSIM_PATTERN_RANDOM, count);
	a.store_pct = 50;
	a.seed = 42;
	ACCESS_OK(self->d.fd, &a);
	ASSERT_ACCESS(&a, ANY, ANY, count, 0);
	STATS(self->d.fd, &st);
	ASSERT_COUNTS(&st0, &st, .device_faults = ANY, .fault_batches = ANY,
		      .fault_duplicates = ANY, .remote_accesses = count);
	ASSERT_EQ(a.faults, st.device_faults - st0.device_faults);
	ASSERT_EQ(a.batches, st.fault_batches - st0.fault_batches);
	ASSERT_SNAPSHOT(self->d.fd, buf, npages, 0, 0, 0);
	for (i = 0; i < npages; i++) {
		ASSERT_LE(value_of(i), get_word(buf, i, 0));
		stores += get_word(buf, i, 0) - value_of(i);
		ASSERT_EQ(0, get_word(buf, i, 1));
	}
	ASSERT_LT(0, stores);
	ASSERT_GT(count, stores);
}

/* ------------------------------------------------- FIRST_TOUCH policy */

/*
 * FIRST_TOUCH, no prefetch: a sweep of N fresh pages takes N faults in
 * ceil(N / fault_batch) batches and migrates every page; a second sweep
 * finds them all mapped, on the device.
 */
TEST_F(policy, first_touch_sweep_migrates_every_page)
{
	const unsigned long npages = self->d.batch <= 1024 ?
				     2 * self->d.batch + 44 : 600;
	const __u64 batches = (npages + self->d.batch - 1) / self->d.batch;
	struct hmmsim_stats st0, st;
	struct hmmsim_access a;
	char *buf;

	buf = VALUE_BUFFER(npages);
	SET_POLICY(self->d.fd, HMMSIM_POLICY_FIRST_TOUCH, HMMSIM_PREFETCH_NONE);

	STATS(self->d.fd, &st0);
	SWEEP(self->d.fd, buf, npages, npages, &a);
	ASSERT_ACCESS(&a, npages, batches, 0, npages);
	ASSERT_EQ(value_sum(0, npages), a.checksum);
	STATS(self->d.fd, &st);
	ASSERT_COUNTS(&st0, &st, .to_device = npages, .device_faults = npages,
		      .fault_batches = batches, .fault_migrations = npages);
	ASSERT_SNAPSHOT(self->d.fd, buf, npages, 0, npages, self->d.local);

	st0 = st;
	SWEEP(self->d.fd, buf, npages, npages, &a);
	ASSERT_ACCESS(&a, 0, 0, 0, 0);
	ASSERT_EQ(value_sum(0, npages), a.checksum);
	STATS(self->d.fd, &st);
	ASSERT_COUNTS(&st0, &st);
	ASSERT_VALUES(buf, npages, NULL);
}

/*
 * Stores and loads to pages waiting in the fault buffer: each later fault
 * on a page is a duplicate, the page faults once, and the accesses are
 * replayed in order (the final loads see every store). The same stream
 * under FIRST_TOUCH (all local) and under REMOTE (all remote).
 */
TEST_F(policy, deferred_accesses_replay_in_order)
{
	const unsigned long npages = 64;
	__u64 list[256], inc[64];
	__u64 n = 0, sum = 0, k;
	unsigned int pass;
	int files[2];

	if (BATCH_BELOW(200))
		return;
	for (k = 0; k < npages; k++)
		inc[k] = k % 3 + 1;
	for (pass = 0; pass < 3; pass++)
		for (k = 0; k < npages; k++)
			if (k % 3 + 1 > pass)
				list[n++] = k | STORE;
	for (k = 0; k < npages; k++) {
		list[n++] = k;
		sum += value_of(k) + inc[k];
	}
	ASSERT_EQ(64 + 42 + 21 + 64, n);

	files[0] = self->d.fd;
	files[1] = open_dev(self->d.id);
	ASSERT_LE(0, files[1]);
	SET_POLICY(files[0], HMMSIM_POLICY_FIRST_TOUCH, HMMSIM_PREFETCH_NONE);
	for (pass = 0; pass < 2; pass++) {
		bool first_touch = pass == 0;
		struct hmmsim_stats st0, st;
		struct hmmsim_access a;
		char *buf;

		buf = VALUE_BUFFER(npages);
		STATS(self->d.fd, &st0);
		LIST(files[pass], buf, npages, list, n, &a);
		ASSERT_ACCESS(&a, npages, 1, first_touch ? 0 : n,
			      first_touch ? npages : 0);
		ASSERT_EQ(sum, a.checksum);
		STATS(self->d.fd, &st);
		ASSERT_COUNTS(&st0, &st, .device_faults = npages,
			      .fault_batches = 1,
			      .fault_duplicates = n - npages,
			      .to_device = first_touch ? npages : 0,
			      .fault_migrations = first_touch ? npages : 0,
			      .remote_accesses = first_touch ? 0 : n);
		ASSERT_SNAPSHOT(self->d.fd, buf, npages, 0,
				first_touch ? npages : 0, self->d.local);
		ASSERT_VALUES(buf, npages, inc);
	}
	close(files[1]);
}

/* ------------------------------------------------------------ prefetch */

/*
 * FIXED prefetch of 16 pages: a faulting page brings its aligned block of
 * 16, once for two faulting pages of one block; the pages it adds are
 * prefetch migrations.
 */
TEST_F(policy, fixed_prefetch_moves_the_aligned_block)
{
	const unsigned long npages = 64;
	const __u64 list[] = { 5, 6, 40 };
	struct hmmsim_stats st0, st;
	struct hmmsim_access a;
	unsigned char m[64];
	char *buf;

	if (BATCH_BELOW(3))
		return;
	buf = VALUE_BUFFER(npages);
	SET_POLICY(self->d.fd, HMMSIM_POLICY_FIRST_TOUCH,
		   HMMSIM_PREFETCH_FIXED);

	STATS(self->d.fd, &st0);
	LIST(self->d.fd, buf, npages, list, 3, &a);
	ASSERT_ACCESS(&a, 3, 1, 0, 32);
	ASSERT_EQ(value_of(5) + value_of(6) + value_of(40), a.checksum);
	STATS(self->d.fd, &st);
	ASSERT_COUNTS(&st0, &st, .to_device = 32, .device_faults = 3,
		      .fault_batches = 1, .fault_migrations = 3,
		      .prefetch_migrations = 29);
	SNAPSHOT(self->d.fd, buf, m, npages);
	ASSERT_PROT(m, 0, 16, self->d.local);
	ASSERT_PROT(m, 16, 32, SYS_WRITE);
	ASSERT_PROT(m, 32, 48, self->d.local);
	ASSERT_PROT(m, 48, 64, SYS_WRITE);
	ASSERT_VALUES(buf, npages, NULL);
}

/*
 * A block that moves leaves out the pages whose own advice keeps them
 * home (accessed_by, preferred location system): FIXED 16 around page 5,
 * with 8..9 accessed_by and 10..11 preferring system, moves 12 pages.
 */
TEST_F(policy, moved_block_leaves_out_pages_advised_home)
{
	const unsigned long npages = 64;
	const __u64 list[] = { 5 };
	struct hmmsim_stats st0, st;
	struct hmmsim_access a;
	unsigned char m[64];
	char *buf = VALUE_BUFFER(npages);

	ADVISE(self->d.fd, buf + 8 * page_size, 2, HMMSIM_LOCATION_NONE, 1, 0);
	ADVISE(self->d.fd, buf + 10 * page_size, 2, HMMSIM_LOCATION_SYSTEM, 0,
	       0);
	SET_POLICY(self->d.fd, HMMSIM_POLICY_FIRST_TOUCH,
		   HMMSIM_PREFETCH_FIXED);

	STATS(self->d.fd, &st0);
	LIST(self->d.fd, buf, npages, list, 1, &a);
	ASSERT_ACCESS(&a, 1, 1, 0, 12);
	STATS(self->d.fd, &st);
	ASSERT_COUNTS(&st0, &st, .to_device = 12, .device_faults = 1,
		      .fault_batches = 1, .fault_migrations = 1,
		      .prefetch_migrations = 11);
	SNAPSHOT(self->d.fd, buf, m, npages);
	ASSERT_PROT(m, 0, 8, self->d.local);
	ASSERT_PROT(m, 8, 12, SYS_WRITE);
	ASSERT_PROT(m, 12, 16, self->d.local);
	ASSERT_PROT(m, 16, 64, SYS_WRITE);
	ASSERT_VALUES(buf, npages, NULL);
}

/*
 * DENSITY prefetch (50%), fault batch 256: a sweep over 8 MiB takes 256
 * faults in each 2 MiB block, half of it, so that each batch moves its
 * whole block: 4 batches, 1024 fault migrations and 1024 prefetched.
 */
static void density_sweep(struct __test_metadata *_metadata,
			  const struct pdev *d, bool thp)
{
	const size_t len = 4 * SZ_2M;
	const unsigned long npages = len / page_size;
	char *buf = map_aligned(len, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	struct hmmsim_stats st0, st;
	struct hmm_dmirror_cmd cmd;
	struct hmmsim_policy p;
	struct hmmsim_access a;
	unsigned char *m = malloc(npages);
	__u64 thps = 0;
	long kb;

	ASSERT_NE(MAP_FAILED, buf);
	ASSERT_NE(NULL, m);
	if (d->batch != DEFAULT_FAULT_BATCH)
		SKIP(return, "the device's fault_batch is %u, not %u",
		     d->batch, DEFAULT_FAULT_BATCH);
	fill_values(buf, npages);
	if (thp) {
		kb = anon_huge_kb_range(buf, len);
		if (kb != (long)(len >> 10))
			SKIP(return, "no THPs materialised (AnonHugePages %ld kB, THP %s)",
			     kb, thp_enabled() ? "enabled" : "never");
		/* Each 2 MiB block moves whole where the device can. */
		thps = d->cap ? 4 : 0;
	}
	ASSERT_EQ(0, policy_get(d->fd, &p));
	p.migrate = HMMSIM_POLICY_FIRST_TOUCH;
	p.prefetch = HMMSIM_PREFETCH_DENSITY;
	p.density_pct = 50;
	ASSERT_EQ(0, policy_set(d->fd, &p));

	STATS(d->fd, &st0);
	SWEEP(d->fd, buf, npages, npages, &a);
	ASSERT_ACCESS(&a, npages / 2, 4, 0, npages);
	ASSERT_EQ(value_sum(0, npages), a.checksum);
	STATS(d->fd, &st);
	ASSERT_COUNTS(&st0, &st, .to_device = npages,
		      .device_faults = npages / 2, .fault_batches = 4,
		      .fault_migrations = npages / 2,
		      .prefetch_migrations = npages / 2,
		      .thp_to_device = thps);
	memset(m, NO_CODE, npages);
	ASSERT_EQ(0, dmirror(d->fd, HMM_DMIRROR_SNAPSHOT, buf, m, npages,
			     &cmd));
	ASSERT_PROT(m, 0, npages,
		    d->local | (thps ? HMM_DMIRROR_PROT_PMD : 0));
	ASSERT_VALUES(buf, npages, NULL);
	free(m);
}

TEST_F(policy, density_prefetch_sweep_moves_whole_2m_blocks)
{
	density_sweep(_metadata, &self->d, false);
}

TEST_F(policy, density_prefetch_sweep_of_thps_moves_them_whole)
{
	density_sweep(_metadata, &self->d, true);
}

/*
 * DENSITY 50%: 255 faulting pages of a 2 MiB block are under half of it,
 * but nearly all of its first 256 pages: that block of 256 moves, one page
 * prefetched.
 */
TEST_F(policy, density_prefetch_moves_the_largest_dense_block)
{
	const unsigned long npages = SZ_2M / page_size, n = 255;
	char *buf = map_aligned(SZ_2M, MADV_NOHUGEPAGE);
	struct hmmsim_stats st0, st;
	struct hmmsim_access a;
	__u64 list[255];
	unsigned long i;

	ASSERT_NE(MAP_FAILED, buf);
	if (BATCH_BELOW(n))
		return;
	fill_values(buf, npages);
	for (i = 0; i < n; i++)
		list[i] = i;
	SET_POLICY(self->d.fd, HMMSIM_POLICY_FIRST_TOUCH,
		   HMMSIM_PREFETCH_DENSITY);

	STATS(self->d.fd, &st0);
	LIST(self->d.fd, buf, npages, list, n, &a);
	ASSERT_ACCESS(&a, n, 1, 0, 256);
	ASSERT_EQ(value_sum(0, n), a.checksum);
	STATS(self->d.fd, &st);
	ASSERT_COUNTS(&st0, &st, .to_device = 256, .device_faults = n,
		      .fault_batches = 1, .fault_migrations = n,
		      .prefetch_migrations = 1);
	ASSERT_SNAPSHOT(self->d.fd, buf, npages, 0, 256, self->d.local);
	ASSERT_VALUES(buf, npages, NULL);
}

/* ------------------------------------------------------------ COUNTERS */

/* The file's policy: COUNTERS, @threshold within @window. */
#define SET_COUNTERS(fd, threshold, window) \
	set_counters(_metadata, fd, threshold, window)

static void set_counters(struct __test_metadata *_metadata, int fd,
			 __u32 threshold, __u32 window)
{
	struct hmmsim_policy p;

	ASSERT_EQ(0, policy_get(fd, &p));
	p.migrate = HMMSIM_POLICY_COUNTERS;
	p.counter_threshold = threshold;
	p.counter_window = window;
	ASSERT_EQ(0, policy_set(fd, &p));
}

/*
 * COUNTERS, threshold 3: pages 0..63 accessed three times, 64..127 twice,
 * all remotely: exactly 0..63 migrate, at the end of the stream. A second
 * stream touching each page once more moves 64..127.
 */
TEST_F(policy, counters_migrate_pages_at_the_threshold)
{
	const unsigned long npages = 128;
	__u64 list[320], n = 0, k;
	bool mapped[128] = { false };
	struct hmmsim_stats st0, st;
	struct hmmsim_access a;
	struct model m;
	char *buf;

	if (BATCH_BELOW(DEFAULT_FAULT_BATCH))
		return;
	for (k = 0; k < 128; k++)
		list[n++] = k;
	for (k = 0; k < 128; k++)
		list[n++] = k;
	for (k = 0; k < 64; k++)
		list[n++] = k;
	m = model_stream(list, n, self->d.batch, mapped, npages);
	buf = VALUE_BUFFER(npages);
	SET_COUNTERS(self->d.fd, 3, 0);

	STATS(self->d.fd, &st0);
	LIST(self->d.fd, buf, npages, list, n, &a);
	ASSERT_ACCESS(&a, npages, m.batches, n, 64);
	ASSERT_EQ(2 * value_sum(0, 128) + value_sum(0, 64), a.checksum);
	STATS(self->d.fd, &st);
	ASSERT_COUNTS(&st0, &st, .to_device = 64, .device_faults = npages,
		      .fault_batches = m.batches,
		      .fault_duplicates = m.duplicates,
		      .remote_accesses = n, .counter_migrations = 64);
	ASSERT_SNAPSHOT(self->d.fd, buf, npages, 0, 64, self->d.local);

	/* Once more each: 0..63 are local, 64..127 reach 3 and move. */
	st0 = st;
	LIST(self->d.fd, buf, npages, list, 128, &a);
	ASSERT_ACCESS(&a, ANY, ANY, 64, 64);
	ASSERT_EQ(value_sum(0, 128), a.checksum);
	STATS(self->d.fd, &st);
	ASSERT_COUNTS(&st0, &st, .to_device = 64, .device_faults = ANY,
		      .fault_batches = ANY, .remote_accesses = 64,
		      .counter_migrations = 64);
	ASSERT_EQ(a.faults, st.device_faults - st0.device_faults);
	ASSERT_EQ(a.batches, st.fault_batches - st0.fault_batches);
	ASSERT_SNAPSHOT(self->d.fd, buf, npages, 0, npages, self->d.local);
	ASSERT_VALUES(buf, npages, NULL);
}

/*
 * COUNTERS, threshold 1: the replay of each fault is a remote access that
 * queues the page; every page of a sweep migrates, none by a fault.
 */
TEST_F(policy, counters_threshold_one_moves_every_page_touched)
{
	const unsigned long npages = 300;
	struct model m = model_sweep(npages, npages, self->d.batch);
	struct hmmsim_stats st0, st;
	struct hmmsim_access a;
	char *buf;

	buf = VALUE_BUFFER(npages);
	SET_COUNTERS(self->d.fd, 1, 0);
	STATS(self->d.fd, &st0);
	SWEEP(self->d.fd, buf, npages, npages, &a);
	ASSERT_ACCESS(&a, npages, m.batches, npages, npages);
	ASSERT_EQ(value_sum(0, npages), a.checksum);
	STATS(self->d.fd, &st);
	ASSERT_COUNTS(&st0, &st, .to_device = npages, .device_faults = npages,
		      .fault_batches = m.batches, .remote_accesses = npages,
		      .counter_migrations = npages);
	ASSERT_SNAPSHOT(self->d.fd, buf, npages, 0, npages, self->d.local);
	ASSERT_VALUES(buf, npages, NULL);
}

/*
 * COUNTERS, threshold 2 within a window of 100 accesses: a page accessed
 * again 300 accesses later starts counting afresh and stays; accessed once
 * more at once, it moves. With no window (0) the count never restarts.
 */
TEST_F(policy, counter_window_restarts_the_count)
{
	const unsigned long fillers = 300, npages = fillers + 1;
	const __u64 p0[] = { 0 };
	const unsigned int windows[] = { 100, 0 };
	unsigned int w;

	for (w = 0; w < ARRAY_SIZE(windows); w++) {
		int fd = open_dev(self->d.id);
		struct hmmsim_stats st0, st;
		struct hmmsim_access a;
		char *buf;

		ASSERT_LE(0, fd);
		buf = VALUE_BUFFER(npages);
		SET_COUNTERS(fd, 2, windows[w]);
		STATS(fd, &st0);
		LIST(fd, buf, npages, p0, 1, &a);
		ASSERT_ACCESS(&a, 1, 1, 1, 0);
		/* 300 other pages, once each. */
		SWEEP(fd, buf + page_size, fillers, fillers, &a);
		ASSERT_ACCESS(&a, fillers, ANY, fillers, 0);
		LIST(fd, buf, npages, p0, 1, &a);
		ASSERT_ACCESS(&a, 0, 0, 1, windows[w] ? 0 : 1);
		STATS(fd, &st);
		ASSERT_COUNTS(&st0, &st, .to_device = windows[w] ? 0 : 1,
			      .device_faults = npages,
			      .fault_batches = ANY, .remote_accesses = npages + 1,
			      .counter_migrations = windows[w] ? 0 : 1);
		if (windows[w]) {
			/* Counting again: the next access is the second. */
			st0 = st;
			LIST(fd, buf, npages, p0, 1, &a);
			ASSERT_ACCESS(&a, 0, 0, 1, 1);
			STATS(fd, &st);
			ASSERT_COUNTS(&st0, &st, .to_device = 1,
				      .remote_accesses = 1,
				      .counter_migrations = 1);
		}
		ASSERT_SNAPSHOT(fd, buf, npages, 0, 1, self->d.local);
		ASSERT_VALUES(buf, npages, NULL);
		close(fd);
	}
}

/* -------------------------------------------------------------- advice */

/*
 * accessed_by: the device maps the range remotely and never moves it on
 * its faults, under FIRST_TOUCH as under COUNTERS; it wins over a
 * preferred location on the device.
 */
TEST_F(policy, accessed_by_maps_remotely_under_every_policy)
{
	const unsigned long npages = 64;
	struct model m = model_sweep(npages, npages, self->d.batch);
	struct hmmsim_stats st0, st;
	struct hmmsim_access a;
	char *buf, *buf2;

	buf = VALUE_BUFFER(npages);
	buf2 = VALUE_BUFFER(npages);
	ADVISE(self->d.fd, buf, npages, HMMSIM_LOCATION_NONE, 1, 0);
	ADVISE(self->d.fd, buf2, npages, HMMSIM_LOCATION_DEVICE, 1, 16);
	SET_POLICY(self->d.fd, HMMSIM_POLICY_FIRST_TOUCH, HMMSIM_PREFETCH_FIXED);

	STATS(self->d.fd, &st0);
	SWEEP(self->d.fd, buf, npages, npages, &a);
	ASSERT_ACCESS(&a, npages, m.batches, npages, 0);
	SWEEP(self->d.fd, buf2, npages, npages, &a);
	ASSERT_ACCESS(&a, npages, m.batches, npages, 0);
	ASSERT_EQ(value_sum(0, npages), a.checksum);
	STATS(self->d.fd, &st);
	ASSERT_COUNTS(&st0, &st, .device_faults = 2 * npages,
		      .fault_batches = 2 * m.batches,
		      .remote_accesses = 2 * npages);

	/* COUNTERS at 1 would move each page after its first access. */
	SET_COUNTERS(self->d.fd, 1, 0);
	st0 = st;
	SWEEP(self->d.fd, buf, npages, npages, &a);
	ASSERT_ACCESS(&a, 0, 0, npages, 0);
	SWEEP(self->d.fd, buf, npages, npages, &a);
	ASSERT_ACCESS(&a, 0, 0, npages, 0);
	STATS(self->d.fd, &st);
	ASSERT_COUNTS(&st0, &st, .remote_accesses = 2 * npages);
	ASSERT_SNAPSHOT(self->d.fd, buf, npages, 0, 0, 0);
	ASSERT_SNAPSHOT(self->d.fd, buf2, npages, 0, 0, 0);
	ASSERT_VALUES(buf, npages, NULL);
}

/* Preferred location system: the pages stay home under every policy. */
TEST_F(policy, preferred_system_keeps_pages_home)
{
	const unsigned long npages = 64;
	struct model m = model_sweep(npages, npages, self->d.batch);
	struct hmmsim_stats st0, st;
	struct hmmsim_access a;
	char *buf;

	buf = VALUE_BUFFER(npages);
	ADVISE(self->d.fd, buf, npages, HMMSIM_LOCATION_SYSTEM, 0, 0);
	SET_POLICY(self->d.fd, HMMSIM_POLICY_FIRST_TOUCH,
		   HMMSIM_PREFETCH_DENSITY);

	STATS(self->d.fd, &st0);
	SWEEP(self->d.fd, buf, npages, npages, &a);
	ASSERT_ACCESS(&a, npages, m.batches, npages, 0);
	SET_COUNTERS(self->d.fd, 1, 0);
	SWEEP(self->d.fd, buf, npages, npages, &a);
	ASSERT_ACCESS(&a, 0, 0, npages, 0);
	ASSERT_EQ(value_sum(0, npages), a.checksum);
	STATS(self->d.fd, &st);
	ASSERT_COUNTS(&st0, &st, .device_faults = npages,
		      .fault_batches = m.batches,
		      .remote_accesses = 2 * npages);
	ASSERT_SNAPSHOT(self->d.fd, buf, npages, 0, 0, 0);
	ASSERT_VALUES(buf, npages, NULL);
}

/*
 * Preferred location device: a fault migrates the page even under REMOTE
 * (and COUNTERS), the pages without the advice are mapped remotely.
 */
TEST_F(policy, preferred_device_migrates_under_remote_policy)
{
	const unsigned long npages = 64, half = 32;
	struct model m = model_sweep(npages, npages, self->d.batch);
	struct hmmsim_stats st0, st;
	struct hmmsim_access a;
	char *buf, *buf2;

	buf = VALUE_BUFFER(npages);
	buf2 = VALUE_BUFFER(npages);
	ADVISE(self->d.fd, buf, half, HMMSIM_LOCATION_DEVICE, 0, 0);
	ADVISE(self->d.fd, buf2, half, HMMSIM_LOCATION_DEVICE, 0, 0);

	STATS(self->d.fd, &st0);
	SWEEP(self->d.fd, buf, npages, npages, &a);
	ASSERT_ACCESS(&a, npages, m.batches, npages - half, half);
	ASSERT_EQ(value_sum(0, npages), a.checksum);
	STATS(self->d.fd, &st);
	ASSERT_COUNTS(&st0, &st, .to_device = half, .device_faults = npages,
		      .fault_batches = m.batches, .fault_migrations = half,
		      .remote_accesses = npages - half);
	ASSERT_SNAPSHOT(self->d.fd, buf, npages, 0, half, self->d.local);

	/* COUNTERS with a threshold never reached: the same. */
	SET_COUNTERS(self->d.fd, 1000, 0);
	st0 = st;
	SWEEP(self->d.fd, buf2, npages, npages, &a);
	ASSERT_ACCESS(&a, npages, m.batches, npages - half, half);
	STATS(self->d.fd, &st);
	ASSERT_COUNTS(&st0, &st, .to_device = half, .device_faults = npages,
		      .fault_batches = m.batches, .fault_migrations = half,
		      .remote_accesses = npages - half);
	ASSERT_SNAPSHOT(self->d.fd, buf2, npages, 0, half, self->d.local);
	ASSERT_VALUES(buf, npages, NULL);
	ASSERT_VALUES(buf2, npages, NULL);
}

/*
 * Granularity G: the aligned block of G pages around a faulting page moves
 * with it, instead of the prefetch policy's block (FIXED 64 here), and with
 * a preferred location device under REMOTE too.
 */
TEST_F(policy, granularity_moves_the_aligned_block)
{
	const unsigned long npages = 64;
	const __u64 l1[] = { 5, 6, 40 }, l2[] = { 5 }, l3[] = { 9 };
	struct hmmsim_stats st0, st;
	struct hmmsim_policy p;
	struct hmmsim_access a;
	unsigned char m[64];
	char *b1, *b2, *b3;

	if (BATCH_BELOW(3))
		return;
	b1 = VALUE_BUFFER(npages);
	b2 = VALUE_BUFFER(npages);
	b3 = VALUE_BUFFER(npages);
	ADVISE(self->d.fd, b1, npages, HMMSIM_LOCATION_NONE, 0, 16);
	ADVISE(self->d.fd, b2, npages, HMMSIM_LOCATION_NONE, 0, 4);
	ADVISE(self->d.fd, b3, npages, HMMSIM_LOCATION_DEVICE, 0, 8);
	ASSERT_EQ(0, policy_get(self->d.fd, &p));
	p.migrate = HMMSIM_POLICY_FIRST_TOUCH;
	p.prefetch = HMMSIM_PREFETCH_FIXED;
	p.prefetch_pages = 64;
	ASSERT_EQ(0, policy_set(self->d.fd, &p));

	/* Blocks of 16: 0..15 for pages 5 and 6, 32..47 for 40. */
	STATS(self->d.fd, &st0);
	LIST(self->d.fd, b1, npages, l1, 3, &a);
	ASSERT_ACCESS(&a, 3, 1, 0, 32);
	STATS(self->d.fd, &st);
	ASSERT_COUNTS(&st0, &st, .to_device = 32, .device_faults = 3,
		      .fault_batches = 1, .fault_migrations = 3,
		      .prefetch_migrations = 29);
	SNAPSHOT(self->d.fd, b1, m, npages);
	ASSERT_PROT(m, 0, 16, self->d.local);
	ASSERT_PROT(m, 16, 32, SYS_WRITE);
	ASSERT_PROT(m, 32, 48, self->d.local);
	ASSERT_PROT(m, 48, 64, SYS_WRITE);

	/* Blocks of 4, not the policy's 64. */
	st0 = st;
	LIST(self->d.fd, b2, npages, l2, 1, &a);
	ASSERT_ACCESS(&a, 1, 1, 0, 4);
	STATS(self->d.fd, &st);
	ASSERT_COUNTS(&st0, &st, .to_device = 4, .device_faults = 1,
		      .fault_batches = 1, .fault_migrations = 1,
		      .prefetch_migrations = 3);
	ASSERT_SNAPSHOT(self->d.fd, b2, npages, 4, 8, self->d.local);

	/* Preferred device, blocks of 8, under REMOTE. */
	SET_POLICY(self->d.fd, HMMSIM_POLICY_REMOTE, HMMSIM_PREFETCH_NONE);
	st0 = st;
	LIST(self->d.fd, b3, npages, l3, 1, &a);
	ASSERT_ACCESS(&a, 1, 1, 0, 8);
	ASSERT_EQ(value_of(9), a.checksum);
	STATS(self->d.fd, &st);
	ASSERT_COUNTS(&st0, &st, .to_device = 8, .device_faults = 1,
		      .fault_batches = 1, .fault_migrations = 1,
		      .prefetch_migrations = 7);
	ASSERT_SNAPSHOT(self->d.fd, b3, npages, 8, 16, self->d.local);
	ASSERT_VALUES(b1, npages, NULL);
	ASSERT_VALUES(b2, npages, NULL);
	ASSERT_VALUES(b3, npages, NULL);
}

/*
 * New advice replaces the old page by page; all three fields zero remove
 * it: of 64 pages advised accessed_by, 16..31 then cleared and 40..47
 * given preferred system, FIRST_TOUCH moves exactly 16..31.
 */
TEST_F(policy, advice_is_replaced_and_removed_page_by_page)
{
	const unsigned long npages = 64;
	struct model m = model_sweep(npages, npages, self->d.batch);
	struct hmmsim_stats st0, st;
	struct hmmsim_access a;
	char *buf;

	buf = VALUE_BUFFER(npages);
	ADVISE(self->d.fd, buf, npages, HMMSIM_LOCATION_NONE, 1, 0);
	ADVISE(self->d.fd, buf + 16 * page_size, 16, HMMSIM_LOCATION_NONE, 0,
	       0);
	ADVISE(self->d.fd, buf + 40 * page_size, 8, HMMSIM_LOCATION_SYSTEM, 0,
	       0);
	SET_POLICY(self->d.fd, HMMSIM_POLICY_FIRST_TOUCH, HMMSIM_PREFETCH_NONE);

	STATS(self->d.fd, &st0);
	SWEEP(self->d.fd, buf, npages, npages, &a);
	ASSERT_ACCESS(&a, npages, m.batches, npages - 16, 16);
	STATS(self->d.fd, &st);
	ASSERT_COUNTS(&st0, &st, .to_device = 16, .device_faults = npages,
		      .fault_batches = m.batches, .fault_migrations = 16,
		      .remote_accesses = npages - 16);
	ASSERT_SNAPSHOT(self->d.fd, buf, npages, 16, 32, self->d.local);
	ASSERT_VALUES(buf, npages, NULL);
}

/*
 * Advice stays through mprotect(), madvise() and migrations to the device
 * and back.
 */
TEST_F(policy, advice_stays_through_mprotect_madvise_and_migration)
{
	const unsigned long npages = 32;
	struct hmmsim_stats st0, st;
	struct hmmsim_access a;
	char *buf, *ptr = malloc(npages * page_size);

	ASSERT_NE(NULL, ptr);
	buf = VALUE_BUFFER(npages);
	ADVISE(self->d.fd, buf, npages, HMMSIM_LOCATION_NONE, 1, 0);
	ASSERT_EQ(0, mprotect(buf, npages * page_size, PROT_READ));
	ASSERT_EQ(0, mprotect(buf, npages * page_size,
			      PROT_READ | PROT_WRITE));
	ASSERT_EQ(0, madvise(buf, 8 * page_size, MADV_RANDOM));
	MIGRATE_OK(self->d.fd, buf, ptr, npages);
	DMIRROR_OK(self->d.fd, HMM_DMIRROR_MIGRATE_TO_SYS, buf, ptr, npages,
		   NULL);
	SET_POLICY(self->d.fd, HMMSIM_POLICY_FIRST_TOUCH, HMMSIM_PREFETCH_NONE);

	STATS(self->d.fd, &st0);
	SWEEP(self->d.fd, buf, npages, npages, &a);
	ASSERT_ACCESS(&a, ANY, ANY, npages, 0);
	ASSERT_EQ(value_sum(0, npages), a.checksum);
	STATS(self->d.fd, &st);
	ASSERT_COUNTS(&st0, &st, .device_faults = ANY, .fault_batches = ANY,
		      .remote_accesses = npages);
	ASSERT_EQ(a.faults, st.device_faults - st0.device_faults);
	ASSERT_SNAPSHOT(self->d.fd, buf, npages, 0, 0, 0);
	ASSERT_VALUES(buf, npages, NULL);
}

/* The FIRST_TOUCH sweep of fresh pages that have no advice: all move. */
#define SWEEP_MOVES_ALL(fd, buf, npages) \
	sweep_moves_all(_metadata, __LINE__, &self->d, fd, buf, npages)

static void sweep_moves_all(struct __test_metadata *_metadata, int line,
			    const struct pdev *d, int fd, char *buf,
			    unsigned long npages)
{
	struct model m = model_sweep(npages, npages, d->batch);
	struct hmmsim_stats st0, st;
	struct hmmsim_access a;

	STATS(fd, &st0);
	SWEEP(fd, buf, npages, npages, &a);
	assert_access(_metadata, line, &a, npages, m.batches, 0, npages);
	ASSERT_EQ(value_sum(0, npages), a.checksum)
		TH_LOG("line %d", line);
	STATS(fd, &st);
	assert_counts(_metadata, line, &st0, &st, &(const struct counts){
		      .to_device = npages, .device_faults = npages,
		      .fault_batches = m.batches, .fault_migrations = npages });
	assert_snapshot(_metadata, line, fd, buf, npages, 0, npages, d->local);
}

/*
 * munmap() of pages inside advised ranges drops their advice only: the
 * pages left on either side of each hole keep theirs, for two holes in
 * two ranges as for one; MADV_DONTNEED keeps it too.
 */
TEST_F(policy, advice_stays_on_what_partial_munmaps_leave)
{
	const unsigned long npages = 128;
	/* The pieces the holes at 8 and 72 leave, and their advice. */
	const struct {
		unsigned long from, n;
		bool advised;
	} pieces[] = {
		{ 0, 8, true }, { 9, 23, true }, { 32, 32, false },
		{ 64, 8, true }, { 73, 23, true }, { 96, 32, false },
	};
	struct hmmsim_stats st0, st;
	struct hmmsim_access a;
	__u64 remote = 0, moved = 0;
	unsigned long i;
	char *buf = VALUE_BUFFER(npages);

	ADVISE(self->d.fd, buf, 32, HMMSIM_LOCATION_NONE, 1, 0);
	ADVISE(self->d.fd, buf + 64 * page_size, 32, HMMSIM_LOCATION_NONE, 1,
	       0);
	ASSERT_EQ(0, munmap(buf + 8 * page_size, page_size));
	ASSERT_EQ(0, munmap(buf + 72 * page_size, page_size));
	ASSERT_EQ(0, madvise(buf + 20 * page_size, 4 * page_size,
			     MADV_DONTNEED));
	for (i = 20; i < 24; i++)
		set_word(buf, i, 0, value_of(i));
	SET_POLICY(self->d.fd, HMMSIM_POLICY_FIRST_TOUCH, HMMSIM_PREFETCH_NONE);

	STATS(self->d.fd, &st0);
	for (i = 0; i < ARRAY_SIZE(pieces); i++) {
		unsigned long n = pieces[i].n;

		SWEEP(self->d.fd, buf + pieces[i].from * page_size, n, n, &a);
		ASSERT_EQ(value_sum(pieces[i].from, n), a.checksum);
		ASSERT_EQ(pieces[i].advised ? n : 0, a.remote)
			TH_LOG("pages %lu..%lu", pieces[i].from,
			       pieces[i].from + n - 1);
		ASSERT_EQ(pieces[i].advised ? 0 : n, a.migrated)
			TH_LOG("pages %lu..%lu", pieces[i].from,
			       pieces[i].from + n - 1);
		if (pieces[i].advised)
			remote += n;
		else
			moved += n;
	}
	STATS(self->d.fd, &st);
	ASSERT_COUNTS(&st0, &st, .to_device = moved,
		      .device_faults = remote + moved,
		      .fault_batches = ARRAY_SIZE(pieces),
		      .fault_migrations = moved, .remote_accesses = remote);
}

/*
 * Twenty single-page holes punched in one advised range, one after the
 * other: every page still mapped keeps its advice, however many pieces
 * the range falls into.
 */
TEST_F(policy, advice_stays_on_every_piece_of_a_range_with_many_holes)
{
	const unsigned long npages = 64, holes = 20, tail = 2 * holes;
	struct hmmsim_stats st0, st;
	struct hmmsim_access a;
	__u64 remote = 0, lost = 0;
	unsigned long k;
	char *buf = VALUE_BUFFER(npages);

	ADVISE(self->d.fd, buf, npages, HMMSIM_LOCATION_SYSTEM, 1, 0);
	for (k = 0; k < holes; k++)
		ASSERT_EQ(0, munmap(buf + (2 * k + 1) * page_size, page_size));
	SET_POLICY(self->d.fd, HMMSIM_POLICY_FIRST_TOUCH, HMMSIM_PREFETCH_NONE);

	STATS(self->d.fd, &st0);
	for (k = 0; k <= holes; k++) {
		unsigned long from = 2 * k, n = k < holes ? 1 : npages - tail;

		SWEEP(self->d.fd, buf + from * page_size, n, n, &a);
		ASSERT_EQ(value_sum(from, n), a.checksum);
		if (a.migrated)
			ksft_print_msg("pages %lu..%lu lost their advice\n",
				       from, from + n - 1);
		lost += a.migrated;
		remote += n;
	}
	ASSERT_EQ(0, lost);
	STATS(self->d.fd, &st);
	ASSERT_COUNTS(&st0, &st, .device_faults = remote,
		      .fault_batches = holes + 1, .remote_accesses = remote);
}

/* munmap() drops the advice: a new mapping at the same address has none. */
TEST_F(policy, advice_is_dropped_on_munmap)
{
	const unsigned long npages = 32;
	const size_t len = npages * page_size;
	char *buf, *again;

	buf = VALUE_BUFFER(npages);
	ADVISE(self->d.fd, buf, npages, HMMSIM_LOCATION_SYSTEM, 1, 0);
	ASSERT_EQ(0, munmap(buf, len));
	again = mmap(buf, len, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	ASSERT_EQ(buf, again);
	ASSERT_EQ(0, madvise(buf, len, MADV_NOHUGEPAGE));
	fill_values(buf, npages);
	SET_POLICY(self->d.fd, HMMSIM_POLICY_FIRST_TOUCH, HMMSIM_PREFETCH_NONE);
	SWEEP_MOVES_ALL(self->d.fd, buf, npages);
	ASSERT_VALUES(buf, npages, NULL);
}

/*
 * mremap() drops the advice of the old addresses, and the new ones get
 * none: both, mapped again, move on first touch.
 */
TEST_F(policy, advice_is_dropped_on_mremap)
{
	const unsigned long npages = 32;
	const size_t len = npages * page_size;
	char *buf, *dst, *moved, *again;

	buf = VALUE_BUFFER(npages);
	ADVISE(self->d.fd, buf, npages, HMMSIM_LOCATION_NONE, 1, 0);
	dst = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, dst);
	moved = mremap(buf, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	ASSERT_EQ(dst, moved);
	SET_POLICY(self->d.fd, HMMSIM_POLICY_FIRST_TOUCH, HMMSIM_PREFETCH_NONE);
	SWEEP_MOVES_ALL(self->d.fd, moved, npages);
	ASSERT_VALUES(moved, npages, NULL);

	again = mmap(buf, len, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	ASSERT_EQ(buf, again);
	ASSERT_EQ(0, madvise(buf, len, MADV_NOHUGEPAGE));
	fill_values(buf, npages);
	SWEEP_MOVES_ALL(self->d.fd, buf, npages);
	ASSERT_VALUES(buf, npages, NULL);
}

/* Advice belongs to the file: another file of the device ignores it. */
TEST_F(policy, advice_belongs_to_the_file)
{
	const unsigned long npages = 32;
	int other = open_dev(self->d.id);
	char *buf;

	ASSERT_LE(0, other);
	buf = VALUE_BUFFER(npages);
	ADVISE(self->d.fd, buf, npages, HMMSIM_LOCATION_SYSTEM, 1, 0);
	SET_POLICY(other, HMMSIM_POLICY_FIRST_TOUCH, HMMSIM_PREFETCH_NONE);
	SWEEP_MOVES_ALL(other, buf, npages);
	ASSERT_VALUES(buf, npages, NULL);
	close(other);
}

/* The advice of io_uring's HMMSIM_URING_ADVISE, packed in its flags. */
TEST_F(policy, uring_advise_is_the_ioctls_advice)
{
	const unsigned long npages = 64;
	const __u64 l1[] = { 40 }, l2[] = { 3 };
	struct hmmsim_uring_cmd c;
	struct hmmsim_stats st0, st;
	struct hmmsim_access a;
	struct io_uring ring;
	char *buf, *buf2;
	__u64 pages;

	if (BATCH_BELOW(32))
		return;
	ASSERT_EQ(0, io_uring_queue_init(8, &ring, IORING_SETUP_SQE128 |
					 IORING_SETUP_CQE32));
	buf = VALUE_BUFFER(npages);
	buf2 = VALUE_BUFFER(npages);

	/* accessed_by on 0..31, granularity 16 (log2 4) on 32..63. */
	c = ucmd(buf, 32 * page_size);
	c.flags = HMMSIM_URING_ADVISE_PREFERRED(HMMSIM_LOCATION_NONE) |
		  HMMSIM_URING_ADVISE_ACCESSED_BY;
	ASSERT_EQ(0, run(&ring, self->d.fd, HMMSIM_URING_ADVISE, &c, &pages));
	c = ucmd(buf + 32 * page_size, 32 * page_size);
	c.flags = HMMSIM_URING_ADVISE_GRANULARITY(4);
	ASSERT_EQ(0, run(&ring, self->d.fd, HMMSIM_URING_ADVISE, &c, &pages));
	/* Preferred device on buf2's page 3 only. */
	c = ucmd(buf2 + 3 * page_size, page_size);
	c.flags = HMMSIM_URING_ADVISE_PREFERRED(HMMSIM_LOCATION_DEVICE);
	ASSERT_EQ(0, run(&ring, self->d.fd, HMMSIM_URING_ADVISE, &c, &pages));

	/* Bad packings and fields. */
	c = ucmd(buf, page_size);
	c.flags = HMMSIM_URING_ADVISE_PREFERRED(3);
	ASSERT_EQ(-EINVAL, run(&ring, self->d.fd, HMMSIM_URING_ADVISE, &c,
			       &pages));
	c.flags = 1U << 3;
	ASSERT_EQ(-EINVAL, run(&ring, self->d.fd, HMMSIM_URING_ADVISE, &c,
			       &pages));
	c.flags = 1U << 8;
	ASSERT_EQ(-EINVAL, run(&ring, self->d.fd, HMMSIM_URING_ADVISE, &c,
			       &pages));
	c.flags = HMMSIM_URING_ADVISE_GRANULARITY(10);	/* 1024 pages */
	ASSERT_EQ(-EINVAL, run(&ring, self->d.fd, HMMSIM_URING_ADVISE, &c,
			       &pages));
	c.flags = HMMSIM_URING_ADVISE_ACCESSED_BY;
	c.ptr = (uintptr_t)buf;
	ASSERT_EQ(-EINVAL, run(&ring, self->d.fd, HMMSIM_URING_ADVISE, &c,
			       &pages));

	/* Under REMOTE, page 3 of buf2 moves alone. */
	STATS(self->d.fd, &st0);
	LIST(self->d.fd, buf2, npages, l2, 1, &a);
	ASSERT_ACCESS(&a, 1, 1, 0, 1);
	STATS(self->d.fd, &st);
	ASSERT_COUNTS(&st0, &st, .to_device = 1, .device_faults = 1,
		      .fault_batches = 1, .fault_migrations = 1);
	ASSERT_SNAPSHOT(self->d.fd, buf2, npages, 3, 4, self->d.local);

	SET_POLICY(self->d.fd, HMMSIM_POLICY_FIRST_TOUCH, HMMSIM_PREFETCH_NONE);
	st0 = st;
	SWEEP(self->d.fd, buf, 32, 32, &a);
	ASSERT_ACCESS(&a, 32, 1, 32, 0);
	LIST(self->d.fd, buf, npages, l1, 1, &a);
	ASSERT_ACCESS(&a, 1, 1, 0, 16);
	STATS(self->d.fd, &st);
	ASSERT_COUNTS(&st0, &st, .to_device = 16, .device_faults = 33,
		      .fault_batches = 2, .fault_migrations = 1,
		      .prefetch_migrations = 15, .remote_accesses = 32);
	ASSERT_SNAPSHOT(self->d.fd, buf, npages, 32, 48, self->d.local);
	ASSERT_VALUES(buf, npages, NULL);
	ASSERT_VALUES(buf2, npages, NULL);
	io_uring_queue_exit(&ring);
}

/* ---------------------------------------------------------- thrashing */

/*
 * @k rounds of: the device stores to page 0 of @buf (a one-entry LIST),
 * then the CPU writes its second u64 (bringing it back from private
 * memory), then, if @invalidate, an mprotect() round trip unmaps it from
 * the device page table, so that the next store faults again. Each
 * round's migrated count in @migrated.
 */
static void ping_pong(struct __test_metadata *_metadata, int fd, char *buf,
		      unsigned int k, bool invalidate, __u64 *migrated)
{
	const __u64 list[] = { 0 | STORE };
	struct hmmsim_access a;
	unsigned int i;

	for (i = 0; i < k; i++) {
		LIST(fd, buf, 1, list, 1, &a);
		ASSERT_EQ(0, a.checksum);
		migrated[i] = a.migrated;
		set_word(buf, 0, 1, i + 1);
		if (invalidate) {
			ASSERT_EQ(0, mprotect(buf, page_size, PROT_READ));
			ASSERT_EQ(0, mprotect(buf, page_size,
					      PROT_READ | PROT_WRITE));
		}
	}
}

/* The file's policy: FIRST_TOUCH, thrashing at @t moves per @window. */
#define SET_THRASH(fd, t, window, pin) \
	set_thrash(_metadata, fd, t, window, pin)

static void set_thrash(struct __test_metadata *_metadata, int fd, __u32 t,
		       __u32 window, __u32 pin)
{
	struct hmmsim_policy p;

	ASSERT_EQ(0, policy_get(fd, &p));
	p.migrate = HMMSIM_POLICY_FIRST_TOUCH;
	p.prefetch = HMMSIM_PREFETCH_NONE;
	p.thrash_threshold = t;
	p.thrash_window = window;
	p.thrash_pin = pin;
	ASSERT_EQ(0, policy_set(fd, &p));
}

/*
 * A zeroed page that the CPU has written, alone in its 2 MiB (a CPU fault
 * on a private page may bring back the rest of its 2 MiB window).
 */
static char *zero_page(void)
{
	char *p = map_aligned(SZ_2M, MADV_NOHUGEPAGE);

	if (p != MAP_FAILED)
		memset(p, 0, page_size);
	return p;
}

/*
 * The device and the CPU take turns writing a page of private memory:
 * the page moves to the device T times (T = 3), the CPU brings it back as
 * often, the next move is a thrashing event, and from then on the page
 * stays pinned in system memory, mapped remotely, however often they
 * alternate. Every store and every CPU write lands. On coherent memory the
 * CPU writes in place: one move, no thrashing.
 */
TEST_F(policy, thrashing_page_is_pinned_after_threshold_moves)
{
	const unsigned int k = 10, t = 3;
	struct hmmsim_stats st0, st;
	__u64 migrated[10];
	unsigned int i;
	char *buf = zero_page();

	ASSERT_NE(MAP_FAILED, buf);
	SET_THRASH(self->d.fd, t, 1000000, 1000000);
	STATS(self->d.fd, &st0);
	ping_pong(_metadata, self->d.fd, buf, k, false, migrated);
	STATS(self->d.fd, &st);
	if (!self->d.private) {
		ASSERT_COUNTS(&st0, &st, .to_device = 1, .device_faults = 1,
			      .fault_batches = 1, .fault_migrations = 1);
		for (i = 0; i < k; i++)
			ASSERT_EQ(i == 0, migrated[i]);
	} else {
		/*
		 * From the event on, every device fault on the page is served
		 * remotely: the faults are those of the T moves and the
		 * thrash_remote ones (the remote mapping may stay between
		 * rounds: at least the event's).
		 */
		ASSERT_COUNTS(&st0, &st, .to_device = t, .cpu_faults = t,
			      .device_faults = ANY, .fault_batches = ANY,
			      .fault_migrations = t,
			      .remote_accesses = k - t, .thrash_events = 1,
			      .thrash_remote = ANY);
		ASSERT_LE(1, st.thrash_remote - st0.thrash_remote);
		ASSERT_GE(k - t, st.thrash_remote - st0.thrash_remote);
		ASSERT_EQ(t + st.thrash_remote - st0.thrash_remote,
			  st.device_faults - st0.device_faults);
		ASSERT_EQ(st.device_faults - st0.device_faults,
			  st.fault_batches - st0.fault_batches);
		ksft_print_msg("thrash_remote +%llu over %u rounds after the event\n",
			       st.thrash_remote - st0.thrash_remote, k - t);
		for (i = 0; i < k; i++)
			ASSERT_EQ(i < t, migrated[i]) TH_LOG("round %u", i);
	}
	ASSERT_SNAPSHOT(self->d.fd, buf, 1, 0, self->d.private ? 0 : 1,
			self->d.local);
	ASSERT_EQ(k, get_word(buf, 0, 0));
	ASSERT_EQ(k, get_word(buf, 0, 1));
}

/*
 * The same with the device page table invalidated after every round, so
 * that every round's store faults: T moves, then K - T faults served
 * remotely, all of them thrash_remote.
 */
TEST_F(policy, thrashing_page_faults_are_served_remotely)
{
	const unsigned int k = 10, t = 3;
	struct hmmsim_stats st0, st;
	__u64 migrated[10];
	unsigned int i;
	char *buf = zero_page();

	if (!self->d.private)
		SKIP(return, "the CPU writes coherent memory in place");
	ASSERT_NE(MAP_FAILED, buf);
	SET_THRASH(self->d.fd, t, 1000000, 1000000);
	STATS(self->d.fd, &st0);
	ping_pong(_metadata, self->d.fd, buf, k, true, migrated);
	STATS(self->d.fd, &st);
	ASSERT_COUNTS(&st0, &st, .to_device = t, .cpu_faults = t,
		      .device_faults = k, .fault_batches = k,
		      .fault_migrations = t, .remote_accesses = k - t,
		      .thrash_events = 1, .thrash_remote = k - t);
	for (i = 0; i < k; i++)
		ASSERT_EQ(i < t, migrated[i]) TH_LOG("round %u", i);
	ASSERT_SNAPSHOT(self->d.fd, buf, 1, 0, 0, 0);
	ASSERT_EQ(k, get_word(buf, 0, 0));
	ASSERT_EQ(k, get_word(buf, 0, 1));
}

/* thrash_threshold 0 turns the detection off: the page moves every round. */
TEST_F(policy, thrash_threshold_zero_never_pins)
{
	const unsigned int k = 8;
	struct hmmsim_stats st0, st;
	__u64 migrated[8];
	unsigned int i;
	char *buf = zero_page();

	if (!self->d.private)
		SKIP(return, "the CPU writes coherent memory in place");
	ASSERT_NE(MAP_FAILED, buf);
	SET_THRASH(self->d.fd, 0, 1000000, 1000000);
	STATS(self->d.fd, &st0);
	ping_pong(_metadata, self->d.fd, buf, k, false, migrated);
	STATS(self->d.fd, &st);
	ASSERT_COUNTS(&st0, &st, .to_device = k, .cpu_faults = k,
		      .device_faults = k, .fault_batches = k,
		      .fault_migrations = k);
	for (i = 0; i < k; i++)
		ASSERT_EQ(1, migrated[i]) TH_LOG("round %u", i);
	ASSERT_EQ(k, get_word(buf, 0, 0));
	ASSERT_EQ(k, get_word(buf, 0, 1));
}

/*
 * The bound: within any thrash_window accesses (8 here, one access a
 * round) a page moves to the device at most thrash_threshold times (2);
 * once the pin (4 accesses) is over it moves again. Every round faults:
 * each fault either moves the page or is served remotely as thrashing.
 */
TEST_F(policy, thrash_window_bounds_the_moves)
{
	const unsigned int k = 48, t = 2, window = 8, pin = 4;
	struct hmmsim_stats st0, st;
	__u64 migrated[48], moves = 0, in_window;
	unsigned int i, j;
	char *buf = zero_page();

	if (!self->d.private)
		SKIP(return, "the CPU writes coherent memory in place");
	ASSERT_NE(MAP_FAILED, buf);
	SET_THRASH(self->d.fd, t, window, pin);
	STATS(self->d.fd, &st0);
	ping_pong(_metadata, self->d.fd, buf, k, true, migrated);
	STATS(self->d.fd, &st);
	for (i = 0; i < k; i++) {
		ASSERT_GE(1, migrated[i]);
		moves += migrated[i];
	}
	for (i = 0; i + window <= k; i++) {
		in_window = 0;
		for (j = i; j < i + window; j++)
			in_window += migrated[j];
		ASSERT_GE(t, in_window)
			TH_LOG("%llu moves in rounds %u..%u",
			       (unsigned long long)in_window, i,
			       i + window - 1);
	}
	/* The pin ends: the page moves again, at least once a window. */
	ASSERT_LE(k / (window + pin), moves);
	ASSERT_LT(t, moves);
	ASSERT_COUNTS(&st0, &st, .to_device = moves, .cpu_faults = moves,
		      .device_faults = k, .fault_batches = k,
		      .fault_migrations = moves,
		      .remote_accesses = k - moves,
		      .thrash_events = ANY, .thrash_remote = k - moves);
	ASSERT_LE(2, st.thrash_events - st0.thrash_events);
	ksft_print_msg("%llu moves and %llu thrashing events in %u rounds\n",
		       (unsigned long long)moves,
		       st.thrash_events - st0.thrash_events, k);
	ASSERT_EQ(k, get_word(buf, 0, 0));
	ASSERT_EQ(k, get_word(buf, 0, 1));
}

/*
 * The window is the last thrash_window accesses, wherever it starts: a
 * move (A), 6 accesses to other pages, then three rounds in a row (B, C,
 * D) with thrash_threshold 2 and thrash_window 8. B, C and D are within 8
 * accesses of each other, so at most two of them move, however the moves
 * before them fell.
 */
TEST_F(policy, thrash_window_is_the_last_window_accesses)
{
	const unsigned int t = 2, window = 8, fillers = 6;
	struct hmmsim_stats st0, st;
	struct hmmsim_access a;
	__u64 migrated[4];
	char *buf = zero_page(), *other;

	if (!self->d.private)
		SKIP(return, "the CPU writes coherent memory in place");
	ASSERT_NE(MAP_FAILED, buf);
	other = VALUE_BUFFER(fillers);
	SET_THRASH(self->d.fd, t, window, 1000000);
	/* The other pages on the device, mapped: then 6 accesses, no fault. */
	SWEEP(self->d.fd, other, fillers, fillers, &a);
	ASSERT_ACCESS(&a, fillers, 1, 0, fillers);

	STATS(self->d.fd, &st0);
	ping_pong(_metadata, self->d.fd, buf, 1, true, &migrated[0]);
	SWEEP(self->d.fd, other, fillers, fillers, &a);
	ASSERT_ACCESS(&a, 0, 0, 0, 0);
	ping_pong(_metadata, self->d.fd, buf, 3, true, &migrated[1]);
	STATS(self->d.fd, &st);
	ksft_print_msg("moves: A %llu, B %llu, C %llu, D %llu\n",
		       migrated[0], migrated[1], migrated[2], migrated[3]);
	ASSERT_EQ(1, migrated[0]);
	ASSERT_GE(t, migrated[1] + migrated[2] + migrated[3]);
	/* A, B, C move; D thrashes. */
	ASSERT_COUNTS(&st0, &st, .to_device = 3, .cpu_faults = 3,
		      .device_faults = 4, .fault_batches = 4,
		      .fault_migrations = 3, .remote_accesses = 1,
		      .thrash_events = 1, .thrash_remote = 1);
	ASSERT_EQ(4, get_word(buf, 0, 0));
	ASSERT_EQ(3, get_word(buf, 0, 1));
}

/*
 * Pages in another coherent device's memory are not this device's: every
 * access to them is remote, and under REMOTE they stay where they are.
 */
TEST_F(policy, pages_on_another_device_are_remote)
{
	const unsigned long npages = 32;
	struct hmmsim_stats st0, st, other0, other1;
	struct hmmsim_access a;
	struct hmmsim_info inf;
	char *buf, *ptr = malloc(npages * page_size);
	int other = -1;
	unsigned int id;

	ASSERT_NE(NULL, ptr);
	for (id = self->d.id + 1; other < 0; id++) {
		int fd = open_dev(id);

		if (fd < 0)
			break;
		ASSERT_EQ(0, info(fd, &inf));
		if (inf.type == variant->type && !self->d.private)
			other = fd;
		else
			close(fd);
	}
	if (other < 0)
		SKIP(return, "%s", self->d.private ?
		     "another device's private pages are faulted home" :
		     "no second coherent device");
	buf = VALUE_BUFFER(npages);
	/* (No SNAPSHOT through fd before: it maps what is present.) */
	MIGRATE_OK(other, buf, ptr, npages);

	STATS(self->d.fd, &st0);
	STATS(other, &other0);
	SWEEP(self->d.fd, buf, npages, 2 * npages, &a);
	ASSERT_ACCESS(&a, npages, 1, 2 * npages, 0);
	ASSERT_EQ(2 * value_sum(0, npages), a.checksum);
	STATS(self->d.fd, &st);
	STATS(other, &other1);
	ASSERT_COUNTS(&st0, &st, .device_faults = npages, .fault_batches = 1,
		      .fault_duplicates = npages,
		      .remote_accesses = 2 * npages);
	ASSERT_EQ(other0.from_device, other1.from_device);
	SNAPSHOT_PROT(self->d.fd, buf, npages, COH_REMOTE);
	ASSERT_VALUES(buf, npages, NULL);
	close(other);
}

/* A forked child cannot use its parent's file: EPERM, and nothing changes. */
TEST_F(policy, policy_commands_from_a_forked_child_are_eperm)
{
	const unsigned long npages = 4;
	struct hmmsim_policy p;
	char *buf = VALUE_BUFFER(npages);
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		struct hmmsim_access a;
		int bad = 0;

		access_args(&a, buf, npages, HMMSIM_PATTERN_SEQUENTIAL, npages);
		bad |= access_run(self->d.fd, &a) != -EPERM;
		bad |= (a.done != GARBAGE) << 1;
		bad |= (policy_set_migrate(self->d.fd,
					   HMMSIM_POLICY_FIRST_TOUCH,
					   HMMSIM_PREFETCH_NONE) != -EPERM) << 2;
		bad |= (advise_range(self->d.fd, buf, npages,
				     HMMSIM_LOCATION_DEVICE, 0, 0) != -EPERM) << 3;
		_exit(bad);
	}
	ASSERT_EQ(0, wait_child(pid))
		TH_LOG("child: 1 ACCESS, 2 its outputs, 4 SET_POLICY/GET_POLICY, 8 ADVISE");
	ASSERT_EQ(0, policy_get(self->d.fd, &p));
	ASSERT_EQ(HMMSIM_POLICY_REMOTE, p.migrate);
	ASSERT_VALUES(buf, npages, NULL);
}

/* ------------------------------------------------------------ patterns */

/* STRIDED: access k is to page (k * stride) mod npages. */
TEST_F(policy, strided_stream_visits_k_times_stride)
{
	const unsigned long npages = 64, stride = 5, count = 200;
	__u64 *list = malloc(count * sizeof(*list)), sum = 0, k;
	bool mapped[64] = { false };
	struct hmmsim_stats st0, st;
	struct hmmsim_access a;
	struct model m;
	char *buf;

	ASSERT_NE(NULL, list);
	for (k = 0; k < count; k++) {
		list[k] = k * stride % npages;
		sum += value_of(list[k]);
	}
	m = model_stream(list, count, self->d.batch, mapped, npages);
	buf = VALUE_BUFFER(npages);
	STATS(self->d.fd, &st0);
	access_args(&a, buf, npages, HMMSIM_PATTERN_STRIDED, count);
	a.stride = stride;
	ACCESS_OK(self->d.fd, &a);
	ASSERT_ACCESS(&a, m.faults, m.batches, count, 0);
	ASSERT_EQ(sum, a.checksum);
	STATS(self->d.fd, &st);
	ASSERT_COUNTS(&st0, &st, .device_faults = m.faults,
		      .fault_batches = m.batches,
		      .fault_duplicates = m.duplicates,
		      .remote_accesses = count);
	ASSERT_VALUES(buf, npages, NULL);
	free(list);
}

/*
 * HOT: hot_pct percent of the accesses to the hot set, the others to the
 * rest of the range; all stores here, so the increments say where.
 */
TEST_F(policy, hot_stream_keeps_to_its_sets)
{
	const unsigned long npages = 64, hot = 16, nhot = 8, count = 500;
	const unsigned int pcts[] = { 100, 0, 70 };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(pcts); i++) {
		__u64 in = 0, out = 0;
		struct hmmsim_access a;
		unsigned long p;
		char *buf;

		buf = VALUE_BUFFER(npages);
		access_args(&a, buf, npages, HMMSIM_PATTERN_HOT, count);
		a.store_pct = 100;
		a.hot_offset = hot;
		a.hot_npages = nhot;
		a.hot_pct = pcts[i];
		a.seed = 7 + i;
		ACCESS_OK(self->d.fd, &a);
		ASSERT_ACCESS(&a, ANY, ANY, count, 0);
		ASSERT_EQ(0, a.checksum);
		for (p = 0; p < npages; p++) {
			__u64 inc = get_word(buf, p, 0) - value_of(p);

			if (p >= hot && p < hot + nhot)
				in += inc;
			else
				out += inc;
		}
		ASSERT_EQ(count, in + out);
		if (pcts[i] == 100)
			ASSERT_EQ(0, out);
		if (pcts[i] == 0)
			ASSERT_EQ(0, in);
		if (pcts[i] == 70) {
			/* Not exact (random), but far from either end. */
			ASSERT_LT(count / 2, in);
			ASSERT_LT(count / 10, out);
		}
	}
}

/*
 * RANDOM: the same seed gives the same stream (the same stores to the
 * same pages, the same checksum), another seed another; store_pct 100 is
 * all stores, 0 all loads.
 */
TEST_F(policy, random_stream_is_reproducible_by_seed)
{
	const unsigned long npages = 64, count = 700;
	const __u64 seeds[] = { 1234, 1234, 4321 };
	__u64 inc[3][64], checksum[3];
	struct hmmsim_access a;
	unsigned long p;
	unsigned int i;
	char *buf;

	for (i = 0; i < ARRAY_SIZE(seeds); i++) {
		__u64 total = 0;

		buf = VALUE_BUFFER(npages);
		access_args(&a, buf, npages, HMMSIM_PATTERN_RANDOM, count);
		a.store_pct = 30;
		a.seed = seeds[i];
		ACCESS_OK(self->d.fd, &a);
		ASSERT_ACCESS(&a, ANY, ANY, count, 0);
		checksum[i] = a.checksum;
		for (p = 0; p < npages; p++) {
			inc[i][p] = get_word(buf, p, 0) - value_of(p);
			total += inc[i][p];
		}
		/* 30% of 700, give or take: not 0, not all. */
		ASSERT_LT(count / 10, total);
		ASSERT_GT(count / 2, total);
	}
	ASSERT_EQ(0, memcmp(inc[0], inc[1], sizeof(inc[0])));
	ASSERT_EQ(checksum[0], checksum[1]);
	ASSERT_NE(0, memcmp(inc[0], inc[2], sizeof(inc[0])));

	buf = VALUE_BUFFER(npages);
	access_args(&a, buf, npages, HMMSIM_PATTERN_RANDOM, count);
	a.store_pct = 100;
	ACCESS_OK(self->d.fd, &a);
	ASSERT_EQ(0, a.checksum);
	for (p = 0, checksum[0] = 0; p < npages; p++)
		checksum[0] += get_word(buf, p, 0) - value_of(p);
	ASSERT_EQ(count, checksum[0]);

	buf = VALUE_BUFFER(npages);
	access_args(&a, buf, npages, HMMSIM_PATTERN_RANDOM, count);
	ACCESS_OK(self->d.fd, &a);
	ASSERT_LT(0, a.checksum);
	ASSERT_VALUES(buf, npages, NULL);
}

/* The core READ and WRITE access remotely whatever the file's policy. */
TEST_F(policy, core_read_and_write_stay_remote_under_first_touch)
{
	const unsigned long npages = 16;
	struct hmmsim_stats st0, st;
	char *buf, *ptr;
	unsigned int seed = SMALL_BUFFERS(&buf, &ptr, npages);

	SET_POLICY(self->d.fd, HMMSIM_POLICY_FIRST_TOUCH,
		   HMMSIM_PREFETCH_DENSITY);
	STATS(self->d.fd, &st0);
	READ_PATTERN(self->d.fd, buf, ptr, 0, npages, seed);
	fill_pattern(ptr, 0, npages, seed + 1);
	DMIRROR_OK(self->d.fd, HMM_DMIRROR_WRITE, buf, ptr, npages, NULL);
	STATS(self->d.fd, &st);
	ASSERT_COUNTS(&st0, &st, .device_faults = ANY,
		      .remote_accesses = ANY);
	SNAPSHOT_PROT(self->d.fd, buf, npages, SYS_WRITE);
	ASSERT_PATTERN(buf, 0, npages, seed + 1);
}

/* ------------------------------------------------- the fault batch */

FIXTURE(batch)
{
	struct cfsdev dev;
	int fd;
};

FIXTURE_VARIANT(batch)
{
	unsigned int batch;
	const char *str;
};

FIXTURE_VARIANT_ADD(batch, one)
{
	.batch = 1, .str = "1",
};

FIXTURE_VARIANT_ADD(batch, seven)
{
	.batch = 7, .str = "7",
};

FIXTURE_VARIANT_ADD(batch, sixteen)
{
	.batch = 16, .str = "16",
};

FIXTURE_VARIANT_ADD(batch, max)
{
	.batch = 4096, .str = "4096",
};

FIXTURE_SETUP(batch)
{
	const char *why;

	self->fd = -1;
	cfs_remove_leftovers(CFS_PREFIX);
	if (access(CFS_ROOT, F_OK) && !configfs_mounted())
		SETUP_SKIP("configfs is not mounted on %s", CFS_MOUNT);
	why = cfs_unusable();
	if (why)
		SETUP_SKIP("%s", why);
	ASSERT_EQ(0, cfs_make(&self->dev, CFS_PREFIX));
	ASSERT_EQ(0, cfs_write(&self->dev, "capacity", CFS_CAPACITY_STR));
	ASSERT_EQ(0, cfs_write(&self->dev, "fault_batch", variant->str));
	ASSERT_EQ(0, cfs_power_on(&self->dev));
	self->fd = open_dev_wait(self->dev.id);
	ASSERT_LE(0, self->fd);
}

FIXTURE_TEARDOWN(batch)
{
	if (self->fd >= 0)
		close(self->fd);
	if (self->dev.made)
		cfs_remove(self->dev.item);
}

/* The attribute and INFO say the batch; the latency is the default. */
TEST_F(batch, info_reports_the_batch)
{
	struct hmmsim_info inf;
	long v;

	ASSERT_EQ(0, info(self->fd, &inf));
	ASSERT_EQ(variant->batch, inf.fault_batch);
	ASSERT_EQ(module_param_or("fault_latency_us", 0),
		  inf.fault_latency_us);
	ASSERT_EQ(0, cfs_read(&self->dev, "fault_batch", &v));
	ASSERT_EQ(variant->batch, v);
}

/*
 * Sweeps, sweeps twice over (duplicates of the faults still in the
 * buffer), and a random list, under REMOTE and FIRST_TOUCH: faults,
 * duplicates and batches as model_stream() says for the batch size.
 */
TEST_F(batch, streams_fill_and_service_batches_of_the_size)
{
	const unsigned long npages = 100, nlist = 700;
	__u64 *lists[3], counts[3] = { npages, 2 * npages, nlist };
	unsigned int state = 99, i, pol;
	__u64 k;

	lists[0] = seq_list(npages, npages);
	lists[1] = seq_list(npages, 2 * npages);
	lists[2] = malloc(nlist * sizeof(__u64));
	ASSERT_NE(NULL, lists[2]);
	for (k = 0; k < nlist; k++)
		lists[2][k] = xorshift(&state) % npages |
			      (k % 3 ? 0 : STORE);

	for (pol = 0; pol < 2; pol++) {
		bool first_touch = pol == 1;
		int fd = open_dev(self->dev.id);

		ASSERT_LE(0, fd);
		if (first_touch)
			SET_POLICY(fd, HMMSIM_POLICY_FIRST_TOUCH,
				   HMMSIM_PREFETCH_NONE);
		for (i = 0; i < 3; i++) {
			bool mapped[100] = { false };
			struct model m = model_stream(lists[i], counts[i],
						      variant->batch, mapped,
						      npages);
			__u64 moved = first_touch ? m.faults : 0;
			struct hmmsim_stats st0, st;
			struct hmmsim_access a;
			char *buf;

			if (i < 2)
				ASSERT_EQ(npages, m.faults);
			buf = VALUE_BUFFER(npages);
			STATS(fd, &st0);
			if (i < 2) {
				SWEEP(fd, buf, npages, counts[i], &a);
				ASSERT_EQ((i + 1) * value_sum(0, npages),
					  a.checksum);
			} else {
				LIST(fd, buf, npages, lists[i], counts[i], &a);
			}
			ASSERT_ACCESS(&a, m.faults, m.batches,
				      first_touch ? 0 : counts[i], moved);
			STATS(fd, &st);
			ASSERT_COUNTS(&st0, &st, .to_device = moved,
				      .device_faults = m.faults,
				      .fault_batches = m.batches,
				      .fault_duplicates = m.duplicates,
				      .fault_migrations = moved,
				      .remote_accesses =
						first_touch ? 0 : counts[i]);
			ksft_print_msg("%s, stream %u: %llu faults, %llu dups, %llu batches\n",
				       first_touch ? "FIRST_TOUCH" : "REMOTE",
				       i, m.faults, m.duplicates, m.batches);
		}
		close(fd);
	}
	for (i = 0; i < 3; i++)
		free(lists[i]);
}

/*
 * COUNTERS, threshold 2: a sweep maps 100 pages remotely (one count each),
 * a second sweep, with no fault and so no batch, takes every page to the
 * threshold: all 100 are queued and move at the end of the stream, however
 * small the fault batch.
 */
TEST_F(batch, counter_migrations_are_not_capped_by_the_batch)
{
	const unsigned long npages = 100;
	struct model m = model_sweep(npages, npages, variant->batch);
	struct hmmsim_stats st0, st;
	struct hmmsim_access a;
	char *buf = VALUE_BUFFER(npages);

	SET_COUNTERS(self->fd, 2, 0);
	STATS(self->fd, &st0);
	SWEEP(self->fd, buf, npages, npages, &a);
	ASSERT_ACCESS(&a, npages, m.batches, npages, 0);
	SWEEP(self->fd, buf, npages, npages, &a);
	ASSERT_ACCESS(&a, 0, 0, npages, ANY);
	STATS(self->fd, &st);
	ksft_print_msg("the second sweep moved %llu pages of %lu\n",
		       a.migrated, npages);
	ASSERT_EQ(npages, a.migrated);
	ASSERT_COUNTS(&st0, &st, .to_device = npages, .device_faults = npages,
		      .fault_batches = m.batches,
		      .remote_accesses = 2 * npages,
		      .counter_migrations = npages);
	ASSERT_SNAPSHOT(self->fd, buf, npages, 0, npages, PRIV_LOCAL);
	ASSERT_VALUES(buf, npages, NULL);
}

/*
 * The configfs attributes: a new item has the module's fault_batch and
 * fault_latency_us; values out of 1..4096 and 0..100000 are refused (by
 * the write, or by power 1, with EINVAL, and no device); the edges are
 * taken, INFO reports them, and they cannot change while powered on.
 */
static int refused(struct cfsdev *d, const char *attr, const char *val)
{
	int ret = cfs_write(d, attr, val);

	if (!ret) {
		ret = cfs_write(d, "power", "1");
		if (!ret)
			cfs_write(d, "power", "0");
	}
	return ret;
}

TEST(configfs_fault_batch_and_latency)
{
	struct hmmsim_info inf;
	struct cfsdev d;
	const char *why = cfs_unusable();
	long v;
	int fd;

	if (why)
		SKIP(return, "%s", why);
	cfs_remove_leftovers(CFS_PREFIX);
	ASSERT_EQ(0, cfs_make(&d, CFS_PREFIX));
	ASSERT_EQ(0, cfs_write(&d, "capacity", CFS_CAPACITY_STR));
	ASSERT_EQ(0, cfs_read(&d, "fault_batch", &v));
	ASSERT_EQ(module_param_or("fault_batch", DEFAULT_FAULT_BATCH), v);
	ASSERT_EQ(0, cfs_read(&d, "fault_latency_us", &v));
	ASSERT_EQ(module_param_or("fault_latency_us", 0), v);

	ASSERT_EQ(-EINVAL, refused(&d, "fault_batch", "0"));
	ASSERT_EQ(-EINVAL, refused(&d, "fault_batch", "4097"));
	ASSERT_EQ(-EINVAL, refused(&d, "fault_batch", "-1"));
	ASSERT_EQ(-EINVAL, refused(&d, "fault_batch", "abc"));
	ASSERT_EQ(0, cfs_write(&d, "fault_batch", "4096"));
	ASSERT_EQ(-EINVAL, refused(&d, "fault_latency_us", "100001"));
	ASSERT_EQ(-EINVAL, refused(&d, "fault_latency_us", "abc"));
	ASSERT_EQ(0, cfs_write(&d, "fault_latency_us", "100000"));
	ASSERT_EQ(0, cfs_read(&d, "power", &v));
	ASSERT_EQ(0, v);

	ASSERT_EQ(0, cfs_power_on(&d));
	fd = open_dev_wait(d.id);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, info(fd, &inf));
	ASSERT_EQ(4096, inf.fault_batch);
	ASSERT_EQ(100000, inf.fault_latency_us);
	ASSERT_EQ(-EBUSY, cfs_write(&d, "fault_batch", "1"));
	ASSERT_EQ(-EBUSY, cfs_write(&d, "fault_latency_us", "0"));
	close(fd);
	cfs_remove(d.item);
}

/* ---------------------------------------------------------- bad input */

/* The first private device's file, for the bad input tests. */
static int open_private(void)
{
	struct hmmsim_info inf;
	unsigned int id;

	for (id = 0; ; id++) {
		int fd = open_dev(id);

		if (fd < 0)
			return -1;
		if (!info(fd, &inf) && inf.type == HMMSIM_MEM_PRIVATE)
			return fd;
		close(fd);
	}
}

/*
 * Raw command @cmd of the struct at @raw (@size bytes declared): must give
 * @ret, the line's case named in the log.
 */
#define RAW_RET(ret, fd, cmd, raw, what, ...) do { \
	int __ret = xioctl(fd, cmd, raw); \
	ASSERT_EQ(ret, __ret) TH_LOG(what, ##__VA_ARGS__); \
} while (0)

/* Every field of SET_POLICY out of its range is EINVAL, and changes nothing. */
TEST(set_policy_bad_input)
{
	const struct {
		const char *what;
		size_t off;
		__u32 val;
	} cases[] = {
#define P(f, v) { #f " " #v, offsetof(struct hmmsim_policy, f), v }
		P(flags, 1), P(flags, 1U << 31), P(migrate, 3),
		P(migrate, ~0U), P(prefetch, 3), P(prefetch_pages, 0),
		P(prefetch_pages, 3), P(prefetch_pages, 24),
		P(prefetch_pages, 1024), P(density_pct, 0),
		P(density_pct, 101), P(counter_threshold, 0),
		P(thrash_threshold, HMMSIM_MAX_THRASH_THRESHOLD + 1),
		P(thrash_threshold, ~0U),
		P(thrash_window, 0), P(thrash_pin, 0), P(pad, 1),
		P(reserved[0], 1), P(reserved[3], 1),
		{ "reserved[3] high", offsetof(struct hmmsim_policy, reserved[3]) + 4, 1 },
#undef P
	};
	unsigned char *raw = calloc(1, STRUCT_MAX);
	struct hmmsim_policy *p = (struct hmmsim_policy *)raw, dflt, q;
	int fd = open_private();
	unsigned int i;

	ASSERT_LE(0, fd);
	ASSERT_NE(NULL, raw);
	ASSERT_EQ(0, policy_get(fd, &dflt));
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		memcpy(raw, &dflt, sizeof(dflt));
		memcpy(raw + cases[i].off, &cases[i].val, sizeof(__u32));
		RAW_RET(-EINVAL, fd, HMMSIM_IOCTL_SET_POLICY, raw, "%s",
			cases[i].what);
		ASSERT_EQ(0, policy_get(fd, &q));
		ASSERT_EQ(0, memcmp(&dflt, &q, sizeof(q)))
			TH_LOG("%s", cases[i].what);
	}

	/* Sizes: too small is EINVAL, a nonzero unknown tail E2BIG. */
	memset(raw, 0, STRUCT_MAX);
	memcpy(raw, &dflt, sizeof(dflt));
	p->migrate = HMMSIM_POLICY_FIRST_TOUCH;
	p->size = 0;
	RAW_RET(-EINVAL, fd, HMMSIM_IOCTL_SET_POLICY, raw, "size 0");
	p->size = HMMSIM_POLICY_SIZE_VER0 - 1;
	RAW_RET(-EINVAL, fd, HMMSIM_IOCTL_SET_POLICY, raw, "size VER0 - 1");
	RAW_RET(-EINVAL, fd, HMMSIM_IOCTL_GET_POLICY, raw, "GET size VER0 - 1");
	p->size = STRUCT_MAX;
	raw[STRUCT_MAX - 1] = 1;
	RAW_RET(-E2BIG, fd, HMMSIM_IOCTL_SET_POLICY, raw, "nonzero tail");
	p->size = sizeof(*p) + 1;
	raw[sizeof(*p)] = 1;
	RAW_RET(-E2BIG, fd, HMMSIM_IOCTL_SET_POLICY, raw, "nonzero tail");
	ASSERT_EQ(0, policy_get(fd, &q));
	ASSERT_EQ(HMMSIM_POLICY_REMOTE, q.migrate);
	/* ...and a zero one is fine. */
	memset(raw + sizeof(*p), 0, STRUCT_MAX - sizeof(*p));
	p->size = STRUCT_MAX;
	RAW_RET(0, fd, HMMSIM_IOCTL_SET_POLICY, raw, "zero tail");
	ASSERT_EQ(0, policy_get(fd, &q));
	ASSERT_EQ(HMMSIM_POLICY_FIRST_TOUCH, q.migrate);

	/* GET: bad flags, bad reserved, a nonzero tail. */
	memset(raw, 0, STRUCT_MAX);
	p->size = sizeof(*p);
	p->flags = 1;
	RAW_RET(-EINVAL, fd, HMMSIM_IOCTL_GET_POLICY, raw, "GET flags");
	p->flags = 0;
	p->size = STRUCT_MAX;
	raw[STRUCT_MAX - 8] = 1;
	RAW_RET(-E2BIG, fd, HMMSIM_IOCTL_GET_POLICY, raw, "GET tail");
	raw[STRUCT_MAX - 8] = 0;
	RAW_RET(0, fd, HMMSIM_IOCTL_GET_POLICY, raw, "GET zero tail");
	ASSERT_EQ(HMMSIM_POLICY_FIRST_TOUCH, p->migrate);
	ASSERT_BYTES(raw + sizeof(*p), STRUCT_MAX - sizeof(*p), 0);
	ASSERT_EQ(-EFAULT, xioctl(fd, HMMSIM_IOCTL_GET_POLICY, NULL));
	ASSERT_EQ(-EFAULT, xioctl(fd, HMMSIM_IOCTL_SET_POLICY, NULL));
	free(raw);
	close(fd);
}

/* A field of a struct to set to a bad value: where, how wide, what. */
struct bad_field {
	const char *what;
	const void *base;	/* the good struct it is set in */
	size_t off;
	unsigned int width;	/* 4 or 8 */
	__u64 val;
};

/*
 * Each case of @cases (@n of them): the struct @base (@len bytes) with the
 * field set, in @raw, makes command @cmd fail with EINVAL.
 */
static void bad_fields_are_einval(struct __test_metadata *_metadata, int fd,
				  unsigned long cmd, unsigned char *raw,
				  size_t len, const struct bad_field *cases,
				  unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		__u32 v32 = cases[i].val;

		memset(raw, 0, STRUCT_MAX);
		memcpy(raw, cases[i].base, len);
		if (cases[i].width == 4)
			memcpy(raw + cases[i].off, &v32, sizeof(v32));
		else
			memcpy(raw + cases[i].off, &cases[i].val, 8);
		ASSERT_EQ(-EINVAL, xioctl(fd, cmd, raw))
			TH_LOG("%s = %#llx", cases[i].what,
			       (unsigned long long)cases[i].val);
	}
}

#define ACC(f)	offsetof(struct hmmsim_access, f)

/* Every bad field of ACCESS is EINVAL; a hole EFAULT; a read-only store EPERM. */
TEST(access_bad_input)
{
	const unsigned long npages = 8;
	unsigned char *raw = calloc(1, STRUCT_MAX);
	struct hmmsim_access *a = (struct hmmsim_access *)raw;
	struct hmmsim_access good, list, far, huge, strided, hot;
	const __u64 entries[2] = { 0, 1 }, beyond[2] = { 0, 8 };
	const __u64 high[2] = { 0, 1ULL << 62 };
	char *buf = VALUE_BUFFER(npages), *ro, *hole;
	int fd = open_private();
	unsigned int i;

	ASSERT_LE(0, fd);
	ASSERT_NE(NULL, raw);
	access_args(&good, buf, npages, HMMSIM_PATTERN_SEQUENTIAL, npages);
	access_args(&list, buf, npages, HMMSIM_PATTERN_LIST, 2);
	list.ptr = (uintptr_t)entries;
	far = list;
	far.ptr = (uintptr_t)beyond;
	huge = list;
	huge.ptr = (uintptr_t)high;
	strided = good;
	strided.pattern = HMMSIM_PATTERN_STRIDED;
	strided.stride = 3;
	hot = good;
	hot.pattern = HMMSIM_PATTERN_HOT;
	hot.hot_offset = 1;
	hot.hot_npages = 2;
	hot.hot_pct = 90;
	{
		const struct hmmsim_access *oks[] = {
			&good, &list, &strided, &hot,
		};

		for (i = 0; i < ARRAY_SIZE(oks); i++) {
			memcpy(raw, oks[i], sizeof(*a));
			RAW_RET(0, fd, HMMSIM_IOCTL_ACCESS, raw, "good %u", i);
			ASSERT_EQ(oks[i]->count, a->done);
		}
	}
	{
		const struct bad_field cases[] = {
			{ "flags", &good, ACC(flags), 4, 1 },
			{ "pad", &good, ACC(pad), 4, 1 },
			{ "reserved[0]", &good, ACC(reserved[0]), 8, 1 },
			{ "reserved[1]", &good, ACC(reserved[1]), 8, 1 },
			{ "reserved[2]", &good, ACC(reserved[2]), 8, 1 },
			{ "reserved[3]", &good, ACC(reserved[3]), 8, 1ULL << 63 },
			{ "pattern", &good, ACC(pattern), 4, 5 },
			{ "pattern", &good, ACC(pattern), 4, ~0U },
			{ "store_pct", &good, ACC(store_pct), 4, 101 },
			{ "count", &good, ACC(count), 8, 0 },
			{ "count", &good, ACC(count), 8, (1ULL << 32) + 1 },
			{ "count", &good, ACC(count), 8, ~0ULL },
			{ "npages", &good, ACC(npages), 8, 0 },
			{ "addr", &good, ACC(addr), 8, (uintptr_t)buf + 1 },
			{ "stride (sequential)", &good, ACC(stride), 8, 1 },
			{ "hot_offset (sequential)", &good, ACC(hot_offset), 8, 1 },
			{ "hot_npages (sequential)", &good, ACC(hot_npages), 8, 1 },
			{ "hot_pct (sequential)", &good, ACC(hot_pct), 4, 1 },
			{ "ptr (sequential)", &good, ACC(ptr), 8,
			  (uintptr_t)entries },
			{ "store_pct (list)", &list, ACC(store_pct), 4, 1 },
			{ "stride (list)", &list, ACC(stride), 8, 1 },
			{ "entry 8 of 8 pages", &far, ACC(count), 8, 2 },
			{ "entry 1 << 62", &huge, ACC(count), 8, 2 },
			{ "stride 0", &strided, ACC(stride), 8, 0 },
			{ "hot_npages 0", &hot, ACC(hot_npages), 8, 0 },
			{ "hot_npages npages", &hot, ACC(hot_npages), 8, npages },
			{ "hot_npages > npages", &hot, ACC(hot_npages), 8,
			  npages + 1 },
			{ "hot set past the range", &hot, ACC(hot_offset), 8,
			  npages - 1 },
			{ "hot_pct", &hot, ACC(hot_pct), 4, 101 },
			{ "stride (hot)", &hot, ACC(stride), 8, 1 },
		};

		bad_fields_are_einval(_metadata, fd, HMMSIM_IOCTL_ACCESS, raw,
				      sizeof(*a), cases, ARRAY_SIZE(cases));
	}

	/* Sizes. */
	memset(raw, 0, STRUCT_MAX);
	memcpy(raw, &good, sizeof(good));
	a->size = HMMSIM_ACCESS_SIZE_VER0 - 8;
	RAW_RET(-EINVAL, fd, HMMSIM_IOCTL_ACCESS, raw, "size VER0 - 8");
	a->size = 0;
	RAW_RET(-EINVAL, fd, HMMSIM_IOCTL_ACCESS, raw, "size 0");
	a->size = STRUCT_MAX;
	raw[STRUCT_MAX - 1] = 1;
	RAW_RET(-E2BIG, fd, HMMSIM_IOCTL_ACCESS, raw, "nonzero tail");
	raw[STRUCT_MAX - 1] = 0;
	RAW_RET(0, fd, HMMSIM_IOCTL_ACCESS, raw, "zero tail");
	ASSERT_EQ(npages, a->done);
	ASSERT_BYTES(raw + sizeof(*a), STRUCT_MAX - sizeof(*a), 0);
	ASSERT_EQ(-EFAULT, xioctl(fd, HMMSIM_IOCTL_ACCESS, NULL));

	/* A bad list pointer. */
	memcpy(raw, &list, sizeof(list));
	a->ptr = 8;
	RAW_RET(-EFAULT, fd, HMMSIM_IOCTL_ACCESS, raw, "list at 8");

	/* A hole: EFAULT, outputs written. */
	hole = VALUE_BUFFER(3);
	ASSERT_EQ(0, munmap(hole + page_size, page_size));
	access_args(a, hole, 3, HMMSIM_PATTERN_SEQUENTIAL, 3);
	RAW_RET(-EFAULT, fd, HMMSIM_IOCTL_ACCESS, raw, "hole");
	ASSERT_GT(3, a->done);

	/* Read-only: loads are fine, a store is EPERM. */
	ro = VALUE_BUFFER(2);
	ASSERT_EQ(0, mprotect(ro, 2 * page_size, PROT_READ));
	access_args(a, ro, 2, HMMSIM_PATTERN_SEQUENTIAL, 4);
	RAW_RET(0, fd, HMMSIM_IOCTL_ACCESS, raw, "read-only loads");
	ASSERT_EQ(2 * value_sum(0, 2), a->checksum);
	a->store_pct = 100;
	a->done = GARBAGE;
	RAW_RET(-EPERM, fd, HMMSIM_IOCTL_ACCESS, raw, "read-only stores");
	ASSERT_GT(4, a->done);
	ASSERT_EQ(value_of(0), get_word(ro, 0, 0));
	ASSERT_EQ(value_of(1), get_word(ro, 1, 0));
	free(raw);
	close(fd);
}

#define ADV(f)	offsetof(struct hmmsim_advise, f)

/*
 * ADVISE: every bad field is EINVAL, a range with a hole too, and none of
 * them leaves advice behind (a FIRST_TOUCH sweep then moves every page).
 */
TEST(advise_bad_input)
{
	const unsigned long npages = 16;
	unsigned char *raw = calloc(1, STRUCT_MAX);
	struct hmmsim_advise *v = (struct hmmsim_advise *)raw, good;
	struct hmmsim_stats st0, st;
	struct hmmsim_access acc;
	int fd = open_private();
	char *buf, *hole;

	ASSERT_LE(0, fd);
	ASSERT_NE(NULL, raw);
	buf = VALUE_BUFFER(npages);
	memset(&good, 0, sizeof(good));
	good.size = sizeof(good);
	good.addr = (uintptr_t)buf;
	good.npages = npages;
	good.accessed_by = 1;

	{
		const struct bad_field cases[] = {
			{ "flags", &good, ADV(flags), 4, 1 },
			{ "pad", &good, ADV(pad), 4, 1 },
			{ "reserved[0]", &good, ADV(reserved[0]), 8, 1 },
			{ "reserved[3]", &good, ADV(reserved[3]), 8, 1ULL << 63 },
			{ "preferred", &good, ADV(preferred), 4, 3 },
			{ "accessed_by", &good, ADV(accessed_by), 4, 2 },
			{ "granularity", &good, ADV(granularity), 4, 3 },
			{ "granularity", &good, ADV(granularity), 4, 6 },
			{ "granularity", &good, ADV(granularity), 4, 513 },
			{ "granularity", &good, ADV(granularity), 4, 1024 },
			{ "npages", &good, ADV(npages), 8, 0 },
			{ "addr", &good, ADV(addr), 8, (uintptr_t)buf + 8 },
		};

		bad_fields_are_einval(_metadata, fd, HMMSIM_IOCTL_ADVISE, raw,
				      sizeof(good), cases, ARRAY_SIZE(cases));
	}
	memcpy(raw, &good, sizeof(good));
	v->size = HMMSIM_ADVISE_SIZE_VER0 - 1;
	RAW_RET(-EINVAL, fd, HMMSIM_IOCTL_ADVISE, raw, "size VER0 - 1");
	v->size = STRUCT_MAX;
	raw[STRUCT_MAX - 1] = 1;
	RAW_RET(-E2BIG, fd, HMMSIM_IOCTL_ADVISE, raw, "nonzero tail");
	raw[STRUCT_MAX - 1] = 0;
	ASSERT_EQ(-EFAULT, xioctl(fd, HMMSIM_IOCTL_ADVISE, NULL));

	/* A hole in the middle: nothing is advised. */
	hole = value_buffer(3);
	ASSERT_NE(MAP_FAILED, hole);
	ASSERT_EQ(0, munmap(hole + page_size, page_size));
	ASSERT_EQ(-EINVAL, advise_range(fd, hole, 3, HMMSIM_LOCATION_SYSTEM, 1,
					0));

	ASSERT_EQ(0, policy_set_migrate(fd, HMMSIM_POLICY_FIRST_TOUCH,
					HMMSIM_PREFETCH_NONE));
	STATS(fd, &st0);
	access_args(&acc, buf, npages, HMMSIM_PATTERN_SEQUENTIAL, npages);
	ACCESS_OK(fd, &acc);
	ASSERT_EQ(npages, acc.migrated);
	access_args(&acc, hole, 1, HMMSIM_PATTERN_SEQUENTIAL, 1);
	ACCESS_OK(fd, &acc);
	ASSERT_EQ(1, acc.migrated);
	access_args(&acc, hole + 2 * page_size, 1, HMMSIM_PATTERN_SEQUENTIAL,
		    1);
	ACCESS_OK(fd, &acc);
	ASSERT_EQ(1, acc.migrated);
	STATS(fd, &st);
	ASSERT_EQ(npages + 2, st.fault_migrations - st0.fault_migrations);
	ASSERT_EQ(0, st.remote_accesses - st0.remote_accesses);

	/* A zero tail is fine (after the moves: changes nothing). */
	memcpy(raw, &good, sizeof(good));
	v->size = STRUCT_MAX;
	RAW_RET(0, fd, HMMSIM_IOCTL_ADVISE, raw, "zero tail");
	ASSERT_VALUES(buf, npages, NULL);
	free(raw);
	close(fd);
}

/*
 * A file holds advice for 4096 separate ranges, not one more (ENOSPC);
 * replacing one's advice is fine at the limit, and removing one makes
 * room. Every range here is one page with a page without advice between.
 */
TEST(advise_more_than_4096_ranges_is_enospc)
{
	const unsigned long nranges = 4096, npages = 2 * nranges + 2;
	char *buf = map_small(npages, PROT_READ | PROT_WRITE);
	int fd = open_private();
	unsigned long r;

	ASSERT_LE(0, fd);
	ASSERT_NE(MAP_FAILED, buf);
	for (r = 0; r < nranges; r++)
		ASSERT_EQ(0, advise_range(fd, buf + 2 * r * page_size, 1,
					  HMMSIM_LOCATION_SYSTEM, 0, 0))
			TH_LOG("range %lu", r);
	ASSERT_EQ(-ENOSPC, advise_range(fd, buf + 2 * nranges * page_size, 1,
					HMMSIM_LOCATION_SYSTEM, 0, 0));
	ASSERT_EQ(0, advise_range(fd, buf + 2 * page_size, 1,
				  HMMSIM_LOCATION_NONE, 1, 0));
	ASSERT_EQ(0, advise_range(fd, buf, 1, HMMSIM_LOCATION_NONE, 0, 0));
	ASSERT_EQ(0, advise_range(fd, buf + 2 * nranges * page_size, 1,
				  HMMSIM_LOCATION_SYSTEM, 0, 0));
	ASSERT_EQ(-ENOSPC, advise_range(fd, buf, 1, HMMSIM_LOCATION_SYSTEM, 0,
					0));
	close(fd);
}

TEST_HARNESS_MAIN
