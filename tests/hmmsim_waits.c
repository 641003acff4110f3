// SPDX-License-Identifier: GPL-2.0
/*
 * hmmsim's waits: on the copy engine's link, which is each device's own,
 * bounded, and never a wait a process cannot be killed out of; and on a
 * userfaultfd, which a device fault cannot take.
 *
 * Fixtures:
 *   link  two devices made through configfs: "slow", 16 MiB behind a link of
 *         copy_bandwidth 1M and copy_latency_us 1000000, so that every
 *         2 MiB window takes 3 s on it; and "fast", 8 MiB with the default
 *         link. Both are removed by the teardown, whatever happened.
 *   kill  the same, for a test run once per step a killed process is in.
 *
 * The userfaultfd tests use /dev/<devname>0, or a private device made
 * through configfs to power off.
 *
 * The bounds are checked against the slow link's own time: whatever must
 * not wait for it must be done in half a window's time (1.5 s), and what
 * is checked is that it was, not how fast.
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <linux/userfaultfd.h>

#include "kselftest_harness.h"
#include "hmmsim_test.h"

#define CFS_PREFIX	"hmmsim_waits-"
/* Seconds one 2 MiB window takes on the slow link. */
#define WINDOW_SECONDS	3.0
/* Migrations running on the slow device at once: more than its channels. */
#define NR_SLOW		3

/* The fixtures' two devices. */
struct devices {
	struct cfsdev slow, fast;
	int slow_fd, fast_fd;
};

/*
 * A device made through configfs as item CFS_PREFIX<@name>-PID, with @attrs
 * ("name value" pairs): its open file, or -errno.
 */
static int make_device(struct cfsdev *d, const char *name,
		       const char *const *attrs)
{
	char prefix[64];
	int ret;

	snprintf(prefix, sizeof(prefix), "%s%s-", CFS_PREFIX, name);
	ret = cfs_make(d, prefix);

	for (; !ret && *attrs; attrs += 2)
		ret = cfs_write(d, attrs[0], attrs[1]);
	if (!ret)
		ret = cfs_power_on(d);
	return ret ? ret : open_dev_wait(d->id);
}

/* Make both devices; false (and SKIP) when configfs cannot be used. */
static bool devices_make(struct __test_metadata *_metadata, struct devices *d)
{
	static const char *const slow[] = {
		"capacity", "16M", "copy_bandwidth", "1M",
		"copy_latency_us", "1000000", NULL
	};
	static const char *const fast[] = { "capacity", "8M", NULL };
	const char *why = cfs_unusable();

	d->slow_fd = -1;
	d->fast_fd = -1;
	if (why)
		SKIP(return false, "%s", why);
	cfs_remove_leftovers(CFS_PREFIX);
	d->slow_fd = make_device(&d->slow, "slow", slow);
	d->fast_fd = make_device(&d->fast, "fast", fast);
	return d->slow_fd >= 0 && d->fast_fd >= 0;
}

static void devices_remove(struct devices *d)
{
	if (d->slow_fd >= 0)
		close(d->slow_fd);
	if (d->fast_fd >= 0)
		close(d->fast_fd);
	if (d->slow.made)
		cfs_remove(d->slow.item);
	if (d->fast.made)
		cfs_remove(d->fast.item);
}

FIXTURE(link)
{
	struct devices d;
};

FIXTURE_SETUP(link)
{
	ASSERT_TRUE(devices_make(_metadata, &self->d));
}

FIXTURE_TEARDOWN(link)
{
	devices_remove(&self->d);
}

/* The copy engine has copied something for the device. */
static bool copied(const struct hmmsim_stats *st)
{
	return st->bytes_copied > 0;
}

/* A window of its own moved to the slow device, by a thread. */
struct slow_move {
	pthread_t thread;
	int fd;
	int done;	/* the pipe each finished window says 'd' on */
	char *buf;
	char *ptr;
};

