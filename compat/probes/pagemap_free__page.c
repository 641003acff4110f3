// SPDX-License-Identifier: GPL-2.0
/*
 * feature: dev_pagemap_ops, the callback that frees a device page
 * variant: .page_free(struct page *) (until .folio_free replaced it).
 */
#include <linux/memremap.h>

static void probe_free(struct page *page)
{
}

const struct dev_pagemap_ops probe_ops = { .page_free = probe_free };
