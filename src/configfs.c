// SPDX-License-Identifier: GPL-2.0
/*
 * hmmsim: devices created and removed at run time through configfs, in
 * null_blk's style:
 *
 *	mkdir /sys/kernel/config/hmmsim/NAME
 *	echo coherent > .../NAME/type		(private by default)
 *	echo 512M > .../NAME/capacity
 *	echo 0x60000000 > .../NAME/phys_base	(coherent only)
 *	echo 1 > .../NAME/power			(creates /dev/<devname>N)
 *	cat .../NAME/index			(N)
 *	echo 0 > .../NAME/power			(removes it; pages go home)
 *	rmdir /sys/kernel/config/hmmsim/NAME
 *
 * Attributes describe the device and can only change while it is powered
 * off (-EBUSY otherwise). New items take their defaults from the module
 * parameters.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/configfs.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>

#include "hmmsim_drv.h"

/**
 * struct hmmsim_cfs_dev - a device described in configfs
 * @item: the configfs item, /sys/kernel/config/hmmsim/NAME.
 * @lock: serializes attribute access and power changes.
 * @cfg: the configuration, used when the device is powered on.
 * @hdev: the device while powered on, NULL otherwise.
 */
struct hmmsim_cfs_dev {
	struct config_item item;
	struct mutex lock;		/* see above */
	struct hmmsim_device_config cfg;
	struct hmmsim_device *hdev;
};

static struct hmmsim_cfs_dev *to_cfs_dev(struct config_item *item)
{
	return container_of(item, struct hmmsim_cfs_dev, item);
}

/* Run @store under the lock, refusing changes to a powered-on device. */
static ssize_t hmmsim_cfs_store(struct config_item *item, const char *page,
				size_t count,
				int (*store)(struct hmmsim_cfs_dev *d,
					     const char *page))
{
	struct hmmsim_cfs_dev *d = to_cfs_dev(item);
	int ret;

	mutex_lock(&d->lock);
	ret = d->hdev ? -EBUSY : store(d, page);
	mutex_unlock(&d->lock);
	return ret ? ret : count;
}

static ssize_t hmmsim_cfs_type_show(struct config_item *item, char *page)
{
	return sprintf(page, "%s\n",
		       to_cfs_dev(item)->cfg.type == HMMSIM_MEM_COHERENT ?
		       "coherent" : "private");
}

static int hmmsim_cfs_set_type(struct hmmsim_cfs_dev *d, const char *page)
{
	if (sysfs_streq(page, "private"))
		d->cfg.type = HMMSIM_MEM_PRIVATE;
	else if (sysfs_streq(page, "coherent"))
		d->cfg.type = HMMSIM_MEM_COHERENT;
	else
		return -EINVAL;
	return 0;
}

static ssize_t hmmsim_cfs_type_store(struct config_item *item,
				     const char *page, size_t count)
{
	return hmmsim_cfs_store(item, page, count, hmmsim_cfs_set_type);
}

static ssize_t hmmsim_cfs_capacity_show(struct config_item *item, char *page)
{
	return sprintf(page, "%llu\n", to_cfs_dev(item)->cfg.capacity);
}

static int hmmsim_cfs_set_capacity(struct hmmsim_cfs_dev *d, const char *page)
{
	u64 v;
	int ret = hmmsim_parse_size(page, &v);

	if (ret)
		return ret;
	d->cfg.capacity = v;
	return 0;
}

static ssize_t hmmsim_cfs_capacity_store(struct config_item *item,
					 const char *page, size_t count)
{
	return hmmsim_cfs_store(item, page, count, hmmsim_cfs_set_capacity);
}

static ssize_t hmmsim_cfs_phys_base_show(struct config_item *item, char *page)
{
	return sprintf(page, "%#llx\n",
		       (unsigned long long)to_cfs_dev(item)->cfg.phys_base);
}

static int hmmsim_cfs_set_phys_base(struct hmmsim_cfs_dev *d,
				    const char *page)
{
	u64 v;
	int ret = kstrtou64(page, 0, &v);

	if (ret)
		return ret;
	d->cfg.phys_base = v;
	return 0;
}

static ssize_t hmmsim_cfs_phys_base_store(struct config_item *item,
					  const char *page, size_t count)
{
	return hmmsim_cfs_store(item, page, count, hmmsim_cfs_set_phys_base);
}

static ssize_t hmmsim_cfs_copy_bandwidth_show(struct config_item *item,
					      char *page)
{
	return sprintf(page, "%llu\n", to_cfs_dev(item)->cfg.copy_bandwidth);
}

static int hmmsim_cfs_set_copy_bandwidth(struct hmmsim_cfs_dev *d,
					 const char *page)
{
	return hmmsim_parse_size(page, &d->cfg.copy_bandwidth);
}

static ssize_t hmmsim_cfs_copy_bandwidth_store(struct config_item *item,
					       const char *page, size_t count)
{
	return hmmsim_cfs_store(item, page, count,
				hmmsim_cfs_set_copy_bandwidth);
}

static ssize_t hmmsim_cfs_copy_latency_us_show(struct config_item *item,
					       char *page)
{
	return sprintf(page, "%u\n", to_cfs_dev(item)->cfg.copy_latency_us);
}

static int hmmsim_cfs_set_copy_latency_us(struct hmmsim_cfs_dev *d,
					  const char *page)
{
	u32 v;
	int ret = kstrtou32(page, 0, &v);

	if (ret)
		return ret;
	d->cfg.copy_latency_us = v;
	return 0;
}