static void *slow_move_main(void *arg)
{
	struct slow_move *m = arg;
	struct hmm_dmirror_cmd cmd;
	int ret;
	char c;

	ret = dmirror(m->fd, HMM_DMIRROR_MIGRATE_TO_DEV, m->buf, m->ptr,
		      win_pages, &cmd);
	if (!ret && check_pattern(m->ptr, 0, win_pages, 8) != -1)
		ret = -EIO;	/* read back wrong */
	/*
	 * A window migrate_vma could not take whole is -ENOENT at once
	 * (reliability.rst): it never went on the link, and says 'n'.
	 */
	c = !ret ? 'd' : ret == -ENOENT ? 'n' : 'e';
	if (write(m->done, &c, 1) != 1)
		perror("write");
	return NULL;
}

/*
 * The slow windows, in a process of their own (a migration holds its
 * mmap lock across the link's time, which would stall the parent's own
 * faults): NR_SLOW threads, each moving a window through the child's file
 * of the slow device. Returns its exit status.
 */
static int child_slow_moves(unsigned int id, int done)
{
	struct slow_move m[NR_SLOW];
	int fd = open_dev(id), i;

	if (fd < 0)
		return 10;
	for (i = 0; i < NR_SLOW; i++) {
		m[i].fd = fd;
		m[i].done = done;
		m[i].buf = map_aligned(SZ_2M, MADV_NOHUGEPAGE);
		m[i].ptr = malloc(SZ_2M);
		if (m[i].buf == MAP_FAILED || !m[i].ptr)
			return 11;
		fill_pattern(m[i].buf, 0, win_pages, 8);
	}
	for (i = 0; i < NR_SLOW; i++)
		if (pthread_create(&m[i].thread, NULL, slow_move_main, &m[i]))
			return 12;
	for (i = 0; i < NR_SLOW; i++)
		pthread_join(m[i].thread, NULL);
	return 0;
}

/* What the slow child said so far: windows done, and any failure. */
static unsigned int slow_said(int fd, unsigned int *bad)
{
	unsigned int done = 0;
	char c;

	while (read(fd, &c, 1) == 1) {
		if (c == 'd')
			done++;
		else if (c != 'n')
			(*bad)++;
	}
	return done;
}

/*
 * More windows than the engine has channels queue on the slow device's
 * link, which books them one after another (the first is done after 3 s,
 * the last after 9). A one-page device READ on the fast device, made once
 * the first has been copied, must be done before any of them: the slow
 * link is the slow device's alone, and nobody sleeps on a channel for it.
 */
TEST_F_TIMEOUT(link, slow_device_does_not_slow_another, 120)
{
	char *fast_buf = map_aligned(SZ_2M, MADV_NOHUGEPAGE);
	char *page = malloc(page_size);
	unsigned int done, bad = 0;
	struct hmm_dmirror_cmd cmd;
	struct hmmsim_stats st;
	int pipefd[2], status;
	pid_t pid;
	double t;

	ASSERT_NE(MAP_FAILED, fast_buf);
	ASSERT_NE(NULL, page);
	fill_pattern(fast_buf, 0, win_pages, 7);
	ASSERT_EQ(0, pipe2(pipefd, O_NONBLOCK));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		close(pipefd[0]);
		_exit(child_slow_moves(self->d.slow.id, pipefd[1]));
	}
	close(pipefd[1]);
	ASSERT_EQ(0, wait_stats(self->d.slow_fd, copied, &st));

	t = now();
	ASSERT_EQ(0, dmirror(self->d.fast_fd, HMM_DMIRROR_READ, fast_buf, page,
			     1, &cmd));
	t = now() - t;
	done = slow_said(pipefd[0], &bad);
	status = wait_child(pid);
	slow_said(pipefd[0], &bad);
	close(pipefd[0]);

	TH_LOG("fast READ: %.3f s, with %u of %u slow windows done", t, done,
	       NR_SLOW);
	ASSERT_EQ(0, done);
	ASSERT_GT(WINDOW_SECONDS / 2, t);
	ASSERT_EQ(-1, check_pattern(page, 0, 1, 7));
	ASSERT_EQ(0, status);
	ASSERT_EQ(0, bad)
		TH_LOG("a slow window failed, or read back wrong data");
}

