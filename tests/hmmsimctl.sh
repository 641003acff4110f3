#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# hmmsimctl, every subcommand (Documentation/hmmsimctl.rst):
#
#  - --help and help list every subcommand and option; help COMMAND shows
#    one; an unknown command is a usage error (exit status 2);
#  - create makes a configfs device with the values given (and refuses bad
#    ones before touching configfs: a capacity that is not a multiple of
#    2M, a coherent device without an address; or at power-on, leaving no
#    item behind); info and list show it, list --json too, as valid JSON;
#  - with hmmsim_hold keeping 4 MiB on every device and its files open,
#    list (and debugfs's clients file) names the process, its pid and its
#    pages; once it is gone, no more;
#  - stats shows every counter; watched, the second sample's changes are
#    what demo did on the device (sample taken on SIGUSR1, no timing);
#  - trace on, status, clear, show, off: demo's migrations are in the trace
#    while the events are on, and not once they are off;
#  - remove by name or number makes the device go; the module's own
#    devices cannot be removed;
#  - errors: no such device, bad capacity, configfs not mounted, not root:
#    a message and exit status 1.
#
# Needs hmmsim loaded with the guest's default layout (two private, two
# coherent devices). Leaves no configfs item behind, the hmmsim events off
# and configfs mounted.
#
# Most helpers run through ktap_test_result, which shellcheck cannot follow.
# shellcheck disable=SC2317
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

HOLD=$HMMSIM_TESTS/hmmsim_hold
JSON=$HMMSIM_TESTS/hmmsim_json
TMP=${TMPDIR:-/tmp}/hmmsimctl.$$
PREFIX=ctltest_
USER_=hmmsimctl_user
COMMANDS="list info stats create remove trace demo help"

holder=
watcher=
B=

# --------------------------------------------------------------- helpers

# ctl ARGS...: run hmmsimctl; its stdout in $TMP.out, stderr in $TMP.err,
# its exit status in $rc (and returned).
ctl() {
	hmmsimctl "$@" >"$TMP.out" 2>"$TMP.err"
	rc=$?
	return "$rc"
}

# fails STATUS TEXT ARGS...: hmmsimctl ARGS exits with STATUS and says
# TEXT on stderr.
fails() {
	_want=$1 _text=$2
	shift 2
	ctl "$@"
	sed 's/^/# /' "$TMP.err"
	[ "$rc" = "$_want" ] && grep -q -- "$_text" "$TMP.err" && return 0
	echo "# hmmsimctl $*: status $rc, expected $_want with '$_text'"
	return 1
}

# out_has PATTERN: the last hmmsimctl's output has a line matching the
# extended regular expression PATTERN.
out_has() {
	grep -Eq -- "$1" "$TMP.out" && return 0
	echo "# no line matches '$1' in:"
	sed 's/^/#   /' "$TMP.out"
	return 1
}

# help_complete: --help names every command, and every option of each.
help_complete() {
	ctl --help || return 1
	for w in $COMMANDS -w -c --json --type --capacity --name --phys-base \
	    --copy-bandwidth --copy-latency-us on off status clear show -f \
	    --devname; do
		grep -q -- "$w" "$TMP.out" || {
			echo "# --help does not name $w"
			return 1
		}
	done
	for c in $COMMANDS; do
		grep -Eq "^  $c( |\$)" "$TMP.out" || {
			echo "# --help has no entry for $c"
			return 1
		}
	done
}

# help_same: help prints what --help does.
help_same() {
	[ "$(hmmsimctl help)" = "$(hmmsimctl --help)" ]
}

# help_one: help stats shows stats' entry, and no other command's.
help_one() {
	ctl help stats && out_has '^  stats \[-w SECS\] \[-c COUNT\]' &&
		! grep -Eq '^  (create|list|trace)' "$TMP.out"
}

# node_here N: device N's node is there.
node_here() {
	[ -c "$(hmmsim_node "$1")" ]
}

# no_items_left: no item of this test's in configfs: named with PREFIX,
# or the one create named itself (B).
no_items_left() {
	for d in "$CFS"/"$PREFIX"* ${B:+"$CFS/$B"}; do
		[ -e "$d" ] && return 1
	done
	return 0
}

