// SPDX-License-Identifier: GPL-2.0
/*
 * hmmsim under memory pressure: devices given more data than they hold,
 * which evict their least recently used 2 MiB chunks to system memory;
 * eviction racing CPU faults, munmap(), fork() and exit; the device counters
 * (HMMSIM_IOCTL_STATS); the hmmsim_evict and hmmsim_migrate tracepoints; and
 * the fault injection attributes in debugfs.
 *
 * Fixtures:
 *   pressure  a private device of 64 MiB made for the test through configfs
 *             (/sys/kernel/config/hmmsim/hmmsim_pressure-PID), so that
 *             nothing else touches it and its counters start at zero. The
 *             teardown powers it off and removes it, whatever happened; an
 *             item that a test left behind (one that timed out, or failed
 *             in its setup) is removed by the next setup and when the
 *             program exits.
 *   coherent  the first device with coherent memory (/dev/hmmsim2 with the
 *             default layout), for the coherent oversubscription test.
 *
 * Data is checked int by int against a pattern derived from the page index
 * and a per-page seed, so that a page that is lost, stale, or copied to the
 * wrong place shows up. Buffers are 2 MiB aligned, as the driver's windows
 * and chunks are, and MADV_NOHUGEPAGE, so that SNAPSHOT codes and eviction
 * do not depend on the THP mode (always or madvise).
 *
 * Threads and forked children never use ASSERT_*(), which would longjmp
 * across threads, or run the fixture's teardown in the child: they record
 * what they saw, and the test asserts on it once they are done.
 *
 * The slow tests print a progress line at least every 20 seconds, so that
 * the VM runner's watchdog does not take them for hung.
 *
 * The devices are /dev/$HMMSIM_DEVNAME<N> (default hmmsim).
 */
#include <pthread.h>
#include <stdarg.h>
#include <time.h>

#include "kselftest_harness.h"
#include "hmmsim_test.h"

/* The device the pressure fixture makes. */
#define DEV_CAPACITY		(64UL << 20)
#define DEV_CAPACITY_STR	"64M"
#define CAP_WINDOWS		(DEV_CAPACITY / SZ_2M)

#define CFS_PREFIX	"hmmsim_pressure-"
#define TRACEFS		"/sys/kernel/tracing"
#define EVENT_EVICT	TRACEFS "/events/hmmsim/hmmsim_evict/enable"
#define EVENT_MIGRATE	TRACEFS "/events/hmmsim/hmmsim_migrate/enable"

/* The largest struct size the extension commands look at. */
#define STATS_SIZE_MAX	4096

/* Tests that move more than a few MiB. */
#define SLOW_TIMEOUT	300
#define MEDIUM_TIMEOUT	180
#define SHORT_TIMEOUT	60

/* Pages whose code says "in this device's private memory", any access. */
static unsigned long count_private_local(const unsigned char *m,
					 unsigned long npages)
{
	unsigned long i, n = 0;

	for (i = 0; i < npages; i++)
		n += (m[i] & 0xf0) == HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL;
	return n;
}

/* ------------------------------------------------------------- memory */

/* Is there room in system memory for len more bytes, with a margin? */
static bool room_for(size_t len)
{
	long kb = meminfo_kb("MemAvailable:");

	return kb < 0 || (size_t)kb * 1024 >= len + (128UL << 20);
}

