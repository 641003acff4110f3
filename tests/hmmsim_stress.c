// SPDX-License-Identifier: GPL-2.0
/*
 * hmmsim_stress: several threads on shared buffers, every page with one
 * writer, and every data-neutral operation hmmsim and the mm offer fired at
 * random ranges meanwhile.
 *
 *   hmmsim_stress [-d SECONDS] [-t THREADS] [-D DEVICES] [-r REGIONS]
 *                 [-m MIB] [-p STRIPE] [-s SEED] [-x OP,OP...]
 *
 *   -d SECONDS  how long to run (default 30)
 *   -t THREADS  worker threads (default 4)
 *   -D DEVICES  device numbers, comma separated (default: every device
 *               /dev/$HMMSIM_DEVNAME<N>, default name hmmsim)
 *   -r REGIONS  shared regions (default 4)
 *   -m MIB      size of each region in MiB (default 4; a multiple of 2)
 *   -p STRIPE   pages per ownership stripe (default 8)
 *   -s SEED     seed of the threads' random choices (printed at the start)
 *   -x OPS      operations not to do, by the names of the final table
 *               (e.g. fork-exit-on-device,munmap-remap), to narrow a bug
 *   -F          faults are being injected (make faults): EIO (a failed copy),
 *               ENOMEM (a failed allocation), EFAULT (a page fault that
 *               failed for want of memory) and EAGAIN (madvise() for the
 *               same) are transient for every operation; the test's own
 *               mmap(), munmap() and mprotect() retry on ENOMEM; and each
 *               worker thread, once set up, marks itself for the
 *               task-filtered fault attributes
 *               (/proc/thread-self/make-it-fail; its children inherit it)
 *
 * The data: the regions are anonymous private mappings, 2 MiB aligned so
 * that they can hold THPs. Page i of a region is owned by thread
 * (i / STRIPE) % THREADS, and only its owner writes it: through the CPU or
 * through a device's WRITE, alternately, each write with a new generation
 * recorded in the owner's record of the page. A page's contents are a
 * function of its region, its index, the region's epoch (bumped when the
 * region is mapped again) and the generation, so a lost write, a stale
 * copy and a page copied to the wrong place all show up. The owner checks
 * its pages through the CPU and through a device's READ; any difference
 * with the record is data loss.
 *
 * Every thread also fires operations that must not change any byte, at
 * random ranges of random regions: MIGRATE_TO_DEV, MIGRATE_TO_SYS and
 * HMMSIM_IOCTL_MIGRATE to and from every device and between devices,
 * SNAPSHOT, EXCLUSIVE and CHECK_EXCLUSIVE, RELEASE, mprotect() to read-only
 * and back (with a device WRITE that must fail meanwhile), madvise()
 * (HUGEPAGE, NOHUGEPAGE, COLD, PAGEOUT), fork() of a child that checks
 * every page of its copy against the records and exits, fork() of a child
 * that moves its own buffer and part of the inherited regions to a device
 * and exits without closing anything, and munmap() of a whole region
 * (sometimes after MADV_DONTNEED) mapped again with fresh contents.
 *
 * Locking, so that only real data loss is reported: each region has a map
 * lock, taken for reading by every operation on the region and for
 * writing by the remap, and a write lock, taken for reading by whatever
 * writes (owners' writes, EXCLUSIVE, which needs write access) and for
 * writing by the mprotect() round trip (an owner writing to a read-only
 * page would get SIGSEGV) and by fork() (so that the child's copy matches
 * the records it inherits).
 *
 * Errors: a valid operation may fail only with one of the transient errnos
 * hmmsim documents for it (Documentation/testing.rst lists them); they are
 * counted per operation and printed at the end. Any other errno is a
 * failure. A device WRITE that fails may have written part of its range:
 * the owner then writes the same data through the CPU.
 *
 * Output: TAP. A progress line every PROGRESS_SECONDS, then one line per
 * verdict: no data loss, no unexpected errno, fork children, exiting
 * children, and no page left in device memory once every region is
 * unmapped and every file closed (with evict_on_close, and assuming that
 * nobody else uses the devices). Exit status 0 if all are ok, 1 if not, 4 if there is no
 * device.
 */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <time.h>

#include "hmmsim_test.h"

#define MAX_DEVICES		16
#define MAX_THREADS		64
#define MAX_RANGE_PAGES		1024	/* the largest random range */
#define PROGRESS_SECONDS	10
#define STALL_SECONDS		60
#define MAX_REPORTS		20	/* data loss lines printed */
#define CHILD_BUF_PAGES		128	/* an exiting child's own buffer */

/* What the seed mixes into a page's words. */
#define GOLDEN			0x9e3779b97f4a7c15ULL

enum stress_op {
	OP_CPU_WRITE,
	OP_DEV_WRITE,
	OP_CPU_CHECK,
	OP_DEV_READ,
	OP_TO_DEV,
	OP_TO_SYS,
	OP_MIG_FROM_SYS,
	OP_MIG_D2D,
	OP_MIG_TO_SYS,
	OP_SNAPSHOT,
	OP_EXCLUSIVE,
	OP_CHECK_EXCL,
	OP_RELEASE,
	OP_MPROTECT,
	OP_RO_WRITE,
	OP_MADVISE,
	OP_FORK_CHECK,
	OP_FORK_EXIT,
	OP_REMAP,
	NR_OPS,
};

static const char * const op_names[NR_OPS] = {
	[OP_CPU_WRITE]		= "cpu-write",
	[OP_DEV_WRITE]		= "dev-write",
	[OP_CPU_CHECK]		= "cpu-check",
	[OP_DEV_READ]		= "dev-read",
	[OP_TO_DEV]		= "migrate-to-dev",
	[OP_TO_SYS]		= "migrate-to-sys",
	[OP_MIG_FROM_SYS]	= "ioctl-migrate-from-sys",
	[OP_MIG_D2D]		= "ioctl-migrate-dev-to-dev",
	[OP_MIG_TO_SYS]		= "ioctl-migrate-to-sys",
	[OP_SNAPSHOT]		= "snapshot",
	[OP_EXCLUSIVE]		= "exclusive",
	[OP_CHECK_EXCL]		= "check-exclusive",
	[OP_RELEASE]		= "release",
	[OP_MPROTECT]		= "mprotect-ro-rw",
	[OP_RO_WRITE]		= "dev-write-read-only",
	[OP_MADVISE]		= "madvise",
	[OP_FORK_CHECK]		= "fork-check",
	[OP_FORK_EXIT]		= "fork-exit-on-device",
	[OP_REMAP]		= "munmap-remap",
};

