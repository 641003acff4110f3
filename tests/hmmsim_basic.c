// SPDX-License-Identifier: GPL-2.0
/*
 * hmmsim basic tests: opening and closing every device, the INFO ioctl with
 * every kind of bad input, and the rule that a file only serves the mm that
 * opened it.
 *
 * The devices are /dev/$HMMSIM_DEVNAME<N> (default hmmsim), N from 0, with
 * the mode devtmpfs gives them (0600), or $HMMSIM_NODE_MODE (octal) where a
 * udev rule set another (tests/nonroot.sh).
 */
#include <pthread.h>
#include <sys/prctl.h>
#include <time.h>

#include "kselftest_harness.h"
#include "hmmsim_test.h"

/* The mode every node must have: devtmpfs's 0600, or HMMSIM_NODE_MODE. */
static mode_t node_mode(void)
{
	const char *m = getenv("HMMSIM_NODE_MODE");

	return m ? strtoul(m, NULL, 8) : 0600;
}

FIXTURE(dev)
{
	int fd;
};

FIXTURE_SETUP(dev)
{
	self->fd = open_dev(0);
	ASSERT_GE(self->fd, 0)
		TH_LOG("cannot open device 0: %s (is hmmsim loaded?)",
		       strerror(errno));
}

FIXTURE_TEARDOWN(dev)
{
	close(self->fd);
}

TEST(every_device_opens_twice_and_closes)
{
	unsigned int n = count_devices(), id;

	ASSERT_GE(n, 1);
	for (id = 0; id < n; id++) {
		char path[64];
		struct stat st;
		int a, b;

		dev_path(path, sizeof(path), id);
		ASSERT_EQ(0, stat(path, &st));
		EXPECT_TRUE(S_ISCHR(st.st_mode));
		EXPECT_EQ(node_mode(), st.st_mode & 07777);

		a = open_dev(id);
		ASSERT_GE(a, 0);
		b = open_dev(id);
		ASSERT_GE(b, 0);
		EXPECT_EQ(0, close(a));
		EXPECT_EQ(0, close(b));
	}
}

TEST(info_describes_every_device)
{
	unsigned int n = count_devices(), id, nr_coherent = 0;

	ASSERT_GE(n, 1);
	for (id = 0; id < n; id++) {
		struct hmmsim_info inf;
		int fd = open_dev(id);

		ASSERT_GE(fd, 0);
		ASSERT_EQ(0, info(fd, &inf));
		EXPECT_EQ(sizeof(inf), inf.size);
		EXPECT_EQ(0, inf.flags);
		EXPECT_EQ(HMMSIM_ABI_VERSION, inf.abi_version);
		EXPECT_EQ(id, inf.id);
		EXPECT_EQ((long)page_size, 1L << inf.page_shift);
		EXPECT_NE(0, inf.capacity);
		EXPECT_EQ(0, inf.capacity % SZ_2M);
		for (size_t i = 0; i < ARRAY_SIZE(inf.reserved); i++)
			EXPECT_EQ(0, inf.reserved[i]);

		if (inf.type == HMMSIM_MEM_COHERENT) {
			/* Coherent devices are numbered after private ones. */
			EXPECT_NE(0, inf.phys_base);
			EXPECT_EQ(0, inf.phys_base % SZ_2M);
			nr_coherent++;
		} else {
			EXPECT_EQ(HMMSIM_MEM_PRIVATE, inf.type);
			EXPECT_EQ(0, inf.phys_base);
			EXPECT_EQ(0, nr_coherent);
		}
		close(fd);
	}
}

