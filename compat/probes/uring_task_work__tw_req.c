// SPDX-License-Identifier: GPL-2.0
/*
 * feature: io_uring_cmd_complete_in_task(), task work for a command
 * variant: the callback takes (struct io_tw_req, io_tw_token_t).
 */
#include <linux/io_uring/cmd.h>

static void probe_cb(struct io_tw_req tw_req, io_tw_token_t tw)
{
	io_uring_cmd_done(io_uring_cmd_from_tw(tw_req), 0,
			  IO_URING_CMD_TASK_WORK_ISSUE_FLAGS);
}

void probe(struct io_uring_cmd *cmd)
{
	io_uring_cmd_complete_in_task(cmd, probe_cb);
}