# created NAME: create's output names the node of NAME's index.
created() {
	_idx=$(cat "$CFS/$1/index" 2>/dev/null)
	[ -n "$_idx" ] && out_has "^$(hmmsim_node "$_idx"): private, 64M, configfs item $1\$"
}

# device_json N: list --json's object of device N, on one line.
device_json() {
	sed 's/{"device"/\n&/g' "$TMP.out" | grep "\"id\":$1,"
}

# json_value KEY LINE: the number KEY has in LINE (the first).
json_value() {
	echo "$2" | grep -o "\"$1\":[0-9]*" | head -n 1 | cut -d: -f2
}

valid_json() {
	"$JSON" < "$TMP.out"
}

# owner_listed PID PAGES: list shows PID, hmmsim_hold, with PAGES pages
# under device $IDX, in text and in JSON.
owner_listed() {
	ctl list || return 1
	sed -n "\\|^$(hmmsim_node "$IDX") |,/^\\/dev/p" "$TMP.out" |
		grep -q "^    pid $1 (hmmsim_hold): $2 pages\$" || {
		echo "# device $IDX has no owner $1 with $2 pages:"
		sed 's/^/#   /' "$TMP.out"
		return 1
	}
	ctl --json list && valid_json &&
		device_json "$IDX" |
		grep -q "{\"pid\":$1,\"pages\":$2,\"comm\":\"hmmsim_hold\"}"
}

# clients_file PID PAGES: debugfs's clients file of device $IDX has its
# header and a line for PID.
clients_file() {
	_f=$DBG/$HMMSIM_DEVNAME$IDX/clients
	sed 's/^/# /' "$_f"
	[ "$(head -n 1 "$_f")" = "TGID PAGES COMM" ] &&
		grep -qx "$1 $2 hmmsim_hold" "$_f"
}

# listed: list shows device $IDX, private, 64M, no page in use, item $A.
listed() {
	ctl list && out_has "^$(hmmsim_node "$IDX") +private +64M +0  $A\$"
}

# no_owner: list shows device $IDX with no page in use and no owner.
no_owner() {
	listed || return 1
	! sed -n "\\|^$(hmmsim_node "$IDX") |,/^\\/dev/p" "$TMP.out" |
		grep -q '^    pid '
}

# every_counter: stats' output has every counter of struct hmmsim_stats.
every_counter() {
	for c in to_device from_device cpu_faults device_faults invalidations \
	    evictions bytes_copied alloc_failures thp_to_device \
	    thp_from_device thp_fallbacks thp_splits memory_errors \
	    close_evictions fault_batches fault_duplicates fault_migrations \
	    prefetch_migrations remote_accesses counter_migrations \
	    thrash_events thrash_remote pages_used uring_inflight \
	    pages_retired; do
		grep -Eq "^  $c +[0-9]+\$" "$TMP.out" || {
			echo "# no counter $c"
			return 1
		}
	done
}

# stats_json: stats --json $IDX is valid JSON, about device $IDX.
stats_json() {
	_dev="{\"device\":\"$(hmmsim_node "$IDX")\",\"id\":$IDX,"
	ctl stats --json "$IDX" && valid_json &&
		grep -qF "\"devices\":[$_dev\"to_device\":" "$TMP.out"
}

# two_samples ARGS...: stats -c 2 -w 0.1 ARGS printed totals, then one
# sample of changes.
two_samples() {
	ctl stats -c 2 -w 0.1 "$@" || return 1
	[ "$(grep -c '^--- sample' "$TMP.out")" = 2 ] &&
		out_has '^--- sample 0: totals$' &&
		out_has '^--- sample 1: changes in [0-9.]+ s'
}

# two_json_lines: stats -c 2 -w 0.1 --json, every device: two samples, a
# valid JSON document each, one a line.
two_json_lines() {
	ctl stats -c 2 -w 0.1 --json && "$JSON" -l <"$TMP.out" &&
		[ "$(grep -c . "$TMP.out")" = 2 ]
}

# watch_done STATUS: the watcher exited with STATUS 0 after its second
# sample, a JSON line each.
watch_done() {
	sed 's/^/# /' "$TMP.watch"
	[ "$1" = 0 ] && [ "$(grep -c . "$TMP.watch")" = 2 ] &&
		"$JSON" -l <"$TMP.watch"
}

