// SPDX-License-Identifier: GPL-2.0
/*
 * hmmsim_test: the helpers hmmsim's test programs share. See hmmsim_test.h
 * for what each does and the conventions they follow.
 */
#include <dirent.h>
#include <linux/userfaultfd.h>
#include <sys/syscall.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <time.h>

#include "hmmsim_test.h"

/* The layouts the tests rely on. */
static_assert(sizeof(struct hmm_dmirror_cmd) == 40,
	      "struct hmm_dmirror_cmd must keep lib/test_hmm's layout");
static_assert(sizeof(struct hmmsim_info) == HMMSIM_INFO_SIZE_VER0,
	      "struct hmmsim_info version 0 changed size");
static_assert(sizeof(struct hmmsim_migrate) == HMMSIM_MIGRATE_SIZE_VER0,
	      "struct hmmsim_migrate version 0 changed size");
static_assert(offsetof(struct hmmsim_stats, uring_inflight) ==
	      HMMSIM_STATS_SIZE_VER0,
	      "struct hmmsim_stats version 0 changed size");
static_assert(offsetof(struct hmmsim_stats, pages_used) == 72,
	      "struct hmmsim_stats version 0 changed layout");
static_assert(offsetof(struct hmmsim_stats, memory_errors) ==
	      HMMSIM_STATS_SIZE_VER1,
	      "struct hmmsim_stats version 1 changed size");
static_assert(offsetof(struct hmmsim_stats, close_evictions) ==
	      HMMSIM_STATS_SIZE_VER2,
	      "struct hmmsim_stats version 2 changed size");
static_assert(offsetof(struct hmmsim_stats, fault_batches) ==
	      HMMSIM_STATS_SIZE_VER3,
	      "struct hmmsim_stats version 3 changed size");
static_assert(sizeof(struct hmmsim_stats) == HMMSIM_STATS_SIZE_VER4,
	      "struct hmmsim_stats version 4 changed size");
static_assert(offsetof(struct hmmsim_info, fault_batch) == 48,
	      "struct hmmsim_info version 0 changed layout");
static_assert(sizeof(struct hmmsim_policy) == HMMSIM_POLICY_SIZE_VER0,
	      "struct hmmsim_policy version 0 changed size");
static_assert(sizeof(struct hmmsim_advise) == HMMSIM_ADVISE_SIZE_VER0,
	      "struct hmmsim_advise version 0 changed size");
static_assert(sizeof(struct hmmsim_access) == HMMSIM_ACCESS_SIZE_VER0,
	      "struct hmmsim_access version 0 changed size");
static_assert(sizeof(struct hmmsim_uring_cmd) == HMMSIM_URING_CMD_SIZE_VER0,
	      "struct hmmsim_uring_cmd version 0 changed size");

#define CONFIGFS_MAGIC	0x62656570

size_t page_size;
unsigned int page_shift;
unsigned long win_pages;
bool fault_injection;

static void __attribute__((constructor)) hmmsim_test_init(void)
{
	page_size = sysconf(_SC_PAGESIZE);
	page_shift = __builtin_ctzl(page_size);
	win_pages = SZ_2M / page_size;
}

/* ------------------------------------------------------------- devices */

const char *hmmsim_devname(void)
{
	const char *name = getenv("HMMSIM_DEVNAME");

	return name && *name ? name : "hmmsim";
}

int dev_path(char *buf, size_t len, unsigned int id)
{
	return snprintf(buf, len, "/dev/%s%u", hmmsim_devname(), id);
}

int open_dev(unsigned int id)
{
	char path[64];

	dev_path(path, sizeof(path), id);
	return open(path, O_RDWR | O_CLOEXEC);
}

int open_dev_wait(unsigned int id)
{
	int fd, tries;

	for (tries = 0; tries < 200; tries++) {
		fd = open_dev(id);
		if (fd >= 0 || errno != ENOENT)
			break;
		/* Not ordering: the retry of a loop that waits for the node. */
		usleep(10000);
	}
	return fd;
}