/* Pages of [buf, +npages) not present in system memory; -1 on error. */
static long pages_not_present(const void *buf, unsigned long npages)
{
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	unsigned long p, vpn = (unsigned long)buf / page_size;
	long n = 0;

	if (fd < 0)
		return -1;
	for (p = 0; p < npages; p++) {
		__u64 e;

		if (pread(fd, &e, sizeof(e), (vpn + p) * sizeof(e)) !=
		    sizeof(e)) {
			n = -1;
			break;
		}
		n += !(e & PM_PRESENT);
	}
	close(fd);
	return n;
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

/* A progress line now and then: the runner's watchdog wants output. */
static time_t progress_last;

static void progress(const char *fmt, ...)
{
	time_t now = time(NULL);
	va_list ap;

	if (now - progress_last < 20)
		return;
	progress_last = now;
	va_start(ap, fmt);
	fputs("# ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs("\n", stderr);
	va_end(ap);
}

static void progress_start(void)
{
	progress_last = time(NULL);
}

/* Even after a test that timed out (SIGKILLed, so no teardown). */
static void __attribute__((destructor)) remove_leftovers_at_exit(void)
{
	cfs_remove_leftovers(CFS_PREFIX);
}

/* ------------------------------------------------- device verification */

/* An array of @npages seeds, all @seed: ASSERT_PAGES() of one pattern. */
#define SEEDS(npages, seed) seeds_of(_metadata, npages, seed)

static unsigned int *seeds_of(struct __test_metadata *_metadata,
			      unsigned long npages, unsigned int seed)
{
	unsigned int *seeds = malloc(npages * sizeof(*seeds));
	unsigned long p;

	ASSERT_NE(NULL, seeds);
	for (p = 0; p < npages; p++)
		seeds[p] = seed;
	return seeds;
}

/* Device READ of npages of buf in 8 MiB parts, then the CPU's: all right. */
#define ASSERT_DEVICE_READ(fd, buf, first, npages, seeds) \
	assert_device_read(_metadata, __LINE__, fd, buf, first, npages, seeds)

static void assert_device_read(struct __test_metadata *_metadata, int line,
			       int fd, char *buf, unsigned long first,
			       unsigned long npages, const unsigned int *seeds)
{
	unsigned long part = 4 * win_pages, off, n;
	char *bounce = malloc(part * page_size);
	struct hmm_dmirror_cmd cmd;

	ASSERT_NE(NULL, bounce);
	for (off = 0; off < npages; off += n) {
		n = npages - off < part ? npages - off : part;
		ASSERT_EQ(0, dmirror(fd, HMM_DMIRROR_READ,
				     buf + off * page_size, bounce, n, &cmd))
			TH_LOG("line %d: READ of pages %lu..%lu", line,
			       first + off, first + off + n - 1);
		ASSERT_EQ(n, cmd.cpages)
			TH_LOG("line %d: READ", line);
		hmmsim_assert_pages(_metadata, line, bounce, first + off, n, seeds);
		progress("device READ: %lu of %lu MiB checked",
			 (off + n) * page_size >> 20, npages * page_size >> 20);
	}
	free(bounce);
	hmmsim_assert_pages(_metadata, line, buf, first, npages, seeds);
}

/*
 * MIGRATE_TO_DEV of window w of buf: it must succeed, move or find every
 * page, and read back the pattern of seed.
 */
#define STEP(fd, buf, w, ptr, seed) \
	step_ok(_metadata, __LINE__, fd, buf, w, ptr, seed)

static void step_ok(struct __test_metadata *_metadata, int line, int fd,
		    char *buf, unsigned long w, char *ptr, unsigned int seed)
{
	hmmsim_dmirror_pattern(_metadata, line, fd, HMM_DMIRROR_MIGRATE_TO_DEV,
			       "MIGRATE_TO_DEV", buf + w * SZ_2M, ptr,
			       w * win_pages, win_pages, seed);
}

/* SMALL_BUFFERS() at the start of a 2 MiB window of their own */
#define WINDOW_BUFFERS(buf, ptr, npages) \
	hmmsim_buffers(_metadata, map_aligned(SZ_2M, MADV_NOHUGEPAGE), buf, \
		       ptr, npages)

/* ------------------------------------------------------ pressure fixture */

FIXTURE(pressure)
{
	struct cfsdev dev;
	int fd;
	bool faults;		/* fault injection to disarm */
	bool tracing;		/* trace events to switch off */
	bool tracing_was_off;	/* tracing_on to put back to 0 */
	int eoc_was;		/* evict_on_close to put back, or -1 */
};

FIXTURE_SETUP(pressure)
{
	self->fd = -1;
	self->eoc_was = -1;
	self->fd = CFS_PRIVATE_DEVICE(&self->dev, CFS_PREFIX, DEV_CAPACITY,
				      DEV_CAPACITY_STR);
	if (self->fd < 0)
		setup_skipped();
}

static void trace_events(bool on);

FIXTURE_TEARDOWN(pressure)
{
	if (self->faults) {
		fault_disarm(&self->dev, "fail_alloc");
		fault_disarm(&self->dev, "fail_copy");
		fault_disarm(&self->dev, "fail_evict");
	}
	if (self->tracing)
		trace_events(false);
	if (self->tracing_was_off)
		write_file(TRACEFS "/tracing_on", "0");
	if (self->eoc_was >= 0)
		write_file(MODULE_PARAMS "/evict_on_close",
			   self->eoc_was ? "1" : "0");
	if (self->fd >= 0)
		close(self->fd);
	if (self->dev.made)
		cfs_remove(self->dev.item);
}

/* ------------------------------------------- capacity and LRU eviction */

/* What oversubscribe() puts through a device. */
struct oversub {
	int fd;
	unsigned char local;		/* SNAPSHOT code of a page on it */
	bool cpu_brings_back;		/* private: CPU access faults pages home */
	unsigned long cap_windows;	/* the device's capacity, in windows */
	unsigned long nwin;		/* the buffer, in windows */
	unsigned int passes;		/* times over the whole buffer */
	unsigned int seed;
};

/*
 * Move a buffer larger than the device to it in 2 MiB steps, passes times
 * over. From the second pass on, the CPU rewrites the first half of each
 * window (evicted long before) just before its step.
 *
 * After each step: the step's pages were moved and read back right, and
 * are on the device; pages_used never exceeds the capacity and accounts
 * for every page moved in and out; evictions stay at zero until the device
 * is full and grow at every step after; the window moved capacity-worth of
 * steps ago, the least recently used, is back in system memory. After each
 * pass, every window older than that is too. Then the whole buffer is
 * checked through the device (READ) and through the CPU.
 */
static void oversubscribe(struct __test_metadata *_metadata,
			  const struct oversub *o)
{
	const unsigned long wp = win_pages, npages = o->nwin * wp;
	const unsigned long cap_pages = o->cap_windows * wp;
	const unsigned long nsteps = o->passes * o->nwin;
	unsigned long *last = calloc(o->nwin, sizeof(*last));
	unsigned int *seeds = SEEDS(npages, o->seed);
	unsigned char *m = malloc(npages);
	char *ptr = malloc(SZ_2M);
	char *buf = map_aligned(npages * page_size, MADV_NOHUGEPAGE);
	struct hmmsim_stats st0, st, prev;
	struct hmm_dmirror_cmd cmd;
	unsigned long g, p, v;

	ASSERT_MAPPED(buf, last);
	ASSERT_NE(NULL, m);
	ASSERT_NE(NULL, ptr);
	fill_pattern(buf, 0, npages, o->seed);

	STATS(o->fd, &st0);
	ASSERT_EQ(0, st0.pages_used);
	prev = st0;
	progress_start();
	for (g = 0; g < nsteps; g++) {
		unsigned int pass = g / o->nwin;
		unsigned long w = g % o->nwin;
		char *win = buf + w * SZ_2M;

		if (pass) {
			for (p = w * wp; p < w * wp + wp / 2; p++)
				seeds[p] = o->seed + pass;
			fill_pattern(win, w * wp, wp / 2, o->seed + pass);
		}
		ASSERT_EQ(0, dmirror(o->fd, HMM_DMIRROR_MIGRATE_TO_DEV, win, ptr,
				     wp, &cmd))
			TH_LOG("step %lu: window %lu", g, w);
		ASSERT_EQ(wp, cmd.cpages)
			TH_LOG("step %lu: window %lu", g, w);
		ASSERT_PAGES(ptr, w * wp, wp, seeds);
		last[w] = g;

		STATS(o->fd, &st);
		ASSERT_GE(cap_pages, st.pages_used)
			TH_LOG("step %lu: more pages in use than the device has",
			       g);
		ASSERT_EQ(st.pages_used, (st.to_device - st0.to_device) -
					 (st.from_device - st0.from_device))
			TH_LOG("step %lu: to_device %llu, from_device %llu",
			       g, (unsigned long long)st.to_device,
			       (unsigned long long)st.from_device);
		if (g < o->cap_windows) {
			ASSERT_EQ((g + 1) * wp, st.pages_used)
				TH_LOG("step %lu: the device is not full yet", g);
			ASSERT_EQ(st0.evictions, st.evictions)
				TH_LOG("step %lu: eviction before the device is full",
				       g);
		} else {
			ASSERT_LT(prev.evictions, st.evictions)
				TH_LOG("step %lu: the device is full, yet nothing was evicted",
				       g);
		}
		prev = st;

		/* The step's own pages are on the device... */
		SNAPSHOT_PROT(o->fd, win, wp, o->local);
		/* ...and the least recently used window is not. */
		if (g >= o->cap_windows) {
			v = (g - o->cap_windows) % o->nwin;
			SNAPSHOT_PROT(o->fd, buf + v * SZ_2M, wp, SYS_WRITE);
		}
		if (w == o->nwin - 1) {
			SNAPSHOT(o->fd, buf, m, npages);
			for (v = 0; v < o->nwin; v++)
				if (g - last[v] >= o->cap_windows)
					ASSERT_PROT(m, v * wp, (v + 1) * wp,
						    SYS_WRITE);
		}
		progress("pass %u: %lu of %lu MiB moved", pass + 1,
			 (w + 1) * SZ_2M >> 20, o->nwin * SZ_2M >> 20);
	}

	ASSERT_DEVICE_READ(o->fd, buf, 0, npages, seeds);
	if (o->cpu_brings_back) {
		/* The CPU touched every page: none is left on the device. */
		STATS(o->fd, &st);
		ASSERT_EQ(0, st.pages_used);
	}
	free(ptr);
	free(m);
	free(seeds);
	free(last);
	munmap(buf, npages * page_size);
}

TEST_F_TIMEOUT(pressure, oversubscribe_256m_twice_in_2m_steps_lru, SLOW_TIMEOUT)
{
	struct oversub o = {
		.fd = self->fd,
		.local = PRIV_LOCAL,
		.cpu_brings_back = true,
		.cap_windows = CAP_WINDOWS,
		.nwin = (256UL << 20) / SZ_2M,
		.passes = 2,
		.seed = test_seed(_metadata->name),
	};

	if (!room_for((256UL << 20) + DEV_CAPACITY))
		SKIP(return, "not enough free memory for a 256 MiB buffer");
	oversubscribe(_metadata, &o);
}

/* One command for more pages than the device has: refused, nothing lost. */
TEST_F_TIMEOUT(pressure, migrate_more_than_capacity_at_once_is_enomem,
	       MEDIUM_TIMEOUT)
{
	unsigned int seed = test_seed(_metadata->name);
	const unsigned long cap_pages = DEV_CAPACITY / page_size;
	const unsigned long npages = cap_pages + win_pages;
	char *buf = map_aligned(npages * page_size, MADV_NOHUGEPAGE);
	char *ptr = malloc(npages * page_size);
	unsigned char *m = malloc(npages);
	struct hmmsim_stats st;

	ASSERT_MAPPED(buf, ptr);
	ASSERT_NE(NULL, m);
	fill_pattern(buf, 0, npages, seed);

	DMIRROR_RET(-ENOMEM, self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, buf, ptr,
		    npages);
	DMIRROR_RET(-ENOMEM, self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, buf, ptr,
		    cap_pages + 1);
	ASSERT_PATTERN(buf, 0, npages, seed);

	/* Exactly the capacity, on an empty device, fits in one command. */
	DMIRROR_RET(0, self->fd, HMM_DMIRROR_RELEASE, buf, NULL, npages);
	STATS(self->fd, &st);
	ASSERT_EQ(0, st.pages_used);
	MIGRATE_OK(self->fd, buf, ptr, cap_pages);
	ASSERT_PATTERN(ptr, 0, cap_pages, seed);
	SNAPSHOT(self->fd, buf, m, npages);
	ASSERT_PROT(m, 0, cap_pages, PRIV_LOCAL);
	ASSERT_PROT(m, cap_pages, npages, SYS_WRITE);
	STATS(self->fd, &st);
	ASSERT_EQ(cap_pages, st.pages_used);
	ASSERT_EQ(0, st.evictions);

	/* And more than that still is refused, with the device full. */
	DMIRROR_RET(-ENOMEM, self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, buf, ptr,
		    npages);
	ASSERT_PATTERN(buf, 0, npages, seed);
}

/* HMMSIM_IOCTL_MIGRATE makes room the same way. */
TEST_F_TIMEOUT(pressure, migrate_ioctl_in_2m_steps_never_enomem_when_full,
	       MEDIUM_TIMEOUT)
{
	unsigned int seed = test_seed(_metadata->name);
	const unsigned long nwin = CAP_WINDOWS + CAP_WINDOWS / 2;
	const unsigned long npages = nwin * win_pages;
	const unsigned long cap_pages = DEV_CAPACITY / page_size;
	char *buf = map_aligned(npages * page_size, MADV_NOHUGEPAGE);
	unsigned char *m = malloc(npages);
	unsigned int *seeds = SEEDS(npages, seed);
	struct hmmsim_stats st, prev;
	unsigned long w;
	__u64 cpages;

	ASSERT_MAPPED(buf, m);
	fill_pattern(buf, 0, npages, seed);
	STATS(self->fd, &prev);
	progress_start();
	for (w = 0; w < nwin; w++) {
		ASSERT_EQ(0, hmigrate(self->fd, 0, buf + w * SZ_2M, win_pages,
				      HMMSIM_MIGRATE_FROM_SYSTEM,
				      &cpages))
			TH_LOG("window %lu", w);
		ASSERT_EQ(win_pages, cpages)
			TH_LOG("window %lu", w);
		STATS(self->fd, &st);
		ASSERT_GE(cap_pages, st.pages_used);
		if (w >= CAP_WINDOWS) {
			ASSERT_LT(prev.evictions, st.evictions)
				TH_LOG("window %lu: nothing evicted", w);
		}
		prev = st;
		SNAPSHOT_PROT(self->fd, buf + w * SZ_2M, win_pages, PRIV_LOCAL);
		progress("%lu of %lu windows moved", w + 1, nwin);
	}
	SNAPSHOT(self->fd, buf, m, npages);
	ASSERT_PROT(m, 0, (nwin - CAP_WINDOWS) * win_pages, SYS_WRITE);
	ASSERT_DEVICE_READ(self->fd, buf, 0, npages, seeds);
}

/*
 * A device of one window, and one command of four: each window evicts the
 * one before, which must have arrived first (a migration keeps a second
 * window in flight only where the device has room for both).
 */
TEST(one_window_device_takes_a_command_of_four)
{
	unsigned int seed = test_seed(_metadata->name);
	const unsigned long npages = 4 * win_pages;
	char *buf = map_aligned(npages * page_size, MADV_NOHUGEPAGE);
	unsigned char *m = malloc(npages);
	struct hmmsim_stats st;
	struct cfsdev d = {};
	__u64 cpages;
	int fd;

	ASSERT_MAPPED(buf, m);
	fd = CFS_PRIVATE_DEVICE(&d, CFS_PREFIX "small-", SZ_2M, "2M");
	if (fd < 0)
		goto out;	/* skipped */
	fill_pattern(buf, 0, npages, seed);
	ASSERT_EQ(0, hmigrate(fd, 0, buf, npages, HMMSIM_MIGRATE_FROM_SYSTEM,
			      &cpages));
	ASSERT_EQ(npages, cpages);
	SNAPSHOT(fd, buf, m, npages);
	ASSERT_PROT(m, 0, npages - win_pages, SYS_WRITE);
	ASSERT_PROT(m, npages - win_pages, npages, PRIV_LOCAL);
	STATS(fd, &st);
	ASSERT_EQ(npages - win_pages, st.evictions);
	ASSERT_EQ(0, st.alloc_failures);
	ASSERT_PATTERN(buf, 0, npages, seed);
	close(fd);
out:
	if (d.made)
		cfs_remove(d.item);
}

/* ---------------------------------------- eviction racing CPU faults */

#define NR_WORKERS	3

/*
 * Windows w % 3 == 0 are "hot": in them, page p belongs to worker
 * p % (NR_WORKERS + 1), or to nobody for the last value. Workers read and
 * write their own pages only; nobody writes the other pages.
 */
static bool hot_window(unsigned long w)
{
	return w % 3 == 0;
}

static unsigned int page_owner(unsigned long page)
{
	if (!hot_window(page / win_pages))
		return NR_WORKERS;
	return page % (NR_WORKERS + 1);
}

struct race {
	char *buf;
	unsigned long nwin;
	unsigned int seed;
	unsigned int *version;	/* per page: times its owner rewrote it */
	int stop;
};

struct worker {
	pthread_t thread;
	struct race *r;
	unsigned int idx;
	unsigned int rng;
	unsigned long ops, writes, bad;
	long first_bad;
};

/*
 * A worker checks a random page of its own against its record, and every
 * other time writes it anew, until told to stop.
 */
static void *worker_main(void *arg)
{
	struct worker *wk = arg;
	struct race *r = wk->r;
	unsigned long nhot = (r->nwin + 2) / 3;
	unsigned long slots = win_pages / (NR_WORKERS + 1);

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		unsigned long w = 3 * (xorshift(&wk->rng) % nhot);
		unsigned long p = w * win_pages + wk->idx +
				  (xorshift(&wk->rng) % slots) *
				  (NR_WORKERS + 1);
		char *page = r->buf + p * page_size;
		unsigned int v = r->version[p];

		if (check_pattern(page, p, 1, r->seed + v) != -1 &&
		    !wk->bad++)
			wk->first_bad = p;
		if (xorshift(&wk->rng) & 1) {
			r->version[p] = ++v;
			fill_pattern(page, p, 1, r->seed + v);
			wk->writes++;
		}
		wk->ops++;
	}
	return NULL;
}

static void stop_workers(struct race *r, struct worker *wk, unsigned int n)
{
	unsigned int i;

	__atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < n; i++)
		pthread_join(wk[i].thread, NULL);
}

/*
 * The device is smaller than the buffer; the test thread moves it to the
 * device window after window, twice over, evicting, while the workers
 * fault their pages back and rewrite them. The "cold" windows, which no
 * worker touches, alone fill the device, so the second round evicts.
 */
