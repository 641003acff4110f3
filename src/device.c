// SPDX-License-Identifier: GPL-2.0
/*
 * hmmsim: life cycle of a simulated device.
 *
 * A device is a struct device with an embedded cdev, added together with
 * cdev_device_add(). Its memory is set up before the char device appears
 * and torn down after it is gone, so a file can only be opened on a complete
 * device. Open files keep the structure alive (the cdev holds a reference on
 * the device), not the device memory.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/idr.h>
#include <linux/slab.h>

#include "hmmsim_drv.h"

/* Device numbers, the N of /dev/<devname>N and the minors. */
static DEFINE_IDA(hmmsim_ids);

static void hmmsim_device_release(struct device *dev)
{
	struct hmmsim_device *hdev = container_of(dev, struct hmmsim_device,
						  dev);

	ida_free(&hmmsim_ids, hdev->id);
	kfree(hdev);
}

/**
 * hmmsim_device_create() - create a simulated device and its char device
 * @cfg: type and memory of the device, validated by hmmsim_check_config().
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
	init_rwsem(&hdev->lock);
	mutex_init(&hdev->mirrors_lock);
	INIT_LIST_HEAD(&hdev->mirrors);

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

/**
 * hmmsim_device_destroy() - remove a device created by hmmsim_device_create()
 * @hdev: the device.
 *
 * The char device disappears first, so no new file can be opened; then the
 * device is marked dead, once every command running on it is done, so that
 * files still open get -ENODEV; then its memory goes, every page moved back
 * to system memory first. The structure is freed when the last open file
 * is closed.
 */
void hmmsim_device_destroy(struct hmmsim_device *hdev)
{
	cdev_device_del(&hdev->cdev, &hdev->dev);
	down_write(&hdev->lock);
	hdev->dead = true;
	up_write(&hdev->lock);
	hmmsim_devmem_fini(hdev);
	hmmsim_debugfs_remove(hdev);
	put_device(&hdev->dev);
}
