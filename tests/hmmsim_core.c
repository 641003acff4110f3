// SPDX-License-Identifier: GPL-2.0
/*
 * hmmsim core tests: the commands hmmsim shares with the kernel's lib/test_hmm
 * (READ, WRITE, MIGRATE_TO_DEV, MIGRATE_TO_SYS, SNAPSHOT, EXCLUSIVE,
 * CHECK_EXCLUSIVE, RELEASE, FLAGS) on every kind of mapping, and every kind
 * of bad input they must refuse.
 *
 * Only devices with private memory (INFO type HMMSIM_MEM_PRIVATE) are used:
 * the fixture opens the first two it finds, and the tests that need two SKIP
 * when there is only one.
 *
 * Data is checked int by int against a pattern derived from the page index
 * and a per-test seed, so that a page that is lost, stale, or copied to the
 * wrong place shows up. Every command goes in with garbage in cpages and
 * faults, which are outputs only.
 *
 * Small buffers are marked MADV_NOHUGEPAGE so that snapshot codes and fault
 * counts do not depend on the THP mode (always or madvise); THP is exercised
 * on purpose by the tests with "thp" in their name and by the 16 MiB range.
 *
 * Each test runs in its own process (the harness forks), so buffers that a
 * test leaves mapped or allocated go away with it.
 *
 * The devices are /dev/$HMMSIM_DEVNAME<N> (default hmmsim), N from 0.
 */
#include <pthread.h>

#include "kselftest_harness.h"
#include "hmmsim_test.h"

#define LOCAL_READ	(HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | HMM_DMIRROR_PROT_READ)
#define ZERO_READ	(HMM_DMIRROR_PROT_ZERO | HMM_DMIRROR_PROT_READ)

/* --------------------------------------------------------- the commands */

static const struct {
	unsigned long request;
	const char *name;
	bool range;		/* takes a range of pages (all but FLAGS) */
} core_cmds[] = {
	{ HMM_DMIRROR_READ,		"READ",			true },
	{ HMM_DMIRROR_WRITE,		"WRITE",		true },
	{ HMM_DMIRROR_MIGRATE_TO_DEV,	"MIGRATE_TO_DEV",	true },
	{ HMM_DMIRROR_MIGRATE_TO_SYS,	"MIGRATE_TO_SYS",	true },
	{ HMM_DMIRROR_SNAPSHOT,		"SNAPSHOT",		true },
	{ HMM_DMIRROR_EXCLUSIVE,	"EXCLUSIVE",		true },
	{ HMM_DMIRROR_CHECK_EXCLUSIVE,	"CHECK_EXCLUSIVE",	true },
	{ HMM_DMIRROR_RELEASE,		"RELEASE",		true },
	{ HMM_DMIRROR_FLAGS,		"FLAGS",		false },
};

/*
 * A file in /tmp, deleted on close, of @npages pages of the pattern of @seed,
 * mapped (@prot, @flags): the mapping, with the file in *@file and a data
 * buffer as large in *@ptr.
 */
#define PATTERN_FILE(npages, prot, flags, seed, file, ptr) \
	map_file(_metadata, npages, prot, flags, seed, file, ptr)

static char *map_file(struct __test_metadata *_metadata, unsigned long npages,
		      int prot, int flags, unsigned int seed, int *file,
		      char **ptr)
{
	size_t len = npages * page_size;
	char *buf;

	*file = open("/tmp", O_TMPFILE | O_EXCL | O_RDWR, 0600);
	*ptr = malloc(len);
	ASSERT_GE(*file, 0);
	ASSERT_NE(NULL, *ptr);
	fill_pattern(*ptr, 0, npages, seed);
	ASSERT_EQ(len, pwrite(*file, *ptr, len, 0));
	buf = mmap(NULL, len, prot, flags, *file, 0);
	ASSERT_NE(MAP_FAILED, buf);
	return buf;
}

/* ------------------------------------------------------------ fixture */

FIXTURE(core)
{
	int fd;			/* the first private device */
	int fd2;		/* the second one, or -1 */
	unsigned int id;	/* N of the first one's /dev/<devname>N */
};

FIXTURE_SETUP(core)
{
	int fds[2] = { -1, -1 };
	unsigned int id, n = 0, first = 0;

	for (id = 0; n < 2; id++) {
		struct hmmsim_info inf;
		int fd = open_dev(id);

		if (fd < 0)
			break;
		ASSERT_EQ(0, info(fd, &inf));
		if (inf.type == HMMSIM_MEM_PRIVATE) {
			if (!n)
				first = id;
			fds[n++] = fd;
		} else {
			close(fd);
		}
	}
	ASSERT_NE(0, id)
		TH_LOG("cannot open device 0: %s (is hmmsim loaded?)",
		       strerror(errno));
	if (!n)
		SETUP_SKIP("no device with private memory");
	self->fd = fds[0];
	self->fd2 = fds[1];
	self->id = first;
}

FIXTURE_TEARDOWN(core)
{
	close(self->fd);
	if (self->fd2 >= 0)
		close(self->fd2);
}

/* ---------------------------------------------------------- bad input */

/*
 * A bystander for the bad input tests: four pages of the pattern, the last
 * one on the device, and a data buffer with other contents. A command that
 * does anything with a bad range that overlaps it shows here.
 */
struct bystander {
	int fd;
	char *buf;
	char *ptr;
	unsigned int seed;
};

static void bystander_setup(struct __test_metadata *_metadata, int fd,
			    struct bystander *b)
{
	b->fd = fd;
	b->seed = SMALL_BUFFERS(&b->buf, &b->ptr, 4);
	MIGRATE_OK(fd, b->buf + 3 * page_size, b->ptr, 1);
	fill_pattern(b->ptr, 0, 4, b->seed + 1);
}

static void bystander_check(struct __test_metadata *_metadata, int fd,
			    struct bystander *b)
{
	unsigned char m[4];

	/* No READ or SNAPSHOT wrote the data buffer... */
	ASSERT_PATTERN(b->ptr, 0, 4, b->seed + 1);
	/* ...nothing moved or took exclusive access... */
	SNAPSHOT(fd, b->buf, m, 4);
	ASSERT_PROT(m, 0, 3, HMM_DMIRROR_PROT_WRITE);
	ASSERT_PROT(m, 3, 4, PRIV_LOCAL);
	/* ...and no WRITE wrote the memory. */
	ASSERT_PATTERN(b->buf, 0, 4, b->seed);
}

/* Every command that takes a range refuses [addr, +npages) with -EINVAL. */
#define ASSERT_EINVAL_ALL(fd, addr, ptr, npages) \
	assert_einval_all(_metadata, __LINE__, fd, addr, ptr, npages)

static void assert_einval_all(struct __test_metadata *_metadata, int line,
			      int fd, __u64 addr, __u64 ptr, __u64 npages)
{
	struct hmm_dmirror_cmd cmd;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(core_cmds); i++) {
		if (!core_cmds[i].range)
			continue;
		ASSERT_EQ(-EINVAL, dmirror_raw(fd, core_cmds[i].request, addr,
					       ptr, npages, &cmd)) {
			TH_LOG("line %d: %s addr %#llx npages %#llx", line,
			       core_cmds[i].name, (unsigned long long)addr,
			       (unsigned long long)npages);
		}
	}
}

/* ASSERT_EINVAL_ALL() through the bystander's device, with its buffer */
#define ASSERT_EINVAL_BY(b, addr, npages) \
	assert_einval_by(_metadata, __LINE__, b, addr, npages)

static void assert_einval_by(struct __test_metadata *_metadata, int line,
			     const struct bystander *b, __u64 addr,
			     __u64 npages)
{
	assert_einval_all(_metadata, line, b->fd, addr, (unsigned long)b->ptr,
			  npages);
}

TEST_F(core, zero_npages_is_einval)
{
	struct bystander b;

	bystander_setup(_metadata, self->fd, &b);
	ASSERT_EINVAL_BY(&b, (unsigned long)b.buf, 0);
	ASSERT_EINVAL_BY(&b, (unsigned long)b.buf + 3 * page_size, 0);
	ASSERT_EINVAL_ALL(self->fd, 0, 0, 0);
	bystander_check(_metadata, self->fd, &b);
}

TEST_F(core, unaligned_addr_is_einval)
{
	unsigned long offsets[] = { 1, 8, page_size / 2, page_size - 1 };
	struct bystander b;
	size_t i;

	bystander_setup(_metadata, self->fd, &b);
	for (i = 0; i < ARRAY_SIZE(offsets); i++) {
		unsigned long addr = (unsigned long)b.buf + offsets[i];

		ASSERT_EINVAL_BY(&b, addr, 1);
		ASSERT_EINVAL_BY(&b, addr, 3);
		/* Ending on the page on the device. */
		ASSERT_EINVAL_BY(&b, addr + 2 * page_size, 1);
	}
	bystander_check(_metadata, self->fd, &b);
}

/* npages * page_size or addr + that wraps around. */
TEST_F(core, range_overflow_is_einval)
{
	struct bystander b;
	unsigned long addr;
	__u64 npages[5];
	size_t i;

	bystander_setup(_metadata, self->fd, &b);
	addr = (unsigned long)b.buf;
	npages[0] = 1ULL << 52;				/* size 0 with 4K pages */
	npages[1] = 1ULL << (64 - page_shift);		/* size 0 */
	npages[2] = (1ULL << (64 - page_shift)) - 1;	/* end = addr - page */
	npages[3] = ~0ULL;
	npages[4] = ((0ULL - addr) >> page_shift) + 1;	/* end wraps to a page */
	for (i = 0; i < ARRAY_SIZE(npages); i++)
		ASSERT_EINVAL_BY(&b, addr, npages[i]);
	ASSERT_EINVAL_BY(&b, 0xfffffffffffff000ULL, 2);
	bystander_check(_metadata, self->fd, &b);
}

TEST_F(core, kernel_addresses_are_einval)
{
	static const __u64 addrs[] = {
		0xffff888000000000ULL,	/* the direct map */
		0xffffffff81000000ULL,	/* kernel text */
		0xfffffffffffff000ULL,	/* the last page */
	};
	struct bystander b;
	size_t i;

	bystander_setup(_metadata, self->fd, &b);
	for (i = 0; i < ARRAY_SIZE(addrs); i++) {
		ASSERT_EINVAL_BY(&b, addrs[i], 1);
		if (addrs[i] != 0xfffffffffffff000ULL)
			ASSERT_EINVAL_BY(&b, addrs[i], 4);
	}
	bystander_check(_metadata, self->fd, &b);
}

