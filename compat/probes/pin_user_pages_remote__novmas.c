// SPDX-License-Identifier: GPL-2.0
/*
 * feature: pin_user_pages_remote()
 * variant: without the vmas argument (6.5 on).
 */
#include <linux/mm.h>

/* The kernel's declaration must exist and have exactly this type. */
long probe_type(struct mm_struct *mm, unsigned long start,
		unsigned long nr_pages, unsigned int gup_flags,
		struct page **pages, int *locked);
static_assert(__same_type(pin_user_pages_remote, probe_type));
