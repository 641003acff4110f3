# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
#
# Helpers for the guest's job scripts: tests/lib.sh (KTAP output, module
# handling, bounded waits), the runner of a suite, and kmemleak.

HMMSIM_TESTS=${HMMSIM_TESTS:-/hmmsim/tests}
# shellcheck source=SCRIPTDIR/../../../tests/lib.sh
. "$HMMSIM_TESTS/lib.sh"

# The KTAP filter and validator, ktap.awk, beside this file.
KTAP_AWK=${KTAP_AWK:-/hmmsim/guest/ktap.awk}

# run_suite DESCRIPTION COMMAND...: run COMMAND (standard input from
# /dev/null) as one subtest: its output, indented, then one result line,
# DESCRIPTION. It passes if COMMAND exits 0 and its own results passed, is
# skipped if it exits 4 (kselftest's skip) with no failed result, and
# fails otherwise, a missing result or no KTAP output at all included.
run_suite() {
	_rs_desc=$1
	shift
	ktap_print_msg "suite: $_rs_desc (at $(cut -d' ' -f1 /proc/uptime)s)"
	{
		"$@" </dev/null
		echo $? > /tmp/suite-status
	} 2>&1 | awk -f "$KTAP_AWK" -v mode=nest
	_rs_nest=$?
	_rs_status=$(cat /tmp/suite-status 2>/dev/null || echo 255)
	case $_rs_nest in
	1) ktap_print_msg "$_rs_desc: a result failed or is missing" ;;
	2) ktap_print_msg "$_rs_desc: no KTAP output" ;;
	esac
	if [ "$_rs_status" != 0 ] && [ "$_rs_status" != "$KSFT_SKIP" ]; then
		ktap_print_msg "$_rs_desc: exit status $_rs_status"
	fi
	if [ "$_rs_nest" = 0 ] && [ "$_rs_status" = 0 ]; then
		ktap_test_pass "$_rs_desc"
	elif [ "$_rs_nest" = 0 ] && [ "$_rs_status" = "$KSFT_SKIP" ]; then
		ktap_test_skip "$_rs_desc" "exit status $KSFT_SKIP"
	else
		ktap_test_fail "$_rs_desc"
	fi
}

# job_status: the job's exit status for the host (/tmp/job-status): 0 if
# every planned test ran and none failed.
job_status() {
	if [ "$KTAP_CNT_FAIL" = 0 ] &&
	    [ $((KTAP_TESTNO - 1)) = "$KSFT_NUM_TESTS" ]; then
		echo 0 > /tmp/job-status
	else
		echo 1 > /tmp/job-status
	fi
}

# Report every memory leak suspect kmemleak has now. Objects must be at
# least five seconds old to be reported, hence the wait.
kmemleak_scan() {
	kl=/sys/kernel/debug/kmemleak
	[ -w $kl ] || return 0
	sleep 6
	echo scan > $kl
	echo scan > $kl
	cat $kl
}

# Forget leaks that were already there (the kernel's own, from boot).
kmemleak_forget() {
	kl=/sys/kernel/debug/kmemleak
	[ -w $kl ] || return 0
	kmemleak_scan > /dev/null
	echo clear > $kl
}

# One KTAP result for the leaks kmemleak finds now (after rmmod), each
# leak shown as a diagnostic line; fails if there is any.
kmemleak_report() {
	leaks=$(kmemleak_scan)
	if [ ! -w /sys/kernel/debug/kmemleak ]; then
		ktap_test_skip "kmemleak: no leak after rmmod" "kernel without kmemleak"
	elif [ -n "$leaks" ]; then
		echo "$leaks" | sed 's/^/# /'
		ktap_test_fail "kmemleak: no leak after rmmod"
		return 1
	else
		ktap_test_pass "kmemleak: no leak after rmmod"
	fi
}
