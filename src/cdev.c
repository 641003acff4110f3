// SPDX-License-Identifier: GPL-2.0
/*
 * hmmsim: the char device and its file operations.
 *
 * Opening /dev/<devname>N creates a mirror bound to the opener's mm. Every
 * ioctl is validated here and then dispatched; a task whose mm is not the
 * bound one gets -EPERM, whatever it asks (the rule KVM applies to its
 * file descriptors): after fork() the child shares the file but not the mm.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "hmmsim_drv.h"

dev_t hmmsim_devt;
const char *hmmsim_devname;

struct class hmmsim_class = {
	.name = "hmmsim",
};

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
	if (info.flags || memchr_inv(info.reserved, 0, sizeof(info.reserved)))
		return -EINVAL;

	info.abi_version = HMMSIM_ABI_VERSION;
	info.type = hdev->cfg.type;
	info.id = hdev->id;
	info.page_shift = PAGE_SHIFT;
	info.capacity = hdev->cfg.capacity;
	info.phys_base = hdev->cfg.phys_base;
	return hmmsim_copy_ext_to_user(uarg, &info, sizeof(info), usize);
}

/**
 * hmmsim_check_range() - check the range of a command before anything is done
 * @cmd: the range, in @cmd->addr and @cmd->npages.
 *
 * The range must be page aligned, not empty, and inside the user address
 * space, so that no command walks an absurd range.
 *
 * Return: 0 or -EINVAL.
 */
int hmmsim_check_range(const struct hmm_dmirror_cmd *cmd)
{
	if (!PAGE_ALIGNED(cmd->addr) || !cmd->npages)
		return -EINVAL;
	if (cmd->npages > TASK_SIZE >> PAGE_SHIFT ||
	    cmd->addr > TASK_SIZE - (cmd->npages << PAGE_SHIFT))
		return -EINVAL;
	return 0;
}

static int hmmsim_ioctl_flags(struct hmmsim_mirror *mirror,
			      const struct hmm_dmirror_cmd *cmd)
{
	if (cmd->npages & ~HMM_DMIRROR_FLAG_FAIL_ALLOC)
		return -EINVAL;
	if (cmd->npages & HMM_DMIRROR_FLAG_FAIL_ALLOC)
		set_bit(HMMSIM_MIRROR_FAIL_ALLOC, &mirror->flags);
	else
		clear_bit(HMMSIM_MIRROR_FAIL_ALLOC, &mirror->flags);
	return 0;
}

/* The lib/test_hmm compatible commands. */
static long hmmsim_ioctl_core(struct hmmsim_mirror *mirror, unsigned int cmd,
			      void __user *uarg)
{
	struct hmm_dmirror_cmd c;
	int ret;

	if (copy_from_user(&c, uarg, sizeof(c)))
		return -EFAULT;
	if (cmd == HMM_DMIRROR_FLAGS)
		return hmmsim_ioctl_flags(mirror, &c);

	ret = hmmsim_check_range(&c);
	if (ret)
		return ret;
	c.cpages = 0;
	c.faults = 0;

	switch (cmd) {
	case HMM_DMIRROR_READ:
		ret = hmmsim_mirror_read(mirror, &c);
		break;
	case HMM_DMIRROR_WRITE:
		ret = hmmsim_mirror_write(mirror, &c);
		break;
	case HMM_DMIRROR_MIGRATE_TO_DEV:
		ret = hmmsim_migrate_to_device(mirror, &c);
		break;
	case HMM_DMIRROR_MIGRATE_TO_SYS:
		ret = hmmsim_migrate_to_system(mirror, &c);
		break;
	case HMM_DMIRROR_SNAPSHOT:
		ret = hmmsim_mirror_snapshot(mirror, &c);
		break;
	case HMM_DMIRROR_EXCLUSIVE:
		ret = hmmsim_migrate_exclusive(mirror, &c);
		break;
	case HMM_DMIRROR_CHECK_EXCLUSIVE:
		ret = hmmsim_mirror_check_exclusive(mirror, &c);
		break;
	case HMM_DMIRROR_RELEASE:
		hmmsim_evict_owned(mirror);
		break;
	default:
		return -ENOTTY;
	}
	if (ret)
		return ret;
	return copy_to_user(uarg, &c, sizeof(c)) ? -EFAULT : 0;
}