static ssize_t hmmsim_cfs_copy_latency_us_store(struct config_item *item,
						const char *page, size_t count)
{
	return hmmsim_cfs_store(item, page, count,
				hmmsim_cfs_set_copy_latency_us);
}

static ssize_t hmmsim_cfs_index_show(struct config_item *item, char *page)
{
	struct hmmsim_cfs_dev *d = to_cfs_dev(item);
	int id;

	mutex_lock(&d->lock);
	id = d->hdev ? (int)d->hdev->id : -1;
	mutex_unlock(&d->lock);
	return sprintf(page, "%d\n", id);
}

static ssize_t hmmsim_cfs_power_show(struct config_item *item, char *page)
{
	struct hmmsim_cfs_dev *d = to_cfs_dev(item);
	bool on;

	mutex_lock(&d->lock);
	on = d->hdev;
	mutex_unlock(&d->lock);
	return sprintf(page, "%d\n", on);
}

static ssize_t hmmsim_cfs_power_store(struct config_item *item,
				      const char *page, size_t count)
{
	struct hmmsim_cfs_dev *d = to_cfs_dev(item);
	struct hmmsim_device *hdev;
	unsigned int on;
	int ret;

	ret = kstrtouint(page, 0, &on);
	if (ret || on > 1)
		return -EINVAL;

	mutex_lock(&d->lock);
	if (on && !d->hdev) {
		ret = hmmsim_check_config(&d->cfg, config_item_name(item));
		if (!ret) {
			hdev = hmmsim_device_create(&d->cfg);
			if (IS_ERR(hdev))
				ret = PTR_ERR(hdev);
			else
				d->hdev = hdev;
		}
	} else if (!on && d->hdev) {
		hmmsim_device_destroy(d->hdev);
		d->hdev = NULL;
	}
	mutex_unlock(&d->lock);
	return ret ? ret : count;
}

CONFIGFS_ATTR(hmmsim_cfs_, type);
CONFIGFS_ATTR(hmmsim_cfs_, capacity);
CONFIGFS_ATTR(hmmsim_cfs_, phys_base);
CONFIGFS_ATTR(hmmsim_cfs_, copy_bandwidth);
CONFIGFS_ATTR(hmmsim_cfs_, copy_latency_us);
CONFIGFS_ATTR_RO(hmmsim_cfs_, index);
CONFIGFS_ATTR(hmmsim_cfs_, power);

static struct configfs_attribute *hmmsim_cfs_attrs[] = {
	&hmmsim_cfs_attr_type,
	&hmmsim_cfs_attr_capacity,
	&hmmsim_cfs_attr_phys_base,
	&hmmsim_cfs_attr_copy_bandwidth,
	&hmmsim_cfs_attr_copy_latency_us,
	&hmmsim_cfs_attr_index,
	&hmmsim_cfs_attr_power,
	NULL,
};

static void hmmsim_cfs_release(struct config_item *item)
{
	struct hmmsim_cfs_dev *d = to_cfs_dev(item);

	if (d->hdev)
		hmmsim_device_destroy(d->hdev);
	kfree(d);
}

static struct configfs_item_operations hmmsim_cfs_item_ops = {
	.release	= hmmsim_cfs_release,
};

static const struct config_item_type hmmsim_cfs_dev_type = {
	.ct_item_ops	= &hmmsim_cfs_item_ops,
	.ct_attrs	= hmmsim_cfs_attrs,
	.ct_owner	= THIS_MODULE,
};

static struct config_item *hmmsim_cfs_make_item(struct config_group *group,
						const char *name)
{
	struct hmmsim_cfs_dev *d = kzalloc(sizeof(*d), GFP_KERNEL);

	if (!d)
		return ERR_PTR(-ENOMEM);
	mutex_init(&d->lock);
	hmmsim_default_config(&d->cfg);
	config_item_init_type_name(&d->item, name, &hmmsim_cfs_dev_type);
	return &d->item;
}

static void hmmsim_cfs_drop_item(struct config_group *group,
				 struct config_item *item)
{
	struct hmmsim_cfs_dev *d = to_cfs_dev(item);

	/* rmdir of a powered-on device powers it off. */
	mutex_lock(&d->lock);
	if (d->hdev) {
		hmmsim_device_destroy(d->hdev);
		d->hdev = NULL;
	}
	mutex_unlock(&d->lock);
	config_item_put(item);
}

static struct configfs_group_operations hmmsim_cfs_group_ops = {
	.make_item	= hmmsim_cfs_make_item,
	.drop_item	= hmmsim_cfs_drop_item,
};

static const struct config_item_type hmmsim_cfs_group_type = {
	.ct_group_ops	= &hmmsim_cfs_group_ops,
	.ct_owner	= THIS_MODULE,
};

static struct configfs_subsystem hmmsim_cfs_subsys = {
	.su_group = {
		.cg_item = {
			.ci_namebuf = KBUILD_MODNAME,
			.ci_type = &hmmsim_cfs_group_type,
		},
	},
};

/**
 * hmmsim_configfs_init() - register /sys/kernel/config/hmmsim
 *
 * Return: 0 or a negative errno.
 */
int hmmsim_configfs_init(void)
{
	config_group_init(&hmmsim_cfs_subsys.su_group);
	mutex_init(&hmmsim_cfs_subsys.su_mutex);
	return configfs_register_subsystem(&hmmsim_cfs_subsys);
}

/**
 * hmmsim_configfs_exit() - unregister /sys/kernel/config/hmmsim
 *
 * configfs holds a module reference for each item, so no item is left.
 */
void hmmsim_configfs_exit(void)
{
	configfs_unregister_subsystem(&hmmsim_cfs_subsys);
}
