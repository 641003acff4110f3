// SPDX-License-Identifier: GPL-2.0
/**
 * DOC: io_uring commands
 *
 * A program that drives a device keeps many migrations, prefetches and
 * device accesses in flight without a thread per request: it queues
 * IORING_OP_URING_CMD entries on an hmmsim file and reaps their completions.
 * The commands, their payload and their errors are in uapi/hmmsim.h.
 *
 * A command is checked when it is submitted, in the submitter's context,
 * then runs on a workqueue of this module, window by window (2 MiB, like
 * everything else in hmmsim), through the same command layer (cmd.c) as
 * the ioctls.
 * Each window waits for the copy engine's fence in the worker, never in the
 * submitter; after the last window's fence the completion is posted to the
 * ring from the submitter's task work.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cpumask.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/workqueue.h>

#include "hmmsim_drv.h"

/**
 * DOC: io_uring request lifetime and locking
 *
 * Submission (hmmsim_uring_cmd(), in the submitter's context, which must
 * not block on the device): the ring must have 128-byte SQEs; the
 * submitter's mm must be the file's (``-EPERM`` otherwise, as for the
 * ioctls); the 80-byte payload is copied out of the SQE once and checked;
 * a device-to-device move resolves its ``src_fd`` here, in the submitter's
 * file table, and keeps a reference on that file. The request then takes
 *
 * - an ``mmget()`` reference on the file's mm, so that the address space
 *   and its VMAs outlive the request even if the process exits meanwhile;
 * - a reference on the submitting task, to notice it dying;
 *
 * and goes to the ``hmmsim_uring`` workqueue, counted in the device's
 * ``uring_inflight`` (struct hmmsim_stats). It needs nothing to keep the
 * mirror and the device alive: io_uring holds a reference on the file (or,
 * for a registered file, on the file table node) until the request
 * completes, and the file holds the mirror and, through the cdev, the
 * device.
 *
 * Execution (hmmsim_uring_work(), a kworker): each file is a context, as a
 * GPU's process contexts are: at most one request per online CPU of a file
 * runs at a time, and the others wait their turn in the file's queue
 * (mirror->uring_queue), in order, each taken up by the worker of a
 * request of the same file as it finishes. Requests of different files
 * never wait for each other: one that blocks (on a userfaultfd nobody
 * serves, say) holds its own file's turn, not another process's. For a device
 * read or write the worker adopts the mm (kthread_use_mm(): the user buffer
 * is pinned through current->mm). It runs the range one 2 MiB window at a
 * time. Each window
 * enters the device (hmmsim_device_enter(), ``-ENODEV`` if it was removed),
 * as an ioctl does for its whole duration, and a device-to-device move
 * enters the source device too, as the command layer does for the ioctl;
 * nothing is held between windows, so removing a device waits for one
 * window, not for a whole request. The lock order is the ioctls' (DOC:
 * Locking).
 *
 * Cancellation: between windows the worker stops with ``-ECANCELED`` when
 * the request was canceled or its submitter's process is dying (exiting, or
 * with a fatal signal pending: the worker does not get the submitter's signals,
 * which is what stops an ioctl). On kernels with cancelable commands (6.7
 * on) the request is marked cancelable at submission, and io_uring calls
 * hmmsim_uring_cmd() again with ``IO_URING_F_CANCEL`` when the ring is torn
 * down with the request in flight: that only sets the request's flag, since
 * the worker owns the request until it completes it. Older kernels have no
 * such call; a ring closed by a living process then waits for its requests
 * to finish on their own, one window each at most when the process is being
 * killed.
 *
 * Completion: the worker records the result and the number of pages, leaves
 * ``uring_inflight`` (a release, paired with the acquire of
 * hmmsim_stats_read(): whoever reads the count that no longer has the
 * request also reads the counters of all its windows), drops its references
 * (file, task, mm) and hands the request to the submitter's task work with
 * io_uring_cmd_complete_in_task(); hmmsim_uring_complete()
 * frees the request and posts the CQE with io_uring_cmd_done(), which also
 * takes the command off the ring's cancel list. The cancel call and this
 * task work both run under the ring's lock, so a cancel never finds a
 * freed request.
 * The worker touches nothing after handing the request over, and the
 * workqueue is destroyed at module exit, after every worker has returned.
 */

