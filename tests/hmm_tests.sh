#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# hmm_tests.sh private|coherent: the kernel's own selftest, hmm-tests
# (tools/testing/selftests/mm/hmm-tests.c, built from the kernel's tree
# next to this script), unmodified, against hmmsim loaded with test_hmm's
# names (devname=hmm_dmirror, two coherent devices): the variants of one
# kind of device, without the cases left out for it below, each named in
# the output with its reason.
#
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

# The cases left out, by name, each with its reason:
# "private|coherent TEST reason". None at present.
EXCLUDED='
'

kind=$1
case $kind in
private | coherent) ;;
*) echo "usage: $0 private|coherent" >&2; exit 2 ;;
esac

# The harness stops at the first filter that matches, so -T before -v
# leaves a case out of that variant only. A case this kernel's hmm-tests
# does not have is not named.
hmm_tests=$HMMSIM_TESTS/hmm-tests
list=$("$hmm_tests" -l 2>&1)
args=
while read -r k test reason; do
	[ "$k" = "$kind" ] || continue
	echo "$list" | grep -qw -- "$test" || continue
	ktap_print_msg "hmm-tests: $test excluded on the $kind devices: it $reason"
	args="$args -T $test"
done <<EOF2
$EXCLUDED
EOF2
# A benchmark, not a conformance case: 24 migrations of up to 256 MiB
# each way, which a KASAN kernel under TCG cannot finish within the case's
# own 120 s timeout. `make bench` runs it on the perf kernel.
if grep -qw kasan_report /proc/kallsyms &&
    echo "$list" | grep -qw benchmark_thp_migration; then
	# (The message must not name the sanitizer: the runner's splat scan
	# reads the console too.)
	ktap_print_msg "hmm-tests: benchmark_thp_migration excluded on this kernel with the address sanitizer: it is a benchmark whose 120 s timeout a sanitized kernel under TCG does not meet; make bench runs it"
	args="$args -T benchmark_thp_migration"
fi
# shellcheck disable=SC2086 # args is a list of options
exec "$hmm_tests" $args -v "hmm_device_$kind" -v "hmm2_device_$kind"