/*
 * How often each operation is drawn, out of the sum. Owners' writes and
 * checks are frequent; the expensive ones (fork, remap) rare.
 */
static unsigned int op_weight[NR_OPS] = {
	[OP_CPU_WRITE]		= 12,
	[OP_DEV_WRITE]		= 12,
	[OP_CPU_CHECK]		= 8,
	[OP_DEV_READ]		= 8,
	[OP_TO_DEV]		= 8,
	[OP_TO_SYS]		= 4,
	[OP_MIG_FROM_SYS]	= 4,
	[OP_MIG_D2D]		= 6,
	[OP_MIG_TO_SYS]		= 3,
	[OP_SNAPSHOT]		= 4,
	[OP_EXCLUSIVE]		= 4,
	[OP_CHECK_EXCL]		= 2,
	[OP_RELEASE]		= 1,
	[OP_MPROTECT]		= 2,
	[OP_RO_WRITE]		= 0,	/* done inside OP_MPROTECT */
	[OP_MADVISE]		= 4,
	[OP_FORK_CHECK]		= 1,
	[OP_FORK_EXIT]		= 1,
	[OP_REMAP]		= 1,
};

/*
 * The transient errnos a valid operation may give (see
 * Documentation/testing.rst). EINTR (fatal signal) is retried, and never
 * happens here anyway.
 */
#define E(x)	(1ULL << (x))
static const unsigned long long op_transient[NR_OPS] = {
	/* hmm_range_fault() retrying past its timeout under invalidations */
	[OP_DEV_WRITE]		= E(EBUSY),
	[OP_DEV_READ]		= E(EBUSY),
	/* out of device memory; a page taken away before the read-back */
	[OP_TO_DEV]		= E(ENOMEM) | E(ENOENT) | E(EBUSY),
	[OP_MIG_FROM_SYS]	= E(ENOMEM),
	[OP_MIG_D2D]		= E(ENOMEM),
	[OP_SNAPSHOT]		= E(EBUSY),
	/* a page that could not be made exclusive, or moved meanwhile */
	[OP_EXCLUSIVE]		= E(EBUSY) | E(ENOENT),
	/* the answer, not an error: a page is still held exclusive */
	[OP_CHECK_EXCL]		= E(EPERM),
	/*
	 * 6.12's fork() fails when a page mapped for device-exclusive
	 * access is locked at that moment (copy_nonpresent_pte()'s EBUSY
	 * becomes ENOMEM in copy_pmd_range()).
	 */
	[OP_FORK_CHECK]		= E(ENOMEM),
	[OP_FORK_EXIT]		= E(ENOMEM),
	/* the expected answer to a write to a read-only range */
	[OP_RO_WRITE]		= E(EPERM) | E(EBUSY),
};

#define NR_ERRNO	160

struct region {
	pthread_rwlock_t map_lock;
	pthread_rwlock_t write_lock;
	char *base;		/* NULL only while being remapped */
	unsigned long npages;
	unsigned int epoch;	/* bumped at each remap */
	unsigned int *gen;	/* the owners' records, one per page */
};

struct device {
	unsigned int id;
	char path[64];
	struct hmmsim_info info;
};

struct worker {
	unsigned int idx;
	pthread_t thread;
	unsigned long long rnd;
	int fd[MAX_DEVICES];
	char *bounce;		/* MAX_RANGE_PAGES pages */
	unsigned char *codes;	/* SNAPSHOT codes */
	unsigned long ops;	/* atomic: read by the monitor */
	int cur_op;		/* atomic: -1 between operations */
	time_t op_start;
	unsigned long count[NR_OPS];
	unsigned long err[NR_OPS][NR_ERRNO];
	unsigned long unexpected;
	unsigned long data_loss;
	unsigned long pages_checked;
	unsigned long fork_fail;
	unsigned long exit_fail;
};

/* Options. */
static unsigned int duration = 30;
static unsigned int nthreads = 4;
static unsigned int nregions = 4;
static unsigned long region_mib = 4;
static unsigned long stripe = 8;
static unsigned long long seed;

static struct device devs[MAX_DEVICES];
static unsigned int ndevs;
static struct region *regions;
static struct worker workers[MAX_THREADS];
static unsigned long words_per_page;
static bool stop;		/* atomic */
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long reports;
static __thread struct worker *self;

/* ------------------------------------------------------------ helpers */

static void say(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&print_lock);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&print_lock);
}

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("Bail out! ");
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
	exit(1);
}

/* xorshift64* */
static unsigned long long rnd64(void)
{
	unsigned long long x = self->rnd;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	self->rnd = x;
	return x * 2685821657736338717ULL;
}

static unsigned long rnd_below(unsigned long n)
{
	return n ? rnd64() % n : 0;
}

