// SPDX-License-Identifier: GPL-2.0
/**
 * DOC: Module parameters
 *
 * hmmsim is a simulated shared-virtual-memory device for exercising HMM.
 *
 * This file owns the module parameters and the default devices they
 * describe: nr_private devices with private memory, then one coherent device
 * per coherent= range, numbered in that order (lib/test_hmm's layout). More
 * devices can be made at run time through configfs (configfs.c), with the
 * module parameters as their defaults.
 *
 * Values are parsed where they are read (here, and by configfs's stores);
 * whether a configuration makes a device is decided by one function,
 * hmmsim_config_check(), for the defaults, each coherent= range and each
 * configfs item at power-on alike.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/ctype.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "hmmsim_drv.h"

#define HMMSIM_DEVNAME_MAX	32

static char *devname = "hmmsim";
module_param(devname, charp, 0444);
MODULE_PARM_DESC(devname, "Base name of the char devices, /dev/<devname>N (default: hmmsim)");

static unsigned int nr_private = 2;
module_param(nr_private, uint, 0444);
MODULE_PARM_DESC(nr_private, "Number of devices with private memory (default: 2)");

static char *capacity = "256M";
module_param(capacity, charp, 0444);
MODULE_PARM_DESC(capacity, "Device memory per private device, K/M/G suffixes, a multiple of 2M (default: 256M)");

static char *coherent;
module_param(coherent, charp, 0444);
MODULE_PARM_DESC(coherent, "Coherent device memory ranges, SIZE@ADDR[,SIZE@ADDR...], one device each (default: none)");

static char *copy_bandwidth = "0";
module_param(copy_bandwidth, charp, 0444);
MODULE_PARM_DESC(copy_bandwidth, "Copy engine bandwidth in bytes/s, K/M/G suffixes, 0 for unlimited (default: 0)");

static unsigned int copy_latency_us;
module_param(copy_latency_us, uint, 0444);
MODULE_PARM_DESC(copy_latency_us, "Copy engine latency per batch in microseconds (default: 0)");

static unsigned int fault_batch = HMMSIM_DEFAULT_FAULT_BATCH;
module_param(fault_batch, uint, 0444);
MODULE_PARM_DESC(fault_batch, "Device faults serviced in one batch, 1 to 4096 (default: 256)");

static unsigned int fault_latency_us;
module_param(fault_latency_us, uint, 0444);
MODULE_PARM_DESC(fault_latency_us, "Time servicing a batch of device faults takes, in microseconds (default: 0)");

/* The module parameters, parsed once at load: configfs's defaults too. */
static struct hmmsim_device_config hmmsim_defaults;

static struct hmmsim_device *hmmsim_devices[HMMSIM_MAX_DEVICES];
static unsigned int hmmsim_nr_devices;

static int hmmsim_check_devname(const char *name)
{
	size_t len = strnlen(name, HMMSIM_DEVNAME_MAX + 1);
	size_t i;

	if (!len || len > HMMSIM_DEVNAME_MAX) {
		pr_err("devname='%s': must be 1 to %d characters\n",
		       name, HMMSIM_DEVNAME_MAX);
		return -EINVAL;
	}
	for (i = 0; i < len; i++) {
		if (!isalnum(name[i]) && name[i] != '_' && name[i] != '-') {
			pr_err("devname='%s': only letters, digits, '_' and '-' are allowed\n",
			       name);
			return -EINVAL;
		}
	}
	return 0;
}

static int hmmsim_parse_defaults(void)
{
	struct hmmsim_device_config *cfg = &hmmsim_defaults;

	cfg->type = HMMSIM_MEM_PRIVATE;
	if (hmmsim_config_parse_size(capacity, &cfg->capacity)) {
		pr_err("capacity='%s': expected a size such as 256M\n", capacity);
		return -EINVAL;
	}
	if (hmmsim_config_parse_size(copy_bandwidth, &cfg->copy_bandwidth)) {
		pr_err("copy_bandwidth='%s': expected bytes/s such as 8G\n",
		       copy_bandwidth);
		return -EINVAL;
	}
	cfg->copy_latency_us = copy_latency_us;
	cfg->fault_batch = fault_batch;
	cfg->fault_latency_us = fault_latency_us;
	return hmmsim_config_check(cfg, "module parameters");
}

/*
 * Parse coherent= into cfgs[first..]: the syntax here, each range through
 * hmmsim_config_check(), then whether it overlaps a range before it;
 * whether a range is free physical memory that is not System RAM is
 * checked when it is claimed.
 */
