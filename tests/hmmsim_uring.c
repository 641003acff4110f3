// SPDX-License-Identifier: GPL-2.0
/*
 * hmmsim io_uring tests: the HMMSIM_URING_* commands (IORING_OP_URING_CMD)
 * on a ring with 128-byte SQEs, filled by hand (liburing 2.3 has no helper
 * for URING_CMD):
 *
 *  - every command moves, reads, writes or prefetches what the ioctls would,
 *    with its result in the CQE and the page count in big_cqe[0];
 *  - dozens of requests in flight over several buffers and all four devices,
 *    every completion and every byte checked;
 *  - rings torn down, files closed and processes exiting with requests in
 *    flight: nothing hangs, no data is lost;
 *  - bad payloads (unknown opcode, sizes, nonzero reserved fields, bad
 *    ranges, bad buffers, bad source files, a ring without SQE128, another
 *    mm, a removed device) fail with clean errors.
 *
 * The devices are /dev/$HMMSIM_DEVNAME<N> (default hmmsim): 0 and 1
 * private, 2 and 3 coherent, as the test VM loads hmmsim.
 */
#include <time.h>

#include <liburing.h>
#include <linux/userfaultfd.h>

#include "kselftest_harness.h"
#include "hmmsim_test.h"

#define NR_DEVICES	4

static int ring_init(struct io_uring *ring, unsigned int entries,
		     unsigned int flags)
{
	return io_uring_queue_init(entries, ring, flags);
}

/* How many of the first npages of a range are in fd's device memory. */
static size_t count_local(int fd, void *addr, size_t npages)
{
	unsigned char *codes = malloc(npages);
	struct hmm_dmirror_cmd cmd;
	size_t i, n = 0;

	if (!codes || dmirror(fd, HMM_DMIRROR_SNAPSHOT, addr, codes, npages,
			      &cmd))
		return (size_t)-1;
	for (i = 0; i < npages; i++) {
		unsigned char where = codes[i] & 0xf0;

		if (where == HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL ||
		    where == HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL)
			n++;
	}
	free(codes);
	return n;
}

/* Whether the kernel calls drivers back to cancel commands (6.7 on). */
static bool kernel_cancels(void)
{
	return kernel_at_least(6, 7);
}

/* The device has taken pages in: a request's first window has run. */
static bool took_pages(const struct hmmsim_stats *st)
{
	return st->to_device > 0;
}

/* Wait for a device's io_uring requests to be over; fail the test if not. */
#define WAIT_URING_IDLE(fd) do { \
	struct hmmsim_stats __st; \
	int __ret = wait_stats(fd, uring_idle, &__st); \
	\
	ASSERT_EQ(0, __ret) \
		TH_LOG("%llu io_uring requests still in flight after %d s", \
		       (unsigned long long)__st.uring_inflight, \
		       WAIT_SECONDS); \
} while (0)

/* map_aligned() of @len, filled with the pattern of @seed: asserted. */
#define PATTERN_MAP(len, seed) pattern_map(_metadata, len, seed)

static char *pattern_map(struct __test_metadata *_metadata, size_t len,
			 unsigned int seed)
{
	char *buf = map_aligned(len, MADV_NORMAL);

	ASSERT_NE(MAP_FAILED, buf);
	fill_pattern(buf, 0, len / page_size, seed);
	return buf;
}

FIXTURE(uring)
{
	struct io_uring ring;
	int fd[NR_DEVICES];
	unsigned int nr_fds;
};

FIXTURE_SETUP(uring)
{
	unsigned int i;

	for (i = 0; i < NR_DEVICES; i++) {
		self->fd[i] = open_dev(i);
		if (self->fd[i] < 0)
			break;
	}
	self->nr_fds = i;
	ASSERT_GE(self->nr_fds, 2)
		TH_LOG("cannot open devices 0 and 1 (is hmmsim loaded?)");
	ASSERT_EQ(0, ring_init(&self->ring, 64,
			       IORING_SETUP_SQE128 | IORING_SETUP_CQE32));
}

FIXTURE_TEARDOWN(uring)
{
	unsigned int i;

	io_uring_queue_exit(&self->ring);
	for (i = 0; i < self->nr_fds; i++)
		close(self->fd[i]);
}

/* run() of @op on the fixture's ring, which is expected to return @ret. */
#define EXPECT_RUN(ret, fd, op, c) \
	EXPECT_EQ(ret, run(&self->ring, fd, op, c, NULL))

/*
 * run() of @op on the fixture's ring, which must succeed; the pages it
 * reports are expected to be @n.
 */
#define RUN_OK(fd, op, c, n) do { \
	__u64 __pages; \
	\
	ASSERT_EQ(0, run(&self->ring, fd, op, c, &__pages)); \
	EXPECT_EQ(n, __pages); \
} while (0)

TEST_F(uring, every_command_does_what_its_ioctl_does)
{
	size_t len = 4 * SZ_1M, npages = len / page_size;
	struct hmmsim_uring_cmd c;
	char *buf = PATTERN_MAP(len, 1);
	char *out = map_aligned(len, MADV_NORMAL);
	char *in = map_aligned(len, MADV_NORMAL);
	struct hmm_dmirror_cmd d;

	ASSERT_NE(MAP_FAILED, out);
	ASSERT_NE(MAP_FAILED, in);

	c = ucmd(buf, len);
	RUN_OK(self->fd[0], HMMSIM_URING_MIGRATE_TO_DEVICE, &c, npages);
	EXPECT_EQ(npages, count_local(self->fd[0], buf, npages));

	/* Device read into out, through the device page table. */
	c.ptr = (uintptr_t)out;
	RUN_OK(self->fd[0], HMMSIM_URING_READ, &c, npages);
	EXPECT_EQ(-1, check_pattern(out, 0, len / page_size, 1));

	/* Device write of in, then back to system memory. */
	fill_pattern(in, 0, len / page_size, 2);
	c.ptr = (uintptr_t)in;
	RUN_OK(self->fd[0], HMMSIM_URING_WRITE, &c, npages);
	c.ptr = 0;
	RUN_OK(self->fd[0], HMMSIM_URING_MIGRATE_TO_SYSTEM, &c, npages);
	EXPECT_EQ(0, count_local(self->fd[0], buf, npages));
	EXPECT_EQ(-1, check_pattern(buf, 0, len / page_size, 2));

	/* Nothing left on the device: moving it back moves nothing. */
	RUN_OK(self->fd[0], HMMSIM_URING_MIGRATE_TO_SYSTEM, &c, 0);

	/* A prefetched range is read by the device without a fault. */
	RUN_OK(self->fd[1], HMMSIM_URING_PREFETCH, &c, npages);
	memset(&d, 0, sizeof(d));
	d.addr = (uintptr_t)buf;
	d.ptr = (uintptr_t)out;
	d.npages = npages;
	ASSERT_EQ(0, ioctl(self->fd[1], HMM_DMIRROR_READ, &d));
	EXPECT_EQ(npages, d.cpages);
	EXPECT_EQ(0, d.faults);
	EXPECT_EQ(-1, check_pattern(out, 0, len / page_size, 2));
	EXPECT_EQ(0, count_local(self->fd[1], buf, npages));

	munmap(buf, len);
	munmap(out, len);
	munmap(in, len);
}

