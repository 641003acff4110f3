// SPDX-License-Identifier: GPL-2.0
/**
 * DOC: Device life cycle
 *
 * A device is a struct device with an embedded cdev, added together with
 * cdev_device_add(). Its memory is set up before the char device appears
 * and torn down after it is gone, so a file can only be opened on a complete
 * device. Open files keep the structure alive (the cdev holds a reference on
 * the device), not the device memory.
 *
 * Removal is sequenced here: the char device goes, then the device is
 * marked removed once no command uses it (hmmsim_device_enter() fails from
 * then on), then every page on the device is evicted to system memory
 * (evict.c), and only then is the device memory torn down (devmem.c).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/idr.h>
#include <linux/module.h>
#include <linux/slab.h>

#include "hmmsim_drv.h"

/* Device numbers, the N of /dev/<devname>N and the minors. */
static DEFINE_IDA(hmmsim_ids);

static dev_t hmmsim_devt;
static const char *hmmsim_devname;

static struct class hmmsim_class = {
	.name = "hmmsim",
};

static void hmmsim_device_release(struct device *dev)
{
	struct hmmsim_device *hdev = container_of(dev, struct hmmsim_device,
						  dev);

	ida_free(&hmmsim_ids, hdev->id);
	kfree(hdev);
}

/**
 * hmmsim_device_create() - create a simulated device and its char device
 * @cfg: type and memory of the device, validated by hmmsim_config_check().
 *
 * The device takes the lowest free number: the N of /dev/<devname>N and
 * its char device minor.
 *
 * Return: the new device, or an ERR_PTR() with the reason logged.
 */
struct hmmsim_device *hmmsim_device_create(const struct hmmsim_device_config *cfg)
{
	struct hmmsim_device *hdev;
	int ret, id;

	id = ida_alloc_max(&hmmsim_ids, HMMSIM_MAX_DEVICES - 1, GFP_KERNEL);
	if (id < 0)
		return ERR_PTR(id);
	hdev = kzalloc_obj(*hdev, GFP_KERNEL);
	if (!hdev) {
		ida_free(&hmmsim_ids, id);
		return ERR_PTR(-ENOMEM);
	}
	hdev->id = id;
	hdev->cfg = *cfg;
	init_rwsem(&hdev->removal_lock);
	spin_lock_init(&hdev->link_lock);
	mutex_init(&hdev->mirrors_lock);
	INIT_LIST_HEAD(&hdev->mirrors);
	INIT_LIST_HEAD(&hdev->owners);
	INIT_WORK(&hdev->poison_work, hmmsim_evict_poisoned);

	device_initialize(&hdev->dev);
	hdev->dev.release = hmmsim_device_release;
	hdev->dev.class = &hmmsim_class;
	hdev->dev.devt = MKDEV(MAJOR(hmmsim_devt), id);
	/* From here on, put_device() frees hdev, its name and its number. */
	ret = dev_set_name(&hdev->dev, "%s%u", hmmsim_devname, id);
	if (ret)
		goto out_put;

	ret = hmmsim_devmem_init(hdev);
	if (ret) {
		/* No page was handed out: nothing to evict. */
		hmmsim_devmem_fini(hdev);
		goto out_put;
	}

	hmmsim_debugfs_add(hdev);
	cdev_init(&hdev->cdev, &hmmsim_fops);
	hdev->cdev.owner = THIS_MODULE;
	ret = cdev_device_add(&hdev->cdev, &hdev->dev);
	if (ret) {
		pr_err("%s: cannot add the char device: %d\n",
		       dev_name(&hdev->dev), ret);
		goto out_devmem;
	}
	return hdev;

out_devmem:
	hmmsim_debugfs_remove(hdev);
	hmmsim_devmem_fini(hdev);
out_put:
	put_device(&hdev->dev);
	return ERR_PTR(ret);
}