static unsigned long long mix64(unsigned long long x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* ---------------------------------------------------------- page data */

static unsigned int owner_of(unsigned long page)
{
	return (page / stripe) % nthreads;
}

static unsigned long long head0(unsigned int r, unsigned long page)
{
	return 0x5354ULL << 48 | (unsigned long long)r << 32 | page;
}

static unsigned long long head1(unsigned int epoch, unsigned int gen)
{
	return (unsigned long long)epoch << 32 | gen;
}

/* The contents of page @page of region @r at @epoch and @gen. */
static void fill_page(void *dst, unsigned int r, unsigned long page,
		      unsigned int epoch, unsigned int gen)
{
	unsigned long long *w = dst, h0 = head0(r, page), h1 = head1(epoch, gen);
	unsigned long long base = mix64(h0 ^ mix64(h1));
	unsigned long j;

	w[0] = h0;
	w[1] = h1;
	for (j = 2; j < words_per_page; j++)
		w[j] = base + j * GOLDEN;
}

/* The first word of @p that differs from the expected page, or -1. */
static long diff_page(const void *p, unsigned int r, unsigned long page,
		      unsigned int epoch, unsigned int gen)
{
	const unsigned long long *w = p;
	unsigned long long h0 = head0(r, page), h1 = head1(epoch, gen);
	unsigned long long base = mix64(h0 ^ mix64(h1));
	unsigned long j;

	if (w[0] != h0)
		return 0;
	if (w[1] != h1)
		return 1;
	for (j = 2; j < words_per_page; j++)
		if (w[j] != base + j * GOLDEN)
			return j;
	return -1;
}

/*
 * Report a page that is not what its record says. @how names the path the
 * data came through; the first two words tell which region, page, epoch
 * and generation it holds, if any.
 */
static void report_loss(struct worker *w, const char *how, unsigned int r,
			unsigned long page, const void *data, long word,
			unsigned int epoch, unsigned int gen)
{
	const unsigned long long *d = data;
	char where[96];

	w->data_loss++;
	snprintf(where, sizeof(where), "region %u page %lu word %ld", r, page,
		 word);
	pthread_mutex_lock(&print_lock);
	if (++reports <= MAX_REPORTS)
		printf("# DATA LOSS (%s, thread %u): %s: want %u/%u, found %#llx %#llx %#llx\n",
		       how, w->idx, where, epoch, gen, d[0], d[1], d[word]);
	pthread_mutex_unlock(&print_lock);
}

/* ----------------------------------------------------------- commands */

static void note_errno(struct worker *w, enum stress_op op, int err)
{
	w->err[op][err < NR_ERRNO ? err : 0]++;
	if (err < 64 && (op_transient[op] & E(err)))
		return;
	/*
	 * Under injected faults: a failed copy, a failed allocation, a page
	 * fault that failed for want of memory (hmm_range_fault() and GUP
	 * report VM_FAULT_OOM as EFAULT), and madvise()'s EAGAIN for the same.
	 */
	if (fault_injection && (err == EIO || err == ENOMEM ||
				err == EFAULT || err == EAGAIN))
		return;
	w->unexpected++;
	say("# UNEXPECTED: thread %u: %s: errno %d (%s)\n", w->idx,
	    op_names[op], err, strerror(err));
}

/* dmirror() for operation @op: 0 or -errno, the errno counted. */
static int op_dmirror(struct worker *w, enum stress_op op, int fd,
		      unsigned long req, void *addr, void *ptr,
		      unsigned long npages, struct hmm_dmirror_cmd *cmd)
{
	int ret = dmirror(fd, req, addr, ptr, npages, cmd);

	if (ret)
		note_errno(w, op, -ret);
	return ret;
}

/* hmigrate() for operation @op: 0 or -errno, the errno counted. */
static int op_hmigrate(struct worker *w, enum stress_op op, int fd,
		       void *addr, unsigned long npages, int src_fd,
		       unsigned int flags)
{
	__u64 cpages;
	int ret = hmigrate(fd, flags, addr, npages, src_fd, &cpages);

	if (ret)
		note_errno(w, op, -ret);
	if (!ret && cpages > npages) {
		w->unexpected++;
		say("# UNEXPECTED: thread %u: %s: cpages %llu > npages %lu\n",
		    w->idx, op_names[op], (unsigned long long)cpages, npages);
	}
	return ret;
}

/* ------------------------------------------------------ random ranges */

struct range {
	unsigned int r;
	unsigned long first;	/* page index in the region */
	unsigned long npages;
	char *addr;
};

/* A random range of region @r, at most @max pages: map lock held. */
static void pick_range(struct range *rg, unsigned int r, unsigned long max)
{
	struct region *reg = &regions[r];
	unsigned long n;

	rg->r = r;
	switch (rnd_below(4)) {
	case 0:		/* one page */
		n = 1;
		break;
	case 1:		/* a whole 2 MiB window, aligned */
		n = SZ_2M / page_size;
		rg->first = rnd_below(reg->npages / n) * n;
		rg->npages = n;
		rg->addr = reg->base + rg->first * page_size;
		return;
	default:
		n = 1 + rnd_below(max);
		break;
	}
	if (n > reg->npages)
		n = reg->npages;
	rg->first = rnd_below(reg->npages - n + 1);
	rg->npages = n;
	rg->addr = reg->base + rg->first * page_size;
}

static void lock_map(unsigned int r)
{
	pthread_rwlock_rdlock(&regions[r].map_lock);
}

static void unlock_map(unsigned int r)
{
	pthread_rwlock_unlock(&regions[r].map_lock);
}

static int rnd_fd(struct worker *w, unsigned int *dev)
{
	unsigned int d = rnd_below(ndevs);

	if (dev)
		*dev = d;
	return w->fd[d];
}

/* ------------------------------------------------------------- owners */

/* A random run of the worker's own pages in region @r: map lock held. */
static void pick_own(struct worker *w, struct range *rg, unsigned int r)
{
	struct region *reg = &regions[r];
	unsigned long nstripes = (reg->npages + stripe - 1) / stripe;
	unsigned long mine = (nstripes - w->idx + nthreads - 1) / nthreads;
	unsigned long s = w->idx + nthreads * rnd_below(mine);
	unsigned long first = s * stripe, last = first + stripe;
	unsigned long off;

	if (last > reg->npages)
		last = reg->npages;
	off = rnd_below(last - first);
	rg->r = r;
	rg->first = first + off;
	rg->npages = 1 + rnd_below(last - rg->first);
	rg->addr = reg->base + rg->first * page_size;
}

static void owner_write(struct worker *w, unsigned int r, bool dev)
{
	struct region *reg = &regions[r];
	struct hmm_dmirror_cmd cmd;
	struct range rg;
	unsigned long i;
	char *src;

	pthread_rwlock_rdlock(&reg->write_lock);
	pick_own(w, &rg, r);
	for (i = 0; i < rg.npages; i++)
		reg->gen[rg.first + i]++;
	src = dev ? w->bounce : rg.addr;
	for (i = 0; i < rg.npages; i++)
		fill_page(src + i * page_size, r, rg.first + i, reg->epoch,
			  reg->gen[rg.first + i]);
	if (dev && op_dmirror(w, OP_DEV_WRITE, rnd_fd(w, NULL),
			      HMM_DMIRROR_WRITE, rg.addr, w->bounce, rg.npages,
			      &cmd))
		/* It may have written part of the range: finish by CPU. */
		memcpy(rg.addr, w->bounce, rg.npages * page_size);
	pthread_rwlock_unlock(&reg->write_lock);
}

/* Check the worker's pages in [first, first + npages) of @data. */
static void check_own(struct worker *w, const char *how, unsigned int r,
		      unsigned long first, unsigned long npages,
		      const char *data, bool all)
{
	struct region *reg = &regions[r];
	unsigned long i;
	long word;

	for (i = 0; i < npages; i++) {
		unsigned long p = first + i;

		if (!all && owner_of(p) != w->idx)
			continue;
		w->pages_checked++;
		word = diff_page(data + i * page_size, r, p, reg->epoch,
				 reg->gen[p]);
		if (word >= 0)
			report_loss(w, how, r, p, data + i * page_size, word,
				    reg->epoch, reg->gen[p]);
	}
}

static void owner_check(struct worker *w, unsigned int r, bool dev)
{
	struct hmm_dmirror_cmd cmd;
	struct range rg;

	pick_range(&rg, r, MAX_RANGE_PAGES);
	if (!dev) {
		check_own(w, "cpu", r, rg.first, rg.npages, rg.addr, false);
		return;
	}
	if (!op_dmirror(w, OP_DEV_READ, rnd_fd(w, NULL), HMM_DMIRROR_READ,
			rg.addr, w->bounce, rg.npages, &cmd))
		check_own(w, "device READ", r, rg.first, rg.npages, w->bounce,
			  false);
}

/* ------------------------------------------------------ neutral moves */

static void op_migrate(struct worker *w, enum stress_op op, unsigned int r)
{
	struct hmm_dmirror_cmd cmd;
	bool pull = rnd_below(2);
	unsigned int d, s;
	struct range rg;
	int fd;

	pick_range(&rg, r, MAX_RANGE_PAGES);
	fd = rnd_fd(w, &d);
	switch (op) {
	case OP_TO_DEV:
		/*
		 * ENOENT when a page of the range is on another device (it
		 * stays there) or moved away before the read-back; else the
		 * read-back is the data. Half the time, pull the range from
		 * the other devices first, so that it can succeed.
		 */
		for (s = 0; s < ndevs && pull; s++)
			if (s != d)
				op_hmigrate(w, OP_MIG_D2D, fd, rg.addr, rg.npages,
					    w->fd[s], 0);
		if (!op_dmirror(w, op, fd, HMM_DMIRROR_MIGRATE_TO_DEV, rg.addr,
				w->bounce, rg.npages, &cmd))
			check_own(w, "MIGRATE_TO_DEV read-back", r, rg.first,
				  rg.npages, w->bounce, false);
		break;
	case OP_TO_SYS:
		op_dmirror(w, op, fd, HMM_DMIRROR_MIGRATE_TO_SYS, rg.addr, NULL,
			   rg.npages, &cmd);
		break;
	case OP_MIG_FROM_SYS:
		op_hmigrate(w, op, fd, rg.addr, rg.npages,
			    HMMSIM_MIGRATE_FROM_SYSTEM, 0);
		break;
	case OP_MIG_D2D:
		if (ndevs < 2)
			return;
		s = (d + 1 + rnd_below(ndevs - 1)) % ndevs;
		op_hmigrate(w, op, fd, rg.addr, rg.npages, w->fd[s], 0);
		break;
	case OP_MIG_TO_SYS:
		op_hmigrate(w, op, fd, rg.addr, rg.npages,
			    HMMSIM_MIGRATE_FROM_SYSTEM, HMMSIM_MIGRATE_TO_SYSTEM);
		break;
	case OP_SNAPSHOT:
		op_dmirror(w, op, fd, HMM_DMIRROR_SNAPSHOT, rg.addr, w->codes,
			   rg.npages, &cmd);
		break;
	case OP_CHECK_EXCL:
		op_dmirror(w, op, fd, HMM_DMIRROR_CHECK_EXCLUSIVE, rg.addr, NULL,
			   rg.npages, &cmd);
		break;
	case OP_EXCLUSIVE:
		/*
		 * A page that cannot be made exclusive (busy, or a large
		 * folio mapped by PTEs) fails the command with EBUSY: keep
		 * most ranges short. It needs write access: not while
		 * read-only.
		 */
		if (rnd_below(4))
			pick_range(&rg, r, 8);
		pthread_rwlock_rdlock(&regions[r].write_lock);
		if (!op_dmirror(w, op, fd, HMM_DMIRROR_EXCLUSIVE, rg.addr,
				w->bounce, rg.npages, &cmd))
			check_own(w, "EXCLUSIVE read-back", r, rg.first,
				  rg.npages, w->bounce, false);
		pthread_rwlock_unlock(&regions[r].write_lock);
		break;
	default:
		break;
	}
}

static void op_release(struct worker *w)
{
	struct hmm_dmirror_cmd cmd;

	/* The range is checked, as in lib/test_hmm, but not used. */
	op_dmirror(w, OP_RELEASE, rnd_fd(w, NULL), HMM_DMIRROR_RELEASE,
		   w->bounce, NULL, 1, &cmd);
}

/*
 * Read-only and back. Nobody writes the range meanwhile, so every page of
 * it, whoever owns it, must match its record through the device.
 */
static void op_mprotect(struct worker *w, unsigned int r)
{
	struct region *reg = &regions[r];
	struct hmm_dmirror_cmd cmd;
	struct range rg;
	int fd, ret;

	pthread_rwlock_wrlock(&reg->write_lock);
	pick_range(&rg, r, MAX_RANGE_PAGES);
	if (mprotect(rg.addr, rg.npages * page_size, PROT_READ)) {
		note_errno(w, OP_MPROTECT, errno);
		/* A failed mprotect() may have changed part of the range. */
		goto restore;
	}
	fd = rnd_fd(w, NULL);
	if (rnd_below(2))
		op_dmirror(w, OP_TO_DEV, fd, HMM_DMIRROR_MIGRATE_TO_DEV, rg.addr,
			   w->bounce, rg.npages, &cmd);
	/* Device and CPU must both be refused the write. */
	ret = op_dmirror(w, OP_RO_WRITE, rnd_fd(w, NULL), HMM_DMIRROR_WRITE,
			 rg.addr, rg.addr, rg.npages, &cmd);
	w->count[OP_RO_WRITE]++;
	if (!ret) {
		w->unexpected++;
		say("# UNEXPECTED: thread %u: device WRITE to a read-only range succeeded\n",
		    w->idx);
	}
	if (!op_dmirror(w, OP_DEV_READ, rnd_fd(w, NULL), HMM_DMIRROR_READ,
			rg.addr, w->bounce, rg.npages, &cmd))
		check_own(w, "device READ, read-only", r, rg.first, rg.npages,
			  w->bounce, true);
	check_own(w, "cpu, read-only", r, rg.first, rg.npages, rg.addr, true);
restore:
	while (mprotect(rg.addr, rg.npages * page_size, PROT_READ | PROT_WRITE))
		if (!fault_retry(errno))
			die("mprotect back to read-write: %s\n", strerror(errno));
	pthread_rwlock_unlock(&reg->write_lock);
}

static void op_madvise(struct worker *w, unsigned int r)
{
	static const int advice[] = {
		MADV_HUGEPAGE, MADV_NOHUGEPAGE, MADV_COLD, MADV_PAGEOUT,
	};
	struct range rg;

	pick_range(&rg, r, MAX_RANGE_PAGES);
	if (madvise(rg.addr, rg.npages * page_size,
		    advice[rnd_below(ARRAY_SIZE(advice))]))
		note_errno(w, OP_MADVISE, errno);
}

/* ---------------------------------------------------------- mappings */

/* Fresh contents for a region, generation 0 of a new epoch. */
static void region_fill(unsigned int r)
{
	struct region *reg = &regions[r];
	unsigned long i;

	reg->epoch++;
	for (i = 0; i < reg->npages; i++) {
		reg->gen[i] = 0;
		fill_page(reg->base + i * page_size, r, i, reg->epoch, 0);
	}
}

static void op_remap(struct worker *w, unsigned int r)
{
	struct region *reg = &regions[r];
	size_t size = reg->npages * page_size;
	struct hmm_dmirror_cmd cmd;
	struct range rg;

	pthread_rwlock_wrlock(&reg->map_lock);
	if (rnd_below(2) && madvise(reg->base, size, MADV_DONTNEED))
		note_errno(w, OP_REMAP, errno);
	while (munmap(reg->base, size))
		if (!fault_retry(errno))
			die("munmap: %s\n", strerror(errno));
	for (;;) {
		reg->base = map_aligned(size, MADV_NORMAL);
		if (reg->base != MAP_FAILED)
			break;
		if (!fault_retry(errno))
			die("mmap: %s\n", strerror(errno));
	}
	if (rnd_below(2))
		madvise(reg->base, size, MADV_HUGEPAGE);
	region_fill(r);
	/* Some of it straight to a device. */
	pick_range(&rg, r, MAX_RANGE_PAGES);
	op_dmirror(w, OP_TO_DEV, rnd_fd(w, NULL), HMM_DMIRROR_MIGRATE_TO_DEV,
		   rg.addr, w->bounce, rg.npages, &cmd);
	pthread_rwlock_unlock(&reg->map_lock);
}

/* --------------------------------------------------------------- fork */

/* In a child: write a line, no stdio. */
static void child_say(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0 && write(STDOUT_FILENO, buf, n < (int)sizeof(buf) ? n :
			   (int)sizeof(buf) - 1) < 0)
		return;
}

