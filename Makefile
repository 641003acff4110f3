# SPDX-License-Identifier: GPL-2.0
#
# hmmsim: build the module against a kernel tree, or run it in the test VM.
#
#   make [KDIR=<kernel build tree>]   build hmmsim.ko (default: running kernel)
#   make run [CMD='...']              boot the test kernel with hmmsim loaded
#   make check                        run every test suite on each test kernel
#                                     (7.2 and 6.12), each in its own boot
#
# The test kernel is built from Debian's linux-source-$(KERNEL) (7.2 by
# default; 6.12, 6.1), or from any kernel source tree with KSRC=<tree>:
#   make check KSRC=~/linux            every suite on a kernel of that tree
#   make stress [DURATION=600]        tests/hmmsim_stress, DURATION seconds
#                                     per device type and THP mode
#   make faults                       fault-injection sweeps
#   make bench                        hmmsim against lib/test_hmm.ko
#   make lint                         checkpatch --strict, sparse, W=1,
#                                     kernel-doc, the layering of src/

KDIR ?= /lib/modules/$(shell uname -r)/build
VMTEST = $(if $(KSRC),VMTEST_KSRC='$(abspath $(KSRC))') \
	 $(if $(KERNEL),KERNEL='$(KERNEL)') tools/vmtest/vmtest

# Options a kernel must have for hmmsim to build and load.
HMMSIM_NEEDS := CONFIG_ZONE_DEVICE CONFIG_DEVICE_PRIVATE CONFIG_HMM_MIRROR \
		CONFIG_MMU_NOTIFIER CONFIG_MIGRATION CONFIG_CONFIGFS_FS

.PHONY: all modules clean check stress faults run bench lint

all: modules

modules:
	@conf="$(KDIR)/include/config/auto.conf"; \
	if [ ! -f "$$conf" ]; then \
		echo "hmmsim: no configured kernel build tree at KDIR=$(KDIR)." >&2; \
		echo "hmmsim: pass KDIR=<tree>, or use 'make run' / 'make check'," >&2; \
		echo "hmmsim: which build and boot their own test kernel." >&2; \
		exit 1; \
	fi; \
	for opt in $(HMMSIM_NEEDS); do \
		grep -q "^$$opt=[ym]" "$$conf" && continue; \
		echo "hmmsim: the kernel at KDIR=$(KDIR) lacks $$opt, which hmmsim needs." >&2; \
		echo "hmmsim: (Debian's stable kernels lack CONFIG_DEVICE_PRIVATE; 'make run'" >&2; \
		echo "hmmsim: and 'make check' build and boot a test kernel that has it.)" >&2; \
		exit 1; \
	done
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

clean:
	@if [ -d "$(KDIR)" ]; then $(MAKE) -C $(KDIR) M=$(CURDIR) clean; fi
	rm -rf build

check:
	$(VMTEST) check

DURATION ?= 600
stress:
	STRESS_DURATION=$(DURATION) $(VMTEST) stress

faults:
	$(VMTEST) faults

run:
	$(VMTEST) run $(if $(CMD),--cmd '$(subst ','\'',$(value CMD))')

bench:
	$(VMTEST) bench

lint:
	$(VMTEST) lint
