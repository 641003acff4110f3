#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Module parameters: every invalid value must fail insmod with a message in
# the kernel log that names the parameter, and valid ones must create the
# devices they describe. Needs hmmsim unloaded; leaves it unloaded.
#
# The coherent ranges are HMMSIM_COHERENT's (lib.sh): RAM reserved with
# memmap=, below which is System RAM, as in the test VM.
#
# The checks run through ktap_test_result, which shellcheck cannot follow.
# shellcheck disable=SC2317
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

R0=$(hmmsim_coherent_range 0)
R1=$(hmmsim_coherent_range 1)

# iomem SIZE@ADDR: the range as /proc/iomem writes it, "start-end".
iomem() {
	_size=$(bytes "${1%@*}")
	_base=$((${1#*@}))
	printf '%08x-%08x\n' "$_base" $((_base + _size - 1))
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

BASE=$((${R0#*@}))
SIZE=$(bytes "${R0%@*}")
hex() {
	printf '0x%x' "$1"
}

ktap_print_header
ktap_set_plan 30

if hmmsim_loaded; then
	ktap_print_msg "hmmsim is loaded: removing it first"
	hmmsim_unload || ktap_exit_fail_msg "rmmod hmmsim failed"
fi

# refuse NAME EXPECTED_LOG_TEXT PARAMS...
refuse() {
	_name=$1 _text=$2
	shift 2
	_mark="hmmsim-test: $_name"
	echo "$_mark" > /dev/kmsg
	if hmmsim_insmod "$@" 2>/dev/null; then
		hmmsim_unload
		ktap_test_fail "refuse $_name: insmod $* succeeded"
		return
	fi
	if dmesg | sed -n "/$_mark/,\$p" | grep -q "hmmsim: .*$_text"; then
		ktap_test_pass "refuse $_name"
	else
		ktap_test_fail "refuse $_name: no '$_text' message in dmesg"
	fi
}

refuse "empty devname" "devname=" devname=
refuse "devname with a slash" "devname=" devname=a/b
refuse "devname too long" "devname=" devname=abcdefghijklmnopqrstuvwxyz0123456789
refuse "too many private devices" "nr_private=" nr_private=1000
refuse "capacity zero" "capacity=" capacity=0
refuse "capacity not a multiple of 2M" "capacity=" capacity=3M
refuse "capacity not a number" "capacity=" capacity=lots
refuse "capacity with trailing junk" "capacity=" capacity=256Mx
refuse "capacity too large" "capacity=" capacity=1T
refuse "coherent without address" "expected SIZE@ADDR" coherent="${R0%@*}"
refuse "coherent garbage" "expected SIZE@ADDR" coherent=foo@bar
refuse "coherent empty range" "expected SIZE@ADDR" coherent="$R0,"
refuse "coherent unaligned address" "multiples of 2M" \
	coherent="${R0%@*}@$(hex $((BASE + 0x1000)))"
refuse "coherent unaligned size" "multiples of 2M" coherent="3M@$(hex $BASE)"
refuse "coherent zero size" "multiples of 2M" coherent="0@$(hex $BASE)"
refuse "coherent address overflow" "beyond the physical" \
	coherent=4M@0xffffffffffe00000
refuse "coherent ranges overlap" "overlaps range 0" \
	coherent="$R0,$((SIZE / 2))@$(hex $((BASE + SIZE / 2)))"
# System RAM: the guest's first 256 MiB above 256 MiB, and the range just
# below the reservation.
refuse "coherent range in System RAM" "overlaps System RAM" \
	coherent=256M@0x10000000
refuse "coherent range half in System RAM" "overlaps System RAM" \
	coherent="$((SIZE * 2))@$(hex $((BASE - SIZE)))"

# devices_are PATTERN COUNT: exactly COUNT nodes /dev/PATTERN*, with
# HMMSIM_NODE_MODE.
devices_are() {
	_n=0
	for _f in /dev/"$1"*; do
		[ -c "$_f" ] || continue
		node_mode_ok "$_f" || return 1
		_n=$((_n + 1))
	done
	[ "$_n" -eq "$2" ]
}

if hmmsim_insmod nr_private=3; then
	ktap_test_result "nr_private=3 makes 3 devices, mode $HMMSIM_NODE_MODE" \
		devices_are hmmsim 3
	hmmsim_unload
else
	ktap_test_fail "nr_private=3 makes 3 devices, mode $HMMSIM_NODE_MODE: insmod failed"
fi
ktap_test_result "rmmod removes the devices" devices_are hmmsim 0

# iomem_has RANGE NAME: /proc/iomem has RANGE (SIZE@ADDR) claimed by NAME.
iomem_has() {
	grep -q "^ *$(iomem "$1") : $2\$" /proc/iomem
}

coherent_claimed() {
	iomem_has "$R0" hmm_dmirror2 && iomem_has "$R1" hmm_dmirror3
}

coherent_released() {
	! grep -q hmm_dmirror /proc/iomem
}

rmmod_refused() {
	! rmmod hmmsim 2>/dev/null
}

if hmmsim_insmod devname=hmm_dmirror coherent="$R0,$R1"; then
	ktap_test_result "default layout with devname=hmm_dmirror: 4 devices" \
		devices_are hmm_dmirror 4
	ktap_test_result "coherent ranges claimed in /proc/iomem" \
		coherent_claimed
	hmmsim_unload
else
	ktap_test_fail "default layout with devname=hmm_dmirror: insmod failed"
	ktap_test_fail "coherent ranges claimed in /proc/iomem: insmod failed"
fi
ktap_test_result "rmmod releases the coherent ranges" \
	coherent_released

if hmmsim_insmod nr_private=1; then
	exec 3<"$(hmmsim_node 0)"
	ktap_test_result "rmmod refused while a file is open" \
		rmmod_refused
	exec 3<&-
	ktap_test_result "rmmod succeeds once the file is closed" rmmod hmmsim
else
	ktap_test_fail "rmmod refused while a file is open: insmod failed"
	ktap_test_fail "rmmod succeeds once the file is closed: insmod failed"
fi

# einval PARAMS...: insmod fails, with EINVAL.
einval() {
	if _out=$(hmmsim_insmod "$@" 2>&1); then
		hmmsim_unload
		return 1
	fi
	ktap_print_msg "$_out"
	echo "$_out" | grep -q "Invalid argument"
}

refuse "coherent above 64G" "range '128G@0x100000000': capacity=.*at most 64G" \
	coherent=128G@0x100000000
refuse "coherent at address 0" "range '256M@0': phys_base=0: .*address 0" \
	coherent=256M@0
ktap_test_result "coherent above 64G: EINVAL" einval coherent=128G@0x100000000
ktap_test_result "coherent at address 0: EINVAL" einval coherent=256M@0

ktap_finished