/* copy_bandwidth below 1 MiB/s is refused when the device is powered on. */
TEST_F(link, bandwidth_below_1m_is_refused)
{
	struct cfsdev d = {};

	ASSERT_EQ(0, cfs_make(&d, CFS_PREFIX));
	ASSERT_EQ(0, cfs_write(&d, "capacity", "2M"));
	ASSERT_EQ(0, cfs_write(&d, "copy_bandwidth", "1048575"));
	EXPECT_EQ(-EINVAL, cfs_power_on(&d));
	ASSERT_EQ(0, cfs_write(&d, "copy_bandwidth", "1M"));
	EXPECT_EQ(0, cfs_power_on(&d));
	cfs_remove(d.item);
}

/* The same devices; what the killed child is doing when it is killed. */
FIXTURE(kill)
{
	struct devices d;
};

FIXTURE_VARIANT(kill)
{
	const char *what;
};

FIXTURE_VARIANT_ADD(kill, migrating) { .what = "migrate" };
FIXTURE_VARIANT_ADD(kill, releasing) { .what = "release" };
FIXTURE_VARIANT_ADD(kill, closing) { .what = "close" };

FIXTURE_SETUP(kill)
{
	ASSERT_TRUE(devices_make(_metadata, &self->d));
}

FIXTURE_TEARDOWN(kill)
{
	devices_remove(&self->d);
}

/*
 * Wait until the copy engine has copied more for @fd's device than @base
 * bytes, or @pid has exited: false if neither happened in WAIT_SECONDS.
 */
static bool wait_copied_more(int fd, __u64 base, pid_t pid)
{
	double end = now() + WAIT_SECONDS;
	struct hmmsim_stats st;
	siginfo_t si;

	while (!get_stats(fd, &st) && now() < end) {
		memset(&si, 0, sizeof(si));
		if (st.bytes_copied > base ||
		    (!waitid(P_PID, pid, &si, WEXITED | WNOHANG | WNOWAIT) &&
		     si.si_pid == pid))
			return true;
		/* Not ordering: the pace of a loop that waits for a state. */
		usleep(1000);
	}
	return false;
}

/*
 * The killed child: two windows to the slow device (6 s), then, for the
 * "release" and "close" variants, their way back (another 6 s) by
 * RELEASE or by closing the file (evict_on_close), through a file of its
 * own. It says 'g' on @ready just before the step it is killed in.
 * Returns its exit status, which nobody should see.
 */
static int child_slow_step(unsigned int id, const char *what, int ready)
{
	char *buf = map_aligned(2 * SZ_2M, MADV_NOHUGEPAGE);
	char *ptr = malloc(2 * SZ_2M);
	struct hmm_dmirror_cmd cmd;
	int fd = open_dev(id);

	if (fd < 0 || buf == MAP_FAILED || !ptr)
		return 10;
	fill_pattern(buf, 0, 2 * win_pages, 9);
	if (!strcmp(what, "migrate"))
		return write(ready, "g", 1) != 1 ? 11 :
		       dmirror(fd, HMM_DMIRROR_MIGRATE_TO_DEV, buf, ptr,
			       2 * win_pages, &cmd) ? 12 : 0;
	if (dmirror(fd, HMM_DMIRROR_MIGRATE_TO_DEV, buf, ptr, 2 * win_pages,
		    &cmd))
		return 12;
	if (write(ready, "g", 1) != 1)
		return 13;
	if (!strcmp(what, "release"))
		return dmirror(fd, HMM_DMIRROR_RELEASE, buf, NULL,
			       2 * win_pages, &cmd) ? 14 : 0;
	return close(fd) ? 15 : 0;
}

/*
 * A process killed while the slow link holds its migration, its RELEASE
 * or its close() (evict_on_close) dies at once: the waits on the link are
 * killable. Killed right after the first window was copied, when the
 * link would hold it 3 s more, it must be gone in half that.
 */
TEST_F_TIMEOUT(kill, killed_process_does_not_wait_for_the_link, 120)
{
	struct hmmsim_stats st;
	int ready[2], status;
	double t;
	pid_t pid;
	char c;

	ASSERT_EQ(0, pipe(ready));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		close(ready[0]);
		_exit(child_slow_step(self->d.slow.id, variant->what,
				      ready[1]));
	}
	close(ready[1]);
	/* Just before the step: wait for the copy of its first window. */
	ASSERT_EQ(1, read(ready[0], &c, 1));
	ASSERT_EQ(0, get_stats(self->d.slow_fd, &st));
	ASSERT_TRUE(wait_copied_more(self->d.slow_fd, st.bytes_copied, pid));
	t = now();
	ASSERT_EQ(0, kill(pid, SIGKILL));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	t = now() - t;
	close(ready[0]);

	TH_LOG("%s: killed, gone in %.3f s", variant->what, t);
	ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
		TH_LOG("not killed: status %#x", status);
	ASSERT_GT(WINDOW_SECONDS / 2, t);
}