static int hmmsim_parse_coherent(struct hmmsim_device_config *cfgs,
				 unsigned int first, unsigned int *count)
{
	unsigned int n = 0, i;
	char *buf, *cur, *tok;
	int ret = 0;

	*count = 0;
	if (!coherent || !*coherent)
		return 0;

	buf = kstrdup(coherent, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;

	cur = buf;
	while ((tok = strsep(&cur, ","))) {
		struct hmmsim_device_config *cfg;
		char what[96];
		const char *end;
		u64 size, addr;

		if (first + n >= HMMSIM_MAX_DEVICES) {
			pr_err("coherent='%s': more than %d devices in all\n",
			       coherent, HMMSIM_MAX_DEVICES);
			ret = -EINVAL;
			break;
		}
		if (hmmsim_config_parse_size_until(tok, '@', &size, &end) ||
		    hmmsim_config_parse_size_until(end + 1, '\0', &addr, &end)) {
			pr_err("coherent: range '%s': expected SIZE@ADDR, e.g. 256M@0x60000000\n",
			       tok);
			ret = -EINVAL;
			break;
		}

		cfg = &cfgs[first + n];
		*cfg = hmmsim_defaults;
		cfg->type = HMMSIM_MEM_COHERENT;
		cfg->capacity = size;
		cfg->phys_base = addr;
		snprintf(what, sizeof(what), "coherent: range '%s'", tok);
		ret = hmmsim_config_check(cfg, what);
		if (ret)
			break;

		for (i = 0; i < n; i++) {
			const struct hmmsim_device_config *o = &cfgs[first + i];

			if (addr < o->phys_base + o->capacity &&
			    o->phys_base < addr + size) {
				pr_err("coherent: range '%s' overlaps range %u\n",
				       tok, i);
				ret = -EINVAL;
				break;
			}
		}
		if (ret)
			break;
		n++;
	}
	kfree(buf);
	if (!ret)
		*count = n;
	return ret;
}

static void hmmsim_destroy_devices(void)
{
	while (hmmsim_nr_devices)
		hmmsim_device_destroy(hmmsim_devices[--hmmsim_nr_devices]);
}

static int __init hmmsim_init(void)
{
	struct hmmsim_device_config *cfgs;
	unsigned int nr_coherent, i;
	int ret;

	ret = hmmsim_check_devname(devname);
	if (ret)
		return ret;
	if (nr_private > HMMSIM_MAX_DEVICES) {
		pr_err("nr_private=%u: at most %d devices\n",
		       nr_private, HMMSIM_MAX_DEVICES);
		return -EINVAL;
	}
	ret = hmmsim_parse_defaults();
	if (ret)
		return ret;

	cfgs = kcalloc(HMMSIM_MAX_DEVICES, sizeof(*cfgs), GFP_KERNEL);
	if (!cfgs)
		return -ENOMEM;
	for (i = 0; i < nr_private; i++)
		cfgs[i] = hmmsim_defaults;
	ret = hmmsim_parse_coherent(cfgs, nr_private, &nr_coherent);
	if (ret)
		goto out_free;

	ret = hmmsim_copy_init();
	if (ret)
		goto out_free;
	ret = hmmsim_uring_init();
	if (ret)
		goto out_copy;
	ret = hmmsim_device_init(devname);
	if (ret)
		goto out_uring;
	hmmsim_debugfs_init();

	/* Devices take the lowest free numbers: 0, 1, ... in this order. */
	for (i = 0; i < nr_private + nr_coherent; i++) {
		struct hmmsim_device *hdev = hmmsim_device_create(&cfgs[i]);

		if (IS_ERR(hdev)) {
			ret = PTR_ERR(hdev);
			goto out_destroy;
		}
		hmmsim_devices[hmmsim_nr_devices++] = hdev;
	}

	ret = hmmsim_configfs_init(&hmmsim_defaults);
	if (ret) {
		pr_err("cannot register with configfs: %d\n", ret);
		goto out_destroy;
	}
	kfree(cfgs);
	pr_info("%u private and %u coherent devices, /dev/%sN\n",
		nr_private, nr_coherent, devname);
	return 0;

out_destroy:
	hmmsim_destroy_devices();
	hmmsim_debugfs_exit();
	hmmsim_device_exit();
out_uring:
	hmmsim_uring_exit();
out_copy:
	hmmsim_copy_exit();
out_free:
	kfree(cfgs);
	return ret;
}

static void __exit hmmsim_exit(void)
{
	hmmsim_configfs_exit();
	hmmsim_destroy_devices();
	hmmsim_debugfs_exit();
	hmmsim_device_exit();
	hmmsim_uring_exit();
	hmmsim_copy_exit();
}

module_init(hmmsim_init);
module_exit(hmmsim_exit);

MODULE_DESCRIPTION("Simulated shared-virtual-memory device for HMM testing");
MODULE_AUTHOR("The hmmsim developers");
MODULE_LICENSE("GPL");
MODULE_VERSION(HMMSIM_VERSION);
