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
# Needs hmmsim unloaded; leaves it unloaded. The guest has
# memmap=256M$0x60000000 and memmap=256M$0x70000000 reserved.
. /hmmsim/guest/lib.sh

KO=/hmmsim/hmmsim.ko
HOLD=/hmmsim/tests/hmmsim_hold
OUT=/tmp/hmmsim_hold.out
PARAM=/sys/module/hmmsim/parameters/evict_on_close
COHERENT=coherent=256M@0x60000000,256M@0x70000000
DEVNAME=${HMMSIM_DEVNAME:-hmmsim}
NR_DEVICES=4

echo "TAP version 13"

loaded() {
	grep -q '^hmmsim ' /proc/modules
}

not_loaded() {
	! loaded
}

# alive PID: the process exists and is not a zombie.
alive() {
	state=$(sed 's/.*) //' /proc/"$1"/stat 2>/dev/null | cut -d' ' -f1)
	[ -n "$state" ] && [ "$state" != Z ]
}

# nap: not ordering, the pace of the loops below that wait for a state.
nap() {
	sleep 0.1 2>/dev/null || sleep 1
}

# wait_ready PID: 0 once the holder has printed "ready"; 1 if it died or
# 30 seconds went by first.
wait_ready() {
	deadline=$(($(date +%s) + 30))
	until grep -qx ready $OUT 2>/dev/null; do
		alive "$1" || return 1
		[ "$(date +%s)" -lt $deadline ] || return 1
		nap
	done
}

# reap PID SECONDS: the process's exit status; SIGKILL if it takes longer.
reap() {
	deadline=$(($(date +%s) + $2))
	while alive "$1" && [ "$(date +%s)" -lt $deadline ]; do
		nap
	done
	alive "$1" && kill -KILL "$1"
	wait "$1"
}

# The holder's output, as TAP comments.
show_output() {
	sed 's/^/# /' $OUT
}

# rmmod_ok: rmmod succeeds and the module is gone.
rmmod_ok() {
	rmmod hmmsim && not_loaded
}

# flow LABEL PARAMS EXPECTED_EVICT_ON_CLOSE ORDER HOLD_ARGS...
#
# Load hmmsim with PARAMS, start hmmsim_hold with HOLD_ARGS, wait until it
# holds data on every device with its files closed, then, by ORDER:
#   rmmod-first  rmmod under the live holder, then the holder checks its data
#   check-first  the holder checks its data, exits, then rmmod
#   kill         SIGKILL the holder, then rmmod
flow() {
	# Not "name": tap_check (lib.sh) uses that one.
	label=$1 params=$2 evict=$3 order=$4
	shift 4

	# shellcheck disable=SC2086
	if ! insmod $KO devname="$DEVNAME" $params; then
		tap_not_ok "$label: insmod hmmsim $params"
		return
	fi
	tap_check "$label: evict_on_close is $evict" \
		sh -c "[ \"\$(cat $PARAM)\" = $evict ]"

	rm -f $OUT
	$HOLD -n $NR_DEVICES "$@" </dev/null >$OUT 2>&1 &
	pid=$!
	if wait_ready $pid; then
		tap_ok "$label: hmmsim_hold $* holds data on $NR_DEVICES devices, files closed"
	else
		tap_not_ok "$label: hmmsim_hold $* holds data on $NR_DEVICES devices, files closed"
		kill -KILL $pid 2>/dev/null
		wait $pid
		show_output
		loaded && rmmod hmmsim
		return
	fi

	case $order in
	rmmod-first)
		tap_check "$label: rmmod while the process maps the data" rmmod_ok
		kill -USR1 $pid
		reap $pid 120
		rc=$?
		show_output
		if [ $rc -eq 0 ]; then
			tap_ok "$label: after rmmod every page is in system memory, every byte intact"
		else
			tap_not_ok "$label: after rmmod every page is in system memory, every byte intact (exit status $rc)"
		fi
		;;
	check-first)
		kill -USR1 $pid
		reap $pid 120
		rc=$?
		show_output
		if [ $rc -eq 0 ]; then
			tap_ok "$label: every byte intact with the module loaded"
		else
			tap_not_ok "$label: every byte intact with the module loaded (exit status $rc)"
		fi
		tap_check "$label: rmmod once the process has exited" rmmod_ok
		;;
	kill)
		kill -KILL $pid
		reap $pid 30
		show_output
		tap_check "$label: rmmod once the process was killed" rmmod_ok
		;;
	esac

	# Whatever went wrong, leave the module unloaded.
	if alive $pid; then
		kill -KILL $pid
		wait $pid
	fi
	loaded && rmmod hmmsim
}

if loaded; then
	echo "# hmmsim is loaded: removing it first"
	rmmod hmmsim
fi
tap_check "hmmsim is not loaded at the start" not_loaded

flow "evict_on_close=0" "evict_on_close=0 $COHERENT" N rmmod-first \
	-a device -r
flow "evict_on_close=1" "$COHERENT" Y rmmod-first -a system -r
flow "evict_on_close=0, data used before rmmod" \
	"evict_on_close=0 $COHERENT" N check-first -a device
flow "evict_on_close=0, holder killed" "evict_on_close=0 $COHERENT" N kill \
	-a device

tap_check "hmmsim is left unloaded" not_loaded
rm -f $OUT

echo "1..$tap_n"
