// SPDX-License-Identifier: GPL-2.0
/**
 * DOC: Commands
 *
 * The command layer, below both front ends: cdev.c (ioctls) and uring.c
 * (io_uring commands) decode their ABI into a struct hmmsim_span and call
 * the hmmsim_cmd_*() functions here, inside hmmsim_device_enter(). Each
 * command checks its range before anything moves, takes the file's scratch
 * buffers, and composes the steps of the layers below:
 *
 * - device accesses (READ, WRITE, prefetch) through the mirror, and, when
 *   the mirror says a page must come home first (-EXDEV), the migration of
 *   that window to system memory before the access goes on;
 * - migrations, device to device ones inside the source device too;
 * - MIGRATE_TO_DEV and EXCLUSIVE followed by the read-back through the
 *   device that returns their data and checks that they took;
 * - eviction of a file's pages on RELEASE and when the file is closed;
 * - the device's policy (policy.c): its settings, advice, and the access
 *   streams that run through it.
 *
 * Every command adds what it did to the span's page count, also when it
 * then fails; a front end reports that count where its ABI has room for it.
 *
 * Example, the fault handler of a driver on this model (a device read of
 * [start, end) into a user buffer)::
 *
 *	if (!hmmsim_device_enter(hdev))
 *		return -ENODEV;
 *	ret = hmmsim_cmd_span_init(&span, start, npages, uptr);
 *	if (!ret)
 *		ret = hmmsim_cmd_read(mirror, &span);
 *	hmmsim_device_leave(hdev);
 */
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/hugetlb_inline.h>
#include <linux/mm.h>
#include <linux/mmap_lock.h>
#include <linux/moduleparam.h>
#include <linux/sched/signal.h>

#include "hmmsim_drv.h"

static bool evict_on_close = true;
module_param(evict_on_close, bool, 0644);
MODULE_PARM_DESC(evict_on_close, "Closing a file moves the pages it put on the device back to system memory (default: Y)");

/**
 * hmmsim_cmd_prepare_user() - fault a device access's user buffer in, if a
 *	userfaultfd watches it, before the device is entered
 * @span: the span of a READ or WRITE, from hmmsim_cmd_span_init(); its
 *	buffer is in current->mm.
 * @to_user: the device writes the buffer (READ).
 *
 * Pinning the buffer inside the device would wait there, for as long as
 * nobody serves the userfault, and keep the device from being removed.
 * Here the wait is the caller's own, and killable; the access then finds
 * the pages in place, unless the process drops them meanwhile. The pages
 * are faulted in without writing to them, so a failed access leaves the
 * buffer as it was. Whether the whole buffer could be faulted in is for
 * the access to say.
 *
 * Return: 0, or -EINTR if a fatal signal came.
 */
int hmmsim_cmd_prepare_user(const struct hmmsim_span *span, bool to_user)
{
	unsigned long len = span->end - span->start;
	void __user *buf = (void __user *)span->uptr;
	struct mm_struct *mm = current->mm;
	bool armed;

	if (!span->uptr || span->uptr + len < span->uptr)
		return 0;
	if (mmap_read_lock_killable(mm))
		return -EINTR;
	armed = hmmsim_mirror_uffd_armed(mm, span->uptr, span->uptr + len);
	mmap_read_unlock(mm);
	if (!armed)
		return 0;
	if (to_user)
		fault_in_safe_writeable(buf, len);
	else
		fault_in_readable(buf, len);
	return fatal_signal_pending(current) ? -EINTR : 0;
}

/**
 * hmmsim_cmd_span_init() - check a command's range and make a span of it
 * @span: the span.
 * @addr: first address.
 * @npages: number of pages.
 * @uptr: the user buffer, or 0.
 *
 * The range must be page aligned, not empty, and inside the user address
 * space, so that no command walks an absurd range.
 *
 * Return: 0 or -EINVAL.
 */
