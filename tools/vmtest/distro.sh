# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# It sets variables vmtest's functions read (KERNEL, KBUILD, FLAVOUR...).
# shellcheck disable=SC2034
#
# `make distro-check` (vmtest distro): hmmsim installed the way a user of
# Debian unstable installs it, on Debian's own stock kernel, not on a test
# kernel of ours. Sourced by vmtest.
#
# A Debian unstable system, made once with debootstrap in the cache
# (DISTRO_ROOT), has the stock kernel's headers and modules, dkms, gcc
# (the compiler the kernel was built with) and udev. A copy of this
# checkout goes into it, and there:
#
#   1. `make install` for the stock kernel (the files it added listed);
#   2. a boot of the stock kernel (its vmlinuz, its own modules) with what
#      it installed: `modprobe hmmsim`, udev applying the installed rule,
#      the installed hmmsimctl;
#   3. `make uninstall` leaves /etc, /usr/local and the kernel's modules
#      directory as they were before the install;
#   4. `dkms add`, `dkms build`, `dkms install` for the stock kernel;
#   5. DKMS refuses, with the Makefile's message, a kernel whose headers
#      lack CONFIG_DEVICE_PRIVATE (the stock headers with that option
#      taken out, under another release name);
#   6. a boot of the stock kernel with the DKMS-built module and udev:
#      every suite of `make check` (tests/suites.sh) and the kernel's own
#      hmm-tests, non-root use included. The stock kernel has no KASAN or
#      kmemleak: the suites and the WARN/BUG/Oops scan of its log judge.
#
# One KTAP report, build/distro-report.tap, and its totals.

DISTRO_DIR=$CACHE_DIR/distro
DISTRO_ROOT=$DISTRO_DIR/sid
# Where the checkout is copied to in the Debian system.
DISTRO_SRC=/root/hmmsim
DISTRO_APT=(-o Acquire::Check-Valid-Until=false)

# in_root COMMAND...: COMMAND run in the Debian system, as root, with
# /proc, /sys and /dev mounted; they are unmounted after it.
in_root() {
	local m rc=0
	for m in proc sys dev; do
		mount --bind "/$m" "$DISTRO_ROOT/$m" || return 1
	done
	LC_ALL=C DEBIAN_FRONTEND=noninteractive chroot "$DISTRO_ROOT" "$@" ||
		rc=$?
	for m in dev sys proc; do
		umount "$DISTRO_ROOT/$m" 2>/dev/null || umount -l "$DISTRO_ROOT/$m"
	done
	return $rc
}

# distro_kver: the release of the stock kernel, from the dependency of the
# linux-image-amd64 meta package (linux-image-RELEASE).
distro_kver() {
	in_root apt-cache depends linux-image-amd64 |
		sed -n 's/^ *Depends: linux-image-\([0-9].*\)$/\1/p' | head -n 1
}

# distro_root: the Debian unstable system, made the first time (a minute
# for debootstrap, less for the packages). Sets DISTRO_KVER.
distro_root() {
	local archive tmp
	local -a pkgs

	if [[ ! -f $DISTRO_ROOT/.vmtest-ready ]]; then
		ensure_packages debootstrap:debootstrap
		archive=$(debian_archive)
		[[ -n $archive ]] || die "no Debian archive in the host's apt sources"
		tmp=$DISTRO_ROOT.new
		rm -rf "$tmp" "$DISTRO_ROOT"
		log "debootstrap --variant=minbase sid from $archive into $DISTRO_ROOT"
		debootstrap --variant=minbase sid "$tmp" "$archive" \
			> "$DISTRO_DIR/debootstrap.log" 2>&1 ||
			die "debootstrap failed: $DISTRO_DIR/debootstrap.log"
		mv "$tmp" "$DISTRO_ROOT"
		cp /etc/resolv.conf "$DISTRO_ROOT/etc/" 2>/dev/null || true
		in_root apt-get -qq "${DISTRO_APT[@]}" update >&2 ||
			die "apt-get update in $DISTRO_ROOT failed"
		DISTRO_KVER=$(distro_kver)
		[[ -n $DISTRO_KVER ]] || die "no stock kernel in Debian unstable"
		pkgs=("linux-headers-$DISTRO_KVER" "linux-modules-$DISTRO_KVER"
			dkms make gcc libc6-dev udev xz-utils kmod)
		log "installing ${pkgs[*]} in $DISTRO_ROOT"
		in_root apt-get -y -qq "${DISTRO_APT[@]}" install \
			--no-install-recommends "${pkgs[@]}" \
			> "$DISTRO_DIR/apt.log" 2>&1 ||
			die "apt-get install failed: $DISTRO_DIR/apt.log"
		echo "$DISTRO_KVER" > "$DISTRO_ROOT/.vmtest-ready"
	fi
	DISTRO_KVER=$(cat "$DISTRO_ROOT/.vmtest-ready")
}