# watched_line N: line N of the watcher's output.
watched_line() {
	sed -n "${1}p" "$TMP.watch"
}

has_lines() {
	[ "$(grep -c . "$TMP.watch" 2>/dev/null)" -ge "$1" ]
}

# deltas_are_demo: the watcher's second sample (changes) is what the
# totals moved by, from its first sample to a later stats; and demo moved
# at least its 2048 pages to the device and back.
deltas_are_demo() {
	_s0=$(watched_line 1) _s1=$(watched_line 2)
	ctl --json stats "$IDX" || return 1
	_after=$(cat "$TMP.out")
	echo "$_s1" | grep -q '"sample":1,.*"delta":true' || return 1
	for k in to_device from_device bytes_copied; do
		_b=$(json_value "$k" "$_s0") _d=$(json_value "$k" "$_s1")
		_a=$(json_value "$k" "$_after")
		echo "# $k: $_b, then +$_d, then $_a"
		[ -n "$_b" ] && [ -n "$_d" ] && [ -n "$_a" ] || return 1
		[ $((_b + _d)) = "$_a" ] || return 1
	done
	[ "$(json_value to_device "$_s1")" -ge 2048 ] &&
		[ "$(json_value from_device "$_s1")" -ge 2048 ]
}

# trace_all STATE: trace status shows every hmmsim event STATE.
trace_all() {
	ctl trace status || return 1
	sed 's/^/# /' "$TMP.out"
	[ "$(grep -c "^hmmsim_[a-z_]* *$1\$" "$TMP.out")" = 6 ]
}

# trace_has_migrate: trace show has a migration on device $IDX.
trace_has_migrate() {
	ctl trace show || return 1
	head -n 3 "$TMP.out" | sed 's/^/# /'
	out_has "hmmsim_migrate: dev=$IDX "
}

# trace_quiet: with the events off, demo leaves nothing in the trace.
trace_quiet() {
	ctl trace off && trace_all off || return 1
	hmmsimctl trace clear && hmmsimctl demo "$IDX" >/dev/null &&
		ctl trace show && [ ! -s "$TMP.out" ]
}

# trace_collects: with the events on, demo's migrations are in the trace.
trace_collects() {
	hmmsimctl trace clear && hmmsimctl demo "$IDX" >/dev/null &&
		trace_has_migrate
}

# only_migrate_on: trace on migrate enabled hmmsim_migrate alone.
only_migrate_on() {
	ctl trace on migrate && ctl trace status || return 1
	out_has '^hmmsim_migrate +on$' &&
		[ "$(grep -c '^hmmsim_[a-z]* *off$' "$TMP.out")" = 4 ]
}

demo() {
	ctl demo "$1"
	sed 's/^/# /' "$TMP.out"
	return "$rc"
}

# no_new_item NODES: no item of ours in configfs, NODES device nodes.
no_new_item() {
	no_items_left && [ "$(count_nodes)" = "$1" ]
}

# made_nothing: the refused create left no item (it would have been the
# first free ctlN, ctl0: B's, removed) and no device: $A's alone.
made_nothing() {
	[ ! -e "$CFS/ctl0" ] && [ "$(count_nodes)" = $((nodes_before + 1)) ]
}

# user_refused TEXT ARGS...: hmmsimctl ARGS, run by an ordinary user,
# exits with status 1 and says TEXT.
user_refused() {
	_text=$1
	shift
	rm -f "$TMP.uerr"
	as "$USER_" "$(command -v hmmsimctl) $* >/dev/null 2>$TMP.uerr"
	rc=$?
	sed 's/^/# /' "$TMP.uerr"
	[ "$rc" = 1 ] && grep -q -- "$_text" "$TMP.uerr"
}

# one_more: device $IDX's node is there, one more than at the start.
one_more() {
	node_here "$IDX" && [ "$(count_nodes)" = $((nodes_before + 1)) ]
}

