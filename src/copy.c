// SPDX-License-Identifier: GPL-2.0
/**
 * DOC: Copy engine
 *
 * Every byte that moves between system memory and device memory, or between
 * the device and a user buffer, goes through here as a descriptor in a
 * batch, the way a DMA engine takes a scatter list. A batch is submitted
 * once and completes once: its completion is the fence the submitter waits
 * on.
 *
 * The engine has channels: an unbound workqueue with one work item per
 * channel in flight. A batch has as many participants as there are
 * channels (fewer for a small one: one per HMMSIM_COPY_MIN_PIECE
 * descriptors): channels, which start at submission, and the submitter,
 * which joins when it waits for the fence (it would only sleep on it
 * otherwise). A submitter with other work to do before it needs the data
 * (the next window of a migration) does it in between, while the channels
 * copy. Each participant claims HMMSIM_COPY_MIN_PIECE descriptors at a
 * time until none is left, so the work goes to whoever is running, and a
 * channel that has not started by then is called off. Handing work to
 * another CPU costs a wakeup, and on a loaded machine that CPU may be slow
 * to come: a small batch never leaves the submitter, and nobody waits for
 * more than one claim of another. The last to finish signals the fence. A
 * descriptor with no source clears its destination (an untouched page).
 *
 * The engine models each device's link: each batch takes the configured
 * latency plus its bytes at the configured bandwidth (configfs attributes
 * and module parameters copy_latency_us and copy_bandwidth; 0, the default,
 * is as fast as the CPUs copy). The link is the device's own: the batches
 * of one device take turns on it, and a slow device never slows another.
 * The channels do not sleep for it: the last piece of a batch books the
 * batch's time on its device's link (hdev->link_free_ns), and the fence
 * waiter sleeps until then. That sleep is the only long wait in the engine,
 * and it ends early, with the data already in place, for a fatal signal or
 * when the batch's stop callback says the command is being canceled. The
 * fail_copy fault attribute makes whole batches fail, which the callers
 * survive without losing data. Completion statistics (batches,
 * descriptors, time in the engine including the link) are in debugfs.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/hrtimer.h>
#include <linux/highmem.h>
#include <linux/math64.h>
#include <linux/memremap.h>
#include <linux/moduleparam.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/workqueue.h>

#include "hmmsim_drv.h"

/* Descriptors claimed at a time; fewer are not worth another channel. */
#define HMMSIM_COPY_MIN_PIECE	16

/* The link wait looks at the batch's stop callback this often. */
#define HMMSIM_COPY_STOP_POLL_NS	(10 * NSEC_PER_MSEC)

static unsigned int copy_channels;
module_param(copy_channels, uint, 0444);
MODULE_PARM_DESC(copy_channels, "Copy engine channels (default: one per online CPU, at most 16)");

static struct workqueue_struct *hmmsim_copy_wq;
static unsigned int hmmsim_copy_nr_channels;

/**
 * hmmsim_copy_init() - start the copy engine's channels
 *
 * Return: 0 or -ENOMEM.
 */
int hmmsim_copy_init(void)
{
	unsigned int n = copy_channels ? copy_channels : num_online_cpus();

	hmmsim_copy_nr_channels = clamp(n, 1U, HMMSIM_COPY_MAX_CHANNELS);
	hmmsim_copy_wq = alloc_workqueue("hmmsim_copy",
					 WQ_UNBOUND | WQ_HIGHPRI | WQ_MEM_RECLAIM,
					 hmmsim_copy_nr_channels);
	return hmmsim_copy_wq ? 0 : -ENOMEM;
}

/**
 * hmmsim_copy_exit() - stop the channels, once no batch is in flight
 */
void hmmsim_copy_exit(void)
{
	destroy_workqueue(hmmsim_copy_wq);
}

/**
 * hmmsim_copy_batch_init() - set up a reusable batch
 * @batch: the batch.
 * @hdev: the device whose engine runs it.
 * @max: the most descriptors it will hold.
 * @gfp: allocation flags.
 *
 * Return: 0 or -ENOMEM.
 */
int hmmsim_copy_batch_init(struct hmmsim_copy_batch *batch,
			   struct hmmsim_device *hdev, unsigned int max,
			   gfp_t gfp)
{
	batch->descs = kvmalloc_array(max, sizeof(*batch->descs), gfp);
	batch->pieces = kmalloc_array(hmmsim_copy_nr_channels,
				      sizeof(*batch->pieces), gfp);
	if (!batch->descs || !batch->pieces) {
		hmmsim_copy_batch_fini(batch);
		return -ENOMEM;
	}
	batch->hdev = hdev;
	batch->max = max;
	batch->stop = NULL;
	batch->stop_arg = NULL;
	hmmsim_copy_batch_reset(batch);
	return 0;
}

/**
 * hmmsim_copy_batch_fini() - free a batch that is not in flight
 * @batch: the batch.
 */