TEST_F_TIMEOUT(pressure, eviction_races_cpu_faults_of_threads, SLOW_TIMEOUT)
{
	const unsigned long nwin = CAP_WINDOWS + CAP_WINDOWS / 2;
	const unsigned long npages = nwin * win_pages, rounds = 2;
	unsigned long g, k, cold_ok = 0, hot_ok = 0, hot_enoent = 0, busy = 0;
	unsigned long bad_ret = 0, bad_data = 0, bad_window = 0, p;
	struct worker wk[NR_WORKERS];
	struct hmmsim_stats st0, st;
	struct hmm_dmirror_cmd cmd;
	__u64 first_cpages = 0;
	unsigned int *seeds = malloc(npages * sizeof(*seeds));
	char *ptr = malloc(SZ_2M);
	struct race r = {
		.buf = map_aligned(npages * page_size, MADV_NOHUGEPAGE),
		.nwin = nwin,
		.seed = test_seed(_metadata->name),
		.version = calloc(npages, sizeof(unsigned int)),
	};
	unsigned int i, started = 0;
	int ret, first_ret = 0, err = 0;

	ASSERT_MAPPED(r.buf, r.version);
	ASSERT_NE(NULL, seeds);
	ASSERT_NE(NULL, ptr);
	fill_pattern(r.buf, 0, npages, r.seed);
	STATS(self->fd, &st0);

	for (i = 0; i < NR_WORKERS && !err; i++) {
		memset(&wk[i], 0, sizeof(wk[i]));
		wk[i].r = &r;
		wk[i].idx = i;
		wk[i].rng = r.seed * 2654435761u + i + 1;
		wk[i].first_bad = -1;
		err = pthread_create(&wk[i].thread, NULL, worker_main, &wk[i]);
		if (!err)
			started++;
	}
	if (err)
		stop_workers(&r, wk, started);
	ASSERT_EQ(0, err);

	progress_start();
	for (g = 0; g < rounds * nwin; g++) {
		unsigned long w = g % nwin;

		ret = dmirror(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV,
			      r.buf + w * SZ_2M, ptr, win_pages, &cmd);
		if (ret == -EBUSY) {
			busy++;
		} else if (!ret && cmd.cpages == win_pages) {
			/* What nobody writes reads back right. */
			for (k = 0; k < win_pages; k++) {
				p = w * win_pages + k;
				if (page_owner(p) == NR_WORKERS &&
				    check_pattern(ptr + k * page_size, p, 1,
						  r.seed) != -1)
					bad_data++;
			}
			if (hot_window(w))
				hot_ok++;
			else
				cold_ok++;
		} else if (ret == -ENOENT && hot_window(w)) {
			/* A worker took a page back before the read-back. */
			hot_enoent++;
		} else if (!bad_ret++) {
			first_ret = ret;
			first_cpages = cmd.cpages;
			bad_window = w;
		}
		progress("round %lu: %lu of %lu windows", g / nwin + 1, w + 1,
			 nwin);
	}
	stop_workers(&r, wk, NR_WORKERS);

	TH_LOG("windows: %lu cold ok, %lu hot ok, %lu hot -ENOENT, %lu -EBUSY",
	       cold_ok, hot_ok, hot_enoent, busy);
	ASSERT_EQ(0, bad_ret)
		TH_LOG("window %lu: MIGRATE_TO_DEV returned %d (%s), cpages %llu",
		       bad_window, first_ret, strerror(-first_ret),
		       (unsigned long long)first_cpages);
	ASSERT_EQ(0, bad_data);
	ASSERT_LT(0, cold_ok);
	for (i = 0; i < NR_WORKERS; i++) {
		TH_LOG("worker %u: %lu accesses, %lu writes", i, wk[i].ops,
		       wk[i].writes);
		ASSERT_EQ(0, wk[i].bad)
			TH_LOG("worker %u: %lu pages not as it left them, the first is page %ld",
			       i, wk[i].bad, wk[i].first_bad);
		ASSERT_LT(0, wk[i].ops);
	}
	STATS(self->fd, &st);
	ASSERT_LT(st0.evictions, st.evictions);
	ASSERT_LT(st0.cpu_faults, st.cpu_faults);

	for (p = 0; p < npages; p++)
		seeds[p] = r.seed + r.version[p];
	ASSERT_DEVICE_READ(self->fd, r.buf, 0, npages, seeds);
}

/* ---------------------------------------------- eviction racing munmap */

/* Windows w % 3 == 1 are unmapped, half a window at a time. */
static bool unmapped_window(unsigned long w)
{
	return w % 3 == 1;
}

struct unmapper {
	pthread_t thread;
	char *buf;
	unsigned long *pieces;	/* window * 2 + half, in the order to go */
	unsigned long npieces;
	unsigned long start;	/* step of the test thread to start at */
	unsigned long steps;	/* the test thread's steps so far */
	unsigned long done;	/* pieces unmapped */
	int stop;
	int err;		/* errno of the first munmap that failed */
};

