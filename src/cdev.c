// SPDX-License-Identifier: GPL-2.0
/**
 * DOC: Char device
 *
 * The file operations of /dev/<devname>N. Opening it creates a mirror bound
 * to the opener's mm. Every ioctl is decoded here, from the ABI of
 * uapi/hmmsim.h into a struct hmmsim_span, and run by the command layer
 * (cmd.c) inside hmmsim_device_enter(); a task whose mm is not the bound
 * one gets -EPERM, whatever it asks (the rule KVM applies to its file
 * descriptors): after fork() the child shares the file but not the mm.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/file.h>
#include <linux/fs.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "hmmsim_drv.h"

/*
 * Read a size-versioned extension struct (see uapi/hmmsim.h): @size, its
 * first member, says how much the caller knows; what the driver knows beyond
 * that reads as zero, what the caller knows beyond the driver must be zero.
 */
static int hmmsim_copy_ext_from_user(void *dst, size_t ksize, size_t min_size,
				     const void __user *src, u32 *usize)
{
	if (get_user(*usize, (const u32 __user *)src))
		return -EFAULT;
	if (*usize < min_size)
		return -EINVAL;
	if (*usize > PAGE_SIZE)
		return -E2BIG;
	return copy_struct_from_user(dst, ksize, src, *usize);
}

static int hmmsim_copy_ext_to_user(void __user *dst, const void *src,
				   size_t ksize, u32 usize)
{
	return copy_to_user(dst, src, min_t(size_t, ksize, usize)) ?
	       -EFAULT : 0;
}

static int hmmsim_ioctl_info(struct hmmsim_mirror *mirror, void __user *uarg)
{
	const struct hmmsim_device *hdev = mirror->hdev;
	struct hmmsim_info info;
	u32 usize;
	int ret;

	ret = hmmsim_copy_ext_from_user(&info, sizeof(info),
					HMMSIM_INFO_SIZE_VER0, uarg, &usize);
	if (ret)
		return ret;
	if (info.flags || info.caps ||
	    memchr_inv(info.reserved, 0, sizeof(info.reserved)))
		return -EINVAL;

	info.abi_version = HMMSIM_ABI_VERSION;
	info.type = hdev->cfg.type;
	info.id = hdev->id;
	info.page_shift = PAGE_SHIFT;
	info.capacity = hdev->cfg.capacity;
	info.phys_base = hdev->cfg.phys_base;
	info.caps = hmmsim_devmem_has_thp(hdev) ? HMMSIM_CAP_THP : 0;
	info.fault_batch = hdev->cfg.fault_batch;
	info.fault_latency_us = hdev->cfg.fault_latency_us;
	return hmmsim_copy_ext_to_user(uarg, &info, sizeof(info), usize);
}

/* Run one lib/test_hmm command on its span. */
static int hmmsim_ioctl_run(struct hmmsim_mirror *mirror, unsigned int cmd,
			    struct hmmsim_span *span)
{
	switch (cmd) {
	case HMM_DMIRROR_READ:
		return hmmsim_cmd_read(mirror, span);
	case HMM_DMIRROR_WRITE:
		return hmmsim_cmd_write(mirror, span);
	case HMM_DMIRROR_MIGRATE_TO_DEV:
		return hmmsim_cmd_migrate_and_read(mirror, span);
	case HMM_DMIRROR_MIGRATE_TO_SYS:
		return hmmsim_cmd_migrate_to_system(mirror, span);
	case HMM_DMIRROR_SNAPSHOT:
		return hmmsim_cmd_snapshot(mirror, span);
	case HMM_DMIRROR_EXCLUSIVE:
		return hmmsim_cmd_exclusive(mirror, span);
	case HMM_DMIRROR_CHECK_EXCLUSIVE:
		return hmmsim_cmd_check_exclusive(mirror, span);
	case HMM_DMIRROR_RELEASE:
		hmmsim_cmd_release(mirror);
		return 0;
	}
	return -ENOTTY;
}

