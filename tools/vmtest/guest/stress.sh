# SPDX-License-Identifier: GPL-2.0
#
# `make stress`, inside the VM: tests/hmmsim_stress for STRESS_DURATION
# seconds on each set of devices of STRESS_SETS (default: the private
# devices, then the coherent ones), with THP always and then madvise.
# STRESS_ARGS is passed on (e.g. "-s SEED -t 8"). Then rmmod and the
# kmemleak scan, as in check.sh.
. /hmmsim/guest/lib.sh

status=0
duration=${STRESS_DURATION:-600}
sets=${STRESS_SETS:-0,1 2,3}

kmemleak_forget

for thp in always madvise; do
	echo $thp > /sys/kernel/mm/transparent_hugepage/enabled
	if ! hmmsim_load; then
		echo "not ok - insmod hmmsim $HMMSIM_PARAMS"
		status=1
		continue
	fi
	for set in $sets; do
		echo "# suite: hmmsim_stress, THP $thp, devices $set, ${duration}s (at $(cut -d' ' -f1 /proc/uptime)s)"
		# shellcheck disable=SC2086
		/hmmsim/tests/hmmsim_stress -d "$duration" -D "$set" \
			$STRESS_ARGS || status=1
	done
	hmmsim_unload || status=1
done

kmemleak_report || status=1

echo $status > /tmp/job-status