# distro_kernel: the stock kernel's vmlinuz, from Debian's
# linux-binary-RELEASE package (linux-image-RELEASE is a meta package),
# downloaded and unpacked in the cache. Sets KIMAGE.
distro_kernel() {
	local dir=$DISTRO_DIR/kernel-$DISTRO_KVER
	KIMAGE=$dir/vmlinuz
	[[ -f $KIMAGE ]] && return 0
	log "downloading linux-binary-$DISTRO_KVER"
	rm -rf "$DISTRO_ROOT/root/kernel"
	mkdir -p "$DISTRO_ROOT/root/kernel" "$dir"
	in_root sh -c "cd /root/kernel && apt-get -qq ${DISTRO_APT[*]} \
		download linux-binary-$DISTRO_KVER" >&2 ||
		die "apt-get download linux-binary-$DISTRO_KVER failed"
	dpkg-deb --fsys-tarfile "$DISTRO_ROOT"/root/kernel/*.deb |
		tar -xO "./usr/lib/modules/$DISTRO_KVER/vmlinuz" > "$KIMAGE.new" ||
		die "no vmlinuz in linux-binary-$DISTRO_KVER"
	mv "$KIMAGE.new" "$KIMAGE"
	rm -rf "$DISTRO_ROOT/root/kernel"
}

# distro_clean: the Debian system without any hmmsim of an earlier run:
# no DKMS module (removed through dkms, then by hand if that failed), no
# file `make install` put there, no hmmsim group.
distro_clean() {
	in_root sh -c "dkms remove hmmsim/$HMMSIM_VERSION --all" \
		>/dev/null 2>&1 || true
	if [[ -d $DISTRO_ROOT$DISTRO_SRC ]]; then
		in_root make -s -C "$DISTRO_SRC" uninstall \
			KDIR="/lib/modules/$DISTRO_KVER/build" >/dev/null 2>&1 || true
	fi
	in_root sh -c "rm -rf /var/lib/dkms/hmmsim /usr/src/hmmsim-* \
		/lib/modules/*/updates/dkms/hmmsim.ko* \
		/etc/udev/rules.d/70-hmmsim.rules
		! getent group hmmsim >/dev/null || groupdel hmmsim
		depmod -a $DISTRO_KVER"
	rm -rf "${DISTRO_ROOT:?}$DISTRO_SRC"
}

# distro_checkout: this checkout's files (tracked and new ones, not
# ignored ones) copied to DISTRO_SRC, as a user's clone would have them.
distro_checkout() {
	mkdir -p "$DISTRO_ROOT$DISTRO_SRC"
	(cd "$REPO_DIR" && git ls-files -co --exclude-standard |
		rsync -a --files-from=- . "$DISTRO_ROOT$DISTRO_SRC/")
}

# distro_snapshot FILE: a checksum of every file where an install writes,
# but the backups groupadd and groupdel keep of the files they change
# (/etc/group- and the like).
distro_snapshot() {
	(cd "$DISTRO_ROOT" && find etc usr/local "lib/modules/$DISTRO_KVER" \
		-path "lib/modules/$DISTRO_KVER/build" -prune -o \
		-type f ! -regex 'etc/\(passwd\|shadow\|group\|gshadow\)-' \
		-print0 | sort -z | xargs -0 sha256sum) > "$1"
}

# distro_tests: the tests and tools, built on the host against the
# kernel's headers as Debian unstable ships them (linux-libc-dev) and the
# kselftest harness of the same kernel's source. Sets KOUT.
distro_tests() {
	local hdr=$DISTRO_DIR/khdr d
	KERNEL=${DISTRO_KVER%%.*}.$(echo "$DISTRO_KVER" | cut -d. -f2)
	kernel_source
	KOUT=$OUT_DIR/distro-$DISTRO_KVER
	rm -rf "$hdr"
	mkdir -p "$hdr"
	for d in linux asm-generic misc drm; do
		ln -s "$DISTRO_ROOT/usr/include/$d" "$hdr/$d"
	done
	ln -s "$DISTRO_ROOT/usr/include/x86_64-linux-gnu/asm" "$hdr/asm"
	make -s -C "$REPO_DIR/tests" KSRC="$KSRC" KHDR="$hdr" \
		OUT="$KOUT/tests" >&2 || return 1
	make -s -C "$REPO_DIR/tools" OUT="$OUT_DIR/tools" >&2
}