/* The lib/test_hmm compatible commands. */
static long hmmsim_ioctl_core(struct hmmsim_mirror *mirror, unsigned int cmd,
			      void __user *uarg)
{
	struct hmm_dmirror_cmd c;
	struct hmmsim_span span;
	int ret;

	if (copy_from_user(&c, uarg, sizeof(c)))
		return -EFAULT;
	if (cmd == HMM_DMIRROR_FLAGS)
		return hmmsim_cmd_set_flags(mirror, c.npages);

	ret = hmmsim_cmd_span_init(&span, c.addr, c.npages, c.ptr);
	if (!ret)
		ret = hmmsim_ioctl_run(mirror, cmd, &span);
	if (ret)
		return ret;
	c.cpages = span.pages;
	c.faults = span.faults;
	return copy_to_user(uarg, &c, sizeof(c)) ? -EFAULT : 0;
}

static int hmmsim_ioctl_migrate(struct hmmsim_mirror *mirror,
				void __user *uarg)
{
	struct hmmsim_device *src = NULL;
	struct hmmsim_migrate mig;
	struct file *file = NULL;
	struct hmmsim_span span;
	u32 usize;
	int ret;

	ret = hmmsim_copy_ext_from_user(&mig, sizeof(mig),
					HMMSIM_MIGRATE_SIZE_VER0, uarg, &usize);
	if (ret)
		return ret;
	if ((mig.flags & ~HMMSIM_MIGRATE_TO_SYSTEM) || mig.pad ||
	    memchr_inv(mig.reserved, 0, sizeof(mig.reserved)))
		return -EINVAL;
	if ((mig.flags & HMMSIM_MIGRATE_TO_SYSTEM) &&
	    mig.src_fd != HMMSIM_MIGRATE_FROM_SYSTEM)
		return -EINVAL;
	ret = hmmsim_cmd_span_init(&span, mig.addr, mig.npages, 0);
	if (ret)
		return ret;

	if (mig.src_fd != HMMSIM_MIGRATE_FROM_SYSTEM) {
		file = hmmsim_cmd_source_file(mirror, mig.src_fd, &src);
		if (IS_ERR(file))
			return PTR_ERR(file);
	}
	if (mig.flags & HMMSIM_MIGRATE_TO_SYSTEM)
		ret = hmmsim_cmd_migrate_to_system(mirror, &span);
	else
		ret = hmmsim_cmd_migrate_to_device(mirror, src, &span);
	if (file)
		fput(file);
	if (ret)
		return ret;
	mig.cpages = span.pages;
	return hmmsim_copy_ext_to_user(uarg, &mig, sizeof(mig), usize);
}

static int hmmsim_ioctl_stats(struct hmmsim_mirror *mirror, void __user *uarg)
{
	struct hmmsim_stats st;
	u32 usize;
	int ret;

	ret = hmmsim_copy_ext_from_user(&st, sizeof(st),
					HMMSIM_STATS_SIZE_VER0, uarg, &usize);
	if (ret)
		return ret;
	if (st.flags || memchr_inv(st.reserved, 0, sizeof(st.reserved)))
		return -EINVAL;
	hmmsim_stats_read(mirror->hdev, &st);
	return hmmsim_copy_ext_to_user(uarg, &st, sizeof(st), usize);
}

static int hmmsim_ioctl_policy(struct hmmsim_mirror *mirror, void __user *uarg,
			       bool set)
{
	struct hmmsim_policy pol;
	u32 usize;
	int ret;

	ret = hmmsim_copy_ext_from_user(&pol, sizeof(pol),
					HMMSIM_POLICY_SIZE_VER0, uarg, &usize);
	if (ret)
		return ret;
	if (set)
		return hmmsim_cmd_set_policy(mirror, &pol);
	if (pol.flags || pol.pad ||
	    memchr_inv(pol.reserved, 0, sizeof(pol.reserved)))
		return -EINVAL;
	hmmsim_cmd_get_policy(mirror, &pol);
	pol.size = usize;
	return hmmsim_copy_ext_to_user(uarg, &pol, sizeof(pol), usize);
}