TEST_F(uring, device_to_device_moves_pages_directly)
{
	size_t len = 4 * SZ_1M, npages = len / page_size;
	struct hmmsim_uring_cmd c;
	struct hmmsim_stats before, after;
	char *buf = PATTERN_MAP(len, 3);
	__u64 pages;

	c = ucmd(buf, len);
	ASSERT_EQ(0, run(&self->ring, self->fd[0],
			 HMMSIM_URING_MIGRATE_TO_DEVICE, &c, &pages));
	ASSERT_EQ(npages, pages);

	ASSERT_EQ(0, get_stats(self->fd[0], &before));
	c.src_fd = self->fd[0];
	RUN_OK(self->fd[1], HMMSIM_URING_MIGRATE_DEV_TO_DEV, &c, npages);
	ASSERT_EQ(0, get_stats(self->fd[0], &after));
	EXPECT_EQ(npages, after.from_device - before.from_device);
	EXPECT_EQ(npages, count_local(self->fd[1], buf, npages));
	EXPECT_EQ(0, count_local(self->fd[0], buf, npages));

	/* The source has none left: a second move moves nothing. */
	RUN_OK(self->fd[1], HMMSIM_URING_MIGRATE_DEV_TO_DEV, &c, 0);
	EXPECT_EQ(-1, check_pattern(buf, 0, len / page_size, 3));
	munmap(buf, len);
}

/*
 * Dozens of requests in flight: 16 buffers of 4 MiB, four per device, in
 * 2 MiB requests: 32 migrations to the devices, 32 device reads, 32 device
 * writes, 32 migrations back, each batch submitted at once.
 */
#define NR_BUFS		16
#define BUF_SIZE	(4 * SZ_1M)
#define REQ_SIZE	SZ_2M
#define NR_REQS		(NR_BUFS * BUF_SIZE / REQ_SIZE)

static int submit_all(struct io_uring *ring, const int *fds, char **bufs,
		      char **ptrs, __u32 op)
{
	unsigned int r;

	for (r = 0; r < NR_REQS; r++) {
		unsigned int b = r / (BUF_SIZE / REQ_SIZE);
		size_t off = (r % (BUF_SIZE / REQ_SIZE)) * REQ_SIZE;
		struct hmmsim_uring_cmd c = ucmd(bufs[b] + off, REQ_SIZE);
		int ret;

		if (ptrs)
			c.ptr = (uintptr_t)(ptrs[b] + off);
		ret = queue(ring, fds[b % NR_DEVICES], op, &c, r);
		if (ret)
			return ret;
	}
	return io_uring_submit(ring);
}

/* Reap NR_REQS completions: each exactly once, each successful and whole. */
static int reap_all(struct __test_metadata *_metadata, struct io_uring *ring)
{
	bool seen[NR_REQS] = { false };
	unsigned int r, bad = 0;

	for (r = 0; r < NR_REQS; r++) {
		__u64 ud, pages;
		int ret = reap(ring, &ud, &pages);

		if (ret || ud >= NR_REQS || seen[ud] ||
		    pages != REQ_SIZE / page_size) {
			TH_LOG("completion %u: res %d, request %llu, %llu pages",
			       r, ret, (unsigned long long)ud,
			       (unsigned long long)pages);
			bad++;
			continue;
		}
		seen[ud] = true;
	}
	return bad;
}

TEST_F(uring, dozens_in_flight_over_buffers_and_devices)
{
	char *bufs[NR_BUFS], *out[NR_BUFS], *in[NR_BUFS];
	unsigned int b;

	ASSERT_EQ(NR_DEVICES, self->nr_fds);
	for (b = 0; b < NR_BUFS; b++) {
		bufs[b] = map_aligned(BUF_SIZE, MADV_NORMAL);
		out[b] = map_aligned(BUF_SIZE, MADV_NORMAL);
		in[b] = map_aligned(BUF_SIZE, MADV_NORMAL);
		ASSERT_NE(MAP_FAILED, bufs[b]);
		ASSERT_NE(MAP_FAILED, out[b]);
		ASSERT_NE(MAP_FAILED, in[b]);
		fill_pattern(bufs[b], 0, BUF_SIZE / page_size, 10 + b);
		fill_pattern(in[b], 0, BUF_SIZE / page_size, 20 + b);
	}

	ASSERT_EQ(NR_REQS, submit_all(&self->ring, self->fd, bufs, NULL,
				      HMMSIM_URING_MIGRATE_TO_DEVICE));
	ASSERT_EQ(0, reap_all(_metadata, &self->ring));
	for (b = 0; b < NR_BUFS; b++)
		EXPECT_EQ(BUF_SIZE / page_size,
			  count_local(self->fd[b % NR_DEVICES], bufs[b],
				      BUF_SIZE / page_size));

	ASSERT_EQ(NR_REQS, submit_all(&self->ring, self->fd, bufs, out,
				      HMMSIM_URING_READ));
	ASSERT_EQ(0, reap_all(_metadata, &self->ring));
	for (b = 0; b < NR_BUFS; b++)
		EXPECT_EQ(-1, check_pattern(out[b], 0, BUF_SIZE / page_size, 10 + b));

	ASSERT_EQ(NR_REQS, submit_all(&self->ring, self->fd, bufs, in,
				      HMMSIM_URING_WRITE));
	ASSERT_EQ(0, reap_all(_metadata, &self->ring));

	ASSERT_EQ(NR_REQS, submit_all(&self->ring, self->fd, bufs, NULL,
				      HMMSIM_URING_MIGRATE_TO_SYSTEM));
	ASSERT_EQ(0, reap_all(_metadata, &self->ring));
	for (b = 0; b < NR_BUFS; b++) {
		EXPECT_EQ(0, count_local(self->fd[b % NR_DEVICES], bufs[b],
					 BUF_SIZE / page_size));
		EXPECT_EQ(-1, check_pattern(bufs[b], 0, BUF_SIZE / page_size, 20 + b));
		munmap(bufs[b], BUF_SIZE);
		munmap(out[b], BUF_SIZE);
		munmap(in[b], BUF_SIZE);
	}
}

