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

#include <linux/slab.h>

#include "hmmsim_drv.h"

static void hmmsim_device_release(struct device *dev)
{
	kfree(container_of(dev, struct hmmsim_device, dev));
}

/**
 * hmmsim_device_create() - create a simulated device and its char device
 * @id: device number: the N of /dev/<devname>N and the char device minor.
 * @cfg: type and memory of the device, already validated for syntax.
 *
 * Return: the new device, or an ERR_PTR() with the reason logged.
 */
struct hmmsim_device *hmmsim_device_create(unsigned int id,
					   const struct hmmsim_device_config *cfg)
{
	struct hmmsim_device *hdev;
	int ret;

	hdev = kzalloc(sizeof(*hdev), GFP_KERNEL);
	if (!hdev)
		return ERR_PTR(-ENOMEM);
	hdev->id = id;
	hdev->cfg = *cfg;
	mutex_init(&hdev->mirrors_lock);
	INIT_LIST_HEAD(&hdev->mirrors);

	device_initialize(&hdev->dev);
	hdev->dev.release = hmmsim_device_release;
	hdev->dev.class = &hmmsim_class;
	hdev->dev.devt = MKDEV(MAJOR(hmmsim_devt), id);
	/* From here on, put_device() frees hdev and its name. */
	ret = dev_set_name(&hdev->dev, "%s%u", hmmsim_devname, id);
	if (ret)
		goto out_put;

	ret = hmmsim_devmem_init(hdev);
	if (ret)
		goto out_put;

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
	hmmsim_devmem_fini(hdev);
out_put:
	put_device(&hdev->dev);
	return ERR_PTR(ret);
}

/**
 * hmmsim_device_destroy() - remove a device created by hmmsim_device_create()
 * @hdev: the device.
 *
 * The char device disappears first, so no new file can be opened; the
 * structure is freed when the last open file is closed.
 */
void hmmsim_device_destroy(struct hmmsim_device *hdev)
{
	cdev_device_del(&hdev->cdev, &hdev->dev);
	hmmsim_devmem_fini(hdev);
	put_device(&hdev->dev);
}
