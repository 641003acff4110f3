#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Devices made and removed at run time through configfs,
# /sys/kernel/config/hmmsim/NAME:
#
#  - a new item shows the module's defaults, takes a capacity, and powered
#    on becomes /dev/<devname>N, N the lowest free number, mode 0600 (or
#    what a udev rule sets: HMMSIM_NODE_MODE), with
#    its debugfs directory; hmmsimctl lists it and moves data through it;
#  - while powered on, every attribute that describes it refuses changes
#    (EBUSY);
#  - powered off with a process's data on it, or with a file of it open,
#    the device goes away and the data survives (hmmsim_hold checks every
#    byte, with evict_on_close=N so that the pages stay on the device);
#  - bad values are refused (EINVAL), and configurations that cannot be
#    powered on (capacity not a multiple of 2M, coherent memory without an
#    address, in System RAM, or in a range another device holds) fail
#    (EINVAL, EBUSY) and leave the item powered off, with no new device;
#  - two items at once get two numbers; rmdir of a powered item removes its
#    device, and the number is reused.
#
# Needs hmmsim loaded, with the guest's default layout (two private devices,
# two coherent ones on the memmap= reservations at 0x60000000 and
# 0x70000000). Leaves no configfs item behind, and evict_on_close as it
# found it.
#
# Most helpers run through ktap_test_result, which shellcheck cannot follow.
# shellcheck disable=SC2317
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

PARAMS=$HMMSIM_SYSFS_PARAMS
HOLD=$HMMSIM_TESTS/hmmsim_hold
OUT=${TMPDIR:-/tmp}/hmmsim_configfs_hold.$$.out
DEVNAME=$HMMSIM_DEVNAME
PREFIX=cfstest_
EINVAL="Invalid argument"
EBUSY="Device or resource busy"

holder=
opener=
old_eoc=

# --------------------------------------------------------------- helpers

node() {
	echo "/dev/$DEVNAME$1"
}

# node_ok N: /dev/<devname>N is a char device with HMMSIM_NODE_MODE.
node_ok() {
	node_mode_ok "$(node "$1")"
}

node_gone() {
	[ ! -e "$(node "$1")" ]
}

# lowest_free: the lowest N with no /dev/<devname>N.
lowest_free() {
	n=0
	while [ -e "$(node $n)" ]; do
		n=$((n + 1))
	done
	echo $n
}

# bytes SIZE: a size with an optional K, M or G suffix, in bytes.
bytes() {
	case $1 in
	*[kK]) echo $((${1%?} * 1024)) ;;
	*[mM]) echo $((${1%?} * 1048576)) ;;
	*[gG]) echo $((${1%?} * 1073741824)) ;;
	*) echo $(($1)) ;;
	esac
}

# index ITEM: the item's index, or "none" if it cannot be read as one.
index() {
	v=$(cat "$CFS/$1/index" 2>/dev/null)
	case $v in
	'' | *[!0-9-]*) echo none ;;
	*) echo "$v" ;;
	esac
}

# two_numbers N M: N and M are device numbers, and not the same.
two_numbers() {
	[ "$1" != none ] && [ "$2" != none ] && [ "$1" -ge 0 ] &&
		[ "$2" -ge 0 ] && [ "$1" != "$2" ]
}

# is ITEM ATTR VALUE: the attribute reads VALUE.
is() {
	v=$(cat "$CFS/$1/$2" 2>/dev/null)
	[ "$v" = "$3" ] && return 0
	echo "# $1/$2 is '$v', expected '$3'"
	return 1
}

# write_result ITEM ATTR VALUE: "ok", or the error message of the write
# (the shell prints it with the errno's text).
write_result() {
	if err=$(sh -c 'echo "$1" > "$2"' sh "$3" "$CFS/$1/$2" 2>&1); then
		echo ok
	else
		echo "${err:-failed without a message}"
	fi
}

# put ITEM ATTR VALUE: the write succeeds.
put() {
	r=$(write_result "$@")
	[ "$r" = ok ] && return 0
	echo "# echo $3 > $1/$2: $r"
	return 1
}

# refused ERROR ITEM ATTR VALUE: the write fails with ERROR, the errno's
# text.
refused() {
	want=$1
	shift
	r=$(write_result "$@")
	case $r in
	ok) ;;
	*"$want"*) return 0 ;;
	esac
	echo "# echo $3 > $1/$2: '$r', expected '$want'"
	return 1
}

