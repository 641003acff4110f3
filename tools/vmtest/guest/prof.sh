# SPDX-License-Identifier: GPL-2.0
#
# Inside the VM (perf kernel): where to_system's time goes, in hmmsim and in
# the kernel's lib/test_hmm.ko, in the same boot. Run from the host as
#
#   FLAVOUR=perf tools/vmtest/vmtest run --cmd 'sh /hmmsim/guest/prof.sh'
#
# PROF_PHASE=dev profiles to_device instead. hmmsim is loaded by the runner.
# shellcheck shell=sh
phase=${PROF_PHASE:-sys}
echo 0 > /proc/sys/kernel/kptr_restrict
echo -1 > /proc/sys/kernel/perf_event_paranoid
echo madvise > /sys/kernel/mm/transparent_hugepage/enabled
insmod /hmmsim/test_hmm.ko || exit 1
echo "# $(nproc) CPUs, kernel $(uname -r)"
# The devices in turn, loop after loop: the ratio, unprofiled.
migloop -i -n 21 /dev/hmmsim0 /dev/hmm_dmirror0
for dev in /dev/hmmsim0 /dev/hmm_dmirror0; do
	echo "## $dev, to_$phase"
	kprof -c -g -n 40 -- migloop -n 8 -p "$phase" "$dev"
done
