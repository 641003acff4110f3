// SPDX-License-Identifier: GPL-2.0
/**
 * DOC: Device page table
 *
 * A two-level table, like a GPU's: a directory of 2 MiB blocks of virtual
 * address space (an xarray indexed by address >> PMD_SHIFT), each either a
 * single 2 MiB entry or a table of 512 entries of 4 KiB. A PMD-mapped THP
 * that hmm_range_fault() reports with a PMD map order becomes one 2 MiB
 * entry; anything else is mapped page by page.
 *
 * The table is a cache of the CPU page tables: every entry is dropped by an
 * invalidation before the page it points to can be freed or moved, and an
 * invalidation that touches part of a 2 MiB entry drops all of it.
 *
 * Every function except hmmsim_devpt_init(), hmmsim_devpt_prepare() and
 * hmmsim_devpt_fini() is called with the owning mirror's page table lock
 * held (and asserts it), which the mmu notifier takes under reclaim: they
 * allocate nothing that could recurse into reclaim, and return -EAGAIN
 * when a non-blocking allocation fails, for the caller to drop the lock,
 * call hmmsim_devpt_prepare() and retry.
 */
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/pgtable.h>

#include "hmmsim_drv.h"

#define HMMSIM_PT_SHIFT		PMD_SHIFT
#define HMMSIM_PT_ENTRIES	PTRS_PER_PTE

static_assert(HMMSIM_PT_ENTRIES * sizeof(hmmsim_pte_t) == PAGE_SIZE);

static unsigned long hmmsim_devpt_index(unsigned long addr)
{
	return addr >> HMMSIM_PT_SHIFT;
}

static unsigned int hmmsim_devpt_slot(unsigned long addr)
{
	return (addr >> PAGE_SHIFT) & (HMMSIM_PT_ENTRIES - 1);
}

static unsigned long hmmsim_devpt_block(unsigned long index)
{
	return index << HMMSIM_PT_SHIFT;
}

static hmmsim_pte_t *hmmsim_devpt_alloc_table(gfp_t gfp)
{
	return (hmmsim_pte_t *)get_zeroed_page(gfp);
}

static void hmmsim_devpt_free_entry(void *entry)
{
	if (entry && !xa_is_value(entry))
		free_page((unsigned long)entry);
}

/**
 * hmmsim_devpt_init() - initialize an empty device page table
 * @pt: the table.
 * @lock: the lock every lookup and update of the table is made under.
 */
void hmmsim_devpt_init(struct hmmsim_devpt *pt, struct mutex *lock)
{
	xa_init(&pt->blocks);
	pt->lock = lock;
}

/**
 * hmmsim_devpt_fini() - free a device page table and everything in it
 * @pt: the table; no longer reachable by the mmu notifier.
 */
void hmmsim_devpt_fini(struct hmmsim_devpt *pt)
{
	unsigned long index;
	void *entry;

	xa_for_each(&pt->blocks, index, entry)
		hmmsim_devpt_free_entry(entry);
	xa_destroy(&pt->blocks);
}

/**
 * hmmsim_devpt_prepare() - allocate the tables [start, end) will need
 * @pt: the table.
 * @start: first address.
 * @end: end address (exclusive).
 *
 * Called without the mirror lock, so that updates under the lock rarely
 * have to allocate. The tables may still be freed by an invalidation before
 * they are used; updates then return -EAGAIN.
 *
 * Return: 0 or -ENOMEM.
 */
int hmmsim_devpt_prepare(struct hmmsim_devpt *pt, unsigned long start,
			 unsigned long end)
{
	unsigned long index;

	for (index = hmmsim_devpt_index(start);
	     index <= hmmsim_devpt_index(end - 1); index++) {
		hmmsim_pte_t *table;
		void *old;

		if (xa_load(&pt->blocks, index))
			continue;
		table = hmmsim_devpt_alloc_table(GFP_KERNEL);
		if (!table)
			return -ENOMEM;
		old = xa_cmpxchg(&pt->blocks, index, NULL, table, GFP_KERNEL);
		if (old) {
			free_page((unsigned long)table);
			if (xa_is_err(old))
				return xa_err(old);
		}
	}
	return 0;
}

/*
 * The table of 4 KiB entries of the block at @index, made if needed. A
 * 2 MiB entry is split into 512 4 KiB entries when @keep_huge, dropped
 * otherwise (its translation is stale).
 */
static hmmsim_pte_t *hmmsim_devpt_get_table(struct hmmsim_devpt *pt,
					    unsigned long index, bool keep_huge)
{
	void *entry = xa_load(&pt->blocks, index);
	hmmsim_pte_t *table;
	void *old;

	lockdep_assert_held(pt->lock);
	if (entry && !xa_is_value(entry))
		return entry;

	table = hmmsim_devpt_alloc_table(GFP_NOWAIT | __GFP_NOWARN);
	if (!table)
		return NULL;
	if (entry && keep_huge) {
		hmmsim_pte_t huge = xa_to_value(entry);
		unsigned int i;

		for (i = 0; i < HMMSIM_PT_ENTRIES; i++)
			table[i] = huge + ((hmmsim_pte_t)i << PAGE_SHIFT);
	}
	old = xa_store(&pt->blocks, index, table, GFP_NOWAIT | __GFP_NOWARN);
	if (xa_is_err(old)) {
		free_page((unsigned long)table);
		return NULL;
	}
	return table;
}

