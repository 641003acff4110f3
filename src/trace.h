/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hmmsim: tracepoints, in tracefs under events/hmmsim/.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM hmmsim

#if !defined(_HMMSIM_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _HMMSIM_TRACE_H

#include <linux/tracepoint.h>

#include "hmmsim_drv.h"

/* Where a migration goes, for hmmsim_migrate. */
TRACE_DEFINE_ENUM(HMMSIM_TO_DEVICE);
TRACE_DEFINE_ENUM(HMMSIM_TO_SYSTEM);
TRACE_DEFINE_ENUM(HMMSIM_DEVICE_TO_DEVICE);
TRACE_DEFINE_ENUM(HMMSIM_CPU_FAULT);

/**
 * hmmsim_migrate - a window of pages moved
 * @dev: the device receiving or giving the pages.
 * @kind: to_device, to_system, device_to_device or cpu_fault.
 * @start: first address of the window.
 * @end: end of the window.
 * @moved: pages actually moved.
 * @thps: of which 2 MiB folios moved whole.
 */
TRACE_EVENT(hmmsim_migrate,
	    TP_PROTO(unsigned int dev, unsigned int kind, unsigned long start,
		     unsigned long end, unsigned long moved, unsigned long thps),
	    TP_ARGS(dev, kind, start, end, moved, thps),
	    TP_STRUCT__entry(__field(unsigned int, dev)
			     __field(unsigned int, kind)
			     __field(unsigned long, start)
			     __field(unsigned long, end)
			     __field(unsigned long, moved)
			     __field(unsigned long, thps)),
	    TP_fast_assign(__entry->dev = dev;
			   __entry->kind = kind;
			   __entry->start = start;
			   __entry->end = end;
			   __entry->moved = moved;
			   __entry->thps = thps;),
	    TP_printk("dev=%u %s [%#lx, %#lx) moved=%lu thps=%lu", __entry->dev,
		      __print_symbolic(__entry->kind,
				       { HMMSIM_TO_DEVICE, "to_device" },
				       { HMMSIM_TO_SYSTEM, "to_system" },
				       { HMMSIM_DEVICE_TO_DEVICE,
					 "device_to_device" },
				       { HMMSIM_CPU_FAULT, "cpu_fault" }),
		      __entry->start, __entry->end, __entry->moved,
		      __entry->thps)
);

/* What happened to a 2 MiB move or folio, for hmmsim_thp. */
TRACE_DEFINE_ENUM(HMMSIM_THP_FALLBACK_DEVICE);
TRACE_DEFINE_ENUM(HMMSIM_THP_FALLBACK_SYSTEM);
TRACE_DEFINE_ENUM(HMMSIM_THP_SPLIT);

/**
 * hmmsim_thp - a 2 MiB move fell back to single pages, or a folio was split
 * @dev: the device.
 * @event: fallback_device or fallback_system (the destination, the device
 *	or system memory, got no 2 MiB folio), or split (the kernel split a
 *	device folio).
 * @pfn: the (source) folio's first pfn; 0 for an untouched 2 MiB hole.
 */
TRACE_EVENT(hmmsim_thp,
	    TP_PROTO(unsigned int dev, unsigned int event, unsigned long pfn),
	    TP_ARGS(dev, event, pfn),
	    TP_STRUCT__entry(__field(unsigned int, dev)
			     __field(unsigned int, event)
			     __field(unsigned long, pfn)),
	    TP_fast_assign(__entry->dev = dev;
			   __entry->event = event;
			   __entry->pfn = pfn;),
	    TP_printk("dev=%u %s pfn=%#lx", __entry->dev,
		      __print_symbolic(__entry->event,
				       { HMMSIM_THP_FALLBACK_DEVICE,
					 "fallback_device" },
				       { HMMSIM_THP_FALLBACK_SYSTEM,
					 "fallback_system" },
				       { HMMSIM_THP_SPLIT, "split" }),
		      __entry->pfn)
);

