# SPDX-License-Identifier: GPL-2.0
# Shared helpers for the hmmsim VM test runner. Sourced, not executed.

VMTEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$VMTEST_DIR/../.." && pwd)

# The test kernel: KERNEL names a Debian linux-source-$KERNEL package
# (7.2, 6.12, 6.1), VMTEST_KSRC a kernel source tree of the user's (make
# KSRC=), which wins. FLAVOUR is the config to build (debug, perf).
KERNEL=${KERNEL:-7.2}
FLAVOUR=${FLAVOUR:-debug}
VMTEST_KSRC=${VMTEST_KSRC:-}
# kernel.sh runs as a process of its own: it must see what callers chose.
export KERNEL FLAVOUR VMTEST_KSRC

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
		gcc:gcc make:make flex:flex bison:bison bc:bc cpio:cpio \
		xz-utils:xz kmod:depmod libelf-dev:/usr/include/gelf.h \
		libssl-dev:/usr/include/openssl/ssl.h rsync:rsync \
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

# ------------------------------------------------------ kernel sources

# The address of the host's own Debian archive: the first Debian source of
# apt's configuration that is not the security archive.
debian_archive() {
	{
		sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\) .*/\2/p' \
			/etc/apt/sources.list 2>/dev/null
		sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/*.sources \
			2>/dev/null | tr ' ' '\n'
	} | grep -i '/debian/\{0,1\}$' | grep -v security | head -n 1
}

# Debian's unstable suite through an apt configuration of our own, in the
# cache: its own sources list and package lists. The host's apt sources are
# never touched, and nothing is installed from it. Sets UNSTABLE_APT to the
# apt options that use it; its lists are fetched the first time.
unstable_apt() {
	local dir=$CACHE_DIR/apt-unstable archive
	UNSTABLE_APT=(-o "Dir::Etc::sourcelist=$dir/sources.list"
		-o Dir::Etc::sourceparts=/nonexistent
		-o "Dir::State::Lists=$dir/lists" -o "Dir::Cache=$dir/cache"
		-o Acquire::Check-Valid-Until=false -o APT::Sandbox::User=root)
	[[ -f $dir/lists/.vmtest-updated ]] && return 0
	archive=$(debian_archive)
	[[ -n $archive ]] || die "no Debian archive in the host's apt sources"
	mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
	echo "deb $archive sid main" > "$dir/sources.list"
	log "fetching the package lists of Debian unstable ($archive) into $dir"
	apt-get "${UNSTABLE_APT[@]}" -qq update >&2 ||
		die "apt-get update of Debian unstable failed"
	touch "$dir/lists/.vmtest-updated"
}

# apt_candidate PKG [APT OPTIONS...]: the version apt would fetch, if any.
apt_candidate() {
	apt-cache "${@:2}" policy "$1" 2>/dev/null |
		sed -n 's/^  Candidate: //p' | grep -v '^(none)$' || true
}

# kernel_package PKG: the source tree of Debian's PKG (linux-source-X.Y),
# unpacked in the cache and keyed by its version. It comes from the host's
# own suites when they have it, otherwise from Debian unstable; either way
# it is downloaded with apt-get download, never installed. Sets KSRC,
# KSRC_KEY and KSRC_DESC.
kernel_package() {
	local pkg=$1 ver tmp
	local -a apt=()

	# A fresh machine may never have fetched its package lists.
	if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
		log "fetching the host's package lists"
		apt-get -qq update >&2 || die "apt-get update failed"
	fi
	ver=$(apt_candidate "$pkg")
	if [[ -z $ver ]]; then
		unstable_apt
		apt=("${UNSTABLE_APT[@]}")
		ver=$(apt_candidate "$pkg" "${apt[@]}")
	fi
	[[ -n $ver ]] ||
		die "$pkg is in neither the host's Debian suites nor unstable"
	KSRC=$CACHE_DIR/src/$pkg-$ver
	KSRC_KEY=$pkg-$ver
	KSRC_DESC="$pkg $ver"
	[[ -f $KSRC/.vmtest-unpacked ]] && return 0

	tmp=$CACHE_DIR/src/.download
	rm -rf "$tmp" "$KSRC"
	mkdir -p "$tmp/tree"
	log "downloading $pkg $ver"
	(cd "$tmp" && apt-get "${apt[@]}" -o APT::Sandbox::User=root -qq \
		download "$pkg=$ver" >&2) || die "apt-get download $pkg failed"
	log "unpacking $pkg $ver into $KSRC"
	dpkg-deb --fsys-tarfile "$tmp"/*.deb |
		tar -xO "./usr/src/$pkg.tar.xz" |
		tar -xJ --strip-components=1 -C "$tmp/tree" ||
		die "unpacking $pkg failed"
	touch "$tmp/tree/.vmtest-unpacked"
	mv "$tmp/tree" "$KSRC"
	rm -rf "$tmp"
}

# kernel_source: set KSRC to the kernel source tree to test, KSRC_KEY to
# the name its builds are cached under, KSRC_DESC to what it is, and
# KSRC_TREE to 1 for a tree of the user's (which may change between runs)
# or 0 for a package.
kernel_source() {
	if [[ -n $VMTEST_KSRC ]]; then
		KSRC=$(cd "$VMTEST_KSRC" 2>/dev/null && pwd) ||
			die "KSRC=$VMTEST_KSRC: no such directory"
		[[ -f $KSRC/Makefile && -f $KSRC/Kconfig ]] ||
			die "KSRC=$KSRC is not a kernel source tree"
		KSRC_KEY=tree-$(basename "$KSRC")-$(printf %s "$KSRC" |
			sha256sum | cut -c1-8)
		KSRC_TREE=1
		KSRC_DESC="tree $KSRC$(git -C "$KSRC" log -1 --format=' at %h' \
			2>/dev/null || true)"
	else
		kernel_package "linux-source-$KERNEL"
		KSRC_TREE=0
	fi
}

# The config fragments of a flavour, in the order they are applied.
flavour_fragments() {
	local f=$VMTEST_DIR/config/$FLAVOUR.config
	[[ -f $f ]] || die "unknown flavour '$FLAVOUR' (no $f)"
	echo "$VMTEST_DIR/config/base.config" "$f"
}

# The build tree of KSRC_KEY and FLAVOUR, keyed by the fragments' hash, so
# editing a fragment builds a new kernel and leaves the old one alone.
kernel_build_dir() {
	local hash
	# shellcheck disable=SC2046
	hash=$(cat $(flavour_fragments) | sha256sum | cut -c1-12)
	KBUILD=$CACHE_DIR/build/$KSRC_KEY-$FLAVOUR-$hash
}

# kernel_stale: whether the user's tree has a file newer than its last
# build (a package's tree never changes).
kernel_stale() {
	((KSRC_TREE)) || return 1
	[[ -n $(find "$KSRC" -name .git -prune -o -type f \
		-newer "$KBUILD/.vmtest-done" -print -quit) ]]
}

# kernel_configure: allnoconfig, then the fragments; refuse a fragment
# option that silently did not stick (a missing dependency, a renamed
# symbol): that kernel could not test what we think it tests.
kernel_configure() {
	local line sym missing=0

	kmake allnoconfig >&2 || return 1
	# shellcheck disable=SC2046
	"$KSRC/scripts/kconfig/merge_config.sh" -m -O "$KBUILD" \
		"$KBUILD/.config" $(flavour_fragments) >/dev/null || return 1
	kmake olddefconfig >&2 || return 1
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
}

kmake() { make -s -C "$KSRC" O="$KBUILD" "$@"; }

# kernel_build: the test kernel of FLAVOUR from KERNEL or VMTEST_KSRC,
# built once and cached (a tree of the user's is rebuilt, incrementally,
# when a file of it changed). Sets KSRC, KBUILD, KRELEASE and KLABEL.
kernel_build() {
	ensure_build_deps
	kernel_source
	kernel_build_dir
	if [[ ! -f $KBUILD/.vmtest-done ]] || kernel_stale; then
		log "building the $FLAVOUR kernel from $KSRC in $KBUILD"
		log "(a few minutes the first time)"
		mkdir -p "$KBUILD"
		if [[ ! -f $KBUILD/.config ]]; then
			rm -f "$KBUILD/.vmtest-done"
			kernel_configure || die "configuring $KSRC failed"
		fi
		kmake -j"$(($(nproc) + 1))" bzImage modules headers >&2 ||
			die "building the kernel in $KBUILD failed"
		rm -rf "$KBUILD/modroot"
		kmake INSTALL_MOD_PATH="$KBUILD/modroot" modules_install >&2 ||
			die "installing the kernel's modules failed"
		touch "$KBUILD/.vmtest-done"
		log "kernel ready: $KBUILD/arch/x86/boot/bzImage"
		kernel_prune
	fi
	# Kernel headers for the selftests (caches from before they were made).
	if [[ ! -d $KBUILD/usr/include/linux ]]; then
		kmake headers >&2 || die "make headers failed"
	fi
	KRELEASE=$(cat "$KBUILD/include/config/kernel.release")
	KLABEL="$KRELEASE ($KSRC_DESC)"
}

# Builds of this source and flavour from other fragments are stale.
kernel_prune() {
	local old
	for old in "${KBUILD%-*}"-*; do
		[[ $old != "$KBUILD" && -d $old ]] || continue
		log "removing the stale build $old"
		rm -rf "$old"
	done
}