unsigned int count_devices(void)
{
	unsigned int n = 0;
	int fd;

	while ((fd = open_dev(n)) >= 0) {
		close(fd);
		n++;
	}
	return n;
}

int xioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) ? -errno : 0;
}

int info(int fd, struct hmmsim_info *inf)
{
	memset(inf, 0, sizeof(*inf));
	inf->size = sizeof(*inf);
	return xioctl(fd, HMMSIM_IOCTL_INFO, inf);
}

int open_dev_of_type(__u32 type, unsigned int *id, struct hmmsim_info *inf)
{
	unsigned int n;
	int fd, ret;

	for (n = 0; (fd = open_dev(n)) >= 0; n++) {
		ret = info(fd, inf);
		if (!ret && inf->type == type) {
			*id = n;
			return fd;
		}
		close(fd);
		if (ret)
			return ret;
	}
	return n ? -ENODEV : -errno;
}

int get_stats(int fd, struct hmmsim_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	return xioctl(fd, HMMSIM_IOCTL_STATS, st);
}

bool uring_idle(const struct hmmsim_stats *st)
{
	return !st->uring_inflight;
}

int wait_stats(int fd, bool (*done)(const struct hmmsim_stats *),
	       struct hmmsim_stats *st)
{
	double end = now() + WAIT_SECONDS;
	int ret;

	for (;;) {
		ret = get_stats(fd, st);
		if (ret || done(st))
			return ret;
		if (now() > end)
			return -ETIMEDOUT;
		/* Not ordering: the pace of a loop that waits for a state. */
		usleep(1000);
	}
}

