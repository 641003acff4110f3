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

# Cases of the kernel's own hmm-tests that are left out, by name, each with
# its reason, which the output shows: "private|coherent TEST reason".
HMM_TESTS_EXCLUDED='
private migrate_anon_huge_fault needs 2 MiB device-private folios, which hmmsim does not make yet
'

# hmm_tests: the kernel's hmm-tests, unmodified, against hmmsim loaded with
# test_hmm's names: the private variants, then the coherent ones, each
# without the cases excluded for it (the harness stops at the first filter
# that matches, so -T before -v leaves a case out of that variant only).
hmm_tests() {
	rc=0
	list=$(/hmmsim/tests/hmm-tests -l 2>&1)
	for kind in private coherent; do
		args=
		while read -r k test reason; do
			[ "$k" = "$kind" ] || continue
			echo "$list" | grep -qw -- "$test" || continue
			echo "# hmm-tests: $test excluded on the $kind devices: it $reason"
			args="$args -T $test"
		done <<-EOF
		$HMM_TESTS_EXCLUDED
		EOF
		# shellcheck disable=SC2086
		/hmmsim/tests/hmm-tests $args -v hmm_device_$kind \
			-v hmm2_device_$kind || rc=1
	done
	return $rc
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
	with_module "devname=hmm_dmirror $HMMSIM_PARAMS" hmm_tests
done

# Suites whose buffers never use THPs (MADV_NOHUGEPAGE) run once, and so
# do the fuzzer (which makes its own THPs; 100000 calls on every device)
# and the bounds tests.
with_module "$HMMSIM_PARAMS" /hmmsim/tests/hmmsim_pressure \
	"sh /hmmsim/tests/configfs.sh" /hmmsim/tests/hmmsim_fuzz \
	/hmmsim/tests/hmmsim_bounds

kmemleak_report || status=1

echo $status > /tmp/job-status