TEST_F(uring, plain_cqe_has_the_result)
{
	size_t len = SZ_2M;
	struct hmmsim_uring_cmd c;
	struct io_uring ring;
	char *buf = PATTERN_MAP(len, 4);
	__u64 pages;

	ASSERT_EQ(0, ring_init(&ring, 8, IORING_SETUP_SQE128));
	c = ucmd(buf, len);
	EXPECT_EQ(0, run(&ring, self->fd[0], HMMSIM_URING_MIGRATE_TO_DEVICE,
			 &c, &pages));
	EXPECT_EQ(len / page_size, count_local(self->fd[0], buf,
					       len / page_size));
	c.npages = 0;
	EXPECT_EQ(-EINVAL, run(&ring, self->fd[0],
			       HMMSIM_URING_MIGRATE_TO_SYSTEM, &c, &pages));
	io_uring_queue_exit(&ring);
	EXPECT_EQ(-1, check_pattern(buf, 0, len / page_size, 4));
	munmap(buf, len);
}

TEST_F(uring, ring_without_sqe128_is_einval)
{
	char buf[CMD_AREA] = { 0 };
	struct io_uring ring;

	ASSERT_EQ(0, ring_init(&ring, 8, 0));
	EXPECT_EQ(-EINVAL, run_raw(&ring, self->fd[0], HMMSIM_URING_PREFETCH,
				   buf, sizeof(buf), NULL));
	io_uring_queue_exit(&ring);
}

/* No command takes a registered buffer: the flag is refused, not ignored. */
TEST_F(uring, registered_buffer_flag_is_einval)
{
	size_t len = 4 * page_size;
	char *buf = map_aligned(len, MADV_NORMAL);
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct hmmsim_uring_cmd c = ucmd(buf, len);
	struct io_uring_sqe *sqe;
	struct io_uring ring;

	ASSERT_NE(MAP_FAILED, buf);
	ASSERT_EQ(0, ring_init(&ring, 8, IORING_SETUP_SQE128));
	ASSERT_EQ(0, io_uring_register_buffers(&ring, &iov, 1));
	c.ptr = (uintptr_t)buf;
	ASSERT_EQ(0, queue(&ring, self->fd[0], HMMSIM_URING_READ, &c, 0));
	sqe = queued_sqe(&ring);
	sqe->uring_cmd_flags = IORING_URING_CMD_FIXED;
	sqe->buf_index = 0;
	ASSERT_EQ(1, io_uring_submit(&ring));
	EXPECT_EQ(-EINVAL, reap(&ring, NULL, NULL));
	io_uring_queue_exit(&ring);
	munmap(buf, len);
}

TEST_F(uring, unknown_opcode_is_eopnotsupp)
{
	char *buf = map_aligned(SZ_2M, MADV_NORMAL);
	struct hmmsim_uring_cmd c = ucmd(buf, SZ_2M);
	static const __u32 bad_ops[] = {
		0,
		_IOW('H', 0x57, struct hmmsim_uring_cmd),
		_IOW('H', 0x4f, struct hmmsim_uring_cmd),
		_IOW('H', 0xff, struct hmmsim_uring_cmd),
		_IOW('X', 0x50, struct hmmsim_uring_cmd),
		_IOR('H', 0x50, struct hmmsim_uring_cmd),
		_IOWR('H', 0x53, struct hmmsim_uring_cmd),
		HMMSIM_IOCTL_MIGRATE,
		HMM_DMIRROR_READ,
		0xffffffff,
	};
	unsigned int i;

	ASSERT_NE(MAP_FAILED, buf);
	for (i = 0; i < ARRAY_SIZE(bad_ops); i++)
		EXPECT_EQ(-EOPNOTSUPP, run(&self->ring, self->fd[0],
					   bad_ops[i], &c, NULL))
			TH_LOG("cmd_op %#x", bad_ops[i]);
	/* The size encoded in cmd_op does not matter. */
	EXPECT_RUN(0, self->fd[0], _IOC(_IOC_WRITE, 'H', 0x53, 200), &c);
	munmap(buf, SZ_2M);
}

/* A good payload of command @op on @buf, in the whole command area. */
static void reset(__u8 *area, __u32 op, char *buf, int src_fd)
{
	struct hmmsim_uring_cmd *c = (void *)area;

	memset(area, 0, CMD_AREA);
	*c = ucmd(buf, SZ_2M);
	if (op == HMMSIM_URING_READ || op == HMMSIM_URING_WRITE)
		c->ptr = (uintptr_t)buf;
	if (op == HMMSIM_URING_MIGRATE_DEV_TO_DEV)
		c->src_fd = src_fd;
}