int hmmsim_cmd_span_init(struct hmmsim_span *span, u64 addr, u64 npages,
			 u64 uptr)
{
	if (!PAGE_ALIGNED(addr) || !npages)
		return -EINVAL;
	if (npages > TASK_SIZE >> PAGE_SHIFT ||
	    addr > TASK_SIZE - (npages << PAGE_SHIFT))
		return -EINVAL;
	*span = (struct hmmsim_span){
		.start = addr,
		.end = addr + (npages << PAGE_SHIFT),
		.uptr = uptr,
	};
	return 0;
}

/*
 * Check every VMA of [start, end) before anything moves, under the mmap
 * lock, and give the errno of the first one (in address order) the command
 * cannot work on:
 *
 * - -EINVAL for a hole or a VMA that cannot be read;
 * - @special for a VMA that migrate_vma_setup() refuses whole: hugetlbfs,
 *   DAX, or VM_SPECIAL (VM_IO, VM_PFNMAP, VM_MIXEDMAP, VM_DONTEXPAND);
 * - @shared, unless it is 0, for shared memory (VM_MAYSHARE: shmem, memfd,
 *   a file mapped MAP_SHARED), whose pages never move to a device nor
 *   become device-exclusive.
 *
 * A migration then takes the lock again for each window, so a VMA that
 * changes in between (another thread's munmap or mmap) can still fail it
 * part way, with -EINVAL.
 */
static int hmmsim_cmd_check_vmas(struct mm_struct *mm,
				 const struct hmmsim_span *span, int special,
				 int shared)
{
	struct vm_area_struct *vma;
	unsigned long addr = span->start;
	int ret = 0;

	if (mmap_read_lock_killable(mm))
		return -EINTR;
	while (addr < span->end) {
		vma = vma_lookup(mm, addr);
		if (!vma || !(vma->vm_flags & VM_READ))
			ret = -EINVAL;
		else if (is_vm_hugetlb_page(vma) || vma_is_dax(vma) ||
			 (vma->vm_flags & VM_SPECIAL))
			ret = special;
		else if (vma->vm_flags & VM_MAYSHARE)
			ret = shared;
		if (ret)
			break;
		addr = vma->vm_end;
	}
	mmap_read_unlock(mm);
	return ret;
}

/**
 * hmmsim_cmd_check_migrate() - whether a range can be migrated
 * @mirror: the mirror.
 * @span: the range.
 *
 * For a front end that runs a migration in parts (io_uring, window by
 * window): the whole range is checked once before anything moves, as
 * hmmsim_cmd_migrate_to_device() and hmmsim_cmd_migrate_to_system() check
 * each part.
 *
 * Return: 0, -EINVAL for a hole, an unreadable VMA or one migrate_vma
 * cannot work on, or -EINTR.
 */
int hmmsim_cmd_check_migrate(struct hmmsim_mirror *mirror,
			     const struct hmmsim_span *span)
{
	return hmmsim_cmd_check_vmas(mirror->mm, span, -EINVAL, 0);
}

/**
 * hmmsim_cmd_open() - a new file on a device: mirror the caller
 * @hdev: the device.
 *
 * Return: the mirror, or an ERR_PTR().
 */
struct hmmsim_mirror *hmmsim_cmd_open(struct hmmsim_device *hdev)
{
	struct hmmsim_policy_state *ps = hmmsim_policy_create();
	struct hmmsim_mirror *mirror;
	int ret;

	if (!ps)
		return ERR_PTR(-ENOMEM);
	mirror = hmmsim_mirror_create(hdev, &hmmsim_policy_mirror_ops, ps);
	if (IS_ERR(mirror)) {
		hmmsim_policy_destroy(ps);
		return mirror;
	}
	ret = hmmsim_evict_owner_add(mirror);
	if (ret) {
		hmmsim_mirror_unlink(mirror);
		hmmsim_policy_destroy(ps);
		hmmsim_mirror_destroy(mirror);
		return ERR_PTR(ret);
	}
	return mirror;
}

