// SPDX-License-Identifier: GPL-2.0
/*
 * feature: io_uring_cmd_complete_in_task(), task work for a command
 * variant: the callback takes (struct io_uring_cmd *, issue_flags).
 */
#include <linux/io_uring.h>
#if __has_include("linux/io_uring/cmd.h")
#include <linux/io_uring/cmd.h>
#endif

static void probe_cb(struct io_uring_cmd *cmd, unsigned int issue_flags)
{
}

void probe(struct io_uring_cmd *cmd)
{
	io_uring_cmd_complete_in_task(cmd, probe_cb);
}