# distro_extra MODULE: the files of the Debian system a boot needs, under
# $KOUT/extra, laid over the initramfs: its passwd and group, the udev
# rules it has, udevadm and its libraries, the installed hmmsimctl and
# modprobe.d file, and of the kernel's modules directory the indexes,
# configfs and MODULE (relative to it).
distro_extra() {
	local extra=$KOUT/extra mods=lib/modules/$DISTRO_KVER
	rm -rf "$extra"
	mkdir -p "$extra"
	(cd "$DISTRO_ROOT" && {
		echo etc/passwd; echo etc/group
		find etc/udev/rules.d etc/modprobe.d usr/local/bin -type f
		echo usr/bin/udevadm; echo usr/lib/systemd/systemd-udevd
		in_root ldd /usr/bin/udevadm |
			sed -n 's|.*=> /\([^ ]*\) .*|\1|p'
		find "$mods" -maxdepth 1 -name 'modules.*' -type f
		find "$mods/kernel" -name 'configfs.ko*'
		echo "$mods/$1"
	} | rsync -aR --files-from=- . "$extra/") || return 1
	# The loader, where udevadm's ELF header names it.
	install -D "$DISTRO_ROOT/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" \
		"$extra/lib64/ld-linux-x86-64.so.2"
	mkdir -p "$extra/run/udev"
}

# distro_boot NAME JOB MODULE: boot the stock kernel on the guest job JOB
# (after the set-up in guest/distro.sh) with MODULE of the kernel's
# modules directory, decompressed, as hmmsim.ko; BOOT_STATUS, SPLATS and
# RUN_DIR as run_guest sets them.
distro_boot() {
	local name=$1 job=$2 module=$3
	MODULE=$KOUT/hmmsim.ko
	xz -dc "$DISTRO_ROOT/lib/modules/$DISTRO_KVER/$module" > "$MODULE" ||
		return 1
	distro_extra "$module" || return 1
	cat "$VMTEST_DIR/guest/distro.sh" "$job" > "$KOUT/$name-job.sh"
	INITRAMFS_EXTRA=$KOUT/extra run_guest "$name" "$KOUT/$name-job.sh" 0
}

# distro_result N DESCRIPTION COMMAND...: result N of the report, from
# COMMAND's status; COMMAND's output as diagnostic lines.
distro_result() {
	local n=$1 desc=$2 out status=ok
	shift 2
	out=$("$@" 2>&1) || status="not ok"
	[[ -n $out ]] && printf '%s\n' "$out" | tail -n 30 | sed 's/^/# /'
	echo "$status $n $desc"
	[[ $status == ok ]]
}

# distro_boot_result N JOB DESCRIPTION: the subtest of the boot just
# made, test N of the report.
distro_boot_result() {
	local n=$1 job=$2 desc=$3 status=ok
	report_boot "$job" > "$RUN_DIR/report.ktap" || status="not ok"
	echo "$status $n $desc" >> "$RUN_DIR/report.ktap"
	cat "$RUN_DIR/report.ktap"
	[[ $status == ok ]]
}

# The kernel of 5: the stock headers under another release name, without
# CONFIG_DEVICE_PRIVATE; dkms build must fail with the Makefile's message.
distro_dkms_refuses() {
	local fake=$DISTRO_KVER-nodp log
	log=/var/lib/dkms/hmmsim/$HMMSIM_VERSION/build/make.log
	in_root sh -c "set -e
		rm -rf /usr/src/linux-headers-$fake /lib/modules/$fake
		cp -a /usr/src/linux-headers-$DISTRO_KVER /usr/src/linux-headers-$fake
		sed -i '/^CONFIG_DEVICE_PRIVATE=/d' \
			/usr/src/linux-headers-$fake/include/config/auto.conf
		mkdir -p /lib/modules/$fake
		ln -s /usr/src/linux-headers-$fake /lib/modules/$fake/build
		if dkms build -k $fake hmmsim/$HMMSIM_VERSION; then exit 1; fi
		grep '^hmmsim:' $log
		grep -q 'lacks CONFIG_DEVICE_PRIVATE' $log
		if grep 'error:' $log; then exit 1; fi"
	local rc=$?
	in_root sh -c "rm -rf /usr/src/linux-headers-$fake /lib/modules/$fake \
		/var/lib/dkms/hmmsim/$HMMSIM_VERSION/$fake"
	return $rc
}

