#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Module parameters: every invalid value must fail insmod with a message in
# the kernel log that names the parameter, and valid ones must create the
# devices they describe. Needs hmmsim unloaded; leaves it unloaded.
#
# The guest has memmap=256M$0x60000000 and memmap=256M$0x70000000 reserved.
. /hmmsim/guest/lib.sh

KO=/hmmsim/hmmsim.ko
R0=256M@0x60000000
R1=256M@0x70000000

echo "TAP version 13"

# refuse NAME EXPECTED_LOG_TEXT PARAMS...
refuse() {
	name=$1 text=$2
	shift 2
	mark="hmmsim-test: $name"
	echo "$mark" > /dev/kmsg
	if insmod $KO "$@" 2>/dev/null; then
		rmmod hmmsim
		tap_not_ok "refuse $name: insmod $* succeeded"
		return
	fi
	if dmesg | sed -n "/$mark/,\$p" | grep -q "hmmsim: .*$text"; then
		tap_ok "refuse $name"
	else
		tap_not_ok "refuse $name: no '$text' message in dmesg"
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
refuse "coherent without address" "expected SIZE@ADDR" coherent=256M
refuse "coherent garbage" "expected SIZE@ADDR" coherent=foo@bar
refuse "coherent empty range" "expected SIZE@ADDR" coherent=$R0,
refuse "coherent unaligned address" "multiples of 2M" coherent=256M@0x60001000
refuse "coherent unaligned size" "multiples of 2M" coherent=3M@0x60000000
refuse "coherent zero size" "multiples of 2M" coherent=0@0x60000000
refuse "coherent address overflow" "beyond the physical" coherent=4M@0xffffffffffe00000
refuse "coherent ranges overlap" "overlaps range 0" coherent=$R0,128M@0x68000000
refuse "coherent range in System RAM" "overlaps System RAM" coherent=256M@0x10000000
refuse "coherent range half in System RAM" "overlaps System RAM" coherent=512M@0x50000000

# devices_are PATTERN COUNT: exactly COUNT nodes /dev/PATTERN*, mode 0600.
devices_are() {
	n=0
	for f in /dev/"$1"*; do
		[ -c "$f" ] || continue
		[ "$(stat -c %a "$f")" = 600 ] || return 1
		n=$((n + 1))
	done
	[ $n -eq "$2" ]
}

if insmod $KO nr_private=3; then
	tap_check "nr_private=3 makes 3 devices, mode 0600" devices_are hmmsim 3
	rmmod hmmsim
else
	tap_not_ok "insmod nr_private=3"
fi
tap_check "rmmod removes the devices" devices_are hmmsim 0

if insmod $KO devname=hmm_dmirror coherent=$R0,$R1; then
	tap_check "default layout with devname=hmm_dmirror: 4 devices" \
		devices_are hmm_dmirror 4
	tap_check "coherent ranges claimed in /proc/iomem" \
		sh -c "grep -q '60000000-6fffffff : hmm_dmirror2' /proc/iomem &&
		       grep -q '70000000-7fffffff : hmm_dmirror3' /proc/iomem"
	rmmod hmmsim
else
	tap_not_ok "insmod devname=hmm_dmirror coherent=$R0,$R1"
fi
tap_check "rmmod releases the coherent ranges" \
	sh -c "! grep -q hmm_dmirror /proc/iomem"

if insmod $KO nr_private=1; then
	exec 3</dev/hmmsim0
	tap_check "rmmod refused while a file is open" sh -c "! rmmod hmmsim 2>/dev/null"
	exec 3<&-
	tap_check "rmmod succeeds once the file is closed" rmmod hmmsim
else
	tap_not_ok "insmod nr_private=1"
fi

# einval PARAMS...: insmod fails, with EINVAL.
einval() {
	if out=$(insmod $KO "$@" 2>&1); then
		rmmod hmmsim
		return 1
	fi
	echo "# $out"
	echo "$out" | grep -q "Invalid argument"
}

refuse "coherent above 64G" "range '128G@0x100000000': capacity=.*at most 64G" \
	coherent=128G@0x100000000
refuse "coherent at address 0" "range '256M@0': phys_base=0: .*address 0" \
	coherent=256M@0
tap_check "coherent above 64G: EINVAL" einval coherent=128G@0x100000000
tap_check "coherent at address 0: EINVAL" einval coherent=256M@0

echo "1..$tap_n"
