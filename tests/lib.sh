# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
# Variables here are for the scripts that source this file.
# shellcheck disable=SC2034
#
# Helpers for hmmsim's shell tests and for the test VM's job scripts, in
# POSIX sh (busybox ash runs them). A test sources it from its own
# directory:
#
#	. "$(dirname "$0")/lib.sh"
#
# KTAP output (Documentation/dev-tools/ktap.rst), after the kernel's
# tools/testing/selftests/kselftest/ktap_helpers.sh:
#
#	ktap_print_header		"KTAP version 1"
#	ktap_set_plan N			"1..N"
#	ktap_skip_all REASON		"1..0 # SKIP REASON", then exit 4
#	ktap_print_msg TEXT...		"# TEXT"
#	ktap_test_pass DESC		"ok N DESC"
#	ktap_test_fail DESC		"not ok N DESC"
#	ktap_test_skip DESC [REASON]	"ok N DESC # SKIP REASON"
#	ktap_test_result DESC CMD...	pass if CMD succeeds, else fail
#	ktap_exit_fail_msg TEXT		the planned tests not run fail; exit
#	ktap_finished			totals; exit 0 only if every planned
#					test ran and none failed
#
# and what hmmsim's tests share: where things are (from the environment,
# with defaults, or from the test's own directory), loading and unloading
# the module, and bounded waits on a state (never a sleep for ordering).
#
# Environment, with its defaults:
#
#	HMMSIM_TESTS	the directory of the tests and their helper programs
#			(the directory of the script that sources this)
#	HMMSIM_KO	the module ($HMMSIM_TESTS/../hmmsim.ko)
#	HMMSIM_DEVNAME	the module's devname, and the test's (hmmsim)
#	HMMSIM_PARAMS	parameters hmmsim_load passes to insmod (none)
#	HMMSIM_COHERENT	two reserved ranges for coherent devices, SIZE@ADDR
#			each, comma-separated (the test VM's memmap=
#			reservations: 256M@0x60000000,256M@0x70000000)
#	HMMSIM_WAIT	seconds a bounded wait gives a state to come (60)
#	HMMSIM_NODE_MODE the mode of the device nodes: devtmpfs's (0600), or
#			the one a udev rule gives them (make distro-check)

# ------------------------------------------------------------------ KTAP

KTAP_TESTNO=1
KTAP_CNT_PASS=0
KTAP_CNT_FAIL=0
KTAP_CNT_XFAIL=0
KTAP_CNT_SKIP=0
KSFT_NUM_TESTS=0

KSFT_PASS=0
KSFT_FAIL=1
KSFT_SKIP=4

ktap_print_header() {
	echo "KTAP version 1"
}

ktap_print_msg() {
	echo "# $*"
}

ktap_set_plan() {
	KSFT_NUM_TESTS=$1
	echo "1..$KSFT_NUM_TESTS"
}

ktap_skip_all() {
	echo "1..0 # SKIP $*"
	exit "$KSFT_SKIP"
}

# __ktap_test RESULT DESCRIPTION [DIRECTIVE]: one result line. A '#' in
# the description would start a directive; it becomes '-'.
__ktap_test() {
	_kt_desc=$(printf '%s' "$2" | tr '#\n' '- ')
	if [ -n "${3:-}" ]; then
		echo "$1 $KTAP_TESTNO $_kt_desc # $3"
	else
		echo "$1 $KTAP_TESTNO $_kt_desc"
	fi
	KTAP_TESTNO=$((KTAP_TESTNO + 1))
}

ktap_test_pass() {
	__ktap_test ok "$1"
	KTAP_CNT_PASS=$((KTAP_CNT_PASS + 1))
}

ktap_test_fail() {
	__ktap_test "not ok" "$1"
	KTAP_CNT_FAIL=$((KTAP_CNT_FAIL + 1))
}

ktap_test_skip() {
	__ktap_test ok "$1" "SKIP${2:+ $2}"
	KTAP_CNT_SKIP=$((KTAP_CNT_SKIP + 1))
}

ktap_test_xfail() {
	__ktap_test ok "$1" "XFAIL${2:+ $2}"
	KTAP_CNT_XFAIL=$((KTAP_CNT_XFAIL + 1))
}

# ktap_test_result DESCRIPTION COMMAND...: pass if COMMAND succeeds.
ktap_test_result() {
	_kt_rdesc=$1
	shift
	if "$@"; then
		ktap_test_pass "$_kt_rdesc"
	else
		ktap_test_fail "$_kt_rdesc"
	fi
}