/* The caller's size bounds what the driver writes, and nothing past it. */
TEST_F(dev, info_version0_size_writes_no_further)
{
	unsigned char buf[HMMSIM_INFO_SIZE_VER0 + 64];
	struct hmmsim_info *inf = (struct hmmsim_info *)buf;
	size_t i;

	memset(buf, 0, HMMSIM_INFO_SIZE_VER0);
	memset(buf + HMMSIM_INFO_SIZE_VER0, 0xa5, 64);
	inf->size = HMMSIM_INFO_SIZE_VER0;
	ASSERT_EQ(0, xioctl(self->fd, HMMSIM_IOCTL_INFO, buf));
	EXPECT_EQ(HMMSIM_ABI_VERSION, inf->abi_version);
	for (i = HMMSIM_INFO_SIZE_VER0; i < sizeof(buf); i++)
		ASSERT_EQ(0xa5, buf[i]);
}

TEST_F(dev, info_smaller_than_version0_is_einval)
{
	struct hmmsim_info inf = { 0 };

	inf.size = HMMSIM_INFO_SIZE_VER0 - 8;
	EXPECT_EQ(-EINVAL, xioctl(self->fd, HMMSIM_IOCTL_INFO, &inf));
	inf.size = 0;
	EXPECT_EQ(-EINVAL, xioctl(self->fd, HMMSIM_IOCTL_INFO, &inf));
	/* Nothing was written back. */
	EXPECT_EQ(0, inf.abi_version);
}

/* A caller built against a newer ABI: unknown fields must be zero. */
struct info_newer {
	struct hmmsim_info inf;
	__u64 newer[4];
};

TEST_F(dev, info_newer_caller_with_zero_tail_works)
{
	struct info_newer big;

	memset(&big, 0, sizeof(big));
	big.inf.size = sizeof(big);
	ASSERT_EQ(0, xioctl(self->fd, HMMSIM_IOCTL_INFO, &big));
	EXPECT_EQ(HMMSIM_ABI_VERSION, big.inf.abi_version);
	EXPECT_EQ(0, big.newer[0] | big.newer[1] | big.newer[2] | big.newer[3]);
}

TEST_F(dev, info_newer_caller_with_nonzero_tail_is_e2big)
{
	struct info_newer big;

	memset(&big, 0, sizeof(big));
	big.inf.size = sizeof(big);
	big.newer[3] = 1;
	EXPECT_EQ(-E2BIG, xioctl(self->fd, HMMSIM_IOCTL_INFO, &big));
	EXPECT_EQ(0, big.inf.abi_version);
}

TEST_F(dev, info_absurd_size_is_e2big)
{
	char *buf = calloc(1, 1 << 20);
	struct hmmsim_info *inf = (struct hmmsim_info *)buf;

	ASSERT_NE(NULL, buf);
	inf->size = 1 << 20;
	EXPECT_EQ(-E2BIG, xioctl(self->fd, HMMSIM_IOCTL_INFO, buf));
	inf->size = UINT32_MAX;
	EXPECT_EQ(-E2BIG, xioctl(self->fd, HMMSIM_IOCTL_INFO, buf));
	free(buf);
}

TEST_F(dev, info_nonzero_flags_is_einval)
{
	struct hmmsim_info inf = { .size = sizeof(inf), .flags = 1 };

	EXPECT_EQ(-EINVAL, xioctl(self->fd, HMMSIM_IOCTL_INFO, &inf));
	inf.flags = 0x80000000;
	EXPECT_EQ(-EINVAL, xioctl(self->fd, HMMSIM_IOCTL_INFO, &inf));
}

TEST_F(dev, info_nonzero_reserved_is_einval)
{
	struct hmmsim_info inf0 = { .size = sizeof(inf0) };

	for (size_t i = 0; i < ARRAY_SIZE(inf0.reserved); i++) {
		struct hmmsim_info inf = { .size = sizeof(inf) };

		inf.reserved[i] = 1ULL << (i * 16);
		EXPECT_EQ(-EINVAL, xioctl(self->fd, HMMSIM_IOCTL_INFO, &inf));
	}
	/* @caps is an output: a caller passes zero. */
	inf0.caps = HMMSIM_CAP_THP;
	EXPECT_EQ(-EINVAL, xioctl(self->fd, HMMSIM_IOCTL_INFO, &inf0));
}

