#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make policy-pictures: hmmsim-replay's residency pictures of the example
# traces. Boots the test kernel (tools/vmtest/vmtest run, KERNEL and
# FLAVOUR as for make run), replays the full traces there under every
# policy with -o (guest/replay.sh pictures), takes the data files and
# gnuplot scripts out of the guest's results log and draws each with
# gnuplot (Debian's gnuplot-nox, installed if missing) on the host, into
# build/policy-pictures/TRACE-POLICY.svg; the tables go to
# build/policy-pictures/tables.txt and to stdout.
#
#   tools/traces/pictures.sh [--docs]
#
# --docs also copies the pictures Documentation/policy.rst shows (DOCS
# below) to Documentation/images/policy-TRACE-POLICY.svg.
#
# The pictures are drawn here rather than in make check or make bench: the
# guest is a busybox initramfs without gnuplot, and a test run should not
# need a plotting package on the host. Nothing here is a test.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../vmtest/lib.sh
. "$(dirname "$0")/../vmtest/lib.sh"

# The pictures the documentation shows.
DOCS="stream-first-touch stream-counters stencil-first-touch stencil-counters
stencil-advised-first-touch pingpong-first-touch pingpong-counters"

OUT=$REPO_DIR/build/policy-pictures
docs=0
case ${1:-} in
--docs) docs=1 ;;
"") ;;
*) die "usage: tools/traces/pictures.sh [--docs]" ;;
esac

ensure_packages gnuplot-nox:gnuplot
rm -rf "$OUT"
mkdir -p "$OUT"
"$VMTEST_DIR/vmtest" run --cmd 'sh /hmmsim/guest/replay.sh pictures' \
	> "$OUT/console.log" || die "the replay failed: $OUT/console.log"

# The results port's log of that boot: the job's output alone.
# shellcheck disable=SC2012 # the newest; names without blanks
results=$(ls -t "$REPO_DIR"/build/*/vm/run/results.log | head -n 1)
grep -v '^@@' "$results" | grep -v '^vmtest-exit:' | tee "$OUT/tables.txt"
awk -v dir="$OUT" '
	/^@@replay-file / { f = dir "/" $2; next }
	/^@@replay-end$/ { close(f); f = ""; next }
	f != "" && /^@@ / { print substr($0, 4) > f }
' "$results"

n=0
for gp in "$OUT"/*.gp; do
	[[ -e $gp ]] || die "no gnuplot script in $results"
	(cd "$OUT" && gnuplot "$(basename "$gp")") ||
		die "gnuplot $gp failed"
	n=$((n + 1))
done
log "$n pictures in ${OUT#"$REPO_DIR"/}"

((docs)) || exit 0
mkdir -p "$REPO_DIR/Documentation/images"
for p in $DOCS; do
	[[ -e $OUT/$p.svg ]] || die "no picture $p.svg"
	cp "$OUT/$p.svg" "$REPO_DIR/Documentation/images/policy-$p.svg"
done
log "copied to Documentation/images: $(echo "$DOCS" | wc -w) pictures"
