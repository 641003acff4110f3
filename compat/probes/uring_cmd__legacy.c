// SPDX-License-Identifier: GPL-2.0
/*
 * feature: io_uring command passthrough (file_operations.uring_cmd)
 * variant: <linux/io_uring.h>, the command area in ->cmd, no cancellation
 *	(before 6.5).
 */
#include <linux/io_uring.h>

const void *probe(struct io_uring_cmd *cmd)
{
	return cmd->cmd;
}