TEST_F(core, noncanonical_addresses_are_einval)
{
	unsigned long end = user_va_end();
	struct bystander b;

	bystander_setup(_metadata, self->fd, &b);
	/* The first address past user space is non-canonical in both modes. */
	ASSERT_EINVAL_BY(&b, end, 1);
	ASSERT_EINVAL_BY(&b, 0x8000000000000000ULL, 1);
	if (end == 1UL << 47)
		ASSERT_EINVAL_BY(&b, 0x0000800000000000ULL, 1);
	else
		TH_LOG("5-level paging: 0x0000800000000000 is a user address");
	bystander_check(_metadata, self->fd, &b);
}

/* Ranges that start in user space and end past its last page. */
TEST_F(core, range_past_user_space_is_einval)
{
	unsigned long end = user_va_end();
	struct bystander b;

	bystander_setup(_metadata, self->fd, &b);
	/* The guard page below the end of user space, which is not user's. */
	ASSERT_EINVAL_BY(&b, end - page_size, 1);
	/* The last user page and the guard page. */
	ASSERT_EINVAL_BY(&b, end - 2 * page_size, 2);
	/* From the bystander to the end of user space. */
	ASSERT_EINVAL_BY(&b, (unsigned long)b.buf,
			 (end - (unsigned long)b.buf) >> page_shift);
	/* 2^57 bytes: past the end of user space with 4 or 5 levels. */
	ASSERT_EINVAL_BY(&b, (unsigned long)b.buf, 1ULL << (57 - page_shift));
	bystander_check(_metadata, self->fd, &b);
}

/* The highest page a process can map is a valid range; one more is not. */
TEST_F(core, range_ending_at_end_of_user_space_is_valid)
{
	unsigned int seed = test_seed(_metadata->name);
	unsigned long end = user_va_end();
	char *top, *ptr = malloc(page_size);

	ASSERT_NE(NULL, ptr);
	top = mmap((void *)(end - 2 * page_size), page_size,
		   PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (top == MAP_FAILED)
		SKIP(return, "cannot map the last user page: %s",
		     strerror(errno));
	fill_pattern(top, 0, 1, seed);
	READ_PATTERN(self->fd, top, ptr, 0, 1, seed);
	SNAPSHOT_PROT(self->fd, top, 1, HMM_DMIRROR_PROT_WRITE);
	ASSERT_EINVAL_ALL(self->fd, (unsigned long)top, (unsigned long)ptr, 2);
	ASSERT_PATTERN(top, 0, 1, seed);
}

/* cpages and faults are outputs: their input values change nothing. */
TEST_F(core, cpages_and_faults_inputs_are_ignored)
{
	static const __u64 junk[] = { 0, 1, 5, ~0ULL, 1ULL << 63 };
	const unsigned long npages = 8;
	char *buf, *ptr;
	unsigned int seed = SMALL_BUFFERS(&buf, &ptr, npages);
	struct hmm_dmirror_cmd cmd;
	unsigned char m[8];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(junk); i++) {
		memset(&cmd, 0, sizeof(cmd));
		cmd.addr = (unsigned long)buf;
		cmd.ptr = (unsigned long)ptr;
		cmd.npages = npages;
		cmd.cpages = junk[i];
		cmd.faults = junk[ARRAY_SIZE(junk) - 1 - i];
		ASSERT_EQ(0, xioctl(self->fd, HMM_DMIRROR_READ, &cmd));
		ASSERT_EQ(npages, cmd.cpages);
		/* The first READ faults the range in, the others do not. */
		ASSERT_EQ(i ? 0 : 1, cmd.faults);
		ASSERT_PATTERN(ptr, 0, npages, seed);

		cmd.addr = (unsigned long)buf;
		cmd.ptr = (unsigned long)m;
		cmd.npages = npages;
		cmd.cpages = junk[i];
		cmd.faults = junk[i];
		ASSERT_EQ(0, xioctl(self->fd, HMM_DMIRROR_SNAPSHOT, &cmd));
		ASSERT_EQ(npages, cmd.cpages);
		ASSERT_PROT(m, 0, npages, HMM_DMIRROR_PROT_WRITE);
	}
}

TEST_F(core, flags_unknown_bits_are_einval)
{
	static const __u64 bad[] = {
		1ULL << 1, 1ULL << 2, 1ULL << 31, 1ULL << 32, 1ULL << 63,
		HMM_DMIRROR_FLAG_FAIL_ALLOC | (1ULL << 1), ~0ULL,
	};
	char *buf, *ptr;
	unsigned int seed = SMALL_BUFFERS(&buf, &ptr, 4);
	struct hmm_dmirror_cmd cmd;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		ASSERT_EQ(-EINVAL, dmirror_raw(self->fd, HMM_DMIRROR_FLAGS, 0,
					       0, bad[i], &cmd))
			TH_LOG("flags %#llx", (unsigned long long)bad[i]);
	}
	/* None of them armed FAIL_ALLOC on the way. */
	MIGRATE_PATTERN(self->fd, buf, ptr, 0, 4, seed);
}

/* The device's count of failed allocations (hmmsim_pressure tests it). */
static __u64 alloc_failures(int fd)
{
	struct hmmsim_stats st;

	return get_stats(fd, &st) ? ~0ULL : st.alloc_failures;
}

TEST_F(core, flags_ignore_addr_and_ptr)
{
	char *buf, *ptr;
	unsigned int seed = SMALL_BUFFERS(&buf, &ptr, 4);
	struct hmm_dmirror_cmd cmd;
	__u64 fails;

	ASSERT_EQ(0, dmirror_raw(self->fd, HMM_DMIRROR_FLAGS,
				 0xffff888000000001ULL, 1, 0, &cmd));
	ASSERT_EQ(0, dmirror_raw(self->fd, HMM_DMIRROR_FLAGS, 1, ~0ULL,
				 HMM_DMIRROR_FLAG_FAIL_ALLOC, &cmd));
	/* The flag took effect, once: one failed attempt, then fallback. */
	fails = alloc_failures(self->fd);
	MIGRATE_PATTERN(self->fd, buf, ptr, 0, 4, seed);
	ASSERT_EQ(fails + 1, alloc_failures(self->fd));
	MIGRATE_OK(self->fd, buf, ptr, 4);
	ASSERT_EQ(fails + 1, alloc_failures(self->fd));
}

/* Free numbers of the core range, with the core's argument. */
TEST_F(core, unknown_core_numbers_are_enotty)
{
	static const unsigned int nrs[] = { 0x09, 0x0a, 0x10, 0x20, 0x3f };
	char *buf = map_small(1, PROT_READ | PROT_WRITE);
	char ptr[64];
	struct hmm_dmirror_cmd cmd;
	size_t i;

	ASSERT_NE(MAP_FAILED, buf);
	for (i = 0; i < ARRAY_SIZE(nrs); i++) {
		unsigned long request = _IOWR('H', nrs[i],
					      struct hmm_dmirror_cmd);

		ASSERT_EQ(-ENOTTY, dmirror(self->fd, request, buf, ptr, 1,
					   &cmd))
			TH_LOG("command number %#x", nrs[i]);
	}
	/* And the file still works. */
	DMIRROR_RET(0, self->fd, HMM_DMIRROR_SNAPSHOT, buf, ptr, 1);
}

/* The command structure itself cannot be read. */
TEST_F(core, bad_cmd_pointer_is_efault)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(core_cmds); i++) {
		ASSERT_EQ(-EFAULT, xioctl(self->fd, core_cmds[i].request, NULL))
			TH_LOG("%s", core_cmds[i].name);
		ASSERT_EQ(-EFAULT, xioctl(self->fd, core_cmds[i].request,
					  (void *)0xffff888000000000UL))
			TH_LOG("%s", core_cmds[i].name);
	}
}

/* A data buffer that cannot be read or written as the command needs. */
TEST_F(core, bad_data_pointer_is_efault)
{
	unsigned int seed = test_seed(_metadata->name);
	const unsigned long npages = 8;
	char *buf = map_small(npages, PROT_READ | PROT_WRITE);
	char *ro = map_small(npages, PROT_READ | PROT_WRITE);
	char *short_buf = map_small(npages, PROT_READ | PROT_WRITE);

	ASSERT_NE(MAP_FAILED, buf);
	ASSERT_NE(MAP_FAILED, ro);
	ASSERT_NE(MAP_FAILED, short_buf);
	fill_pattern(buf, 0, npages, seed);
	memset(ro, UNTOUCHED, npages * page_size);
	ASSERT_EQ(0, mprotect(ro, npages * page_size, PROT_READ));
	fill_pattern(short_buf, 0, npages, seed + 1);
	ASSERT_EQ(0, munmap(short_buf + (npages - 1) * page_size, page_size));

	DMIRROR_RET(-EFAULT, self->fd, HMM_DMIRROR_READ, buf, NULL, npages);
	DMIRROR_RET(-EFAULT, self->fd, HMM_DMIRROR_READ, buf, ro, npages);
	ASSERT_BYTES(ro, npages * page_size, UNTOUCHED);
	DMIRROR_RET(-EFAULT, self->fd, HMM_DMIRROR_READ, buf, short_buf,
		    npages);
	DMIRROR_RET(-EFAULT, self->fd, HMM_DMIRROR_SNAPSHOT, buf, NULL, npages);
	DMIRROR_RET(-EFAULT, self->fd, HMM_DMIRROR_SNAPSHOT, buf, ro, npages);
	ASSERT_BYTES(ro, npages * page_size, UNTOUCHED);

	DMIRROR_RET(-EFAULT, self->fd, HMM_DMIRROR_WRITE, buf, NULL, npages);
	ASSERT_PATTERN(buf, 0, npages, seed);
	DMIRROR_RET(-EFAULT, self->fd, HMM_DMIRROR_WRITE, buf, short_buf,
		    npages);

	/* These change where the pages are, never what they hold. */
	DMIRROR_RET(-EFAULT, self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, buf, NULL,
		    npages);
	ASSERT_PATTERN(buf, 0, npages, seed);
	DMIRROR_RET(-EFAULT, self->fd, HMM_DMIRROR_EXCLUSIVE, buf, NULL,
		    npages);
	ASSERT_PATTERN(buf, 0, npages, seed);
}

/* A range with nothing mapped at all. */
TEST_F(core, unmapped_range_errors)
{
	const unsigned long npages = 8;
	char *buf, *ptr;

	SMALL_BUFFERS(&buf, &ptr, npages);
	memset(ptr, UNTOUCHED, npages * page_size);
	/* Nothing below allocates memory, so the hole stays a hole. */
	ASSERT_EQ(0, munmap(buf, npages * page_size));

	DMIRROR_RET(-EFAULT, self->fd, HMM_DMIRROR_READ, buf, ptr, npages);
	ASSERT_BYTES(ptr, npages * page_size, UNTOUCHED);
	DMIRROR_RET(-EFAULT, self->fd, HMM_DMIRROR_WRITE, buf, ptr, npages);
	DMIRROR_RET(-EINVAL, self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, buf, ptr,
		    npages);
	DMIRROR_RET(-EINVAL, self->fd, HMM_DMIRROR_MIGRATE_TO_SYS, buf, ptr,
		    npages);
	SNAPSHOT_PROT(self->fd, buf, npages, HMM_DMIRROR_PROT_ERROR);
}