void hmmsim_copy_batch_fini(struct hmmsim_copy_batch *batch)
{
	kvfree(batch->descs);
	batch->descs = NULL;
	kfree(batch->pieces);
	batch->pieces = NULL;
}

/**
 * hmmsim_copy_batch_reset() - empty a completed batch for reuse
 * @batch: the batch.
 */
void hmmsim_copy_batch_reset(struct hmmsim_copy_batch *batch)
{
	batch->nr = 0;
	batch->error = 0;
	batch->link_done_ns = 0;
	init_completion(&batch->done);
}

/**
 * hmmsim_copy_add() - queue one descriptor
 * @batch: a batch not yet submitted, with room left.
 * @desc: the descriptor, copied into the batch.
 */
void hmmsim_copy_add(struct hmmsim_copy_batch *batch,
		     const struct hmmsim_copy_desc *desc)
{
	if (WARN_ON_ONCE(batch->nr >= batch->max)) {
		batch->error = -EINVAL;
		return;
	}
	batch->descs[batch->nr++] = *desc;
}

/**
 * hmmsim_copy_endpoint() - how the engine reaches a page
 * @page: a system page, or a device page of any hmmsim device.
 * @pagep: set to @page if the engine maps the page itself.
 * @addrp: set to the store address of a private device page, whose data
 *	is not in the page.
 *
 * Sets one of @pagep and @addrp, leaving the other alone.
 */
void hmmsim_copy_endpoint(struct page *page, struct page **pagep,
			  void **addrp)
{
	if (is_device_private_page(page))
		*addrp = hmmsim_devmem_page_addr(page);
	else
		*pagep = page;
}

/**
 * hmmsim_copy_endpoint_next() - step an endpoint on to the next page
 * @pagep: the page hmmsim_copy_endpoint() set, or NULL.
 * @addrp: the store address hmmsim_copy_endpoint() set, or NULL.
 *
 * For the pages of one folio, which follow each other in the memmap and,
 * for a private device page, in its chunk's store.
 */
void hmmsim_copy_endpoint_next(struct page **pagep, void **addrp)
{
	if (*pagep)
		(*pagep)++;
	else if (*addrp)
		*addrp += PAGE_SIZE;
}

/*
 * Copy or clear one piece. Whole pages use copy_page() and clear_page(),
 * the architecture's page primitives: on x86 memcpy() is "rep movsb",
 * which some CPUs (and QEMU's TCG) run several times slower than the
 * "rep movsq" of copy_page().
 */
static void hmmsim_copy_one(const struct hmmsim_copy_desc *d)
{
	void *dst = d->dst_page ? kmap_local_page(d->dst_page) : d->dst_addr;
	void *src = d->src_page ? kmap_local_page(d->src_page) : d->src_addr;
	bool whole = d->len == PAGE_SIZE && !d->src_off && !d->dst_off;

	if (!src && whole)
		clear_page(dst);
	else if (!src)
		memset(dst + d->dst_off, 0, d->len);
	else if (whole)
		copy_page(dst, src);
	else
		memcpy(dst + d->dst_off, src + d->src_off, d->len);

	if (d->src_page)
		kunmap_local(src);
	if (d->dst_page)
		kunmap_local(dst);
}

/*
 * The link model: a batch takes the configured latency, plus its bytes at
 * the configured bandwidth (0 means no limit), after the batches booked on
 * the device's link before it. Returns when the link is done with it.
 */
static u64 hmmsim_copy_link_book(struct hmmsim_device *hdev, u64 bytes)
{
	const struct hmmsim_device_config *cfg = &hdev->cfg;
	u64 ns = (u64)cfg->copy_latency_us * NSEC_PER_USEC, now, done;

	if (cfg->copy_bandwidth)
		ns += div64_u64(bytes * NSEC_PER_SEC, cfg->copy_bandwidth);
	if (!ns)
		return 0;
	now = ktime_get_ns();
	spin_lock(&hdev->link_lock);
	done = max(now, hdev->link_free_ns) + ns;
	hdev->link_free_ns = done;
	spin_unlock(&hdev->link_lock);
	return done;
}

/* The fence: the last piece to finish accounts for the batch and signals. */
static void hmmsim_copy_complete(struct hmmsim_copy_batch *batch)
{
	struct hmmsim_device *hdev = batch->hdev;
	u64 bytes = 0;
	unsigned int i;

	if (!batch->error) {
		for (i = 0; i < batch->nr; i++)
			bytes += batch->descs[i].len;
		if (batch->nr)
			batch->link_done_ns = hmmsim_copy_link_book(hdev, bytes);
		hmmsim_count(hdev, HMMSIM_STAT_BYTES_COPIED, bytes);
	}
	atomic64_inc(&hdev->copy_batches);
	atomic64_add(batch->nr, &hdev->copy_descs);
	atomic64_add(max(ktime_get_ns(), batch->link_done_ns) - batch->start_ns,
		     &hdev->copy_ns);
	complete(&batch->done);
}