static void child_report(unsigned int r, unsigned long i, const char *p)
{
	const unsigned long long *head = (const void *)p;
	const struct region *reg = &regions[r];

	child_say("# DATA LOSS (fork child %d): region %u page %lu: want %u/%u, has %#llx %#llx\n",
		  getpid(), r, i, reg->epoch, reg->gen[i], head[0], head[1]);
}

/* The child of OP_FORK_CHECK: every page of its copy matches its record. */
static int child_check(void)
{
	unsigned long i, bad = 0;
	unsigned int r;

	for (r = 0; r < nregions; r++) {
		struct region *reg = &regions[r];

		for (i = 0; i < reg->npages; i++) {
			const char *p = reg->base + i * page_size;

			if (diff_page(p, r, i, reg->epoch, reg->gen[i]) < 0)
				continue;
			if (++bad <= MAX_REPORTS)
				child_report(r, i, p);
		}
	}
	return bad ? 1 : 0;
}

/* Wait for a child; a non-zero exit or a signal is counted. */
static void reap(struct worker *w, pid_t pid, enum stress_op op,
		 unsigned long *fail)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			die("waitpid: %s\n", strerror(errno));
	if (WIFEXITED(status) && !WEXITSTATUS(status))
		return;
	(*fail)++;
	if (WIFSIGNALED(status))
		say("# %s: child %d killed by signal %d\n", op_names[op], pid,
		    WTERMSIG(status));
	else
		say("# %s: child %d exited with %d\n", op_names[op], pid,
		    WEXITSTATUS(status));
}