/* A forked child has another mm: the parent's file refuses it everything. */
static int child_tries_core_commands(int fd, char *buf, char *ptr)
{
	struct hmm_dmirror_cmd cmd;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(core_cmds); i++)
		if (dmirror(fd, core_cmds[i].request, buf, ptr,
			    core_cmds[i].range ? 1 : 0, &cmd) != -EPERM)
			return 1 + i;
	return 0;
}

TEST_F(core, forked_child_gets_eperm_for_core_commands)
{
	char *buf, *ptr;
	unsigned int seed = SMALL_BUFFERS(&buf, &ptr, 1);
	pid_t pid;
	int ret;

	fill_pattern(ptr, 0, 1, seed + 1);
	pid = fork();
	if (pid == 0)
		_exit(child_tries_core_commands(self->fd, buf, ptr));
	ret = wait_child(pid);
	ASSERT_EQ(0, ret) {
		if (ret > 0)
			TH_LOG("%s did not fail with -EPERM",
			       core_cmds[ret - 1].name);
	}
	/*
	 * The child's attempts did nothing to the parent's memory: the page
	 * is where it was, read-only since fork() made it copy-on-write.
	 */
	SNAPSHOT_PROT(self->fd, buf, 1, HMM_DMIRROR_PROT_READ);
	ASSERT_PATTERN(buf, 0, 1, seed);
}

/* ---------------------------------------------------------------- READ */

TEST_F(core, read_faults_once_then_not)
{
	unsigned int seed = test_seed(_metadata->name);
	const unsigned long npages = 16;
	char *buf = map_small(npages, PROT_READ | PROT_WRITE);
	char *ptr = malloc(npages * page_size);
	struct hmm_dmirror_cmd cmd;
	int pass;

	ASSERT_MAPPED(buf, ptr);
	/* Page 0 stays untouched, page 1 maps the zero page, the rest data. */
	ASSERT_EQ(0, cpu_read(buf + page_size));
	fill_pattern(buf + 2 * page_size, 2, npages - 2, seed);

	for (pass = 0; pass < 2; pass++) {
		memset(ptr, UNTOUCHED, npages * page_size);
		DMIRROR_OK(self->fd, HMM_DMIRROR_READ, buf, ptr, npages, &cmd);
		ASSERT_EQ(pass ? 0 : 1, cmd.faults);
		ASSERT_BYTES(ptr, 2 * page_size, 0);
		ASSERT_PATTERN(ptr + 2 * page_size, 2, npages - 2, seed);
	}
}

TEST_F(core, read_never_touched_anon_is_zero)
{
	const unsigned long npages = 32;
	char *buf = map_small(npages, PROT_READ | PROT_WRITE);
	char *ptr = malloc(npages * page_size);
	struct hmm_dmirror_cmd cmd;

	ASSERT_MAPPED(buf, ptr);
	memset(ptr, UNTOUCHED, npages * page_size);
	DMIRROR_OK(self->fd, HMM_DMIRROR_READ, buf, ptr, npages, &cmd);
	ASSERT_EQ(1, cmd.faults);
	ASSERT_BYTES(ptr, npages * page_size, 0);
	/* The device's read fault mapped the zero page. */
	SNAPSHOT_PROT(self->fd, buf, npages, ZERO_READ);
}

TEST_F(core, read_partial_ranges)
{
	const unsigned long npages = 32;
	char *buf, *ptr;
	unsigned int seed = SMALL_BUFFERS(&buf, &ptr, npages);
	struct hmm_dmirror_cmd cmd;

	/* The middle: exactly 16 pages come back, no more. */
	memset(ptr, UNTOUCHED, npages * page_size);
	DMIRROR_OK(self->fd, HMM_DMIRROR_READ, buf + 8 * page_size, ptr, 16,
		   &cmd);
	ASSERT_EQ(1, cmd.faults);
	ASSERT_PATTERN(ptr, 8, 16, seed);
	ASSERT_BYTES(ptr + 16 * page_size, 16 * page_size, UNTOUCHED);

	/* The first page. */
	memset(ptr, UNTOUCHED, npages * page_size);
	READ_PATTERN(self->fd, buf, ptr, 0, 1, seed);
	ASSERT_BYTES(ptr + page_size, (npages - 1) * page_size, UNTOUCHED);

	/* The last page. */
	memset(ptr, UNTOUCHED, npages * page_size);
	READ_PATTERN(self->fd, buf + (npages - 1) * page_size, ptr, npages - 1,
		     1, seed);
	ASSERT_BYTES(ptr + page_size, (npages - 1) * page_size, UNTOUCHED);
}

TEST_F(core, read_prot_none_is_efault)
{
	const unsigned long npages = 16;
	char *buf, *ptr;
	unsigned int seed = SMALL_BUFFERS(&buf, &ptr, npages);

	memset(ptr, UNTOUCHED, npages * page_size);
	ASSERT_EQ(0, mprotect(buf, npages * page_size, PROT_NONE));

	DMIRROR_RET(-EFAULT, self->fd, HMM_DMIRROR_READ, buf, ptr, npages);
	DMIRROR_RET(-EFAULT, self->fd, HMM_DMIRROR_READ, buf + 5 * page_size,
		    ptr, 1);
	ASSERT_BYTES(ptr, npages * page_size, UNTOUCHED);

	ASSERT_EQ(0, mprotect(buf, npages * page_size, PROT_READ));
	ASSERT_PATTERN(buf, 0, npages, seed);
}

/* [data][hole][data]: the hole fails the READ, each side alone works. */
TEST_F(core, read_hole_is_efault)
{
	const unsigned long npages = 16;
	char *buf, *ptr;
	unsigned int seed = SMALL_BUFFERS(&buf, &ptr, npages);

	memset(ptr, UNTOUCHED, npages * page_size);
	ASSERT_EQ(0, munmap(buf + 7 * page_size, 2 * page_size));

	DMIRROR_RET(-EFAULT, self->fd, HMM_DMIRROR_READ, buf, ptr, npages);
	DMIRROR_RET(-EFAULT, self->fd, HMM_DMIRROR_READ, buf + 6 * page_size,
		    ptr, 2);
	memset(ptr, UNTOUCHED, npages * page_size);
	DMIRROR_RET(-EFAULT, self->fd, HMM_DMIRROR_READ, buf + 7 * page_size,
		    ptr, 3);
	ASSERT_BYTES(ptr, npages * page_size, UNTOUCHED);

	READ_PATTERN(self->fd, buf, ptr, 0, 7, seed);
	READ_PATTERN(self->fd, buf + 9 * page_size, ptr, 9, npages - 9, seed);
}

/* One mmap, the tail made read-only: two VMAs, one READ across both. */
TEST_F(core, read_across_rw_and_ro_vmas)
{
	const unsigned long npages = 64, split = 37;
	char *buf, *ptr;
	unsigned int seed = SMALL_BUFFERS(&buf, &ptr, npages);
	struct hmm_dmirror_cmd cmd;
	unsigned char m[64];

	ASSERT_EQ(0, mprotect(buf + split * page_size,
			      (npages - split) * page_size, PROT_READ));

	DMIRROR_OK(self->fd, HMM_DMIRROR_READ, buf, ptr, npages, &cmd);
	ASSERT_EQ(1, cmd.faults);
	ASSERT_PATTERN(ptr, 0, npages, seed);
	SNAPSHOT(self->fd, buf, m, npages);
	ASSERT_PROT(m, 0, split, HMM_DMIRROR_PROT_WRITE);
	ASSERT_PROT(m, split, npages, HMM_DMIRROR_PROT_READ);
}

/* Reads race with munmap() of half the buffer: right data or -EFAULT. */
struct unmapper {
	char *addr;
	size_t len;
	unsigned int delay_us;
	int done;
};

