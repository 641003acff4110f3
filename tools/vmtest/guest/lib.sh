# SPDX-License-Identifier: GPL-2.0
# Helpers for the guest's job scripts: TAP output and module handling.

tap_n=0

tap_ok() {
	tap_n=$((tap_n + 1))
	echo "ok $tap_n $*"
}

tap_not_ok() {
	tap_n=$((tap_n + 1))
	echo "not ok $tap_n $*"
}

# tap_check NAME COMMAND...: one TAP line for the command's success.
tap_check() {
	name=$1
	shift
	if "$@"; then
		tap_ok "$name"
	else
		tap_not_ok "$name"
	fi
}

hmmsim_load() {
	# shellcheck disable=SC2086
	insmod /hmmsim/hmmsim.ko $HMMSIM_PARAMS "$@"
}

hmmsim_unload() {
	rmmod hmmsim
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

# One TAP line for the leaks kmemleak finds now (after rmmod), each leak
# shown as a comment; fails if there is any.
kmemleak_report() {
	leaks=$(kmemleak_scan)
	if [ ! -w /sys/kernel/debug/kmemleak ]; then
		echo "ok - kmemleak: no leak after rmmod # SKIP kernel without kmemleak"
	elif [ -n "$leaks" ]; then
		echo "$leaks" | sed 's/^/# /'
		echo "not ok - kmemleak: no leak after rmmod"
		return 1
	else
		echo "ok - kmemleak: no leak after rmmod"
	fi
}
