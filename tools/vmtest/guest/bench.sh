# SPDX-License-Identifier: GPL-2.0
#
# `make bench`, inside the VM: hmmsim and the kernel's lib/test_hmm.ko side
# by side, with the same benchmark, in the same boot: (a) the tables on
# 4 KiB pages and on THPs, (b) the devices alternating, round after round,
# on 4 KiB pages and on THPs, (c) the kernel's own hmm-tests
# benchmark_thp_migration, once on test_hmm and once on hmmsim loaded with
# test_hmm's names, (d) the policy replay's tables (hmmsim-replay).
# shellcheck shell=sh source=SCRIPTDIR/lib.sh
. /hmmsim/guest/lib.sh

status=0
size=${BENCH_SIZE:-64}
repeat=${BENCH_REPEAT:-5}
echo madvise > /sys/kernel/mm/transparent_hugepage/enabled
# khugepaged sleeps for the whole run. The THP-backed buffers get their huge
# pages at the first touch, or not at all (6.12's guest gives none); a
# collapse in the middle of a run holds the pages it gathers, which
# migrate_vma then leaves where they are, and lib/test_hmm's
# MIGRATE_TO_DEV fails with ENOENT (a 6.12 run did so three times in a
# row, ending part (b)).
echo 86400000 > /sys/kernel/mm/transparent_hugepage/khugepaged/scan_sleep_millisecs
# shellcheck disable=SC2119 # HMMSIM_PARAMS only
if ! hmmsim_load || ! insmod /hmmsim/test_hmm.ko; then
	echo 1 > /tmp/job-status
	exit 1
fi
devices="/dev/${HMMSIM_DEVNAME}0 /dev/hmm_dmirror0"
echo "# THP madvise, $(nproc) CPUs, kernel $(uname -r)"

# (a) The buffers on 4 KiB pages, then on THPs, each with hmmsim's own
# table after its device's (migrations issued as ioctls from one thread,
# then as io_uring commands at queue depths 1, 8 and 32), then both side
# by side.
echo "# (a) 4 KiB pages and THPs"
# shellcheck disable=SC2086 # devices is a list
hmmsim-bench -v -b both -s "$size" -r "$repeat" $devices || status=1
if [ "$BENCH_JSON" = 1 ]; then
	# shellcheck disable=SC2086
	hmmsim-bench -j -b both -s "$size" -r "$repeat" $devices || status=1
fi

# (b) The devices in turn, run by run, hmmsim first, round after round,
# on 4 KiB pages and on THPs: whether one is ahead in every round, not only
# in the medians of (a), which a busy host can skew by taking its slow
# stretch on one device's runs.
echo
echo "# (b) alternating, ${BENCH_ROUNDS:-3} rounds, 4 KiB pages and THPs"
# shellcheck disable=SC2086
hmmsim-bench -v -b both -a "${BENCH_ROUNDS:-3}" -s "$size" -r "$repeat" \
	$devices || status=1
if [ "$BENCH_JSON" = 1 ]; then
	# shellcheck disable=SC2086
	hmmsim-bench -j -b both -a "${BENCH_ROUNDS:-3}" -s "$size" \
		-r "$repeat" $devices || status=1
fi
rmmod test_hmm || status=1
hmmsim_unload || status=1

# (c) The kernel's own benchmark: test_hmm's on its first private device,
# then hmmsim's under the same name (the two cannot be loaded together
# with the same names) on its first private and first coherent device.
# hmm_bench LABEL VARIANT...: the case on each variant of the hmm fixture.
hmm_bench() {
	label=$1
	shift
	for v; do
		echo
		echo "# (c) hmm-tests benchmark_thp_migration on $label, $v"
		{
			"$HMMSIM_TESTS/hmm-tests" \
				-r "hmm.$v.benchmark_thp_migration"
			echo $? > /tmp/hmm-bench-status
		} 2>&1 | sed 's/^/    /'
		[ "$(cat /tmp/hmm-bench-status)" = 0 ] || status=1
	done
}

if ! "$HMMSIM_TESTS/hmm-tests" -l 2>&1 |
    grep -qw benchmark_thp_migration; then
	echo
	echo "# (c) skipped: this kernel's hmm-tests has no benchmark_thp_migration"
elif insmod /hmmsim/test_hmm.ko; then
	hmm_bench "lib/test_hmm.ko" hmm_device_private
	rmmod test_hmm || status=1
	if hmmsim_load devname=hmm_dmirror; then
		hmm_bench "hmmsim, devname=hmm_dmirror" \
			hmm_device_private hmm_device_coherent
		hmmsim_unload || status=1
	else
		status=1
	fi
else
	status=1
fi

# (d) The policy replay: hmmsim-replay's full traces on device 0 under
# every policy, a table per trace (guest/replay.sh).
echo
echo "# (d) hmmsim-replay: the example traces under every policy"
# shellcheck disable=SC2119 # HMMSIM_PARAMS only
if hmmsim_load; then
	sh /hmmsim/guest/replay.sh bench || status=1
	hmmsim_unload || status=1
else
	status=1
fi
echo $status > /tmp/job-status