TRACE_DEFINE_ENUM(HMMSIM_MEMORY_ERROR_FREE);
TRACE_DEFINE_ENUM(HMMSIM_MEMORY_ERROR_IN_USE);
TRACE_DEFINE_ENUM(HMMSIM_MEMORY_ERROR_SALVAGED);
TRACE_DEFINE_ENUM(HMMSIM_MEMORY_ERROR_REFUSED);

/**
 * hmmsim_memory_error - a device page has a memory error, or what became
 *	of it (DOC: Device memory errors)
 * @dev: the device.
 * @event: free (the page was free, and is retired), in_use (its data is
 *	lost; it is retired when freed), salvaged (it moved to a system page
 *	poisoned with memory_failure()) or refused (the CPU or the device
 *	tried to use its data).
 * @index: the page's index in the device's memory.
 */
TRACE_EVENT(hmmsim_memory_error,
	    TP_PROTO(unsigned int dev, unsigned int event, unsigned long index),
	    TP_ARGS(dev, event, index),
	    TP_STRUCT__entry(__field(unsigned int, dev)
			     __field(unsigned int, event)
			     __field(unsigned long, index)),
	    TP_fast_assign(__entry->dev = dev;
			   __entry->event = event;
			   __entry->index = index;),
	    TP_printk("dev=%u %s index=%lu", __entry->dev,
		      __print_symbolic(__entry->event,
				       { HMMSIM_MEMORY_ERROR_FREE, "free" },
				       { HMMSIM_MEMORY_ERROR_IN_USE, "in_use" },
				       { HMMSIM_MEMORY_ERROR_SALVAGED,
					 "salvaged" },
				       { HMMSIM_MEMORY_ERROR_REFUSED,
					 "refused" }),
		      __entry->index)
);

/**
 * hmmsim_fault - the device faulted a window in with hmm_range_fault()
 * @dev: the device.
 * @start: first address.
 * @end: end address.
 * @write: a write fault.
 */
TRACE_EVENT(hmmsim_fault,
	    TP_PROTO(unsigned int dev, unsigned long start, unsigned long end,
		     bool write),
	    TP_ARGS(dev, start, end, write),
	    TP_STRUCT__entry(__field(unsigned int, dev)
			     __field(unsigned long, start)
			     __field(unsigned long, end)
			     __field(bool, write)),
	    TP_fast_assign(__entry->dev = dev;
			   __entry->start = start;
			   __entry->end = end;
			   __entry->write = write;),
	    TP_printk("dev=%u [%#lx, %#lx) %s", __entry->dev, __entry->start,
		      __entry->end, __entry->write ? "write" : "read")
);

/**
 * hmmsim_invalidate - an mmu notifier invalidation reached a mirror
 * @dev: the device.
 * @start: first address.
 * @end: end address.
 * @event: the enum mmu_notifier_event.
 * @skipped: the device's own migration or exclusive grant, left alone.
 */
TRACE_EVENT(hmmsim_invalidate,
	    TP_PROTO(unsigned int dev, unsigned long start, unsigned long end,
		     unsigned int event, bool skipped),
	    TP_ARGS(dev, start, end, event, skipped),
	    TP_STRUCT__entry(__field(unsigned int, dev)
			     __field(unsigned long, start)
			     __field(unsigned long, end)
			     __field(unsigned int, event)
			     __field(bool, skipped)),
	    TP_fast_assign(__entry->dev = dev;
			   __entry->start = start;
			   __entry->end = end;
			   __entry->event = event;
			   __entry->skipped = skipped;),
	    TP_printk("dev=%u [%#lx, %#lx) event=%u%s", __entry->dev,
		      __entry->start, __entry->end, __entry->event,
		      __entry->skipped ? " skipped" : "")
);

/**
 * hmmsim_evict - device pages evicted to system memory to make room
 * @dev: the device.
 * @index: first device page index of the chunk.
 * @npages: pages in the chunk.
 * @evicted: pages evicted.
 */
