// SPDX-License-Identifier: GPL-2.0
/**
 * DOC: configfs
 *
 * Devices are created and removed at run time through configfs, in
 * null_blk's style::
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
 * off (-EBUSY otherwise). A value that cannot be parsed is refused when it
 * is written (-EINVAL); whether the values make a device is checked by
 * hmmsim_config_check() at power-on. New items take their defaults from the
 * module parameters. /sys/kernel/config/hmmsim/features lists the
 * attributes an item has.
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
 * @state_lock: protects @cfg and @hdev: serializes attribute access and
 *	power changes.
 * @cfg: the configuration, used when the device is powered on.
 * @hdev: the device while powered on, NULL otherwise.
 */
struct hmmsim_cfs_dev {
	struct config_item item;
	struct mutex state_lock;	/* see above */
	struct hmmsim_device_config cfg;
	struct hmmsim_device *hdev;
};

/* What a new item is made with: the module parameters. */
static struct hmmsim_device_config hmmsim_cfs_defaults;

static struct hmmsim_cfs_dev *to_cfs_dev(struct config_item *item)
{
	return container_of(item, struct hmmsim_cfs_dev, item);
}

/**
 * struct hmmsim_cfs_kind - how one kind of value is written and shown
 * @size: bytes of a field of this kind.
 * @parse: reads a value written to the attribute into a field's worth of
 *	bytes, refusing anything it does not entirely understand (-EINVAL).
 * @show: prints a field's value, with a newline.
 *
 * Whether the values make a device is hmmsim_config_check()'s business, at
 * power-on.
 */
struct hmmsim_cfs_kind {
	size_t size;
	int (*parse)(const char *page, void *v);
	ssize_t (*show)(char *page, const void *v);
};

/**
 * struct hmmsim_cfs_field - a simple attribute: a configuration field
 * @offset: where the field is in struct hmmsim_device_config.
 * @kind: its kind.
 */
struct hmmsim_cfs_field {
	size_t offset;
	const struct hmmsim_cfs_kind *kind;
};

/* A value as parsed, before it is stored: any kind fits. */
union hmmsim_cfs_value {
	enum hmmsim_mem_type mem_type;
	u64 size;
	phys_addr_t addr;
	u32 u32;
};

/* "private" or "coherent". */
static int hmmsim_cfs_parse_mem_type(const char *page, void *v)
{
	enum hmmsim_mem_type *type = v;

	if (sysfs_streq(page, "private"))
		*type = HMMSIM_MEM_PRIVATE;
	else if (sysfs_streq(page, "coherent"))
		*type = HMMSIM_MEM_COHERENT;
	else
		return -EINVAL;
	return 0;
}

static ssize_t hmmsim_cfs_show_mem_type(char *page, const void *v)
{
	const enum hmmsim_mem_type *type = v;

	return sprintf(page, "%s\n",
		       *type == HMMSIM_MEM_COHERENT ? "coherent" : "private");
}

static const struct hmmsim_cfs_kind hmmsim_cfs_kind_mem_type = {
	.size	= sizeof(enum hmmsim_mem_type),
	.parse	= hmmsim_cfs_parse_mem_type,
	.show	= hmmsim_cfs_show_mem_type,
};

/* A byte count with an optional K/M/G suffix; shown in bytes. */
static int hmmsim_cfs_parse_size(const char *page, void *v)
{
	return hmmsim_config_parse_size(page, v);
}

static ssize_t hmmsim_cfs_show_size(char *page, const void *v)
{
	const u64 *size = v;

	return sprintf(page, "%llu\n", *size);
}

static const struct hmmsim_cfs_kind hmmsim_cfs_kind_size = {
	.size	= sizeof(u64),
	.parse	= hmmsim_cfs_parse_size,
	.show	= hmmsim_cfs_show_size,
};

/* A physical address, in any base kstrtou64() takes; shown in hex. */
static int hmmsim_cfs_parse_addr(const char *page, void *v)
{
	phys_addr_t *addr = v;
	u64 n;
	int ret = kstrtou64(page, 0, &n);

	if (ret)
		return ret;
	*addr = n;
	return 0;
}

