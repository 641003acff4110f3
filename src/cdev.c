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

#include <linux/fs.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
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

/* Extension commands match on number and direction, not on size. */
static bool hmmsim_ext_cmd_is(unsigned int cmd, unsigned int ref)
{
	return _IOC_NR(cmd) == _IOC_NR(ref) && _IOC_DIR(cmd) == _IOC_DIR(ref);
}

static long hmmsim_ioctl(struct file *file, unsigned int cmd,
			 unsigned long arg)
{
	struct hmmsim_mirror *mirror = file->private_data;
	void __user *uarg = (void __user *)arg;

	if (_IOC_TYPE(cmd) != HMMSIM_IOCTL_TYPE)
		return -ENOTTY;
	if (current->mm != mirror->mm)
		return -EPERM;

	if (hmmsim_ext_cmd_is(cmd, HMMSIM_IOCTL_INFO))
		return hmmsim_ioctl_info(mirror, uarg);
	return -ENOTTY;
}

static int hmmsim_open(struct inode *inode, struct file *file)
{
	struct hmmsim_device *hdev =
		container_of(inode->i_cdev, struct hmmsim_device, cdev);
	struct hmmsim_mirror *mirror;

	/* A mirror needs an address space to mirror. */
	if (!current->mm)
		return -EINVAL;

	mirror = kzalloc(sizeof(*mirror), GFP_KERNEL);
	if (!mirror)
		return -ENOMEM;
	mirror->hdev = hdev;
	mirror->mm = current->mm;
	mmgrab(mirror->mm);

	file->private_data = mirror;
	return stream_open(inode, file);
}

static int hmmsim_release(struct inode *inode, struct file *file)
{
	struct hmmsim_mirror *mirror = file->private_data;

	mmdrop(mirror->mm);
	kfree(mirror);
	return 0;
}

const struct file_operations hmmsim_fops = {
	.owner		= THIS_MODULE,
	.open		= hmmsim_open,
	.release	= hmmsim_release,
	.unlocked_ioctl	= hmmsim_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
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
