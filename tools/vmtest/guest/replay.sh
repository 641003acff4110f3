# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
#
# hmmsim-replay's example traces (tools/traces, which tools/Makefile puts
# beside the tools, in /hmmsim/bin) on device 0 under every policy, with
# hmmsim loaded by the caller (Documentation/policy.rst):
#
#	replay.sh check		the short traces (*-short.trace), as a KTAP
#				document: a result per trace, which fails on
#				a wrong value read or any error; the tables
#				as diagnostic lines (make check)
#	replay.sh bench		the full traces, their tables (make bench)
#	replay.sh pictures	the full traces with hmmsim-replay -o: the
#				tables, then each data file and gnuplot script
#				between "@@replay-file NAME" and "@@replay-end"
#				lines, every line of it prefixed with "@@ ", for
#				tools/traces/pictures.sh on the host to draw
# shellcheck source=SCRIPTDIR/lib.sh
. /hmmsim/guest/lib.sh

REPLAY_DIR=${REPLAY_DIR:-/hmmsim/bin}
REPLAY_DEV=/dev/${HMMSIM_DEVNAME}0

# The full traces: every *.trace but the short ones.
full_traces() {
	for _rt in "$REPLAY_DIR"/*.trace; do
		case $_rt in
		*-short.trace) ;;
		*) echo "$_rt" ;;
		esac
	done
}

replay_check() {
	ktap_print_header
	# shellcheck disable=SC2046 # file names without blanks
	set -- $(ls "$REPLAY_DIR"/*-short.trace 2>/dev/null)
	[ $# -gt 0 ] || ktap_skip_all "no trace in $REPLAY_DIR"
	ktap_set_plan $#
	for _rt; do
		_rn=$(basename "$_rt" .trace)
		hmmsim-replay -d "$REPLAY_DEV" "$_rt" > /tmp/replay.out 2>&1
		_rs=$?
		sed 's/^/# /' /tmp/replay.out
		if [ $_rs = 0 ]; then
			ktap_test_pass "hmmsim-replay $_rn: every policy, every value right"
		else
			ktap_test_fail "hmmsim-replay $_rn: every policy, every value right (exit status $_rs)"
		fi
	done
	ktap_finished
}

replay_bench() {
	# shellcheck disable=SC2046 # file names without blanks
	hmmsim-replay -d "$REPLAY_DEV" $(full_traces)
}

# Each file of DIR, between markers, its lines prefixed.
print_files() {
	for _rf in "$1"/*; do
		echo "@@replay-file $(basename "$_rf")"
		sed 's/^/@@ /' "$_rf"
		echo "@@replay-end"
	done
}

replay_pictures() {
	_rd=/tmp/replay-pictures
	rm -rf "$_rd"
	mkdir -p "$_rd"
	# shellcheck disable=SC2046 # file names without blanks
	hmmsim-replay -d "$REPLAY_DEV" -o "$_rd" $(full_traces)
	_rs=$?
	print_files "$_rd"
	return $_rs
}

case ${1:-} in
check) replay_check ;;
bench) replay_bench ;;
pictures) replay_pictures ;;
*)
	echo "usage: replay.sh check|bench|pictures" >&2
	exit 2
	;;
esac
