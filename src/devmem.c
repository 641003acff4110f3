// SPDX-License-Identifier: GPL-2.0
/**
 * DOC: Device memory
 *
 * Private memory: a free range of the physical address space, claimed with
 * request_free_mem_region() and given struct pages with memremap_pages()
 * as MEMORY_DEVICE_PRIVATE. The CPU cannot address those pages; their data
 * lives in the simulated on-board memory, the store: one buffer of
 * HMMSIM_CHUNK_SIZE bytes per 2 MiB chunk of device memory, allocated the
 * first time a page of the chunk is handed out. The store is bounded by the
 * device's capacity, like real device memory.
 *
 * Coherent memory: a physical range that is RAM but not System RAM (in the
 * test VM, a memmap=SIZE$ADDR reservation), claimed here so that two devices,
 * or hmmsim and another driver, can never share it, and given struct pages
 * with memremap_pages() as MEMORY_DEVICE_COHERENT. The CPU maps and accesses
 * those pages in place: they hold their own data, and need no store.
 *
 * Device memory is handed out from 2 MiB chunks (struct hmmsim_chunk), each
 * with a bitmap of the pages in use, under a spinlock, since the pagemap's
 * free callback can run wherever the last reference to a folio is dropped.
 * On kernels that migrate THPs whole, a THP moving to private memory (and
 * to coherent memory, with coherent_thp) gets a 2 MiB device folio: an
 * empty chunk, taken whole. Single pages come from partly used chunks
 * first, so that empty chunks stay whole for folios. When the kernel splits
 * a device folio (a partial munmap, say), the pieces are freed one by one,
 * which the bitmap takes as it comes: nothing else about a page lives in
 * its struct page. Pages with a memory error are marked here, and
 * retired (DOC: Device memory errors, in poison.c).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/ioport.h>
#include <linux/memremap.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/pagemap.h>
#include <linux/slab.h>

#include "hmmsim_drv.h"
#include "trace.h"

/*
 * Coherent devices hand out 4 KiB pages unless asked: the kernel (7.2)
 * queues a partly unmapped coherent folio for deferred split, as it would
 * a system one, but frees it without taking it off that queue, so the
 * chunk's next folio corrupts the list ("Device THP" in
 * Documentation/hmmsim.rst).
 */
static bool device_thp = true;
module_param(device_thp, bool, 0444);
MODULE_PARM_DESC(device_thp, "Move THPs to private device memory as 2 MiB folios, where the kernel can (default: Y)");

static bool coherent_thp;
module_param(coherent_thp, bool, 0444);
MODULE_PARM_DESC(coherent_thp, "Also to coherent device memory; a partial munmap of one then corrupts the kernel's deferred split list (for mm work on that; default: N)");

static void hmmsim_devmem_folio_free(struct page *page, unsigned long nr);
HMMSIM_DEFINE_PAGEMAP_FREE(hmmsim_devmem_free_op, hmmsim_devmem_folio_free)

static void __maybe_unused hmmsim_devmem_folio_split(struct folio *head,
						     struct folio *tail);

static const struct dev_pagemap_ops hmmsim_private_ops = {
	.HMMSIM_PAGEMAP_FREE_OP	= hmmsim_devmem_free_op,
	.migrate_to_ram	= hmmsim_migrate_cpu_fault,
	.memory_failure	= hmmsim_poison_memory_failure,
	HMMSIM_PAGEMAP_SPLIT_OP(hmmsim_devmem_folio_split)
};

/*
 * Coherent pages are CPU-addressable: the CPU never faults them back, and
 * the kernel splits a coherent folio as it splits any other.
 */
static const struct dev_pagemap_ops hmmsim_coherent_ops = {
	.HMMSIM_PAGEMAP_FREE_OP	= hmmsim_devmem_free_op,
	.memory_failure	= hmmsim_poison_memory_failure,
};

/**
 * hmmsim_is_device_page() - whether a page is hmmsim device memory
 * @page: any page.
 *
 * Return: true for pages of any hmmsim device.
 */