int uffd_register(char *buf, unsigned long npages)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { .start = (unsigned long)buf,
			   .len = npages * page_size },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	int fd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return -errno;
	if (ioctl(fd, UFFDIO_API, &api) || ioctl(fd, UFFDIO_REGISTER, &reg)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

int kmsg_from_now(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd;
}

bool kmsg_has(int fd, const char *needle)
{
	char rec[1024];
	ssize_t n;

	for (;;) {
		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue;	/* records overwritten meanwhile */
		if (n <= 0)
			break;
		rec[n] = 0;
		if (strstr(rec, needle))
			return true;
	}
	return false;
}

int evict_on_close_param(void)
{
	char buf[8];
	int ret = read_file(MODULE_PARAMS "/evict_on_close", buf, sizeof(buf));

	if (ret)
		return ret;
	return !(buf[0] == 'N' || buf[0] == 'n' || buf[0] == '0');
}

/* ------------------------------------------------------------ commands */

int dmirror_raw(int fd, unsigned long request, __u64 addr, __u64 ptr,
		__u64 npages, struct hmm_dmirror_cmd *cmd)
{
	int ret;

	cmd->addr = addr;
	cmd->ptr = ptr;
	cmd->npages = npages;
	cmd->cpages = GARBAGE;
	cmd->faults = GARBAGE;
	do {
		ret = xioctl(fd, request, cmd);
	} while (ret == -EINTR);
	return ret;
}

int dmirror(int fd, unsigned long request, void *addr, void *ptr,
	    unsigned long npages, struct hmm_dmirror_cmd *cmd)
{
	return dmirror_raw(fd, request, (unsigned long)addr,
			   (unsigned long)ptr, npages, cmd);
}

void migrate_args(struct hmmsim_migrate *a, __u32 flags, __u64 addr,
		  __u64 npages, int src_fd)
{
	memset(a, 0, sizeof(*a));
	a->size = sizeof(*a);
	a->flags = flags;
	a->addr = addr;
	a->npages = npages;
	a->src_fd = src_fd;
	a->cpages = GARBAGE;
}

int hmigrate_raw(int fd, unsigned long request, void *arg)
{
	int ret;

	do {
		ret = xioctl(fd, request, arg);
	} while (ret == -EINTR);
	return ret;
}

int hmigrate_addr(int fd, __u32 flags, __u64 addr, __u64 npages, int src_fd,
		  __u64 *cpages)
{
	struct hmmsim_migrate a;
	int ret;

	migrate_args(&a, flags, addr, npages, src_fd);
	ret = hmigrate_raw(fd, HMMSIM_IOCTL_MIGRATE, &a);
	if (cpages)
		*cpages = a.cpages;
	return ret;
}

int hmigrate(int fd, __u32 flags, void *addr, __u64 npages, int src_fd,
	     __u64 *cpages)
{
	return hmigrate_addr(fd, flags, (unsigned long)addr, npages, src_fd,
			     cpages);
}

int policy_get(int fd, struct hmmsim_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->size = sizeof(*p);
	return xioctl(fd, HMMSIM_IOCTL_GET_POLICY, p);
}

int policy_set(int fd, struct hmmsim_policy *p)
{
	p->size = sizeof(*p);
	return xioctl(fd, HMMSIM_IOCTL_SET_POLICY, p);
}

int policy_set_migrate(int fd, __u32 migrate, __u32 prefetch)
{
	struct hmmsim_policy p;
	int ret = policy_get(fd, &p);

	if (ret)
		return ret;
	p.migrate = migrate;
	p.prefetch = prefetch;
	return policy_set(fd, &p);
}

int advise_range(int fd, void *addr, __u64 npages, __u32 preferred,
		 __u32 accessed_by, __u32 granularity)
{
	struct hmmsim_advise a = {
		.size = sizeof(a),
		.addr = (uintptr_t)addr,
		.npages = npages,
		.preferred = preferred,
		.accessed_by = accessed_by,
		.granularity = granularity,
	};

	return xioctl(fd, HMMSIM_IOCTL_ADVISE, &a);
}

void access_args(struct hmmsim_access *a, void *addr, __u64 npages,
		 __u32 pattern, __u64 count)
{
	memset(a, 0, sizeof(*a));
	a->size = sizeof(*a);
	a->addr = (uintptr_t)addr;
	a->npages = npages;
	a->pattern = pattern;
	a->count = count;
	a->done = GARBAGE;
	a->faults = GARBAGE;
	a->batches = GARBAGE;
	a->remote = GARBAGE;
	a->migrated = GARBAGE;
	a->checksum = GARBAGE;
}

int access_run(int fd, struct hmmsim_access *a)
{
	return xioctl(fd, HMMSIM_IOCTL_ACCESS, a);
}

/* ------------------------------------------------------------ patterns */

unsigned int test_seed(const char *name)
{
	unsigned int h = 2166136261u;

	while (*name)
		h = (h ^ (unsigned char)*name++) * 16777619u;
	return h;
}

int pattern(unsigned long page, unsigned long i, unsigned int seed)
{
	unsigned int v = ((unsigned int)page * 0x9e3779b1u) ^
			 ((unsigned int)i * 0x85ebca77u) ^
			 (seed * 0xc2b2ae3du);

	return (int)(v | 1);
}

void fill_pattern(void *buf, unsigned long first, unsigned long npages,
		  unsigned int seed)
{
	unsigned long per = page_size / sizeof(int), p, i;
	int *v = buf;

	for (p = 0; p < npages; p++)
		for (i = 0; i < per; i++)
			*v++ = pattern(first + p, i, seed);
}

long check_pattern(const void *buf, unsigned long first, unsigned long npages,
		   unsigned int seed)
{
	unsigned long per = page_size / sizeof(int), p, i;
	const int *v = buf;

	for (p = 0; p < npages; p++)
		for (i = 0; i < per; i++, v++)
			if (*v != pattern(first + p, i, seed))
				return p * per + i;
	return -1;
}

long check_pages(const void *buf, unsigned long first, unsigned long npages,
		 const unsigned int *seeds)
{
	unsigned long p;

	for (p = 0; p < npages; p++)
		if (check_pattern((const char *)buf + p * page_size, first + p,
				  1, seeds[first + p]) != -1)
			return p;
	return -1;
}

long check_bytes(const void *buf, size_t len, unsigned char c)
{
	const unsigned char *b = buf;
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i] != c)
			return i;
	return -1;
}

/* -------------------------------------------------------------- memory */