/* A piece is done, or will never run: the last one signals the fence. */
static void hmmsim_copy_piece_done(struct hmmsim_copy_batch *batch)
{
	if (atomic_dec_and_test(&batch->pending))
		hmmsim_copy_complete(batch);
}

/*
 * Claim descriptors of the batch, HMMSIM_COPY_MIN_PIECE at a time, and
 * copy them, until none is left: a channel that starts late finds less to
 * do, and nobody waits for more than the last claim of another.
 */
static void hmmsim_copy_piece_run(struct hmmsim_copy_piece *piece)
{
	struct hmmsim_copy_batch *batch = piece->batch;
	unsigned int i, end;

	while ((i = atomic_fetch_add(HMMSIM_COPY_MIN_PIECE, &batch->next)) <
	       batch->nr) {
		end = min(batch->nr, i + HMMSIM_COPY_MIN_PIECE);
		for (; i < end; i++)
			hmmsim_copy_one(&batch->descs[i]);
	}
	hmmsim_copy_piece_done(batch);
}

static void hmmsim_copy_piece_work(struct work_struct *work)
{
	hmmsim_copy_piece_run(container_of(work, struct hmmsim_copy_piece,
					   work));
}

/**
 * hmmsim_copy_submit() - hand a batch to the engine
 * @batch: the batch; must not be touched until hmmsim_copy_wait() returns.
 *
 * The channels start on the batch; the submitter joins them in
 * hmmsim_copy_wait(), and may do other work before it does.
 */
void hmmsim_copy_submit(struct hmmsim_copy_batch *batch)
{
	unsigned int i;

	batch->start_ns = ktime_get_ns();
	batch->nr_pieces = 0;
	if (!batch->error && batch->nr &&
	    hmmsim_should_fail(&batch->hdev->fail_copy))
		batch->error = -EIO;
	if (batch->error || !batch->nr) {
		atomic_set(&batch->pending, 0);
		hmmsim_copy_complete(batch);
		return;
	}

	batch->nr_pieces = clamp(batch->nr / HMMSIM_COPY_MIN_PIECE, 1U,
				 hmmsim_copy_nr_channels);
	atomic_set(&batch->pending, batch->nr_pieces);
	atomic_set(&batch->next, 0);
	for (i = 0; i < batch->nr_pieces; i++) {
		struct hmmsim_copy_piece *piece = &batch->pieces[i];

		piece->batch = batch;
		INIT_WORK(&piece->work, hmmsim_copy_piece_work);
		if (i)
			queue_work(hmmsim_copy_wq, &piece->work);
	}
}

/*
 * The submitter's part of a submitted batch: piece 0, claiming what the
 * channels have not. Nothing is left to claim after it: a channel's piece
 * that has not started by then never runs.
 */
static void hmmsim_copy_join(struct hmmsim_copy_batch *batch)
{
	unsigned int i;

	if (!batch->nr_pieces)
		return;
	hmmsim_copy_piece_run(&batch->pieces[0]);
	for (i = batch->nr_pieces - 1; i > 0; i--)
		if (cancel_work(&batch->pieces[i].work))
			hmmsim_copy_piece_done(batch);
}

/* Whether the link wait of @batch should end now, before the link is done. */
static bool hmmsim_copy_stop(const struct hmmsim_copy_batch *batch)
{
	return fatal_signal_pending(current) ||
	       (batch->stop && batch->stop(batch->stop_arg));
}

/*
 * Sleep until the link is done with @batch, killable, and looking at its
 * stop callback every HMMSIM_COPY_STOP_POLL_NS.
 */
static void hmmsim_copy_link_wait(const struct hmmsim_copy_batch *batch)
{
	u64 now;

	while ((now = ktime_get_ns()) < batch->link_done_ns &&
	       !hmmsim_copy_stop(batch)) {
		ktime_t until = ns_to_ktime(min(batch->link_done_ns,
						now + HMMSIM_COPY_STOP_POLL_NS));

		set_current_state(TASK_KILLABLE);
		schedule_hrtimeout_range(&until, 0, HRTIMER_MODE_ABS);
	}
}

/**
 * hmmsim_copy_wait() - copy what is left of a submitted batch, and wait for
 *	its fence
 * @batch: the batch.
 *
 * The copy itself is short and always waited for; the time the device's
 * link then takes is not, for a fatal signal or the batch's stop callback:
 * the data is in place either way.
 *
 * Return: 0 if every descriptor was executed, or the batch's error; the
 * batch may then be reset and reused.
 */
int hmmsim_copy_wait(struct hmmsim_copy_batch *batch)
{
	hmmsim_copy_join(batch);
	wait_for_completion(&batch->done);
	hmmsim_copy_link_wait(batch);
	return batch->error;
}
