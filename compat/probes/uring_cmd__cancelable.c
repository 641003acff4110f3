// SPDX-License-Identifier: GPL-2.0
/*
 * feature: io_uring command passthrough (file_operations.uring_cmd)
 * variant: <linux/io_uring/cmd.h>, the whole SQE in ->sqe, and cancelable
 *	commands (IO_URING_F_CANCEL) (6.7 on).
 */
#include <linux/io_uring/cmd.h>

const struct io_uring_sqe *probe(struct io_uring_cmd *cmd,
				 unsigned int issue_flags)
{
	if (!(issue_flags & IO_URING_F_CANCEL))
		io_uring_cmd_mark_cancelable(cmd, issue_flags);
	return cmd->sqe;
}
