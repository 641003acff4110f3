#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# hmmsim without root. The udev rule hmmsim installs
# (/etc/udev/rules.d/70-hmmsim.rules, from packaging/) gives the device
# nodes to the group hmmsim with mode 0660:
#
#  - every node of a loaded hmmsim has that group and mode: set by udev
#    where a udev daemon runs (make distro-check's guest), otherwise by
#    this script from the rule's own GROUP and MODE (make check's guest has
#    no udev);
#  - a user outside the group is refused on open (EACCES) on every node;
#  - a user in the group runs the functional suites (SUITES, default
#    below) and they pass as they do for root.
#
# Needs hmmsim loaded with its default names, and runs as root: it makes
# the group and the two users (hmmsim_member, hmmsim_outsider) if they are
# missing.
#
# Most helpers run through ktap_test_result, which shellcheck cannot follow.
# shellcheck disable=SC2317
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

RULE=${HMMSIM_UDEV_RULE:-/etc/udev/rules.d/70-hmmsim.rules}
SUITES=${NONROOT_SUITES:-hmmsim_basic hmmsim_core hmmsim_uring hmmsim_thp}
MEMBER=hmmsim_member
OUTSIDER=hmmsim_outsider
EACCES="Permission denied"

# rule_value KEY: the value the rule assigns to KEY (GROUP, MODE).
rule_value() {
	sed -n "s/.*$1=\"\([^\"]*\)\".*/\1/p" "$RULE" | head -n 1
}

# The group and the users, written into /etc/group and /etc/passwd if
# missing (the guest's busybox has no adduser), the member added to the
# group.
make_users() {
	add_user "$MEMBER" && add_user "$OUTSIDER" || return 1
	grep -q "^$GROUP:" /etc/group ||
		echo "$GROUP:x:$(free_id /etc/group):" >> /etc/group
	if ! id -nG "$MEMBER" | grep -qw "$GROUP"; then
		sed -i "/^$GROUP:/{s/:\$/:$MEMBER/;t;s/\$/,$MEMBER/}" /etc/group
	fi
	id "$MEMBER" | sed 's/^/# /'
	id -nG "$MEMBER" | grep -qw "$GROUP" && ! id -nG "$OUTSIDER" | grep -qw "$GROUP"
}

# The nodes of the loaded module.
nodes() {
	ls /dev/"$HMMSIM_DEVNAME"[0-9]* 2>/dev/null
}

# node_is NODE: NODE has the rule's group and mode.
node_is() {
	[ "$(stat -c '%G %a' "$1")" = "$GROUP $MODE" ]
}

# nodes_set: every node has the rule's group and mode, from udev if it
# runs, otherwise set here from the rule.
nodes_set() {
	if udev_running; then
		ktap_print_msg "udev runs: the nodes are as its rule set them"
		udev_settle || return 1
	else
		ktap_print_msg "no udev here: the rule's group and mode set by hand"
		for n in $(nodes); do
			chgrp "$GROUP" "$n" && chmod "$MODE" "$n" || return 1
		done
	fi
	[ -n "$(nodes)" ] || return 1
	for n in $(nodes); do
		stat -c '# %A %U %G %n' "$n"
		node_is "$n" || return 1
	done
}

# outsider_refused: opening any node for reading and writing fails with
# EACCES for a user outside the group.
outsider_refused() {
	for n in $(nodes); do
		_or_err=$(as "$OUTSIDER" "exec 3<>$n" 2>&1) && return 1
		echo "$_or_err" | grep -q "$EACCES" || {
			ktap_print_msg "$n: $_or_err"
			return 1
		}
	done
}

# member_runs SUITE: the suite passes when run by a member of the group;
# its output as diagnostic lines.
member_runs() {
	as "$MEMBER" "cd /tmp && HMMSIM_NODE_MODE=0$MODE '$HMMSIM_TESTS/$1'" \
		> "/tmp/nonroot.$1" 2>&1
	_mr_status=$?
	sed 's/^/# /' "/tmp/nonroot.$1"
	rm -f "/tmp/nonroot.$1"
	return "$_mr_status"
}

ktap_print_header
# shellcheck disable=SC2086 # a list of suites
set -- $SUITES
ktap_set_plan $((3 + $#))
hmmsim_loaded || ktap_exit_fail_msg "hmmsim is not loaded"
[ -r "$RULE" ] || ktap_exit_fail_msg "no udev rule at $RULE"
GROUP=$(rule_value GROUP)
MODE=$(rule_value MODE)
MODE=${MODE#0}
if [ -z "$GROUP" ] || [ -z "$MODE" ]; then
	ktap_exit_fail_msg "$RULE sets no GROUP and MODE"
fi

ktap_test_result "users $MEMBER (in $GROUP) and $OUTSIDER" make_users
ktap_test_result "every node is group $GROUP, mode $MODE" nodes_set
ktap_test_result "$OUTSIDER is refused on open ($EACCES)" outsider_refused
for s; do
	ktap_test_result "$s, run by $MEMBER" member_runs "$s"
done
ktap_finished