bool hmmsim_is_device_page(const struct page *page)
{
	return is_zone_device_page(page) &&
	       (hmmsim_page_pgmap(page)->ops == &hmmsim_private_ops ||
		hmmsim_page_pgmap(page)->ops == &hmmsim_coherent_ops);
}

/**
 * hmmsim_page_device() - the device a device page belongs to
 * @page: a page for which hmmsim_is_device_page() is true.
 *
 * Return: the device.
 */
struct hmmsim_device *hmmsim_page_device(const struct page *page)
{
	return container_of(hmmsim_page_pgmap(page), struct hmmsim_device,
			    mem.pagemap);
}

/**
 * hmmsim_is_own_page() - whether a page is in a given device's memory
 * @page: a page, or NULL.
 * @hdev: the device.
 *
 * Return: true if @page is one of @hdev's device pages.
 */
bool hmmsim_is_own_page(const struct page *page, struct hmmsim_device *hdev)
{
	return page && hmmsim_is_device_page(page) &&
	       hmmsim_page_device(page) == hdev;
}

static unsigned long hmmsim_devmem_index(struct hmmsim_devmem *mem,
					 const struct page *page)
{
	return page_to_pfn(page) - mem->pfn_first;
}

/**
 * hmmsim_devmem_page_addr() - where a private device page's data lives
 * @page: a device page of a device with private memory.
 *
 * Return: the kernel address of the page's bytes in the store.
 */
void *hmmsim_devmem_page_addr(struct page *page)
{
	struct hmmsim_devmem *mem = &hmmsim_page_device(page)->mem;
	unsigned long idx = hmmsim_devmem_index(mem, page);

	return mem->store[idx / HMMSIM_CHUNK_PAGES] +
	       (idx % HMMSIM_CHUNK_PAGES) * PAGE_SIZE;
}

static int hmmsim_devmem_store_chunk(struct hmmsim_devmem *mem,
				     unsigned long chunk)
{
	void *buf;

	if (READ_ONCE(mem->store[chunk]))
		return 0;
	mutex_lock(&mem->store_lock);
	if (!mem->store[chunk]) {
		buf = kvmalloc(HMMSIM_CHUNK_SIZE, GFP_KERNEL | __GFP_NOWARN);
		if (buf)
			WRITE_ONCE(mem->store[chunk], buf);
	}
	mutex_unlock(&mem->store_lock);
	return mem->store[chunk] ? 0 : -ENOMEM;
}

static struct hmmsim_chunk *hmmsim_devmem_chunk(struct hmmsim_devmem *mem,
						unsigned long idx)
{
	return &mem->chunks[idx / HMMSIM_CHUNK_PAGES];
}

static struct page *hmmsim_devmem_page(struct hmmsim_devmem *mem,
				       struct hmmsim_chunk *chunk,
				       unsigned long bit)
{
	return pfn_to_page(mem->pfn_first +
			   (chunk - mem->chunks) * HMMSIM_CHUNK_PAGES + bit);
}

/* A chunk got free or retired pages: the lists it belongs on now. */
static void hmmsim_devmem_relist(struct hmmsim_devmem *mem,
				 struct hmmsim_chunk *chunk)
{
	lockdep_assert_held(&mem->alloc_lock);
	if (chunk->used == chunk->retired)
		list_del_init(&chunk->lru);	/* nothing to evict */
	if (!chunk->used)
		list_move(&chunk->free_link, &mem->empty);
	else if (chunk->used < HMMSIM_CHUNK_PAGES)
		list_move(&chunk->free_link, &mem->partial);
	else
		list_del_init(&chunk->free_link);
}

/*
 * Give back the @nr pages from @idx on, all in one chunk; those with a
 * memory error are retired instead.
 */