/* The 80-byte command area of a 128-byte SQE. */
#define HMMSIM_URING_PAYLOAD_SIZE	80

struct hmmsim_uring_payload {
	u8 bytes[HMMSIM_URING_PAYLOAD_SIZE];
};

enum hmmsim_uring_op {
	HMMSIM_URING_OP_TO_DEVICE,
	HMMSIM_URING_OP_TO_SYSTEM,
	HMMSIM_URING_OP_DEV_TO_DEV,
	HMMSIM_URING_OP_PREFETCH,
	HMMSIM_URING_OP_READ,
	HMMSIM_URING_OP_WRITE,
	HMMSIM_URING_OP_ADVISE,
};

/**
 * struct hmmsim_uring_req - one io_uring command in flight
 * @work: the workqueue item that runs it.
 * @ioucmd: the io_uring command; its pdu points back here.
 * @mirror: the file's mirror.
 * @task: the submitting task, referenced.
 * @src_file: for a device-to-device move, the source device's file,
 *	referenced; NULL otherwise.
 * @src: the device behind @src_file.
 * @op: what to do.
 * @cmd: the payload, copied from the SQE and checked.
 * @span: the range of @cmd, and its user buffer.
 * @pages: pages moved, read, written or prefetched so far.
 * @ret: the result: 0 or a negative errno.
 * @canceled: io_uring asked for the request to be canceled.
 * @link: entry in the file's queue while the request waits for a worker.
 */
struct hmmsim_uring_req {
	struct work_struct work;
	struct io_uring_cmd *ioucmd;
	struct hmmsim_mirror *mirror;
	struct task_struct *task;
	struct file *src_file;
	struct hmmsim_device *src;
	enum hmmsim_uring_op op;
	struct hmmsim_uring_cmd cmd;
	struct hmmsim_span span;
	u64 pages;
	int ret;
	bool canceled;
	struct list_head link;
};

static struct workqueue_struct *hmmsim_uring_wq;

/* The request is kept in the command's inline private area. */
static struct hmmsim_uring_req **hmmsim_uring_pdu(struct io_uring_cmd *ioucmd)
{
	BUILD_BUG_ON(sizeof(struct hmmsim_uring_req *) >
		     sizeof_field(struct io_uring_cmd, pdu));
	return (struct hmmsim_uring_req **)ioucmd->pdu;
}

/* cmd_op to operation: matched on type, number and direction, not size. */
static int hmmsim_uring_op(u32 cmd_op)
{
	static const u32 ops[] = {
		[HMMSIM_URING_OP_TO_DEVICE] = HMMSIM_URING_MIGRATE_TO_DEVICE,
		[HMMSIM_URING_OP_TO_SYSTEM] = HMMSIM_URING_MIGRATE_TO_SYSTEM,
		[HMMSIM_URING_OP_DEV_TO_DEV] = HMMSIM_URING_MIGRATE_DEV_TO_DEV,
		[HMMSIM_URING_OP_PREFETCH] = HMMSIM_URING_PREFETCH,
		[HMMSIM_URING_OP_READ] = HMMSIM_URING_READ,
		[HMMSIM_URING_OP_WRITE] = HMMSIM_URING_WRITE,
		[HMMSIM_URING_OP_ADVISE] = HMMSIM_URING_ADVISE,
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(ops); i++)
		if (_IOC_TYPE(cmd_op) == _IOC_TYPE(ops[i]) &&
		    _IOC_NR(cmd_op) == _IOC_NR(ops[i]) &&
		    _IOC_DIR(cmd_op) == _IOC_DIR(ops[i]))
			return i;
	return -EOPNOTSUPP;
}

/*
 * Copy the payload out of the SQE (once: userspace may be rewriting it) and
 * check it, with copy_struct_from_user() semantics on its leading @size.
 */
