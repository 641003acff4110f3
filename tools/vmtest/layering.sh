#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: layering.sh DIR
#
# The file-level call graph of hmmsim, read from the symbol tables of the
# objects a module build left in DIR/src: file A depends on file B when A's
# object refers to a symbol B's object defines. The graph must have no
# cycle (Documentation/hmmsim.rst, "How the files layer"), leaving out the
# references to the callbacks below, which a file names only to register
# them in an ops table the kernel calls. Prints the edges with -v.
set -euo pipefail

# Registered callbacks: file_operations (the char devices' and debugfs's
# poison file), file_operations.uring_cmd, dev_pagemap_ops.migrate_to_ram
# and .memory_failure.
REGISTERED=' hmmsim_fops hmmsim_poison_fops hmmsim_uring_cmd hmmsim_migrate_cpu_fault hmmsim_poison_memory_failure '

verbose=0
if [[ ${1:-} == -v ]]; then
	verbose=1
	shift
fi
dir=${1:?usage: layering.sh [-v] DIR}
shopt -s nullglob
objs=("$dir"/src/*.o)
((${#objs[@]})) || { echo "layering: no objects in $dir/src" >&2; exit 2; }

declare -A owner
for o in "${objs[@]}"; do
	while read -r sym; do
		owner[$sym]=$(basename "$o" .o)
	done < <(nm --defined-only "$o" | awk '$2 ~ /^[TDRB]$/ && $3 ~ /^hmmsim_/ { print $3 }')
done

edges=$(for o in "${objs[@]}"; do
	f=$(basename "$o" .o)
	nm --undefined-only "$o" | awk '$2 ~ /^hmmsim_/ { print $2 }' |
	while read -r sym; do
		[[ $REGISTERED == *" $sym "* ]] && continue
		to=${owner[$sym]:-}
		[[ -n $to && $to != "$f" ]] && echo "$f $to"
	done
done | sort -u)

((verbose)) && printf '%s\n' "$edges"
if ! out=$(printf '%s\n' "$edges" | tsort 2>&1 >/dev/null) || [[ -n $out ]]; then
	echo "layering: the call graph of src/ has a cycle:" >&2
	printf '%s\n' "$out" | sed 's/^/layering: /' >&2
	exit 1
fi
echo "layering: $(printf '%s\n' "$edges" | wc -l) calls between files, no cycle"