/**
 * hmmsim_cmd_close() - a file is released: tear its mirror down
 * @mirror: the mirror; no command can be running on it.
 *
 * The pages this file moved to the device go back to system memory first,
 * unless the evict_on_close module parameter says otherwise: then they stay
 * on the device, still mapped by the process, until it touches or frees
 * them, eviction moves them or the device goes away. Works whether or not
 * the mm is still alive, and whether or not the device is.
 */
void hmmsim_cmd_close(struct hmmsim_mirror *mirror)
{
	struct hmmsim_device *hdev = mirror->hdev;
	bool alive = hmmsim_device_enter(hdev);

	if (alive && READ_ONCE(evict_on_close))
		hmmsim_count(hdev, HMMSIM_STAT_CLOSE_EVICTIONS,
			     hmmsim_evict_owned(mirror));
	hmmsim_mirror_unlink(mirror);
	hmmsim_policy_destroy(mirror->policy);
	hmmsim_evict_owner_close(mirror);
	if (alive)
		hmmsim_device_leave(hdev);
	hmmsim_mirror_destroy(mirror);
}

/**
 * hmmsim_cmd_source_file() - the source of a device-to-device move
 * @mirror: the mirror of the destination device.
 * @fd: a file descriptor of the calling task: another device's file, bound
 *	to the same mm.
 * @src: set to that file's device.
 *
 * Return: the file, referenced, or an ERR_PTR(): -EBADF, -EINVAL (not an
 * hmmsim file, or the same device), -EPERM (bound to another mm).
 */
struct file *hmmsim_cmd_source_file(struct hmmsim_mirror *mirror, int fd,
				    struct hmmsim_device **src)
{
	struct hmmsim_mirror *other;
	struct file *file = fget(fd);
	int ret = 0;

	if (!file)
		return ERR_PTR(-EBADF);
	/* Every hmmsim device's files have the file operations of its cdev. */
	if (file->f_op != mirror->hdev->cdev.ops) {
		ret = -EINVAL;
	} else {
		other = file->private_data;
		if (other->mm != current->mm)
			ret = -EPERM;
		else if (other->hdev == mirror->hdev)
			ret = -EINVAL;
		else
			*src = other->hdev;
	}
	if (ret) {
		fput(file);
		return ERR_PTR(ret);
	}
	return file;
}

/**
 * hmmsim_cmd_set_flags() - HMM_DMIRROR_FLAGS
 * @mirror: the mirror.
 * @flags: HMM_DMIRROR_FLAG_*.
 *
 * Return: 0, or -EINVAL for an unknown flag.
 */
int hmmsim_cmd_set_flags(struct hmmsim_mirror *mirror, u64 flags)
{
	if (flags & ~HMM_DMIRROR_FLAG_FAIL_ALLOC)
		return -EINVAL;
	if (flags & HMM_DMIRROR_FLAG_FAIL_ALLOC)
		set_bit(HMMSIM_MIRROR_FAIL_ALLOC, &mirror->flags);
	else
		clear_bit(HMMSIM_MIRROR_FAIL_ALLOC, &mirror->flags);
	return 0;
}

/*
 * The mirror needs the window at the span's progress moved to system
 * memory before it can go on (-EXDEV): the device wrote to its own page,
 * which the CPU maps read-only. The CPU's write fault on the system page
 * then breaks the sharing, or fails with -EPERM.
 */
static int hmmsim_cmd_bring_home(struct hmmsim_mirror *mirror,
				 struct hmmsim_scratch *s,
				 const struct hmmsim_span *span)
{
	unsigned long addr = hmmsim_span_addr(span);
	struct hmmsim_span home = {
		.start = addr,
		.end = hmmsim_window_end(addr, span->end),
	};
	int ret = hmmsim_migrate_to_system(mirror, s, &home);

	return ret ? ret : hmmsim_window_done();
}