static ssize_t hmmsim_cfs_show_addr(char *page, const void *v)
{
	const phys_addr_t *addr = v;

	return sprintf(page, "%#llx\n", (unsigned long long)*addr);
}

static const struct hmmsim_cfs_kind hmmsim_cfs_kind_addr = {
	.size	= sizeof(phys_addr_t),
	.parse	= hmmsim_cfs_parse_addr,
	.show	= hmmsim_cfs_show_addr,
};

/* A number, in any base kstrtou32() takes. */
static int hmmsim_cfs_parse_u32(const char *page, void *v)
{
	return kstrtou32(page, 0, v);
}

static ssize_t hmmsim_cfs_show_u32(char *page, const void *v)
{
	const u32 *n = v;

	return sprintf(page, "%u\n", *n);
}

static const struct hmmsim_cfs_kind hmmsim_cfs_kind_u32 = {
	.size	= sizeof(u32),
	.parse	= hmmsim_cfs_parse_u32,
	.show	= hmmsim_cfs_show_u32,
};

static ssize_t hmmsim_cfs_show(struct config_item *item, char *page,
			       const struct hmmsim_cfs_field *f)
{
	struct hmmsim_cfs_dev *d = to_cfs_dev(item);
	union hmmsim_cfs_value v;

	mutex_lock(&d->state_lock);
	memcpy(&v, (char *)&d->cfg + f->offset, f->kind->size);
	mutex_unlock(&d->state_lock);
	return f->kind->show(page, &v);
}

/*
 * The one way an item's configuration changes: under its lock, refused
 * while the device is powered on (-EBUSY), and parsed aside so that a
 * refused value changes nothing.
 */
static ssize_t hmmsim_cfs_store(struct config_item *item, const char *page,
				size_t count, const struct hmmsim_cfs_field *f)
{
	struct hmmsim_cfs_dev *d = to_cfs_dev(item);
	union hmmsim_cfs_value v;
	int ret = -EBUSY;

	mutex_lock(&d->state_lock);
	if (!d->hdev) {
		ret = f->kind->parse(page, &v);
		if (!ret)
			memcpy((char *)&d->cfg + f->offset, &v, f->kind->size);
	}
	mutex_unlock(&d->state_lock);
	return ret ? ret : count;
}

/*
 * HMMSIM_CFS_ATTR(NAME, KIND): the attribute NAME, read and written as
 * the field of the same name in struct hmmsim_device_config, of the kind
 * hmmsim_cfs_kind_KIND (whose size must be the field's).
 */
#define HMMSIM_CFS_ATTR(NAME, KIND)					\
static const struct hmmsim_cfs_field hmmsim_cfs_##NAME##_field = {	\
	.offset	= offsetof(struct hmmsim_device_config, NAME),		\
	.kind	= &hmmsim_cfs_kind_##KIND,				\
};									\
									\
static ssize_t hmmsim_cfs_##NAME##_show(struct config_item *item,	\
					char *page)			\
{									\
	return hmmsim_cfs_show(item, page, &hmmsim_cfs_##NAME##_field);	\
}									\
									\
static ssize_t hmmsim_cfs_##NAME##_store(struct config_item *item,	\
					 const char *page,		\
					 size_t count)			\
{									\
	return hmmsim_cfs_store(item, page, count,			\
				&hmmsim_cfs_##NAME##_field);		\
}									\
									\
static struct configfs_attribute hmmsim_cfs_attr_##NAME = {		\
	.ca_name	= __stringify(NAME),				\
	.ca_owner	= THIS_MODULE,					\
	.ca_mode	= 0644,						\
	.show		= hmmsim_cfs_##NAME##_show,			\
	.store		= hmmsim_cfs_##NAME##_store,			\
}

HMMSIM_CFS_ATTR(type, mem_type);
HMMSIM_CFS_ATTR(capacity, size);
HMMSIM_CFS_ATTR(phys_base, addr);
HMMSIM_CFS_ATTR(copy_bandwidth, size);
HMMSIM_CFS_ATTR(copy_latency_us, u32);
HMMSIM_CFS_ATTR(fault_batch, u32);
HMMSIM_CFS_ATTR(fault_latency_us, u32);