static int hmmsim_uring_parse(struct hmmsim_uring_req *req,
			      const struct hmmsim_uring_payload *payload)
{
	u8 buf[HMMSIM_URING_PAYLOAD_SIZE];
	struct hmmsim_uring_cmd *c = &req->cmd;
	bool want_ptr, want_fd;
	u64 flags_ok = 0;
	u32 size;
	int ret;

	BUILD_BUG_ON(sizeof(*c) > HMMSIM_URING_PAYLOAD_SIZE);
	BUILD_BUG_ON(sizeof(*c) != HMMSIM_URING_CMD_SIZE_VER0);

	memcpy(buf, payload->bytes, sizeof(buf));
	memcpy(&size, buf, sizeof(size));
	if (size < HMMSIM_URING_CMD_SIZE_VER0 || size > sizeof(buf))
		return -EINVAL;
	if (size > sizeof(*c) &&
	    memchr_inv(buf + sizeof(*c), 0, size - sizeof(*c)))
		return -E2BIG;
	memcpy(c, buf, min_t(size_t, size, sizeof(*c)));

	if (req->op == HMMSIM_URING_OP_PREFETCH)
		flags_ok = HMMSIM_URING_PREFETCH_WRITE;
	else if (req->op == HMMSIM_URING_OP_ADVISE)
		flags_ok = HMMSIM_ADVICE_MASK;
	want_ptr = req->op == HMMSIM_URING_OP_READ ||
		   req->op == HMMSIM_URING_OP_WRITE;
	want_fd = req->op == HMMSIM_URING_OP_DEV_TO_DEV;
	if ((c->flags & ~flags_ok) || c->pad ||
	    memchr_inv(c->reserved, 0, sizeof(c->reserved)) ||
	    (!want_ptr && c->ptr) || (!want_fd && c->src_fd))
		return -EINVAL;

	ret = hmmsim_cmd_span_init(&req->span, c->addr, c->npages, c->ptr);
	if (ret)
		return ret;
	/* The buffer must be user memory: pinning it is left to the worker. */
	if (want_ptr && c->ptr > TASK_SIZE - (c->npages << PAGE_SHIFT))
		return -EFAULT;
	return 0;
}

/*
 * Whether the worker should stop before the next window, and stop waiting
 * for the copy engine's link (struct hmmsim_span's stop callback).
 */
static bool hmmsim_uring_stop(void *arg)
{
	struct hmmsim_uring_req *req = arg;

	/*
	 * The submitter's process, not its thread: with IOSQE_ASYNC the
	 * submitter is an io-wq worker, which exits when idle.
	 */
	return READ_ONCE(req->canceled) ||
	       (READ_ONCE(req->task->signal->flags) & SIGNAL_GROUP_EXIT) ||
	       __fatal_signal_pending(req->task);
}

/* Run one window of the request on its span, inside the device. */
static int hmmsim_uring_run_window(struct hmmsim_uring_req *req,
				   struct hmmsim_span *span)
{
	struct hmmsim_mirror *mirror = req->mirror;

	switch (req->op) {
	case HMMSIM_URING_OP_TO_DEVICE:
	case HMMSIM_URING_OP_DEV_TO_DEV:
		return hmmsim_cmd_migrate_to_device(mirror, req->src, span);
	case HMMSIM_URING_OP_TO_SYSTEM:
		return hmmsim_cmd_migrate_to_system(mirror, span);
	case HMMSIM_URING_OP_PREFETCH:
		return hmmsim_cmd_prefetch(mirror, span, req->cmd.flags &
					   HMMSIM_URING_PREFETCH_WRITE);
	case HMMSIM_URING_OP_READ:
		return hmmsim_cmd_read(mirror, span);
	case HMMSIM_URING_OP_WRITE:
		return hmmsim_cmd_write(mirror, span);
	case HMMSIM_URING_OP_ADVISE:
		break;		/* not by windows: hmmsim_uring_advise() */
	}
	return -EOPNOTSUPP;
}

/* One window [addr, end) of the request; its pages count, also on error. */
static int hmmsim_uring_window(struct hmmsim_uring_req *req,
			       unsigned long addr, unsigned long end)
{
	struct hmmsim_device *hdev = req->mirror->hdev;
	struct hmmsim_span span = {
		.start = addr,
		.end = end,
		.stop = hmmsim_uring_stop,
		.stop_arg = req,
	};
	int ret;

	/* Only a device read or write has a buffer, which moves along. */
	if (req->span.uptr) {
		span.uptr = req->span.uptr + (addr - req->span.start);
		ret = hmmsim_cmd_prepare_user(&span, req->op ==
					      HMMSIM_URING_OP_READ);
		if (ret)
			return ret;
	}
	if (!hmmsim_device_enter(hdev))
		return -ENODEV;
	ret = hmmsim_uring_run_window(req, &span);
	hmmsim_device_leave(hdev);
	req->pages += span.pages;
	return ret;
}

