#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build (or reuse) the hmmsim test kernel: Debian's linux-source package,
# `make allnoconfig`, then config/base.config and config/$FLAVOUR.config.
# The result is cached outside the repository, keyed by the package version
# and the fragments' hash. Prints the build tree on stdout.
#
# usage: kernel.sh            FLAVOUR=debug|perf, KERNEL_PKG=linux-source-6.12
set -euo pipefail
. "$(dirname "$0")/lib.sh"

ensure_build_deps
kernel_paths

if [[ -f $KBUILD/.vmtest-done ]]; then
	echo "$KBUILD"
	exit 0
fi

if [[ ! -f $KSRC/.vmtest-unpacked ]]; then
	log "unpacking $KERNEL_PKG into $KSRC"
	rm -rf "$KSRC" "$KSRC.tmp"
	mkdir -p "$KSRC.tmp"
	tar -xf "/usr/src/$KERNEL_PKG.tar.xz" -C "$KSRC.tmp" --strip-components=1
	touch "$KSRC.tmp/.vmtest-unpacked"
	mv "$KSRC.tmp" "$KSRC"
fi

log "building the $FLAVOUR kernel in $KBUILD (a few minutes, once)"
rm -rf "$KBUILD"
mkdir -p "$KBUILD"
jobs=$(($(nproc) + 1))
kmake() { make -s -C "$KSRC" O="$KBUILD" "$@"; }

kmake allnoconfig >&2
# shellcheck disable=SC2046
"$KSRC/scripts/kconfig/merge_config.sh" -m -O "$KBUILD" "$KBUILD/.config" \
	$(flavour_fragments) >/dev/null
kmake olddefconfig >&2

# A fragment option that silently did not stick (a missing dependency, a
# renamed symbol) would give a kernel that cannot test what we think it
# tests: refuse it.
missing=0
# shellcheck disable=SC2046
while IFS= read -r line; do
	case $line in
	CONFIG_*=*)
		grep -qxF "$line" "$KBUILD/.config" && continue ;;
	"# CONFIG_"*" is not set")
		sym=${line#\# }; sym=${sym%% *}
		grep -q "^$sym=" "$KBUILD/.config" || continue ;;
	*) continue ;;
	esac
	log "config: '$line' did not stick"
	missing=1
done < <(cat $(flavour_fragments))
((missing == 0)) || die "fix the fragment in $VMTEST_DIR/config"

kmake -j"$jobs" bzImage modules >&2
kmake INSTALL_MOD_PATH="$KBUILD/modroot" modules_install >&2
touch "$KBUILD/.vmtest-done"
log "kernel ready: $KBUILD/arch/x86/boot/bzImage"

# Builds of this package and flavour from other fragments are stale.
for old in "${KBUILD%-*}"-*; do
	[[ $old != "$KBUILD" && -d $old ]] || continue
	log "removing the stale build $old"
	rm -rf "$old"
done
echo "$KBUILD"