TRACE_EVENT(hmmsim_evict,
	    TP_PROTO(unsigned int dev, unsigned long index,
		     unsigned long npages, unsigned long evicted),
	    TP_ARGS(dev, index, npages, evicted),
	    TP_STRUCT__entry(__field(unsigned int, dev)
			     __field(unsigned long, index)
			     __field(unsigned long, npages)
			     __field(unsigned long, evicted)),
	    TP_fast_assign(__entry->dev = dev;
			   __entry->index = index;
			   __entry->npages = npages;
			   __entry->evicted = evicted;),
	    TP_printk("dev=%u pages [%lu, %lu) evicted=%lu", __entry->dev,
		      __entry->index, __entry->index + __entry->npages,
		      __entry->evicted)
);

TRACE_DEFINE_ENUM(HMMSIM_POLICY_FAULT);
TRACE_DEFINE_ENUM(HMMSIM_POLICY_COUNTER);

/**
 * hmmsim_fault_batch - a batch of device faults serviced
 * @dev: the device.
 * @faults: entries of the fault buffer, duplicates included.
 * @pages: faulting pages, once each.
 * @ret: 0, or the error that ended the stream.
 */
TRACE_EVENT(hmmsim_fault_batch,
	    TP_PROTO(unsigned int dev, unsigned int faults, unsigned int pages,
		     int ret),
	    TP_ARGS(dev, faults, pages, ret),
	    TP_STRUCT__entry(__field(unsigned int, dev)
			     __field(unsigned int, faults)
			     __field(unsigned int, pages)
			     __field(int, ret)),
	    TP_fast_assign(__entry->dev = dev;
			   __entry->faults = faults;
			   __entry->pages = pages;
			   __entry->ret = ret;),
	    TP_printk("dev=%u faults=%u pages=%u ret=%d", __entry->dev,
		      __entry->faults, __entry->pages, __entry->ret)
);

/**
 * hmmsim_policy_migrate - the policy moved a block to the device
 * @dev: the device.
 * @start: first address of the block.
 * @npages: pages in the block.
 * @moved: pages that moved (the others were there, or could not move).
 * @why: fault (a device fault, with its prefetch) or counter (an access
 *	counter reached the threshold).
 */
TRACE_EVENT(hmmsim_policy_migrate,
	    TP_PROTO(unsigned int dev, unsigned long start,
		     unsigned long npages, unsigned long moved,
		     unsigned int why),
	    TP_ARGS(dev, start, npages, moved, why),
	    TP_STRUCT__entry(__field(unsigned int, dev)
			     __field(unsigned long, start)
			     __field(unsigned long, npages)
			     __field(unsigned long, moved)
			     __field(unsigned int, why)),
	    TP_fast_assign(__entry->dev = dev;
			   __entry->start = start;
			   __entry->npages = npages;
			   __entry->moved = moved;
			   __entry->why = why;),
	    TP_printk("dev=%u %s start=%#lx npages=%lu moved=%lu",
		      __entry->dev,
		      __print_symbolic(__entry->why,
				       { HMMSIM_POLICY_FAULT, "fault" },
				       { HMMSIM_POLICY_COUNTER, "counter" }),
		      __entry->start, __entry->npages, __entry->moved)
);

/**
 * hmmsim_thrash - a page found thrashing, pinned in system memory
 * @dev: the device.
 * @addr: the page's address.
 * @moves: the moves to the device within the window that made it so.
 */
TRACE_EVENT(hmmsim_thrash,
	    TP_PROTO(unsigned int dev, unsigned long addr, unsigned int moves),
	    TP_ARGS(dev, addr, moves),
	    TP_STRUCT__entry(__field(unsigned int, dev)
			     __field(unsigned long, addr)
			     __field(unsigned int, moves)),
	    TP_fast_assign(__entry->dev = dev;
			   __entry->addr = addr;
			   __entry->moves = moves;),
	    TP_printk("dev=%u addr=%#lx moves=%u", __entry->dev,
		      __entry->addr, __entry->moves)
);

#endif /* _HMMSIM_TRACE_H */

/* This part must be outside the include guard. */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE trace
#include <trace/define_trace.h>