/* Pack struct hmmsim_advise's advice as HMMSIM_URING_ADVISE does. */
static int hmmsim_advise_pack(const struct hmmsim_advise *adv, u32 *advice)
{
	u32 gran = adv->granularity;

	if (adv->flags || adv->pad ||
	    memchr_inv(adv->reserved, 0, sizeof(adv->reserved)))
		return -EINVAL;
	if (adv->preferred > HMMSIM_LOCATION_DEVICE || adv->accessed_by > 1 ||
	    (gran && (!is_power_of_2(gran) || gran > HMMSIM_CHUNK_PAGES)))
		return -EINVAL;
	*advice = HMMSIM_URING_ADVISE_PREFERRED(adv->preferred) |
		  (adv->accessed_by ? HMMSIM_URING_ADVISE_ACCESSED_BY : 0) |
		  (gran ? HMMSIM_URING_ADVISE_GRANULARITY(ilog2(gran)) : 0);
	return 0;
}

static int hmmsim_ioctl_advise(struct hmmsim_mirror *mirror,
			       void __user *uarg)
{
	struct hmmsim_advise adv;
	struct hmmsim_span span;
	u32 usize, advice;
	int ret;

	ret = hmmsim_copy_ext_from_user(&adv, sizeof(adv),
					HMMSIM_ADVISE_SIZE_VER0, uarg, &usize);
	if (!ret)
		ret = hmmsim_advise_pack(&adv, &advice);
	if (!ret)
		ret = hmmsim_cmd_span_init(&span, adv.addr, adv.npages, 0);
	return ret ? ret : hmmsim_cmd_advise(mirror, &span, advice);
}

static int hmmsim_ioctl_access(struct hmmsim_mirror *mirror,
			       void __user *uarg)
{
	struct hmmsim_access acc;
	u32 usize;
	int ret, ret2;

	ret = hmmsim_copy_ext_from_user(&acc, sizeof(acc),
					HMMSIM_ACCESS_SIZE_VER0, uarg, &usize);
	if (ret)
		return ret;
	ret = hmmsim_cmd_access_stream(mirror, &acc);
	ret2 = hmmsim_copy_ext_to_user(uarg, &acc, sizeof(acc), usize);
	return ret ? ret : ret2;
}

/* Extension commands match on number and direction, not on size. */
static bool hmmsim_ext_cmd_is(unsigned int cmd, unsigned int ref)
{
	return _IOC_NR(cmd) == _IOC_NR(ref) && _IOC_DIR(cmd) == _IOC_DIR(ref);
}

static long hmmsim_ioctl_dispatch(struct hmmsim_mirror *mirror,
				  unsigned int cmd, void __user *uarg)
{
	switch (cmd) {
	case HMM_DMIRROR_READ:
	case HMM_DMIRROR_WRITE:
	case HMM_DMIRROR_MIGRATE_TO_DEV:
	case HMM_DMIRROR_MIGRATE_TO_SYS:
	case HMM_DMIRROR_SNAPSHOT:
	case HMM_DMIRROR_EXCLUSIVE:
	case HMM_DMIRROR_CHECK_EXCLUSIVE:
	case HMM_DMIRROR_RELEASE:
	case HMM_DMIRROR_FLAGS:
		return hmmsim_ioctl_core(mirror, cmd, uarg);
	}
	if (hmmsim_ext_cmd_is(cmd, HMMSIM_IOCTL_INFO))
		return hmmsim_ioctl_info(mirror, uarg);
	if (hmmsim_ext_cmd_is(cmd, HMMSIM_IOCTL_MIGRATE))
		return hmmsim_ioctl_migrate(mirror, uarg);
	if (hmmsim_ext_cmd_is(cmd, HMMSIM_IOCTL_STATS))
		return hmmsim_ioctl_stats(mirror, uarg);
	if (hmmsim_ext_cmd_is(cmd, HMMSIM_IOCTL_SET_POLICY))
		return hmmsim_ioctl_policy(mirror, uarg, true);
	if (hmmsim_ext_cmd_is(cmd, HMMSIM_IOCTL_GET_POLICY))
		return hmmsim_ioctl_policy(mirror, uarg, false);
	if (hmmsim_ext_cmd_is(cmd, HMMSIM_IOCTL_ADVISE))
		return hmmsim_ioctl_advise(mirror, uarg);
	if (hmmsim_ext_cmd_is(cmd, HMMSIM_IOCTL_ACCESS))
		return hmmsim_ioctl_access(mirror, uarg);
	return -ENOTTY;
}