static void op_fork_check(struct worker *w)
{
	unsigned int r;
	pid_t pid;

	for (r = 0; r < nregions; r++) {
		pthread_rwlock_rdlock(&regions[r].map_lock);
		pthread_rwlock_wrlock(&regions[r].write_lock);
	}
	fflush(stdout);
	pid = fork();
	if (!pid)
		_exit(child_check());
	for (r = nregions; r-- > 0;) {
		pthread_rwlock_unlock(&regions[r].write_lock);
		pthread_rwlock_unlock(&regions[r].map_lock);
	}
	if (pid < 0) {
		note_errno(w, OP_FORK_CHECK, errno);
		return;
	}
	reap(w, pid, OP_FORK_CHECK, &w->fork_fail);
}

/*
 * MIGRATE_TO_DEV from the child of OP_FORK_EXIT: whether it worked or
 * failed with a transient errno (reported otherwise, as @what).
 */
static bool child_to_device(int fd, void *addr, unsigned long npages,
			    const char *what)
{
	struct hmm_dmirror_cmd cmd;
	int ret = dmirror(fd, HMM_DMIRROR_MIGRATE_TO_DEV, addr, self->bounce,
			  npages, &cmd);

	if (!ret || ret == -ENOMEM || ret == -ENOENT || ret == -EBUSY ||
	    (fault_injection && ret == -EIO))
		return true;
	child_say("# fork-exit child: %s: %s\n", what, strerror(-ret));
	return false;
}