/* Output fields are outputs: what the caller puts there does not matter. */
TEST_F(dev, info_ignores_output_fields_on_input)
{
	struct hmmsim_info inf = { .size = sizeof(inf) };

	inf.abi_version = 77;
	inf.capacity = 1;
	inf.id = 1234;
	ASSERT_EQ(0, xioctl(self->fd, HMMSIM_IOCTL_INFO, &inf));
	EXPECT_EQ(HMMSIM_ABI_VERSION, inf.abi_version);
	EXPECT_EQ(0, inf.id);
	EXPECT_NE(1, inf.capacity);
}

TEST_F(dev, info_bad_pointers_are_efault)
{
	size_t ps = page_size;
	struct hmmsim_info *inf;
	char *map;

	EXPECT_EQ(-EFAULT, xioctl(self->fd, HMMSIM_IOCTL_INFO, NULL));
	EXPECT_EQ(-EFAULT, xioctl(self->fd, HMMSIM_IOCTL_INFO, (void *)1));
	EXPECT_EQ(-EFAULT, xioctl(self->fd, HMMSIM_IOCTL_INFO,
				  (void *)0xffffffff81000000UL));
	EXPECT_EQ(-EFAULT, xioctl(self->fd, HMMSIM_IOCTL_INFO,
				  (void *)0x8000000000000000UL));

	map = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, map);

	/* Straddling into an unmapped page. */
	ASSERT_EQ(0, munmap(map + ps, ps));
	inf = (struct hmmsim_info *)(map + ps - 16);
	memset(inf, 0, 16);
	inf->size = sizeof(*inf);
	EXPECT_EQ(-EFAULT, xioctl(self->fd, HMMSIM_IOCTL_INFO, inf));

	/* Readable but not writable: the answer cannot be delivered. */
	inf = (struct hmmsim_info *)map;
	memset(inf, 0, sizeof(*inf));
	inf->size = sizeof(*inf);
	ASSERT_EQ(0, mprotect(map, ps, PROT_READ));
	EXPECT_EQ(-EFAULT, xioctl(self->fd, HMMSIM_IOCTL_INFO, inf));

	/* Entirely unmapped. */
	ASSERT_EQ(0, munmap(map, ps));
	EXPECT_EQ(-EFAULT, xioctl(self->fd, HMMSIM_IOCTL_INFO, map));
}

TEST_F(dev, unknown_commands_are_enotty)
{
	struct hmmsim_info inf = { .size = sizeof(inf) };

	/* Free numbers in hmmsim's range and at the end of the core range. */
	EXPECT_EQ(-ENOTTY, xioctl(self->fd, _IOWR('H', 0x7f, struct hmmsim_info), &inf));
	EXPECT_EQ(-ENOTTY, xioctl(self->fd, _IOWR('H', 0xfe, struct hmmsim_info), &inf));
	EXPECT_EQ(-ENOTTY, xioctl(self->fd, _IOWR('H', 0x3f, struct hmmsim_info), &inf));
	EXPECT_EQ(-ENOTTY, xioctl(self->fd, _IOWR('H', 0xff, struct hmmsim_info), &inf));
	/* INFO's number with another type or direction. */
	EXPECT_EQ(-ENOTTY, xioctl(self->fd, _IOWR('X', 0x40, struct hmmsim_info), &inf));
	EXPECT_EQ(-ENOTTY, xioctl(self->fd, _IOR('H', 0x40, struct hmmsim_info), &inf));
	EXPECT_EQ(-ENOTTY, xioctl(self->fd, _IOW('H', 0x40, struct hmmsim_info), &inf));
	EXPECT_EQ(-ENOTTY, xioctl(self->fd, _IO('H', 0x40), &inf));
	/* And the file still works. */
	EXPECT_EQ(0, info(self->fd, &inf));
}

