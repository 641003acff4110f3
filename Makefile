# SPDX-License-Identifier: GPL-2.0
#
# hmmsim: build the module against a kernel tree, or run it in the test VM.
#
#   make [KDIR=<kernel build tree>]   build hmmsim.ko (default: running kernel)
#   make install [KDIR=...] [DESTDIR=] [PREFIX=/usr/local]
#                                     install the module (updates/), depmod,
#                                     the uapi header, hmmsimctl, the udev
#                                     rule and group, a modprobe.d example
#   make uninstall [KDIR=...]         remove what install installed
#   make distro-check                 DKMS on Debian unstable's stock 7.2
#                                     kernel, booted with the suites
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
#   make policy-pictures              hmmsim-replay's residency pictures
#                                     of the example traces, for
#                                     Documentation/policy.rst (gnuplot)

KDIR ?= /lib/modules/$(shell uname -r)/build
VMTEST = $(if $(KSRC),VMTEST_KSRC='$(abspath $(KSRC))') \
	 $(if $(KERNEL),KERNEL='$(KERNEL)') tools/vmtest/vmtest

# Options a kernel must have for hmmsim to build and load.
HMMSIM_NEEDS := CONFIG_ZONE_DEVICE CONFIG_DEVICE_PRIVATE CONFIG_HMM_MIRROR \
		CONFIG_MMU_NOTIFIER CONFIG_MIGRATION CONFIG_CONFIGFS_FS

PREFIX ?= /usr/local
KVER = $(shell cat $(KDIR)/include/config/kernel.release 2>/dev/null)
MODDIR = $(DESTDIR)/lib/modules/$(KVER)/updates
MODPROBE_CONF = $(DESTDIR)/etc/modprobe.d/hmmsim.conf
DEPMOD = depmod -a $(if $(DESTDIR),-b $(DESTDIR)) $(KVER)

.PHONY: all modules clean check stress faults run bench lint install \
	uninstall distro-check policy-pictures

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

# The module through the kernel's modules_install (which signs and
# compresses it as that kernel's configuration says), into updates/; left
# unsigned when the kernel signs every module but its key is not here (a
# distribution's headers: the key stays with the distribution).
SIG_KEY = $(shell sed -n 's/^CONFIG_MODULE_SIG_KEY="*\([^"]*\)"*$$/\1/p' \
	  $(KDIR)/include/config/auto.conf 2>/dev/null)
NOSIGN = $(if $(filter pkcs11:%,$(SIG_KEY)),,$(if $(SIG_KEY),$(if \
	 $(wildcard $(addprefix $(KDIR)/,$(SIG_KEY)) $(filter /%,$(SIG_KEY))),,\
	 CONFIG_MODULE_SIG_ALL=)))

# A modprobe.d file of the user's is never overwritten, nor removed once
# changed.
install: modules
	$(if $(NOSIGN),@echo "hmmsim: no signing key $(SIG_KEY) in $(KDIR): installing the module unsigned")
	$(MAKE) -C $(KDIR) M=$(CURDIR) INSTALL_MOD_DIR=updates $(NOSIGN) \
		$(if $(DESTDIR),INSTALL_MOD_PATH=$(DESTDIR)) modules_install
	$(DEPMOD)
	$(MAKE) -C tools OUT=$(CURDIR)/build/tools $(CURDIR)/build/tools/hmmsimctl
	install -D -m 0755 build/tools/hmmsimctl $(DESTDIR)$(PREFIX)/bin/hmmsimctl
	install -D -m 0644 uapi/hmmsim.h $(DESTDIR)$(PREFIX)/include/hmmsim.h
	@if [ -e $(MODPROBE_CONF) ]; then \
		echo "hmmsim: $(MODPROBE_CONF) exists; left as it is"; \
	else \
		echo "install -D -m 0644 packaging/hmmsim.conf $(MODPROBE_CONF)"; \
		install -D -m 0644 packaging/hmmsim.conf $(MODPROBE_CONF); \
	fi
	packaging/hmmsim-udev install $(DESTDIR)

uninstall:
	@if [ -z "$(KVER)" ]; then \
		echo "hmmsim: no kernel release at KDIR=$(KDIR)" >&2; exit 1; \
	fi
	rm -f $(MODDIR)/hmmsim.ko $(MODDIR)/hmmsim.ko.*
	$(DEPMOD)
	rm -f $(DESTDIR)$(PREFIX)/bin/hmmsimctl $(DESTDIR)$(PREFIX)/include/hmmsim.h
	@if cmp -s packaging/hmmsim.conf $(MODPROBE_CONF); then \
		echo "rm -f $(MODPROBE_CONF)"; rm -f $(MODPROBE_CONF); \
	elif [ -e $(MODPROBE_CONF) ]; then \
		echo "hmmsim: $(MODPROBE_CONF) was changed; kept"; \
	fi
	packaging/hmmsim-udev remove $(DESTDIR)

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

distro-check:
	$(VMTEST) distro

PICTURES = $(if $(KSRC),VMTEST_KSRC='$(abspath $(KSRC))') \
	   $(if $(KERNEL),KERNEL='$(KERNEL)') tools/traces/pictures.sh

policy-pictures:
	$(PICTURES) --docs
