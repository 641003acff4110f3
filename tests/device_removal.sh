#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Device removal with live data. hmmsim_hold puts a buffer on each of the
# four devices (two private, two coherent) and closes its files; then:
#
#  - with evict_on_close=0 the pages stay on the devices: rmmod must succeed
#    while the process lives and move every page back to system memory
#    without losing a byte;
#  - with the default (evict_on_close=1) closing the files brings the pages
#    back at once, and rmmod under the live process is just as harmless;
#  - with evict_on_close=0, the process can still use its data, with the
#    module loaded, after its files are gone;
#  - a process killed with its data on the devices does not keep the module
#    from going away.
#
# Needs hmmsim unloaded; leaves it unloaded. The coherent devices use
# HMMSIM_COHERENT's ranges (lib.sh).
#
# The checks run through ktap_test_result, which shellcheck cannot follow.
# shellcheck disable=SC2317
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

HOLD=$HMMSIM_TESTS/hmmsim_hold
OUT=${TMPDIR:-/tmp}/hmmsim_hold.$$.out
NR_DEVICES=4

ktap_print_header
ktap_set_plan 17

# The holder's output, as KTAP diagnostic lines.
show_output() {
	sed 's/^/# /' "$OUT"
}

# rmmod_ok: rmmod succeeds and the module is gone.
rmmod_ok() {
	rmmod hmmsim && hmmsim_not_loaded
}

evict_on_close_is() {
	[ "$(cat "$HMMSIM_SYSFS_PARAMS/evict_on_close")" = "$1" ]
}

# steps ORDER: the checks of a flow after the holder is ready, one a line.
steps() {
	case $1 in
	rmmod-first)
		echo "rmmod while the process maps the data"
		echo "after rmmod every page is in system memory, every byte intact"
		;;
	check-first)
		echo "every byte intact with the module loaded"
		echo "rmmod once the process has exited"
		;;
	kill)
		echo "rmmod once the process was killed"
		;;
	esac
}

# fail_steps LABEL REASON: the checks named on standard input, one a line,
# fail, not run because of REASON. (A here-document, not a pipe: the
# counters of lib.sh must stay in this shell.)
fail_steps() {
	while read -r _step; do
		ktap_test_fail "$1: $_step (not run: $2)"
	done
}

# exit_status_ok DESCRIPTION STATUS: pass if the holder exited with 0.
exit_status_ok() {
	if [ "$2" -eq 0 ]; then
		ktap_test_pass "$1"
	else
		ktap_test_fail "$1 (exit status $2)"
	fi
}

# flow LABEL PARAMS EXPECTED_EVICT_ON_CLOSE ORDER HOLD_ARGS...
#
# Load hmmsim with PARAMS, start hmmsim_hold with HOLD_ARGS, wait until it
# holds data on every device with its files closed, then, by ORDER:
#   rmmod-first  rmmod under the live holder, then the holder checks its data
#   check-first  the holder checks its data, exits, then rmmod
#   kill         SIGKILL the holder, then rmmod
flow() {
	label=$1 params=$2 evict=$3 order=$4
	shift 4
	holds="hmmsim_hold $* holds data on $NR_DEVICES devices, files closed"

	# shellcheck disable=SC2086 # PARAMS is a list of words
	if ! hmmsim_insmod devname="$HMMSIM_DEVNAME" $params; then
		ktap_test_fail "$label: evict_on_close is $evict (insmod hmmsim $params failed)"
		fail_steps "$label" "insmod failed" <<-EOF
		$holds
		$(steps "$order")
		EOF
		return
	fi
	ktap_test_result "$label: evict_on_close is $evict" \
		evict_on_close_is "$evict"

	rm -f "$OUT"
	"$HOLD" -n $NR_DEVICES "$@" </dev/null >"$OUT" 2>&1 &
	pid=$!
	if wait_ready $pid "$OUT"; then
		ktap_test_pass "$label: $holds"
	else
		kill_and_reap $pid
		show_output
		ktap_test_fail "$label: $holds"
		fail_steps "$label" "the holder is not ready" <<-EOF
		$(steps "$order")
		EOF
		hmmsim_unload_if_loaded
		return
	fi

	case $order in
	rmmod-first)
		ktap_test_result "$label: rmmod while the process maps the data" \
			rmmod_ok
		kill -USR1 $pid
		reap $pid 120
		rc=$?
		show_output
		exit_status_ok "$label: after rmmod every page is in system memory, every byte intact" $rc
		;;
	check-first)
		kill -USR1 $pid
		reap $pid 120
		rc=$?
		show_output
		exit_status_ok "$label: every byte intact with the module loaded" $rc
		ktap_test_result "$label: rmmod once the process has exited" \
			rmmod_ok
		;;
	kill)
		kill -KILL $pid
		reap $pid 30
		show_output
		ktap_test_result "$label: rmmod once the process was killed" \
			rmmod_ok
		;;
	esac

	# Whatever went wrong, leave the module unloaded.
	kill_and_reap $pid
	hmmsim_unload_if_loaded
}

if hmmsim_loaded; then
	ktap_print_msg "hmmsim is loaded: removing it first"
	rmmod hmmsim
fi
ktap_test_result "hmmsim is not loaded at the start" hmmsim_not_loaded

COHERENT=coherent=$HMMSIM_COHERENT
flow "evict_on_close=0" "evict_on_close=0 $COHERENT" N rmmod-first \
	-a device -r
flow "evict_on_close=1" "$COHERENT" Y rmmod-first -a system -r
flow "evict_on_close=0, data used before rmmod" \
	"evict_on_close=0 $COHERENT" N check-first -a device
flow "evict_on_close=0, holder killed" "evict_on_close=0 $COHERENT" N kill \
	-a device

ktap_test_result "hmmsim is left unloaded" hmmsim_not_loaded
rm -f "$OUT"

ktap_finished