cleanup() {
	kill_and_reap "$holder"
	holder=
	kill_and_reap "$watcher"
	watcher=
	[ -n "$CFS_MNT" ] && ! fs_mount configfs >/dev/null &&
		mount -t configfs none "$CFS_MNT"
	for d in "$CFS"/"$PREFIX"* ${B:+"$CFS/$B"}; do
		[ -d "$d" ] || continue
		echo 0 2>/dev/null > "$d/power"
		rmdir "$d" 2>/dev/null
	done
	[ -n "$TR" ] && echo 0 > "$TR/events/hmmsim/enable"
	rm -f "$TMP".*
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ----------------------------------------------------------- preconditions

ktap_print_header
ktap_set_plan 61

hmmsim_loaded || ktap_exit_fail_msg "hmmsim is not loaded"
command -v hmmsimctl >/dev/null || ktap_exit_fail_msg "no hmmsimctl in PATH"
CFS=$(hmmsim_configfs) ||
	ktap_exit_fail_msg "no hmmsim directory in configfs"
CFS_MNT=$(fs_mount configfs)
# Empty if debugfs or tracefs is not mounted: their checks are skipped.
DBG=$(hmmsim_debugfs) || DBG=
TR=$(fs_mount tracefs) || TR=
[ -n "$TR" ] && [ ! -d "$TR/events/hmmsim" ] && TR=
cleanup
nodes_before=$(count_nodes)
ktap_print_msg "$nodes_before devices"

# ------------------------------------------------------------------ help

ktap_test_result "--help names every command and option" help_complete
ktap_test_result "help prints what --help does" help_same
ktap_test_result "help stats shows the stats entry alone" help_one
ktap_test_result "an unknown command: exit status 2" \
	fails 2 "unknown command 'frobnicate'" frobnicate
ktap_test_result "info lists the $nodes_before devices" \
	sh -c "[ \$(hmmsimctl info | grep -c '^/dev/') = $nodes_before ]"

# ---------------------------------------------------------------- create

ktap_test_result "create --capacity 3M: bad capacity, exit status 1" \
	fails 1 "bad capacity '3M'" create --capacity 3M
ktap_test_result "create --capacity 3M made nothing" no_new_item "$nodes_before"
ktap_test_result "create --type foo: exit status 2" \
	fails 2 "private or coherent" create --type foo
ktap_test_result "create --type coherent without --phys-base: exit status 1" \
	fails 1 "needs --phys-base" create --type coherent --capacity 256M
# A range a default coherent device holds: power-on fails (EBUSY).
held=$(hmmsimctl info | awk '$2 == "coherent" { print $3, $4; exit }')
if [ -n "$held" ]; then
	base=${held#* }
	ktap_test_result "create on a coherent range in use: power on fails, exit status 1" \
		fails 1 "power on failed: Device or resource busy" create \
		--type coherent --capacity "${held%% *}" --phys-base "${base%-*}" \
		--name "${PREFIX}busy"
	ktap_test_result "the failed create left no item, no device" \
		no_new_item "$nodes_before"
else
	ktap_test_skip "create on a coherent range in use: power on fails" "no coherent device"
	ktap_test_skip "the failed create left no item, no device" "no coherent device"
fi

A=${PREFIX}a
ktap_test_result "create --type private --capacity 64M --name $A" \
	ctl create --type private --capacity 64M --name $A
ktap_test_result "$A: powered on, says its node" created $A
IDX=$(cat "$CFS/$A/index" 2>/dev/null)
IDX=${IDX:-none}
ktap_test_result "$A: device $IDX, node there, one device more" one_more
ktap_test_result "$A: type private, capacity 67108864 in configfs" \
	sh -c "[ \"\$(cat $CFS/$A/type)\" = private ] &&
	       [ \"\$(cat $CFS/$A/capacity)\" = 67108864 ]"
ktap_test_result "create --name $A again: exists, exit status 1" \
	fails 1 "exists already" create --capacity 64M --name $A
ktap_test_result "create with the copy engine's knobs, default name" \
	ctl create --capacity 64M --copy-bandwidth 1G --copy-latency-us 10
B=$(sed -n 's/.*configfs item \(ctl[0-9]*\)$/\1/p' "$TMP.out")
B=${B:-none}
ktap_test_result "$B: copy_bandwidth 1073741824, copy_latency_us 10" \
	sh -c "[ \"\$(cat $CFS/$B/copy_bandwidth 2>/dev/null)\" = 1073741824 ] &&
	       [ \"\$(cat $CFS/$B/copy_latency_us 2>/dev/null)\" = 10 ]"
IDX_B=$(cat "$CFS/$B/index" 2>/dev/null)
ktap_test_result "remove $B, by name" ctl remove "$B"
ktap_test_result "$B: item and node gone" \
	sh -c "[ ! -e $CFS/$B ] && [ ! -e $(hmmsim_node "${IDX_B:-none}") ]"

# ------------------------------------------------------------------ list

ktap_test_result "list: device $IDX, private, 64M, no page used, item $A" \
	listed
ktap_test_result "list --json is valid JSON" \
	sh -c "hmmsimctl list --json >$TMP.out && $JSON <$TMP.out"
ktap_test_result "list --json: device $IDX, private, 64M, item $A" \
	sh -c "sed 's/{\"device\"/\\n&/g' $TMP.out | grep '\"id\":$IDX,' |
	       grep -q '\"type\":\"private\",\"capacity\":67108864,.*\"configfs\":\"$A\"'"
ktap_test_result "list --json lists the $nodes_before devices and $A's" \
	sh -c "[ \$(grep -o '{\"device\"' $TMP.out | grep -c .) = $((nodes_before + 1)) ]"

# Owners: hmmsim_hold keeps 4 MiB on every device, its files open.
rm -f "$TMP.hold"
"$HOLD" -o </dev/null >"$TMP.hold" 2>&1 &
holder=$!
if wait_ready $holder "$TMP.hold"; then
	ktap_test_pass "hmmsim_hold holds 4 MiB on every device, files open"
	pages=$((4 * 1048576 / $(getconf PAGESIZE 2>/dev/null || echo 4096)))
	ktap_test_result "list (and --json): owner $holder, hmmsim_hold, $pages pages" \
		owner_listed $holder $pages
	if [ -n "$DBG" ]; then
		ktap_test_result "debugfs $HMMSIM_DEVNAME$IDX/clients: $holder $pages hmmsim_hold" \
			clients_file $holder $pages
	else
		ktap_test_skip "debugfs clients file" "no debugfs"
	fi
	kill -USR1 $holder
	reap $holder 120
	status=$?
	ktap_test_result "hmmsim_hold's data came back intact" [ $status = 0 ]
else
	sed 's/^/# /' "$TMP.hold"
	ktap_test_fail "hmmsim_hold holds 4 MiB on every device, files open"
	for t in "list: device $IDX has an owner" "debugfs clients file" \
	    "hmmsim_hold's data came back intact"; do
		ktap_test_fail "$t (not run: no holder)"
	done
fi
holder=
ktap_test_result "list: device $IDX has no owner and no page used any more" no_owner

# ----------------------------------------------------------------- stats

ktap_test_result "stats $IDX: totals of every counter" \
	sh -c "hmmsimctl stats $IDX >$TMP.out && grep -qx -- '--- sample 0: totals' $TMP.out"
ktap_test_result "stats $IDX names every counter" every_counter
ktap_test_result "stats --json: valid JSON, device $IDX" stats_json
ktap_test_result "stats -c 2 -w 0.1 $IDX: totals, then one sample of changes" \
	two_samples "$IDX"
ktap_test_result "stats -c 2 -w 0.1 --json (every device): two valid JSON lines" \
	two_json_lines

# Watched: the first sample at once, the second on SIGUSR1, after demo.
rm -f "$TMP.watch"
hmmsimctl stats -w 3600 -c 2 --json "$IDX" >"$TMP.watch" 2>&1 &
watcher=$!
if wait_until "$HMMSIM_WAIT" has_lines 1; then
	ktap_test_result "demo $IDX while stats watches" demo "$IDX"
	kill -USR1 $watcher
	reap $watcher 60
	status=$?
	ktap_test_result "the watch took its second sample on SIGUSR1 and exited 0" \
		watch_done $status
	ktap_test_result "its changes are demo's: totals before + changes = totals after" \
		deltas_are_demo
else
	sed 's/^/# /' "$TMP.watch"
	for t in "demo $IDX while stats watches" "the watch took its second sample" \
	    "its changes are demo's"; do
		ktap_test_fail "$t (not run: the watch printed nothing)"
	done
fi
watcher=
ktap_test_result "stats 63, no such device: exit status 1" \
	fails 1 "no such device" stats 63
ktap_test_result "stats -c 0: exit status 2" fails 2 "at least 1" stats -c 0

# ----------------------------------------------------------------- trace

if [ -n "$TR" ]; then
	ktap_test_result "trace on" ctl trace on
	ktap_test_result "trace status: every hmmsim event on" trace_all on
	ktap_test_result "trace clear, demo $IDX: trace show has its migrations" \
		trace_collects
	ktap_test_result "trace status counts them" \
		sh -c "hmmsimctl trace status | grep -Eq '^events in buffer +[1-9]'"
	ktap_test_result "trace off, clear, demo $IDX: trace show has nothing" \
		trace_quiet
	ktap_test_result "trace on migrate: hmmsim_migrate alone" \
		only_migrate_on
	ktap_test_result "trace on foo: exit status 2" \
		fails 2 "no hmmsim event 'foo'" trace on foo
	hmmsimctl trace off >/dev/null
	hmmsimctl trace clear >/dev/null
else
	for t in "trace on" "trace status" "trace show" \
	    "trace status counts" "trace off, show nothing" \
	    "trace on migrate" "trace on foo"; do
		ktap_test_skip "$t" "no tracefs, or no hmmsim events in it"
	done
fi

# ---------------------------------------------------------------- errors

ktap_test_result "demo 63, no such device: exit status 1" \
	fails 1 "no such device" demo 63
ktap_test_result "-d nosuchdev list: no device, exit status 1" \
	fails 1 "no /dev/nosuchdevN device" -d nosuchdev list
if add_user "$USER_" >/dev/null 2>&1; then
	ktap_test_result "create as $USER_: needs root, exit status 1" \
		user_refused "needs root" create --capacity 64M
	ktap_test_result "... and made nothing" made_nothing
	ktap_test_result "remove $A as $USER_: needs root, exit status 1" \
		user_refused "needs root" remove $A
	if [ -n "$TR" ]; then
		ktap_test_result "trace on as $USER_: needs root, exit status 1" \
			user_refused "needs root" trace on
	else
		ktap_test_skip "trace on as $USER_" "no tracefs"
	fi
else
	for t in "create as $USER_" "... and made nothing" "remove as $USER_" \
	    "trace on as $USER_"; do
		ktap_test_fail "$t (not run: no user $USER_)"
	done
fi
if umount "$CFS_MNT"; then
	ktap_test_result "configfs not mounted: create says so, exit status 1" \
		fails 1 "configfs is not mounted" create --capacity 64M
	ktap_test_result "configfs not mounted: remove says so, exit status 1" \
		fails 1 "configfs is not mounted" remove $A
	ktap_test_result "configfs mounted again, $A still there" \
		sh -c "mount -t configfs none $CFS_MNT && [ -d $CFS/$A ]"
else
	for t in "create says so" "remove says so" "mounted again"; do
		ktap_test_fail "configfs not mounted: $t (umount failed)"
	done
fi

# ---------------------------------------------------------------- remove

ktap_test_result "remove 0, a device of the module's parameters: exit status 1" \
	fails 1 "made by the module's parameters" remove 0
ktap_test_result "remove ${PREFIX}none: no such item, exit status 1" \
	fails 1 "no configfs item named" remove ${PREFIX}none
ktap_test_result "remove $IDX, by number" ctl remove "$IDX"
ktap_test_result "device $IDX: node gone, item $A gone" \
	sh -c "[ ! -e $(hmmsim_node "$IDX") ] && [ ! -e $CFS/$A ]"
ktap_test_result "list no longer shows device $IDX" \
	sh -c "! hmmsimctl list | grep -q '^$(hmmsim_node "$IDX") '"

# ----------------------------------------------------------------- the end

cleanup
ktap_test_result "no configfs item left behind, the $nodes_before nodes of the start" \
	no_new_item "$nodes_before"
ktap_finished