static hmmsim_pte_t hmmsim_devpt_pte_of(unsigned long hmm_pfn)
{
	hmmsim_pte_t pte = HMMSIM_PTE_VALID;

	pte |= (hmmsim_pte_t)page_to_pfn(hmm_pfn_to_page(hmm_pfn)) << PAGE_SHIFT;
	if (hmm_pfn & HMM_PFN_WRITE)
		pte |= HMMSIM_PTE_WRITE;
	return pte;
}

/*
 * Whether the 512 hmm pfns at @pfns describe one PMD mapping: valid, same
 * permission, physically contiguous, reported with a PMD map order.
 */
static bool hmmsim_devpt_pfns_are_pmd(const unsigned long *pfns)
{
	unsigned long first = pfns[0], pfn0;
	unsigned int i;

	if (!(first & HMM_PFN_VALID) ||
	    hmm_pfn_to_map_order(first) != HMMSIM_PT_SHIFT - PAGE_SHIFT)
		return false;
	pfn0 = page_to_pfn(hmm_pfn_to_page(first));
	if (!IS_ALIGNED(pfn0, HMMSIM_PT_ENTRIES))
		return false;
	for (i = 1; i < HMMSIM_PT_ENTRIES; i++) {
		if ((pfns[i] & (HMM_PFN_VALID | HMM_PFN_WRITE)) !=
		    (first & (HMM_PFN_VALID | HMM_PFN_WRITE)) ||
		    page_to_pfn(hmm_pfn_to_page(pfns[i])) != pfn0 + i)
			return false;
	}
	return true;
}

/**
 * hmmsim_devpt_map_range() - map what hmm_range_fault() found
 * @pt: the table.
 * @range: a range just filled by hmm_range_fault() and validated with
 *	mmu_interval_read_retry() under the table's lock, which is held.
 *
 * Valid pfns are mapped, with write permission where the CPU has it; a
 * block fully covered by a PMD mapping gets one 2 MiB entry, and a 2 MiB
 * entry of which only part is mapped again becomes a table of the same
 * entries first. Entries for invalid pfns are left alone: a CPU mapping
 * that went away has already been invalidated.
 *
 * Return: 0, or -EAGAIN if a table could not be allocated here.
 */
int hmmsim_devpt_map_range(struct hmmsim_devpt *pt,
			   const struct hmm_range *range)
{
	unsigned long addr = range->start;

	lockdep_assert_held(pt->lock);
	while (addr < range->end) {
		unsigned long index = hmmsim_devpt_index(addr);
		unsigned long block_end = min(hmmsim_devpt_block(index + 1),
					      range->end);
		const unsigned long *pfns =
			&range->hmm_pfns[(addr - range->start) >> PAGE_SHIFT];
		hmmsim_pte_t *table;

		if (addr == hmmsim_devpt_block(index) &&
		    block_end == hmmsim_devpt_block(index + 1) &&
		    hmmsim_devpt_pfns_are_pmd(pfns)) {
			if (hmmsim_devpt_set_block(pt, addr,
						   hmmsim_devpt_pte_of(pfns[0])))
				return -EAGAIN;
			addr = block_end;
			continue;
		}

		/*
		 * Part of a block mapped by one entry: the rest of the block
		 * keeps its mapping, which is still valid (an invalidation
		 * would have cleared it).
		 */
		table = hmmsim_devpt_get_table(pt, index, true);
		if (!table)
			return -EAGAIN;
		for (; addr < block_end; addr += PAGE_SIZE, pfns++) {
			if (*pfns & HMM_PFN_VALID)
				table[hmmsim_devpt_slot(addr)] = hmmsim_devpt_pte_of(*pfns);
		}
	}
	return 0;
}

/**
 * hmmsim_devpt_set_block() - map a 2 MiB block with one entry
 * @pt: the table.
 * @addr: virtual address of the block, 2 MiB aligned.
 * @pte: the entry for the block's first page; the block maps 2 MiB of
 *	physically contiguous memory from there.
 *
 * Return: 0, or -EAGAIN if the directory could not grow here.
 */
int hmmsim_devpt_set_block(struct hmmsim_devpt *pt, unsigned long addr,
			   hmmsim_pte_t pte)
{
	void *old;

	lockdep_assert_held(pt->lock);
	old = xa_store(&pt->blocks, hmmsim_devpt_index(addr), xa_mk_value(pte),
		       GFP_NOWAIT | __GFP_NOWARN);
	if (xa_is_err(old))
		return -EAGAIN;
	hmmsim_devpt_free_entry(old);
	return 0;
}

/**
 * hmmsim_devpt_set() - map one 4 KiB page
 * @pt: the table.
 * @addr: page-aligned virtual address.
 * @pte: the entry; a 2 MiB entry covering @addr is split first.
 *
 * Return: 0, or -EAGAIN if a table could not be allocated here.
 */