/*
 * Begin a command on @span inside the device: the file's scratch buffers,
 * to give back with hmmsim_cmd_end(); @user for a command that reads or
 * writes a user buffer through the device. Their copy batches stop waiting
 * for the link when the span's stop callback says so. NULL is -ENOMEM.
 */
static struct hmmsim_scratch *hmmsim_cmd_begin(struct hmmsim_mirror *mirror,
					       const struct hmmsim_span *span,
					       bool user)
{
	struct hmmsim_scratch *s;

	hmmsim_device_assert_entered(mirror->hdev);
	s = hmmsim_scratch_get(mirror, user);
	if (s) {
		s->batch.stop = span->stop;
		s->batch.stop_arg = span->stop_arg;
	}
	return s;
}

static void hmmsim_cmd_end(struct hmmsim_mirror *mirror,
			   struct hmmsim_scratch *s)
{
	hmmsim_scratch_put(mirror, s);
}

/*
 * Begin a command whose range hmmsim_cmd_check_vmas() accepts, with its
 * errnos @special and @shared: checked before anything is done.
 */
static int hmmsim_cmd_begin_on_vmas(struct hmmsim_mirror *mirror,
				    const struct hmmsim_span *span,
				    int special, int shared, bool user,
				    struct hmmsim_scratch **s)
{
	int ret = hmmsim_cmd_check_vmas(mirror->mm, span, special, shared);

	if (ret)
		return ret;
	*s = hmmsim_cmd_begin(mirror, span, user);
	return *s ? 0 : -ENOMEM;
}

/* A device access, or a prefetch, moving pages home when it must. */
static int hmmsim_cmd_access(struct hmmsim_mirror *mirror,
			     struct hmmsim_span *span, bool write,
			     bool prefetch)
{
	/* A prefetch reads no user buffer. */
	struct hmmsim_scratch *s = hmmsim_cmd_begin(mirror, span, !prefetch);
	int ret;

	if (!s)
		return -ENOMEM;
	for (;;) {
		if (prefetch)
			ret = hmmsim_mirror_prefetch(mirror, s, span, write);
		else
			ret = hmmsim_mirror_rw(mirror, s, span, write);
		if (ret != -EXDEV)
			break;
		ret = hmmsim_cmd_bring_home(mirror, s, span);
		if (ret)
			break;
	}
	hmmsim_cmd_end(mirror, s);
	return ret;
}

/**
 * hmmsim_cmd_read() - HMM_DMIRROR_READ: the device reads a range
 * @mirror: the mirror.
 * @span: the range and the user buffer; pages read and faults taken are
 *	added to it.
 *
 * Pages are read through the device page table; the first missing entry
 * faults the rest of the range in (one fault, counted in @span->faults) and
 * the read goes on.
 *
 * Return: 0 or a negative errno; the pages read before an error are in the
 * user buffer and counted in @span->pages.
 */
int hmmsim_cmd_read(struct hmmsim_mirror *mirror, struct hmmsim_span *span)
{
	return hmmsim_cmd_access(mirror, span, false, false);
}

/**
 * hmmsim_cmd_write() - HMM_DMIRROR_WRITE: the device writes a range
 * @mirror: the mirror.
 * @span: as for hmmsim_cmd_read().
 *
 * Like hmmsim_cmd_read(), with write faults.
 *
 * Return: 0 or a negative errno (-EPERM for a range the process cannot
 * write).
 */
int hmmsim_cmd_write(struct hmmsim_mirror *mirror, struct hmmsim_span *span)
{
	return hmmsim_cmd_access(mirror, span, true, false);
}

/**
 * hmmsim_cmd_prefetch() - fault a range into the device page table
 * @mirror: the mirror.
 * @span: the range; the pages faulted in are added to it.
 * @write: fault for write access, not only read.
 *
 * Return: 0 or a negative errno (-EFAULT for a hole, -EPERM for a write to
 * a range the process cannot write).
 */
