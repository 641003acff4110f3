// SPDX-License-Identifier: GPL-2.0
/**
 * DOC: Scratch buffers
 *
 * A command works one window (2 MiB) at a time, and every window needs the
 * same buffers: pfn arrays for hmm_range_fault() and migrate_vma, an array
 * of pages, a copy batch. struct hmmsim_scratch holds them. Each file keeps
 * one for the commands run on it, taken with hmmsim_scratch_get() for a
 * whole command; a second thread of the process that finds it in use gets
 * buffers of its own for that command. The CPU fault handler and eviction,
 * which may run in any task, set up their own with hmmsim_scratch_init().
 * A command that keeps two windows in flight, one copying while the kernel
 * finishes the other, takes a second set, the twin, with
 * hmmsim_scratch_twin(); a file's scratch keeps its twin for the next
 * command.
 */
#include <linux/mutex.h>
#include <linux/slab.h>

#include "hmmsim_drv.h"

/**
 * hmmsim_scratch_fini() - free what hmmsim_scratch_init() allocated
 * @s: the buffers; also after hmmsim_scratch_init() failed.
 */
void hmmsim_scratch_fini(struct hmmsim_scratch *s)
{
	/* Salvaging moves poison what they salvaged once they unlock. */
	WARN_ON_ONCE(s->nr_lost);
	hmmsim_scratch_free(s->twin);
	kvfree(s->lost);
	hmmsim_copy_batch_fini(&s->batch);
	kvfree(s->codes);
	kvfree(s->pages);
	kvfree(s->dst);
	kvfree(s->src);
}

/**
 * hmmsim_scratch_init() - allocate the buffers for windows of @nr pages
 * @s: the buffers.
 * @hdev: the device whose copy engine the batch goes to.
 * @nr: pages per window.
 * @user: also for device accesses to user buffers (READ, WRITE, SNAPSHOT,
 *	read-back): snapshot codes, and room in the batch for a user buffer
 *	that is not page aligned, whose every page takes two descriptors.
 * @gfp: allocation flags.
 *
 * Return: 0 or -ENOMEM; either way hmmsim_scratch_fini() frees @s.
 */
int hmmsim_scratch_init(struct hmmsim_scratch *s, struct hmmsim_device *hdev,
			unsigned long nr, bool user, gfp_t gfp)
{
	*s = (struct hmmsim_scratch){ .hdev = hdev, .nr = nr };
	s->src = kvcalloc(nr, sizeof(*s->src), gfp);
	s->dst = kvcalloc(nr, sizeof(*s->dst), gfp);
	s->pages = kvcalloc(nr + 1, sizeof(*s->pages), gfp);
	if (user)
		s->codes = kvmalloc(nr, gfp);
	if (!s->src || !s->dst || !s->pages || (user && !s->codes))
		return -ENOMEM;
	return hmmsim_copy_batch_init(&s->batch, hdev, user ? 2 * nr : nr, gfp);
}

/**
 * hmmsim_scratch_salvage() - make moves to system memory with @s salvage
 *	device pages with a memory error
 * @s: buffers from hmmsim_scratch_init(), for eviction by the device's
 *	removal or by hmmsim_evict_poisoned(); they are freed with no mmap
 *	lock held.
 * @gfp: allocation flags.
 *
 * Return: 0 or -ENOMEM; without it, such pages stay where they are.
 */
int hmmsim_scratch_salvage(struct hmmsim_scratch *s, gfp_t gfp)
{
	s->lost = kvcalloc(s->nr, sizeof(*s->lost), gfp);
	return s->lost ? 0 : -ENOMEM;
}

/**
 * hmmsim_scratch_free() - free a file's scratch buffers
 * @s: the buffers, or NULL.
 */
void hmmsim_scratch_free(struct hmmsim_scratch *s)
{
	if (s) {
		hmmsim_scratch_fini(s);
		kfree(s);
	}
}

static struct hmmsim_scratch *hmmsim_scratch_alloc(struct hmmsim_device *hdev,
						   bool user)
{
	struct hmmsim_scratch *s = kzalloc_obj(*s, GFP_KERNEL);

	if (s && hmmsim_scratch_init(s, hdev, HMMSIM_WINDOW_PAGES, user,
				     GFP_KERNEL)) {
		hmmsim_scratch_free(s);
		s = NULL;
	}
	return s;
}

/**
 * hmmsim_scratch_twin() - a second set of buffers for a command's second
 *	window in flight
 * @s: the command's buffers.
 *
 * Allocated the first time, kept with @s and freed with it; its copy batch
 * stops as @s's does. Salvaging moves (hmmsim_scratch_salvage()) have none.
 *
 * Return: the twin, or NULL if there is no memory for it: the command then
 * keeps one window in flight.
 */
struct hmmsim_scratch *hmmsim_scratch_twin(struct hmmsim_scratch *s)
{
	if (!s->twin && !s->lost) {
		s->twin = kzalloc_obj(*s->twin, GFP_KERNEL | __GFP_NOWARN);
		if (s->twin && hmmsim_scratch_init(s->twin, s->hdev, s->nr,
						   false,
						   GFP_KERNEL | __GFP_NOWARN)) {
			hmmsim_scratch_free(s->twin);
			s->twin = NULL;
		}
	}
	if (s->twin) {
		s->twin->batch.stop = s->batch.stop;
		s->twin->batch.stop_arg = s->batch.stop_arg;
	}
	return s->twin;
}

/**
 * hmmsim_scratch_get() - the buffers for one command on a file
 * @mirror: the file's mirror.
 * @user: the command accesses a user buffer through the device (see
 *	hmmsim_scratch_init()).
 *
 * Return: the file's buffers, which serve any command, or, if another
 * command is using them, new ones for this command only, or NULL
 * (-ENOMEM). Give them back with hmmsim_scratch_put().
 */
struct hmmsim_scratch *hmmsim_scratch_get(struct hmmsim_mirror *mirror,
					  bool user)
{
	if (!mutex_trylock(&mirror->scratch_lock))
		return hmmsim_scratch_alloc(mirror->hdev, user);
	if (!mirror->scratch)
		mirror->scratch = hmmsim_scratch_alloc(mirror->hdev, true);
	if (mirror->scratch)
		return mirror->scratch;
	mutex_unlock(&mirror->scratch_lock);
	return NULL;
}

/**
 * hmmsim_scratch_put() - give back what hmmsim_scratch_get() returned
 * @mirror: the file's mirror.
 * @s: the buffers.
 */
void hmmsim_scratch_put(struct hmmsim_mirror *mirror, struct hmmsim_scratch *s)
{
	if (s == mirror->scratch)
		mutex_unlock(&mirror->scratch_lock);
	else
		hmmsim_scratch_free(s);
}