# The whole of 4.
distro_dkms_install() {
	in_root sh -c "set -e; cd $DISTRO_SRC
		dkms add .
		dkms build -k $DISTRO_KVER hmmsim/$HMMSIM_VERSION
		dkms install -k $DISTRO_KVER hmmsim/$HMMSIM_VERSION
		dkms status hmmsim"
}

# distro_step COMMAND...: COMMAND's output (results of the report) shown
# and appended to REPORT; RC set to 1 if it failed.
distro_step() {
	if ! "$@" | tee -a "$REPORT"; then
		RC=1
	fi
}

# distro_boot_step N DESCRIPTION JOB MODULE: test N, a boot of the stock
# kernel on JOB with MODULE (of the kernel's modules directory, a glob).
distro_boot_step() {
	local n=$1 desc=$2 job=$3 mod

	mod=$(cd "$DISTRO_ROOT/lib/modules/$DISTRO_KVER" &&
		compgen -G "$4" | head -n 1) || true
	if [[ -z $mod ]] || ! distro_boot "${job##*/}" "$job" "$mod"; then
		distro_step echo "not ok $n $desc: no module, or no initramfs"
		return
	fi
	distro_step distro_boot_result "$n" "${job##*/}" "$desc"
}

cmd_distro() {
	local before=$DISTRO_DIR/before kdir

	ensure_build_deps
	mkdir -p "$DISTRO_DIR"
	distro_root
	distro_kernel
	HMMSIM_VERSION=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' \
		"$REPO_DIR/dkms.conf")
	KBUILD=/nonexistent
	FLAVOUR=stock
	KRELEASE=$DISTRO_KVER
	KLABEL="$DISTRO_KVER (Debian unstable's stock kernel)"
	kdir=/lib/modules/$DISTRO_KVER/build
	distro_tests || die "building the tests failed"
	distro_clean
	distro_checkout

	REPORT=$OUT_DIR/distro-report.tap
	RC=0
	{
		echo "KTAP version 1"
		echo "# hmmsim $HMMSIM_VERSION on $KLABEL"
		echo "1..6"
	} | tee "$REPORT"
	distro_snapshot "$before"
	distro_step distro_result 1 "make install for $DISTRO_KVER" \
		distro_installed "$before"
	distro_boot_step 2 "modprobe after make install" \
		"$VMTEST_DIR/guest/distro-install.sh" 'updates/hmmsim.ko*'
	distro_step distro_result 3 "make uninstall leaves no file of it" \
		distro_uninstalled "$before"
	distro_step distro_result 4 "dkms add, build, install for $DISTRO_KVER" \
		distro_dkms_install
	distro_step distro_result 5 \
		"dkms refuses a kernel without CONFIG_DEVICE_PRIVATE, with make's message" \
		distro_dkms_refuses
	distro_boot_step 6 "every suite with the DKMS-built module" \
		"$VMTEST_DIR/guest/check.sh" 'updates/dkms/hmmsim.ko*'
	totals "$REPORT" || RC=1
	return "$RC"
}

# distro_installed BEFORE: make install, then the files it added or
# changed since the snapshot BEFORE.
distro_installed() {
	local after=$DISTRO_DIR/installed
	in_root make -s -C "$DISTRO_SRC" install \
		KDIR="/lib/modules/$DISTRO_KVER/build" || return 1
	distro_snapshot "$after"
	{ diff "$1" "$after" || true; } |
		sed -n 's/^> [0-9a-f]*  /installed: /p' | grep .
}

# distro_uninstalled BEFORE: make uninstall, then every file where an
# install writes is as it was in the snapshot BEFORE.
distro_uninstalled() {
	local after=$DISTRO_DIR/after
	in_root make -s -C "$DISTRO_SRC" uninstall \
		KDIR="/lib/modules/$DISTRO_KVER/build" || return 1
	distro_snapshot "$after"
	diff "$1" "$after"
}