TEST_F(uring, bad_payloads_are_refused)
{
	__u8 area[CMD_AREA];
	struct hmmsim_uring_cmd *c = (void *)area;
	char *buf = map_aligned(SZ_2M, MADV_NORMAL);
	__u32 ops[] = {
		HMMSIM_URING_MIGRATE_TO_DEVICE, HMMSIM_URING_MIGRATE_TO_SYSTEM,
		HMMSIM_URING_MIGRATE_DEV_TO_DEV, HMMSIM_URING_PREFETCH,
		HMMSIM_URING_READ, HMMSIM_URING_WRITE,
	};
	unsigned int i, o;

	ASSERT_NE(MAP_FAILED, buf);
#define TRY(op) \
	run_raw(&self->ring, self->fd[0], (op), area, sizeof(area), NULL)
/* A good payload with one change, which must give err. */
#define TRY_BAD(err, change) do { \
	reset(area, op, buf, self->fd[1]); \
	change; \
	EXPECT_EQ(err, TRY(op)) TH_LOG("op %#x", op); \
} while (0)

	for (o = 0; o < ARRAY_SIZE(ops); o++) {
		__u32 op = ops[o];

		/* The reference: a good payload of each command works. */
		reset(area, op, buf, self->fd[1]);
		EXPECT_EQ(0, TRY(op)) TH_LOG("op %#x", op);

		TRY_BAD(-EINVAL, c->size = 0);
		TRY_BAD(-EINVAL, c->size = HMMSIM_URING_CMD_SIZE_VER0 - 1);
		TRY_BAD(-EINVAL, c->size = CMD_AREA + 1);
		TRY_BAD(-EINVAL, c->size = 0xffffffff);
		/* A bigger structure: the driver's unknown bytes must be 0. */
		TRY_BAD(0, c->size = CMD_AREA);
		area[CMD_AREA - 1] = 1;
		EXPECT_EQ(-E2BIG, TRY(op)) TH_LOG("op %#x", op);
		/* Bytes beyond @size are not looked at. */
		TRY_BAD(0, area[CMD_AREA - 1] = 1);

		TRY_BAD(-EINVAL,
			c->flags = op == HMMSIM_URING_PREFETCH ? 2 : 1);
		TRY_BAD(-EINVAL, c->flags = 1ULL << 31);
		TRY_BAD(-EINVAL, c->pad = 1);
		for (i = 0; i < 4; i++)
			TRY_BAD(-EINVAL, c->reserved[i] = 1ULL << 63);
		if (op != HMMSIM_URING_READ && op != HMMSIM_URING_WRITE)
			TRY_BAD(-EINVAL, c->ptr = (uintptr_t)buf);
		if (op != HMMSIM_URING_MIGRATE_DEV_TO_DEV)
			TRY_BAD(-EINVAL, c->src_fd = self->fd[1]);

		/* Bad ranges. */
		TRY_BAD(-EINVAL, c->npages = 0);
		TRY_BAD(-EINVAL, c->addr += 1);
		TRY_BAD(-EINVAL, c->addr = 1ULL << 63);
		TRY_BAD(-EINVAL, c->addr = -(__u64)page_size);
		TRY_BAD(-EINVAL, c->npages = 1ULL << 62);
		TRY_BAD(-EINVAL, c->npages = ~0ULL);
	}

	/* Bad buffers of device reads and writes. */
	for (o = 0; o < 2; o++) {
		__u32 op = o ? HMMSIM_URING_WRITE : HMMSIM_URING_READ;

		TRY_BAD(-EFAULT, c->ptr = 0);
		TRY_BAD(-EFAULT, c->ptr = 1ULL << 63);
		TRY_BAD(-EFAULT, c->ptr = -(__u64)page_size);
		/* An unaligned buffer is fine. */
		reset(area, op, buf, self->fd[1]);
		c->npages = 1;
		c->ptr = (uintptr_t)buf + 8;
		EXPECT_EQ(0, TRY(op)) TH_LOG("op %#x", op);
	}
	munmap(buf, SZ_2M);
}

TEST_F(uring, holes_and_bad_sources_are_refused)
{
	size_t len = 3 * SZ_2M;
	char *buf = PATTERN_MAP(len, 5);
	struct hmmsim_uring_cmd c;
	int pipefd[2];

	/* A hole in the middle. */
	ASSERT_EQ(0, munmap(buf + SZ_2M, SZ_2M));
	c = ucmd(buf, len);
	EXPECT_RUN(-EINVAL, self->fd[0], HMMSIM_URING_MIGRATE_TO_DEVICE, &c);
	/* Nothing moved: the range is checked first. */
	EXPECT_EQ(0, count_local(self->fd[0], buf, SZ_2M / page_size));
	EXPECT_RUN(-EINVAL, self->fd[0], HMMSIM_URING_MIGRATE_TO_SYSTEM, &c);
	EXPECT_RUN(-EFAULT, self->fd[0], HMMSIM_URING_PREFETCH, &c);
	c = ucmd(buf + SZ_2M, SZ_2M);
	c.ptr = (uintptr_t)buf;
	EXPECT_RUN(-EFAULT, self->fd[0], HMMSIM_URING_READ, &c);
	/* A buffer that runs into the hole. */
	c = ucmd(buf, SZ_2M);
	c.ptr = (uintptr_t)buf + SZ_1M;
	EXPECT_RUN(-EFAULT, self->fd[0], HMMSIM_URING_READ, &c);

	/* Write prefetch of a read-only range. */
	ASSERT_EQ(0, mprotect(buf, SZ_2M, PROT_READ));
	c = ucmd(buf, SZ_2M);
	c.flags = HMMSIM_URING_PREFETCH_WRITE;
	EXPECT_RUN(-EPERM, self->fd[0], HMMSIM_URING_PREFETCH, &c);
	c.flags = 0;
	EXPECT_RUN(0, self->fd[0], HMMSIM_URING_PREFETCH, &c);

	/* Sources of a device-to-device move. */
	ASSERT_EQ(0, pipe(pipefd));
	c = ucmd(buf, SZ_2M);
	c.src_fd = -1;
	EXPECT_RUN(-EBADF, self->fd[1], HMMSIM_URING_MIGRATE_DEV_TO_DEV, &c);
	c.src_fd = 1000;
	EXPECT_RUN(-EBADF, self->fd[1], HMMSIM_URING_MIGRATE_DEV_TO_DEV, &c);
	c.src_fd = pipefd[0];
	EXPECT_RUN(-EINVAL, self->fd[1], HMMSIM_URING_MIGRATE_DEV_TO_DEV, &c);
	c.src_fd = self->ring.ring_fd;
	EXPECT_RUN(-EINVAL, self->fd[1], HMMSIM_URING_MIGRATE_DEV_TO_DEV, &c);
	c.src_fd = self->fd[1];
	EXPECT_RUN(-EINVAL, self->fd[1], HMMSIM_URING_MIGRATE_DEV_TO_DEV, &c);
	close(pipefd[0]);
	close(pipefd[1]);
	EXPECT_EQ(-1, check_pattern(buf, 0, SZ_2M / page_size, 5));
	munmap(buf, len);
}