/* One munmap() per step of the test thread, which keeps migrating. */
static void *unmapper_main(void *arg)
{
	struct unmapper *u = arg;
	unsigned long i;

	for (i = 0; i < u->npieces; i++) {
		unsigned long piece = u->pieces[i];

		while (__atomic_load_n(&u->steps, __ATOMIC_ACQUIRE) <
		       u->start + i) {
			if (__atomic_load_n(&u->stop, __ATOMIC_ACQUIRE))
				return NULL;
			/* Not ordering: the pace of a wait for a step. */
			usleep(200);
		}
		if (munmap(u->buf + piece / 2 * SZ_2M + piece % 2 * SZ_1M,
			   SZ_1M) && !u->err)
			u->err = errno;
		__atomic_store_n(&u->done, i + 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

TEST_F_TIMEOUT(pressure, eviction_races_munmap, SLOW_TIMEOUT)
{
	const unsigned long nwin = CAP_WINDOWS + CAP_WINDOWS / 2;
	const unsigned long npages = nwin * win_pages;
	unsigned int seed = test_seed(_metadata->name), rng = seed | 1;
	unsigned long g, w, i, n = 0, local = 0, ok = 0, gone = 0, bad = 0;
	unsigned long bad_window = 0, *pieces = calloc(nwin * 2, sizeof(long));
	unsigned int *seeds = SEEDS(npages, seed);
	unsigned char *m = malloc(win_pages);
	char *ptr = malloc(SZ_2M);
	char *buf = map_aligned(npages * page_size, MADV_NOHUGEPAGE);
	struct unmapper u = { .buf = buf, .pieces = pieces, .start = nwin };
	struct hmmsim_stats st0, st;
	struct hmm_dmirror_cmd cmd;
	__u64 first_cpages = 0;
	int ret, first_ret = 0;

	ASSERT_MAPPED(buf, pieces);
	ASSERT_NE(NULL, m);
	ASSERT_NE(NULL, ptr);
	fill_pattern(buf, 0, npages, seed);

	/* Both halves of every unmapped window, shuffled. */
	for (w = 0; w < nwin; w++) {
		if (!unmapped_window(w))
			continue;
		pieces[n++] = w * 2;
		pieces[n++] = w * 2 + 1;
	}
	for (i = n - 1; i > 0; i--) {
		unsigned long j = xorshift(&rng) % (i + 1), t = pieces[i];

		pieces[i] = pieces[j];
		pieces[j] = t;
	}
	u.npieces = n;
	STATS(self->fd, &st0);

	/*
	 * The first round fills the device; the unmapper starts with the
	 * second, and the test ends with the round in which it finished.
	 */
	ASSERT_EQ(0, pthread_create(&u.thread, NULL, unmapper_main, &u));
	progress_start();
	for (g = 0; g < 5 * nwin; g++) {
		w = g % nwin;
		if (!w && g &&
		    __atomic_load_n(&u.done, __ATOMIC_ACQUIRE) == u.npieces)
			break;
		ret = dmirror(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV,
			      buf + w * SZ_2M, ptr, win_pages, &cmd);
		if (!ret && cmd.cpages == win_pages &&
		    check_pattern(ptr, w * win_pages, win_pages, seed) == -1) {
			ok++;
		} else if (ret == -EBUSY) {
			gone++;
		} else if (unmapped_window(w) && g >= nwin &&
			   (ret == -EINVAL || ret == -EFAULT ||
			    ret == -ENOENT)) {
			/* Partly or wholly unmapped, before or meanwhile. */
			gone++;
		} else if (!bad++) {
			first_ret = ret;
			first_cpages = cmd.cpages;
			bad_window = w;
		}
		__atomic_store_n(&u.steps, g + 1, __ATOMIC_RELEASE);
		progress("round %lu: %lu of %lu windows, %lu pieces unmapped",
			 g / nwin + 1, w + 1, nwin,
			 __atomic_load_n(&u.done, __ATOMIC_ACQUIRE));
	}
	__atomic_store_n(&u.stop, 1, __ATOMIC_RELEASE);
	pthread_join(u.thread, NULL);

	TH_LOG("%lu windows moved, %lu unmapped or busy", ok, gone);
	ASSERT_EQ(0, u.err)
		TH_LOG("munmap: %s", strerror(u.err));
	ASSERT_EQ(u.npieces, u.done);
	ASSERT_EQ(0, bad)
		TH_LOG("window %lu: MIGRATE_TO_DEV returned %d (%s), cpages %llu",
		       bad_window, first_ret, strerror(-first_ret),
		       (unsigned long long)first_cpages);
	STATS(self->fd, &st);
	ASSERT_LT(st0.evictions, st.evictions);

	/*
	 * The unmapped windows are gone, device pages included: the pages in
	 * use are exactly those the remaining windows have on the device.
	 */
	for (w = 0; w < nwin; w++) {
		SNAPSHOT(self->fd, buf + w * SZ_2M, m, win_pages);
		if (unmapped_window(w))
			ASSERT_PROT(m, 0, win_pages, HMM_DMIRROR_PROT_ERROR);
		else
			local += count_private_local(m, win_pages);
	}
	ASSERT_EQ(local, st.pages_used);
	for (w = 0; w < nwin; w++) {
		if (unmapped_window(w))
			continue;
		ASSERT_DEVICE_READ(self->fd, buf + w * SZ_2M, w * win_pages,
				   win_pages, seeds);
	}
}

/* ------------------------------------------ eviction during fork and exit */

/* A thread that keeps moving windows of a buffer to the device. */
struct migrator {
	pthread_t thread;
	int fd;
	char *buf;
	char *ptr;
	unsigned long nwin;
	unsigned int seed;	/* the buffer's data, which nobody changes */
	unsigned long max_steps;
	unsigned long steps;
	unsigned long ok, enoent, busy, bad, bad_data;
	unsigned long bad_window;
	int bad_ret;
	int stop;
};

static void *migrator_main(void *arg)
{
	struct migrator *mg = arg;
	struct hmm_dmirror_cmd cmd;

	while (!__atomic_load_n(&mg->stop, __ATOMIC_ACQUIRE)) {
		unsigned long s = mg->steps, w = s % mg->nwin;
		int ret;

		if (s >= mg->max_steps) {
			/* Not ordering: idle, until told to stop. */
			usleep(10000);
			continue;
		}
		ret = dmirror(mg->fd, HMM_DMIRROR_MIGRATE_TO_DEV,
			      mg->buf + w * SZ_2M, mg->ptr, win_pages, &cmd);
		if (!ret && cmd.cpages == win_pages) {
			mg->ok++;
			if (check_pattern(mg->ptr, w * win_pages, win_pages,
					  mg->seed) != -1)
				mg->bad_data++;
		} else if (ret == -ENOENT) {
			mg->enoent++;
		} else if (ret == -EBUSY) {
			mg->busy++;
		} else if (!mg->bad++) {
			mg->bad_ret = ret;
			mg->bad_window = w;
		}
		__atomic_store_n(&mg->steps, s + 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

/*
 * Wait until the migrator has made n steps, or stopped making them: true,
 * or false if it has not after WAIT_SECONDS.
 */
static bool migrator_wait(struct migrator *mg, unsigned long n)
{
	time_t end = time(NULL) + WAIT_SECONDS;

	for (;;) {
		unsigned long s = __atomic_load_n(&mg->steps, __ATOMIC_ACQUIRE);

		if (s >= n || s >= mg->max_steps)
			return true;
		if (time(NULL) > end)
			return false;
		/* Not ordering: the pace of a loop that waits for a state. */
		usleep(1000);
	}
}

/*
 * A forked child: the buffer must hold the parent's data as of the fork;
 * then the child writes its own copy of a third of the windows, which must
 * stick without disturbing the rest. Returns its exit status.
 */
static int child_check_and_write(char *buf, unsigned long nwin,
				 unsigned int seed, unsigned int c)
{
	unsigned long w;

	for (w = 0; w < nwin; w++)
		if (check_pattern(buf + w * SZ_2M, w * win_pages, win_pages,
				  seed) != -1)
			return 1;
	for (w = c % 3; w < nwin; w += 3)
		fill_pattern(buf + w * SZ_2M, w * win_pages, win_pages,
			     seed + 100 + c);
	for (w = 0; w < nwin; w++)
		if (check_pattern(buf + w * SZ_2M, w * win_pages, win_pages,
				  w % 3 == c % 3 ? seed + 100 + c : seed) != -1)
			return 2;
	return 0;
}

/*
 * With the device full, a thread keeps moving windows to it (evicting)
 * while the test thread forks children that check the data, write their
 * copy and exit.
 */
TEST_F_TIMEOUT(pressure, eviction_during_fork_and_children_exit, SLOW_TIMEOUT)
{
	const unsigned long nwin = CAP_WINDOWS + CAP_WINDOWS / 2;
	const unsigned long npages = nwin * win_pages;
	const unsigned int nchildren = 3;
	unsigned int seed = test_seed(_metadata->name);
	unsigned int *seeds = SEEDS(npages, seed);
	unsigned char *m = malloc(npages);
	char *buf = map_aligned(npages * page_size, MADV_NOHUGEPAGE);
	struct migrator mg = {
		.fd = self->fd,
		.buf = buf,
		.ptr = malloc(SZ_2M),
		.nwin = nwin,
		.seed = seed,
		.max_steps = nwin,
	};
	struct hmmsim_stats st0, st;
	int status[3];
	pid_t pid[3];
	unsigned long w;
	unsigned int c;

	ASSERT_NE(MAP_FAILED, buf);
	ASSERT_NE(NULL, m);
	ASSERT_NE(NULL, mg.ptr);
	fill_pattern(buf, 0, npages, seed);
	progress_start();
	for (w = 0; w < nwin; w++) {
		STEP(self->fd, buf, w, mg.ptr, seed);
		progress("filling: %lu of %lu windows", w + 1, nwin);
	}
	STATS(self->fd, &st0);

	ASSERT_EQ(0, pthread_create(&mg.thread, NULL, migrator_main, &mg));
	for (c = 0; c < nchildren; c++) {
		ASSERT_TRUE(migrator_wait(&mg, 4 * (c + 1)))
			TH_LOG("the migrator made %lu of %u steps in %d s",
			       __atomic_load_n(&mg.steps, __ATOMIC_ACQUIRE),
			       4 * (c + 1), WAIT_SECONDS);
		pid[c] = fork();
		if (!pid[c])
			_exit(child_check_and_write(buf, nwin, seed, c));
	}
	for (c = 0; c < nchildren; c++)
		status[c] = wait_child(pid[c]);
	__atomic_store_n(&mg.stop, 1, __ATOMIC_RELEASE);
	pthread_join(mg.thread, NULL);

	TH_LOG("migrations during the forks: %lu ok, %lu -ENOENT, %lu -EBUSY",
	       mg.ok, mg.enoent, mg.busy);
	for (c = 0; c < nchildren; c++) {
		ASSERT_LT(0, pid[c]);
		ASSERT_EQ(0, status[c])
			TH_LOG("child %u: exit status %d", c, status[c]);
	}
	ASSERT_EQ(0, mg.bad)
		TH_LOG("window %lu: MIGRATE_TO_DEV returned %d (%s)",
		       mg.bad_window, mg.bad_ret, strerror(-mg.bad_ret));
	ASSERT_EQ(0, mg.bad_data);
	ASSERT_LT(0, mg.ok);
	STATS(self->fd, &st);
	ASSERT_LT(st0.evictions, st.evictions);

	/* The children are gone, and so are their references. */
	SNAPSHOT(self->fd, buf, m, npages);
	ASSERT_EQ(count_private_local(m, npages), st.pages_used);
	ASSERT_DEVICE_READ(self->fd, buf, 0, npages, seeds);
}

/*
 * The child of the exit test: it moves a buffer of its own to the device
 * through a file of its own, says so, and once told to go, exits with the
 * pages still there. Returns its exit status.
 */
static int child_migrate_then_exit(unsigned int id, unsigned long nwin,
				   unsigned int seed, int ready, int go)
{
	const unsigned long npages = nwin * win_pages;
	char *buf = map_aligned(npages * page_size, MADV_NOHUGEPAGE);
	unsigned char *m = malloc(npages);
	char *ptr = malloc(SZ_2M);
	struct hmm_dmirror_cmd cmd;
	int fd = open_dev(id);
	unsigned long w;
	char c;

	if (fd < 0 || buf == MAP_FAILED || !m || !ptr)
		return 10;
	fill_pattern(buf, 0, npages, seed);
	for (w = 0; w < nwin; w++) {
		if (dmirror(fd, HMM_DMIRROR_MIGRATE_TO_DEV, buf + w * SZ_2M,
			    ptr, win_pages, &cmd) || cmd.cpages != win_pages)
			return 11;
		if (check_pattern(ptr, w * win_pages, win_pages, seed) != -1)
			return 12;
	}
	if (dmirror(fd, HMM_DMIRROR_SNAPSHOT, buf, m, npages, &cmd) ||
	    count_private_local(m, npages) != npages)
		return 13;
	if (write(ready, "r", 1) != 1)
		return 14;
	if (read(go, &c, 1) != 1)
		return 15;
	return 0;
}

/*
 * Children that exit with their pages on the device, while the parent's
 * migrations evict those very pages: the child's pages go to the device
 * first, the parent fills the rest of it, tells the child to exit, and
 * goes on migrating, which evicts the least recently used chunks, the
 * child's.
 */
TEST_F_TIMEOUT(pressure, child_exits_with_pages_on_device_while_evicting,
	       SLOW_TIMEOUT)
{
	const unsigned long nwin = CAP_WINDOWS + CAP_WINDOWS / 4;
	const unsigned long npages = nwin * win_pages, child_win = 4;
	const unsigned int nchildren = 3;
	unsigned int seed = test_seed(_metadata->name);
	unsigned int *seeds = SEEDS(npages, seed);
	unsigned char *m = malloc(npages);
	char *ptr = malloc(SZ_2M);
	char *buf = map_aligned(npages * page_size, MADV_NOHUGEPAGE);
	unsigned long i, cursor = 0, ok = 0, enoent = 0, bad = 0;
	unsigned long bad_window = 0;
	struct hmmsim_stats st;
	struct hmm_dmirror_cmd cmd;
	int ret, first_ret = 0, status;
	unsigned int c;

	ASSERT_NE(MAP_FAILED, buf);
	ASSERT_NE(NULL, m);
	ASSERT_NE(NULL, ptr);
	fill_pattern(buf, 0, npages, seed);
	progress_start();

	for (c = 0; c < nchildren; c++) {
		bool reaped = false;
		int ready[2], go[2];
		char r = 0;
		pid_t pid;

		/* An empty device: the last child left nothing behind. */
		DMIRROR_RET(0, self->fd, HMM_DMIRROR_RELEASE, buf, NULL,
			    npages);
		STATS(self->fd, &st);
		ASSERT_EQ(0, st.pages_used)
			TH_LOG("before child %u", c);

		ASSERT_EQ(0, pipe(ready));
		ASSERT_EQ(0, pipe(go));
		pid = fork();
		if (!pid) {
			close(ready[0]);
			close(go[1]);
			_exit(child_migrate_then_exit(self->dev.id, child_win,
						      seed + 1000 + c, ready[1],
						      go[0]));
		}
		ASSERT_LT(0, pid);
		close(ready[1]);
		close(go[0]);
		if (read(ready[0], &r, 1) != 1) {
			status = wait_child(pid);
			ASSERT_EQ('r', r)
				TH_LOG("child %u exited with %d before moving its data",
				       c, status);
		}

		/* Fill the device, then evict while the child exits. */
		for (i = 0; i < 3 * CAP_WINDOWS && !reaped; i++) {
			unsigned long w = cursor++ % nwin;

			if (i == CAP_WINDOWS - child_win)
				ASSERT_EQ(1, write(go[1], "g", 1));
			ret = dmirror(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV,
				      buf + w * SZ_2M, ptr, win_pages, &cmd);
			if (!ret && cmd.cpages == win_pages &&
			    check_pattern(ptr, w * win_pages, win_pages,
					  seed) == -1) {
				ok++;
			} else if (ret == -ENOENT || ret == -EBUSY) {
				enoent++;
			} else if (!bad++) {
				first_ret = ret;
				bad_window = w;
			}
			if (i >= CAP_WINDOWS + child_win &&
			    waitpid(pid, &status, WNOHANG) == pid)
				reaped = true;
		}
		if (!reaped && waitpid(pid, &status, 0) != pid)
			status = -1;
		close(ready[0]);
		close(go[1]);
		ASSERT_TRUE(WIFEXITED(status))
			TH_LOG("child %u: status %#x", c, status);
		ASSERT_EQ(0, WEXITSTATUS(status))
			TH_LOG("child %u: exit status %d", c,
			       WEXITSTATUS(status));
		progress("%u of %u children done", c + 1, nchildren);
	}
	TH_LOG("parent's migrations: %lu ok, %lu -ENOENT or -EBUSY", ok,
	       enoent);
	ASSERT_EQ(0, bad)
		TH_LOG("window %lu: MIGRATE_TO_DEV returned %d (%s)",
		       bad_window, first_ret, strerror(-first_ret));
	ASSERT_LT(0, ok);

	STATS(self->fd, &st);
	ASSERT_LT(0, st.evictions);
	SNAPSHOT(self->fd, buf, m, npages);
	ASSERT_EQ(count_private_local(m, npages), st.pages_used);
	ASSERT_DEVICE_READ(self->fd, buf, 0, npages, seeds);
	DMIRROR_RET(0, self->fd, HMM_DMIRROR_RELEASE, buf, NULL, npages);
	STATS(self->fd, &st);
	ASSERT_EQ(0, st.pages_used);
}

/* ------------------------------------- eviction racing the last unmap */

/*
 * Rounds of the races below, each a fresh chance to hit the window:
 * $HMMSIM_RACE_ROUNDS, or this many (make stress runs more).
 */
#define RACE_ROUNDS	24
/* Windows of the raced buffer, and of the filler that evicts it. */
#define RACE_WIN	4

static unsigned int race_rounds(void)
{
	const char *env = getenv("HMMSIM_RACE_ROUNDS");

	return env && atoi(env) > 0 ? atoi(env) : RACE_ROUNDS;
}

/*
 * Fill the device from its LRU end, which evicts the raced buffer's
 * chunks if anything can: every window of @filler to the device. Counts
 * the migrations that failed for want of room, which are expected while
 * the raced pages cannot move; any other error is returned at once.
 */
static int fill_device(int fd, char *filler, char *ptr, unsigned long *full)
{
	struct hmm_dmirror_cmd cmd;
	unsigned long w;
	int ret;

	for (w = 0; w < CAP_WINDOWS; w++) {
		ret = dmirror(fd, HMM_DMIRROR_MIGRATE_TO_DEV,
			      filler + w * SZ_2M, ptr, win_pages, &cmd);
		if (ret == -ENOMEM || ret == -ENOENT || ret == -EBUSY)
			(*full)++;
		else if (ret)
			return ret;
	}
	return 0;
}

/*
 * Device READ of every window of @filler, one page of every 64 KiB: the
 * chunks holding its pages on the device become the most recently used,
 * so that what went to the device before is evicted first.
 */
static int touch_filler(int fd, char *filler, char *ptr)
{
	struct hmm_dmirror_cmd cmd;
	unsigned long off;
	int ret;

	for (off = 0; off < DEV_CAPACITY; off += 16 * page_size) {
		ret = dmirror(fd, HMM_DMIRROR_READ, filler + off, ptr, 1, &cmd);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * The child of the race below: it shares the parent's buffer, which only
 * it maps once the parent has unmapped its own; told to go, it reads its
 * data back in odd rounds (CPU faults racing the eviction) and unmaps the
 * buffer. Returns its exit status.
 */
static int child_unmap_on_go(char *buf, unsigned int seed, unsigned int r,
			     int go)
{
	char c;

	if (read(go, &c, 1) != 1)
		return 1;
	if ((r & 1) &&
	    check_pattern(buf, 0, RACE_WIN * win_pages, seed) != -1)
		return 2;
	return munmap(buf, RACE_WIN * SZ_2M) ? 3 : 0;
}

/*
 * After a race: nothing of the raced pages is left, so the filler fits the
 * device whole; its pages all there, every byte right.
 */
#define ASSERT_FILLER_ALONE(fd, filler, ptr, seeds) \
	assert_filler_alone(_metadata, __LINE__, fd, filler, ptr, seeds)

static void assert_filler_alone(struct __test_metadata *_metadata, int line,
				int fd, char *filler, char *ptr,
				const unsigned int *seeds)
{
	const unsigned long fill_pages = CAP_WINDOWS * win_pages;
	unsigned char *m = malloc(fill_pages);
	struct hmmsim_stats st;
	unsigned long full = 0;

	ASSERT_NE(NULL, m);
	ASSERT_EQ(0, fill_device(fd, filler, ptr, &full))
		TH_LOG("line %d", line);
	SNAPSHOT(fd, filler, m, fill_pages);
	STATS(fd, &st);
	ASSERT_EQ(fill_pages, count_private_local(m, fill_pages))
		TH_LOG("line %d", line);
	ASSERT_EQ(fill_pages, st.pages_used)
		TH_LOG("line %d", line);
	assert_device_read(_metadata, line, fd, filler, 0, fill_pages, seeds);
	free(m);
}

/*
 * Device pages that only a forked child maps, because the parent that
 * moved them there unmapped its copy, are evicted while the child unmaps
 * them: eviction must not run without an address space that keeps their
 * anon_vma alive (KASAN reported a use-after-free in rmap_walk_anon here).
 * The device is full, and the child's pages are its least recently used,
 * the first the filler's migrations try to evict. They cannot be evicted
 * then; once the child is gone the device holds the filler alone, every
 * byte of it right.
 */
TEST_F_TIMEOUT(pressure, eviction_races_unmap_of_pages_only_a_child_maps,
	       SLOW_TIMEOUT)
{
	const unsigned long fill_pages = CAP_WINDOWS * win_pages;
	unsigned int seed = test_seed(_metadata->name);
	unsigned int *seeds = SEEDS(fill_pages, seed);
	char *filler = map_aligned(DEV_CAPACITY, MADV_NOHUGEPAGE);
	char *ptr = malloc(SZ_2M);
	unsigned long full = 0, w;
	unsigned int r, rounds = race_rounds();

	ASSERT_NE(MAP_FAILED, filler);
	ASSERT_NE(NULL, ptr);
	fill_pattern(filler, 0, fill_pages, seed);
	progress_start();
	ASSERT_EQ(0, fill_device(self->fd, filler, ptr, &full));
	for (r = 0; r < rounds; r++) {
		char *buf = map_aligned(RACE_WIN * SZ_2M, MADV_NOHUGEPAGE);
		int go[2], status;
		pid_t pid;

		ASSERT_NE(MAP_FAILED, buf);
		fill_pattern(buf, 0, RACE_WIN * win_pages, seed + 1 + r);
		for (w = 0; w < RACE_WIN; w++)
			STEP(self->fd, buf, w, ptr, seed + 1 + r);
		ASSERT_EQ(0, touch_filler(self->fd, filler, ptr));
		ASSERT_EQ(0, pipe(go));
		pid = fork();
		if (!pid) {
			close(go[1]);
			_exit(child_unmap_on_go(buf, seed + 1 + r, r, go[0]));
		}
		ASSERT_LT(0, pid);
		close(go[0]);
		ASSERT_EQ(0, munmap(buf, RACE_WIN * SZ_2M));
		ASSERT_EQ(1, write(go[1], "g", 1));
		ASSERT_EQ(0, fill_device(self->fd, filler, ptr, &full));
		status = wait_child(pid);
		close(go[1]);
		ASSERT_EQ(0, status)
			TH_LOG("round %u: child exit status %d", r, status);
		progress("%u of %u rounds", r + 1, rounds);
	}
	TH_LOG("filler migrations without room: %lu", full);

	/* Nothing of the children's is left: the filler fits whole. */
	ASSERT_FILLER_ALONE(self->fd, filler, ptr, seeds);
}

/*
 * The child of the next race: it moves a buffer to the device through a
 * file of its own and closes the file, which leaves the pages there
 * (evict_on_close=N), says so, and then does what child_unmap_on_go()
 * does. Returns its exit status.
 */
static int child_close_then_unmap(unsigned int id, unsigned int seed,
				  unsigned int r, int ready, int go)
{
	const unsigned long npages = RACE_WIN * win_pages;
	char *buf = map_aligned(RACE_WIN * SZ_2M, MADV_NOHUGEPAGE);
	char *ptr = malloc(RACE_WIN * SZ_2M);
	struct hmm_dmirror_cmd cmd;
	int fd = open_dev(id);

	if (fd < 0 || buf == MAP_FAILED || !ptr)
		return 10;
	fill_pattern(buf, 0, npages, seed);
	if (dmirror(fd, HMM_DMIRROR_MIGRATE_TO_DEV, buf, ptr, npages, &cmd) ||
	    cmd.cpages != npages)
		return 11;
	if (close(fd) || write(ready, "r", 1) != 1)
		return 12;
	return child_unmap_on_go(buf, seed, r, go);
}

/*
 * Pages of a file closed with evict_on_close=N belong to no open file,
 * but still to their process: it unmaps them while another process's
 * migrations evict them, the least recently used pages of a full device.
 */
TEST_F_TIMEOUT(pressure, eviction_races_unmap_of_pages_of_a_closed_file,
	       SLOW_TIMEOUT)
{
	const unsigned long fill_pages = CAP_WINDOWS * win_pages;
	unsigned int seed = test_seed(_metadata->name);
	unsigned int *seeds = SEEDS(fill_pages, seed);
	char *filler = map_aligned(DEV_CAPACITY, MADV_NOHUGEPAGE);
	char *ptr = malloc(SZ_2M);
	unsigned long full = 0;
	unsigned int r, rounds = race_rounds();

	ASSERT_NE(MAP_FAILED, filler);
	ASSERT_NE(NULL, ptr);
	self->eoc_was = evict_on_close_param();
	ASSERT_LE(0, self->eoc_was);
	ASSERT_EQ(0, write_file(MODULE_PARAMS "/evict_on_close", "0"));
	fill_pattern(filler, 0, fill_pages, seed);
	progress_start();
	ASSERT_EQ(0, fill_device(self->fd, filler, ptr, &full));
	for (r = 0; r < rounds; r++) {
		int ready[2], go[2], status;
		char c = 0;
		pid_t pid;

		ASSERT_EQ(0, pipe(ready));
		ASSERT_EQ(0, pipe(go));
		pid = fork();
		if (!pid) {
			close(ready[0]);
			close(go[1]);
			_exit(child_close_then_unmap(self->dev.id, seed + 1 + r,
						     r, ready[1], go[0]));
		}
		ASSERT_LT(0, pid);
		close(ready[1]);
		close(go[0]);
		if (read(ready[0], &c, 1) == 1) {
			ASSERT_EQ(0, touch_filler(self->fd, filler, ptr));
			ASSERT_EQ(1, write(go[1], "g", 1));
		}
		ASSERT_EQ(0, fill_device(self->fd, filler, ptr, &full));
		status = wait_child(pid);
		close(ready[0]);
		close(go[1]);
		ASSERT_EQ(0, status)
			TH_LOG("round %u: child exit status %d", r, status);
		progress("%u of %u rounds", r + 1, rounds);
	}
	TH_LOG("filler migrations without room: %lu", full);

	ASSERT_FILLER_ALONE(self->fd, filler, ptr, seeds);
}

/*
 * Powering the device off, which must move every page home, while the only
 * process that maps some of them, a forked child, unmaps them: removal
 * finds them by sweeping the processes' address spaces, under their mmap
 * locks, or waits for the unmap to free them; never neither.
 */
TEST_F_TIMEOUT(pressure, power_off_races_unmap_of_pages_only_a_child_maps,
	       SLOW_TIMEOUT)
{
	const unsigned long npages = RACE_WIN * win_pages;
	unsigned int seed = test_seed(_metadata->name);
	unsigned int r, rounds = race_rounds();
	char *ptr = malloc(SZ_2M);

	ASSERT_NE(NULL, ptr);
	progress_start();
	for (r = 0; r < rounds; r++) {
		char *buf = map_aligned(RACE_WIN * SZ_2M, MADV_NOHUGEPAGE);
		int go[2], status;
		unsigned long w;
		pid_t pid;

		ASSERT_NE(MAP_FAILED, buf);
		fill_pattern(buf, 0, npages, seed + r);
		for (w = 0; w < RACE_WIN; w++)
			STEP(self->fd, buf, w, ptr, seed + r);
		ASSERT_EQ(0, pipe(go));
		pid = fork();
		if (!pid) {
			close(go[1]);
			_exit(child_unmap_on_go(buf, seed + r, r, go[0]));
		}
		ASSERT_LT(0, pid);
		close(go[0]);
		ASSERT_EQ(0, munmap(buf, RACE_WIN * SZ_2M));
		ASSERT_EQ(1, write(go[1], "g", 1));
		ASSERT_EQ(0, cfs_write(&self->dev, "power", "0"));
		status = wait_child(pid);
		close(go[1]);
		ASSERT_EQ(0, status)
			TH_LOG("round %u: child exit status %d", r, status);
		ASSERT_EQ(0, close(self->fd));
		self->fd = -1;
		ASSERT_EQ(0, cfs_power_on(&self->dev));
		self->fd = open_dev_wait(self->dev.id);
		ASSERT_LE(0, self->fd);
		progress("%u of %u rounds", r + 1, rounds);
	}
}

/* ------------------------------------------------------------ counters */

TEST_F_TIMEOUT(pressure, stats_start_at_zero, SHORT_TIMEOUT)
{
	struct hmmsim_stats st;
	__u64 *outs[] = {
		&st.to_device, &st.from_device, &st.cpu_faults,
		&st.device_faults, &st.invalidations, &st.evictions,
		&st.bytes_copied, &st.alloc_failures, &st.pages_used,
		&st.uring_inflight,
	};
	size_t i;

	memset(&st, 0, sizeof(st));
	st.size = sizeof(st);
	for (i = 0; i < ARRAY_SIZE(outs); i++)
		*outs[i] = GARBAGE;
	ASSERT_EQ(0, xioctl(self->fd, HMMSIM_IOCTL_STATS, &st));
	ASSERT_EQ(sizeof(st), st.size);
	ASSERT_EQ(0, st.flags);
	for (i = 0; i < ARRAY_SIZE(outs); i++)
		ASSERT_EQ(0, *outs[i])
			TH_LOG("output %zu of the struct", i);
	for (i = 0; i < ARRAY_SIZE(st.reserved); i++)
		ASSERT_EQ(0, st.reserved[i]);
}

TEST_F_TIMEOUT(pressure, stats_count_migration_to_device_and_back,
	       SHORT_TIMEOUT)
{
	const unsigned long n = 100;
	char *buf, *ptr;
	unsigned int seed = WINDOW_BUFFERS(&buf, &ptr, n);
	struct hmm_dmirror_cmd cmd;
	struct hmmsim_stats st;

	MIGRATE_OK(self->fd, buf, ptr, n);
	ASSERT_PATTERN(ptr, 0, n, seed);
	STATS(self->fd, &st);
	ASSERT_EQ(n, st.to_device);
	ASSERT_EQ(n, st.pages_used);
	ASSERT_LE(n * page_size, st.bytes_copied);
	ASSERT_EQ(0, st.from_device);
	ASSERT_EQ(0, st.cpu_faults);
	ASSERT_EQ(0, st.evictions);
	ASSERT_EQ(0, st.alloc_failures);

	/* Already there: nothing moves, nothing more is used. */
	DMIRROR_RET(0, self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, buf, ptr, n);
	STATS(self->fd, &st);
	ASSERT_EQ(n, st.to_device);
	ASSERT_EQ(n, st.pages_used);

	DMIRROR_OK(self->fd, HMM_DMIRROR_MIGRATE_TO_SYS, buf, ptr, n, &cmd);
	STATS(self->fd, &st);
	ASSERT_EQ(n, st.to_device);
	ASSERT_EQ(n, st.from_device);
	ASSERT_EQ(0, st.pages_used);
	ASSERT_LE(2 * n * page_size, st.bytes_copied);
	ASSERT_EQ(0, st.cpu_faults);
	ASSERT_PATTERN(buf, 0, n, seed);
}

TEST_F_TIMEOUT(pressure, stats_count_device_faults, SHORT_TIMEOUT)
{
	const unsigned long n = 100;
	char *buf, *ptr;
	unsigned int seed = WINDOW_BUFFERS(&buf, &ptr, n);
	struct hmm_dmirror_cmd cmd;
	struct hmmsim_stats st0, st;

	STATS(self->fd, &st0);
	DMIRROR_OK(self->fd, HMM_DMIRROR_READ, buf, ptr, n, &cmd);
	ASSERT_LE(1, cmd.faults);
	ASSERT_PATTERN(ptr, 0, n, seed);
	STATS(self->fd, &st);
	ASSERT_LE(st0.device_faults + 1, st.device_faults);
	ASSERT_LE(st0.device_faults + cmd.faults, st.device_faults);
	ASSERT_EQ(0, st.to_device);
	ASSERT_EQ(0, st.pages_used);

	/* Mapped now: a second READ takes no fault. */
	st0 = st;
	ASSERT_EQ(0, dmirror(self->fd, HMM_DMIRROR_READ, buf, ptr, n, &cmd));
	ASSERT_EQ(0, cmd.faults);
	STATS(self->fd, &st);
	ASSERT_EQ(st0.device_faults, st.device_faults);
}

TEST_F_TIMEOUT(pressure, stats_count_cpu_fault_and_window_brought_back,
	       SHORT_TIMEOUT)
{
	const unsigned long n = 64;
	char *buf, *ptr;
	unsigned int seed = WINDOW_BUFFERS(&buf, &ptr, n);
	unsigned char m[64];
	struct hmmsim_stats st0, st;
	unsigned long left;

	MIGRATE_OK(self->fd, buf, ptr, n);
	STATS(self->fd, &st0);
	ASSERT_EQ(0, st0.cpu_faults);

	ASSERT_EQ(pattern(10, 0, seed), cpu_read(buf + 10 * page_size));
	STATS(self->fd, &st);
	ASSERT_EQ(1, st.cpu_faults);
	ASSERT_LT(st0.from_device, st.from_device);
	SNAPSHOT(self->fd, buf, m, n);
	ASSERT_NE(PRIV_LOCAL, m[10]);
	left = count_private_local(m, n);
	ASSERT_EQ(n - left, st.from_device - st0.from_device);
	ASSERT_EQ(left, st.pages_used);
	ASSERT_PATTERN(buf, 0, n, seed);
}

TEST_F_TIMEOUT(pressure, stats_count_invalidations_on_munmap, SHORT_TIMEOUT)
{
	const unsigned long n = 16;
	struct hmmsim_stats st0, st;
	char *buf, *ptr;

	WINDOW_BUFFERS(&buf, &ptr, n);
	DMIRROR_OK(self->fd, HMM_DMIRROR_READ, buf, ptr, n, NULL);
	STATS(self->fd, &st0);
	ASSERT_EQ(0, munmap(buf, SZ_2M));
	STATS(self->fd, &st);
	ASSERT_LT(st0.invalidations, st.invalidations);
}

TEST_F_TIMEOUT(pressure, stats_count_evictions, MEDIUM_TIMEOUT)
{
	unsigned int seed = test_seed(_metadata->name);
	const unsigned long nwin = CAP_WINDOWS + 1;
	char *buf = map_aligned(nwin * SZ_2M, MADV_NOHUGEPAGE);
	char *ptr = malloc(SZ_2M);
	struct hmmsim_stats st;
	unsigned long w;

	ASSERT_BUFFERS(buf, ptr, nwin * win_pages, seed);
	for (w = 0; w < nwin; w++) {
		STEP(self->fd, buf, w, ptr, seed);
		STATS(self->fd, &st);
		if (w < CAP_WINDOWS)
			ASSERT_EQ(0, st.evictions);
	}
	ASSERT_LT(0, st.evictions);
	ASSERT_LE(st.evictions, st.from_device);
	ASSERT_EQ(nwin * win_pages, st.to_device);
	ASSERT_EQ(st.pages_used, st.to_device - st.from_device);
	ASSERT_GE(DEV_CAPACITY / page_size, st.pages_used);
	ASSERT_EQ(0, st.alloc_failures);
	ASSERT_PATTERN(buf, 0, nwin * win_pages, seed);
}

TEST_F_TIMEOUT(pressure, stats_count_alloc_failures_of_flag_fail_alloc,
	       SHORT_TIMEOUT)
{
	const unsigned long n = 16;
	char *buf, *ptr;
	unsigned int seed = WINDOW_BUFFERS(&buf, &ptr, n);
	struct hmmsim_stats st0, st;

	STATS(self->fd, &st0);
	DMIRROR_RET(0, self->fd, HMM_DMIRROR_FLAGS, NULL, NULL,
		    HMM_DMIRROR_FLAG_FAIL_ALLOC);
	/* The first attempt fails; the fallback moves every page. */
	MIGRATE_OK(self->fd, buf, ptr, n);
	ASSERT_PATTERN(ptr, 0, n, seed);
	STATS(self->fd, &st);
	ASSERT_EQ(st0.alloc_failures + 1, st.alloc_failures);
	ASSERT_EQ(n, st.to_device);
	ASSERT_EQ(n, st.pages_used);

	/* The flag is spent: the next window fails nothing. */
	fill_pattern(buf + n * page_size, n, n, seed);
	MIGRATE_OK(self->fd, buf + n * page_size, ptr, n);
	ASSERT_PATTERN(ptr, n, n, seed);
	st0 = st;
	STATS(self->fd, &st);
	ASSERT_EQ(st0.alloc_failures, st.alloc_failures);
	ASSERT_EQ(2 * n, st.to_device);
}

/* ------------------------------------------------- counters: bad input */

/* A struct hmmsim_stats in a raw buffer, outputs set to garbage. */
static void stats_args(unsigned char *raw, __u32 size)
{
	struct hmmsim_stats *st = (struct hmmsim_stats *)raw;

	memset(st, 0, sizeof(*st));
	st->size = size;
	st->to_device = GARBAGE;
	st->pages_used = GARBAGE;
	st->evictions = GARBAGE;
	st->uring_inflight = GARBAGE;
	st->fault_batches = GARBAGE;
	st->thrash_remote = GARBAGE;
}

/* The outputs stats_args() set were not written. */
#define ASSERT_STATS_UNWRITTEN(raw) do { \
	const struct hmmsim_stats *__st = (const void *)(raw); \
	ASSERT_EQ(GARBAGE, __st->to_device); \
	ASSERT_EQ(GARBAGE, __st->pages_used); \
	ASSERT_EQ(GARBAGE, __st->evictions); \
	ASSERT_EQ(GARBAGE, __st->uring_inflight); \
	ASSERT_EQ(GARBAGE, __st->fault_batches); \
	ASSERT_EQ(GARBAGE, __st->thrash_remote); \
} while (0)

TEST_F_TIMEOUT(pressure, stats_size_below_version0_is_einval, SHORT_TIMEOUT)
{
	static const __u32 sizes[] = {
		0, 1, 4, 8, 16, 64, HMMSIM_STATS_SIZE_VER0 - 8,
		HMMSIM_STATS_SIZE_VER0 - 1,
	};
	struct hmmsim_stats st;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		stats_args((unsigned char *)&st, sizes[i]);
		ASSERT_EQ(-EINVAL, xioctl(self->fd, HMMSIM_IOCTL_STATS, &st))
			TH_LOG("size %u", sizes[i]);
		ASSERT_STATS_UNWRITTEN(&st);
	}
}

TEST_F_TIMEOUT(pressure, stats_nonzero_flags_is_einval, SHORT_TIMEOUT)
{
	static const __u32 flags[] = { 1, 2, 1U << 31, ~0U };
	struct hmmsim_stats st;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(flags); i++) {
		stats_args((unsigned char *)&st, sizeof(st));
		st.flags = flags[i];
		ASSERT_EQ(-EINVAL, xioctl(self->fd, HMMSIM_IOCTL_STATS, &st))
			TH_LOG("flags %#x", flags[i]);
		ASSERT_STATS_UNWRITTEN(&st);
	}
}

TEST_F_TIMEOUT(pressure, stats_nonzero_reserved_is_einval, SHORT_TIMEOUT)
{
	static const __u64 values[] = { 1, 1ULL << 63 };
	struct hmmsim_stats st;
	size_t i, j;

	for (i = 0; i < ARRAY_SIZE(st.reserved); i++) {
		for (j = 0; j < ARRAY_SIZE(values); j++) {
			stats_args((unsigned char *)&st, sizeof(st));
			st.reserved[i] = values[j];
			ASSERT_EQ(-EINVAL, xioctl(self->fd, HMMSIM_IOCTL_STATS,
						  &st))
				TH_LOG("reserved[%zu] = %#llx", i,
				       (unsigned long long)values[j]);
			ASSERT_STATS_UNWRITTEN(&st);
		}
	}
}

/*
 * Fields the driver does not know about must be zero: past version 4's
 * struct, the last the driver knows. (Version 4's own fields, past version
 * 3's, are outputs: stats_args() puts garbage in two of them.)
 */
TEST_F_TIMEOUT(pressure, stats_nonzero_tail_is_e2big, SHORT_TIMEOUT)
{
	static const struct {
		__u32 size;
		__u32 offset;	/* of the nonzero byte */
		unsigned char value;
	} cases[] = {
		{ HMMSIM_STATS_SIZE_VER4 + 1, HMMSIM_STATS_SIZE_VER4, 1 },
		{ HMMSIM_STATS_SIZE_VER4 + 8, HMMSIM_STATS_SIZE_VER4, 0x80 },
		{ HMMSIM_STATS_SIZE_VER4 + 8, HMMSIM_STATS_SIZE_VER4 + 7, 1 },
		{ STATS_SIZE_MAX, 1000, 0xff },
		{ STATS_SIZE_MAX, STATS_SIZE_MAX - 1, 1 },
	};
	unsigned char *raw = calloc(1, STATS_SIZE_MAX);
	size_t i;

	ASSERT_NE(NULL, raw);
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		memset(raw, 0, STATS_SIZE_MAX);
		stats_args(raw, cases[i].size);
		raw[cases[i].offset] = cases[i].value;
		ASSERT_EQ(-E2BIG, xioctl(self->fd, HMMSIM_IOCTL_STATS, raw))
			TH_LOG("size %u, byte %u is %#x", cases[i].size,
			       cases[i].offset, cases[i].value);
		ASSERT_STATS_UNWRITTEN(raw);
	}
	free(raw);
}

/* A caller built with a larger struct: its zero tail is accepted. */
TEST_F_TIMEOUT(pressure, stats_larger_struct_with_zero_tail_is_accepted,
	       SHORT_TIMEOUT)
{
	static const __u32 sizes[] = {
		HMMSIM_STATS_SIZE_VER4 + 1, HMMSIM_STATS_SIZE_VER4 + 8, 1024,
		STATS_SIZE_MAX,
	};
	unsigned int seed = test_seed(_metadata->name);
	unsigned char *raw = calloc(1, STATS_SIZE_MAX);
	struct hmmsim_stats *st = (struct hmmsim_stats *)raw;
	char *buf = map_aligned(SZ_2M, MADV_NOHUGEPAGE);
	char *ptr = malloc(8 * page_size);
	size_t i;

	ASSERT_NE(NULL, raw);
	ASSERT_BUFFERS(buf, ptr, 8, seed);
	DMIRROR_RET(0, self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, buf, ptr, 8);
	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		memset(raw, 0, STATS_SIZE_MAX);
		stats_args(raw, sizes[i]);
		ASSERT_EQ(0, xioctl(self->fd, HMMSIM_IOCTL_STATS, raw))
			TH_LOG("size %u", sizes[i]);
		ASSERT_EQ(sizes[i], st->size);
		ASSERT_EQ(8, st->to_device);
		ASSERT_EQ(8, st->pages_used);
		ASSERT_EQ(0, st->evictions);
		ASSERT_EQ(0, st->uring_inflight);
		ASSERT_BYTES(raw + sizeof(*st), STATS_SIZE_MAX - sizeof(*st),
			     0);
	}
	free(raw);
}

/*
 * A caller whose struct is @size bytes (a version's size) gets that
 * version's fields, and nothing written past them.
 */
static void stats_size_writes_no_further(struct __test_metadata *_metadata,
					 int fd, __u32 size)
{
	unsigned char *raw = malloc(STATS_SIZE_MAX);
	struct hmmsim_stats *st = (struct hmmsim_stats *)raw;

	ASSERT_NE(NULL, raw);
	memset(raw, UNTOUCHED, STATS_SIZE_MAX);
	stats_args(raw, size);
	/* What lies past the caller's struct is not the caller's. */
	memset(raw + size, UNTOUCHED, STATS_SIZE_MAX - size);
	ASSERT_EQ(0, xioctl(fd, HMMSIM_IOCTL_STATS, raw));
	ASSERT_EQ(size, st->size);
	ASSERT_EQ(0, st->to_device);
	ASSERT_EQ(0, st->pages_used);
	ASSERT_EQ(0, st->evictions);
	if (size >= HMMSIM_STATS_SIZE_VER1)
		ASSERT_EQ(0, st->uring_inflight);
	if (size >= HMMSIM_STATS_SIZE_VER2) {
		ASSERT_EQ(0, st->memory_errors);
		ASSERT_EQ(0, st->pages_retired);
	}
	if (size >= HMMSIM_STATS_SIZE_VER3)
		ASSERT_EQ(0, st->close_evictions);
	if (size >= HMMSIM_STATS_SIZE_VER4) {
		ASSERT_EQ(0, st->fault_batches);
		ASSERT_EQ(0, st->thrash_remote);
	}
	ASSERT_BYTES(raw + size, STATS_SIZE_MAX - size, UNTOUCHED);
	free(raw);
}

/* Version 0's uring_inflight is past the caller's struct. */
TEST_F_TIMEOUT(pressure, stats_version0_size_writes_no_further, SHORT_TIMEOUT)
{
	stats_size_writes_no_further(_metadata, self->fd,
				     HMMSIM_STATS_SIZE_VER0);
}

TEST_F_TIMEOUT(pressure, stats_version1_size_writes_no_further, SHORT_TIMEOUT)
{
	stats_size_writes_no_further(_metadata, self->fd,
				     HMMSIM_STATS_SIZE_VER1);
}

TEST_F_TIMEOUT(pressure, stats_version2_size_writes_no_further, SHORT_TIMEOUT)
{
	stats_size_writes_no_further(_metadata, self->fd,
				     HMMSIM_STATS_SIZE_VER2);
}

TEST_F_TIMEOUT(pressure, stats_version3_size_writes_no_further, SHORT_TIMEOUT)
{
	stats_size_writes_no_further(_metadata, self->fd,
				     HMMSIM_STATS_SIZE_VER3);
}

TEST_F_TIMEOUT(pressure, stats_version4_size_writes_no_further, SHORT_TIMEOUT)
{
	stats_size_writes_no_further(_metadata, self->fd,
				     HMMSIM_STATS_SIZE_VER4);
}

/*
 * With every counter of version 4 that a stream moves non-zero (a stream
 * under migrate on first touch, one under access counters), a caller of
 * each version gets exactly the fields of its version, those of a full
 * read, and nothing past them.
 */
TEST_F_TIMEOUT(pressure, stats_each_version_gets_its_fields, SHORT_TIMEOUT)
{
	static const __u32 sizes[] = {
		HMMSIM_STATS_SIZE_VER0, HMMSIM_STATS_SIZE_VER1,
		HMMSIM_STATS_SIZE_VER2, HMMSIM_STATS_SIZE_VER3,
		HMMSIM_STATS_SIZE_VER4,
	};
	const unsigned long npages = 16;
	char *buf = map_aligned(SZ_2M, MADV_NOHUGEPAGE);
	unsigned char *raw = malloc(STATS_SIZE_MAX);
	struct hmmsim_policy pol = { .size = sizeof(pol) };
	struct hmmsim_access acc;
	struct hmmsim_stats full;
	size_t i;

	ASSERT_NE(MAP_FAILED, buf);
	ASSERT_NE(NULL, raw);
	memset(buf, 1, npages * page_size);
	ASSERT_EQ(0, xioctl(self->fd, HMMSIM_IOCTL_GET_POLICY, &pol));

	/* Migrate on first touch: the first 8 pages move when faulted. */
	pol.migrate = HMMSIM_POLICY_FIRST_TOUCH;
	ASSERT_EQ(0, xioctl(self->fd, HMMSIM_IOCTL_SET_POLICY, &pol));
	acc = (struct hmmsim_access){
		.size = sizeof(acc), .addr = (unsigned long)buf, .npages = 8,
		.pattern = HMMSIM_PATTERN_SEQUENTIAL, .count = 16,
	};
	ASSERT_EQ(0, xioctl(self->fd, HMMSIM_IOCTL_ACCESS, &acc));
	ASSERT_EQ(16, acc.done);

	/* Access counters: the last 8 pages move after 2 remote accesses. */
	pol.migrate = HMMSIM_POLICY_COUNTERS;
	pol.counter_threshold = 2;
	ASSERT_EQ(0, xioctl(self->fd, HMMSIM_IOCTL_SET_POLICY, &pol));
	acc = (struct hmmsim_access){
		.size = sizeof(acc),
		.addr = (unsigned long)buf + 8 * page_size, .npages = 8,
		.pattern = HMMSIM_PATTERN_SEQUENTIAL, .count = 32,
	};
	ASSERT_EQ(0, xioctl(self->fd, HMMSIM_IOCTL_ACCESS, &acc));
	ASSERT_EQ(32, acc.done);

	STATS(self->fd, &full);
	ASSERT_LT(0, full.fault_batches);
	ASSERT_LT(0, full.fault_migrations);
	ASSERT_LT(0, full.remote_accesses);
	ASSERT_LT(0, full.counter_migrations);
	ASSERT_EQ(npages, full.to_device);

	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		memset(raw, UNTOUCHED, STATS_SIZE_MAX);
		stats_args(raw, sizes[i]);
		memset(raw + sizes[i], UNTOUCHED, STATS_SIZE_MAX - sizes[i]);
		ASSERT_EQ(0, xioctl(self->fd, HMMSIM_IOCTL_STATS, raw))
			TH_LOG("size %u", sizes[i]);
		/* size, then the counters of that version, as read in full. */
		ASSERT_EQ(sizes[i], ((struct hmmsim_stats *)raw)->size);
		ASSERT_EQ(0, memcmp(raw + 4, (unsigned char *)&full + 4,
				    sizes[i] - 4))
			TH_LOG("size %u: not the fields of a full read",
			       sizes[i]);
		ASSERT_BYTES(raw + sizes[i], STATS_SIZE_MAX - sizes[i],
			     UNTOUCHED);
	}
	free(raw);
}

TEST_F_TIMEOUT(pressure, stats_bad_pointer_is_efault, SHORT_TIMEOUT)
{
	char *pages = mmap(NULL, 2 * page_size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct hmmsim_stats *st;

	ASSERT_NE(MAP_FAILED, pages);
	ASSERT_EQ(-EFAULT, xioctl(self->fd, HMMSIM_IOCTL_STATS, NULL));
	ASSERT_EQ(-EFAULT, xioctl(self->fd, HMMSIM_IOCTL_STATS,
				  (void *)0xffff888000000000UL));

	/* The size can be read, the rest of the struct cannot. */
	st = (struct hmmsim_stats *)(pages + page_size - 8);
	memset(pages + page_size - 8, 0, 8);
	st->size = sizeof(*st);
	ASSERT_EQ(0, mprotect(pages + page_size, page_size, PROT_NONE));
	ASSERT_EQ(-EFAULT, xioctl(self->fd, HMMSIM_IOCTL_STATS, st));

	/* The struct can be read but not written. */
	st = (struct hmmsim_stats *)pages;
	stats_args((unsigned char *)pages, sizeof(*st));
	ASSERT_EQ(0, mprotect(pages, page_size, PROT_READ));
	ASSERT_EQ(-EFAULT, xioctl(self->fd, HMMSIM_IOCTL_STATS, st));
	ASSERT_STATS_UNWRITTEN(st);
}

TEST_F_TIMEOUT(pressure, stats_from_forked_child_is_eperm, SHORT_TIMEOUT)
{
	struct hmmsim_stats st;
	pid_t pid;

	pid = fork();
	if (!pid) {
		stats_args((unsigned char *)&st, sizeof(st));
		_exit(xioctl(self->fd, HMMSIM_IOCTL_STATS, &st) == -EPERM &&
		      st.pages_used == GARBAGE ? 0 : 1);
	}
	ASSERT_LT(0, pid);
	ASSERT_EQ(0, wait_child(pid));
	STATS(self->fd, &st);
	ASSERT_EQ(0, st.pages_used);
}

/*
 * Powering a configfs device off removes it: its open files get -ENODEV for
 * every command, and the pages that were on it are back in system memory,
 * still mapped, with their data.
 */
TEST_F_TIMEOUT(pressure, power_off_gives_enodev_and_keeps_data, MEDIUM_TIMEOUT)
{
	static const unsigned long core[] = {
		HMM_DMIRROR_READ, HMM_DMIRROR_WRITE,
		HMM_DMIRROR_MIGRATE_TO_DEV, HMM_DMIRROR_MIGRATE_TO_SYS,
		HMM_DMIRROR_SNAPSHOT, HMM_DMIRROR_EXCLUSIVE,
		HMM_DMIRROR_CHECK_EXCLUSIVE, HMM_DMIRROR_RELEASE,
	};
	unsigned int seed = test_seed(_metadata->name);
	const unsigned long npages = 2 * win_pages;
	char *buf = map_aligned(npages * page_size, MADV_NOHUGEPAGE);
	char *ptr = malloc(npages * page_size);
	struct hmm_dmirror_cmd cmd;
	struct hmmsim_stats st;
	struct hmmsim_info inf;
	char path[64];
	__u64 cpages;
	long v;
	void *p;
	int fd;
	size_t i;

	ASSERT_MAPPED(buf, ptr);
	fill_pattern(buf, 0, npages, seed);
	MIGRATE_OK(self->fd, buf, ptr, npages);
	SNAPSHOT_PROT(self->fd, buf, npages, PRIV_LOCAL);
	ASSERT_EQ(npages, pages_not_present(buf, npages));

	ASSERT_EQ(0, cfs_write(&self->dev, "power", "0"));
	ASSERT_EQ(0, cfs_read(&self->dev, "power", &v));
	ASSERT_EQ(0, v);
	ASSERT_EQ(0, cfs_read(&self->dev, "index", &v));
	ASSERT_EQ(-1, v);
	dev_path(path, sizeof(path), self->dev.id);
	ASSERT_NE(0, access(path, F_OK));
	ASSERT_EQ(ENOENT, errno);
	ASSERT_NE(0, access(self->dev.dbg, F_OK));

	for (i = 0; i < ARRAY_SIZE(core); i++)
		ASSERT_EQ(-ENODEV, dmirror(self->fd, core[i], buf, ptr, npages,
					   &cmd))
			TH_LOG("core command %zu", i);
	DMIRROR_RET(-ENODEV, self->fd, HMM_DMIRROR_FLAGS, NULL, NULL, 0);
	ASSERT_EQ(-ENODEV, info(self->fd, &inf));
	ASSERT_EQ(-ENODEV, hmigrate(self->fd, 0, buf, npages,
				    HMMSIM_MIGRATE_FROM_SYSTEM, &cpages));
	ASSERT_EQ(-ENODEV, get_stats(self->fd, &st));
	p = mmap(NULL, page_size, PROT_READ, MAP_SHARED, self->fd, 0);
	ASSERT_EQ(MAP_FAILED, p);
	ASSERT_EQ(ENODEV, errno);

	/* Back in system memory before the CPU touches them, data intact. */
	ASSERT_EQ(0, pages_not_present(buf, npages));
	ASSERT_PATTERN(buf, 0, npages, seed);
	fill_pattern(buf, 0, npages, seed + 1);
	ASSERT_PATTERN(buf, 0, npages, seed + 1);

	/* Powered on again, it is a new device; the old file stays dead. */
	ASSERT_EQ(0, cfs_write(&self->dev, "power", "1"));
	ASSERT_EQ(0, cfs_read(&self->dev, "index", &v));
	ASSERT_LE(0, v);
	self->dev.id = v;
	fd = open_dev_wait(self->dev.id);
	ASSERT_LE(0, fd);
	STATS(fd, &st);
	ASSERT_EQ(0, st.pages_used);
	ASSERT_EQ(0, st.to_device);
	ASSERT_EQ(-ENODEV, get_stats(self->fd, &st));
	close(fd);
}

/* ----------------------------------------------------------- tracepoints */

static void trace_events(bool on)
{
	write_file(EVENT_EVICT, on ? "1" : "0");
	write_file(EVENT_MIGRATE, on ? "1" : "0");
}

static int clear_trace(void)
{
	int fd = open(TRACEFS "/trace", O_WRONLY | O_TRUNC | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

/* What the trace says of one device. */
struct trace_sum {
	unsigned long evict_events, evict_nonzero, evicted;
	unsigned long to_device_events, to_device_moved;
	bool lost;
};

static int read_trace(unsigned int id, struct trace_sum *t)
{
	static const char evict[] = "hmmsim_evict: ";
	static const char migrate[] = "hmmsim_migrate: ";
	FILE *f = fopen(TRACEFS "/trace", "r");
	char line[512];

	memset(t, 0, sizeof(*t));
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long a, b, n;
		unsigned int dev;
		char kind[32];
		char *s;

		if (line[0] != '#' && strstr(line, "LOST"))
			t->lost = true;
		s = strstr(line, evict);
		if (s && sscanf(s + strlen(evict),
				"dev=%u pages [%lu, %lu) evicted=%lu",
				&dev, &a, &b, &n) == 4 && dev == id) {
			t->evict_events++;
			t->evict_nonzero += n > 0;
			t->evicted += n;
			continue;
		}
		s = strstr(line, migrate);
		if (s && sscanf(s + strlen(migrate),
				"dev=%u %31s [%lx, %lx) moved=%lu",
				&dev, kind, &a, &b, &n) == 5 && dev == id &&
		    !strcmp(kind, "to_device")) {
			t->to_device_events++;
			t->to_device_moved += n;
		}
	}
	fclose(f);
	return 0;
}

/*
 * Oversubscribed with hmmsim_evict and hmmsim_migrate enabled, the device
 * leaves evict events with pages evicted, and the events add up to its
 * counters.
 */
TEST_F_TIMEOUT(pressure, trace_evict_events_match_counters, MEDIUM_TIMEOUT)
{
	unsigned int seed = test_seed(_metadata->name);
	const unsigned long nwin = CAP_WINDOWS + 2;
	char *buf = map_aligned(nwin * SZ_2M, MADV_NOHUGEPAGE);
	char *ptr = malloc(SZ_2M);
	struct hmmsim_stats st;
	struct trace_sum t;
	char on[8];
	unsigned long w;

	ASSERT_MAPPED(buf, ptr);
	if (access(EVENT_EVICT, W_OK) || access(EVENT_MIGRATE, W_OK))
		SKIP(return, "no hmmsim events in %s (tracefs not mounted?)",
		     TRACEFS);
	ASSERT_EQ(0, read_file(TRACEFS "/tracing_on", on, sizeof(on)));
	if (!strcmp(on, "0")) {
		ASSERT_EQ(0, write_file(TRACEFS "/tracing_on", "1"));
		self->tracing_was_off = true;
	}
	ASSERT_EQ(0, clear_trace());
	self->tracing = true;
	trace_events(true);

	fill_pattern(buf, 0, nwin * win_pages, seed);
	for (w = 0; w < nwin; w++)
		STEP(self->fd, buf, w, ptr, seed);
	trace_events(false);
	self->tracing = false;

	STATS(self->fd, &st);
	ASSERT_LT(0, st.evictions);
	ASSERT_EQ(0, read_trace(self->dev.id, &t));
	TH_LOG("device %u: %lu evict events (%lu pages), %lu to_device events",
	       self->dev.id, t.evict_events, t.evicted, t.to_device_events);
	ASSERT_FALSE(t.lost);
	ASSERT_LT(0, t.evict_nonzero);
	ASSERT_EQ(st.evictions, t.evicted);
	ASSERT_EQ(nwin, t.to_device_events);
	ASSERT_EQ(st.to_device, t.to_device_moved);
	ASSERT_PATTERN(buf, 0, nwin * win_pages, seed);
}

/* ------------------------------------------------------- fault injection */

/* FAULT_ARM_DEV() on the fixture's device, disarmed by the teardown. */
#define FAULT_ARM(attr, times) do { \
	self->faults = true; \
	FAULT_ARM_DEV(&self->dev, attr, times); \
} while (0)

/*
 * With fault attribute @attr (fail_alloc, fail_copy) of @dev armed once (and
 * *@faults set, for the teardown), a MIGRATE_TO_DEV through @fd fails with
 * @err: nothing moved (nor counted, but in alloc_failures when @alloc says
 * so), no page is lost; the next succeeds.
 */
static void fails_one_migration(struct __test_metadata *_metadata, int fd,
				struct cfsdev *dev, bool *faults,
				const char *attr, int err, bool alloc)
{
	const unsigned long n = 64;
	char *buf, *ptr;
	unsigned int seed = WINDOW_BUFFERS(&buf, &ptr, n);
	struct hmmsim_stats st0, st;
	long times;

	*faults = true;
	FAULT_ARM_DEV(dev, attr, "1");
	STATS(fd, &st0);

	DMIRROR_RET(err, fd, HMM_DMIRROR_MIGRATE_TO_DEV, buf, ptr, n);
	ASSERT_EQ(0, fault_read(dev, attr, "times", &times));
	ASSERT_EQ(0, times);
	STATS(fd, &st);
	if (alloc)
		ASSERT_LT(st0.alloc_failures, st.alloc_failures);
	ASSERT_EQ(st0.to_device, st.to_device);
	ASSERT_EQ(0, st.pages_used);
	SNAPSHOT_PROT(fd, buf, n, SYS_WRITE);
	ASSERT_PATTERN(buf, 0, n, seed);

	MIGRATE_PATTERN(fd, buf, ptr, 0, n, seed);
	SNAPSHOT_PROT(fd, buf, n, PRIV_LOCAL);
	fault_disarm(dev, attr);
	ASSERT_PATTERN(buf, 0, n, seed);
}

TEST_F_TIMEOUT(pressure, fail_alloc_fails_one_migration, SHORT_TIMEOUT)
{
	if (!fault_exists(&self->dev, "fail_alloc"))
		SKIP(return, "no %s/fail_alloc (no CONFIG_FAULT_INJECTION_DEBUG_FS?)",
		     self->dev.dbg);
	fails_one_migration(_metadata, self->fd, &self->dev, &self->faults,
			    "fail_alloc", -ENOMEM, true);
}

TEST_F_TIMEOUT(pressure, fail_copy_fails_one_migration, SHORT_TIMEOUT)
{
	if (!fault_exists(&self->dev, "fail_copy"))
		SKIP(return, "no %s/fail_copy (no CONFIG_FAULT_INJECTION_DEBUG_FS?)",
		     self->dev.dbg);
	fails_one_migration(_metadata, self->fd, &self->dev, &self->faults,
			    "fail_copy", -EIO, false);
}

/* A CPU fault whose copy fails is taken again, and loses nothing. */
TEST_F_TIMEOUT(pressure, fail_copy_on_cpu_fault_is_retried, SHORT_TIMEOUT)
{
	const unsigned long n = 64;
	char *buf, *ptr;
	unsigned int seed = WINDOW_BUFFERS(&buf, &ptr, n);
	unsigned char m[64];
	struct hmmsim_stats st;
	long times;

	if (!fault_exists(&self->dev, "fail_copy"))
		SKIP(return, "no %s/fail_copy (no CONFIG_FAULT_INJECTION_DEBUG_FS?)",
		     self->dev.dbg);
	MIGRATE_OK(self->fd, buf, ptr, n);
	FAULT_ARM("fail_copy", "1");

	ASSERT_EQ(pattern(5, 0, seed), cpu_read(buf + 5 * page_size));
	ASSERT_EQ(0, fault_read(&self->dev, "fail_copy", "times", &times));
	ASSERT_EQ(0, times);
	fault_disarm(&self->dev, "fail_copy");
	STATS(self->fd, &st);
	ASSERT_LE(1, st.cpu_faults);
	SNAPSHOT(self->fd, buf, m, n);
	ASSERT_NE(PRIV_LOCAL, m[5]);
	ASSERT_PATTERN(buf, 0, n, seed);
}

/*
 * With every eviction failing, a migration into a full device finds no
 * room: -ENOMEM, and nothing moved either way. With one more failure to
 * inject, the device gets past it and evicts another chunk.
 */
TEST_F_TIMEOUT(pressure, fail_evict_makes_full_device_enomem, MEDIUM_TIMEOUT)
{
	unsigned int seed = test_seed(_metadata->name);
	const unsigned long nwin = CAP_WINDOWS + 1;
	const unsigned long npages = nwin * win_pages;
	const unsigned long cap_pages = DEV_CAPACITY / page_size;
	char *buf = map_aligned(npages * page_size, MADV_NOHUGEPAGE);
	char *last = buf + CAP_WINDOWS * SZ_2M;
	unsigned char *m = malloc(npages);
	unsigned int *seeds = SEEDS(npages, seed);
	char *ptr = malloc(SZ_2M);
	struct hmmsim_stats st0, st;
	unsigned long w;
	long times;

	if (!fault_exists(&self->dev, "fail_evict"))
		SKIP(return, "no %s/fail_evict (no CONFIG_FAULT_INJECTION_DEBUG_FS?)",
		     self->dev.dbg);
	ASSERT_MAPPED(buf, m);
	ASSERT_NE(NULL, ptr);
	fill_pattern(buf, 0, npages, seed);
	progress_start();
	for (w = 0; w < CAP_WINDOWS; w++)
		STEP(self->fd, buf, w, ptr, seed);
	STATS(self->fd, &st0);
	ASSERT_EQ(cap_pages, st0.pages_used);

	FAULT_ARM("fail_evict", "-1");
	DMIRROR_RET(-ENOMEM, self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, last, ptr,
		    win_pages);
	STATS(self->fd, &st);
	ASSERT_EQ(st0.evictions, st.evictions);
	ASSERT_EQ(st0.to_device, st.to_device);
	ASSERT_EQ(cap_pages, st.pages_used);
	ASSERT_LT(st0.alloc_failures, st.alloc_failures);
	SNAPSHOT(self->fd, buf, m, npages);
	ASSERT_PROT(m, 0, cap_pages, PRIV_LOCAL);
	ASSERT_PROT(m, cap_pages, npages, SYS_WRITE);
	ASSERT_PATTERN(last, cap_pages, win_pages, seed);

	/* One failure left to inject: used up, then the device makes room. */
	ASSERT_EQ(0, fault_write(&self->dev, "fail_evict", "times", "1"));
	STEP(self->fd, buf, CAP_WINDOWS, ptr, seed);
	ASSERT_EQ(0, fault_read(&self->dev, "fail_evict", "times", &times));
	ASSERT_EQ(0, times);
	fault_disarm(&self->dev, "fail_evict");
	STATS(self->fd, &st);
	ASSERT_LT(st0.evictions, st.evictions);
	ASSERT_GE(cap_pages, st.pages_used);
	SNAPSHOT_PROT(self->fd, last, win_pages, PRIV_LOCAL);

	ASSERT_DEVICE_READ(self->fd, buf, 0, npages, seeds);
}

/* ------------------------------------------------------ coherent fixture */

FIXTURE(coherent)
{
	int fd;
	unsigned int id;
	__u64 capacity;
};

FIXTURE_SETUP(coherent)
{
	struct hmmsim_stats st;
	unsigned int id, found = 0;

	self->fd = -1;
	for (id = 0; id < 64 && self->fd < 0; id++) {
		struct hmmsim_info inf;
		int fd = open_dev(id);

		if (fd < 0)
			continue;
		found++;
		if (!info(fd, &inf) && inf.type == HMMSIM_MEM_COHERENT) {
			self->fd = fd;
			self->id = id;
			self->capacity = inf.capacity;
		} else {
			close(fd);
		}
	}
	ASSERT_LT(0, found)
		TH_LOG("no /dev/%s<N> (is hmmsim loaded?)", hmmsim_devname());
	if (self->fd < 0)
		SETUP_SKIP("no device with coherent memory");
	ASSERT_EQ(0, get_stats(self->fd, &st));
	if (st.pages_used)
		SETUP_SKIP("device %u has %llu pages in use by others",
			   self->id, (unsigned long long)st.pages_used);
	if (!room_for(self->capacity / 2 * 3))
		SETUP_SKIP("not enough free memory for 1.5 times device %u",
			   self->id);
}

FIXTURE_TEARDOWN(coherent)
{
	if (self->fd >= 0)
		close(self->fd);
}

TEST_F_TIMEOUT(coherent, oversubscribe_1_5x_in_2m_steps_lru, SLOW_TIMEOUT)
{
	struct oversub o = {
		.fd = self->fd,
		.local = COH_LOCAL,
		.cpu_brings_back = false,
		.cap_windows = self->capacity / SZ_2M,
		.nwin = self->capacity / SZ_2M / 2 * 3,
		.passes = 1,
		.seed = test_seed(_metadata->name),
	};

	ASSERT_EQ(0, self->capacity % SZ_2M);
	oversubscribe(_metadata, &o);
}

TEST_HARNESS_MAIN
