// SPDX-License-Identifier: GPL-2.0
/*
 * feature: device-exclusive entries (make_device_exclusive*())
 * variant: make_device_exclusive(mm, addr, owner, &folio), one page at a
 *	time, returned with its folio locked; large folios are mapped by PTE,
 *	not split.
 */
#include <linux/rmap.h>

/* The kernel's declaration must exist and have exactly this type. */
struct page *probe_type(struct mm_struct *mm, unsigned long addr,
			void *owner, struct folio **foliop);
static_assert(__same_type(make_device_exclusive, probe_type));