static void hmmsim_devmem_push(struct hmmsim_devmem *mem, unsigned long idx,
			       unsigned long nr)
{
	struct hmmsim_chunk *chunk = hmmsim_devmem_chunk(mem, idx);
	unsigned long i, bit = idx % HMMSIM_CHUNK_PAGES, retired = 0;

	spin_lock(&mem->alloc_lock);
	bitmap_clear(chunk->map, bit, nr);
	for (i = 0; i < nr; i++) {
		if (test_bit(idx + i, mem->poison)) {
			__set_bit(bit + i, chunk->map);
			retired++;
		}
	}
	chunk->used -= nr - retired;
	chunk->retired += retired;
	mem->nr_free += nr - retired;
	mem->nr_retired += retired;
	hmmsim_devmem_relist(mem, chunk);
	spin_unlock(&mem->alloc_lock);
}

/* A chunk was given pages: it is the most recently used. */
static void hmmsim_devmem_used(struct hmmsim_devmem *mem,
			       struct hmmsim_chunk *chunk, unsigned int nr)
{
	chunk->used += nr;
	mem->nr_free -= nr;
	if (chunk->used == HMMSIM_CHUNK_PAGES)
		list_del_init(&chunk->free_link);
	else
		list_move(&chunk->free_link, &mem->partial);
	list_move_tail(&chunk->lru, &mem->lru);
}

/* Take one free page: from a partly used chunk if there is one. */
static struct page *hmmsim_devmem_take(struct hmmsim_devmem *mem)
{
	struct hmmsim_chunk *chunk;
	unsigned long bit;

	lockdep_assert_held(&mem->alloc_lock);
	chunk = list_first_entry_or_null(&mem->partial, struct hmmsim_chunk,
					 free_link);
	if (!chunk)
		chunk = list_first_entry_or_null(&mem->empty,
						 struct hmmsim_chunk, free_link);
	if (!chunk)
		return NULL;
	bit = find_first_zero_bit(chunk->map, HMMSIM_CHUNK_PAGES);
	__set_bit(bit, chunk->map);
	hmmsim_devmem_used(mem, chunk, 1);
	return hmmsim_devmem_page(mem, chunk, bit);
}

/* Take an empty chunk whole, for a 2 MiB folio. */
static struct page *hmmsim_devmem_take_chunk(struct hmmsim_devmem *mem)
{
	struct hmmsim_chunk *chunk;

	lockdep_assert_held(&mem->alloc_lock);
	chunk = list_first_entry_or_null(&mem->empty, struct hmmsim_chunk,
					 free_link);
	if (!chunk)
		return NULL;
	bitmap_fill(chunk->map, HMMSIM_CHUNK_PAGES);
	hmmsim_devmem_used(mem, chunk, HMMSIM_CHUNK_PAGES);
	return hmmsim_devmem_page(mem, chunk, 0);
}

/**
 * hmmsim_devmem_touch() - the device used a page: its chunk is now the most
 *	recently used
 * @page: a device page in use.
 * @last: the chunk touched last by the caller, updated; touching it again
 *	right away changes nothing, so it is skipped.
 */
void hmmsim_devmem_touch(struct page *page, struct hmmsim_chunk **last)
{
	struct hmmsim_devmem *mem = &hmmsim_page_device(page)->mem;
	struct hmmsim_chunk *chunk =
		&mem->chunks[hmmsim_devmem_index(mem, page) / HMMSIM_CHUNK_PAGES];

	if (chunk == *last)
		return;
	*last = chunk;
	spin_lock(&mem->alloc_lock);
	if (!list_empty(&chunk->lru))
		list_move_tail(&chunk->lru, &mem->lru);
	spin_unlock(&mem->alloc_lock);
}

/**
 * hmmsim_devmem_lru_pick() - choose the chunk to evict
 * @hdev: the device.
 *
 * The least recently used chunk with pages in use, which moves to the tail
 * of the list so that concurrent evictions pick different chunks.
 *
 * Return: the chunk's index, or -1 if no page is in use.
 */