static void *unmap_later(void *arg)
{
	struct unmapper *u = arg;

	/* Not ordering: where the munmap() lands among the reads varies. */
	usleep(u->delay_us);
	munmap(u->addr, u->len);
	__atomic_store_n(&u->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

TEST_F_TIMEOUT(core, read_while_unmapping_half, 120)
{
	unsigned int seed = test_seed(_metadata->name);
	const unsigned long npages = 256, half = npages / 2;
	char *ptr = malloc(npages * page_size);
	struct hmm_dmirror_cmd cmd;
	unsigned int round;

	ASSERT_NE(NULL, ptr);
	for (round = 0; round < 8; round++) {
		char *buf = map_small(npages, PROT_READ | PROT_WRITE);
		struct unmapper u = {
			.addr = buf + half * page_size,
			.len = half * page_size,
			.delay_us = (round * 2503) % 20000,
		};
		unsigned long ok = 0, efault = 0;
		pthread_t thread;

		ASSERT_NE(MAP_FAILED, buf);
		fill_pattern(buf, 0, npages, seed + round);
		ASSERT_EQ(0, pthread_create(&thread, NULL, unmap_later, &u));
		for (;;) {
			int done = __atomic_load_n(&u.done, __ATOMIC_ACQUIRE);
			int ret;

			memset(ptr, UNTOUCHED, npages * page_size);
			ret = dmirror(self->fd, HMM_DMIRROR_READ, buf, ptr,
				      npages, &cmd);
			if (ret == 0) {
				ASSERT_EQ(0, done);
				ASSERT_EQ(npages, cmd.cpages);
				ASSERT_PATTERN(ptr, 0, npages, seed + round);
				ok++;
			} else {
				ASSERT_EQ(-EFAULT, ret);
				efault++;
			}
			/* Stop after a READ that began after the munmap(). */
			if (done)
				break;
		}
		ASSERT_EQ(0, pthread_join(thread, NULL));
		ASSERT_NE(0, efault);
		TH_LOG("round %u: %lu reads succeeded, %lu got -EFAULT",
		       round, ok, efault);

		DMIRROR_RET(-EFAULT, self->fd, HMM_DMIRROR_READ, buf, ptr,
			    npages);
		READ_PATTERN(self->fd, buf, ptr, 0, half, seed + round);
		ASSERT_PATTERN(buf, 0, half, seed + round);
		ASSERT_EQ(0, munmap(buf, half * page_size));
	}
}

/* --------------------------------------------------------------- WRITE */

TEST_F(core, write_anon)
{
	unsigned int seed = test_seed(_metadata->name);
	const unsigned long npages = 64;
	char *buf = map_small(npages, PROT_READ | PROT_WRITE);
	char *ptr = malloc(npages * page_size);
	struct hmm_dmirror_cmd cmd;

	ASSERT_MAPPED(buf, ptr);
	fill_pattern(ptr, 0, npages, seed);
	DMIRROR_OK(self->fd, HMM_DMIRROR_WRITE, buf, ptr, npages, &cmd);
	ASSERT_EQ(1, cmd.faults);
	ASSERT_PATTERN(buf, 0, npages, seed);
	SNAPSHOT_PROT(self->fd, buf, npages, HMM_DMIRROR_PROT_WRITE);
}

TEST_F(core, write_partial_ranges)
{
	const unsigned long npages = 32;
	char *buf, *ptr;
	unsigned int seed = SMALL_BUFFERS(&buf, &ptr, npages);

	fill_pattern(ptr, 8, 16, seed + 1);
	DMIRROR_OK(self->fd, HMM_DMIRROR_WRITE, buf + 8 * page_size, ptr, 16,
		   NULL);
	ASSERT_PATTERN(buf, 0, 8, seed);
	ASSERT_PATTERN(buf + 8 * page_size, 8, 16, seed + 1);
	ASSERT_PATTERN(buf + 24 * page_size, 24, 8, seed);

	fill_pattern(ptr, 0, 1, seed + 2);
	DMIRROR_OK(self->fd, HMM_DMIRROR_WRITE, buf, ptr, 1, NULL);
	fill_pattern(ptr, npages - 1, 1, seed + 2);
	DMIRROR_OK(self->fd, HMM_DMIRROR_WRITE, buf + (npages - 1) * page_size,
		   ptr, 1, NULL);

	ASSERT_PATTERN(buf, 0, 1, seed + 2);
	ASSERT_PATTERN(buf + page_size, 1, 7, seed);
	ASSERT_PATTERN(buf + 8 * page_size, 8, 16, seed + 1);
	ASSERT_PATTERN(buf + 24 * page_size, 24, 7, seed);
	ASSERT_PATTERN(buf + (npages - 1) * page_size, npages - 1, 1, seed + 2);
}

TEST_F(core, write_read_only_is_eperm)
{
	unsigned int seed = test_seed(_metadata->name);
	const unsigned long npages = 16;
	char *zero = map_small(npages, PROT_READ);
	char *data = map_small(npages, PROT_READ | PROT_WRITE);
	char *ptr = malloc(npages * page_size);
	struct hmm_dmirror_cmd cmd;

	ASSERT_NE(MAP_FAILED, zero);
	ASSERT_MAPPED(data, ptr);

	/* Never written: the device can read the zero page, not write it. */
	DMIRROR_OK(self->fd, HMM_DMIRROR_READ, zero, ptr, 1, &cmd);
	ASSERT_EQ(1, cmd.faults);
	fill_pattern(ptr, 0, npages, seed);
	DMIRROR_RET(-EPERM, self->fd, HMM_DMIRROR_WRITE, zero, ptr, npages);
	ASSERT_BYTES(zero, npages * page_size, 0);

	/* Once writable, the same WRITE works. */
	ASSERT_EQ(0, mprotect(zero, npages * page_size,
			      PROT_READ | PROT_WRITE));
	DMIRROR_OK(self->fd, HMM_DMIRROR_WRITE, zero, ptr, npages, &cmd);
	ASSERT_EQ(1, cmd.faults);
	ASSERT_PATTERN(zero, 0, npages, seed);

	/* Written by the CPU, then made read-only. */
	fill_pattern(data, 0, npages, seed + 1);
	ASSERT_EQ(0, mprotect(data, npages * page_size, PROT_READ));
	DMIRROR_RET(-EPERM, self->fd, HMM_DMIRROR_WRITE, data, ptr, npages);
	DMIRROR_RET(-EPERM, self->fd, HMM_DMIRROR_WRITE,
		    data + (npages - 1) * page_size, ptr, 1);
	ASSERT_PATTERN(data, 0, npages, seed + 1);
}

TEST_F(core, write_prot_none_is_efault)
{
	const unsigned long npages = 16;
	char *buf, *ptr;
	unsigned int seed = SMALL_BUFFERS(&buf, &ptr, npages);

	fill_pattern(ptr, 0, npages, seed + 1);
	ASSERT_EQ(0, mprotect(buf, npages * page_size, PROT_NONE));
	DMIRROR_RET(-EFAULT, self->fd, HMM_DMIRROR_WRITE, buf, ptr, npages);
	ASSERT_EQ(0, mprotect(buf, npages * page_size, PROT_READ));
	ASSERT_PATTERN(buf, 0, npages, seed);
}

TEST_F(core, write_hole_is_efault)
{
	const unsigned long npages = 16;
	char *buf, *ptr;
	unsigned int seed = SMALL_BUFFERS(&buf, &ptr, npages);

	fill_pattern(ptr, 0, npages, seed + 1);
	ASSERT_EQ(0, munmap(buf + 8 * page_size, page_size));
	DMIRROR_RET(-EFAULT, self->fd, HMM_DMIRROR_WRITE, buf, ptr, npages);
	/* Past the hole, nothing was written. */
	ASSERT_PATTERN(buf + 9 * page_size, 9, npages - 9, seed);
	/* A hole at the start of the range. */
	DMIRROR_RET(-EFAULT, self->fd, HMM_DMIRROR_WRITE, buf + 8 * page_size,
		    ptr, 2);
	ASSERT_PATTERN(buf + 9 * page_size, 9, npages - 9, seed);
}

/*
 * A WRITE that reaches a read-only VMA writes nothing at all, not even the
 * writable pages before it, which sit in another 2 MiB window.
 */
TEST_F(core, write_across_rw_and_ro_vmas_is_eperm)
{
	unsigned int seed = test_seed(_metadata->name);
	const unsigned long npages = 64, split = 37;
	char *buf = map_small_across_2m(npages, split);
	char *ptr = malloc(npages * page_size);

	ASSERT_BUFFERS(buf, ptr, npages, seed);
	fill_pattern(ptr, 0, npages, seed + 1);
	ASSERT_EQ(0, mprotect(buf + split * page_size,
			      (npages - split) * page_size, PROT_READ));
	DMIRROR_RET(-EPERM, self->fd, HMM_DMIRROR_WRITE, buf, ptr, npages);
	ASSERT_PATTERN(buf, 0, npages, seed);
	/* The writable VMA alone can be written. */
	DMIRROR_OK(self->fd, HMM_DMIRROR_WRITE, buf, ptr, split, NULL);
	ASSERT_PATTERN(buf, 0, split, seed + 1);
	ASSERT_PATTERN(buf + split * page_size, split, npages - split, seed);
}

TEST_F(core, write_shared_anon)
{
	unsigned int seed = test_seed(_metadata->name);
	const unsigned long npages = 32;
	char *buf = mmap(NULL, npages * page_size, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	char *ptr = malloc(npages * page_size);

	ASSERT_BUFFERS(buf, ptr, npages, seed);
	fill_pattern(ptr, 0, npages, seed + 1);
	DMIRROR_OK(self->fd, HMM_DMIRROR_WRITE, buf, ptr, npages, NULL);
	ASSERT_PATTERN(buf, 0, npages, seed + 1);
	READ_PATTERN(self->fd, buf, ptr, 0, npages, seed + 1);
}

/* A 2 MiB hugetlbfs page, if the system has one free. */
TEST_F(core, write_read_snapshot_hugetlb)
{
	unsigned int seed = test_seed(_metadata->name);
	const unsigned long npages = SZ_2M / page_size;
	struct hmm_dmirror_cmd cmd;
	unsigned char *m;
	char *buf, *ptr;

	if (meminfo_kb("Hugepagesize:") != (long)(SZ_2M >> 10))
		SKIP(return, "the default huge page size is not 2 MiB");
	buf = mmap(NULL, SZ_2M, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (buf == MAP_FAILED)
		SKIP(return, "no huge page (vm.nr_hugepages = 0?)");
	ptr = malloc(SZ_2M);
	m = malloc(npages);
	ASSERT_NE(NULL, ptr);
	ASSERT_NE(NULL, m);

	fill_pattern(ptr, 0, npages, seed);
	DMIRROR_OK(self->fd, HMM_DMIRROR_WRITE, buf, ptr, npages, &cmd);
	ASSERT_EQ(1, cmd.faults);
	ASSERT_PATTERN(buf, 0, npages, seed);
	READ_PATTERN(self->fd, buf, ptr, 0, npages, seed);
	SNAPSHOT_PROT(self->fd, buf, npages, WRITE_PMD);
}

/* ---------------------------------------------------------- file-backed */

TEST_F(core, read_shared_file)
{
	unsigned int seed = test_seed(_metadata->name);
	const unsigned long npages = 32;
	struct hmm_dmirror_cmd cmd;
	char *buf, *ptr;
	int file;

	buf = PATTERN_FILE(npages, PROT_READ, MAP_SHARED, seed, &file, &ptr);
	memset(ptr, UNTOUCHED, npages * page_size);
	DMIRROR_OK(self->fd, HMM_DMIRROR_READ, buf, ptr, npages, &cmd);
	ASSERT_EQ(1, cmd.faults);
	ASSERT_PATTERN(ptr, 0, npages, seed);
	close(file);
}

/*
 * A device WRITE to a file mapping (@flags MAP_SHARED or MAP_PRIVATE) goes
 * to the mapping, and to the file if it is shared.
 */
static void write_file_mapping(struct __test_metadata *_metadata, int fd,
			       int flags)
{
	unsigned int seed = test_seed(_metadata->name);
	const unsigned long npages = 32;
	size_t len = npages * page_size;
	struct hmm_dmirror_cmd cmd;
	char *buf, *ptr;
	int file;

	buf = PATTERN_FILE(npages, PROT_READ | PROT_WRITE, flags, seed, &file,
			   &ptr);
	fill_pattern(ptr, 0, npages, seed + 1);
	DMIRROR_OK(fd, HMM_DMIRROR_WRITE, buf, ptr, npages, &cmd);
	if (flags == MAP_SHARED)
		ASSERT_EQ(1, cmd.faults);
	ASSERT_PATTERN(buf, 0, npages, seed + 1);
	memset(ptr, UNTOUCHED, len);
	ASSERT_EQ(len, pread(file, ptr, len, 0));
	ASSERT_PATTERN(ptr, 0, npages, flags == MAP_SHARED ? seed + 1 : seed);
	close(file);
}

TEST_F(core, write_shared_file_reaches_the_file)
{
	write_file_mapping(_metadata, self->fd, MAP_SHARED);
}

TEST_F(core, write_private_file_leaves_the_file)
{
	write_file_mapping(_metadata, self->fd, MAP_PRIVATE);
}

/* Page cache pages cannot live in device private memory. */
TEST_F(core, migrate_shared_file_is_enoent)
{
	unsigned int seed = test_seed(_metadata->name);
	const unsigned long npages = 32;
	size_t len = npages * page_size;
	char *buf, *ptr;
	int file;

	buf = PATTERN_FILE(npages, PROT_READ | PROT_WRITE, MAP_SHARED, seed,
			   &file, &ptr);
	/* Half mapped by a CPU write, half not mapped yet. */
	fill_pattern(buf, 0, npages / 2, seed + 1);
	DMIRROR_RET(-ENOENT, self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, buf, ptr,
		    npages);
	SNAPSHOT_PROT(self->fd, buf, npages / 2, HMM_DMIRROR_PROT_WRITE);
	ASSERT_PATTERN(buf, 0, npages / 2, seed + 1);
	ASSERT_PATTERN(buf + len / 2, npages / 2, npages / 2, seed);
	ASSERT_EQ(len, pread(file, ptr, len, 0));
	ASSERT_PATTERN(ptr, 0, npages / 2, seed + 1);
	ASSERT_PATTERN(ptr + len / 2, npages / 2, npages / 2, seed);
	close(file);
}

/* Written pages of a private file mapping are anonymous COW copies. */
TEST_F(core, migrate_private_file_written_pages)
{
	unsigned int seed = test_seed(_metadata->name);
	const unsigned long npages = 32;
	size_t len = npages * page_size;
	char *buf, *ptr;
	int file;

	buf = PATTERN_FILE(npages, PROT_READ | PROT_WRITE, MAP_PRIVATE, seed,
			   &file, &ptr);
	fill_pattern(buf, 0, npages, seed + 1);

	MIGRATE_PATTERN(self->fd, buf, ptr, 0, npages, seed + 1);
	SNAPSHOT_PROT(self->fd, buf, npages, PRIV_LOCAL);

	ASSERT_PATTERN(buf, 0, npages, seed + 1);
	SNAPSHOT_PROT(self->fd, buf, npages, HMM_DMIRROR_PROT_WRITE);
	ASSERT_EQ(len, pread(file, ptr, len, 0));
	ASSERT_PATTERN(ptr, 0, npages, seed);
	close(file);
}

/* Pages of a private file mapping the CPU only read are page cache. */
TEST_F(core, migrate_private_file_unwritten_pages_is_enoent)
{
	unsigned int seed = test_seed(_metadata->name);
	const unsigned long npages = 32;
	char *buf, *ptr;
	int file;

	buf = PATTERN_FILE(npages, PROT_READ | PROT_WRITE, MAP_PRIVATE, seed,
			   &file, &ptr);
	/* The first half read by the CPU, the second half not mapped yet. */
	ASSERT_PATTERN(buf, 0, npages / 2, seed);
	DMIRROR_RET(-ENOENT, self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, buf, ptr,
		    npages);
	ASSERT_PATTERN(buf, 0, npages, seed);
	close(file);
}

/* ---------------------------------------------------------- MIGRATE_TO_DEV */

TEST_F(core, migrate_anon_to_dev)
{
	const unsigned long npages = 256;
	char *buf, *ptr;
	unsigned int seed = SMALL_BUFFERS(&buf, &ptr, npages);

	memset(ptr, UNTOUCHED, npages * page_size);
	MIGRATE_OK(self->fd, buf, ptr, npages);
	ASSERT_PATTERN(ptr, 0, npages, seed);
	SNAPSHOT_PROT(self->fd, buf, npages, PRIV_LOCAL);
	/* The device reads its own memory without faulting. */
	READ_PATTERN(self->fd, buf, ptr, 0, npages, seed);
	SNAPSHOT_PROT(self->fd, buf, npages, PRIV_LOCAL);
}

TEST_F(core, migrate_never_touched_anon_is_zero)
{
	const unsigned long npages = 64;
	char *buf = map_small(npages, PROT_READ | PROT_WRITE);
	char *ptr = malloc(npages * page_size);

	ASSERT_MAPPED(buf, ptr);
	SNAPSHOT_PROT(self->fd, buf, npages, HMM_DMIRROR_PROT_NONE);

	memset(ptr, UNTOUCHED, npages * page_size);
	MIGRATE_OK(self->fd, buf, ptr, npages);
	ASSERT_BYTES(ptr, npages * page_size, 0);
	SNAPSHOT_PROT(self->fd, buf, npages, PRIV_LOCAL);

	ASSERT_BYTES(buf, npages * page_size, 0);
	SNAPSHOT_PROT(self->fd, buf, npages, HMM_DMIRROR_PROT_WRITE);
}

TEST_F(core, migrate_partial_ranges)
{
	const unsigned long npages = 32;
	char *buf, *ptr;
	unsigned int seed = SMALL_BUFFERS(&buf, &ptr, npages);
	unsigned char m[32];

	/* The middle, and exactly 16 pages of data come back. */
	memset(ptr, UNTOUCHED, npages * page_size);
	MIGRATE_PATTERN(self->fd, buf + 8 * page_size, ptr, 8, 16, seed);
	ASSERT_BYTES(ptr + 16 * page_size, 16 * page_size, UNTOUCHED);
	SNAPSHOT(self->fd, buf, m, npages);
	ASSERT_PROT(m, 0, 8, HMM_DMIRROR_PROT_WRITE);
	ASSERT_PROT(m, 8, 24, PRIV_LOCAL);
	ASSERT_PROT(m, 24, npages, HMM_DMIRROR_PROT_WRITE);

	/* The first and the last page. */
	MIGRATE_PATTERN(self->fd, buf, ptr, 0, 1, seed);
	MIGRATE_PATTERN(self->fd, buf + (npages - 1) * page_size, ptr,
			npages - 1, 1, seed);
	SNAPSHOT(self->fd, buf, m, npages);
	ASSERT_PROT(m, 0, 1, PRIV_LOCAL);
	ASSERT_PROT(m, 1, 8, HMM_DMIRROR_PROT_WRITE);
	ASSERT_PROT(m, 8, 24, PRIV_LOCAL);
	ASSERT_PROT(m, 24, npages - 1, HMM_DMIRROR_PROT_WRITE);
	ASSERT_PROT(m, npages - 1, npages, PRIV_LOCAL);

	ASSERT_PATTERN(buf, 0, npages, seed);
}

/* The CPU reads device memory: each page comes back, every byte intact. */
TEST_F(core, cpu_read_faults_pages_back)
{
	const unsigned long npages = 256;
	char *buf, *ptr;
	unsigned int seed = SMALL_BUFFERS(&buf, &ptr, npages);
	unsigned char m[256];

	MIGRATE_OK(self->fd, buf, ptr, npages);

	/*
	 * One int of page 5: that page comes back. Its neighbours may come
	 * along (how many a fault brings back is the driver's choice).
	 */
	ASSERT_EQ(pattern(5, 3, seed), cpu_read(buf + 5 * page_size + 12));
	SNAPSHOT(self->fd, buf, m, npages);
	ASSERT_PROT2(m, 0, 5, PRIV_LOCAL, HMM_DMIRROR_PROT_WRITE);
	ASSERT_PROT(m, 5, 6, HMM_DMIRROR_PROT_WRITE);
	ASSERT_PROT2(m, 6, npages, PRIV_LOCAL, HMM_DMIRROR_PROT_WRITE);

	ASSERT_PATTERN(buf, 0, npages, seed);
	SNAPSHOT_PROT(self->fd, buf, npages, HMM_DMIRROR_PROT_WRITE);
}

TEST_F(core, cpu_write_faults_pages_back)
{
	const unsigned long npages = 64;
	char *buf, *ptr;
	unsigned int seed = SMALL_BUFFERS(&buf, &ptr, npages);
	unsigned long p;

	MIGRATE_OK(self->fd, buf, ptr, npages);

	/* Overwrite one int per page: the rest of the page must survive. */
	for (p = 0; p < npages; p++)
		((int *)(buf + p * page_size))[1] = pattern(p, 1, seed + 1);
	SNAPSHOT_PROT(self->fd, buf, npages, HMM_DMIRROR_PROT_WRITE);
	for (p = 0; p < npages; p++) {
		int *v = (int *)(buf + p * page_size);

		ASSERT_EQ(pattern(p, 1, seed + 1), v[1]);
		v[1] = pattern(p, 1, seed);
	}
	ASSERT_PATTERN(buf, 0, npages, seed);
	READ_PATTERN(self->fd, buf, ptr, 0, npages, seed);
}

/* Migrate, the CPU rewrites half (faulting it back), migrate again. */
TEST_F(core, migrate_again_after_cpu_writes_half)
{
	const unsigned long npages = 128, half = npages / 2;
	char *buf, *ptr;
	unsigned int seed = SMALL_BUFFERS(&buf, &ptr, npages);
	unsigned char m[128];

	MIGRATE_PATTERN(self->fd, buf, ptr, 0, npages, seed);

	fill_pattern(buf, 0, half, seed + 1);
	SNAPSHOT(self->fd, buf, m, npages);
	ASSERT_PROT(m, 0, half, HMM_DMIRROR_PROT_WRITE);
	/* A fault may bring back some neighbours too. */
	ASSERT_PROT2(m, half, npages, PRIV_LOCAL, HMM_DMIRROR_PROT_WRITE);

	memset(ptr, UNTOUCHED, npages * page_size);
	MIGRATE_OK(self->fd, buf, ptr, npages);
	ASSERT_PATTERN(ptr, 0, half, seed + 1);
	ASSERT_PATTERN(ptr + half * page_size, half, half, seed);
	SNAPSHOT_PROT(self->fd, buf, npages, PRIV_LOCAL);

	ASSERT_PATTERN(buf, 0, half, seed + 1);
	ASSERT_PATTERN(buf + half * page_size, half, half, seed);
}

/* One MIGRATE across a read-write and a read-only VMA. */
TEST_F(core, migrate_across_rw_and_ro_vmas)
{
	const unsigned long npages = 64, split = 37;
	char *buf, *ptr;
	unsigned int seed = SMALL_BUFFERS(&buf, &ptr, npages);
	unsigned char m[64];

	ASSERT_EQ(0, mprotect(buf + split * page_size,
			      (npages - split) * page_size, PROT_READ));

	MIGRATE_PATTERN(self->fd, buf, ptr, 0, npages, seed);
	SNAPSHOT(self->fd, buf, m, npages);
	ASSERT_PROT(m, 0, split, PRIV_LOCAL);
	ASSERT_PROT(m, split, npages, LOCAL_READ);

	/* The device may not write the read-only pages either. */
	fill_pattern(ptr, 0, npages, seed + 1);
	DMIRROR_RET(-EPERM, self->fd, HMM_DMIRROR_WRITE,
		    buf + split * page_size, ptr, npages - split);

	ASSERT_PATTERN(buf, 0, npages, seed);
	SNAPSHOT(self->fd, buf, m, npages);
	ASSERT_PROT(m, 0, split, HMM_DMIRROR_PROT_WRITE);
	ASSERT_PROT(m, split, npages, HMM_DMIRROR_PROT_READ);
}

/* A VMA without PROT_READ in the range: -EINVAL, and the data survives. */
TEST_F(core, migrate_prot_none_vma_is_einval)
{
	const unsigned long npages = 16, split = 8;
	char *buf, *ptr;
	unsigned int seed = SMALL_BUFFERS(&buf, &ptr, npages);

	ASSERT_EQ(0, mprotect(buf + split * page_size,
			      (npages - split) * page_size, PROT_NONE));

	DMIRROR_RET(-EINVAL, self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, buf, ptr,
		    npages);
	DMIRROR_RET(-EINVAL, self->fd, HMM_DMIRROR_MIGRATE_TO_DEV,
		    buf + split * page_size, ptr, 1);
	DMIRROR_RET(-EINVAL, self->fd, HMM_DMIRROR_MIGRATE_TO_SYS, buf, ptr,
		    npages);
	DMIRROR_RET(-EINVAL, self->fd, HMM_DMIRROR_MIGRATE_TO_SYS,
		    buf + split * page_size, ptr, 1);
	SNAPSHOT_PROT(self->fd, buf + split * page_size, npages - split,
		      HMM_DMIRROR_PROT_ERROR);

	ASSERT_EQ(0, mprotect(buf + split * page_size,
			      (npages - split) * page_size, PROT_READ));
	ASSERT_PATTERN(buf, 0, npages, seed);
}

TEST_F(core, migrate_hole_is_einval)
{
	const unsigned long npages = 16;
	char *buf, *ptr;
	unsigned int seed = SMALL_BUFFERS(&buf, &ptr, npages);
	unsigned char m[16];

	ASSERT_EQ(0, munmap(buf + 6 * page_size, 2 * page_size));

	DMIRROR_RET(-EINVAL, self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, buf, ptr,
		    npages);
	/* A hole at the start of the range, and one at the end. */
	DMIRROR_RET(-EINVAL, self->fd, HMM_DMIRROR_MIGRATE_TO_DEV,
		    buf + 6 * page_size, ptr, 4);
	DMIRROR_RET(-EINVAL, self->fd, HMM_DMIRROR_MIGRATE_TO_DEV,
		    buf + 4 * page_size, ptr, 3);
	DMIRROR_RET(-EINVAL, self->fd, HMM_DMIRROR_MIGRATE_TO_SYS, buf, ptr,
		    npages);
	SNAPSHOT(self->fd, buf, m, npages);
	ASSERT_PROT(m, 6, 8, HMM_DMIRROR_PROT_ERROR);

	ASSERT_PATTERN(buf, 0, 6, seed);
	ASSERT_PATTERN(buf + 8 * page_size, 8, npages - 8, seed);
}

/* Shared anonymous memory is shmem: it cannot move to device memory. */
TEST_F(core, migrate_shared_anon_is_enoent)
{
	unsigned int seed = test_seed(_metadata->name);
	const unsigned long npages = 32;
	char *buf = mmap(NULL, npages * page_size, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	char *ptr = malloc(npages * page_size);

	ASSERT_MAPPED(buf, ptr);
	/* Never touched. */
	DMIRROR_RET(-ENOENT, self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, buf, ptr,
		    npages);
	ASSERT_BYTES(buf, npages * page_size, 0);

	/* Written. */
	fill_pattern(buf, 0, npages, seed);
	DMIRROR_RET(-ENOENT, self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, buf, ptr,
		    npages);
	SNAPSHOT_PROT(self->fd, buf, npages, HMM_DMIRROR_PROT_WRITE);
	ASSERT_PATTERN(buf, 0, npages, seed);
}

/* ------------------------------------------- a bad VMA inside the range */

/*
 * MIGRATE_TO_DEV, MIGRATE_TO_SYS, EXCLUSIVE and HMMSIM_IOCTL_MIGRATE check
 * every VMA of their range before anything moves: a VMA they cannot work on
 * in the middle of private anonymous pages fails the command as a whole, and
 * the pages before it stay where they were. Each test maps one kind of VMA
 * at 2 MiB into a 6 MiB anonymous mapping, and runs the commands on the
 * range from MIDDLE_EDGE pages before it to MIDDLE_EDGE pages after it.
 */
#define MIDDLE_EDGE	16

enum middle_kind {
	MIDDLE_HUGETLB,		/* hugetlbfs */
	MIDDLE_DEVMAP_SHARED,	/* the device file's VM_MIXEDMAP, MAP_SHARED */
	MIDDLE_DEVMAP_PRIVATE,	/* the same, MAP_PRIVATE */
	MIDDLE_MEMFD,		/* shared memory, whose pages never move */
};

struct middle {
	char *start;		/* the range */
	unsigned long npages;	/* its pages */
	unsigned long mid;	/* pages of the middle VMA */
	char *after;		/* the first page after the middle VMA */
	char *ptr;		/* a data buffer as large as the range */
	unsigned int seed;
};

/*
 * Whether a 2 MiB huge page is free: if none is, one is added to the pool
 * (vm.nr_hugepages), as check.sh does for the suites.
 */
static bool hugetlb_page_free(void)
{
	char val[32];
	long total;

	if (meminfo_kb("Hugepagesize:") != (long)(SZ_2M >> 10))
		return false;
	if (meminfo_kb("HugePages_Free:") > 0)
		return true;
	total = meminfo_kb("HugePages_Total:");
	snprintf(val, sizeof(val), "%ld", total + 1);
	write_file("/proc/sys/vm/nr_hugepages", val);
	return meminfo_kb("HugePages_Free:") > 0;
}

/*
 * Map the range, with a VMA of @kind in its middle and the pattern of the
 * test's seed in its anonymous pages; NULL, or why it could not be done.
 */
static const char *middle_map(struct __test_metadata *_metadata, int fd,
			      enum middle_kind kind, struct middle *m)
{
	char *map = map_aligned(3 * SZ_2M, MADV_NOHUGEPAGE);
	char *mid = map + SZ_2M;
	int prot = PROT_READ | PROT_WRITE;
	int flags = MAP_FIXED, file = -1;
	size_t len;
	void *p;

	ASSERT_NE(MAP_FAILED, map);
	m->mid = kind == MIDDLE_HUGETLB ? SZ_2M / page_size : MIDDLE_EDGE;
	len = m->mid * page_size;
	switch (kind) {
	case MIDDLE_HUGETLB:
		if (!hugetlb_page_free())
			return "no free 2 MiB huge page, and none could be added";
		flags |= MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB;
		break;
	case MIDDLE_DEVMAP_SHARED:
	case MIDDLE_DEVMAP_PRIVATE:
		flags |= kind == MIDDLE_DEVMAP_SHARED ? MAP_SHARED : MAP_PRIVATE;
		file = fd;
		break;
	case MIDDLE_MEMFD:
		file = memfd_create("hmmsim_core", MFD_CLOEXEC);
		ASSERT_LE(0, file);
		ASSERT_EQ(0, ftruncate(file, len));
		flags |= MAP_SHARED;
		break;
	}
	p = mmap(mid, len, prot, flags, file, 0);
	if (p == MAP_FAILED && kind == MIDDLE_HUGETLB)
		return "no huge page for MAP_HUGETLB";
	ASSERT_EQ(mid, p);
	if (kind == MIDDLE_MEMFD)
		close(file);
	/* The middle VMA's own pages are written (and mapped) too. */
	memset(mid, 0x5a, len);

	m->start = mid - MIDDLE_EDGE * page_size;
	m->after = mid + len;
	m->npages = 2 * MIDDLE_EDGE + m->mid;
	m->ptr = malloc(m->npages * page_size);
	ASSERT_NE(NULL, m->ptr);
	m->seed = test_seed(_metadata->name);
	fill_pattern(m->start, 0, MIDDLE_EDGE, m->seed);
	fill_pattern(m->after, MIDDLE_EDGE, MIDDLE_EDGE, m->seed + 1);
	return NULL;
}

/*
 * The anonymous pages of the range are all @prot, and hold the pattern: as
 * the device reads them, which moves nothing.
 */
static void middle_check(struct __test_metadata *_metadata, int fd,
			 const struct middle *m, unsigned char prot)
{
	SNAPSHOT_PROT(fd, m->start, MIDDLE_EDGE, prot);
	SNAPSHOT_PROT(fd, m->after, MIDDLE_EDGE, prot);
	DEVICE_READS_PATTERN(fd, m->start, MIDDLE_EDGE, 0, m->seed);
	DEVICE_READS_PATTERN(fd, m->after, MIDDLE_EDGE, MIDDLE_EDGE,
			     m->seed + 1);
}

/*
 * Every command on the range with a VMA of @kind in its middle, which the
 * migrations to the device refuse with @to_dev, HMMSIM_IOCTL_MIGRATE and
 * MIGRATE_TO_SYS with @other (0: they accept it and move the anonymous
 * pages) and EXCLUSIVE with -EOPNOTSUPP. What each refuses, it refuses
 * before anything moves: the device's counters do not change.
 */
static void middle_test(struct __test_metadata *_metadata, int fd,
			enum middle_kind kind, int to_dev, int other)
{
	struct hmmsim_stats before, after;
	const char *why;
	struct middle m;
	__u64 cpages;

	why = middle_map(_metadata, fd, kind, &m);
	if (why)
		SKIP(return, "%s", why);

	/* To the device: MIGRATE_TO_DEV, then HMMSIM_IOCTL_MIGRATE. */
	STATS(fd, &before);
	DMIRROR_RET(to_dev, fd, HMM_DMIRROR_MIGRATE_TO_DEV, m.start, m.ptr,
		    m.npages);
	STATS(fd, &after);
	ASSERT_EQ(before.to_device, after.to_device);
	middle_check(_metadata, fd, &m, HMM_DMIRROR_PROT_WRITE);

	ASSERT_EQ(other, hmigrate(fd, 0, m.start, m.npages,
				  HMMSIM_MIGRATE_FROM_SYSTEM, &cpages));
	STATS(fd, &after);
	if (other) {
		ASSERT_EQ(before.to_device, after.to_device);
		middle_check(_metadata, fd, &m, HMM_DMIRROR_PROT_WRITE);
		/* The anonymous pages go to the device one part at a time. */
		MIGRATE_OK(fd, m.start, m.ptr, MIDDLE_EDGE);
		MIGRATE_OK(fd, m.after, m.ptr, MIDDLE_EDGE);
	} else {
		ASSERT_EQ(2 * MIDDLE_EDGE, cpages);
		ASSERT_EQ(before.to_device + 2 * MIDDLE_EDGE, after.to_device);
	}
	middle_check(_metadata, fd, &m, PRIV_LOCAL);

	/* Back to system memory. */
	STATS(fd, &before);
	DMIRROR_RET(other, fd, HMM_DMIRROR_MIGRATE_TO_SYS, m.start, m.ptr,
		    m.npages);
	STATS(fd, &after);
	if (other) {
		ASSERT_EQ(before.from_device, after.from_device);
		middle_check(_metadata, fd, &m, PRIV_LOCAL);
		ASSERT_EQ(other, hmigrate(fd, HMMSIM_MIGRATE_TO_SYSTEM,
					  m.start, m.npages,
					  HMMSIM_MIGRATE_FROM_SYSTEM, &cpages));
		STATS(fd, &after);
		ASSERT_EQ(before.from_device, after.from_device);
		middle_check(_metadata, fd, &m, PRIV_LOCAL);
		DMIRROR_RET(0, fd, HMM_DMIRROR_MIGRATE_TO_SYS, m.start, m.ptr,
			    MIDDLE_EDGE);
		DMIRROR_RET(0, fd, HMM_DMIRROR_MIGRATE_TO_SYS, m.after, m.ptr,
			    MIDDLE_EDGE);
	} else {
		ASSERT_EQ(before.from_device + 2 * MIDDLE_EDGE,
			  after.from_device);
	}
	middle_check(_metadata, fd, &m, HMM_DMIRROR_PROT_WRITE);

	/* EXCLUSIVE: nothing becomes exclusive. */
	DMIRROR_RET(-EOPNOTSUPP, fd, HMM_DMIRROR_EXCLUSIVE, m.start, m.ptr,
		    m.npages);
	DMIRROR_RET(0, fd, HMM_DMIRROR_CHECK_EXCLUSIVE, m.start, m.ptr,
		    MIDDLE_EDGE);
	DMIRROR_RET(0, fd, HMM_DMIRROR_CHECK_EXCLUSIVE, m.after, m.ptr,
		    MIDDLE_EDGE);
	middle_check(_metadata, fd, &m, HMM_DMIRROR_PROT_WRITE);
	ASSERT_PATTERN(m.start, 0, MIDDLE_EDGE, m.seed);
	ASSERT_PATTERN(m.after, MIDDLE_EDGE, MIDDLE_EDGE, m.seed + 1);
}

TEST_F(core, hugetlb_in_the_middle_moves_nothing)
{
	middle_test(_metadata, self->fd, MIDDLE_HUGETLB, -EINVAL, -EINVAL);
}

TEST_F(core, shared_devmap_in_the_middle_moves_nothing)
{
	middle_test(_metadata, self->fd, MIDDLE_DEVMAP_SHARED, -EINVAL,
		    -EINVAL);
}

TEST_F(core, private_devmap_in_the_middle_moves_nothing)
{
	middle_test(_metadata, self->fd, MIDDLE_DEVMAP_PRIVATE, -EINVAL,
		    -EINVAL);
}

TEST_F(core, memfd_in_the_middle_moves_nothing_to_dev)
{
	middle_test(_metadata, self->fd, MIDDLE_MEMFD, -ENOENT, 0);
}

/* The range is big enough for several 2 MiB windows and THPs. */
TEST_F_TIMEOUT(core, migrate_16m_to_dev_and_back, 120)
{
	unsigned int seed = test_seed(_metadata->name);
	const unsigned long npages = SZ_16M / page_size;
	const unsigned long from = (1UL << 20) / page_size;
	const unsigned long to = (5UL << 20) / page_size;
	/* The THPs among the pages move whole where the device can. */
	const int whole = moves_thps(self->fd) ?
			  PRIV_LOCAL | HMM_DMIRROR_PROT_PMD : -1;
	char *buf = mmap(NULL, SZ_16M, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *ptr = malloc(SZ_16M);
	unsigned char *m = malloc(npages);
	struct hmm_dmirror_cmd cmd;

	ASSERT_MAPPED(buf, ptr);
	ASSERT_NE(NULL, m);
	fill_pattern(buf, 0, npages, seed);

	memset(ptr, UNTOUCHED, SZ_16M);
	MIGRATE_PATTERN(self->fd, buf, ptr, 0, npages, seed);
	SNAPSHOT(self->fd, buf, m, npages);
	ASSERT_PROT2(m, 0, npages, PRIV_LOCAL, whole);
	/*
	 * The device mapped every window as it arrived, although the next
	 * one was set up (its own invalidation) while it was in flight.
	 */
	DMIRROR_OK(self->fd, HMM_DMIRROR_READ, buf, ptr, npages, &cmd);
	ASSERT_EQ(0, cmd.faults);
	ASSERT_PATTERN(ptr, 0, npages, seed);

	DMIRROR_OK(self->fd, HMM_DMIRROR_MIGRATE_TO_SYS, buf, ptr, npages,
		   NULL);
	/* Back in small pages, unless khugepaged collapsed some already. */
	SNAPSHOT(self->fd, buf, m, npages);
	ASSERT_PROT2(m, 0, npages, HMM_DMIRROR_PROT_WRITE, WRITE_PMD);

	/* [1 MiB, 5 MiB): across two 2 MiB boundaries. */
	memset(ptr, UNTOUCHED, SZ_16M);
	MIGRATE_PATTERN(self->fd, buf + from * page_size, ptr, from, to - from,
			seed);
	SNAPSHOT(self->fd, buf, m, npages);
	ASSERT_PROT2(m, 0, from, HMM_DMIRROR_PROT_WRITE, WRITE_PMD);
	ASSERT_PROT2(m, from, to, PRIV_LOCAL, whole);
	ASSERT_PROT2(m, to, npages, HMM_DMIRROR_PROT_WRITE, WRITE_PMD);

	ASSERT_PATTERN(buf, 0, npages, seed);
	memset(ptr, UNTOUCHED, SZ_16M);
	READ_PATTERN(self->fd, buf, ptr, 0, npages, seed);
}

TEST_F(core, migrate_thp_to_dev_and_back)
{
	if (!migrate_thp_to_dev_and_back(_metadata, self->fd, PRIV_LOCAL, true))
		SKIP(return, "no THP materialised: checked on small pages");
}

/* ------------------------------------------------------- two devices */

/* Device B reads pages on device A: they come back to system memory. */
TEST_F(core, read_through_other_device_faults_pages_back)
{
	const unsigned long npages = 32;
	char *buf, *ptr;
	unsigned int seed = SMALL_BUFFERS(&buf, &ptr, npages);
	struct hmm_dmirror_cmd cmd;

	if (self->fd2 < 0)
		SKIP(return, "needs two private devices");
	MIGRATE_OK(self->fd, buf, ptr, npages);

	memset(ptr, UNTOUCHED, npages * page_size);
	DMIRROR_OK(self->fd2, HMM_DMIRROR_READ, buf, ptr, npages, &cmd);
	ASSERT_EQ(1, cmd.faults);
	ASSERT_PATTERN(ptr, 0, npages, seed);
	SNAPSHOT_PROT(self->fd, buf, npages, HMM_DMIRROR_PROT_WRITE);
	ASSERT_PATTERN(buf, 0, npages, seed);
}

TEST_F(core, snapshot_through_other_device_is_none)
{
	const unsigned long npages = 16, half = npages / 2;
	char *buf, *ptr;
	unsigned int seed = SMALL_BUFFERS(&buf, &ptr, npages);
	unsigned char m[16];

	if (self->fd2 < 0)
		SKIP(return, "needs two private devices");
	MIGRATE_OK(self->fd, buf, ptr, half);
	MIGRATE_PATTERN(self->fd2, buf + half * page_size, ptr, half, half,
			seed);

	SNAPSHOT(self->fd, buf, m, npages);
	ASSERT_PROT(m, 0, half, PRIV_LOCAL);
	ASSERT_PROT(m, half, npages, HMM_DMIRROR_PROT_NONE);
	SNAPSHOT(self->fd2, buf, m, npages);
	ASSERT_PROT(m, 0, half, HMM_DMIRROR_PROT_NONE);
	ASSERT_PROT(m, half, npages, PRIV_LOCAL);
	ASSERT_PATTERN(buf, 0, npages, seed);
}

TEST_F(core, migrate_page_on_other_device_is_enoent)
{
	if (self->fd2 < 0)
		SKIP(return, "needs two private devices");
	migrate_from_other_device_is_enoent(_metadata, self->fd, PRIV_LOCAL,
					    self->fd2);
}

/* ------------------------------------------------------- MIGRATE_TO_SYS */

TEST_F(core, migrate_to_sys_returns_every_page)
{
	migrate_to_sys_returns_every_page(_metadata, self->fd, 64);
}

TEST_F(core, migrate_to_sys_counts_pages_moved)
{
	migrate_to_sys_counts_pages_moved(_metadata, self->fd, PRIV_LOCAL);
}

/* MIGRATE_TO_SYS moves the pages of its own device only. */
TEST_F(core, migrate_to_sys_through_other_device_moves_nothing)
{
	if (self->fd2 < 0)
		SKIP(return, "needs two private devices");
	migrate_to_sys_through_others_moves_nothing(_metadata, self->fd,
						    PRIV_LOCAL, &self->fd2, 1);
}

/* ------------------------------------------------------------ SNAPSHOT */

TEST_F(core, snapshot_reports_each_kind_of_page)
{
	unsigned int seed = test_seed(_metadata->name);
	const unsigned long npages = 8;
	char *buf = map_small(npages, PROT_NONE);
	char *ptr = malloc(page_size);
	unsigned char m[8], again[8];

	ASSERT_MAPPED(buf, ptr);
	/* 0: PROT_NONE. 1: a hole. */
	ASSERT_EQ(0, munmap(buf + page_size, page_size));
	/* 2: read-only, read by the CPU: the zero page. */
	ASSERT_EQ(0, mprotect(buf + 2 * page_size, page_size, PROT_READ));
	ASSERT_EQ(0, cpu_read(buf + 2 * page_size));
	/* 3: written, then made read-only. */
	ASSERT_EQ(0, mprotect(buf + 3 * page_size, page_size,
			      PROT_READ | PROT_WRITE));
	fill_pattern(buf + 3 * page_size, 3, 1, seed);
	ASSERT_EQ(0, mprotect(buf + 3 * page_size, page_size, PROT_READ));
	/* 4: written. 5: never touched. 6: read. 7: on the device. */
	ASSERT_EQ(0, mprotect(buf + 4 * page_size, 4 * page_size,
			      PROT_READ | PROT_WRITE));
	fill_pattern(buf + 4 * page_size, 4, 1, seed);
	ASSERT_EQ(0, cpu_read(buf + 6 * page_size));
	fill_pattern(buf + 7 * page_size, 7, 1, seed);
	MIGRATE_OK(self->fd, buf + 7 * page_size, ptr, 1);

	SNAPSHOT(self->fd, buf, m, npages);
	ASSERT_EQ(HMM_DMIRROR_PROT_ERROR, m[0]);
	ASSERT_EQ(HMM_DMIRROR_PROT_ERROR, m[1]);
	ASSERT_EQ(ZERO_READ, m[2]);
	ASSERT_EQ(HMM_DMIRROR_PROT_READ, m[3]);
	ASSERT_EQ(HMM_DMIRROR_PROT_WRITE, m[4]);
	ASSERT_EQ(HMM_DMIRROR_PROT_NONE, m[5]);
	ASSERT_EQ(ZERO_READ, m[6]);
	ASSERT_EQ(PRIV_LOCAL, m[7]);

	/* SNAPSHOT faults nothing in: a second one sees the same. */
	SNAPSHOT(self->fd, buf, again, npages);
	ASSERT_EQ(0, memcmp(m, again, npages));

	ASSERT_PATTERN(buf + 3 * page_size, 3, 1, seed);
	ASSERT_PATTERN(buf + 7 * page_size, 7, 1, seed);
}

TEST_F(core, snapshot_thp_is_pmd)
{
	const unsigned long npages = SZ_2M / page_size;
	char *buf;
	unsigned int seed = THP_BUFFERS(&buf, NULL);
	bool thp = thp_backed(buf, SZ_2M);

	SNAPSHOT_PROT(self->fd, buf, npages,
		      thp ? WRITE_PMD : HMM_DMIRROR_PROT_WRITE);
	ASSERT_EQ(0, mprotect(buf, SZ_2M, PROT_READ));
	SNAPSHOT_PROT(self->fd, buf, npages, HMM_DMIRROR_PROT_READ |
		      (thp ? HMM_DMIRROR_PROT_PMD : 0));
	ASSERT_PATTERN(buf, 0, npages, seed);
	if (!thp)
		SKIP(return, "no THP materialised: checked on small pages");
}

/* A private mapping of the device file: the driver's own zeroed pages. */
TEST_F(core, mmap_of_device_file_is_zero_filled)
{
	const unsigned long npages = 4;
	char *buf = mmap(NULL, npages * page_size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE, self->fd, 0);

	ASSERT_NE(MAP_FAILED, buf);
	SNAPSHOT_PROT(self->fd, buf, npages, HMM_DMIRROR_PROT_READ);
	ASSERT_BYTES(buf, npages * page_size, 0);
	SNAPSHOT_PROT(self->fd, buf, npages, HMM_DMIRROR_PROT_READ);
	ASSERT_EQ(0, munmap(buf, npages * page_size));
}

/* ----------------------------------------------------------- EXCLUSIVE */

TEST_F(core, exclusive_until_cpu_touches_each_page)
{
	const unsigned long npages = 64, half = npages / 2;
	char *buf, *ptr;
	unsigned int seed = SMALL_BUFFERS(&buf, &ptr, npages);

	DMIRROR_PATTERN(self->fd, HMM_DMIRROR_EXCLUSIVE, buf, ptr, 0, npages,
			seed);
	DMIRROR_RET(-EPERM, self->fd, HMM_DMIRROR_CHECK_EXCLUSIVE, buf, ptr,
		    npages);

	/* The CPU reads the first half. */
	ASSERT_PATTERN(buf, 0, half, seed);
	DMIRROR_RET(0, self->fd, HMM_DMIRROR_CHECK_EXCLUSIVE, buf, ptr, half);
	DMIRROR_RET(-EPERM, self->fd, HMM_DMIRROR_CHECK_EXCLUSIVE,
		    buf + half * page_size, ptr, half);
	DMIRROR_RET(-EPERM, self->fd, HMM_DMIRROR_CHECK_EXCLUSIVE, buf, ptr,
		    npages);

	/* The CPU writes the second half. */
	fill_pattern(buf + half * page_size, half, half, seed + 1);
	DMIRROR_RET(0, self->fd, HMM_DMIRROR_CHECK_EXCLUSIVE, buf, ptr, npages);
	ASSERT_PATTERN(buf, 0, half, seed);
	ASSERT_PATTERN(buf + half * page_size, half, half, seed + 1);
}

/*
 * Only private anonymous memory can be made device-exclusive: a range that
 * reaches shared memory is refused with EOPNOTSUPP before any page of it,
 * private ones included, becomes exclusive.
 */
TEST_F(core, exclusive_on_shared_memory_is_eopnotsupp)
{
	const unsigned long npages = 8;
	size_t len = 2 * npages * page_size;
	char *ptr = malloc(len);
	char *buf;

	ASSERT_NE(NULL, ptr);
	/* Private pages, then shared ones right after them. */
	buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, buf);
	ASSERT_EQ(buf + npages * page_size,
		  mmap(buf + npages * page_size, npages * page_size,
		       PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
	memset(buf, 0x5a, len);

	DMIRROR_RET(-EOPNOTSUPP, self->fd, HMM_DMIRROR_EXCLUSIVE,
		    buf + npages * page_size, ptr, npages);
	DMIRROR_RET(-EOPNOTSUPP, self->fd, HMM_DMIRROR_EXCLUSIVE, buf, ptr,
		    2 * npages);
	/* Nothing became exclusive on the way. */
	DMIRROR_RET(0, self->fd, HMM_DMIRROR_CHECK_EXCLUSIVE, buf, ptr,
		    2 * npages);
	munmap(buf, len);
	free(ptr);
}

/* EXCLUSIVE on memory a THP backs. */
TEST_F(core, exclusive_on_thp)
{
	const unsigned long npages = SZ_2M / page_size;
	char *buf, *ptr;
	unsigned int seed = THP_BUFFERS(&buf, &ptr);
	bool thp = thp_backed(buf, SZ_2M);

	DMIRROR_PATTERN(self->fd, HMM_DMIRROR_EXCLUSIVE, buf, ptr, 0, npages,
			seed);
	DMIRROR_RET(-EPERM, self->fd, HMM_DMIRROR_CHECK_EXCLUSIVE, buf, ptr,
		    npages);

	ASSERT_PATTERN(buf, 0, npages, seed);
	DMIRROR_RET(0, self->fd, HMM_DMIRROR_CHECK_EXCLUSIVE, buf, ptr, npages);
	fill_pattern(buf, 0, npages, seed + 1);
	ASSERT_PATTERN(buf, 0, npages, seed + 1);

	/* Again, on the part of a THP: the middle 64 pages. */
	DMIRROR_PATTERN(self->fd, HMM_DMIRROR_EXCLUSIVE, buf + 100 * page_size,
			ptr, 100, 64, seed + 1);
	DMIRROR_RET(-EPERM, self->fd, HMM_DMIRROR_CHECK_EXCLUSIVE,
		    buf + 100 * page_size, ptr, 64);
	fill_pattern(buf, 0, npages, seed + 2);
	DMIRROR_RET(0, self->fd, HMM_DMIRROR_CHECK_EXCLUSIVE, buf, ptr, npages);
	ASSERT_PATTERN(buf, 0, npages, seed + 2);
	if (!thp)
		SKIP(return, "no THP materialised: checked on small pages");
}

TEST_F(core, exclusive_then_mprotect_write_is_eperm)
{
	const unsigned long npages = 64;
	char *buf, *ptr;
	unsigned int seed = SMALL_BUFFERS(&buf, &ptr, npages);

	DMIRROR_PATTERN(self->fd, HMM_DMIRROR_EXCLUSIVE, buf, ptr, 0, npages,
			seed);

	ASSERT_EQ(0, mprotect(buf, npages * page_size, PROT_READ));
	fill_pattern(ptr, 0, npages, seed + 1);
	DMIRROR_RET(-EPERM, self->fd, HMM_DMIRROR_WRITE, buf, ptr, npages);
	ASSERT_PATTERN(buf, 0, npages, seed);
}

static int child_checks_and_writes(char *buf, unsigned long npages,
				   unsigned int seed)
{
	if (check_pattern(buf, 0, npages, seed) != -1)
		return 1;
	fill_pattern(buf, 0, npages, seed + 2);
	if (check_pattern(buf, 0, npages, seed + 2) != -1)
		return 2;
	return 0;
}

/* fork() with pages held exclusive: both sides see and own their copy. */
TEST_F(core, exclusive_then_fork)
{
	const unsigned long npages = 64;
	char *buf, *ptr;
	unsigned int seed = SMALL_BUFFERS(&buf, &ptr, npages);
	struct hmm_dmirror_cmd cmd;
	pid_t pid;

	DMIRROR_OK(self->fd, HMM_DMIRROR_EXCLUSIVE, buf, ptr, npages, &cmd);

	pid = fork();
	if (pid == 0)
		_exit(child_checks_and_writes(buf, npages, seed));
	ASSERT_GT(pid, 0);
	ASSERT_PATTERN(buf, 0, npages, seed);
	fill_pattern(buf, 0, npages, seed + 1);
	ASSERT_PATTERN(buf, 0, npages, seed + 1);
	ASSERT_EQ(0, wait_child(pid));
	/* The child's writes went to its own copy. */
	ASSERT_PATTERN(buf, 0, npages, seed + 1);
	DMIRROR_RET(0, self->fd, HMM_DMIRROR_CHECK_EXCLUSIVE, buf, ptr, npages);
}

/* ---------------------------------------------------- RELEASE and close */

/* RELEASE returns every page the file moved, whatever range it names. */
TEST_F(core, release_returns_every_page)
{
	release_returns_every_page(_metadata, self->fd, 16, PRIV_LOCAL);
}

TEST_F(core, close_returns_pages)
{
	close_returns_pages(_metadata, self->fd, self->id, PRIV_LOCAL);
}

/* --------------------------------------------------------------- FLAGS */

/*
 * FAIL_ALLOC fails the first allocation attempt of the next migration, as
 * 7.2's lib/test_hmm fails a 2 MiB one: the migration falls back and every
 * page moves (hmmsim_pressure checks the failure's count).
 */
TEST_F(core, fail_alloc_falls_back_and_succeeds)
{
	const unsigned long npages = 64;
	char *buf, *ptr;
	unsigned int seed = SMALL_BUFFERS(&buf, &ptr, npages);
	struct hmm_dmirror_cmd cmd;

	ASSERT_EQ(0, dmirror_raw(self->fd, HMM_DMIRROR_FLAGS, 0, 0,
				 HMM_DMIRROR_FLAG_FAIL_ALLOC, &cmd));

	MIGRATE_PATTERN(self->fd, buf, ptr, 0, npages, seed);
	SNAPSHOT_PROT(self->fd, buf, npages, PRIV_LOCAL);
	ASSERT_PATTERN(buf, 0, npages, seed);
}

TEST_HARNESS_MAIN
