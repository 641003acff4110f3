// SPDX-License-Identifier: GPL-2.0
/*
 * hmmsim: the copy engine.
 *
 * Every byte that moves between system memory and device memory, or between
 * the device and a user buffer, goes through here as a descriptor in a
 * batch. A batch is submitted once and waited for once: one completion per
 * batch, the way a DMA engine signals a fence. This implementation executes
 * a batch synchronously at submission, on the submitting CPU; the interface
 * is the one an asynchronous engine with channels needs, so callers do not
 * change when the engine does.
 *
 * The engine models the device's link: each batch takes the configured
 * latency plus its bytes at the configured bandwidth (configfs attributes
 * and module parameters copy_latency_us and copy_bandwidth; 0, the default,
 * is as fast as the CPU copies). The fail_copy fault attribute makes whole
 * batches fail, which the callers must survive without losing data.
 */
#include <linux/delay.h>
#include <linux/highmem.h>
#include <linux/math64.h>
#include <linux/memremap.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "hmmsim_drv.h"

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
	if (!batch->descs)
		return -ENOMEM;
	batch->hdev = hdev;
	batch->max = max;
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
}

/**
 * hmmsim_copy_batch_reset() - empty a completed batch for reuse
 * @batch: the batch.
 */
void hmmsim_copy_batch_reset(struct hmmsim_copy_batch *batch)
{
	batch->nr = 0;
	batch->error = 0;
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

static void hmmsim_copy_one(const struct hmmsim_copy_desc *d)
{
	void *dst = d->dst_page ? kmap_local_page(d->dst_page) : d->dst_addr;

	if (d->src_page) {
		void *src = kmap_local_page(d->src_page);

		memcpy(dst, src, d->len);
		kunmap_local(src);
	} else if (d->src_addr) {
		memcpy(dst, d->src_addr, d->len);
	} else {
		memset(dst, 0, d->len);
	}
	if (d->dst_page)
		kunmap_local(dst);
}

/*
 * The link model: a batch takes the configured latency, plus its bytes at
 * the configured bandwidth; 0 means no limit.
 */
static void hmmsim_copy_link_delay(const struct hmmsim_device_config *cfg,
				   u64 bytes)
{
	u64 ns = (u64)cfg->copy_latency_us * NSEC_PER_USEC;

	if (cfg->copy_bandwidth)
		ns += div64_u64(bytes * NSEC_PER_SEC, cfg->copy_bandwidth);
	if (ns >= NSEC_PER_USEC)
		fsleep(div_u64(ns, NSEC_PER_USEC));
}

/**
 * hmmsim_copy_submit() - hand a batch to the engine
 * @batch: the batch; must not be touched until hmmsim_copy_wait() returns.
 */
void hmmsim_copy_submit(struct hmmsim_copy_batch *batch)
{
	u64 bytes = 0;
	unsigned int i;

	if (!batch->error && batch->nr &&
	    hmmsim_should_fail(&batch->hdev->fail_copy))
		batch->error = -EIO;
	if (!batch->error) {
		for (i = 0; i < batch->nr; i++) {
			hmmsim_copy_one(&batch->descs[i]);
			bytes += batch->descs[i].len;
		}
		hmmsim_count(batch->hdev, HMMSIM_STAT_BYTES_COPIED, bytes);
		if (batch->nr)
			hmmsim_copy_link_delay(&batch->hdev->cfg, bytes);
	}
	complete(&batch->done);
}

/**
 * hmmsim_copy_wait() - wait for a submitted batch to complete
 * @batch: the batch.
 *
 * Return: 0 if every descriptor was executed, or the batch's error; the
 * batch may then be reset and reused.
 */
int hmmsim_copy_wait(struct hmmsim_copy_batch *batch)
{
	wait_for_completion(&batch->done);
	return batch->error;
}