ktap_print_totals() {
	echo "# Totals: pass:$KTAP_CNT_PASS fail:$KTAP_CNT_FAIL xfail:$KTAP_CNT_XFAIL xpass:0 skip:$KTAP_CNT_SKIP error:0"
}

# ktap_exit_fail_msg TEXT: give up. Every planned test that has not run
# fails, so that the output still has as many results as its plan.
ktap_exit_fail_msg() {
	ktap_print_msg "$*"
	while [ "$KTAP_TESTNO" -le "$KSFT_NUM_TESTS" ]; do
		ktap_test_fail "not run: $*"
	done
	ktap_print_totals
	exit "$KSFT_FAIL"
}

# ktap_finished: the totals, and exit 0 if every planned test passed, was
# skipped or failed as expected; 1 otherwise (a failure, or a plan that
# does not match the tests that ran).
ktap_finished() {
	ktap_print_totals
	if [ $((KTAP_TESTNO - 1)) -ne "$KSFT_NUM_TESTS" ]; then
		ktap_print_msg "planned $KSFT_NUM_TESTS tests, ran $((KTAP_TESTNO - 1))"
		exit "$KSFT_FAIL"
	fi
	if [ $((KTAP_CNT_PASS + KTAP_CNT_SKIP + KTAP_CNT_XFAIL)) -eq "$KSFT_NUM_TESTS" ]; then
		exit "$KSFT_PASS"
	fi
	exit "$KSFT_FAIL"
}

# ------------------------------------------------------------ where things are

HMMSIM_TESTS=${HMMSIM_TESTS:-$(cd "$(dirname "$0")" && pwd)}
HMMSIM_KO=${HMMSIM_KO:-$(dirname "$HMMSIM_TESTS")/hmmsim.ko}
HMMSIM_DEVNAME=${HMMSIM_DEVNAME:-hmmsim}
HMMSIM_PARAMS=${HMMSIM_PARAMS:-}
HMMSIM_COHERENT=${HMMSIM_COHERENT:-256M@0x60000000,256M@0x70000000}
HMMSIM_WAIT=${HMMSIM_WAIT:-60}
HMMSIM_NODE_MODE=${HMMSIM_NODE_MODE:-0600}

# The module's parameters in sysfs.
HMMSIM_SYSFS_PARAMS=/sys/module/hmmsim/parameters

# fs_mount TYPE: where a filesystem of TYPE is mounted (the first), from
# /proc/mounts; fails if it is not.
fs_mount() {
	awk -v t="$1" '$3 == t { print $2; found = 1; exit } END { exit !found }' \
		/proc/mounts
}

# hmmsim_configfs: hmmsim's configfs directory (printed), if it exists.
hmmsim_configfs() {
	_hs_d=$(fs_mount configfs) || return 1
	[ -d "$_hs_d/hmmsim" ] || return 1
	echo "$_hs_d/hmmsim"
}

# hmmsim_debugfs: hmmsim's debugfs directory (printed), if it exists.
hmmsim_debugfs() {
	_hs_d=$(fs_mount debugfs) || return 1
	[ -d "$_hs_d/hmmsim" ] || return 1
	echo "$_hs_d/hmmsim"
}

# hmmsim_node N: the device node of device N.
hmmsim_node() {
	echo "/dev/$HMMSIM_DEVNAME$1"
}

# count_nodes: how many device nodes /dev/<devname>N there are.
count_nodes() {
	_hs_n=0
	for _hs_f in /dev/"$HMMSIM_DEVNAME"[0-9]*; do
		[ -c "$_hs_f" ] && _hs_n=$((_hs_n + 1))
	done
	echo $_hs_n
}

# udev_running: a udev daemon serves this system (not in make check's
# guest; in make distro-check's).
udev_running() {
	pidof systemd-udevd udevd >/dev/null 2>&1
}

# udev_settle: udev, where it runs, done with the events so far.
udev_settle() {
	udev_running || return 0
	udevadm settle --timeout="$HMMSIM_WAIT"
}

# node_mode_ok FILE: FILE is a char device with HMMSIM_NODE_MODE, once
# udev (if it runs) has applied its rules.
node_mode_ok() {
	udev_settle
	[ -c "$1" ] && [ "$(stat -c %a "$1")" = "${HMMSIM_NODE_MODE#0}" ]
}

# hmmsim_coherent_range I: the I-th (0 or 1) range of HMMSIM_COHERENT.
hmmsim_coherent_range() {
	echo "$HMMSIM_COHERENT" | cut -d, -f$(($1 + 1))
}

# ------------------------------------------------------------------- users

