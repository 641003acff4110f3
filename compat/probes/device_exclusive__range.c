// SPDX-License-Identifier: GPL-2.0
/*
 * feature: device-exclusive entries (make_device_exclusive*())
 * variant: make_device_exclusive_range(mm, start, end, pages, owner); the
 *	tail pages of a large folio are skipped.
 */
#include <linux/rmap.h>

/* The kernel's declaration must exist and have exactly this type. */
int probe_type(struct mm_struct *mm, unsigned long start,
	       unsigned long end, struct page **pages,
	       void *owner);
static_assert(__same_type(make_device_exclusive_range, probe_type));