/* INFO with a different encoded size is still INFO (see uapi/hmmsim.h). */
TEST_F(dev, info_matches_on_number_not_encoded_size)
{
	struct hmmsim_info inf = { .size = sizeof(inf) };

	EXPECT_EQ(0, xioctl(self->fd, _IOWR('H', 0x40, __u64[20]), &inf));
	EXPECT_EQ(HMMSIM_ABI_VERSION, inf.abi_version);
}

/* Run fn in a forked child; return its exit status. */
static int in_child(int (*fn)(int fd), int fd)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(fn(fd));
	return wait_child(pid);
}

static int child_expects_eperm(int fd)
{
	struct hmmsim_info inf;

	/* Any command, known or not, from a foreign mm. */
	if (info(fd, &inf) != -EPERM)
		return 1;
	if (xioctl(fd, _IOWR('H', 0x7f, struct hmmsim_info), &inf) != -EPERM)
		return 2;
	/* Closing the inherited file is allowed. */
	return close(fd) ? 3 : 0;
}

TEST_F(dev, forked_child_gets_eperm)
{
	struct hmmsim_info inf;

	EXPECT_EQ(0, in_child(child_expects_eperm, self->fd));
	/* The parent's file is unaffected. */
	EXPECT_EQ(0, info(self->fd, &inf));
}

static int child_opens_its_own(int fd)
{
	struct hmmsim_info inf;
	int own = open_dev(0);

	(void)fd;
	if (own < 0)
		return 1;
	if (info(own, &inf))
		return 2;
	return close(own) ? 3 : 0;
}

TEST_F(dev, forked_child_can_open_its_own)
{
	EXPECT_EQ(0, in_child(child_opens_its_own, self->fd));
}

/*
 * The opener exits while another process still holds the file: the file
 * serves nobody, and the last close drops the binding cleanly (a
 * use-after-free here would show up in KASAN).
 */
TEST(file_outlives_opener)
{
	pid_t me = getpid(), opener, holder;
	int status, result = -1, pipefd[2];

	/* The holder is reparented to us when the opener exits. */
	ASSERT_EQ(0, prctl(PR_SET_CHILD_SUBREAPER, 1));
	ASSERT_EQ(0, pipe(pipefd));

	opener = fork();
	ASSERT_GE(opener, 0);
	if (opener == 0) {
		int fd = open_dev(0);

		if (fd < 0)
			_exit(1);
		holder = fork();
		if (holder == 0) {
			time_t end = time(NULL) + 20;
			struct hmmsim_info inf;
			int res = 0;

			/* Reparented once the opener is gone (20 s at most). */
			while (getppid() != me && time(NULL) <= end)
				usleep(1000);	/* not ordering: a poll */
			if (getppid() != me)
				res = 5;
			else if (info(fd, &inf) != -EPERM)
				res = 2;
			else if (close(fd))
				res = 3;
			_exit(write(pipefd[1], &res, sizeof(res)) ==
			      sizeof(res) ? 0 : 4);
		}
		_exit(holder < 0);
	}
	ASSERT_EQ(opener, waitpid(opener, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(pipefd[1]);
	ASSERT_EQ(sizeof(result), read(pipefd[0], &result, sizeof(result)));
	EXPECT_EQ(0, result);
	close(pipefd[0]);
	/* Reap the holder. */
	ASSERT_GT(wait(&status), 0);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void *thread_info(void *arg)
{
	struct hmmsim_info inf;

	return (void *)(intptr_t)info(*(int *)arg, &inf);
}

TEST_F(dev, thread_of_the_opener_is_served)
{
	pthread_t t;
	void *ret;

	ASSERT_EQ(0, pthread_create(&t, NULL, thread_info, &self->fd));
	ASSERT_EQ(0, pthread_join(t, &ret));
	EXPECT_EQ(0, (intptr_t)ret);
}

TEST_HARNESS_MAIN