/* Remove the char device and mark the device removed, once. */
static void hmmsim_device_unplug(struct hmmsim_device *hdev)
{
	if (hdev->unplugged)
		return;
	hdev->unplugged = true;
	cdev_device_del(&hdev->cdev, &hdev->dev);
	down_write(&hdev->removal_lock);
	hdev->removed = true;
	up_write(&hdev->removal_lock);
}

/**
 * hmmsim_device_remove() - remove a device created by hmmsim_device_create()
 * @hdev: the device; calls for it are serialized by the caller.
 * @timeout_ms: how long to wait for device pages that stay in use
 *	(pinned); 0 for as long as it takes.
 *
 * The char device disappears first, so no new file can be opened; then the
 * device is marked removed, once every command running on it is done, so
 * that files still open get -ENODEV; then every page on it goes back to
 * system memory, and its memory goes. Pages still in use after
 * @timeout_ms leave the device removed but its memory in place, for a
 * later call to finish. The structure is freed when the last open file is
 * closed.
 *
 * Return: 0, or -EBUSY if @timeout_ms ran out.
 */
int hmmsim_device_remove(struct hmmsim_device *hdev, unsigned int timeout_ms)
{
	hmmsim_device_unplug(hdev);
	/* Removed, the device gets no more memory errors to salvage. */
	cancel_work_sync(&hdev->poison_work);
	if (hmmsim_evict_all(hdev, timeout_ms))
		return -EBUSY;
	/* debugfs's readers are done before the memory they look at goes. */
	hmmsim_debugfs_remove(hdev);
	hmmsim_devmem_fini(hdev);
	put_device(&hdev->dev);
	return 0;
}

/**
 * hmmsim_device_destroy() - remove a device, however long it takes
 * @hdev: the device.
 *
 * hmmsim_device_remove() without a timeout: for rmdir and rmmod, which
 * cannot fail.
 */
void hmmsim_device_destroy(struct hmmsim_device *hdev)
{
	hmmsim_device_remove(hdev, 0);
}

/**
 * hmmsim_device_enter() - start using a device for a command
 * @hdev: the device.
 *
 * As drm_dev_enter(): while entered, the device cannot be removed. Nests
 * inside nothing but a configfs item's lock; see DOC: Locking.
 *
 * Return: true if the device is there, and must be left with
 * hmmsim_device_leave(); false if it was removed (the command fails with
 * -ENODEV).
 */
bool hmmsim_device_enter(struct hmmsim_device *hdev)
{
	down_read(&hdev->removal_lock);
	if (!hdev->removed)
		return true;
	up_read(&hdev->removal_lock);
	return false;
}

/**
 * hmmsim_device_tryenter() - enter a second device inside a first one
 * @hdev: the device, usually the source of a device-to-device move.
 *
 * Never waits: two moves in opposite directions, entered in opposite
 * orders, cannot deadlock against the removal of both devices. Fails only
 * when @hdev is being removed, or was.
 *
 * Return: as hmmsim_device_enter().
 */
bool hmmsim_device_tryenter(struct hmmsim_device *hdev)
{
	if (!down_read_trylock(&hdev->removal_lock))
		return false;
	if (!hdev->removed)
		return true;
	up_read(&hdev->removal_lock);
	return false;
}

/**
 * hmmsim_device_leave() - end what hmmsim_device_enter() began
 * @hdev: the device.
 */
void hmmsim_device_leave(struct hmmsim_device *hdev)
{
	up_read(&hdev->removal_lock);
}

/**
 * hmmsim_device_init() - register the char device region and the class
 * @devname: base name of the device nodes, /dev/<devname>N.
 *
 * Return: 0 or a negative errno.
 */
int hmmsim_device_init(const char *devname)
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
 * hmmsim_device_exit() - undo hmmsim_device_init(), once every device is gone
 */
void hmmsim_device_exit(void)
{
	class_unregister(&hmmsim_class);
	unregister_chrdev_region(hmmsim_devt, HMMSIM_MAX_DEVICES);
}
