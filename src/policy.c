// SPDX-License-Identifier: GPL-2.0
/**
 * DOC: Policy
 *
 * Where pages live when the device touches them: the layer between the
 * command layer (cmd.c) and the mirror (mirror.c) and migration
 * (migrate.c), as a GPU driver's fault handler sits above its mirror and
 * its migration code. The semantics, for userspace, are in uapi/hmmsim.h
 * ("The device's policy") and Documentation/policy.rst.
 *
 * An access stream (hmmsim_policy_run()) issues its loads and stores in
 * groups through hmmsim_mirror_touch(). The misses go to a fault buffer of
 * the device's fault_batch entries and wait there; the other accesses go
 * on, as a GPU's other warps do. A full buffer, or the end of the stream,
 * is serviced as one batch (hmmsim_policy_service()):
 *
 * 1. the faults are sorted and coalesced by page;
 * 2. each faulting page gets a decision (hmmsim_policy_decide()): its
 *    advice, its thrashing state and the policy say whether it moves to the
 *    device, and with which aligned block around it (prefetch), less the
 *    pages of the block whose own advice keeps them where they are;
 * 3. the blocks to move, and the pages whose access counters reached the
 *    threshold since the last batch (serviced also on their own, when as
 *    many are waiting as a batch has faults), move with
 *    hmmsim_migrate_to_device();
 *    a page that could not move (device full, a page the kernel would not
 *    isolate) is simply served remotely;
 * 4. every faulting page is faulted into the device page table with
 *    hmmsim_mirror_fault_in(): in device memory if it moved, remotely
 *    otherwise (device_faults counts the batch's pages, not these calls);
 * 5. the batch costs the device's fault_latency_us;
 * 6. the waiting accesses are replayed.
 *
 * Per page, the policy keeps an access counter and its thrashing history
 * (struct hmmsim_policy_page), in an xarray indexed by virtual page number,
 * only for pages it has counted or moved; per range, the advice (struct
 * hmmsim_advice_range), in a sorted array. Both go with the addresses
 * on munmap() or mremap(), which the mirror reports through its ops
 * (hmmsim_policy_unmap()).
 *
 * Time is the file's count of device accesses (@clock): windows and pins
 * are measured in it, so that a decision does not depend on how fast the
 * machine runs.
 *
 * Locking: ``ps->lock`` (spinlock) protects the policy settings and the
 * advice array; the xarray's own lock protects the per-page state, which
 * is only ever read or changed under it. Both nest inside
 * ``mirror->pt_lock`` (the unmap callback) and nothing is taken under them.
 * Streams on one file may run concurrently: each has its own fault buffer
 * and they share the per-page state.
 */
#include <linux/delay.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/mmap_lock.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/uaccess.h>
#include <linux/xarray.h>

#include "hmmsim_drv.h"
#include "trace.h"

/* Accesses issued, at most, between two looks at the fault buffer. */
#define HMMSIM_POLICY_GROUP	64

/* 2 MiB, the largest block a fault moves. */
#define HMMSIM_POLICY_MAX_ORDER	ilog2(HMMSIM_CHUNK_PAGES)

/**
 * struct hmmsim_advice_range - advice for [start, end)
 * @start: first address.
 * @end: end address.
 * @advice: the advice, packed (HMMSIM_ADVICE_*).
 */
struct hmmsim_advice_range {
	unsigned long start;
	unsigned long end;
	u32 advice;
};

/**
 * struct hmmsim_policy_page - what the policy remembers of one page
 * @count: remote accesses since @count_start.
 * @count_start: the clock at the first of them.
 * @moved_at: the clock at the page's last %HMMSIM_MAX_THRASH_THRESHOLD
 *	moves to the device, a ring.
 * @nr_moved: moves recorded in @moved_at, the next one's slot modulo its
 *	size.
 * @pinned_until: the clock until which the page is pinned in system
 *	memory as thrashing.
 * @queued: its counter reached the threshold: it moves at the next batch.
 */
struct hmmsim_policy_page {
	u32 count;
	u32 nr_moved;
	u64 count_start;
	u64 moved_at[HMMSIM_MAX_THRASH_THRESHOLD];
	u64 pinned_until;
	bool queued;
};

/**
 * struct hmmsim_policy_state - a file's policy
 * @lock: protects @pol, @adv and @nr_adv (see DOC: Policy).
 * @pol: the settings (HMMSIM_IOCTL_SET_POLICY).
 * @adv: the advice ranges, sorted and disjoint.
 * @nr_adv: ranges in @adv.
 * @max_adv: room in @adv.
 * @pages: struct hmmsim_policy_page, by virtual page number.
 * @clock: device accesses of the file's streams so far.
 */
struct hmmsim_policy_state {
	spinlock_t lock;		/* see above */
	struct hmmsim_policy pol;
	struct hmmsim_advice_range *adv;
	unsigned int nr_adv;
	unsigned int max_adv;
	struct xarray pages;
	atomic64_t clock;
};

/* A device fault waiting in the fault buffer: the access that took it. */
struct hmmsim_policy_fault {
	unsigned long addr;
	bool store;
};

/* A page to fault in after a batch, and where it should go. */
struct hmmsim_policy_decision {
	unsigned long addr;
	unsigned long block_start;
	unsigned long block_end;
	bool store;
	bool move;
};

/**
 * struct hmmsim_stream - one access stream being run
 * @mirror: the file's mirror.
 * @s: the command's scratch buffers, for migrations and faults.
 * @ps: the file's policy state.
 * @pol: the policy, as it was when the stream began.
 * @acc: the stream, from userspace; its outputs are filled in.
 * @batch: the device's fault batch size.
 * @rng: state of the random choices.
 * @next: the next access to issue.
 * @pos: the page of the next access, for the sequential and strided
 *	patterns.
 * @step: pages from one access to the next, below @npages.
 * @touch: the group of accesses being issued.
 * @faults: the fault buffer.
 * @nr_faults: entries in @faults.
 * @copy: room for a copy of @faults: sorted, or waiting for the replay.
 * @dec: one decision per faulting page of a batch.
 * @queued: pages whose counters reached the threshold, to move.
 * @nr_queued: entries in @queued.
 * @map_base: the 2 MiB block @map describes, or 1 for none.
 * @map: density prefetch: the pages of that block on the device or
 *	faulting in the batch being serviced.
 */