long hmmsim_devmem_lru_pick(struct hmmsim_device *hdev)
{
	struct hmmsim_devmem *mem = &hdev->mem;
	struct hmmsim_chunk *chunk;
	long idx = -1;

	spin_lock(&mem->alloc_lock);
	chunk = list_first_entry_or_null(&mem->lru, struct hmmsim_chunk, lru);
	if (chunk) {
		list_move_tail(&chunk->lru, &mem->lru);
		idx = chunk - mem->chunks;
	}
	spin_unlock(&mem->alloc_lock);
	return idx;
}

/* The pages from @idx on were allocated for @owner: record it, back them. */
static int hmmsim_devmem_give(struct hmmsim_devmem *mem, unsigned long idx,
			      unsigned long nr, struct hmmsim_owner *owner)
{
	unsigned long i;

	if (mem->store &&
	    hmmsim_devmem_store_chunk(mem, idx / HMMSIM_CHUNK_PAGES))
		return -ENOMEM;
	atomic_long_add(nr, &owner->nr_pages);
	for (i = 0; i < nr; i++) {
		WRITE_ONCE(mem->addrs[idx + i], 0);
		WRITE_ONCE(mem->owners[idx + i], owner);
	}
	return 0;
}

/**
 * hmmsim_devmem_alloc() - allocate device pages
 * @hdev: the device.
 * @owner: what the pages are allocated for (see hmmsim_devmem_owner()).
 * @pages: filled with the pages, each with one reference, locked, as
 *	migrate_vma_pages() wants its destination pages.
 * @nr: number of pages wanted.
 *
 * Only takes free pages: a full device gives fewer than @nr, and the
 * caller may evict (hmmsim_evict_alloc()) and ask again.
 *
 * Return: the number of pages allocated, fewer than @nr when the device
 * has no more free pages or the store could not grow.
 */
unsigned int hmmsim_devmem_alloc(struct hmmsim_device *hdev,
				 struct hmmsim_owner *owner,
				 struct page **pages, unsigned int nr)
{
	struct hmmsim_devmem *mem = &hdev->mem;
	unsigned int n, i, allocated;

	spin_lock(&mem->alloc_lock);
	for (n = 0; n < nr; n++) {
		pages[n] = hmmsim_devmem_take(mem);
		if (!pages[n])
			break;
	}
	spin_unlock(&mem->alloc_lock);

	for (i = 0; i < n; i++) {
		if (hmmsim_devmem_give(mem, hmmsim_devmem_index(mem, pages[i]),
				       1, owner))
			break;
		hmmsim_zone_device_page_init(pages[i]);
	}
	/* Give back what the store could not back. */
	for (allocated = i; i < n; i++)
		hmmsim_devmem_push(mem, hmmsim_devmem_index(mem, pages[i]), 1);
	return allocated;
}

/**
 * hmmsim_devmem_alloc_thp() - allocate a 2 MiB device folio
 * @hdev: the device, which hands out folios (hmmsim_devmem_has_thp()).
 * @owner: what the folio is allocated for, as for hmmsim_devmem_alloc().
 *
 * Takes an empty chunk whole; the caller may evict and ask again.
 *
 * Return: the folio's head page, with one reference, locked, or NULL when
 * no chunk is empty or the store could not grow.
 */
struct page *hmmsim_devmem_alloc_thp(struct hmmsim_device *hdev,
				     struct hmmsim_owner *owner)
{
	struct hmmsim_devmem *mem = &hdev->mem;
	struct page *page;
	unsigned long idx;

	if (!mem->thp)
		return NULL;
	spin_lock(&mem->alloc_lock);
	page = hmmsim_devmem_take_chunk(mem);
	spin_unlock(&mem->alloc_lock);
	if (!page)
		return NULL;
	idx = hmmsim_devmem_index(mem, page);
	if (hmmsim_devmem_give(mem, idx, HMMSIM_CHUNK_PAGES, owner)) {
		hmmsim_devmem_push(mem, idx, HMMSIM_CHUNK_PAGES);
		return NULL;
	}
	hmmsim_zone_device_folio_init(page, HMMSIM_CHUNK_ORDER);
	return page;
}

