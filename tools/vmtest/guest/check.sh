# SPDX-License-Identifier: GPL-2.0
#
# `make check`, inside the VM: every suite, each printing TAP. The host counts
# the "ok"/"not ok" lines and scans the kernel log for splats.
. /hmmsim/guest/lib.sh

status=0
run_suite() {
	echo "# suite: $* (at $(cut -d' ' -f1 /proc/uptime)s)"
	"$@" || status=1
}

# with_module "PARAMS" SUITE...: load hmmsim with PARAMS, run, unload.
with_module() {
	params=$1
	shift
	# shellcheck disable=SC2086
	if ! insmod /hmmsim/hmmsim.ko $params; then
		echo "not ok - insmod hmmsim $params"
		status=1
		return
	fi
	for suite in "$@"; do
		run_suite $suite
	done
	rmmod hmmsim || status=1
}

# Huge pages for the hugetlbfs cases of the suites.
echo 16 > /proc/sys/vm/nr_hugepages
kmemleak_forget

run_suite sh /hmmsim/tests/module_params.sh
run_suite sh /hmmsim/tests/device_removal.sh

for thp in always madvise; do
	echo $thp > /sys/kernel/mm/transparent_hugepage/enabled
	echo "# THP: $thp"
	# hmmsim_stress: 25 s on all four devices; `make stress` runs longer.
	with_module "$HMMSIM_PARAMS" /hmmsim/tests/hmmsim_basic \
		/hmmsim/tests/hmmsim_core /hmmsim/tests/hmmsim_coherent \
		/hmmsim/tests/hmmsim_uring "/hmmsim/tests/hmmsim_stress -d 25"
	# The kernel's own selftest, unmodified: it expects test_hmm's names.
	with_module "devname=hmm_dmirror $HMMSIM_PARAMS" /hmmsim/tests/hmm-tests
done

# Suites whose buffers never use THPs (MADV_NOHUGEPAGE) run once, and so
# do the fuzzer (which makes its own THPs; 100000 calls on every device)
# and the bounds tests.
with_module "$HMMSIM_PARAMS" /hmmsim/tests/hmmsim_pressure \
	"sh /hmmsim/tests/configfs.sh" /hmmsim/tests/hmmsim_fuzz \
	/hmmsim/tests/hmmsim_bounds

kmemleak_report || status=1

echo $status > /tmp/job-status