/*
 * A VMA migrate_vma cannot work on in the middle (the device file's own
 * VM_MIXEDMAP mapping): the whole range is checked before anything moves.
 */
TEST_F(uring, mixedmap_in_the_middle_moves_nothing)
{
	size_t len = 3 * SZ_2M;
	char *buf = PATTERN_MAP(len, 6);
	struct hmmsim_uring_cmd c;

	ASSERT_EQ(buf + SZ_2M, mmap(buf + SZ_2M, SZ_2M, PROT_READ | PROT_WRITE,
				    MAP_SHARED | MAP_FIXED, self->fd[0], 0));
	c = ucmd(buf, len);
	EXPECT_RUN(-EINVAL, self->fd[0], HMMSIM_URING_MIGRATE_TO_DEVICE, &c);
	EXPECT_EQ(0, count_local(self->fd[0], buf, SZ_2M / page_size));
	/* Pages on the device before it stay there too. */
	c = ucmd(buf, SZ_2M);
	RUN_OK(self->fd[0], HMMSIM_URING_MIGRATE_TO_DEVICE, &c,
	       SZ_2M / page_size);
	c = ucmd(buf, len);
	EXPECT_RUN(-EINVAL, self->fd[0], HMMSIM_URING_MIGRATE_TO_SYSTEM, &c);
	EXPECT_EQ(SZ_2M / page_size,
		  count_local(self->fd[0], buf, SZ_2M / page_size));
	EXPECT_RUN(-EINVAL, self->fd[1], HMMSIM_URING_MIGRATE_TO_DEVICE, &c);
	c.src_fd = self->fd[0];
	EXPECT_RUN(-EINVAL, self->fd[1], HMMSIM_URING_MIGRATE_DEV_TO_DEV, &c);
	EXPECT_EQ(SZ_2M / page_size,
		  count_local(self->fd[0], buf, SZ_2M / page_size));
	EXPECT_EQ(-1, check_pattern(buf, 0, SZ_2M / page_size, 6));
	munmap(buf, len);
}

/* A child that inherited the file gets -EPERM on a ring of its own. */
TEST_F(uring, another_mm_is_eperm)
{
	size_t len = SZ_2M;
	char *buf = PATTERN_MAP(len, 6);
	pid_t pid;
	int status;

	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		struct hmmsim_uring_cmd c = ucmd(buf, len);
		struct io_uring ring;
		int ret;

		if (ring_init(&ring, 8, IORING_SETUP_SQE128))
			_exit(2);
		ret = run(&ring, self->fd[0], HMMSIM_URING_MIGRATE_TO_DEVICE,
			  &c, NULL);
		if (ret == -EPERM) {
			/* Even with an unknown opcode or a bad payload. */
			c.size = 0;
			ret = run(&ring, self->fd[0], 0x1234, &c, NULL);
		}
		_exit(ret == -EPERM ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("child status %#x", status);
	EXPECT_EQ(0, count_local(self->fd[0], buf, len / page_size));
	EXPECT_EQ(-1, check_pattern(buf, 0, len / page_size, 6));
	munmap(buf, len);
}

/* Requests for 32 MiB, in flight when the ring or the file goes away. */
#define BIG_REQS	16
#define BIG_SIZE	SZ_2M

/* @n requests of @op, on @size bytes of @buf each in turn: submitted. */
static int queue_parts(struct io_uring *ring, int fd, char *buf, __u32 op,
		       unsigned int n, size_t size)
{
	unsigned int r;

	for (r = 0; r < n; r++) {
		struct hmmsim_uring_cmd c = ucmd(buf + r * size, size);

		if (queue(ring, fd, op, &c, r))
			return -1;
	}
	return io_uring_submit(ring);
}

static int queue_big(struct io_uring *ring, int fd, char *buf, __u32 op)
{
	return queue_parts(ring, fd, buf, op, BIG_REQS, BIG_SIZE);
}

/* Checking every byte of what the CPU faults back is slow on KASAN. */
TEST_F_TIMEOUT(uring, ring_torn_down_with_requests_in_flight, 120)
{
	size_t len = BIG_REQS * BIG_SIZE;
	char *buf = PATTERN_MAP(len, 7);
	struct io_uring ring;
	int round;

	for (round = 0; round < 3; round++) {
		int fd = open_dev(round % 2);

		ASSERT_GE(fd, 0);
		ASSERT_EQ(0, ring_init(&ring, 32,
				       IORING_SETUP_SQE128 | IORING_SETUP_CQE32));
		ASSERT_EQ(BIG_REQS, queue_big(&ring, fd, buf,
					      HMMSIM_URING_MIGRATE_TO_DEVICE));
		/* Round 1 closes the file first: the ring still holds it. */
		if (round == 1)
			close(fd);
		io_uring_queue_exit(&ring);
		if (round != 1)
			close(fd);
		/* Whatever moved, and wherever it is, the data is intact. */
		ASSERT_EQ(-1, check_pattern(buf, 0, len / page_size, 7));
		/*
		 * The kernel tears the ring down in the background: its
		 * requests end, and no test after this one finds them.
		 */
		WAIT_URING_IDLE(self->fd[round % 2]);
	}
	munmap(buf, len);
}

TEST_F(uring, files_closed_with_requests_in_flight_complete)
{
	size_t len = BIG_REQS * BIG_SIZE;
	struct hmmsim_stats st;
	char *buf = PATTERN_MAP(len, 8);
	unsigned int r;
	int fd;

	fd = open_dev(1);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(BIG_REQS, queue_big(&self->ring, fd, buf,
				      HMMSIM_URING_MIGRATE_TO_DEVICE));
	close(fd);
	for (r = 0; r < BIG_REQS; r++) {
		__u64 pages;

		EXPECT_EQ(0, reap(&self->ring, NULL, &pages));
		EXPECT_EQ(BIG_SIZE / page_size, pages);
	}
	/* A request leaves the count before its CQE is posted. */
	ASSERT_EQ(0, get_stats(self->fd[1], &st));
	EXPECT_EQ(0, st.uring_inflight);
	/* The last request's completion released the file and its pages. */
	EXPECT_EQ(-1, check_pattern(buf, 0, len / page_size, 8));
	munmap(buf, len);
}

/*
 * Processes that exit or are killed with requests in flight: the requests
 * end (WAIT_SECONDS at most to see it, hence the timeout).
 */
TEST_F_TIMEOUT(uring, process_exits_with_requests_in_flight,
	       WAIT_SECONDS + 60)
{
	size_t len = BIG_REQS * BIG_SIZE;
	int round;

	for (round = 0; round < 2; round++) {
		int status, sync[2];
		pid_t pid;
		char c;

		ASSERT_EQ(0, pipe(sync));
		pid = fork();
		ASSERT_GE(pid, 0);
		if (!pid) {
			char *buf = map_aligned(len, MADV_NORMAL);
			struct io_uring ring;
			int fd = open_dev(0);

			if (buf == MAP_FAILED || fd < 0 ||
			    ring_init(&ring, 32, IORING_SETUP_SQE128))
				_exit(2);
			fill_pattern(buf, 0, len / page_size, 9);
			if (queue_big(&ring, fd, buf,
				      HMMSIM_URING_MIGRATE_TO_DEVICE) !=
			    BIG_REQS)
				_exit(3);
			if (write(sync[1], "x", 1) != 1)
				_exit(4);
			if (round == 0)
				_exit(0);
			pause();
			_exit(5);
		}
		close(sync[1]);
		ASSERT_EQ(1, read(sync[0], &c, 1));
		close(sync[0]);
		if (round == 1)
			kill(pid, SIGKILL);
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		if (round == 0) {
			EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status))
				TH_LOG("child status %#x", status);
		} else {
			EXPECT_TRUE(WIFSIGNALED(status))
				TH_LOG("child status %#x", status);
		}
		WAIT_URING_IDLE(self->fd[0]);
	}
}

