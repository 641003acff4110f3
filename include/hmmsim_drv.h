/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hmmsim: driver-internal types shared by the files under src/. The
 * userspace ABI is uapi/hmmsim.h, included here as <hmmsim.h>.
 */
#ifndef _HMMSIM_DRV_H
#define _HMMSIM_DRV_H

#include <linux/cdev.h>
#include <linux/device.h>
#include <linux/ioport.h>
#include <linux/mm_types.h>
#include <linux/sizes.h>
#include <linux/types.h>

#include <hmmsim.h>	/* uapi/hmmsim.h */

/* Upper bound on simulated devices (and char device minors) per module. */
#define HMMSIM_MAX_DEVICES	64

/*
 * Device memory is managed in chunks of this size: the granularity at which
 * memremap_pages() can hotplug ZONE_DEVICE memory (a memory subsection), and
 * one PMD, so a chunk can back a 2 MiB device mapping.
 */
#define HMMSIM_CHUNK_SIZE	SZ_2M

/**
 * struct hmmsim_device_config - what a simulated device is made of
 * @type: private or coherent memory.
 * @capacity: bytes of device memory; a multiple of %HMMSIM_CHUNK_SIZE.
 * @phys_base: first physical address of a coherent device's range; zero for
 *	a private device.
 */
struct hmmsim_device_config {
	enum hmmsim_mem_type type;
	u64 capacity;
	phys_addr_t phys_base;
};

/**
 * struct hmmsim_device - one simulated SVM device
 * @dev: the device behind /dev/<devname>N; its release frees this structure.
 * @cdev: the character device, added and removed together with @dev.
 * @id: N of /dev/<devname>N, also the char device minor.
 * @cfg: type and size of the device memory.
 * @res: the claimed physical range of a coherent device, NULL otherwise.
 *
 * Created by hmmsim_device_create() and removed by hmmsim_device_destroy().
 * Every open file holds a reference on @dev (through @cdev), so the
 * structure outlives the last file even after the device is removed.
 */
struct hmmsim_device {
	struct device dev;
	struct cdev cdev;
	unsigned int id;
	struct hmmsim_device_config cfg;
	struct resource *res;
};

/**
 * struct hmmsim_mirror - one open file: a device's view of one process
 * @hdev: the device the file was opened on.
 * @mm: the address space bound at open; commands from any other mm are
 *	refused with -EPERM. Holds an mmgrab() reference.
 */
struct hmmsim_mirror {
	struct hmmsim_device *hdev;
	struct mm_struct *mm;
};

/* src/cdev.c */
extern dev_t hmmsim_devt;
extern const char *hmmsim_devname;
extern struct class hmmsim_class;
extern const struct file_operations hmmsim_fops;
int hmmsim_cdev_init(const char *devname);
void hmmsim_cdev_exit(void);

/* src/device.c */
struct hmmsim_device *hmmsim_device_create(unsigned int id,
					   const struct hmmsim_device_config *cfg);
void hmmsim_device_destroy(struct hmmsim_device *hdev);

/* src/devmem.c */
int hmmsim_devmem_init(struct hmmsim_device *hdev);
void hmmsim_devmem_fini(struct hmmsim_device *hdev);

#endif /* _HMMSIM_DRV_H */
