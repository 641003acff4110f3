// SPDX-License-Identifier: GPL-2.0
/*
 * feature (optional): io_uring_cmd_done32(), which posts a second result
 *	word (io_uring_cmd_done() then lost its res2 argument).
 */
#include <linux/io_uring/cmd.h>

void probe(struct io_uring_cmd *cmd, unsigned int issue_flags)
{
	io_uring_cmd_done32(cmd, 0, 0, issue_flags);
}
