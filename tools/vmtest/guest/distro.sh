# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
#
# Prepended to a job on Debian's stock kernel (make distro-check): its
# configfs is a module, so the guest's init could not mount it; and udev
# runs, as on the system the module was installed on, to apply the udev
# rule that was installed with it.
modprobe configfs && mount -t configfs configfs /sys/kernel/config ||
	echo "# distro: configfs: modprobe or mount failed"
mkdir -p /run/udev
/usr/lib/systemd/systemd-udevd --daemon ||
	echo "# distro: systemd-udevd did not start"
udevadm trigger --action=add >/dev/null 2>&1
udevadm settle --timeout=60
# The suites expect the mode the installed rule gives the nodes.
HMMSIM_NODE_MODE=$(sed -n 's/.*MODE="\([0-7]*\)".*/\1/p' \
	/etc/udev/rules.d/70-hmmsim.rules 2>/dev/null)
export HMMSIM_NODE_MODE=${HMMSIM_NODE_MODE:-0600}