/* READs a blocked child queues: more than its file may run at once. */
#define NR_BLOCKED	4

/*
 * The blocked child: NR_BLOCKED device READs of its own buffer into a
 * buffer registered with a userfaultfd, through a file and a ring of its
 * own; pinning that buffer waits for the userfault, which nobody serves
 * until the parent says 'g': then it serves them (zero pages) and reaps
 * every READ, which must all have succeeded. Returns its exit status.
 */
static int child_blocked_reads(int ready, int go)
{
	const size_t len = 16 * page_size;
	char *src = map_small(16, PROT_READ | PROT_WRITE);
	char *dst = map_small(NR_BLOCKED * 16, PROT_READ | PROT_WRITE);
	struct uffdio_zeropage zp = {
		.range = { .start = (uintptr_t)dst,
			   .len = NR_BLOCKED * len },
	};
	struct hmmsim_uring_cmd c;
	struct io_uring ring;
	int fd = open_dev(0), uffd, i;
	char g;

	if (fd < 0 || src == MAP_FAILED || dst == MAP_FAILED ||
	    ring_init(&ring, 16, IORING_SETUP_SQE128 | IORING_SETUP_CQE32))
		return 10;
	fill_pattern(src, 0, 16, 5);
	uffd = uffd_register(dst, NR_BLOCKED * 16);
	if (uffd < 0)
		return 11;
	for (i = 0; i < NR_BLOCKED; i++) {
		c = ucmd(src, len);
		c.ptr = (uintptr_t)(dst + i * len);
		if (queue(&ring, fd, HMMSIM_URING_READ, &c, i))
			return 12;
	}
	if (io_uring_submit(&ring) != NR_BLOCKED || write(ready, "r", 1) != 1)
		return 13;
	if (read(go, &g, 1) != 1 || ioctl(uffd, UFFDIO_ZEROPAGE, &zp))
		return 14;
	for (i = 0; i < NR_BLOCKED; i++)
		if (reap(&ring, NULL, NULL))
			return 15;
	for (i = 0; i < NR_BLOCKED; i++)
		if (check_pattern(dst + i * len, 0, 16, 5) != -1)
			return 16;
	return 0;
}

/* Every READ of the blocked child was accepted by device 0. */
static bool child_reads_accepted(const struct hmmsim_stats *st)
{
	return st->uring_inflight >= NR_BLOCKED;
}

/*
 * io_uring commands are served fairly between processes: a process whose
 * READs block (their buffer is under a userfaultfd nobody serves) holds its
 * own file's turns, and another process's one-page PREFETCH on another
 * device completes meanwhile.
 */
TEST_F_TIMEOUT(uring, blocked_process_does_not_stall_another, 120)
{
	struct __kernel_timespec ts = { .tv_sec = WAIT_SECONDS / 6 };
	char *buf = PATTERN_MAP(SZ_2M, 6);
	struct hmmsim_uring_cmd c = ucmd(buf, page_size);
	struct io_uring_cqe *cqe = NULL;
	int ready[2], go[2], status, ret;
	struct hmmsim_stats st;
	pid_t pid;
	char r;

	/* Kernel-mode userfaults need privilege (vm.unprivileged_userfaultfd). */
	ret = uffd_register(buf, 1);
	if (ret == -EPERM)
		SKIP(return, "userfaultfd not allowed here");
	ASSERT_LE(0, ret);
	close(ret);

	ASSERT_EQ(0, pipe(ready));
	ASSERT_EQ(0, pipe(go));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		close(ready[0]);
		close(go[1]);
		_exit(child_blocked_reads(ready[1], go[0]));
	}
	close(ready[1]);
	close(go[0]);
	ASSERT_EQ(1, read(ready[0], &r, 1));
	ASSERT_EQ(0, wait_stats(self->fd[0], child_reads_accepted, &st));

	ASSERT_EQ(0, queue(&self->ring, self->fd[1], HMMSIM_URING_PREFETCH,
			   &c, 1));
	ASSERT_EQ(1, io_uring_submit(&self->ring));
	ret = io_uring_wait_cqe_timeout(&self->ring, &cqe, &ts);
	if (!ret) {
		EXPECT_EQ(0, cqe->res);
		io_uring_cqe_seen(&self->ring, cqe);
	}
	/* Let the child go either way, then judge. */
	ASSERT_EQ(1, write(go[1], "g", 1));
	status = wait_child(pid);
	if (ret)
		ASSERT_EQ(0, reap(&self->ring, NULL, NULL));
	close(ready[0]);
	close(go[1]);
	EXPECT_EQ(0, ret)
		TH_LOG("no PREFETCH in %lld s beside the blocked READs",
		       (long long)ts.tv_sec);
	EXPECT_EQ(0, status);
}