/* -------------------------------------------------- power-off, pinned page */

/* A power-off, from a thread: its result, once done is set. */
struct power_off {
	pthread_t thread;
	struct cfsdev *d;
	int ret;
	int done;
};

static void *power_off_main(void *arg)
{
	struct power_off *p = arg;

	p->ret = cfs_write(p->d, "power", "0");
	__atomic_store_n(&p->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * A pipe holds a page of coherent device memory (vmsplice()), which cannot
 * move while it does: powering the device off gives up after its bound
 * (5 s) with -EBUSY and a line in the log naming the device, rather than
 * waiting for the pipe. The device is removed by then (its files get
 * -ENODEV, and it cannot be powered on), the data is intact, and once the
 * pipe is read the power-off is finished by writing 0 again.
 */
TEST(power_off_with_a_pinned_coherent_page_is_ebusy)
{
	struct power_off p = {};
	struct cfsdev d = {};
	char *buf = map_small(4, PROT_READ | PROT_WRITE);
	char *ptr = malloc(4 * page_size);
	struct iovec iov = { .iov_len = page_size };
	struct hmm_dmirror_cmd cmd;
	int fd, pipefd[2], kmsg = kmsg_from_now();
	double t;

	ASSERT_NE(MAP_FAILED, buf);
	ASSERT_NE(NULL, ptr);
	ASSERT_LE(0, kmsg);
	fd = CFS_COHERENT_DEVICE(&d, CFS_PREFIX, "64M");
	if (fd < 0)
		return;		/* skipped */
	fill_pattern(buf, 0, 4, 13);
	ASSERT_EQ(0, dmirror(fd, HMM_DMIRROR_MIGRATE_TO_DEV, buf, ptr, 4,
			     &cmd));
	ASSERT_EQ(0, pipe(pipefd));
	iov.iov_base = buf;
	ASSERT_EQ((ssize_t)page_size, vmsplice(pipefd[1], &iov, 1, 0));

	p.d = &d;
	t = now();
	ASSERT_EQ(0, pthread_create(&p.thread, NULL, power_off_main, &p));
	/* Bounded: twice the power-off's bound, then the pipe lets it go. */
	while (!__atomic_load_n(&p.done, __ATOMIC_ACQUIRE) && now() - t < 10)
		usleep(10000);	/* not ordering: the pace of a wait */
	t = now() - t;
	if (!__atomic_load_n(&p.done, __ATOMIC_ACQUIRE))
		ASSERT_EQ((ssize_t)page_size, read(pipefd[0], ptr, page_size));
	pthread_join(p.thread, NULL);

	TH_LOG("power-off: %s after %.1f s", strerror(-p.ret), t);
	EXPECT_EQ(-EBUSY, p.ret);
	EXPECT_TRUE(kmsg_has(kmsg, "still in use after"));
	if (p.ret == -EBUSY) {
		EXPECT_EQ(-ENODEV, dmirror(fd, HMM_DMIRROR_READ, buf, ptr, 4,
					   &cmd));
		EXPECT_EQ(-EBUSY, cfs_write(&d, "power", "1"));
		ASSERT_EQ((ssize_t)page_size, read(pipefd[0], ptr, page_size));
		EXPECT_EQ(0, cfs_write(&d, "power", "0"));
	}
	EXPECT_EQ(-1, check_pattern(buf, 0, 4, 13));
	close(pipefd[0]);
	close(pipefd[1]);
	close(fd);
	close(kmsg);
	cfs_remove(d.item);
}

/* ------------------------------------------------------------ userfaultfd */

/*
 * Device READ and WRITE of a range under a userfaultfd nobody serves: the
 * pages already there are read, and a page that would need a fault is
 * -EFAULT at once, without the kernel's "FAULT_FLAG_ALLOW_RETRY missing"
 * warning and stack dump (hmm_range_fault() cannot take a userfault).
 */
TEST(device_access_under_unserved_userfaultfd_is_efault)
{
	const unsigned long npages = 4, there = 2;
	char *buf = map_small(npages, PROT_READ | PROT_WRITE);
	char *ptr = malloc(npages * page_size);
	struct hmm_dmirror_cmd cmd;
	int fd = open_dev(0), uffd, kmsg = kmsg_from_now();

	ASSERT_LE(0, fd);
	ASSERT_NE(MAP_FAILED, buf);
	ASSERT_NE(NULL, ptr);
	ASSERT_LE(0, kmsg);
	fill_pattern(buf, 0, there, 11);
	uffd = uffd_register(buf, npages);
	if (uffd == -EPERM)
		SKIP(return, "userfaultfd not allowed here");
	ASSERT_LE(0, uffd);

	ASSERT_EQ(0, dmirror(fd, HMM_DMIRROR_READ, buf, ptr, there, &cmd));
	ASSERT_EQ(-1, check_pattern(ptr, 0, there, 11));
	EXPECT_EQ(-EFAULT, dmirror(fd, HMM_DMIRROR_READ, buf, ptr, npages,
				   &cmd));
	EXPECT_EQ(-EFAULT, dmirror(fd, HMM_DMIRROR_WRITE, buf + there *
				   page_size, ptr, npages - there, &cmd));
	EXPECT_FALSE(kmsg_has(kmsg, "FAULT_FLAG_ALLOW_RETRY missing"));
	close(uffd);
	close(kmsg);
	close(fd);
}

/* A device READ from a thread: its result, once done is set. */
struct reader {
	pthread_t thread;
	int fd;
	char *buf;
	char *out;
	unsigned long npages;
	int ret;
	int done;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	struct hmm_dmirror_cmd cmd;

	r->ret = dmirror(r->fd, HMM_DMIRROR_READ, r->buf, r->out, r->npages,
			 &cmd);
	__atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * A device READ into a user buffer under a userfaultfd nobody serves yet
 * waits for the fault outside the device: powering the device off does not
 * wait for it, and the READ, once the fault is served, finds the device
 * gone.
 */
TEST(power_off_does_not_wait_for_a_user_buffer_fault)
{
	const unsigned long npages = 4;
	char *buf = map_small(npages, PROT_READ | PROT_WRITE);
	char *out = map_small(npages, PROT_READ | PROT_WRITE);
	struct uffdio_zeropage zero = {
		.range = { .start = (unsigned long)out,
			   .len = npages * page_size },
	};
	struct reader r = { .buf = buf, .out = out, .npages = npages };
	struct cfsdev d = {};
	struct uffd_msg msg;
	struct pollfd pfd;
	int uffd;

	ASSERT_NE(MAP_FAILED, buf);
	ASSERT_NE(MAP_FAILED, out);
	r.fd = CFS_PRIVATE_DEVICE(&d, CFS_PREFIX, 8UL << 20, "8M");
	if (r.fd < 0)
		goto out;	/* skipped */
	fill_pattern(buf, 0, npages, 17);
	uffd = uffd_register(out, npages);
	if (uffd == -EPERM)
		SKIP(goto out, "userfaultfd not allowed here");
	ASSERT_LE(0, uffd);
	ASSERT_EQ(0, pthread_create(&r.thread, NULL, reader_main, &r));

	/* The READ's fault on its buffer is the userfaultfd's to serve. */
	pfd = (struct pollfd){ .fd = uffd, .events = POLLIN };
	ASSERT_EQ(1, poll(&pfd, 1, WAIT_SECONDS * 1000));
	ASSERT_EQ((ssize_t)sizeof(msg), read(uffd, &msg, sizeof(msg)));
	ASSERT_EQ(UFFD_EVENT_PAGEFAULT, msg.event);

	ASSERT_EQ(0, cfs_write(&d, "power", "0"));
	EXPECT_FALSE(__atomic_load_n(&r.done, __ATOMIC_ACQUIRE));
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_ZEROPAGE, &zero));
	pthread_join(r.thread, NULL);
	EXPECT_EQ(-ENODEV, r.ret);
	close(uffd);
	close(r.fd);
out:
	if (d.made)
		cfs_remove(d.item);
}

TEST_HARNESS_MAIN
