// SPDX-License-Identifier: GPL-2.0
/*
 * feature: dev_pagemap_ops, the callback that frees a device page
 * variant: .folio_free(struct folio *) (7.0 on; .page_free before).
 */
#include <linux/memremap.h>

static void probe_free(struct folio *folio)
{
}

const struct dev_pagemap_ops probe_ops = { .folio_free = probe_free };
