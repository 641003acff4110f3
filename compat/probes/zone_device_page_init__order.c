// SPDX-License-Identifier: GPL-2.0
/*
 * feature: zone_device_page_init(), which hands out a device page
 * variant: zone_device_page_init(page, pgmap, order).
 */
#include <linux/memremap.h>

/* The kernel's declaration must exist and have exactly this type. */
void probe_type(struct page *page, struct dev_pagemap *pgmap,
		unsigned int order);
static_assert(__same_type(zone_device_page_init, probe_type));