struct hmmsim_stream {
	struct hmmsim_mirror *mirror;
	struct hmmsim_scratch *s;
	struct hmmsim_policy_state *ps;
	struct hmmsim_policy pol;
	struct hmmsim_access *acc;
	unsigned int batch;
	u64 rng;
	u64 next;
	u64 pos;
	u64 step;
	struct hmmsim_touch touch[HMMSIM_POLICY_GROUP];
	struct hmmsim_policy_fault *faults;
	unsigned int nr_faults;
	struct hmmsim_policy_fault *copy;
	struct hmmsim_policy_decision *dec;
	unsigned long *queued;
	unsigned int nr_queued;
	unsigned long map_base;
	DECLARE_BITMAP(map, HMMSIM_CHUNK_PAGES);
};

static const struct hmmsim_policy hmmsim_policy_defaults = {
	.size = sizeof(struct hmmsim_policy),
	.migrate = HMMSIM_POLICY_REMOTE,
	.prefetch = HMMSIM_PREFETCH_NONE,
	.prefetch_pages = 16,
	.density_pct = 50,
	.counter_threshold = 8,
	.counter_window = 0,
	.thrash_threshold = 3,
	.thrash_window = 4096,
	.thrash_pin = 4096,
};

/* Advice: the range in @ps's array that holds @addr, or NULL. */
static struct hmmsim_advice_range *
hmmsim_policy_find_advice(struct hmmsim_policy_state *ps, unsigned long addr)
{
	unsigned int lo = 0, hi = ps->nr_adv;

	lockdep_assert_held(&ps->lock);
	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;
		struct hmmsim_advice_range *r = &ps->adv[mid];

		if (addr < r->start)
			hi = mid;
		else if (addr >= r->end)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

/* The first range of @ps that ends after @addr: where [addr, ...) begins. */
static unsigned int hmmsim_policy_advice_from(struct hmmsim_policy_state *ps,
					      unsigned long addr)
{
	unsigned int lo = 0, hi = ps->nr_adv;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (ps->adv[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The ranges the array would hold once [start, end) is cut out of it. */
static unsigned int hmmsim_policy_count_cut(struct hmmsim_policy_state *ps,
					    unsigned long start,
					    unsigned long end)
{
	unsigned int i = hmmsim_policy_advice_from(ps, start), n = ps->nr_adv;

	for (; i < ps->nr_adv && ps->adv[i].start < end; i++) {
		struct hmmsim_advice_range *r = &ps->adv[i];

		if (r->start < start && r->end > end)
			n++;
		else if (r->start >= start && r->end <= end)
			n--;
	}
	return n;
}

/*
 * Cut [start, end) out of the advice: ranges inside it go, ranges across
 * an end are trimmed, a range across both is split in two, which needs a
 * free slot in the array: false if there is none (the caller made room, or
 * the range's advice beyond @end is dropped, see hmmsim_policy_unmap()).
 */
static bool hmmsim_policy_cut(struct hmmsim_policy_state *ps,
			      unsigned long start, unsigned long end)
{
	unsigned int i = hmmsim_policy_advice_from(ps, start), first = i;
	struct hmmsim_advice_range *r;
	bool ok = true;

	lockdep_assert_held(&ps->lock);
	if (i < ps->nr_adv && ps->adv[i].start < start && ps->adv[i].end > end) {
		r = &ps->adv[i];
		if (ps->nr_adv < ps->max_adv) {
			memmove(r + 1, r, (ps->nr_adv - i) * sizeof(*r));
			ps->nr_adv++;
			r[1].start = end;
		} else {
			ok = false;
		}
		r->end = start;
		return ok;
	}
	if (i < ps->nr_adv && ps->adv[i].start < start) {
		ps->adv[i].end = start;
		first = ++i;
	}
	while (i < ps->nr_adv && ps->adv[i].end <= end)
		i++;
	if (i < ps->nr_adv && ps->adv[i].start < end)
		ps->adv[i].start = end;
	memmove(&ps->adv[first], &ps->adv[i],
		(ps->nr_adv - i) * sizeof(*ps->adv));
	ps->nr_adv -= i - first;
	return ok;
}

/* Put the advice for [start, end), cut out before, in its place. */
static void hmmsim_policy_insert(struct hmmsim_policy_state *ps,
				 unsigned long start, unsigned long end,
				 u32 advice)
{
	unsigned int i = hmmsim_policy_advice_from(ps, start);
	struct hmmsim_advice_range *r = &ps->adv[i];

	lockdep_assert_held(&ps->lock);
	memmove(r + 1, r, (ps->nr_adv - i) * sizeof(*r));
	*r = (struct hmmsim_advice_range){ start, end, advice };
	ps->nr_adv++;
}

/* Make room for @want ranges in the array, if it has less. */
static int hmmsim_policy_grow(struct hmmsim_policy_state *ps,
			      unsigned int want)
{
	struct hmmsim_advice_range *adv, *old;

	spin_lock(&ps->lock);
	if (ps->max_adv >= want) {
		spin_unlock(&ps->lock);
		return 0;
	}
	spin_unlock(&ps->lock);
	want = max(want, 16U);
	adv = kmalloc_array(want, sizeof(*adv), GFP_KERNEL);
	if (!adv)
		return -ENOMEM;
	spin_lock(&ps->lock);
	old = ps->adv;
	if (ps->max_adv < want) {
		memcpy(adv, ps->adv, ps->nr_adv * sizeof(*adv));
		ps->adv = adv;
		ps->max_adv = want;
	} else {
		old = adv;
	}
	spin_unlock(&ps->lock);
	kfree(old);
	return 0;
}

/* Whether every page of [start, end) is mapped: advice needs a mapping. */
static int hmmsim_policy_check_mapped(struct mm_struct *mm,
				      unsigned long start, unsigned long end)
{
	struct vm_area_struct *vma;
	unsigned long addr = start;
	int ret = 0;

	if (mmap_read_lock_killable(mm))
		return -EINTR;
	for (vma = find_vma(mm, addr); addr < end; vma = find_vma(mm, addr)) {
		if (!vma || vma->vm_start > addr) {
			ret = -EINVAL;
			break;
		}
		addr = vma->vm_end;
	}
	mmap_read_unlock(mm);
	return ret;
}

/**
 * hmmsim_policy_advise() - give advice for a range
 * @mirror: the file's mirror.
 * @start: first address, page aligned.
 * @end: end address.
 * @advice: the advice, packed as HMMSIM_URING_ADVISE packs it and checked
 *	by the caller; 0 removes the range's advice.
 *
 * Return: 0, -EINVAL for a range with a hole, -ENOSPC when the file would
 * hold advice for more than %HMMSIM_MAX_ADVICE_RANGES ranges, -ENOMEM or
 * -EINTR.
 */
int hmmsim_policy_advise(struct hmmsim_mirror *mirror, unsigned long start,
			 unsigned long end, u32 advice)
{
	struct hmmsim_policy_state *ps = mirror->policy;
	unsigned int n;
	int ret;

	ret = hmmsim_policy_check_mapped(mirror->mm, start, end);
	for (;;) {
		if (ret)
			return ret;
		spin_lock(&ps->lock);
		n = hmmsim_policy_count_cut(ps, start, end) + !!advice;
		if (n > HMMSIM_MAX_ADVICE_RANGES) {
			spin_unlock(&ps->lock);
			return -ENOSPC;
		}
		/* One spare slot for the next munmap() to split a range. */
		if (ps->max_adv >= max(n, ps->nr_adv + 1) + 1)
			break;
		spin_unlock(&ps->lock);
		ret = hmmsim_policy_grow(ps, 2 * (ps->nr_adv + 2));
	}
	hmmsim_policy_cut(ps, start, end);
	if (advice)
		hmmsim_policy_insert(ps, start, end, advice);
	spin_unlock(&ps->lock);
	return 0;
}

/* What the policy remembers of the pages of [start, end) goes. */
static void hmmsim_policy_forget(struct hmmsim_policy_state *ps,
				 unsigned long start, unsigned long end)
{
	struct hmmsim_policy_page *pp;
	unsigned long idx;

	xa_lock(&ps->pages);
	xa_for_each_range(&ps->pages, idx, pp, start >> PAGE_SHIFT,
			  (end >> PAGE_SHIFT) - 1) {
		__xa_erase(&ps->pages, idx);
		kfree(pp);
	}
	xa_unlock(&ps->pages);
}

/*
 * Room for one more range, for an unmap that splits one, in reclaim under
 * the page table lock: a bigger array with GFP_NOWAIT. Returns the array
 * it replaced, to free once the lock is dropped, or NULL.
 */
static struct hmmsim_advice_range *
hmmsim_policy_room_nowait(struct hmmsim_policy_state *ps)
{
	struct hmmsim_advice_range *adv, *old = ps->adv;
	unsigned int want = max(2 * ps->max_adv, 16U);

	lockdep_assert_held(&ps->lock);
	if (ps->nr_adv < ps->max_adv)
		return NULL;
	adv = kmalloc_array(want, sizeof(*adv), GFP_NOWAIT | __GFP_NOWARN);
	if (!adv)
		return NULL;
	memcpy(adv, old, ps->nr_adv * sizeof(*adv));
	ps->adv = adv;
	ps->max_adv = want;
	return old;
}

/*
 * The mirror's unmap op (see struct hmmsim_mirror_ops): in reclaim, under
 * the page table lock. Splitting an advice range takes the array's spare
 * slot, which hmmsim_policy_advise() keeps, or a bigger array allocated
 * without reclaim; only if that fails too does the split range keep its
 * advice below the hole alone: advice is a hint, and losing it loses no
 * data.
 */
static void hmmsim_policy_unmap(struct hmmsim_mirror *mirror,
				unsigned long start, unsigned long end)
{
	struct hmmsim_policy_state *ps = mirror->policy;
	struct hmmsim_advice_range *old;

	spin_lock(&ps->lock);
	old = hmmsim_policy_room_nowait(ps);
	hmmsim_policy_cut(ps, start, end);
	spin_unlock(&ps->lock);
	kfree(old);
	hmmsim_policy_forget(ps, start, end);
}

/* What the policy hears from a file's mirror. */
const struct hmmsim_mirror_ops hmmsim_policy_mirror_ops = {
	.unmap = hmmsim_policy_unmap,
};

/**
 * hmmsim_policy_create() - the policy of a new file
 *
 * The defaults: remote access only, as lib/test_hmm's device. The mirror
 * made for the file gets it with &hmmsim_policy_mirror_ops.
 *
 * Return: the policy, or NULL for want of memory.
 */
struct hmmsim_policy_state *hmmsim_policy_create(void)
{
	struct hmmsim_policy_state *ps = kzalloc_obj(*ps, GFP_KERNEL);

	if (!ps)
		return NULL;
	spin_lock_init(&ps->lock);
	ps->pol = hmmsim_policy_defaults;
	xa_init(&ps->pages);
	return ps;
}

/**
 * hmmsim_policy_destroy() - free a file's policy
 * @ps: the policy, or NULL; its mirror's notifier is gone.
 */
void hmmsim_policy_destroy(struct hmmsim_policy_state *ps)
{
	if (!ps)
		return;
	hmmsim_policy_forget(ps, 0, ULONG_MAX & PAGE_MASK);
	xa_destroy(&ps->pages);
	kfree(ps->adv);
	kfree(ps);
}

/**
 * hmmsim_policy_check() - whether policy settings are valid
 * @pol: the settings, from userspace.
 *
 * Return: 0 or -EINVAL.
 */
int hmmsim_policy_check(const struct hmmsim_policy *pol)
{
	if (pol->flags || pol->pad ||
	    memchr_inv(pol->reserved, 0, sizeof(pol->reserved)))
		return -EINVAL;
	if (pol->migrate > HMMSIM_POLICY_COUNTERS ||
	    pol->prefetch > HMMSIM_PREFETCH_DENSITY)
		return -EINVAL;
	if (!is_power_of_2(pol->prefetch_pages) ||
	    pol->prefetch_pages > HMMSIM_CHUNK_PAGES)
		return -EINVAL;
	if (!pol->density_pct || pol->density_pct > 100)
		return -EINVAL;
	if (!pol->counter_threshold || !pol->thrash_window || !pol->thrash_pin ||
	    pol->thrash_threshold > HMMSIM_MAX_THRASH_THRESHOLD)
		return -EINVAL;
	return 0;
}

/**
 * hmmsim_policy_set() - change a file's policy
 * @mirror: the file's mirror.
 * @pol: the settings, checked with hmmsim_policy_check().
 *
 * Streams already running keep the policy they began with.
 */
void hmmsim_policy_set(struct hmmsim_mirror *mirror,
		       const struct hmmsim_policy *pol)
{
	struct hmmsim_policy_state *ps = mirror->policy;

	spin_lock(&ps->lock);
	ps->pol = *pol;
	ps->pol.size = sizeof(*pol);
	spin_unlock(&ps->lock);
}

/**
 * hmmsim_policy_get() - a file's policy
 * @mirror: the file's mirror.
 * @pol: filled in, @size included.
 */
void hmmsim_policy_get(struct hmmsim_mirror *mirror, struct hmmsim_policy *pol)
{
	struct hmmsim_policy_state *ps = mirror->policy;

	spin_lock(&ps->lock);
	*pol = ps->pol;
	spin_unlock(&ps->lock);
}

/**
 * hmmsim_policy_check_stream() - whether an access stream is valid
 * @acc: the stream, from userspace; its range checked by the caller.
 *
 * Return: 0 or -EINVAL.
 */
int hmmsim_policy_check_stream(const struct hmmsim_access *acc)
{
	bool list = acc->pattern == HMMSIM_PATTERN_LIST;
	bool hot = acc->pattern == HMMSIM_PATTERN_HOT;
	bool strided = acc->pattern == HMMSIM_PATTERN_STRIDED;

	if (acc->flags || acc->pad ||
	    memchr_inv(acc->reserved, 0, sizeof(acc->reserved)))
		return -EINVAL;
	if (acc->pattern > HMMSIM_PATTERN_LIST || acc->store_pct > 100 ||
	    (list && acc->store_pct))
		return -EINVAL;
	if (!acc->count || acc->count > BIT_ULL(32))
		return -EINVAL;
	if (strided != !!acc->stride)
		return -EINVAL;
	if (list != !!acc->ptr)
		return -EINVAL;
	if (!hot && (acc->hot_offset || acc->hot_npages || acc->hot_pct))
		return -EINVAL;
	if (hot && (!acc->hot_npages || acc->hot_npages >= acc->npages ||
		    acc->hot_offset > acc->npages - acc->hot_npages ||
		    acc->hot_pct > 100))
		return -EINVAL;
	return 0;
}

/* xorshift64*: the stream's random choices, the same for the same seed. */
static u64 hmmsim_stream_random(struct hmmsim_stream *st)
{
	st->rng ^= st->rng >> 12;
	st->rng ^= st->rng << 25;
	st->rng ^= st->rng >> 27;
	return st->rng * 0x2545f4914f6cdd1dULL;
}

static u64 hmmsim_stream_below(struct hmmsim_stream *st, u64 n)
{
	return mul_u64_u64_shr(hmmsim_stream_random(st), n, 64);
}

/* The page of the next generated access (not for a list). */
static u64 hmmsim_stream_page(struct hmmsim_stream *st)
{
	const struct hmmsim_access *acc = st->acc;
	u64 cold, page = st->pos;

	switch (acc->pattern) {
	case HMMSIM_PATTERN_SEQUENTIAL:
	case HMMSIM_PATTERN_STRIDED:
		st->pos += st->step;
		if (st->pos >= acc->npages)
			st->pos -= acc->npages;
		return page;
	case HMMSIM_PATTERN_RANDOM:
		return hmmsim_stream_below(st, acc->npages);
	}
	if (hmmsim_stream_below(st, 100) < acc->hot_pct)
		return acc->hot_offset + hmmsim_stream_below(st, acc->hot_npages);
	cold = hmmsim_stream_below(st, acc->npages - acc->hot_npages);
	return cold < acc->hot_offset ? cold : cold + acc->hot_npages;
}

/* Fill the group with the next @n accesses of the stream. */
static int hmmsim_stream_issue(struct hmmsim_stream *st, unsigned int n)
{
	const struct hmmsim_access *acc = st->acc;
	u64 entries[HMMSIM_POLICY_GROUP], page;
	u64 __user *list = u64_to_user_ptr(acc->ptr);
	unsigned int i;
	bool store;

	if (acc->pattern == HMMSIM_PATTERN_LIST &&
	    copy_from_user(entries, list + st->next, n * sizeof(u64)))
		return -EFAULT;
	for (i = 0; i < n; i++, st->next++) {
		if (acc->pattern == HMMSIM_PATTERN_LIST) {
			store = entries[i] & HMMSIM_ACCESS_STORE;
			page = entries[i] & ~HMMSIM_ACCESS_STORE;
			if (page >= acc->npages)
				return -EINVAL;
		} else {
			page = hmmsim_stream_page(st);
			store = acc->store_pct &&
				hmmsim_stream_below(st, 100) < acc->store_pct;
		}
		st->touch[i].addr = acc->addr + (page << PAGE_SHIFT);
		st->touch[i].store = store;
	}
	return 0;
}

/*
 * The state of the page at @addr, made if @make; called and returned with
 * the xarray locked, which it may drop to allocate. NULL if there is none,
 * or no memory for one.
 */
static struct hmmsim_policy_page *
hmmsim_stream_page_state(struct hmmsim_policy_state *ps, unsigned long addr,
			 bool make)
	__must_hold(&ps->pages.xa_lock)
{
	unsigned long idx = addr >> PAGE_SHIFT;
	struct hmmsim_policy_page *pp = xa_load(&ps->pages, idx), *cur;

	if (pp || !make)
		return pp;
	xa_unlock(&ps->pages);
	pp = kzalloc_obj(*pp, GFP_KERNEL);
	xa_lock(&ps->pages);
	if (!pp)
		return NULL;
	cur = __xa_cmpxchg(&ps->pages, idx, NULL, pp, GFP_KERNEL);
	if (!cur && !xa_is_err(cur))
		return pp;
	kfree(pp);
	return xa_is_err(cur) ? NULL : cur;
}

/*
 * Access counters: a remote access to @addr at @clock counts; a page that
 * reaches the threshold is queued to move at the next batch.
 */
static void hmmsim_stream_count(struct hmmsim_stream *st, unsigned long addr,
				u64 clock)
{
	struct hmmsim_policy_state *ps = st->ps;
	struct hmmsim_policy_page *pp;

	xa_lock(&ps->pages);
	pp = hmmsim_stream_page_state(ps, addr, true);
	if (!pp || pp->queued)
		goto out;
	if (!pp->count || (st->pol.counter_window &&
			   clock - pp->count_start >= st->pol.counter_window)) {
		pp->count = 0;
		pp->count_start = clock;
	}
	if (++pp->count < st->pol.counter_threshold ||
	    st->nr_queued == st->batch)
		goto out;
	pp->queued = true;
	st->queued[st->nr_queued++] = addr;
out:
	xa_unlock(&ps->pages);
}

/* Take the outcome of an issued group: count, and buffer the misses. */
static void hmmsim_stream_account(struct hmmsim_stream *st,
				  struct hmmsim_touch *t, unsigned int n)
{
	struct hmmsim_device *hdev = st->mirror->hdev;
	unsigned int i, remote = 0;
	u64 clock;

	for (i = 0; i < n; i++) {
		if (t[i].result == HMMSIM_TOUCH_MISS) {
			st->faults[st->nr_faults++] =
				(struct hmmsim_policy_fault){ t[i].addr,
							      t[i].store };
			continue;
		}
		st->acc->done++;
		clock = atomic64_inc_return(&st->ps->clock);
		if (t[i].result != HMMSIM_TOUCH_REMOTE)
			continue;
		remote++;
		if (st->pol.migrate == HMMSIM_POLICY_COUNTERS)
			hmmsim_stream_count(st, t[i].addr, clock);
	}
	st->acc->remote += remote;
	hmmsim_count(hdev, HMMSIM_STAT_REMOTE_ACCESSES, remote);
}

/* Run @n accesses of the group @t and take their outcome. */
static int hmmsim_stream_touch(struct hmmsim_stream *st,
			       struct hmmsim_touch *t, unsigned int n)
{
	int ret = hmmsim_mirror_touch(st->mirror, t, n, &st->acc->checksum);

	hmmsim_stream_account(st, t, n);
	return ret;
}

static int hmmsim_policy_fault_cmp(const void *a, const void *b)
{
	const struct hmmsim_policy_fault *fa = a, *fb = b;

	if (fa->addr != fb->addr)
		return fa->addr < fb->addr ? -1 : 1;
	return 0;
}

/*
 * Step 1 of a batch: one decision per faulting page, in address order,
 * stores or'ed together. Returns the number of pages.
 */
static unsigned int hmmsim_policy_coalesce(struct hmmsim_stream *st)
{
	struct hmmsim_policy_fault *sorted = st->copy;
	unsigned int i, n = 0;

	memcpy(sorted, st->faults, st->nr_faults * sizeof(*sorted));
	sort(sorted, st->nr_faults, sizeof(*sorted), hmmsim_policy_fault_cmp,
	     NULL);
	for (i = 0; i < st->nr_faults; i++) {
		if (n && st->dec[n - 1].addr == sorted[i].addr) {
			st->dec[n - 1].store |= sorted[i].store;
			continue;
		}
		st->dec[n++] = (struct hmmsim_policy_decision){
			.addr = sorted[i].addr,
			.store = sorted[i].store,
		};
	}
	return n;
}

/* The page's moves to the device within the @window accesses up to @clock. */
static unsigned int
hmmsim_policy_recent_moves(const struct hmmsim_policy_page *pp, u64 clock,
			   u32 window)
{
	unsigned int i, n = 0;

	for (i = 0; i < min_t(u32, pp->nr_moved, HMMSIM_MAX_THRASH_THRESHOLD); i++)
		if (clock - pp->moved_at[i] < window)
			n++;
	return n;
}

/*
 * Thrashing: whether the page at @addr may move to the device once more
 * at @clock. A page that has moved there thrash_threshold times within the
 * last thrash_window accesses is pinned in system memory for thrash_pin
 * instead, and moves again only once that window allows it: within any
 * window of thrash_window accesses it moves at most thrash_threshold
 * times.
 */
static bool hmmsim_policy_may_move(struct hmmsim_stream *st,
				   unsigned long addr, u64 clock)
{
	const struct hmmsim_policy *pol = &st->pol;
	struct hmmsim_device *hdev = st->mirror->hdev;
	struct hmmsim_policy_state *ps = st->ps;
	struct hmmsim_policy_page *pp;
	bool move = true;

	if (!pol->thrash_threshold)
		return true;
	xa_lock(&ps->pages);
	pp = hmmsim_stream_page_state(ps, addr, true);
	if (!pp)
		goto out;
	if (clock < pp->pinned_until) {
		move = false;
	} else if (hmmsim_policy_recent_moves(pp, clock, pol->thrash_window) >=
		   pol->thrash_threshold) {
		pp->pinned_until = clock + pol->thrash_pin;
		hmmsim_count(hdev, HMMSIM_STAT_THRASH_EVENTS, 1);
		trace_hmmsim_thrash(hdev->id, addr, pol->thrash_threshold);
		move = false;
	}
	if (move)
		pp->moved_at[pp->nr_moved++ % HMMSIM_MAX_THRASH_THRESHOLD] = clock;
	else
		hmmsim_count(hdev, HMMSIM_STAT_THRASH_REMOTE, 1);
out:
	xa_unlock(&ps->pages);
	return move;
}

/* Whether advice keeps pages from moving to the device on this one's faults. */
static bool hmmsim_policy_advice_stays(u32 advice)
{
	return (advice & HMMSIM_URING_ADVISE_ACCESSED_BY) ||
	       HMMSIM_ADVICE_PREFERRED(advice) == HMMSIM_LOCATION_SYSTEM;
}

/* The advice for @addr, 0 for none. */
static u32 hmmsim_policy_advice(struct hmmsim_policy_state *ps,
				unsigned long addr)
{
	struct hmmsim_advice_range *r;
	u32 advice;

	spin_lock(&ps->lock);
	r = hmmsim_policy_find_advice(ps, addr);
	advice = r ? r->advice : 0;
	spin_unlock(&ps->lock);
	return advice;
}

/*
 * The pages of the 2 MiB block at @base on the device or faulting in the
 * batch, into @st->map, once per block and batch: the decisions are in
 * address order.
 */
static void hmmsim_policy_map_block(struct hmmsim_stream *st, unsigned int nr,
				    unsigned long base)
{
	unsigned long end = base + HMMSIM_CHUNK_SIZE;
	unsigned int i;

	if (st->map_base == base)
		return;
	st->map_base = base;
	bitmap_zero(st->map, HMMSIM_CHUNK_PAGES);
	hmmsim_mirror_local_map(st->mirror, base, end, st->map);
	for (i = 0; i < nr; i++)
		if (st->dec[i].addr >= base && st->dec[i].addr < end)
			__set_bit((st->dec[i].addr - base) >> PAGE_SHIFT,
				  st->map);
}

/*
 * Density prefetch: the order of the largest aligned block around @d's
 * page, up to 2 MiB, of which density_pct percent is on the device or
 * faulting in this batch.
 */
static unsigned int hmmsim_policy_density(struct hmmsim_stream *st,
					  unsigned int nr,
					  struct hmmsim_policy_decision *d)
{
	unsigned long base = ALIGN_DOWN(d->addr, HMMSIM_CHUNK_SIZE);
	unsigned long idx = (d->addr - base) >> PAGE_SHIFT;
	unsigned int order, best = 0, size, first, in;

	hmmsim_policy_map_block(st, nr, base);
	for (order = 1; order <= HMMSIM_POLICY_MAX_ORDER; order++) {
		size = 1U << order;
		first = ALIGN_DOWN(idx, size);
		in = bitmap_weight(st->map, first + size) -
		     bitmap_weight(st->map, first);
		if (in * 100 >= size * st->pol.density_pct)
			best = order;
	}
	return best;
}

/* Step 2: what becomes of the faulting page @d. */
static void hmmsim_policy_decide(struct hmmsim_stream *st, unsigned int nr,
				 struct hmmsim_policy_decision *d, u64 clock)
{
	unsigned long start = st->acc->addr;
	unsigned long end = start + (st->acc->npages << PAGE_SHIFT);
	u32 advice = hmmsim_policy_advice(st->ps, d->addr);
	u32 where = HMMSIM_ADVICE_PREFERRED(advice);
	unsigned int gran = advice >> HMMSIM_ADVICE_GRAN_SHIFT, order = 0;

	d->move = false;
	if (hmmsim_policy_advice_stays(advice))
		return;
	if (where != HMMSIM_LOCATION_DEVICE &&
	    st->pol.migrate != HMMSIM_POLICY_FIRST_TOUCH)
		return;
	if (!hmmsim_policy_may_move(st, d->addr, clock))
		return;
	d->move = true;
	if (gran)
		order = gran - 1;
	else if (st->pol.prefetch == HMMSIM_PREFETCH_FIXED)
		order = ilog2(st->pol.prefetch_pages);
	else if (st->pol.prefetch == HMMSIM_PREFETCH_DENSITY)
		order = hmmsim_policy_density(st, nr, d);
	/* The block, inside the stream's range. */
	d->block_start = max(ALIGN_DOWN(d->addr, PAGE_SIZE << order), start);
	d->block_end = min(ALIGN_DOWN(d->addr, PAGE_SIZE << order) +
			   (PAGE_SIZE << order), end);
}

/* Move [start, end) to the device; a page that cannot move stays remote. */
static int hmmsim_policy_move(struct hmmsim_stream *st, unsigned long start,
			      unsigned long end, enum hmmsim_policy_reason why,
			      unsigned long *moved)
{
	struct hmmsim_span span = { .start = start, .end = end };
	int ret;

	ret = hmmsim_migrate_to_device(st->mirror, st->s, NULL, &span);
	*moved += span.pages;
	st->acc->migrated += span.pages;
	trace_hmmsim_policy_migrate(st->mirror->hdev->id, start,
				    (end - start) >> PAGE_SHIFT, span.pages,
				    why);
	return ret == -EINTR ? ret : 0;
}

/*
 * The first part of [addr, end) whose advice keeps it where it is, as
 * [*stay_start, *stay_end); both @end if there is none.
 */
static void hmmsim_policy_next_stay(struct hmmsim_policy_state *ps,
				    unsigned long addr, unsigned long end,
				    unsigned long *stay_start,
				    unsigned long *stay_end)
{
	unsigned int i;

	*stay_start = end;
	*stay_end = end;
	spin_lock(&ps->lock);
	for (i = hmmsim_policy_advice_from(ps, addr);
	     i < ps->nr_adv && ps->adv[i].start < end; i++) {
		if (!hmmsim_policy_advice_stays(ps->adv[i].advice))
			continue;
		*stay_start = max(ps->adv[i].start, addr);
		*stay_end = min(ps->adv[i].end, end);
		break;
	}
	spin_unlock(&ps->lock);
}

/*
 * Move a block around faulting or counted pages, but not the pages in it
 * whose own advice says accessed-by or preferred location system: those
 * are left out of the block, which moves in the pieces between them.
 */
static int hmmsim_policy_move_block(struct hmmsim_stream *st,
				    unsigned long start, unsigned long end,
				    enum hmmsim_policy_reason why,
				    unsigned long *moved)
{
	unsigned long addr = start, stay_start, stay_end;
	int ret = 0;

	while (addr < end && !ret) {
		hmmsim_policy_next_stay(st->ps, addr, end, &stay_start,
					&stay_end);
		if (addr < stay_start)
			ret = hmmsim_policy_move(st, addr, stay_start, why,
						 moved);
		addr = stay_end;
	}
	return ret;
}

/* Step 3, for the faults: move the blocks, merged where they touch. */
static int hmmsim_policy_move_blocks(struct hmmsim_stream *st,
				     unsigned int nr)
{
	struct hmmsim_device *hdev = st->mirror->hdev;
	unsigned long start = 0, end = 0, moved = 0, faulting = 0;
	unsigned int i;
	int ret = 0;

	for (i = 0; i < nr && !ret; i++) {
		struct hmmsim_policy_decision *d = &st->dec[i];

		if (!d->move)
			continue;
		faulting++;
		if (end && d->block_start <= end) {
			end = max(end, d->block_end);
			continue;
		}
		if (end)
			ret = hmmsim_policy_move_block(st, start, end,
						       HMMSIM_POLICY_FAULT,
						       &moved);
		start = d->block_start;
		end = d->block_end;
	}
	if (end && !ret)
		ret = hmmsim_policy_move_block(st, start, end,
					       HMMSIM_POLICY_FAULT, &moved);
	faulting = min(faulting, moved);
	hmmsim_count(hdev, HMMSIM_STAT_FAULT_MIGRATIONS, faulting);
	hmmsim_count(hdev, HMMSIM_STAT_PREFETCH_MIGRATIONS, moved - faulting);
	return ret;
}

/*
 * Step 3, for the counters: move the queued pages, each with its block,
 * inside the stream's range as a fault's is.
 */
static int hmmsim_policy_move_queued(struct hmmsim_stream *st, u64 clock)
{
	unsigned long lo = st->acc->addr;
	unsigned long hi = lo + (st->acc->npages << PAGE_SHIFT);
	struct hmmsim_policy_state *ps = st->ps;
	struct hmmsim_policy_page *pp;
	unsigned long addr, moved = 0, start, size;
	unsigned int i, gran;
	u32 advice;
	int ret = 0;

	for (i = 0; i < st->nr_queued && !ret; i++) {
		addr = st->queued[i];
		xa_lock(&ps->pages);
		pp = xa_load(&ps->pages, addr >> PAGE_SHIFT);
		if (pp) {
			pp->queued = false;
			pp->count = 0;
		}
		xa_unlock(&ps->pages);
		advice = hmmsim_policy_advice(ps, addr);
		if (hmmsim_policy_advice_stays(advice) ||
		    !hmmsim_policy_may_move(st, addr, clock))
			continue;
		gran = advice >> HMMSIM_ADVICE_GRAN_SHIFT;
		size = PAGE_SIZE << (gran ? gran - 1 : 0);
		start = ALIGN_DOWN(addr, size);
		ret = hmmsim_policy_move_block(st, max(start, lo),
					       min(start + size, hi),
					       HMMSIM_POLICY_COUNTER, &moved);
	}
	if (!ret)
		st->nr_queued = 0;
	hmmsim_count(st->mirror->hdev, HMMSIM_STAT_COUNTER_MIGRATIONS, moved);
	return ret;
}

/*
 * Fault [start, end) into the device page table, bringing this device's
 * own pages home first where a store needs it (-EXDEV), as the command
 * layer does for a device write.
 */
static int hmmsim_policy_fault_in(struct hmmsim_stream *st,
				  unsigned long start, unsigned long end,
				  bool store)
{
	struct hmmsim_span span = { .start = start, .end = end };
	struct hmmsim_span home;
	int ret;

	for (;;) {
		ret = hmmsim_mirror_fault_in(st->mirror, st->s, &span, store);
		if (ret != -EXDEV)
			return ret;
		home = (struct hmmsim_span){
			.start = hmmsim_span_addr(&span),
			.end = hmmsim_window_end(hmmsim_span_addr(&span), end),
		};
		ret = hmmsim_migrate_to_system(st->mirror, st->s, &home);
		if (!ret)
			ret = hmmsim_window_done();
		if (ret)
			return ret;
	}
}

/* Whether decision @i + 1 goes on decision @i's run: next page, same access. */
static bool hmmsim_policy_same_run(struct hmmsim_stream *st, unsigned int i,
				   unsigned int nr)
{
	return i + 1 < nr &&
	       st->dec[i + 1].addr == st->dec[i].addr + PAGE_SIZE &&
	       st->dec[i + 1].store == st->dec[i].store;
}

/*
 * Step 4: fault every faulting page in, a run of neighbours at a time, for
 * writing where a store faulted.
 */
static int hmmsim_policy_fault_all(struct hmmsim_stream *st, unsigned int nr)
{
	unsigned int i, first = 0;
	int ret;

	for (i = 0; i < nr; i++) {
		if (hmmsim_policy_same_run(st, i, nr))
			continue;
		ret = hmmsim_policy_fault_in(st, st->dec[first].addr,
					     st->dec[i].addr + PAGE_SIZE,
					     st->dec[i].store);
		if (ret)
			return ret;
		first = i + 1;
	}
	return 0;
}

/* Step 6: replay the accesses that waited, in their order. */
static int hmmsim_policy_replay(struct hmmsim_stream *st, unsigned int nr)
{
	struct hmmsim_policy_fault *waiting = st->copy;
	unsigned int i, n;
	int ret;

	memcpy(waiting, st->faults, nr * sizeof(*waiting));
	st->nr_faults = 0;
	for (i = 0; i < nr; i += n) {
		struct hmmsim_touch *t = st->touch;
		unsigned int j;

		n = min(nr - i, (unsigned int)HMMSIM_POLICY_GROUP);
		for (j = 0; j < n; j++) {
			t[j].addr = waiting[i + j].addr;
			t[j].store = waiting[i + j].store;
		}
		ret = hmmsim_stream_touch(st, t, n);
		if (ret)
			return ret;
	}
	return 0;
}

/* Service the fault buffer (and the queued counters) as one batch. */
static int hmmsim_policy_service(struct hmmsim_stream *st)
{
	struct hmmsim_device *hdev = st->mirror->hdev;
	u64 clock = atomic64_read(&st->ps->clock);
	unsigned int nr = 0, i, faults = st->nr_faults;
	int ret;

	st->map_base = 1;
	if (faults) {
		nr = hmmsim_policy_coalesce(st);
		st->acc->faults += nr;
		st->acc->batches++;
		hmmsim_count(hdev, HMMSIM_STAT_FAULT_BATCHES, 1);
		hmmsim_count(hdev, HMMSIM_STAT_DEVICE_FAULTS, nr);
		hmmsim_count(hdev, HMMSIM_STAT_FAULT_DUPLICATES, faults - nr);
		for (i = 0; i < nr; i++)
			hmmsim_policy_decide(st, nr, &st->dec[i], clock);
	}
	ret = hmmsim_policy_move_queued(st, clock);
	if (!ret)
		ret = hmmsim_policy_move_blocks(st, nr);
	if (!ret)
		ret = hmmsim_policy_fault_all(st, nr);
	trace_hmmsim_fault_batch(hdev->id, faults, nr, ret);
	if (ret || !faults)
		return ret;
	if (hdev->cfg.fault_latency_us)
		fsleep(hdev->cfg.fault_latency_us);
	return hmmsim_policy_replay(st, faults);
}

/* Issue the next group of accesses, as many as the fault buffer can take. */
static int hmmsim_stream_step(struct hmmsim_stream *st)
{
	unsigned int n = min3((u64)HMMSIM_POLICY_GROUP,
			      (u64)(st->batch - st->nr_faults),
			      st->acc->count - st->next);
	int ret;

	ret = hmmsim_stream_issue(st, n);
	if (!ret)
		ret = hmmsim_stream_touch(st, st->touch, n);
	return ret;
}

/* A stream that ended on an error leaves no page queued: they count again. */
static void hmmsim_stream_unqueue(struct hmmsim_stream *st)
{
	struct hmmsim_policy_state *ps = st->ps;
	struct hmmsim_policy_page *pp;
	unsigned int i;

	xa_lock(&ps->pages);
	for (i = 0; i < st->nr_queued; i++) {
		pp = xa_load(&ps->pages, st->queued[i] >> PAGE_SHIFT);
		if (pp)
			pp->queued = false;
	}
	xa_unlock(&ps->pages);
}

static void hmmsim_stream_free(struct hmmsim_stream *st)
{
	kvfree(st->faults);
	kvfree(st->copy);
	kvfree(st->dec);
	kvfree(st->queued);
	kfree(st);
}

static struct hmmsim_stream *hmmsim_stream_alloc(struct hmmsim_mirror *mirror)
{
	unsigned int batch = mirror->hdev->cfg.fault_batch;
	struct hmmsim_stream *st = kzalloc_obj(*st, GFP_KERNEL);

	if (!st)
		return NULL;
	st->batch = batch;
	st->faults = kvmalloc_array(batch, sizeof(*st->faults), GFP_KERNEL);
	st->copy = kvmalloc_array(batch, sizeof(*st->copy), GFP_KERNEL);
	st->dec = kvmalloc_array(batch, sizeof(*st->dec), GFP_KERNEL);
	st->queued = kvmalloc_array(batch, sizeof(*st->queued), GFP_KERNEL);
	if (!st->faults || !st->copy || !st->dec || !st->queued) {
		hmmsim_stream_free(st);
		return NULL;
	}
	return st;
}

/**
 * hmmsim_policy_run() - the device runs an access stream
 * @mirror: the file's mirror.
 * @s: the command's scratch buffers, for the migrations and faults.
 * @acc: the stream, checked with hmmsim_policy_check_stream(); its outputs
 *	are added to.
 *
 * See DOC: Policy.
 *
 * Return: 0, or a negative errno: -EINVAL for a list entry beyond the
 * range, -EFAULT for a page the device cannot fault in or a bad list
 * pointer, -EPERM for a store the process may not do, -EIO for a page with
 * a memory error, -EINTR for a fatal signal, -ENOMEM.
 */
int hmmsim_policy_run(struct hmmsim_mirror *mirror, struct hmmsim_scratch *s,
		      struct hmmsim_access *acc)
{
	struct hmmsim_stream *st = hmmsim_stream_alloc(mirror);
	int ret = 0;

	if (!st)
		return -ENOMEM;
	st->mirror = mirror;
	st->s = s;
	st->ps = mirror->policy;
	st->acc = acc;
	st->rng = acc->seed ? acc->seed : 0x9e3779b97f4a7c15ULL;
	if (acc->pattern == HMMSIM_PATTERN_SEQUENTIAL)
		st->step = 1 % acc->npages;
	else if (acc->pattern == HMMSIM_PATTERN_STRIDED)
		st->step = acc->stride % acc->npages;
	hmmsim_policy_get(mirror, &st->pol);

	while (!ret && (st->next < acc->count || st->nr_faults)) {
		if (st->next < acc->count && st->nr_faults < st->batch)
			ret = hmmsim_stream_step(st);
		if (!ret && (st->nr_faults == st->batch ||
			     st->nr_queued == st->batch ||
			     (st->next == acc->count && st->nr_faults)))
			ret = hmmsim_policy_service(st);
		if (!ret && fatal_signal_pending(current))
			ret = -EINTR;
		cond_resched();
	}
	if (!ret && st->nr_queued)
		ret = hmmsim_policy_service(st);
	hmmsim_stream_unqueue(st);
	hmmsim_stream_free(st);
	return ret;
}