# off_and_no_new_device ITEM NODES: powered off, no index, still NODES
# device nodes.
off_and_no_new_device() {
	is "$1" power 0 && is "$1" index -1 &&
		[ "$(count_nodes)" = "$2" ]
}

# debugfs_ok N: the device's debugfs directory has its counters.
debugfs_ok() {
	[ -f "$DBG/$DEVNAME$1/stats" ]
}

debugfs_gone() {
	[ ! -e "$DBG/$DEVNAME$1" ]
}

# listed N CAPACITY: hmmsimctl info lists /dev/<devname>N, private.
listed() {
	hmmsimctl info | grep -Eq "^/dev/$DEVNAME$1 +private +$2( |\$)"
}

# demo N: hmmsimctl demo N succeeds; its output as TAP comments.
demo() {
	out=$(hmmsimctl demo "$1" 2>&1)
	rc=$?
	echo "$out" | sed 's/^/# /'
	return "$rc"
}

# system_ram START SIZE: [START, START + SIZE) is all System RAM.
system_ram() {
	s=$(($1)) e=$(($1 + $2 - 1))
	grep ' : System RAM$' /proc/iomem | while IFS='- ' read -r lo hi _; do
		if [ $((0x$lo)) -le $s ] && [ $((0x$hi)) -ge $e ]; then
			echo yes
			break
		fi
	done | grep -q yes
}

no_items_left() {
	for d in "$CFS"/"$PREFIX"*; do
		[ -e "$d" ] && return 1
	done
	return 0
}