/**
 * hmmsim_devmem_free_unused() - free a page or folio from
 *	hmmsim_devmem_alloc() or hmmsim_devmem_alloc_thp() that was never
 *	handed to migrate_vma_pages()
 * @page: the page, or the folio's head, locked, with its one reference.
 */
void hmmsim_devmem_free_unused(struct page *page)
{
	unlock_page(page);
	put_page(page);
}

/* The pagemap's free callback: a folio of @nr pages from @page is free. */
static void hmmsim_devmem_folio_free(struct page *page, unsigned long nr)
{
	struct hmmsim_devmem *mem = &hmmsim_page_device(page)->mem;
	unsigned long i, idx = hmmsim_devmem_index(mem, page);

	/*
	 * The kernel mlocks a device folio that it maps into a VM_LOCKED VMA,
	 * but munlock() passes device folios over, and their free does not do
	 * what __free_pages_prepare() does for other pages: undo it here.
	 */
	if (folio_test_clear_mlocked(page_folio(page)))
		zone_stat_mod_folio(page_folio(page), NR_MLOCK, -(long)nr);

	/* Once it owns no page, the owner may go (hmmsim_evict_owner_close()). */
	for (i = 0; i < nr; i++) {
		struct hmmsim_owner *owner = xchg(&mem->owners[idx + i], NULL);

		if (!WARN_ON_ONCE(!owner))
			atomic_long_dec(&owner->nr_pages);
	}
	hmmsim_devmem_push(mem, idx, nr);
}

/*
 * The pagemap's split callback, on kernels with device folios: the kernel
 * splits a private device folio into @tail pieces, called once per piece
 * and once with a NULL @tail at the end. The pieces need what the kernel
 * would give them without a callback; owners and the use bitmap are per
 * page already, and the pieces are freed one by one.
 */
static void hmmsim_devmem_folio_split(struct folio *head, struct folio *tail)
{
	if (!tail) {
		struct hmmsim_device *hdev = hmmsim_page_device(&head->page);

		hmmsim_count(hdev, HMMSIM_STAT_THP_SPLITS, 1);
		trace_hmmsim_thp(hdev->id, HMMSIM_THP_SPLIT, folio_pfn(head));
		return;
	}
	hmmsim_folio_split_inherit(tail, head);
}

/**
 * hmmsim_devmem_nr_used() - number of device pages in use
 * @hdev: the device.
 *
 * Return: pages allocated and not yet freed.
 */
unsigned long hmmsim_devmem_nr_used(struct hmmsim_device *hdev)
{
	struct hmmsim_devmem *mem = &hdev->mem;
	unsigned long used;

	spin_lock(&mem->alloc_lock);
	used = mem->npages - mem->nr_free - mem->nr_retired;
	spin_unlock(&mem->alloc_lock);
	return used;
}

/**
 * hmmsim_devmem_nr_retired() - number of device pages retired for good
 * @hdev: the device.
 *
 * Return: pages with a memory error that were free or have been freed
 * since (DOC: Device memory errors).
 */
unsigned long hmmsim_devmem_nr_retired(struct hmmsim_device *hdev)
{
	return READ_ONCE(hdev->mem.nr_retired);
}

/**
 * hmmsim_devmem_poisoned() - how many device pages have a memory error
 * @page: any page, or NULL.
 * @nr: the number of pages from @page on to look at, in one folio.
 *
 * Return: 0 if @page is not an hmmsim device page, else how many of the
 * @nr pages from it are poisoned.
 */
unsigned long hmmsim_devmem_poisoned(struct page *page, unsigned long nr)
{
	struct hmmsim_devmem *mem;
	unsigned long idx, end, n = 0;

	if (!page || !hmmsim_is_device_page(page))
		return 0;
	mem = &hmmsim_page_device(page)->mem;
	idx = hmmsim_devmem_index(mem, page);
	end = idx + nr;
	for (idx = find_next_bit(mem->poison, end, idx); idx < end;
	     idx = find_next_bit(mem->poison, end, idx + 1))
		n++;
	return n;
}