int cpu_read(const void *addr)
{
	return __atomic_load_n((const int *)addr, __ATOMIC_RELAXED);
}

char *map_small(unsigned long npages, int prot)
{
	size_t len = npages * page_size;
	char *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p != MAP_FAILED)
		madvise(p, len, MADV_NOHUGEPAGE);
	return p;
}

/*
 * len bytes of read-write anonymous memory whose byte head falls on a
 * 2 MiB boundary: a larger mapping, trimmed.
 */
static char *map_with_boundary(size_t len, size_t head)
{
	char *p = mmap(NULL, len + SZ_2M, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *buf;

	if (p == MAP_FAILED)
		return p;
	buf = (char *)((((unsigned long)p + head + SZ_2M - 1) &
			~(SZ_2M - 1)) - head);
	if (buf != p)
		munmap(p, buf - p);
	if (buf + len != p + len + SZ_2M)
		munmap(buf + len, p + SZ_2M - buf);
	return buf;
}

char *map_small_across_2m(unsigned long npages, unsigned long before)
{
	size_t len = npages * page_size;
	char *buf = map_with_boundary(len, before * page_size);

	if (buf != MAP_FAILED)
		madvise(buf, len, MADV_NOHUGEPAGE);
	return buf;
}

char *map_aligned(size_t len, int advice)
{
	char *buf = map_with_boundary(len, 0);

	if (buf != MAP_FAILED && advice != MADV_NORMAL)
		madvise(buf, len, advice);
	return buf;
}

bool thp_enabled(void)
{
	char buf[128];

	if (read_file("/sys/kernel/mm/transparent_hugepage/enabled", buf,
		      sizeof(buf)))
		return false;
	return !strstr(buf, "[never]");
}

bool kernel_at_least(int major, int minor)
{
	struct utsname u;
	int ma, mi;

	if (uname(&u) || sscanf(u.release, "%d.%d", &ma, &mi) != 2)
		return false;
	return ma > major || (ma == major && mi >= minor);
}

/*
 * The sum of AnonHugePages (kB) over the mappings of /proc/self/smaps that
 * overlap [start, end): -1 if none does, -ERANGE if @within and one of them
 * reaches outside the range.
 */
static long smaps_anon_huge(unsigned long start, unsigned long end,
			    bool within)
{
	unsigned long vm_start, vm_end;
	FILE *f = fopen("/proc/self/smaps", "r");
	bool in = false, found = false, outside = false;
	char line[512];
	long kb = 0, v;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &vm_start, &vm_end) == 2) {
			in = vm_start < end && start < vm_end;
			outside |= in && (vm_start < start || end < vm_end);
		} else if (in && sscanf(line, "AnonHugePages: %ld kB", &v) == 1) {
			kb += v;
			found = true;
		}
	}
	fclose(f);
	if (within && outside)
		return -ERANGE;
	return found ? kb : -1;
}

long anon_huge_kb(const void *addr)
{
	unsigned long a = (unsigned long)addr;

	return smaps_anon_huge(a, a + 1, false);
}

long anon_huge_kb_range(const void *addr, size_t len)
{
	unsigned long a = (unsigned long)addr;

	return smaps_anon_huge(a, a + len, true);
}

bool thp_backed(const void *addr, size_t len)
{
	return thp_enabled() && anon_huge_kb(addr) >= (long)(len >> 10);
}

bool moves_thps(int fd)
{
	struct hmmsim_info inf;

	return !info(fd, &inf) && (inf.caps & HMMSIM_CAP_THP);
}

