# SPDX-License-Identifier: GPL-2.0
#
# `make faults`, inside the VM: fault-injection sweeps. For each fault
# source and probability, the stress (data checked, documented errnos
# only) and the fuzzer (documented errnos only) must pass with the fault
# armed, and the functional suites run for what they make the kernel do
# (their assertions expect no failure). Then rmmod and the kmemleak scan.
# The host fails the run on any splat in the kernel log, a hang included.
#
# The fault sources:
# - hmmsim's own fault attributes (debugfs hmmsim/<dev>/fail_*): device
#   page allocation, copy engine batches, chunk eviction;
# - failslab and fail_page_alloc, for the test processes only (task-filter
#   and /proc/self/make-it-fail), sleeping allocations included.
#
# FAULTS_STRESS (seconds of stress per setting, 15) and FAULTS_CALLS
# (fuzzer calls per device per setting, 3000) size the run.
#
# One KTAP document: insmod, the stress and the fuzzer of each setting
# (subtests), rmmod, kmemleak; the suites that only exercise the kernel
# leave diagnostic lines.
# shellcheck shell=sh
# shellcheck source=SCRIPTDIR/lib.sh
. /hmmsim/guest/lib.sh

dbg=$(fs_mount debugfs)
stress_s=${FAULTS_STRESS:-15}
calls=${FAULTS_CALLS:-3000}

# arm DIR PROBABILITY [task]: fail every call with PROBABILITY percent,
# quietly, forever; only in marked tasks if "task" is given.
arm() {
	echo "$2" > "$1/probability"
	echo 1 > "$1/interval"
	echo -1 > "$1/times"
	echo 0 > "$1/space"
	echo 0 > "$1/verbose"
	if [ -e "$1/task-filter" ]; then
		if [ "$3" = task ]; then
			echo Y > "$1/task-filter"
		else
			echo N > "$1/task-filter"
		fi
	fi
	if [ -e "$1/ignore-gfp-wait" ]; then
		echo N > "$1/ignore-gfp-wait"
	fi
	if [ -e "$1/ignore-gfp-highmem" ]; then
		echo N > "$1/ignore-gfp-highmem"
	fi
}

disarm() {
	echo 0 > "$1/probability"
}

# failing CMD...: run CMD as a task that the task-filtered faults hit.
failing() {
	sh -c 'echo 1 > /proc/self/make-it-fail && exec "$@"' failing "$@"
}

# A suite whose result must be ok: a subtest.
must_pass() {
	_mp_prog=$2
	shift 2
	run_suite "$what: $_mp_prog $*" "$HMMSIM_TESTS/$_mp_prog" "$@"
}

# A suite whose assertions cannot hold under injected faults (they expect
# every allocation to succeed, and a test program may well crash on one
# that does not): it runs for what it makes the kernel do, which the splat
# scan and kmemleak judge; its own result is only noted.
exercise() {
	"$@" > /tmp/faults.out 2>&1
	_ex_status=$?
	ktap_print_msg "$what: $(basename "$2") exited with $_ex_status"
}

# sweep WRAPPER: the programs of one setting. The stress and the fuzzer
# mark themselves for the task-filtered faults (-F) once they are set up.
sweep() {
	must_pass env hmmsim_stress -F -d "$stress_s" -D 0,2
	must_pass env hmmsim_fuzz -F -n "$calls"
	for t in hmmsim_core hmmsim_coherent hmmsim_uring; do
		exercise "$1" "$HMMSIM_TESTS/$t"
	done
}

ktap_print_header
ktap_print_msg "fault-injection sweeps on $(uname -r)"
# insmod; the stress and the fuzzer in each of the ten settings (hmmsim's
# three attributes at two probabilities, failslab and fail_page_alloc at
# two); rmmod; kmemleak.
ktap_set_plan $((1 + 2 * (3 * 2 + 2 * 2) + 1 + 1))

kmemleak_forget
echo madvise > /sys/kernel/mm/transparent_hugepage/enabled
# shellcheck disable=SC2119 # HMMSIM_PARAMS only
if ! hmmsim_load; then
	ktap_test_fail "insmod hmmsim $HMMSIM_PARAMS"
	echo 1 > /tmp/job-status
	ktap_exit_fail_msg "insmod failed"
fi
ktap_test_pass "insmod hmmsim $HMMSIM_PARAMS"

for attr in fail_alloc fail_copy fail_evict; do
	for p in 10 50; do
		what="$attr $p%"
		for d in "$dbg"/hmmsim/*/; do
			arm "$d$attr" $p
		done
		sweep env
		for d in "$dbg"/hmmsim/*/; do
			disarm "$d$attr"
		done
	done
done

for attr in failslab fail_page_alloc; do
	for p in 1 10; do
		what="$attr $p%"
		arm "$dbg/$attr" $p task
		sweep failing
		disarm "$dbg/$attr"
	done
done

# __unused: nothing holds a reference to the module.
__unused() {
	[ "$(cat /sys/module/hmmsim/refcnt)" = 0 ]
}

# The last suite's io_uring rings are torn down after it exits, by the
# kernel's own work: let their files go before rmmod, and say what still
# holds the module if something does.
if ! __unused; then
	ktap_print_msg "hmmsim refcnt $(cat /sys/module/hmmsim/refcnt) after the sweeps"
	wait_until "$HMMSIM_WAIT" __unused ||
		ktap_print_msg "still $(cat /sys/module/hmmsim/refcnt) after ${HMMSIM_WAIT}s"
fi
ktap_test_result "rmmod hmmsim" hmmsim_unload
kmemleak_report
ktap_print_totals
job_status
