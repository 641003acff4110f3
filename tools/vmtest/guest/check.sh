# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
#
# `make check`, inside the VM: every suite of tests/suites.sh, in its order
# and the way it says (THP modes, module parameters, arguments), as one
# KTAP document: each suite a subtest, each group of suites that shares an
# insmod followed by its rmmod's result, then kmemleak's. The host nests
# the document in the report and scans the kernel log for splats.
# shellcheck source=SCRIPTDIR/lib.sh
. /hmmsim/guest/lib.sh

# The list: "THP MODULE COMMAND [ARGUMENT...]" lines, from suites.sh.
SUITES=
suite() {
	SUITES="$SUITES$*
"
}
# shellcheck source=SCRIPTDIR/../../../tests/suites.sh
. "$HMMSIM_TESTS/suites.sh"

# What walk does with each group of suites: count the results (PLANNED)
# or run them.
PLANNED=0

# describe THP_MODE COMMAND [ARGUMENT...]: a suite's name in the report.
describe() {
	_d_thp=$1
	shift
	_d_name=${1%.sh}
	shift
	[ $# -gt 0 ] && _d_name="$_d_name $*"
	[ "$_d_thp" != - ] && _d_name="$_d_name (THP $_d_thp)"
	echo "$_d_name"
}

# run_listed DESCRIPTION COMMAND [ARGUMENT...]: run_suite on the program
# or script (with sh) COMMAND of the tests' directory.
run_listed() {
	_rl_desc=$1 _rl_cmd=$2
	shift 2
	case $_rl_cmd in
	*.sh) run_suite "$_rl_desc" sh "$HMMSIM_TESTS/$_rl_cmd" "$@" ;;
	*) run_suite "$_rl_desc" "$HMMSIM_TESTS/$_rl_cmd" "$@" ;;
	esac
}

# group ACTION THP_MODE MODULE LINES: the suites of LINES ("COMMAND
# [ARGUMENT...]" each), run with hmmsim loaded with MODULE's parameters
# (then unloaded, a result of its own) or with hmmsim unloaded.
group() {
	_g_action=$1 _g_thp=$2 _g_module=$3 _g_lines=$4
	if [ "$_g_action" = count ]; then
		PLANNED=$((PLANNED + $(printf '%s' "$_g_lines" | grep -c .)))
		[ "$_g_module" = unloaded ] || PLANNED=$((PLANNED + 1))
		return
	fi
	_g_params=
	[ "$_g_module" = default ] || _g_params=$_g_module
	_g_loaded=1
	# shellcheck disable=SC2086 # a list of parameters
	if [ "$_g_module" = unloaded ]; then
		hmmsim_unload_if_loaded
	elif ! hmmsim_load $_g_params; then
		ktap_print_msg "insmod hmmsim $HMMSIM_PARAMS $_g_params failed"
		_g_loaded=0
	fi
	_g_names=
	while read -r _g_cmd; do
		[ -n "$_g_cmd" ] || continue
		# shellcheck disable=SC2086 # a command and its arguments
		_g_desc=$(describe "$_g_thp" $_g_cmd)
		# shellcheck disable=SC2086 # a command and its arguments
		_g_names="${_g_names:+$_g_names, }$(describe - $_g_cmd)"
		if [ $_g_loaded = 1 ]; then
			# shellcheck disable=SC2086 # a command and its arguments
			run_listed "$_g_desc" $_g_cmd
		else
			ktap_test_fail "$_g_desc (not run: insmod failed)"
		fi
	done <<-EOF
	$_g_lines
	EOF
	[ "$_g_module" = unloaded ] && return
	_g_rmmod="rmmod hmmsim after $_g_names"
	[ "$_g_thp" != - ] && _g_rmmod="$_g_rmmod (THP $_g_thp)"
	if [ $_g_loaded = 1 ]; then
		ktap_test_result "$_g_rmmod" hmmsim_unload
	else
		ktap_test_fail "$_g_rmmod (not run: insmod failed)"
	fi
}

# block ACTION THP LINES: the suites of LINES ("MODULE COMMAND
# [ARGUMENT...]" each) in each THP mode of THP, in groups of consecutive
# suites with the same MODULE.
block() {
	_b_action=$1 _b_lines=$3
	for _b_thp in $(echo "$2" | tr , ' '); do
		if [ "$_b_action" = run ] && [ "$_b_thp" != - ]; then
			echo "$_b_thp" > /sys/kernel/mm/transparent_hugepage/enabled
		fi
		_b_prev='' _b_group=
		while read -r _b_module _b_cmd; do
			[ -n "$_b_module" ] || continue
			if [ "$_b_module" != "$_b_prev" ] && [ -n "$_b_group" ]; then
				group "$_b_action" "$_b_thp" "$_b_prev" "$_b_group"
				_b_group=
			fi
			_b_prev=$_b_module
			_b_group="$_b_group$_b_cmd
"
		done <<-EOF
		$_b_lines
		EOF
		[ -z "$_b_group" ] ||
			group "$_b_action" "$_b_thp" "$_b_prev" "$_b_group"
	done
}

# walk ACTION: every block of the list: consecutive suites with the same
# THP field.
walk() {
	_w_prev='' _w_block=
	while read -r _w_thp _w_rest; do
		[ -n "$_w_thp" ] || continue
		if [ "$_w_thp" != "$_w_prev" ] && [ -n "$_w_block" ]; then
			block "$1" "$_w_prev" "$_w_block"
			_w_block=
		fi
		_w_prev=$_w_thp
		_w_block="$_w_block$_w_rest
"
	done <<-EOF
	$SUITES
	EOF
	[ -z "$_w_block" ] || block "$1" "$_w_prev" "$_w_block"
}

# The policy replay (issue 15): hmmsim-replay's short traces on device 0
# under every policy, one subtest with a result per trace
# (guest/replay.sh), with hmmsim loaded as by default; then its rmmod.
# Two results, after the suites, before kmemleak's.
REPLAY_PLANNED=2
replay() {
	_rp_desc="hmmsim-replay: the short traces, every policy"
	_rp_rmmod="rmmod hmmsim after hmmsim-replay"
	# shellcheck disable=SC2119 # HMMSIM_PARAMS only
	if hmmsim_unload_if_loaded && hmmsim_load; then
		run_suite "$_rp_desc" sh /hmmsim/guest/replay.sh check
		ktap_test_result "$_rp_rmmod" hmmsim_unload
	else
		ktap_test_fail "$_rp_desc (not run: insmod failed)"
		ktap_test_fail "$_rp_rmmod (not run: insmod failed)"
	fi
}

walk count
ktap_print_header
ktap_print_msg "hmmsim's suites on $(uname -r)"
ktap_set_plan $((PLANNED + REPLAY_PLANNED + 1))

# Huge pages for the hugetlbfs cases of the suites.
echo 16 > /proc/sys/vm/nr_hugepages
kmemleak_forget

walk run
replay
kmemleak_report
ktap_print_totals
job_status
