// SPDX-License-Identifier: GPL-2.0
/**
 * DOC: Device configuration
 *
 * A device is described by a struct hmmsim_device_config, made from the
 * module parameters (main.c) or a configfs item (configfs.c). Sizes are
 * parsed here for both, with a K/M/G suffix and nothing memparse() would
 * silently ignore, and every configuration goes through one validator,
 * hmmsim_config_check(), before hmmsim_device_create() is asked for it.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/ctype.h>
#include <linux/kernel.h>

#include "hmmsim_drv.h"

#define HMMSIM_MAX_CAPACITY	(64ULL << 30)

/**
 * hmmsim_config_parse_size_until() - parse a size that ends at a character
 * @str: the string.
 * @stop: the character the size ends at, or '\0' for the end of @str (a
 *	trailing newline is allowed there).
 * @out: the size in bytes.
 * @end: set to where the size ended (at @stop).
 *
 * Return: 0 or -EINVAL.
 */
int hmmsim_config_parse_size_until(const char *str, char stop, u64 *out,
				   const char **end)
{
	char *p;

	if (!isdigit(*str))
		return -EINVAL;
	*out = memparse(str, &p);
	if (!stop && *p == '\n')
		p++;
	if (*p != stop)
		return -EINVAL;
	*end = p;
	return 0;
}

/**
 * hmmsim_config_parse_size() - parse a size such as "256M"
 * @str: the string; a trailing newline is allowed.
 * @out: the size in bytes.
 *
 * Return: 0 or -EINVAL.
 */
int hmmsim_config_parse_size(const char *str, u64 *out)
{
	const char *end;

	return hmmsim_config_parse_size_until(str, '\0', out, &end);
}

/**
 * hmmsim_config_check() - whether a device configuration can be created
 * @cfg: the configuration.
 * @what: where it comes from, for the log: "module parameters", a
 *	coherent= range or a configfs item's name.
 *
 * The one validator of device configurations: the module parameters'
 * defaults, each coherent= range and each configfs item at power-on go
 * through it before hmmsim_device_create(). It checks what can be checked
 * without touching the system; whether a coherent range is free reserved
 * memory is checked when it is claimed, and whether coherent= ranges
 * overlap by hmmsim_parse_coherent(). The log line names @what and the
 * field that is wrong, under its configfs attribute's name.
 *
 * Return: 0, or -EINVAL with the reason logged.
 */
int hmmsim_config_check(const struct hmmsim_device_config *cfg,
			const char *what)
{
	u64 base = cfg->phys_base, size = cfg->capacity;

	if (cfg->type != HMMSIM_MEM_PRIVATE &&
	    cfg->type != HMMSIM_MEM_COHERENT) {
		pr_err("%s: type=%d: neither private nor coherent\n",
		       what, cfg->type);
		return -EINVAL;
	}
	if (!size || !IS_ALIGNED(size, HMMSIM_CHUNK_SIZE) ||
	    size > HMMSIM_MAX_CAPACITY) {
		pr_err("%s: capacity=%llu: sizes must be nonzero multiples of 2M, at most 64G\n",
		       what, size);
		return -EINVAL;
	}
	if (cfg->copy_latency_us > HMMSIM_MAX_COPY_LATENCY_US) {
		pr_err("%s: copy_latency_us=%u: at most %u\n", what,
		       cfg->copy_latency_us, HMMSIM_MAX_COPY_LATENCY_US);
		return -EINVAL;
	}
	if (cfg->copy_bandwidth &&
	    cfg->copy_bandwidth < HMMSIM_MIN_COPY_BANDWIDTH) {
		pr_err("%s: copy_bandwidth=%llu: 0 (no limit) or at least %u bytes/s\n",
		       what, cfg->copy_bandwidth, HMMSIM_MIN_COPY_BANDWIDTH);
		return -EINVAL;
	}
	if (!cfg->fault_batch || cfg->fault_batch > HMMSIM_MAX_FAULT_BATCH) {
		pr_err("%s: fault_batch=%u: 1 to %u\n", what,
		       cfg->fault_batch, HMMSIM_MAX_FAULT_BATCH);
		return -EINVAL;
	}
	if (cfg->fault_latency_us > HMMSIM_MAX_FAULT_LATENCY_US) {
		pr_err("%s: fault_latency_us=%u: at most %u\n", what,
		       cfg->fault_latency_us, HMMSIM_MAX_FAULT_LATENCY_US);
		return -EINVAL;
	}
	if (cfg->type != HMMSIM_MEM_COHERENT)
		return 0;
	if (!base) {
		pr_err("%s: phys_base=0: coherent memory cannot start at physical address 0\n",
		       what);
		return -EINVAL;
	}
	if (!IS_ALIGNED(base, HMMSIM_CHUNK_SIZE)) {
		pr_err("%s: phys_base=%#llx: addresses must be multiples of 2M\n",
		       what, base);
		return -EINVAL;
	}
	if (base + size < base || base + size > BIT_ULL(MAX_PHYSMEM_BITS)) {
		pr_err("%s: phys_base=%#llx capacity=%llu: beyond the physical address space\n",
		       what, base, size);
		return -EINVAL;
	}
	return 0;
}