int hmmsim_devpt_set(struct hmmsim_devpt *pt, unsigned long addr,
		     hmmsim_pte_t pte)
{
	hmmsim_pte_t *table;

	lockdep_assert_held(pt->lock);
	table = hmmsim_devpt_get_table(pt, hmmsim_devpt_index(addr), true);
	if (!table)
		return -EAGAIN;
	table[hmmsim_devpt_slot(addr)] = pte;
	return 0;
}

/**
 * hmmsim_devpt_lookup() - translate one address
 * @pt: the table.
 * @addr: virtual address.
 *
 * Return: the 4 KiB entry for @addr (for a 2 MiB entry, the part of it that
 * maps @addr, with %HMMSIM_PTE_HUGE set), or 0 if nothing is mapped.
 */
hmmsim_pte_t hmmsim_devpt_lookup(struct hmmsim_devpt *pt, unsigned long addr)
{
	void *entry;

	lockdep_assert_held(pt->lock);
	entry = xa_load(&pt->blocks, hmmsim_devpt_index(addr));
	if (!entry)
		return 0;
	if (xa_is_value(entry))
		return (xa_to_value(entry) |
			((hmmsim_pte_t)hmmsim_devpt_slot(addr) << PAGE_SHIFT)) |
		       HMMSIM_PTE_HUGE;
	return ((hmmsim_pte_t *)entry)[hmmsim_devpt_slot(addr)];
}

static bool hmmsim_devpt_table_empty(const hmmsim_pte_t *table)
{
	return !memchr_inv(table, 0, PAGE_SIZE);
}

/**
 * hmmsim_devpt_clear() - unmap [start, end)
 * @pt: the table.
 * @start: first address.
 * @end: end address (exclusive); may be far beyond anything mapped.
 *
 * Cost is proportional to the blocks actually present. Empty tables are
 * freed.
 */
void hmmsim_devpt_clear(struct hmmsim_devpt *pt, unsigned long start,
			unsigned long end)
{
	unsigned long index;
	void *entry;

	lockdep_assert_held(pt->lock);
	if (end <= start)
		return;
	xa_for_each_range(&pt->blocks, index, entry, hmmsim_devpt_index(start),
			  hmmsim_devpt_index(end - 1)) {
		unsigned long bstart = max(start, hmmsim_devpt_block(index));
		unsigned long bend = min(end, hmmsim_devpt_block(index + 1));
		hmmsim_pte_t *table = entry;

		if (!xa_is_value(entry) &&
		    (bstart != hmmsim_devpt_block(index) ||
		     bend != hmmsim_devpt_block(index + 1))) {
			memset(&table[hmmsim_devpt_slot(bstart)], 0,
			       ((bend - bstart) >> PAGE_SHIFT) * sizeof(*table));
			if (!hmmsim_devpt_table_empty(table))
				continue;
		}
		xa_erase(&pt->blocks, index);
		hmmsim_devpt_free_entry(entry);
	}
}

/**
 * hmmsim_devpt_clear_page() - unmap one page
 * @pt: the table.
 * @addr: page-aligned virtual address.
 */
void hmmsim_devpt_clear_page(struct hmmsim_devpt *pt, unsigned long addr)
{
	hmmsim_devpt_clear(pt, addr, addr + PAGE_SIZE);
}

/**
 * hmmsim_devpt_any_exclusive() - whether a page in [start, end) is mapped
 *	for exclusive (atomic) access
 * @pt: the table.
 * @start: first address.
 * @end: end address (exclusive).
 *
 * Return: true if any entry in the range has %HMMSIM_PTE_EXCLUSIVE.
 */
bool hmmsim_devpt_any_exclusive(struct hmmsim_devpt *pt, unsigned long start,
				unsigned long end)
{
	unsigned long index;
	void *entry;

	lockdep_assert_held(pt->lock);
	xa_for_each_range(&pt->blocks, index, entry, hmmsim_devpt_index(start),
			  hmmsim_devpt_index(end - 1)) {
		unsigned long a = max(start, hmmsim_devpt_block(index));
		unsigned long bend = min(end, hmmsim_devpt_block(index + 1));
		const hmmsim_pte_t *table = entry;

		if (xa_is_value(entry))
			continue;
		for (; a < bend; a += PAGE_SIZE)
			if (table[hmmsim_devpt_slot(a)] & HMMSIM_PTE_EXCLUSIVE)
				return true;
	}
	return false;
}

/**
 * hmmsim_devpt_next_mapped() - where the next mapped block starts
 * @pt: the table.
 * @addr: address to start from.
 * @end: end address (exclusive).
 *
 * Return: the larger of @addr and the start of the first 2 MiB block at or
 * after @addr with anything mapped, or @end if there is none before it.
 */
unsigned long hmmsim_devpt_next_mapped(struct hmmsim_devpt *pt,
				       unsigned long addr, unsigned long end)
{
	unsigned long index = hmmsim_devpt_index(addr);

	lockdep_assert_held(pt->lock);
	if (!xa_find(&pt->blocks, &index, hmmsim_devpt_index(end - 1), XA_PRESENT))
		return end;
	return max(addr, hmmsim_devpt_block(index));
}