/*
 * A slow device made through configfs, so that requests are still running
 * when the ring goes away or the device is removed.
 */
FIXTURE(slow)
{
	struct cfsdev dev;
	int fd;
};

FIXTURE_SETUP(slow)
{
	const char *why = cfs_unusable();

	self->fd = -1;
	if (why)
		SETUP_SKIP("%s", why);
	ASSERT_EQ(0, cfs_make(&self->dev, "uring"));
	ASSERT_EQ(0, cfs_write(&self->dev, "capacity", "128M"));
	/* 50 ms per 2 MiB window: a 32 MiB request takes 0.8 s at least. */
	ASSERT_EQ(0, cfs_write(&self->dev, "copy_latency_us", "50000"));
	ASSERT_EQ(0, cfs_power_on(&self->dev));
	self->fd = open_dev(self->dev.id);
	ASSERT_GE(self->fd, 0);
}

FIXTURE_TEARDOWN(slow)
{
	if (self->fd >= 0)
		close(self->fd);
	if (self->dev.made)
		cfs_remove(self->dev.item);
}

/* Pages the device has taken in, from its counters. */
static __u64 to_device(int fd)
{
	struct hmmsim_stats st;

	return get_stats(fd, &st) ? 0 : st.to_device;
}

/* Running requests: wait until one has moved a window, and check both count. */
#define WAIT_RUNNING(fd, n) do { \
	struct hmmsim_stats __st; \
	\
	ASSERT_EQ(0, wait_stats(fd, took_pages, &__st)) \
		TH_LOG("no page moved in %d s", WAIT_SECONDS); \
	/* Before their 16 windows are over (0.8 s), all are in flight. */ \
	ASSERT_EQ(n, __st.uring_inflight) \
		TH_LOG("%llu pages moved", \
		       (unsigned long long)__st.to_device); \
} while (0)

/* Each test waits for states twice at most, WAIT_SECONDS each. */
#define SLOW_TIMEOUT	(2 * WAIT_SECONDS + 30)

TEST_F_TIMEOUT(slow, torn_down_ring_cancels_running_requests, SLOW_TIMEOUT)
{
	size_t len = 2 * 16 * SZ_2M;
	char *buf = PATTERN_MAP(len, 11);
	struct io_uring ring;
	__u64 a, b;
	double t0;

	ASSERT_EQ(0, ring_init(&ring, 8, IORING_SETUP_SQE128));
	ASSERT_EQ(2, queue_parts(&ring, self->fd, buf,
				 HMMSIM_URING_MIGRATE_TO_DEVICE, 2, len / 2));
	WAIT_RUNNING(self->fd, 2);
	t0 = now();
	io_uring_queue_exit(&ring);
	TH_LOG("io_uring_queue_exit() took %.2f s", now() - t0);
	/*
	 * io_uring_queue_exit() does not wait for the kernel's teardown:
	 * wait for the requests to end, then nothing may move any more.
	 */
	WAIT_URING_IDLE(self->fd);
	TH_LOG("requests over %.2f s after the teardown began", now() - t0);
	a = to_device(self->fd);
	/* Not ordering: time for a request the count missed to show. */
	usleep(300000);
	b = to_device(self->fd);
	if (kernel_cancels()) {
		EXPECT_EQ(a, b);
		EXPECT_GT(len / page_size, b);
	} else {
		TH_LOG("kernel without cancelable commands: %llu then %llu pages",
		       (unsigned long long)a, (unsigned long long)b);
	}
	TH_LOG("%llu of %zu pages moved", (unsigned long long)b,
	       len / page_size);
	EXPECT_EQ(-1, check_pattern(buf, 0, len / page_size, 11));
	munmap(buf, len);
}

TEST_F_TIMEOUT(slow, killed_process_stops_its_requests, SLOW_TIMEOUT)
{
	size_t len = 2 * 16 * SZ_2M;
	int status, sync[2], running;
	struct hmmsim_stats st;
	__u64 a, b;
	double t0;
	pid_t pid;
	char c;

	/* The child opens the device itself: its file is bound to its mm. */
	ASSERT_EQ(0, pipe(sync));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		char *buf = map_aligned(len, MADV_NORMAL), path[64];
		struct io_uring ring;
		int fd;

		snprintf(path, sizeof(path), "/proc/self/fd/%d", self->fd);
		fd = open(path, O_RDWR);
		if (buf == MAP_FAILED || fd < 0 ||
		    ring_init(&ring, 8, IORING_SETUP_SQE128))
			_exit(2);
		fill_pattern(buf, 0, len / page_size, 12);
		if (queue_parts(&ring, fd, buf, HMMSIM_URING_MIGRATE_TO_DEVICE,
				2, len / 2) != 2)
			_exit(3);
		if (write(sync[1], "x", 1) != 1)
			_exit(4);
		pause();
		_exit(5);
	}
	close(sync[1]);
	ASSERT_EQ(1, read(sync[0], &c, 1));
	close(sync[0]);
	/* Killed as soon as the requests run; judged once it is gone. */
	running = wait_stats(self->fd, took_pages, &st);
	t0 = now();
	kill(pid, SIGKILL);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	t0 = now() - t0;
	ASSERT_EQ(0, running)
		TH_LOG("no page moved in %d s", WAIT_SECONDS);
	ASSERT_EQ(2, st.uring_inflight)
		TH_LOG("%llu pages moved", (unsigned long long)st.to_device);
	EXPECT_TRUE(WIFSIGNALED(status));
	/*
	 * Dying did not wait for the requests to run to their end: that is
	 * the last check below, on what moved, not on how long it took.
	 */
	/* The windows running when it died finish; no other starts. */
	WAIT_URING_IDLE(self->fd);
	a = to_device(self->fd);
	/* Not ordering: time for a request the count missed to show. */
	usleep(300000);
	b = to_device(self->fd);
	EXPECT_EQ(a, b);
	/* They stopped before their last window. */
	EXPECT_GT(len / page_size, b);
	TH_LOG("gone %.2f s after SIGKILL; %llu of %zu pages had moved", t0,
	       (unsigned long long)b, len / page_size);
}

