// SPDX-License-Identifier: GPL-2.0
/*
 * feature: device-private THP migration (7.0 on): 2 MiB device folios,
 * collected and migrated whole with MIGRATE_VMA_SELECT_COMPOUND, and a
 * pagemap callback for when the kernel splits one. Optional.
 */
#include <linux/memremap.h>
#include <linux/migrate.h>

static void probe_split(struct folio *head, struct folio *tail)
{
}

static const struct dev_pagemap_ops probe_ops = {
	.folio_split = probe_split,
};

void probe(struct folio *folio, struct dev_pagemap *pgmap)
{
	unsigned long flags = MIGRATE_VMA_SELECT_COMPOUND;
	unsigned long pfn = MIGRATE_PFN_COMPOUND;

	zone_device_folio_init(folio, pgmap, HPAGE_PMD_ORDER);
	(void)flags;
	(void)pfn;
	(void)probe_ops;
}