/* Advice is for the whole range at once: it moves nothing. */
static int hmmsim_uring_advise(struct hmmsim_uring_req *req)
{
	struct hmmsim_device *hdev = req->mirror->hdev;
	int ret;

	if (!hmmsim_device_enter(hdev))
		return -ENODEV;
	ret = hmmsim_cmd_advise(req->mirror, &req->span, req->cmd.flags);
	hmmsim_device_leave(hdev);
	return ret;
}

static int hmmsim_uring_run(struct hmmsim_uring_req *req)
{
	unsigned long addr, next;
	int ret;

	if (req->op == HMMSIM_URING_OP_ADVISE)
		return hmmsim_uring_advise(req);

	/* A migration checks its whole range before anything moves. */
	if (req->op == HMMSIM_URING_OP_TO_DEVICE ||
	    req->op == HMMSIM_URING_OP_TO_SYSTEM ||
	    req->op == HMMSIM_URING_OP_DEV_TO_DEV) {
		ret = hmmsim_cmd_check_migrate(req->mirror, &req->span);
		if (ret)
			return ret;
	}

	for (addr = req->span.start; addr < req->span.end; addr = next) {
		next = hmmsim_window_end(addr, req->span.end);
		if (hmmsim_uring_stop(req))
			return -ECANCELED;
		ret = hmmsim_uring_window(req, addr, next);
		if (ret)
			return ret;
		cond_resched();
	}
	return 0;
}

/* Task work of the submitter: post the CQE, then free the request. */
static void hmmsim_uring_complete(struct io_uring_cmd *ioucmd,
				  unsigned int issue_flags)
{
	struct hmmsim_uring_req *req = *hmmsim_uring_pdu(ioucmd);
	u64 pages = req->pages;
	int ret = req->ret;

	/*
	 * Free first: on 6.1 io_uring_cmd_done() drops the ring's reference
	 * on the file, and with it possibly the last hold on the module.
	 */
	kfree(req);
	hmmsim_uring_cmd_done(ioucmd, ret, pages, issue_flags);
}

HMMSIM_DEFINE_URING_TASK_WORK(hmmsim_uring_complete_tw, hmmsim_uring_complete)

/* Requests of one file that run at once: one per CPU, as the engine has. */
static unsigned int hmmsim_uring_per_file(void)
{
	return num_online_cpus();
}

/* Run @req now if its file has a turn free, else queue it behind the others. */
static void hmmsim_uring_start(struct hmmsim_uring_req *req)
{
	struct hmmsim_mirror *mirror = req->mirror;
	bool run;

	spin_lock(&mirror->uring_lock);
	run = mirror->uring_running < hmmsim_uring_per_file();
	if (run)
		mirror->uring_running++;
	else
		list_add_tail(&req->link, &mirror->uring_queue);
	spin_unlock(&mirror->uring_lock);
	if (run)
		queue_work(hmmsim_uring_wq, &req->work);
}

/* A request of @mirror is done running: give its turn to the next one. */
static void hmmsim_uring_next(struct hmmsim_mirror *mirror)
{
	struct hmmsim_uring_req *next;

	spin_lock(&mirror->uring_lock);
	next = list_first_entry_or_null(&mirror->uring_queue,
					struct hmmsim_uring_req, link);
	if (next)
		list_del(&next->link);
	else
		mirror->uring_running--;
	spin_unlock(&mirror->uring_lock);
	if (next)
		queue_work(hmmsim_uring_wq, &next->work);
}

static void hmmsim_uring_work(struct work_struct *work)
{
	struct hmmsim_uring_req *req =
		container_of(work, struct hmmsim_uring_req, work);
	struct mm_struct *mm = req->mirror->mm;
	bool use_mm = req->op == HMMSIM_URING_OP_READ ||
		      req->op == HMMSIM_URING_OP_WRITE;

	/*
	 * Only the device's reads and writes pin the user buffer through
	 * current->mm. Everything else names the mm: a worker that adopted
	 * it would only add CPUs for every TLB flush of it to reach.
	 */
	if (use_mm)
		kthread_use_mm(mm);
	req->ret = hmmsim_uring_run(req);
	if (use_mm)
		kthread_unuse_mm(mm);
	hmmsim_uring_next(req->mirror);
	/* Done with the device: see the DOC above. The file still holds it. */
	atomic_dec_return_release(&req->mirror->hdev->uring_inflight);

	mmput(mm);
	if (req->src_file)
		fput(req->src_file);
	put_task_struct(req->task);
	/* From here on the request belongs to io_uring. */
	io_uring_cmd_complete_in_task(req->ioucmd, hmmsim_uring_complete_tw);
}