/**
 * hmmsim_devmem_error_event() - trace what became of a poisoned page
 * @page: a device page with a memory error (hmmsim_devmem_poisoned()).
 * @event: what became of it.
 */
void hmmsim_devmem_error_event(struct page *page,
			       enum hmmsim_memory_error_event event)
{
	struct hmmsim_device *hdev = hmmsim_page_device(page);

	trace_hmmsim_memory_error(hdev->id, event,
				  hmmsim_devmem_index(&hdev->mem, page));
}

/* Retire the free page @idx, which just got a memory error. */
static void hmmsim_devmem_retire_free(struct hmmsim_devmem *mem,
				      unsigned long idx)
{
	struct hmmsim_chunk *chunk = hmmsim_devmem_chunk(mem, idx);

	lockdep_assert_held(&mem->alloc_lock);
	__set_bit(idx % HMMSIM_CHUNK_PAGES, chunk->map);
	chunk->used++;
	chunk->retired++;
	mem->nr_free--;
	mem->nr_retired++;
	hmmsim_devmem_relist(mem, chunk);
}

/**
 * hmmsim_devmem_poison() - a device page has a memory error
 * @hdev: the device.
 * @idx: the page's index in the device's memory, below its number of pages.
 *
 * Marks the page (hmmsim_devmem_poisoned()), and retires it if it is free;
 * a page in use is retired when it is freed.
 *
 * Return: whether the page is in use.
 */
bool hmmsim_devmem_poison(struct hmmsim_device *hdev, unsigned long idx)
{
	struct hmmsim_devmem *mem = &hdev->mem;
	struct hmmsim_chunk *chunk = hmmsim_devmem_chunk(mem, idx);
	bool in_use;

	spin_lock(&mem->alloc_lock);
	set_bit(idx, mem->poison);
	in_use = test_bit(idx % HMMSIM_CHUNK_PAGES, chunk->map);
	if (!in_use)
		hmmsim_devmem_retire_free(mem, idx);
	spin_unlock(&mem->alloc_lock);
	return in_use;
}

/**
 * hmmsim_devmem_owner() - what a device page was allocated for
 * @hdev: the device.
 * @idx: index of the page in the device's memory.
 *
 * Read without locking: a page may change hands right after, and the
 * caller must cope (eviction checks the owner is still there, and moves
 * pages by address, only those it finds mapped).
 *
 * Return: the owner given to hmmsim_devmem_alloc(), or NULL for a free
 * page.
 */
struct hmmsim_owner *hmmsim_devmem_owner(struct hmmsim_device *hdev,
					 unsigned long idx)
{
	return READ_ONCE(hdev->mem.owners[idx]);
}

/**
 * hmmsim_devmem_addr() - where a device page is mapped, in its owner
 * @hdev: the device.
 * @idx: index of the page in the device's memory.
 *
 * Read without locking, as hmmsim_devmem_owner(). The address is the one
 * the page was migrated to; the owner may have unmapped or moved it since.
 *
 * Return: the address, or 0 if not known.
 */
unsigned long hmmsim_devmem_addr(struct hmmsim_device *hdev, unsigned long idx)
{
	return READ_ONCE(hdev->mem.addrs[idx]);
}

/**
 * hmmsim_devmem_set_addr() - record where migrated device pages are mapped
 * @page: the first device page, just given to migrate_vma_pages().
 * @nr: the number of pages from @page on.
 * @addr: the address of @page in its owner's address space.
 */
void hmmsim_devmem_set_addr(struct page *page, unsigned long nr,
			    unsigned long addr)
{
	struct hmmsim_devmem *mem = &hmmsim_page_device(page)->mem;
	unsigned long i, idx = hmmsim_devmem_index(mem, page);

	for (i = 0; i < nr; i++)
		WRITE_ONCE(mem->addrs[idx + i], addr + (i << PAGE_SHIFT));
}

