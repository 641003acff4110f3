# SPDX-License-Identifier: GPL-2.0
#
# `make check`, inside the VM: every suite, each printing TAP. The host counts
# the "ok"/"not ok" lines and scans the kernel log for splats.
. /hmmsim/guest/lib.sh

status=0
run_suite() {
	echo "# suite: $*"
	"$@" || status=1
}

kmemleak_forget

run_suite sh /hmmsim/tests/module_params.sh

if hmmsim_load; then
	run_suite /hmmsim/tests/hmmsim_basic
	# Suites that need the module loaded go here.
	hmmsim_unload || status=1
else
	echo "not ok - insmod hmmsim $HMMSIM_PARAMS"
	status=1
fi

leaks=$(kmemleak_scan)
if [ ! -w /sys/kernel/debug/kmemleak ]; then
	echo "ok - kmemleak: no leak after rmmod # SKIP kernel without kmemleak"
elif [ -n "$leaks" ]; then
	echo "$leaks" | sed 's/^/# /'
	echo "not ok - kmemleak: no leak after rmmod"
	status=1
else
	echo "ok - kmemleak: no leak after rmmod"
fi

echo $status > /tmp/job-status
