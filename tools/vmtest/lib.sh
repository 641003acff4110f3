# SPDX-License-Identifier: GPL-2.0
# Shared helpers for the hmmsim VM test runner. Sourced, not executed.

VMTEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$VMTEST_DIR/../.." && pwd)

# Debian package that provides the kernel source, and the flavour to build.
KERNEL_PKG=${KERNEL_PKG:-linux-source-6.12}
FLAVOUR=${FLAVOUR:-debug}
# kernel.sh runs as a process of its own: it must see what callers chose.
export KERNEL_PKG FLAVOUR

# Everything built lives here, outside the repository, and is reused.
CACHE_DIR=${HMMSIM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hmmsim}

log()  { printf 'vmtest: %s\n' "$*" >&2; }
die()  { printf 'vmtest: error: %s\n' "$*" >&2; exit 1; }

# Install the Debian packages behind the given commands/files when missing.
# Arguments are "package:probe" pairs; a probe starting with / is a path,
# anything else a command looked up in PATH.
ensure_packages() {
	local want=() pair pkg probe
	for pair in "$@"; do
		pkg=${pair%%:*}
		probe=${pair#*:}
		if [[ $probe == /* ]]; then
			[[ -e $probe ]] && continue
		else
			command -v "$probe" >/dev/null 2>&1 && continue
		fi
		want+=("$pkg")
	done
	((${#want[@]})) || return 0
	log "installing ${want[*]}"
	local sudo=
	[[ $(id -u) -eq 0 ]] || sudo=sudo
	$sudo apt-get update -qq >&2 || die "apt-get update failed"
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
		--no-install-recommends "${want[@]}" >&2 ||
		die "apt-get install ${want[*]} failed"
}

# The build dependencies of the test kernel, the initramfs and the tests.
ensure_build_deps() {
	ensure_packages \
		"$KERNEL_PKG:/usr/src/$KERNEL_PKG.tar.xz" \
		gcc:gcc make:make flex:flex bison:bison bc:bc cpio:cpio \
		xz-utils:xz kmod:depmod libelf-dev:/usr/include/gelf.h \
		libssl-dev:/usr/include/openssl/ssl.h \
		busybox-static:/bin/busybox \
		qemu-system-x86:qemu-system-x86_64 \
		libc6-dev:/usr/lib/x86_64-linux-gnu/libc.a \
		liburing-dev:/usr/include/liburing.h
	# busybox may exist as the dynamically linked package; we need the
	# static one to run in an initramfs without a libc.
	if ! file_is_static /bin/busybox; then
		ensure_packages busybox-static:/nonexistent
	fi
}

file_is_static() {
	! LC_ALL=C readelf -d "$1" 2>/dev/null | grep -q NEEDED
}

# Version of the installed kernel source package, e.g. 6.12.117-1~deb12u1.
kernel_pkg_version() {
	dpkg-query -W -f='${Version}' "$KERNEL_PKG" 2>/dev/null ||
		die "$KERNEL_PKG is not installed"
}

# The config fragments of a flavour, in the order they are applied.
flavour_fragments() {
	local f=$VMTEST_DIR/config/$FLAVOUR.config
	[[ -f $f ]] || die "unknown flavour '$FLAVOUR' (no $f)"
	echo "$VMTEST_DIR/config/base.config" "$f"
}

# Source tree and build tree of the current package version and flavour.
# The build tree is keyed by the fragments' hash, so editing a fragment
# builds a new kernel and leaves the old one alone.
kernel_paths() {
	local ver hash
	ver=$(kernel_pkg_version)
	# shellcheck disable=SC2046
	hash=$(cat $(flavour_fragments) | sha256sum | cut -c1-12)
	KSRC=$CACHE_DIR/src/$KERNEL_PKG-$ver
	KBUILD=$CACHE_DIR/build/$KERNEL_PKG-$ver-$FLAVOUR-$hash
}