/**
 * hmmsim_devmem_has_thp() - whether a device hands out 2 MiB folios
 * @hdev: the device.
 *
 * Return: true where the kernel migrates THPs to device memory whole.
 */
bool hmmsim_devmem_has_thp(const struct hmmsim_device *hdev)
{
	return hdev->mem.thp;
}

/* Sum the reserved memory found in a range, for walk_iomem_res_desc(). */
static int hmmsim_devmem_add_reserved(struct resource *res, void *arg)
{
	*(u64 *)arg += resource_size(res);
	return 0;
}

static int hmmsim_devmem_claim_coherent(struct hmmsim_device *hdev)
{
	phys_addr_t start = hdev->cfg.phys_base;
	u64 size = hdev->cfg.capacity, reserved = 0;
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

	/*
	 * It must be memory, not a hole or a device's registers: memory the
	 * firmware, or memmap=SIZE$ADDR, marked reserved.
	 */
	walk_iomem_res_desc(IORES_DESC_RESERVED, IORESOURCE_MEM, start,
			    start + size - 1, &reserved, hmmsim_devmem_add_reserved);
	if (reserved < size) {
		pr_err("%s: coherent range %pa+%#llx is not all reserved memory; reserve it with memmap=SIZE$ADDR\n",
		       dev_name(&hdev->dev), &start, size);
		return -EINVAL;
	}

	hdev->mem.res = request_mem_region(start, size, dev_name(&hdev->dev));
	if (!hdev->mem.res) {
		pr_err("%s: coherent range %pa+%#llx is busy (claimed by another device or driver)\n",
		       dev_name(&hdev->dev), &start, size);
		return -EBUSY;
	}
	return 0;
}

/* Every chunk empty, low ones handed out first; the owners; the LRU. */
static int hmmsim_devmem_init_free(struct hmmsim_devmem *mem)
{
	unsigned long i, nr_chunks = mem->npages / HMMSIM_CHUNK_PAGES;

	mem->owners = kvcalloc(mem->npages, sizeof(*mem->owners), GFP_KERNEL);
	mem->addrs = kvcalloc(mem->npages, sizeof(*mem->addrs), GFP_KERNEL);
	mem->poison = bitmap_zalloc(mem->npages, GFP_KERNEL);
	mem->chunks = kvcalloc(nr_chunks, sizeof(*mem->chunks), GFP_KERNEL);
	if (!mem->owners || !mem->addrs || !mem->poison || !mem->chunks)
		return -ENOMEM;
	mem->nr_free = mem->npages;
	INIT_LIST_HEAD(&mem->empty);
	INIT_LIST_HEAD(&mem->partial);
	INIT_LIST_HEAD(&mem->lru);
	for (i = 0; i < nr_chunks; i++) {
		INIT_LIST_HEAD(&mem->chunks[i].lru);
		list_add_tail(&mem->chunks[i].free_link, &mem->empty);
	}
	return 0;
}

static int hmmsim_devmem_remap(struct hmmsim_device *hdev,
			       enum memory_type type,
			       const struct dev_pagemap_ops *ops)
{
	struct hmmsim_devmem *mem = &hdev->mem;
	void *addr;

	mem->pagemap.type = type;
	mem->pagemap.range.start = mem->res->start;
	mem->pagemap.range.end = mem->res->end;
	mem->pagemap.nr_range = 1;
	mem->pagemap.ops = ops;
	mem->pagemap.owner = hdev;
	addr = memremap_pages(&mem->pagemap, numa_node_id());
	if (IS_ERR(addr)) {
		pr_err("%s: memremap_pages failed: %ld\n",
		       dev_name(&hdev->dev), PTR_ERR(addr));
		return PTR_ERR(addr);
	}
	mem->pagemap_live = true;
	mem->pfn_first = mem->res->start >> PAGE_SHIFT;
	/* A folio takes a chunk, which must then be a naturally aligned one. */
	mem->thp = (type == MEMORY_DEVICE_PRIVATE ? device_thp : coherent_thp) &&
		   hmmsim_thp_migration() &&
		   IS_ALIGNED(mem->pfn_first, HMMSIM_CHUNK_PAGES);
	return 0;
}

