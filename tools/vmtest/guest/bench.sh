# SPDX-License-Identifier: GPL-2.0
#
# `make bench`, inside the VM: hmmsim and the kernel's lib/test_hmm.ko side
# by side, with the same benchmark, in the same boot.
# shellcheck shell=sh source=SCRIPTDIR/lib.sh
. /hmmsim/guest/lib.sh

status=0
echo madvise > /sys/kernel/mm/transparent_hugepage/enabled
# shellcheck disable=SC2119 # HMMSIM_PARAMS only
if ! hmmsim_load || ! insmod /hmmsim/test_hmm.ko; then
	echo 1 > /tmp/job-status
	exit 1
fi
echo "# THP madvise, $(nproc) CPUs, kernel $(uname -r)"
# hmmsim's own table follows its device's: migrations issued as ioctls from
# one thread, then as io_uring commands at queue depths 1, 8 and 32.
hmmsim-bench -s "${BENCH_SIZE:-64}" -r "${BENCH_REPEAT:-5}" \
	/dev/"$HMMSIM_DEVNAME"0 /dev/hmm_dmirror0 || status=1
if [ "$BENCH_JSON" = 1 ]; then
	hmmsim-bench -j -s "${BENCH_SIZE:-64}" -r "${BENCH_REPEAT:-5}" \
		/dev/"$HMMSIM_DEVNAME"0 /dev/hmm_dmirror0 || status=1
fi
rmmod test_hmm
hmmsim_unload || status=1
echo $status > /tmp/job-status