/**
 * hmmsim_source_file() - the source of a device-to-device move
 * @mirror: the mirror of the destination device.
 * @fd: a file descriptor of the calling task: another device's file, bound
 *	to the same mm.
 * @src: set to that file's device.
 *
 * Return: the file, referenced, or an ERR_PTR(): -EBADF, -EINVAL (not an
 * hmmsim file, or the same device), -EPERM (bound to another mm).
 */
struct file *hmmsim_source_file(struct hmmsim_mirror *mirror, int fd,
				struct hmmsim_device **src)
{
	struct hmmsim_mirror *other;
	struct file *file = fget(fd);

	if (!file)
		return ERR_PTR(-EBADF);
	if (file->f_op != &hmmsim_fops) {
		fput(file);
		return ERR_PTR(-EINVAL);
	}
	other = file->private_data;
	if (other->mm != current->mm) {
		fput(file);
		return ERR_PTR(-EPERM);
	}
	if (other->hdev == mirror->hdev) {
		fput(file);
		return ERR_PTR(-EINVAL);
	}
	*src = other->hdev;
	return file;
}

static int hmmsim_ioctl_migrate(struct hmmsim_mirror *mirror,
				void __user *uarg)
{
	struct hmmsim_device *src = NULL;
	struct hmm_dmirror_cmd range;
	struct hmmsim_migrate mig;
	struct file *file = NULL;
	unsigned long moved = 0;
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
	range.addr = mig.addr;
	range.npages = mig.npages;
	ret = hmmsim_check_range(&range);
	if (ret)
		return ret;

	if (mig.src_fd != HMMSIM_MIGRATE_FROM_SYSTEM) {
		file = hmmsim_source_file(mirror, mig.src_fd, &src);
		if (IS_ERR(file))
			return PTR_ERR(file);
		/*
		 * Inside this device's lock, taken by hmmsim_ioctl(): only a
		 * trylock cannot deadlock against a move the other way while
		 * both devices are being removed. It fails only when the
		 * source is being removed.
		 */
		if (!down_read_trylock(&src->lock)) {
			fput(file);
			return -ENODEV;
		}
		if (src->dead) {
			up_read(&src->lock);
			fput(file);
			return -ENODEV;
		}
	}

	ret = hmmsim_check_vmas(mirror->mm, mig.addr,
				mig.addr + (mig.npages << PAGE_SHIFT), 0);
	if (!ret && (mig.flags & HMMSIM_MIGRATE_TO_SYSTEM))
		ret = hmmsim_migrate_range_to_system(mirror, mig.addr,
						     mig.addr + (mig.npages << PAGE_SHIFT),
						     &moved);
	else if (!ret)
		ret = hmmsim_migrate_range_to_device(mirror, src, mig.addr,
						     mig.addr + (mig.npages << PAGE_SHIFT),
						     &moved);
	if (file) {
		up_read(&src->lock);
		fput(file);
	}
	if (ret)
		return ret;
	mig.cpages = moved;
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
	return -ENOTTY;
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

	/* The device cannot go away while a command uses it. */
	down_read(&hdev->lock);
	if (hdev->dead)
		ret = -ENODEV;
	else
		ret = hmmsim_ioctl_dispatch(mirror, cmd, (void __user *)arg);
	up_read(&hdev->lock);
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
	if (READ_ONCE(mirror->hdev->dead))
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

	mirror = hmmsim_mirror_create(hdev);
	if (IS_ERR(mirror))
		return PTR_ERR(mirror);
	file->private_data = mirror;
	return stream_open(inode, file);
}

static int hmmsim_release(struct inode *inode, struct file *file)
{
	hmmsim_mirror_destroy(file->private_data);
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

/**
 * hmmsim_cdev_init() - register the char device region and the class
 * @devname: base name of the device nodes, /dev/<devname>N.
 *
 * Return: 0 or a negative errno.
 */
int hmmsim_cdev_init(const char *devname)
{
	int ret;

	ret = alloc_chrdev_region(&hmmsim_devt, 0, HMMSIM_MAX_DEVICES,
				  KBUILD_MODNAME);
	if (ret)
		return ret;
	ret = class_register(&hmmsim_class);
	if (ret) {
		unregister_chrdev_region(hmmsim_devt, HMMSIM_MAX_DEVICES);
		return ret;
	}
	hmmsim_devname = devname;
	return 0;
}

/**
 * hmmsim_cdev_exit() - undo hmmsim_cdev_init(), once every device is gone
 */
void hmmsim_cdev_exit(void)
{
	class_unregister(&hmmsim_class);
	unregister_chrdev_region(hmmsim_devt, HMMSIM_MAX_DEVICES);
}