int hmmsim_cmd_prefetch(struct hmmsim_mirror *mirror, struct hmmsim_span *span,
			bool write)
{
	return hmmsim_cmd_access(mirror, span, write, true);
}

/**
 * hmmsim_cmd_snapshot() - HMM_DMIRROR_SNAPSHOT
 * @mirror: the mirror.
 * @span: the range, and the user buffer of one code per page.
 *
 * Return: 0 or a negative errno.
 */
int hmmsim_cmd_snapshot(struct hmmsim_mirror *mirror,
			struct hmmsim_span *span)
{
	struct hmmsim_scratch *s = hmmsim_cmd_begin(mirror, span, true);
	int ret;

	if (!s)
		return -ENOMEM;
	ret = hmmsim_mirror_snapshot(mirror, s, span);
	hmmsim_cmd_end(mirror, s);
	return ret;
}

/* Migrate to the mirror's device, from @src (entered here) or the system. */
static int hmmsim_cmd_migrate_in(struct hmmsim_mirror *mirror,
				 struct hmmsim_scratch *s,
				 struct hmmsim_device *src,
				 struct hmmsim_span *span)
{
	int ret;

	if (!src)
		return hmmsim_migrate_to_device(mirror, s, NULL, span);
	/* See DOC: Locking for why the source device is only trylocked. */
	if (!hmmsim_device_tryenter(src))
		return -ENODEV;
	ret = hmmsim_migrate_to_device(mirror, s, src, span);
	hmmsim_device_leave(src);
	return ret;
}

/**
 * hmmsim_cmd_migrate_to_device() - move a range's pages to a device
 * @mirror: the mirror whose device receives the pages.
 * @src: the device the pages come from (a file of it was resolved with
 *	hmmsim_cmd_source_file() and is held), or NULL for system memory.
 * @span: the range; the pages moved are added to it.
 *
 * Shared memory in the range is no error: its pages are not in the source,
 * and stay where they are, like every page that is not.
 *
 * Return: 0, -EINVAL for a range with a hole, an unreadable VMA or a VMA
 * migrate_vma cannot work on (hugetlbfs, DAX, VM_IO, VM_PFNMAP,
 * VM_MIXEDMAP), checked before anything moves, -ENOMEM when device memory
 * ran out, -ENODEV when @src is being removed, or another negative errno.
 */
int hmmsim_cmd_migrate_to_device(struct hmmsim_mirror *mirror,
				 struct hmmsim_device *src,
				 struct hmmsim_span *span)
{
	struct hmmsim_scratch *s;
	int ret;

	ret = hmmsim_cmd_begin_on_vmas(mirror, span, -EINVAL, 0, false, &s);
	if (ret)
		return ret;
	ret = hmmsim_cmd_migrate_in(mirror, s, src, span);
	hmmsim_cmd_end(mirror, s);
	return ret;
}

/**
 * hmmsim_cmd_migrate_to_system() - move a device's pages in a range back
 * @mirror: the mirror whose device's pages move.
 * @span: the range; the pages moved are added to it.
 *
 * Shared memory in the range is no error: it holds no device pages.
 *
 * Return: 0, -EINVAL for a range with a hole, an unreadable VMA or a VMA
 * migrate_vma cannot work on, checked before anything moves, or another
 * negative errno.
 */
int hmmsim_cmd_migrate_to_system(struct hmmsim_mirror *mirror,
				 struct hmmsim_span *span)
{
	struct hmmsim_scratch *s;
	int ret;

	ret = hmmsim_cmd_begin_on_vmas(mirror, span, -EINVAL, 0, false, &s);
	if (ret)
		return ret;
	ret = hmmsim_migrate_to_system(mirror, s, span);
	hmmsim_cmd_end(mirror, s);
	return ret;
}