/*
 * The child of OP_FORK_EXIT: moves a buffer of its own and a range of an
 * inherited region to a device through a file it opens, checks its own
 * buffer and exits, leaving both on the device and the file open.
 */
static int child_exit_on_device(unsigned int dev, unsigned int r,
				unsigned long first, unsigned long npages)
{
	size_t size = CHILD_BUF_PAGES * page_size;
	unsigned long i;
	char *buf;
	int fd;

	fd = open(devs[dev].path, O_RDWR);
	if (fd < 0)
		return fault_retry(errno) ? 0 : 2;
	buf = map_aligned(size, MADV_NORMAL);
	if (buf == MAP_FAILED)
		return fault_retry(errno) ? 0 : 3;
	for (i = 0; i < CHILD_BUF_PAGES; i++)
		fill_page(buf + i * page_size, 1000, i, getpid(), 0);
	if (!child_to_device(fd, buf, CHILD_BUF_PAGES, "MIGRATE_TO_DEV"))
		return 4;
	if (!child_to_device(fd, regions[r].base + first * page_size, npages,
			     "MIGRATE_TO_DEV (inherited)"))
		return 5;
	/* Half of the own buffer back through the CPU, the rest stays. */
	for (i = 0; i < CHILD_BUF_PAGES / 2; i++)
		if (diff_page(buf + i * page_size, 1000, i, getpid(), 0) >= 0) {
			child_say("# DATA LOSS (fork-exit child %d): own page %lu\n",
				  getpid(), i);
			return 1;
		}
	return 0;
}

static void op_fork_exit(struct worker *w, unsigned int r)
{
	unsigned int dev = rnd_below(ndevs);
	struct range rg;
	pid_t pid;

	lock_map(r);
	pick_range(&rg, r, MAX_RANGE_PAGES);
	fflush(stdout);
	pid = fork();
	if (!pid)
		_exit(child_exit_on_device(dev, r, rg.first, rg.npages));
	unlock_map(r);
	if (pid < 0) {
		note_errno(w, OP_FORK_EXIT, errno);
		return;
	}
	reap(w, pid, OP_FORK_EXIT, &w->exit_fail);
}

/* ------------------------------------------------------------ workers */

static unsigned int total_weight;	/* set before the threads start */

static enum stress_op pick_op(void)
{
	unsigned int i, n;

	n = rnd_below(total_weight);
	for (i = 0; i < NR_OPS; i++) {
		if (n < op_weight[i])
			return i;
		n -= op_weight[i];
	}
	return OP_CPU_CHECK;
}