/*
 * IO_URING_F_CANCEL: the ring is being torn down. The request is still
 * ours (io_uring_cmd_done() has not run) and its worker will complete it.
 */
static void hmmsim_uring_cancel(struct io_uring_cmd *ioucmd)
{
	struct hmmsim_uring_req *req = *hmmsim_uring_pdu(ioucmd);

	WRITE_ONCE(req->canceled, true);
}

/**
 * hmmsim_uring_cmd() - file_operations.uring_cmd of an hmmsim file
 * @ioucmd: the command: cmd_op and the SQE's payload.
 * @issue_flags: IO_URING_F_* from io_uring.
 *
 * Checks the command and queues it: it never waits for the device.
 *
 * Return: -EIOCBQUEUED when the command was queued (its CQE comes later),
 * 0 for a cancel request, or a negative errno for a command refused
 * outright, which io_uring posts as its result.
 */
int hmmsim_uring_cmd(struct io_uring_cmd *ioucmd, unsigned int issue_flags)
{
	struct hmmsim_mirror *mirror = ioucmd->file->private_data;
	struct hmmsim_uring_req *req;
	int op, ret;

	if (issue_flags & HMMSIM_IO_URING_F_CANCEL) {
		hmmsim_uring_cancel(ioucmd);
		return 0;
	}
	if (!(issue_flags & IO_URING_F_SQE128))
		return -EINVAL;
	/*
	 * No command takes a registered buffer (yet), or is multishot (7.2
	 * passes IORING_URING_CMD_MULTISHOT through): none of the user's
	 * flags, whichever the kernel knows.
	 */
	if (ioucmd->flags & IORING_URING_CMD_MASK)
		return -EINVAL;
	if (current->mm != mirror->mm)
		return -EPERM;
	op = hmmsim_uring_op(ioucmd->cmd_op);
	if (op < 0)
		return op;
	if (hmmsim_device_removed(mirror->hdev))
		return -ENODEV;

	req = kzalloc_obj(*req, GFP_KERNEL_ACCOUNT);
	if (!req)
		return -ENOMEM;
	req->op = op;
	ret = hmmsim_uring_parse(req,
				 hmmsim_uring_cmd_payload(ioucmd,
							  struct hmmsim_uring_payload));
	if (!ret && op == HMMSIM_URING_OP_DEV_TO_DEV) {
		req->src_file = hmmsim_cmd_source_file(mirror, req->cmd.src_fd,
						       &req->src);
		if (IS_ERR(req->src_file))
			ret = PTR_ERR(req->src_file);
	}
	if (ret) {
		kfree(req);
		return ret;
	}

	INIT_WORK(&req->work, hmmsim_uring_work);
	req->ioucmd = ioucmd;
	req->mirror = mirror;
	mmget(mirror->mm);
	req->task = get_task_struct(current);
	*hmmsim_uring_pdu(ioucmd) = req;
	hmmsim_uring_cmd_mark_cancelable(ioucmd, issue_flags);
	atomic_inc(&mirror->hdev->uring_inflight);
	hmmsim_uring_start(req);
	return -EIOCBQUEUED;
}

/**
 * hmmsim_uring_init() - create the workqueue the commands run on
 *
 * Return: 0 or -ENOMEM.
 */
int hmmsim_uring_init(void)
{
	/*
	 * The default limit of workers (WQ_DFL_ACTIVE): each file runs one
	 * request per CPU at most (hmmsim_uring_start()), so that a file's
	 * requests do not contend for more than the CPUs, and the files
	 * never wait for each other.
	 */
	hmmsim_uring_wq = alloc_workqueue("hmmsim_uring", WQ_UNBOUND, 0);
	return hmmsim_uring_wq ? 0 : -ENOMEM;
}

/**
 * hmmsim_uring_exit() - destroy the workqueue, once every worker returned
 *
 * No command can be in flight: each holds a file, which holds the module.
 * Destroying the workqueue waits for workers that completed their command
 * but have not returned yet.
 */
void hmmsim_uring_exit(void)
{
	destroy_workqueue(hmmsim_uring_wq);
}
