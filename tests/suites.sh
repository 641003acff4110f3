# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
#
# The suites of `make check`, in the order they run, one a line:
#
#	suite THP MODULE COMMAND [ARGUMENT...]
#
# THP      the modes of /sys/kernel/mm/transparent_hugepage/enabled the
#          suite runs in, comma-separated ("always,madvise": twice), or "-"
#          to leave the mode as it is. Consecutive suites with the same THP
#          field are a block, which runs once per mode.
# MODULE   "unloaded" for a suite that loads hmmsim itself: the runner makes
#          sure it is not loaded. Otherwise the parameters hmmsim is loaded
#          with, after HMMSIM_PARAMS ("default": none). Consecutive suites
#          of a block with the same MODULE share one insmod; the rmmod after
#          them is a result of its own.
# COMMAND  a program or a shell script (*.sh, run with sh) of this
#          directory, with its arguments.
#
# Each suite's KTAP output becomes one subtest of the report, named by its
# command and THP mode. The runner, tools/vmtest/guest/check.sh, sources
# this file with a suite() of its own; tests/Makefile builds the programs
# and installs the scripts named here. A program that is not a suite
# (hmmsim_hold, hmmsim_json, run by the scripts) is listed in
# tests/Makefile.

#     THP             MODULE               COMMAND
suite -               unloaded             module_params.sh
suite -               unloaded             device_removal.sh
# The functional suites in each THP mode, and a short stress (25 s on all
# four devices; `make stress` runs longer), with 16 huge pages reserved
# for the hugetlbfs cases.
suite always,madvise  default              hmmsim_basic
suite always,madvise  default              hmmsim_core
suite always,madvise  default              hmmsim_coherent
suite always,madvise  default              hmmsim_uring
suite always,madvise  default              hmmsim_thp
suite always,madvise  default              hmmsim_stress -d 25
# The kernel's own selftest, unmodified: it expects test_hmm's names.
suite always,madvise  devname=hmm_dmirror  hmm_tests.sh private
suite always,madvise  devname=hmm_dmirror  hmm_tests.sh coherent
# Suites whose buffers never use THPs (MADV_NOHUGEPAGE) run once, and so
# do the fuzzer (which makes its own THPs; 100000 calls on every device)
# and the bounds tests.
suite madvise         default              hmmsim_pressure
suite madvise         default              hmmsim_policy
suite madvise         default              configfs.sh
suite madvise         default              nonroot.sh
suite madvise         default              hmmsimctl.sh
suite madvise         default              hmmsim_fuzz
suite madvise         default              hmmsim_bounds
# With one coherent device, so that the second memmap= reservation is free
# for a coherent configfs device: KSM pages never reach device memory,
# mlocked pages on the device, the waits (a power-off refusing a pinned page
# among them), and device memory errors.
suite madvise         coherent=256M@0x60000000  hmmsim_ksm
suite madvise         coherent=256M@0x60000000  hmmsim_mlock
suite madvise         coherent=256M@0x60000000  hmmsim_waits
suite madvise         coherent=256M@0x60000000  hmmsim_poison