/**
 * hmmsim_cmd_migrate_and_read() - HMM_DMIRROR_MIGRATE_TO_DEV
 * @mirror: the mirror.
 * @span: the range and the user buffer; @span->pages ends up as the pages
 *	read back.
 *
 * Moves the range's system pages (anonymous, private: what migrate_vma can
 * move) into this device's memory, then reads the range back through the
 * device. A range that reaches shared memory (shmem, memfd, a file mapped
 * MAP_SHARED) can never all be there: -ENOENT, as in lib/test_hmm, but
 * before anything moves. A page that did not end up in this device's
 * memory for another reason (a page of a private file mapping the CPU never
 * wrote, which is page cache; a page on another device; a KSM page, which
 * never moves to a device) gives -ENOENT too,
 * once %HMMSIM_MIGRATE_TRIES migrations did not bring it: the pages that
 * could move have moved then.
 *
 * Return: 0, -EINVAL for a range with a hole, an unreadable VMA or a VMA
 * migrate_vma cannot work on (hugetlbfs, DAX, VM_IO, VM_PFNMAP,
 * VM_MIXEDMAP), -ENOMEM when device memory ran out, -ENOENT, or another
 * negative errno.
 */
int hmmsim_cmd_migrate_and_read(struct hmmsim_mirror *mirror,
				struct hmmsim_span *span)
{
	struct hmmsim_scratch *s;
	unsigned int tries = 0;
	int ret;

	/* More than the device holds can never all be on it at once. */
	if ((span->end - span->start) >> PAGE_SHIFT > mirror->hdev->mem.npages)
		return -ENOMEM;
	ret = hmmsim_cmd_begin_on_vmas(mirror, span, -EINVAL, -ENOENT, true,
				       &s);
	if (ret)
		return ret;
	/*
	 * migrate_vma is best effort: a page another task holds locked or
	 * isolated at that moment (reclaim, compaction, LRU aging) is left
	 * out. Like a driver whose device needs the pages, try again a few
	 * times before saying a page did not arrive.
	 */
	do {
		ret = hmmsim_migrate_to_device(mirror, s, NULL, span);
		if (!ret)
			ret = hmmsim_mirror_readback(mirror, s, span, true);
	} while (ret == -ENOENT && ++tries < HMMSIM_MIGRATE_TRIES);
	hmmsim_cmd_end(mirror, s);
	return ret;
}

/**
 * hmmsim_cmd_exclusive() - HMM_DMIRROR_EXCLUSIVE
 * @mirror: the mirror.
 * @span: the range and the user buffer; @span->pages ends up as the pages
 *	read back.
 *
 * Gives the device exclusive access to the range (the CPU's next access to a
 * page takes it back), maps it for atomics, and reads it back.
 *
 * Only private anonymous memory can hold device-exclusive entries: shared
 * mappings (file, shmem), hugetlbfs, DAX and VM_SPECIAL mappings have no
 * anonymous pages to convert. make_device_exclusive() says -EOPNOTSUPP for
 * them, where make_device_exclusive_range() skipped them (-EBUSY) or GUP
 * refused them (-EFAULT): hmmsim says -EOPNOTSUPP on every kernel, before
 * anything is exclusive.
 *
 * Return: 0, -EINVAL for a range with a hole or an unreadable VMA,
 * -EOPNOTSUPP, -EBUSY if a page could not be made exclusive, or another
 * negative errno.
 */
int hmmsim_cmd_exclusive(struct hmmsim_mirror *mirror,
			 struct hmmsim_span *span)
{
	struct hmmsim_scratch *s;
	int ret;

	ret = hmmsim_cmd_begin_on_vmas(mirror, span, -EOPNOTSUPP, -EOPNOTSUPP,
				       true, &s);
	if (ret)
		return ret;
	ret = hmmsim_exclusive(mirror, s, span);
	if (!ret)
		ret = hmmsim_mirror_readback(mirror, s, span, false);
	hmmsim_cmd_end(mirror, s);
	return ret;
}

/**
 * hmmsim_cmd_check_exclusive() - HMM_DMIRROR_CHECK_EXCLUSIVE
 * @mirror: the mirror.
 * @span: the range.
 *
 * Return: -EPERM if the device still holds exclusive access to a page of the
 * range, 0 otherwise.
 */