long meminfo_kb(const char *tag)
{
	FILE *f = fopen("/proc/meminfo", "r");
	size_t taglen = strlen(tag);
	char line[256];
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, tag, taglen) &&
		    sscanf(line + taglen, " %ld", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

unsigned long user_va_end(void)
{
	void *high = (void *)(1UL << 47);
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE;
	void *p = mmap(high, page_size, PROT_NONE, flags, -1, 0);

	if (p == MAP_FAILED)
		return 1UL << 47;
	munmap(p, page_size);
	return 1UL << 56;
}

/* ----------------------------------------------------------- processes */

int wait_child(pid_t pid)
{
	int status;

	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

bool fault_retry(int err)
{
	return fault_injection && err == ENOMEM;
}

int make_it_fail(void)
{
	return write_file("/proc/thread-self/make-it-fail", "1");
}

/* ------------------------------------------------- sysfs, configfs, ... */

int write_file(const char *path, const char *val)
{
	size_t len = strlen(val);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, val, len);
	if (n < 0)
		n = -errno;
	close(fd);
	if (n < 0)
		return n;
	return (size_t)n == len ? 0 : -EIO;
}

int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0)
		n = -errno;
	close(fd);
	if (n < 0)
		return n;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

int read_long(const char *path, long *v)
{
	char buf[64], *end;
	int ret = read_file(path, buf, sizeof(buf));

	if (ret)
		return ret;
	errno = 0;
	*v = strtol(buf, &end, 0);
	return errno || end == buf || *end ? -EINVAL : 0;
}

bool configfs_mounted(void)
{
	struct statfs sfs;

	return !statfs(CFS_MOUNT, &sfs) && sfs.f_type == CONFIGFS_MAGIC;
}

const char *cfs_unusable(void)
{
	if (access(CFS_ROOT, F_OK))
		return "no " CFS_ROOT " (configfs)";
	if (access(CFS_ROOT, W_OK))
		return "making configfs devices needs root: " CFS_ROOT
		       " is not writable";
	return NULL;
}

int cfs_make(struct cfsdev *d, const char *prefix)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->item, sizeof(d->item), "%s/%.64s%d", CFS_ROOT, prefix,
		 (int)getpid());
	if (mkdir(d->item, 0755))
		return -errno;
	d->made = true;
	return 0;
}

int cfs_write(const struct cfsdev *d, const char *attr, const char *val)
{
	char path[192];

	snprintf(path, sizeof(path), "%s/%s", d->item, attr);
	return write_file(path, val);
}

int cfs_read(const struct cfsdev *d, const char *attr, long *v)
{
	char path[192];

	snprintf(path, sizeof(path), "%s/%s", d->item, attr);
	return read_long(path, v);
}

int cfs_power_on(struct cfsdev *d)
{
	long idx;
	int ret = cfs_write(d, "power", "1");

	if (!ret)
		ret = cfs_read(d, "index", &idx);
	if (ret)
		return ret;
	if (idx < 0)
		return -EINVAL;
	d->id = idx;
	snprintf(d->dbg, sizeof(d->dbg), "%s/%.32s%u", DEBUGFS_ROOT,
		 hmmsim_devname(), d->id);
	return 0;
}

void cfs_remove(const char *item)
{
	char path[192];

	snprintf(path, sizeof(path), "%.160s/power", item);
	write_file(path, "0");
	rmdir(item);
}

void cfs_remove_leftovers(const char *prefix)
{
	char items[16][128];
	unsigned int n = 0, i;
	struct dirent *de;
	DIR *dir = opendir(CFS_ROOT);

	if (!dir)
		return;
	for (de = readdir(dir); de && n < 16; de = readdir(dir)) {
		if (strncmp(de->d_name, prefix, strlen(prefix)))
			continue;
		snprintf(items[n++], sizeof(items[0]), "%s/%.64s", CFS_ROOT,
			 de->d_name);
	}
	closedir(dir);
	for (i = 0; i < n; i++)
		cfs_remove(items[i]);
}

int fault_write(const struct cfsdev *d, const char *attr, const char *knob,
		const char *val)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s/%s", d->dbg, attr, knob);
	return write_file(path, val);
}

int fault_read(const struct cfsdev *d, const char *attr, const char *knob,
	       long *v)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s/%s", d->dbg, attr, knob);
	return read_long(path, v);
}

bool fault_exists(const struct cfsdev *d, const char *attr)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s/probability", d->dbg, attr);
	return !access(path, W_OK);
}

void fault_disarm(const struct cfsdev *d, const char *attr)
{
	fault_write(d, attr, "probability", "0");
	fault_write(d, attr, "times", "1");
}