static void run_op(struct worker *w, enum stress_op op)
{
	unsigned int r = rnd_below(nregions);

	switch (op) {
	case OP_FORK_CHECK:
		op_fork_check(w);
		return;
	case OP_RELEASE:
		op_release(w);
		return;
	case OP_REMAP:
		op_remap(w, r);
		return;
	case OP_FORK_EXIT:
		op_fork_exit(w, r);
		return;
	case OP_MPROTECT:
		lock_map(r);
		op_mprotect(w, r);
		unlock_map(r);
		return;
	default:
		break;
	}

	lock_map(r);
	switch (op) {
	case OP_CPU_WRITE:
	case OP_DEV_WRITE:
		owner_write(w, r, op == OP_DEV_WRITE);
		break;
	case OP_CPU_CHECK:
	case OP_DEV_READ:
		owner_check(w, r, op == OP_DEV_READ);
		break;
	case OP_MADVISE:
		op_madvise(w, r);
		break;
	default:
		op_migrate(w, op, r);
		break;
	}
	unlock_map(r);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	enum stress_op op;

	self = w;
	/*
	 * Under -F: let the task-filtered fault attributes (failslab,
	 * fail_page_alloc) hit this thread and the children it forks.
	 */
	if (fault_injection) {
		int err = make_it_fail();

		if (err)
			die("make-it-fail: %s\n", strerror(-err));
	}
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		op = pick_op();
		__atomic_store_n(&w->op_start, time(NULL), __ATOMIC_RELAXED);
		__atomic_store_n(&w->cur_op, op, __ATOMIC_RELAXED);
		run_op(w, op);
		__atomic_store_n(&w->cur_op, -1, __ATOMIC_RELAXED);
		w->count[op]++;
		__atomic_add_fetch(&w->ops, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* --------------------------------------------------------------- main */

static void fatal_signal(int sig)
{
	char buf[160];
	int n, op = self ? self->cur_op : -1;

	n = snprintf(buf, sizeof(buf), "Bail out! signal %d in thread %d, op %s\n",
		     sig, self ? (int)self->idx : -1,
		     op >= 0 ? op_names[op] : "none");
	if (write(STDOUT_FILENO, buf, n) < 0)
		_exit(2);
	_exit(2);
}

static void add_device(unsigned int id, bool must)
{
	struct device *d;
	int fd, err;

	if (ndevs == MAX_DEVICES)
		die("more than %d devices\n", MAX_DEVICES);
	d = &devs[ndevs];
	d->id = id;
	dev_path(d->path, sizeof(d->path), id);
	fd = open(d->path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		if (must)
			die("%s: %s\n", d->path, strerror(errno));
		return;
	}
	err = info(fd, &d->info);
	if (err)
		die("%s: INFO: %s\n", d->path, strerror(-err));
	close(fd);
	ndevs++;
}

static void parse_devices(const char *s)
{
	char *end;

	while (*s) {
		unsigned long id = strtoul(s, &end, 10);

		if (end == s || (*end && *end != ','))
			die("bad device list\n");
		add_device(id, true);
		s = *end ? end + 1 : end;
	}
}

/* -x: operations not to draw, by name, comma separated. */
static void parse_excluded(const char *s)
{
	unsigned int i;
	size_t len;

	while (*s) {
		len = strcspn(s, ",");
		for (i = 0; i < NR_OPS; i++)
			if (strlen(op_names[i]) == len &&
			    !strncmp(op_names[i], s, len))
				break;
		if (i == NR_OPS)
			die("unknown operation '%.*s'\n", (int)len, s);
		op_weight[i] = 0;
		s += len;
		if (*s)
			s++;
	}
}

static unsigned long parse_num(const char *s)
{
	char *end;
	unsigned long v = strtoul(s, &end, 0);

	if (!*s || *end)
		die("bad number '%s'\n", s);
	return v;
}

static void help(const char *prog)
{
	fprintf(stderr,
		"usage: %s [-d SECONDS] [-t THREADS] [-D DEV,DEV...] [-r REGIONS] [-m MIB] [-p STRIPE] [-s SEED] [-x OP,OP...] [-F]\n",
		prog);
	exit(2);
}

static void setup(void)
{
	pthread_rwlockattr_t attr;
	unsigned int r, t, d;

	/*
	 * Writers first, or fork, mprotect and remap could starve. Every
	 * thread takes the locks in one order (region by region, the map
	 * lock before the write lock) and none twice, so this cannot
	 * deadlock.
	 */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr,
				      PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);

	words_per_page = page_size / sizeof(unsigned long long);
	regions = calloc(nregions, sizeof(*regions));
	if (!regions)
		die("out of memory\n");
	for (r = 0; r < nregions; r++) {
		struct region *reg = &regions[r];

		pthread_rwlock_init(&reg->map_lock, &attr);
		pthread_rwlock_init(&reg->write_lock, &attr);
		reg->npages = (region_mib << 20) / page_size;
		reg->gen = calloc(reg->npages, sizeof(*reg->gen));
		reg->base = map_aligned(reg->npages * page_size, MADV_NORMAL);
		if (!reg->gen || reg->base == MAP_FAILED)
			die("out of memory\n");
		region_fill(r);
	}
	for (t = 0; t < nthreads; t++) {
		struct worker *w = &workers[t];

		w->idx = t;
		w->cur_op = -1;
		w->rnd = mix64(seed + t + 1) | 1;
		w->bounce = map_aligned(MAX_RANGE_PAGES * page_size, MADV_NORMAL);
		w->codes = malloc(MAX_RANGE_PAGES);
		if (w->bounce == MAP_FAILED || !w->codes)
			die("out of memory\n");
		for (d = 0; d < ndevs; d++) {
			w->fd[d] = open(devs[d].path, O_RDWR | O_CLOEXEC);
			if (w->fd[d] < 0)
				die("%s: %s\n", devs[d].path, strerror(errno));
		}
	}
}

/* The monitor: progress, and threads stuck in one operation. */
static void monitor(void)
{
	time_t start = time(NULL), last = start, now;
	unsigned long total;
	unsigned int t;

	while ((now = time(NULL)) - start < (time_t)duration) {
		/* Not ordering: the pace of the run's fixed duration. */
		sleep(1);
		now = time(NULL);
		if (now - last < PROGRESS_SECONDS)
			continue;
		last = now;
		total = 0;
		for (t = 0; t < nthreads; t++) {
			struct worker *w = &workers[t];
			int op = __atomic_load_n(&w->cur_op, __ATOMIC_RELAXED);
			time_t since = __atomic_load_n(&w->op_start,
						       __ATOMIC_RELAXED);

			total += __atomic_load_n(&w->ops, __ATOMIC_RELAXED);
			if (op >= 0 && now - since >= STALL_SECONDS)
				say("# thread %u in %s for %lds\n", t,
				    op_names[op], (long)(now - since));
		}
		say("# %lds: %lu operations\n", (long)(now - start), total);
	}
}

/* After the threads: every page, through the CPU and each device. */
static void final_check(struct worker *w)
{
	struct hmm_dmirror_cmd cmd;
	unsigned long first, n;
	unsigned int r, d;

	self = w;
	for (r = 0; r < nregions; r++) {
		struct region *reg = &regions[r];

		for (d = 0; d < ndevs; d++) {
			for (first = 0; first < reg->npages; first += n) {
				n = reg->npages - first;
				if (n > MAX_RANGE_PAGES)
					n = MAX_RANGE_PAGES;
				if (op_dmirror(w, OP_DEV_READ, w->fd[d],
					       HMM_DMIRROR_READ,
					       reg->base + first * page_size,
					       w->bounce, n, &cmd))
					continue;
				check_own(w, "final device READ", r, first, n,
					  w->bounce, true);
			}
		}
		check_own(w, "final cpu", r, 0, reg->npages, reg->base, true);
	}
}

/*
 * With evict_on_close (the default), once every file is closed and every
 * region unmapped no page of ours can be in device memory: returns the
 * device pages still in use on any device, or -1 if that cannot be told.
 * It assumes nobody else uses the devices meanwhile.
 */
static long leftover_pages(void)
{
	struct hmmsim_stats st;
	unsigned int t, d, r;
	long used = evict_on_close_param() == 1 ? 0 : -1;
	int fd, err;

	for (r = 0; r < nregions; r++)
		munmap(regions[r].base, regions[r].npages * page_size);
	for (t = 0; t < nthreads; t++)
		for (d = 0; d < ndevs; d++)
			close(workers[t].fd[d]);
	if (used < 0)
		return -1;
	for (d = 0; d < ndevs; d++) {
		fd = open(devs[d].path, O_RDWR | O_CLOEXEC);
		err = fd < 0 ? -errno : get_stats(fd, &st);
		if (err)
			die("%s: STATS: %s\n", devs[d].path, strerror(-err));
		close(fd);
		if (st.pages_used)
			printf("# device %u: %llu pages still in use\n",
			       devs[d].id, (unsigned long long)st.pages_used);
		used += st.pages_used;
	}
	return used;
}

static void summary(long leftover)
{
	unsigned long count[NR_OPS] = { 0 }, errs[NR_ERRNO];
	unsigned long unexpected = 0, loss = 0, checked = 0;
	unsigned long fork_fail = 0, exit_fail = 0;
	unsigned int t, op, e;
	char line[512];
	int n;

	for (t = 0; t < nthreads; t++) {
		struct worker *w = &workers[t];

		for (op = 0; op < NR_OPS; op++)
			count[op] += w->count[op];
		unexpected += w->unexpected;
		loss += w->data_loss;
		checked += w->pages_checked;
		fork_fail += w->fork_fail;
		exit_fail += w->exit_fail;
	}
	printf("# %-26s %10s  errnos\n", "operation", "count");
	for (op = 0; op < NR_OPS; op++) {
		memset(errs, 0, sizeof(errs));
		for (t = 0; t < nthreads; t++)
			for (e = 0; e < NR_ERRNO; e++)
				errs[e] += workers[t].err[op][e];
		n = 0;
		line[0] = 0;
		for (e = 0; e < NR_ERRNO && n < (int)sizeof(line) - 40; e++)
			if (errs[e])
				n += snprintf(line + n, sizeof(line) - n,
					      " %s:%lu", e ? strerrorname_np(e) :
					      "other", errs[e]);
		printf("# %-26s %10lu %s\n", op_names[op], count[op], line);
	}
	printf("1..5\n");
	printf("%sok 1 stress: no data loss (%lu pages checked)\n",
	       loss ? "not " : "", checked);
	printf("%sok 2 stress: no unexpected errno (%lu)\n",
	       unexpected ? "not " : "", unexpected);
	printf("%sok 3 stress: fork children see consistent copies (%lu of %lu failed)\n",
	       fork_fail ? "not " : "", fork_fail, count[OP_FORK_CHECK]);
	printf("%sok 4 stress: children exiting with pages on a device (%lu of %lu failed)\n",
	       exit_fail ? "not " : "", exit_fail, count[OP_FORK_EXIT]);
	if (leftover < 0)
		printf("ok 5 stress: no device page left after close # SKIP evict_on_close is N\n");
	else
		printf("%sok 5 stress: no device page left after close (%ld left)\n",
		       leftover ? "not " : "", leftover);
}

int main(int argc, char **argv)
{
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };
	struct sigaction sa = { .sa_handler = fatal_signal,
				.sa_flags = SA_RESETHAND };
	const char *devlist = NULL, *excluded = NULL;
	struct worker *w;
	long leftover;
	time_t t0;
	bool seeded = false;
	unsigned int i, t;
	int opt, bad;

	while ((opt = getopt(argc, argv, "d:t:D:r:m:p:s:x:Fh")) != -1) {
		switch (opt) {
		case 'd':
			duration = parse_num(optarg);
			break;
		case 't':
			nthreads = parse_num(optarg);
			break;
		case 'D':
			devlist = optarg;
			break;
		case 'r':
			nregions = parse_num(optarg);
			break;
		case 'm':
			region_mib = parse_num(optarg);
			break;
		case 'p':
			stripe = parse_num(optarg);
			break;
		case 's':
			seed = strtoull(optarg, NULL, 0);
			seeded = true;
			break;
		case 'x':
			parse_excluded(optarg);
			excluded = optarg;
			break;
		case 'F':
			fault_injection = true;
			break;
		default:
			help(argv[0]);
		}
	}
	if (optind != argc || !nthreads || nthreads > MAX_THREADS ||
	    !nregions || !region_mib || region_mib % 2 || !stripe ||
	    (region_mib << 20) / sysconf(_SC_PAGESIZE) < stripe * nthreads)
		help(argv[0]);

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("TAP version 13\n");
	if (!seeded) {
		struct timespec now;

		clock_gettime(CLOCK_REALTIME, &now);
		seed = mix64((unsigned long long)now.tv_sec << 32 ^
			     now.tv_nsec ^ getpid());
	}
	if (devlist) {
		parse_devices(devlist);
	} else {
		for (i = 0; i < MAX_DEVICES; i++)
			add_device(i, false);
	}
	if (!ndevs) {
		printf("1..0 # SKIP no hmmsim device\n");
		return 4;
	}
	for (i = 0; i < ARRAY_SIZE(sigs); i++)
		sigaction(sigs[i], &sa, NULL);

	printf("# hmmsim_stress -d %u -t %u -r %u -m %lu -p %lu -s %#llx -D ",
	       duration, nthreads, nregions, region_mib, stripe, seed);
	for (i = 0; i < ndevs; i++)
		printf("%s%u", i ? "," : "", devs[i].id);
	if (excluded)
		printf(" -x %s", excluded);
	printf("\n# devices:");
	for (i = 0; i < ndevs; i++)
		printf(" %u (%s, %llu MiB)", devs[i].id,
		       devs[i].info.type == HMMSIM_MEM_COHERENT ? "coherent" :
		       "private",
		       (unsigned long long)devs[i].info.capacity >> 20);
	printf("\n");

	for (i = 0; i < NR_OPS; i++)
		total_weight += op_weight[i];
	if (!total_weight)
		die("every operation is excluded\n");
	t0 = time(NULL);
	setup();
	for (t = 0; t < nthreads; t++)
		if (pthread_create(&workers[t].thread, NULL, worker_main,
				   &workers[t]))
			die("pthread_create\n");
	monitor();
	__atomic_store_n(&stop, true, __ATOMIC_RELAXED);
	for (t = 0; t < nthreads; t++)
		pthread_join(workers[t].thread, NULL);

	w = &workers[0];
	say("# %lds: final check of every page\n", (long)(time(NULL) - t0));
	final_check(w);
	leftover = leftover_pages();
	summary(leftover);
	printf("# done in %lds\n", (long)(time(NULL) - t0));
	bad = 0;
	for (t = 0; t < nthreads; t++)
		bad |= workers[t].unexpected || workers[t].data_loss ||
		       workers[t].fork_fail || workers[t].exit_fail;
	bad |= leftover > 0;
	return bad ? 1 : 0;
}