int hmmsim_cmd_check_exclusive(struct hmmsim_mirror *mirror,
			       struct hmmsim_span *span)
{
	hmmsim_device_assert_entered(mirror->hdev);
	return hmmsim_mirror_check_exclusive(mirror, span);
}

/**
 * hmmsim_cmd_release() - HMM_DMIRROR_RELEASE
 * @mirror: the mirror.
 *
 * Every page the file put on its device goes back to system memory.
 */
void hmmsim_cmd_release(struct hmmsim_mirror *mirror)
{
	hmmsim_device_assert_entered(mirror->hdev);
	hmmsim_evict_owned(mirror);
}

/**
 * hmmsim_cmd_set_policy() - HMMSIM_IOCTL_SET_POLICY
 * @mirror: the mirror.
 * @pol: the settings, from userspace.
 *
 * Return: 0, or -EINVAL for a bad setting.
 */
int hmmsim_cmd_set_policy(struct hmmsim_mirror *mirror,
			  const struct hmmsim_policy *pol)
{
	int ret = hmmsim_policy_check(pol);

	if (!ret)
		hmmsim_policy_set(mirror, pol);
	return ret;
}

/**
 * hmmsim_cmd_get_policy() - HMMSIM_IOCTL_GET_POLICY
 * @mirror: the mirror.
 * @pol: filled with the file's policy.
 */
void hmmsim_cmd_get_policy(struct hmmsim_mirror *mirror,
			   struct hmmsim_policy *pol)
{
	hmmsim_policy_get(mirror, pol);
}

/**
 * hmmsim_cmd_advise() - HMMSIM_IOCTL_ADVISE and HMMSIM_URING_ADVISE
 * @mirror: the mirror.
 * @span: the range.
 * @advice: the advice, packed as HMMSIM_URING_ADVISE packs it.
 *
 * Return: 0, -EINVAL for bad advice or a range with a hole, -ENOSPC,
 * -ENOMEM or -EINTR.
 */
int hmmsim_cmd_advise(struct hmmsim_mirror *mirror,
		      const struct hmmsim_span *span, u32 advice)
{
	unsigned int gran = advice >> HMMSIM_ADVICE_GRAN_SHIFT;

	hmmsim_device_assert_entered(mirror->hdev);
	if ((advice & ~HMMSIM_ADVICE_MASK) ||
	    HMMSIM_ADVICE_PREFERRED(advice) > HMMSIM_LOCATION_DEVICE ||
	    gran > HMMSIM_CHUNK_ORDER + 1)
		return -EINVAL;
	return hmmsim_policy_advise(mirror, span->start, span->end, advice);
}

/**
 * hmmsim_cmd_access_stream() - HMMSIM_IOCTL_ACCESS: the device runs a
 *	stream of loads and stores through its policy
 * @mirror: the mirror.
 * @acc: the stream, from userspace; its outputs are filled in, also on
 *	error.
 *
 * Return: 0 or a negative errno (see hmmsim_policy_run()).
 */
int hmmsim_cmd_access_stream(struct hmmsim_mirror *mirror,
			     struct hmmsim_access *acc)
{
	struct hmmsim_scratch *s;
	struct hmmsim_span span;
	int ret;

	acc->done = 0;
	acc->faults = 0;
	acc->batches = 0;
	acc->remote = 0;
	acc->migrated = 0;
	acc->checksum = 0;
	ret = hmmsim_cmd_span_init(&span, acc->addr, acc->npages, 0);
	if (!ret)
		ret = hmmsim_policy_check_stream(acc);
	if (ret)
		return ret;
	s = hmmsim_cmd_begin(mirror, &span, false);
	if (!s)
		return -ENOMEM;
	ret = hmmsim_policy_run(mirror, s, acc);
	hmmsim_cmd_end(mirror, s);
	return ret;
}
