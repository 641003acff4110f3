#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build (or reuse) the hmmsim test kernel and print its build tree: the
# source is Debian's linux-source-$KERNEL package, downloaded and unpacked
# in the cache, or the tree VMTEST_KSRC names; `make allnoconfig`, then
# config/base.config and config/$FLAVOUR.config (lib.sh, kernel_build).
#
# usage: kernel.sh	KERNEL=7.2|6.12|6.1 or VMTEST_KSRC=<tree>,
#			FLAVOUR=debug|perf
set -euo pipefail
. "$(dirname "$0")/lib.sh"

kernel_build
echo "$KBUILD"