# free_id FILE: an id (the third field) FILE does not use, from 900 up.
free_id() {
	_hs_id=900
	while cut -d: -f3 "$1" | grep -qx "$_hs_id"; do
		_hs_id=$((_hs_id + 1))
	done
	echo "$_hs_id"
}

# add_user NAME: a user NAME (group nogroup, home /tmp), written into
# /etc/passwd if missing (the guest's busybox has no adduser), with root's
# entries in /etc/passwd and /etc/group.
add_user() {
	touch /etc/passwd /etc/group
	grep -q '^root:' /etc/passwd ||
		echo 'root:x:0:0:root:/root:/bin/sh' >> /etc/passwd
	grep -q '^root:' /etc/group || echo 'root:x:0:' >> /etc/group
	grep -q "^$1:" /etc/passwd ||
		echo "$1:x:$(free_id /etc/passwd):65534::/tmp:/bin/sh" >> /etc/passwd
}

# as USER COMMAND...: run COMMAND (words joined, through sh) as USER.
as() {
	_hs_user=$1
	shift
	su -s /bin/sh -c "$*" "$_hs_user"
}

# ------------------------------------------------------------------ module

hmmsim_loaded() {
	grep -q '^hmmsim ' /proc/modules
}

hmmsim_not_loaded() {
	! hmmsim_loaded
}

# hmmsim_insmod PARAMS...: insmod hmmsim with these parameters only.
hmmsim_insmod() {
	insmod "$HMMSIM_KO" "$@"
}

# hmmsim_load [PARAMS...]: insmod hmmsim with HMMSIM_PARAMS and PARAMS.
hmmsim_load() {
	# shellcheck disable=SC2086 # HMMSIM_PARAMS is a list of words
	insmod "$HMMSIM_KO" $HMMSIM_PARAMS "$@"
}

hmmsim_unload() {
	rmmod hmmsim
}

# hmmsim_unload_if_loaded: leave the module unloaded, whatever the state;
# false if it is still loaded.
hmmsim_unload_if_loaded() {
	hmmsim_loaded && rmmod hmmsim
	hmmsim_not_loaded
}

# ----------------------------------------------------------- bounded waits

# alive PID: the process exists and is not a zombie.
alive() {
	_hs_state=$(sed 's/.*) //' /proc/"$1"/stat 2>/dev/null | cut -d' ' -f1)
	[ -n "$_hs_state" ] && [ "$_hs_state" != Z ]
}

# nap: the pace of a loop that polls for a state, never an ordering.
nap() {
	sleep 0.1 2>/dev/null || sleep 1
}

# wait_until SECONDS COMMAND...: poll COMMAND until it succeeds; false if
# SECONDS went by first.
wait_until() {
	_hs_deadline=$(($(date +%s) + $1))
	shift
	until "$@"; do
		[ "$(date +%s)" -lt "$_hs_deadline" ] || return 1
		nap
	done
}

# __ready PID FILE: FILE has a line "ready", or PID is gone (_hs_died).
__ready() {
	grep -qx ready "$2" 2>/dev/null && return 0
	alive "$1" && return 1
	_hs_died=1
}

# wait_ready PID FILE: true once the process PID, a helper such as
# hmmsim_hold, has written the line "ready" to FILE; false if it died or
# HMMSIM_WAIT seconds went by first.
wait_ready() {
	_hs_died=0
	wait_until "$HMMSIM_WAIT" __ready "$1" "$2" && [ $_hs_died = 0 ]
}

# __has_open PID FILE: PID has FILE open as its standard input, or PID is
# gone (_hs_died).
__has_open() {
	[ "$(readlink /proc/"$1"/fd/0 2>/dev/null)" = "$2" ] && return 0
	alive "$1" && return 1
	_hs_died=1
}

# has_open PID FILE: true once the process PID has FILE open as its
# standard input; false if it died or HMMSIM_WAIT seconds went by first.
has_open() {
	_hs_died=0
	wait_until "$HMMSIM_WAIT" __has_open "$1" "$2" && [ $_hs_died = 0 ]
}

# gone PID: the process has exited (or is a zombie).
gone() {
	! alive "$1"
}

# reap PID SECONDS: the process's exit status, once it has exited; killed
# (SIGKILL) if it is still running after SECONDS.
reap() {
	wait_until "$2" gone "$1" || kill -KILL "$1"
	wait "$1" 2>/dev/null
}

# kill_and_reap PID: make sure the process is gone.
kill_and_reap() {
	if [ -n "$1" ] && alive "$1"; then
		# The shell's "Killed" notice is no part of the test's output.
		{
			kill -KILL "$1"
			wait "$1"
		} 2>/dev/null
	fi
	return 0
}