cleanup() {
	kill_and_reap "$holder"
	holder=
	kill_and_reap "$opener"
	opener=
	for d in "$CFS"/"$PREFIX"*; do
		[ -d "$d" ] || continue
		echo 0 2>/dev/null > "$d/power"
		rmdir "$d" 2>/dev/null
	done
	if [ -n "$old_eoc" ]; then
		echo "$old_eoc" > $PARAMS/evict_on_close
		old_eoc=
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ----------------------------------------------------------- preconditions

ktap_print_header
ktap_set_plan 120

hmmsim_loaded || ktap_exit_fail_msg "hmmsim is not loaded"
CFS=$(hmmsim_configfs) ||
	ktap_exit_fail_msg "no hmmsim directory in configfs (configfs mounted, hmmsim built with configfs?)"
# Empty if debugfs is not mounted: its checks are skipped.
DBG=$(hmmsim_debugfs) || DBG=
cleanup

nodes_before=$(count_nodes)
eoc_before=$(cat $PARAMS/evict_on_close)
default_capacity=$(bytes "$(cat $PARAMS/capacity 2>/dev/null || echo 256M)")
default_bandwidth=$(bytes "$(cat $PARAMS/copy_bandwidth 2>/dev/null || echo 0)")
default_latency=$(cat $PARAMS/copy_latency_us 2>/dev/null || echo 0)
default_batch=$(cat $PARAMS/fault_batch)
default_fault_latency=$(cat $PARAMS/fault_latency_us)
ktap_print_msg "$nodes_before devices; module default capacity $default_capacity"

# ------------------------------------------------------------ one device

A=${PREFIX}a
ktap_test_result "mkdir $A" mkdir "$CFS/$A"
ktap_test_result "$A: type is private by default" is $A type private
ktap_test_result "$A: capacity is the module's default, $default_capacity" \
	is $A capacity "$default_capacity"
ktap_test_result "$A: phys_base is 0 by default" is $A phys_base 0x0
ktap_test_result "$A: copy_bandwidth and copy_latency_us are the module's defaults" \
	sh -c "[ \"\$(cat $CFS/$A/copy_bandwidth)\" = $default_bandwidth ] &&
	       [ \"\$(cat $CFS/$A/copy_latency_us)\" = $default_latency ]"
ktap_test_result "$A: fault_batch and fault_latency_us are the module's defaults" \
	sh -c "[ \"\$(cat $CFS/$A/fault_batch)\" = $default_batch ] &&
	       [ \"\$(cat $CFS/$A/fault_latency_us)\" = $default_fault_latency ]"
ktap_test_result "$A: power is 0" is $A power 0
ktap_test_result "$A: index is -1" is $A index -1
ktap_test_result "$A: capacity 64M is accepted" put $A capacity 64M
ktap_test_result "$A: capacity reads back in bytes" is $A capacity 67108864

expect=$(lowest_free)
ktap_test_result "$A: power 1" put $A power 1
ktap_test_result "$A: power reads 1" is $A power 1
ktap_test_result "$A: index is the lowest free number, $expect" is $A index "$expect"
idx=$(index $A)
ktap_test_result "$A: /dev/$DEVNAME$idx is a char device, mode $HMMSIM_NODE_MODE" node_ok "$idx"
if [ -n "$DBG" ]; then
	ktap_test_result "$A: debugfs hmmsim/$DEVNAME$idx/stats exists" debugfs_ok "$idx"
else
	ktap_test_skip "$A: debugfs hmmsim/$DEVNAME$idx/stats exists" "no debugfs"
fi
if command -v hmmsimctl >/dev/null; then
	ktap_test_result "$A: hmmsimctl info lists /dev/$DEVNAME$idx, private, 64M" \
		listed "$idx" 64M
	ktap_test_result "$A: hmmsimctl demo $idx moves data through it, intact" \
		demo "$idx"
else
	ktap_test_fail "$A: hmmsimctl info lists /dev/$DEVNAME$idx (no hmmsimctl in PATH)"
	ktap_test_fail "$A: hmmsimctl demo $idx moves data through it (no hmmsimctl in PATH)"
fi
ktap_test_result "$A: power 1 again keeps the same device" \
	sh -c "echo 1 > $CFS/$A/power && [ \"\$(cat $CFS/$A/index)\" = '$idx' ]"

ktap_test_result "$A: type refused while powered on (EBUSY)" \
	refused "$EBUSY" $A type coherent
ktap_test_result "$A: capacity refused while powered on (EBUSY)" \
	refused "$EBUSY" $A capacity 128M
ktap_test_result "$A: phys_base refused while powered on (EBUSY)" \
	refused "$EBUSY" $A phys_base 0x60000000
ktap_test_result "$A: copy_bandwidth refused while powered on (EBUSY)" \
	refused "$EBUSY" $A copy_bandwidth 1G
ktap_test_result "$A: copy_latency_us refused while powered on (EBUSY)" \
	refused "$EBUSY" $A copy_latency_us 10
ktap_test_result "$A: the refused writes changed nothing" \
	sh -c "[ \"\$(cat $CFS/$A/type)\" = private ] &&
	       [ \"\$(cat $CFS/$A/capacity)\" = 67108864 ] &&
	       [ \"\$(cat $CFS/$A/phys_base)\" = 0x0 ] &&
	       [ \"\$(cat $CFS/$A/copy_bandwidth)\" = $default_bandwidth ] &&
	       [ \"\$(cat $CFS/$A/copy_latency_us)\" = $default_latency ]"

# ----------------------------------------------- power off with live data

# With evict_on_close=N the holder's pages stay on every device after it
# closes its files, this one included.
old_eoc=$eoc_before
echo N > $PARAMS/evict_on_close
rm -f "$OUT"
"$HOLD" -a device </dev/null >"$OUT" 2>&1 &
holder=$!
if wait_ready $holder "$OUT" && grep -q "^device $idx (private): " "$OUT"; then
	ktap_test_pass "$A: hmmsim_hold holds data on /dev/$DEVNAME$idx, its files closed"
	ktap_test_result "$A: power 0 while a process maps data on the device" \
		put $A power 0
	ktap_test_result "$A: /dev/$DEVNAME$idx is gone" node_gone "$idx"
	ktap_test_result "$A: power reads 0 and index -1" off_and_no_new_device $A \
		$((nodes_before))
	if [ -n "$DBG" ]; then
		ktap_test_result "$A: its debugfs directory is gone" debugfs_gone "$idx"
	else
		ktap_test_skip "$A: its debugfs directory is gone" "no debugfs"
	fi
	kill -USR1 $holder
	reap $holder 120
	rc=$?
	sed 's/^/# /' "$OUT"
	if [ $rc -eq 0 ]; then
		ktap_test_pass "$A: the process's data survived, every byte"
	else
		ktap_test_fail "$A: the process's data survived, every byte (exit status $rc)"
	fi
else
	ktap_test_fail "$A: hmmsim_hold holds data on /dev/$DEVNAME$idx, its files closed"
	sed 's/^/# /' "$OUT"
	kill_and_reap $holder
	put $A power 0
	for t in "power 0 while a process maps data on the device" \
	    "/dev/$DEVNAME$idx is gone" "power reads 0 and index -1" \
	    "its debugfs directory is gone" \
	    "the process's data survived, every byte"; do
		ktap_test_fail "$A: $t (not run: no holder)"
	done
fi
holder=
echo "$old_eoc" > $PARAMS/evict_on_close
old_eoc=
rm -f "$OUT"

# ----------------------------------------------- power off with a file open

ktap_test_result "$A: power 1 again" put $A power 1
idx=$(index $A)
dev=$(node "$idx")
# Not a delay: a process holding the device open; has_open waits for it.
# shellcheck disable=SC2217 # sleep holds the device open, unread
sleep 1000 <"$dev" &
opener=$!
if has_open $opener "$dev"; then
	ktap_test_pass "$A: a process has $dev open"
	ktap_test_result "$A: power 0 while a file of the device is open" put $A power 0
	ktap_test_result "$A: $dev is gone" node_gone "$idx"
	ktap_test_result "$A: power reads 0 and index -1" off_and_no_new_device $A \
		$((nodes_before))
else
	ktap_test_fail "$A: a process has $dev open"
	put $A power 0
	for t in "power 0 while a file of the device is open" \
	    "$dev is gone" "power reads 0 and index -1"; do
		ktap_test_fail "$A: $t (not run: no process has it open)"
	done
fi
kill_and_reap $opener
opener=

ktap_test_result "rmdir $A" rmdir "$CFS/$A"
ktap_test_result "$A is gone from configfs" sh -c "[ ! -e $CFS/$A ]"
ktap_test_result "$A: /dev/$DEVNAME$idx is still gone" node_gone "$idx"

# -------------------------------------------------------------- bad values

B=${PREFIX}b
ktap_test_result "mkdir $B" mkdir "$CFS/$B"
nodes=$(count_nodes)
ktap_test_result "$B: type foo is refused (EINVAL)" refused "$EINVAL" $B type foo
ktap_test_result "$B: type is still private" is $B type private
ktap_test_result "$B: capacity abc is refused (EINVAL)" refused "$EINVAL" $B capacity abc
ktap_test_result "$B: capacity 64MB is refused (EINVAL)" \
	refused "$EINVAL" $B capacity 64MB
ktap_test_result "$B: capacity is unchanged" is $B capacity "$default_capacity"
ktap_test_result "$B: phys_base xyz is refused (EINVAL)" \
	refused "$EINVAL" $B phys_base xyz
ktap_test_result "$B: copy_bandwidth abc is refused (EINVAL)" \
	refused "$EINVAL" $B copy_bandwidth abc
ktap_test_result "$B: copy_latency_us abc is refused (EINVAL)" \
	refused "$EINVAL" $B copy_latency_us abc
ktap_test_result "$B: power foo is refused (EINVAL)" refused "$EINVAL" $B power foo
ktap_test_result "$B: still powered off" off_and_no_new_device $B "$nodes"

ktap_test_result "$B: capacity 3M is stored" put $B capacity 3M
ktap_test_result "$B: power 1 with capacity 3M fails (EINVAL)" \
	refused "$EINVAL" $B power 1
ktap_test_result "$B: stays powered off, no new device" off_and_no_new_device $B "$nodes"
ktap_test_result "$B: capacity 0 is stored" put $B capacity 0
ktap_test_result "$B: power 1 with capacity 0 fails (EINVAL)" \
	refused "$EINVAL" $B power 1
ktap_test_result "$B: stays powered off, no new device" off_and_no_new_device $B "$nodes"

ktap_test_result "$B: type coherent, capacity 256M" \
	sh -c "echo coherent > $CFS/$B/type && echo 256M > $CFS/$B/capacity"
ktap_test_result "$B: coherent without phys_base: power 1 fails (EINVAL)" \
	refused "$EINVAL" $B power 1
ktap_test_result "$B: stays powered off, no new device" off_and_no_new_device $B "$nodes"

if system_ram 0x10000000 0x10000000; then
	ktap_test_result "$B: phys_base 0x10000000 is stored" put $B phys_base 0x10000000
	ktap_test_result "$B: coherent 256M@0x10000000, System RAM: power 1 fails (EINVAL)" \
		refused "$EINVAL" $B power 1
	ktap_test_result "$B: stays powered off, no new device" \
		off_and_no_new_device $B "$nodes"
else
	for t in "phys_base 0x10000000 is stored" \
	    "coherent 256M@0x10000000, System RAM: power 1 fails (EINVAL)" \
	    "stays powered off, no new device"; do
		ktap_test_skip "$B: $t" "0x10000000 is not System RAM here"
	done
fi

# A range a default coherent device holds, from hmmsimctl info:
# "/dev/hmmsim2 coherent 256M 0x60000000-0x6fffffff".
held=$(hmmsimctl info 2>/dev/null | awk '$2 == "coherent" { print $3, $4; exit }')
if [ -n "$held" ]; then
	size=${held%% *}
	base=${held#* }
	base=${base%-*}
	ktap_test_result "$B: capacity $size, phys_base $base are stored" \
		sh -c "echo $size > $CFS/$B/capacity &&
		       echo $base > $CFS/$B/phys_base"
	ktap_test_result "$B: coherent $size@$base, held by another device: power 1 fails (EBUSY)" \
		refused "$EBUSY" $B power 1
	ktap_test_result "$B: stays powered off, no new device" \
		off_and_no_new_device $B "$nodes"
else
	for t in "capacity, phys_base of another device's range are stored" \
	    "coherent range held by another device: power 1 fails (EBUSY)" \
	    "stays powered off, no new device"; do
		ktap_test_skip "$B: $t" "no coherent device"
	done
fi
ktap_test_result "rmdir $B" rmdir "$CFS/$B"

# ------------------------------------------------- several devices at once

C=${PREFIX}c
D=${PREFIX}d
E=${PREFIX}e
first=$(lowest_free)
ktap_test_result "mkdir $C and $D, capacity 64M" \
	sh -c "mkdir $CFS/$C $CFS/$D &&
	       echo 64M > $CFS/$C/capacity && echo 64M > $CFS/$D/capacity"
ktap_test_result "$C: power 1" put $C power 1
ktap_test_result "$D: power 1" put $D power 1
ic=$(index $C)
id=$(index $D)
echo "# $C is device $ic, $D is device $id"
ktap_test_result "$C: the lowest free number, $first" is $C index "$first"
ktap_test_result "$C and $D have different numbers" two_numbers "$ic" "$id"
ktap_test_result "$C and $D: both device nodes exist, mode $HMMSIM_NODE_MODE" \
	sh -c "[ -c $(node "$ic") ] && [ -c $(node "$id") ]"
ktap_test_result "$D: hmmsimctl demo $id moves data through it, intact" demo "$id"
ktap_test_result "rmdir $C while powered on" rmdir "$CFS/$C"
ktap_test_result "$C: /dev/$DEVNAME$ic is gone" node_gone "$ic"
ktap_test_result "$D: still powered on, /dev/$DEVNAME$id still there" \
	sh -c "[ \"\$(cat $CFS/$D/power)\" = 1 ] && [ -c $(node "$id") ]"
ktap_test_result "mkdir $E, capacity 64M, power 1" \
	sh -c "mkdir $CFS/$E && echo 64M > $CFS/$E/capacity &&
	       echo 1 > $CFS/$E/power"
ktap_test_result "$E: reuses the freed number, $ic" is $E index "$ic"
ktap_test_result "$E: /dev/$DEVNAME$ic is back" node_ok "$ic"
ktap_test_result "rmdir $D while powered on" rmdir "$CFS/$D"
ktap_test_result "$D: /dev/$DEVNAME$id is gone" node_gone "$id"
ktap_test_result "rmdir $E while powered on" rmdir "$CFS/$E"
ktap_test_result "$E: /dev/$DEVNAME$ic is gone" node_gone "$ic"

# ------------------------------------------- features, one validator

# features_are_attributes ITEM: features names ITEM's attributes, no more.
features_are_attributes() {
	[ "$(tr , '\n' <"$CFS/features" | sort)" = \
		"$(cd "$CFS/$1" && printf '%s\n' * | sort)" ]
}

# logged MARK TEXT: hmmsim logged TEXT after MARK, which this writes.
logged() {
	dmesg | sed -n "/$1/,\$p" | grep -q "hmmsim: $2"
}

F=${PREFIX}f
ktap_test_result "mkdir $F" mkdir "$CFS/$F"
nodes=$(count_nodes)
for a in type capacity phys_base copy_bandwidth copy_latency_us fault_batch \
	 fault_latency_us index power; do
	ktap_test_result "features lists $a" grep -q "\(^\|,\)$a\(,\|\$\)" "$CFS/features"
done
ktap_test_result "features lists the attributes of $F, and no other" \
	features_are_attributes $F
ktap_test_result "features is read-only" refused "Permission denied" . features x

echo "hmmsim-test: configfs validation" >/dev/kmsg
ktap_test_result "$F: capacity 128G is stored" put $F capacity 128G
ktap_test_result "$F: power 1 with capacity 128G, above 64G, fails (EINVAL)" \
	refused "$EINVAL" $F power 1
ktap_test_result "$F: the log names $F and its capacity" \
	logged "configfs validation" "$F: capacity=137438953472: "
ktap_test_result "$F: capacity 64M, copy_latency_us 2000000 are stored" \
	sh -c "echo 64M > $CFS/$F/capacity &&
	       echo 2000000 > $CFS/$F/copy_latency_us"
ktap_test_result "$F: power 1 with copy_latency_us above one second fails (EINVAL)" \
	refused "$EINVAL" $F power 1
ktap_test_result "$F: the log names $F and its copy_latency_us" \
	logged "configfs validation" "$F: copy_latency_us=2000000: "
ktap_test_result "$F: copy_latency_us 0, coherent, capacity 256M, phys_base 0x60100000" \
	sh -c "echo 0 > $CFS/$F/copy_latency_us &&
	       echo coherent > $CFS/$F/type &&
	       echo 256M > $CFS/$F/capacity &&
	       echo 0x60100000 > $CFS/$F/phys_base"
ktap_test_result "$F: power 1 with phys_base not a multiple of 2M fails (EINVAL)" \
	refused "$EINVAL" $F power 1
ktap_test_result "$F: the log names $F and its phys_base" \
	logged "configfs validation" "$F: phys_base=0x60100000: "
for v in 0 4097; do
	ktap_test_result "$F: fault_batch $v is stored" put $F fault_batch $v
	ktap_test_result "$F: power 1 with fault_batch $v fails (EINVAL)" \
		refused "$EINVAL" $F power 1
done
ktap_test_result "$F: the log names $F and its fault_batch" \
	logged "configfs validation" "$F: fault_batch=4097: "
ktap_test_result "$F: fault_batch 256 again" put $F fault_batch 256
ktap_test_result "$F: fault_latency_us 100001 is stored" \
	put $F fault_latency_us 100001
ktap_test_result "$F: power 1 with fault_latency_us above 100 ms fails (EINVAL)" \
	refused "$EINVAL" $F power 1
ktap_test_result "$F: the log names $F and its fault_latency_us" \
	logged "configfs validation" "$F: fault_latency_us=100001: "
ktap_test_result "$F: fault_latency_us 0 again" put $F fault_latency_us 0
ktap_test_result "$F: copy_bandwidth 1Gx is refused (EINVAL)" \
	refused "$EINVAL" $F copy_bandwidth 1Gx
ktap_test_result "$F: copy_bandwidth is unchanged" is $F copy_bandwidth "$default_bandwidth"
ktap_test_result "$F: stays powered off, no new device" off_and_no_new_device $F "$nodes"
ktap_test_result "rmdir $F" rmdir "$CFS/$F"

# ----------------------------------------------------------------- the end

cleanup
ktap_test_result "no configfs item left behind" no_items_left
ktap_test_result "the $nodes_before device nodes of the start, and no other" \
	sh -c "[ $(count_nodes) = $nodes_before ]"
ktap_test_result "evict_on_close is as it was, $eoc_before" \
	sh -c "[ \"\$(cat $PARAMS/evict_on_close)\" = $eoc_before ]"

ktap_finished