/*
 * A device READ or WRITE faults its user buffer in first, outside the
 * device (hmmsim_cmd_prepare_user()); bad arguments are for the command
 * to refuse.
 */
static int hmmsim_ioctl_prepare(unsigned int cmd, void __user *uarg)
{
	struct hmm_dmirror_cmd c;
	struct hmmsim_span span;

	if (cmd != HMM_DMIRROR_READ && cmd != HMM_DMIRROR_WRITE)
		return 0;
	if (copy_from_user(&c, uarg, sizeof(c)) ||
	    hmmsim_cmd_span_init(&span, c.addr, c.npages, c.ptr))
		return 0;
	return hmmsim_cmd_prepare_user(&span, cmd == HMM_DMIRROR_READ);
}

static long hmmsim_ioctl(struct file *file, unsigned int cmd,
			 unsigned long arg)
{
	struct hmmsim_mirror *mirror = file->private_data;
	struct hmmsim_device *hdev = mirror->hdev;
	long ret;

	if (_IOC_TYPE(cmd) != HMMSIM_IOCTL_TYPE)
		return -ENOTTY;
	if (current->mm != mirror->mm)
		return -EPERM;
	ret = hmmsim_ioctl_prepare(cmd, (void __user *)arg);
	if (ret)
		return ret;

	/* The device cannot go away while a command uses it. */
	if (!hmmsim_device_enter(hdev))
		return -ENODEV;
	ret = hmmsim_ioctl_dispatch(mirror, cmd, (void __user *)arg);
	hmmsim_device_leave(hdev);
	return ret;
}

/*
 * Mapping the device file gives zero-filled pages the driver allocates and
 * inserts itself (a VM_MIXEDMAP mapping), the way a driver maps its own
 * buffers: something for hmm_range_fault() to find that is neither
 * anonymous nor page cache memory.
 */
#define HMMSIM_MMAP_MAX_PAGES	(SZ_64M >> PAGE_SHIFT)

static int hmmsim_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct hmmsim_mirror *mirror = file->private_data;
	unsigned long addr;

	if (current->mm != mirror->mm)
		return -EPERM;
	/*
	 * Under the mmap lock, which nests inside the device's removal lock:
	 * only a look. The pages are the driver's, not device memory, so a
	 * removal racing with this does no harm.
	 */
	if (hmmsim_device_removed(mirror->hdev))
		return -ENODEV;
	if (vma_pages(vma) > HMMSIM_MMAP_MAX_PAGES)
		return -EINVAL;

	for (addr = vma->vm_start; addr < vma->vm_end; addr += PAGE_SIZE) {
		struct page *page = alloc_page(GFP_KERNEL | __GFP_ZERO);
		int ret;

		if (!page)
			return -ENOMEM;
		ret = vm_insert_page(vma, addr, page);
		/* The mapping holds its own reference. */
		put_page(page);
		if (ret)
			return ret;
	}
	return 0;
}

static int hmmsim_open(struct inode *inode, struct file *file)
{
	struct hmmsim_device *hdev =
		container_of(inode->i_cdev, struct hmmsim_device, cdev);
	struct hmmsim_mirror *mirror;

	mirror = hmmsim_cmd_open(hdev);
	if (IS_ERR(mirror))
		return PTR_ERR(mirror);
	file->private_data = mirror;
	return stream_open(inode, file);
}

static int hmmsim_release(struct inode *inode, struct file *file)
{
	hmmsim_cmd_close(file->private_data);
	return 0;
}

const struct file_operations hmmsim_fops = {
	.owner		= THIS_MODULE,
	.open		= hmmsim_open,
	.release	= hmmsim_release,
	.unlocked_ioctl	= hmmsim_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.mmap		= hmmsim_mmap,
	.uring_cmd	= hmmsim_uring_cmd,
};
