// SPDX-License-Identifier: GPL-2.0
/*
 * hmmsim: device memory.
 *
 * A coherent device's memory is a physical range that is RAM but not System
 * RAM (in the test VM, a memmap=SIZE$ADDR reservation). It is claimed here,
 * so that two devices, or hmmsim and another driver, can never share it.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/ioport.h>
#include <linux/mm.h>

#include "hmmsim_drv.h"

static int hmmsim_devmem_claim_coherent(struct hmmsim_device *hdev)
{
	phys_addr_t start = hdev->cfg.phys_base;
	u64 size = hdev->cfg.capacity;
	int ret;

	/*
	 * memremap_pages() refuses System RAM with a WARN; say what is wrong
	 * before it gets there.
	 */
	ret = region_intersects(start, size, IORESOURCE_SYSTEM_RAM,
				IORES_DESC_NONE);
	if (ret != REGION_DISJOINT) {
		pr_err("%s: coherent range %pa+%#llx overlaps System RAM; reserve it with memmap=SIZE$ADDR\n",
		       dev_name(&hdev->dev), &start, size);
		return -EINVAL;
	}

	hdev->res = request_mem_region(start, size, dev_name(&hdev->dev));
	if (!hdev->res) {
		pr_err("%s: coherent range %pa+%#llx is busy (claimed by another device or driver)\n",
		       dev_name(&hdev->dev), &start, size);
		return -EBUSY;
	}
	return 0;
}

/**
 * hmmsim_devmem_init() - set up the memory of a new device
 * @hdev: the device, with its configuration and name set.
 *
 * Return: 0, or a negative errno with the reason logged.
 */
int hmmsim_devmem_init(struct hmmsim_device *hdev)
{
	if (hdev->cfg.type == HMMSIM_MEM_COHERENT)
		return hmmsim_devmem_claim_coherent(hdev);
	return 0;
}

/**
 * hmmsim_devmem_fini() - release what hmmsim_devmem_init() set up
 * @hdev: the device.
 */
void hmmsim_devmem_fini(struct hmmsim_device *hdev)
{
	if (hdev->res) {
		release_mem_region(hdev->res->start, resource_size(hdev->res));
		hdev->res = NULL;
	}
}
