# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
#
# make distro-check, after `make install`, on the stock kernel: modprobe
# finds the installed module (with configfs, its dependency), udev gives
# its nodes to the group the installed rule names, the installed
# hmmsimctl works, modprobe -r removes it.
# shellcheck source=SCRIPTDIR/lib.sh
. /hmmsim/guest/lib.sh

# nodes_belong: every node has the installed rule's group and mode.
nodes_belong() {
	udevadm settle --timeout=60 || return 1
	ls -l /dev/hmmsim*
	for n in /dev/hmmsim[0-9]*; do
		[ "$(stat -c '%G %a' "$n")" = "hmmsim 660" ] || return 1
	done
}

# removed_by_modprobe: modprobe -r hmmsim leaves it unloaded (busybox's
# modprobe also tries configfs, which is mounted, and says so).
removed_by_modprobe() {
	modprobe -r hmmsim 2>&1 | sed 's/^/# modprobe -r: /'
	hmmsim_not_loaded
}

ktap_print_header
ktap_set_plan 5
ktap_test_result "modprobe hmmsim" modprobe hmmsim
ktap_print_msg "loaded: hmmsim $(cat /sys/module/hmmsim/version)," \
	"from $(grep '^updates/hmmsim' "/lib/modules/$(uname -r)/modules.dep")"
ktap_test_result "configfs loaded with it" grep -q '^configfs ' /proc/modules
ktap_test_result "udev gave every node to hmmsim, mode 0660" nodes_belong
ktap_test_result "the installed hmmsimctl lists the devices" \
	/usr/local/bin/hmmsimctl info
ktap_test_result "modprobe -r hmmsim" removed_by_modprobe
job_status
ktap_print_totals
