// SPDX-License-Identifier: GPL-2.0
/*
 * feature: the dev_pagemap of a ZONE_DEVICE page
 * variant: the pgmap field of struct page.
 */
#include <linux/mm.h>
#include <linux/memremap.h>

struct dev_pagemap *probe(const struct page *page)
{
	return page->pgmap;
}
