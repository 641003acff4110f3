# SPDX-License-Identifier: GPL-2.0
#
# `make run`, inside the VM: load hmmsim, show its devices and one at work.
# shellcheck shell=sh source=SCRIPTDIR/lib.sh
. /hmmsim/guest/lib.sh

echo "== insmod hmmsim.ko $HMMSIM_PARAMS"
# shellcheck disable=SC2119 # HMMSIM_PARAMS only
if ! hmmsim_load; then
	echo 1 > /tmp/job-status
	exit 1
fi
dmesg | grep 'hmmsim:' | sed 's/^/   /'
echo
echo "== hmmsimctl info"
hmmsimctl info
status=$?
echo
ls -l /dev/"$HMMSIM_DEVNAME"*
echo
echo "== hmmsimctl demo 0"
hmmsimctl demo 0 || status=1
echo $status > /tmp/job-status
