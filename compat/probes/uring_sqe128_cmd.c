// SPDX-License-Identifier: GPL-2.0
/*
 * feature (optional): io_uring_sqe128_cmd(sqe, type), the typed command
 *	area of a 128-byte SQE (io_uring_sqe_cmd() took a type at the same
 *	time).
 */
#include <linux/io_uring/cmd.h>

struct probe_cmd {
	u8 bytes[80];
};

const struct probe_cmd *probe(const struct io_uring_sqe *sqe)
{
	return io_uring_sqe128_cmd(sqe, struct probe_cmd);
}
