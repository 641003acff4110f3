# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
#
# `make stress`, inside the VM: tests/hmmsim_stress for STRESS_DURATION
# seconds on each set of devices of STRESS_SETS (default: the private
# devices, then the coherent ones), with THP always and then madvise.
# STRESS_ARGS is passed on (e.g. "-s SEED -t 8"). After the runs of each
# THP mode, hmmsim_pressure's eviction races, one round per second of
# STRESS_DURATION. Then rmmod and the kmemleak scan, as in check.sh; one
# KTAP document, each run a subtest.
# shellcheck source=SCRIPTDIR/lib.sh
. /hmmsim/guest/lib.sh

duration=${STRESS_DURATION:-600}
sets=${STRESS_SETS:-0,1 2,3}

nsets=0
for set in $sets; do
	nsets=$((nsets + 1))
done

ktap_print_header
ktap_print_msg "hmmsim_stress, ${duration}s per run, on $(uname -r)"
# Per THP mode: a run per set, the races and the rmmod; then kmemleak.
ktap_set_plan $((2 * (nsets + 2) + 1))

kmemleak_forget

for thp in always madvise; do
	echo $thp > /sys/kernel/mm/transparent_hugepage/enabled
	loaded=1
	# shellcheck disable=SC2119 # HMMSIM_PARAMS only
	if ! hmmsim_load; then
		ktap_print_msg "insmod hmmsim $HMMSIM_PARAMS failed"
		loaded=0
	fi
	for set in $sets; do
		desc="hmmsim_stress, THP $thp, devices $set, ${duration}s"
		if [ $loaded = 0 ]; then
			ktap_test_fail "$desc (not run: insmod failed)"
			continue
		fi
		# shellcheck disable=SC2086 # a list of options
		run_suite "$desc" "$HMMSIM_TESTS/hmmsim_stress" \
			-d "$duration" -D "$set" $STRESS_ARGS
	done
	desc="hmmsim_pressure eviction races, THP $thp, $duration rounds each"
	if [ $loaded = 1 ]; then
		run_suite "$desc" env HMMSIM_RACE_ROUNDS="$duration" \
			"$HMMSIM_TESTS/hmmsim_pressure" \
			-t eviction_races_unmap_of_pages_only_a_child_maps \
			-t eviction_races_unmap_of_pages_of_a_closed_file \
			-t power_off_races_unmap_of_pages_only_a_child_maps
	else
		ktap_test_fail "$desc (not run: insmod failed)"
	fi
	if [ $loaded = 1 ]; then
		ktap_test_result "rmmod hmmsim (THP $thp)" hmmsim_unload
	else
		ktap_test_fail "rmmod hmmsim (THP $thp) (not run: insmod failed)"
	fi
done

kmemleak_report
ktap_print_totals
job_status