TEST_F_TIMEOUT(slow, removed_device_is_enodev, SLOW_TIMEOUT)
{
	size_t len = 2 * 16 * SZ_2M;
	char *buf = PATTERN_MAP(len, 13);
	struct hmmsim_uring_cmd c;
	struct io_uring ring;
	unsigned int r, ok = 0, gone = 0;

	ASSERT_EQ(0, ring_init(&ring, 8,
			       IORING_SETUP_SQE128 | IORING_SETUP_CQE32));
	ASSERT_EQ(2, queue_parts(&ring, self->fd, buf,
				 HMMSIM_URING_MIGRATE_TO_DEVICE, 2, len / 2));
	WAIT_RUNNING(self->fd, 2);
	/* Removed while the requests run: they stop with -ENODEV. */
	ASSERT_EQ(0, cfs_write(&self->dev, "power", "0"));
	for (r = 0; r < 2; r++) {
		__u64 pages;
		int ret = reap(&ring, NULL, &pages);

		if (ret == 0)
			ok++;
		else if (ret == -ENODEV)
			gone++;
		else
			TH_LOG("request: %d", ret);
		EXPECT_GE(len / 2 / page_size, pages);
	}
	EXPECT_EQ(2, ok + gone);
	EXPECT_LE(1, gone);

	c = ucmd(buf, SZ_2M);
	EXPECT_EQ(-ENODEV, run(&ring, self->fd,
			       HMMSIM_URING_MIGRATE_TO_SYSTEM, &c, NULL));
	EXPECT_EQ(-ENODEV, run(&ring, self->fd, HMMSIM_URING_PREFETCH, &c,
			       NULL));
	io_uring_queue_exit(&ring);
	EXPECT_EQ(-1, check_pattern(buf, 0, len / page_size, 13));
	munmap(buf, len);
}

/*
 * A device of 2 MiB made through configfs, whose eviction is made to fail:
 * a migration that needs more than what is free runs out part way.
 */
#define FULL_CAPACITY	SZ_2M

FIXTURE(full)
{
	struct cfsdev dev;
	struct io_uring ring;
	int fd;
	bool ring_made;
	bool armed;		/* fail_evict to disarm */
};

FIXTURE_SETUP(full)
{
	const char *why = cfs_unusable();

	self->fd = -1;
	if (why)
		SETUP_SKIP("%s", why);
	ASSERT_EQ(0, cfs_make(&self->dev, "uring_full-"));
	ASSERT_EQ(0, cfs_write(&self->dev, "capacity", "2M"));
	ASSERT_EQ(0, cfs_power_on(&self->dev));
	self->fd = open_dev_wait(self->dev.id);
	ASSERT_GE(self->fd, 0)
		TH_LOG("device %u: %s", self->dev.id, strerror(errno));
	ASSERT_EQ(0, ring_init(&self->ring, 8,
			       IORING_SETUP_SQE128 | IORING_SETUP_CQE32));
	self->ring_made = true;
}

FIXTURE_TEARDOWN(full)
{
	if (self->armed)
		fault_disarm(&self->dev, "fail_evict");
	if (self->ring_made)
		io_uring_queue_exit(&self->ring);
	if (self->fd >= 0)
		close(self->fd);
	if (self->dev.made)
		cfs_remove(self->dev.item);
}

/*
 * A migration window that runs out of device memory part way still
 * reports the pages it moved: with 1 MiB of the 2 MiB device taken and
 * nothing evictable, a 2 MiB window moves 1 MiB and fails with -ENOMEM,
 * and the CQE counts that 1 MiB, as the device's counters do.
 */
TEST_F(full, window_out_of_memory_part_way_reports_pages_moved)
{
	const unsigned long cap = FULL_CAPACITY / page_size;
	const unsigned long first = SZ_1M / page_size, npages = win_pages;
	char *pre = map_aligned(SZ_1M, MADV_NOHUGEPAGE);
	char *buf = map_aligned(SZ_2M, MADV_NOHUGEPAGE);
	struct hmmsim_stats st0, st;
	struct hmmsim_uring_cmd c;
	__u64 pages = GARBAGE;
	int ret;

	if (!fault_exists(&self->dev, "fail_evict"))
		SKIP(return, "no %s/fail_evict (no CONFIG_FAULT_INJECTION_DEBUG_FS?)",
		     self->dev.dbg);
	ASSERT_NE(MAP_FAILED, pre);
	ASSERT_NE(MAP_FAILED, buf);
	fill_pattern(pre, 0, first, 14);
	fill_pattern(buf, 0, npages, 15);

	/* Half the device is taken... */
	c = ucmd(pre, SZ_1M);
	ASSERT_EQ(0, run(&self->ring, self->fd,
			 HMMSIM_URING_MIGRATE_TO_DEVICE, &c, &pages));
	ASSERT_EQ(first, pages);
	ASSERT_EQ(first, count_local(self->fd, pre, first));
	/* ...and cannot be given back to make room. */
	self->armed = true;
	FAULT_ARM_DEV(&self->dev, "fail_evict", "-1");

	STATS(self->fd, &st0);
	c = ucmd(buf, SZ_2M);
	pages = GARBAGE;
	ret = run(&self->ring, self->fd, HMMSIM_URING_MIGRATE_TO_DEVICE, &c,
		  &pages);
	STATS(self->fd, &st);
	EXPECT_EQ(-ENOMEM, ret);
	EXPECT_EQ(cap - first, pages)
		TH_LOG("the CQE's page count, with %llu pages moved",
		       (unsigned long long)(st.to_device - st0.to_device));
	EXPECT_EQ(cap - first, st.to_device - st0.to_device);
	EXPECT_EQ(cap, st.pages_used);
	/* What moved is on the device; what was there stayed. */
	EXPECT_EQ(cap - first, count_local(self->fd, buf, npages));
	EXPECT_EQ(first, count_local(self->fd, pre, first));

	fault_disarm(&self->dev, "fail_evict");
	self->armed = false;
	EXPECT_EQ(-1, check_pattern(pre, 0, first, 14));
	EXPECT_EQ(-1, check_pattern(buf, 0, npages, 15));
	munmap(pre, SZ_1M);
	munmap(buf, SZ_2M);
}

TEST_HARNESS_MAIN