static ssize_t hmmsim_cfs_index_show(struct config_item *item, char *page)
{
	struct hmmsim_cfs_dev *d = to_cfs_dev(item);
	int id;

	mutex_lock(&d->state_lock);
	id = d->hdev ? (int)d->hdev->id : -1;
	mutex_unlock(&d->state_lock);
	return sprintf(page, "%d\n", id);
}

static ssize_t hmmsim_cfs_power_show(struct config_item *item, char *page)
{
	struct hmmsim_cfs_dev *d = to_cfs_dev(item);
	bool on;

	mutex_lock(&d->state_lock);
	on = d->hdev;
	mutex_unlock(&d->state_lock);
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

	mutex_lock(&d->state_lock);
	if (on && d->hdev && hmmsim_device_removed(d->hdev)) {
		ret = -EBUSY;	/* a power-off to finish first */
	} else if (on && !d->hdev) {
		ret = hmmsim_config_check(&d->cfg, config_item_name(item));
		if (!ret) {
			hdev = hmmsim_device_create(&d->cfg);
			if (IS_ERR(hdev))
				ret = PTR_ERR(hdev);
			else
				d->hdev = hdev;
		}
	} else if (!on && d->hdev) {
		/* Pinned pages make it fail, not hang; it is tried again. */
		ret = hmmsim_device_remove(d->hdev, HMMSIM_REMOVE_TIMEOUT_MS);
		if (!ret)
			d->hdev = NULL;
	}
	mutex_unlock(&d->state_lock);
	return ret ? ret : count;
}

CONFIGFS_ATTR_RO(hmmsim_cfs_, index);
CONFIGFS_ATTR(hmmsim_cfs_, power);

static struct configfs_attribute *hmmsim_cfs_attrs[] = {
	&hmmsim_cfs_attr_type,
	&hmmsim_cfs_attr_capacity,
	&hmmsim_cfs_attr_phys_base,
	&hmmsim_cfs_attr_copy_bandwidth,
	&hmmsim_cfs_attr_copy_latency_us,
	&hmmsim_cfs_attr_fault_batch,
	&hmmsim_cfs_attr_fault_latency_us,
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
	mutex_init(&d->state_lock);
	d->cfg = hmmsim_cfs_defaults;
	config_item_init_type_name(&d->item, name, &hmmsim_cfs_dev_type);
	return &d->item;
}

static void hmmsim_cfs_drop_item(struct config_group *group,
				 struct config_item *item)
{
	struct hmmsim_cfs_dev *d = to_cfs_dev(item);

	/* rmdir of a powered-on device powers it off. */
	mutex_lock(&d->state_lock);
	if (d->hdev) {
		hmmsim_device_destroy(d->hdev);
		d->hdev = NULL;
	}
	mutex_unlock(&d->state_lock);
	config_item_put(item);
}

static struct configfs_group_operations hmmsim_cfs_group_ops = {
	.make_item	= hmmsim_cfs_make_item,
	.drop_item	= hmmsim_cfs_drop_item,
};

/*
 * features: the attributes an item has, comma-separated, so that a tool can
 * tell what this version of hmmsim supports before it makes an item.
 */
static ssize_t hmmsim_cfs_group_features_show(struct config_item *item,
					      char *page)
{
	struct configfs_attribute **attr;
	ssize_t len = 0;

	for (attr = hmmsim_cfs_attrs; *attr; attr++)
		len += scnprintf(page + len, PAGE_SIZE - len, "%s%c",
				 (*attr)->ca_name, attr[1] ? ',' : '\n');
	return len;
}

CONFIGFS_ATTR_RO(hmmsim_cfs_group_, features);

static struct configfs_attribute *hmmsim_cfs_group_attrs[] = {
	&hmmsim_cfs_group_attr_features,
	NULL,
};

static const struct config_item_type hmmsim_cfs_group_type = {
	.ct_group_ops	= &hmmsim_cfs_group_ops,
	.ct_attrs	= hmmsim_cfs_group_attrs,
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
 * @defaults: the configuration of a new item (the module parameters').
 *
 * Return: 0 or a negative errno.
 */
int hmmsim_configfs_init(const struct hmmsim_device_config *defaults)
{
	hmmsim_cfs_defaults = *defaults;
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