static int hmmsim_devmem_init_coherent(struct hmmsim_device *hdev)
{
	struct hmmsim_devmem *mem = &hdev->mem;
	int ret;

	ret = hmmsim_devmem_claim_coherent(hdev);
	if (ret)
		return ret;
	mem->npages = hdev->cfg.capacity >> PAGE_SHIFT;
	ret = hmmsim_devmem_init_free(mem);
	if (ret)
		return ret;
	return hmmsim_devmem_remap(hdev, MEMORY_DEVICE_COHERENT,
				   &hmmsim_coherent_ops);
}

static int hmmsim_devmem_init_private(struct hmmsim_device *hdev)
{
	struct hmmsim_devmem *mem = &hdev->mem;
	struct resource *res;
	int ret;

	mem->npages = hdev->cfg.capacity >> PAGE_SHIFT;
	mem->store = kvcalloc(mem->npages / HMMSIM_CHUNK_PAGES,
			      sizeof(*mem->store), GFP_KERNEL);
	if (!mem->store)
		return -ENOMEM;
	ret = hmmsim_devmem_init_free(mem);
	if (ret)
		return ret;

	res = request_free_mem_region(&iomem_resource, hdev->cfg.capacity,
				      dev_name(&hdev->dev));
	if (IS_ERR(res)) {
		pr_err("%s: no free physical range for %llu MiB of device memory\n",
		       dev_name(&hdev->dev), hdev->cfg.capacity >> 20);
		return PTR_ERR(res);
	}
	mem->res = res;
	return hmmsim_devmem_remap(hdev, MEMORY_DEVICE_PRIVATE,
				   &hmmsim_private_ops);
}

/**
 * hmmsim_devmem_init() - set up the memory of a new device
 * @hdev: the device, with its configuration and name set.
 *
 * On failure the caller still calls hmmsim_devmem_fini().
 *
 * Return: 0, or a negative errno with the reason logged.
 */
int hmmsim_devmem_init(struct hmmsim_device *hdev)
{
	struct hmmsim_devmem *mem = &hdev->mem;

	mutex_init(&mem->store_lock);
	spin_lock_init(&mem->alloc_lock);
	if (hdev->cfg.type == HMMSIM_MEM_COHERENT)
		return hmmsim_devmem_init_coherent(hdev);
	return hmmsim_devmem_init_private(hdev);
}

/**
 * hmmsim_devmem_fini() - release what hmmsim_devmem_init() set up
 * @hdev: the device; no file can reach it any more, and no page is in use
 *	(hmmsim_evict_all()): memunmap_pages() waits for the last one.
 */
void hmmsim_devmem_fini(struct hmmsim_device *hdev)
{
	struct hmmsim_devmem *mem = &hdev->mem;
	unsigned long i;

	if (mem->pagemap_live) {
		memunmap_pages(&mem->pagemap);
		mem->pagemap_live = false;
	}
	if (mem->res) {
		release_mem_region(mem->res->start, resource_size(mem->res));
		mem->res = NULL;
	}
	if (mem->store) {
		for (i = 0; i < mem->npages / HMMSIM_CHUNK_PAGES; i++)
			kvfree(mem->store[i]);
		kvfree(mem->store);
		mem->store = NULL;
	}
	kvfree(mem->owners);
	mem->owners = NULL;
	kvfree(mem->addrs);
	mem->addrs = NULL;
	bitmap_free(mem->poison);
	mem->poison = NULL;
	kvfree(mem->chunks);
	mem->chunks = NULL;
}
