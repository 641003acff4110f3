# SPDX-License-Identifier: GPL-2.0
#
# KTAP (Documentation/dev-tools/ktap.rst, version 1), in POSIX awk: busybox
# awk runs it in the test VM, the host's awk on the host.
#
#   awk -f ktap.awk -v mode=check [-v totals=1] FILE
#	Validate FILE as one KTAP document: a version line first; nested
#	documents indented two spaces per level, each opened by a version
#	line and closed by its parent's result line; a plan, before the
#	results, that matches the number of results of its level; results
#	numbered from 1 by one; a parent that passes has no failed subtest.
#	Each error is printed as "ktap: LINE: message" on stderr. With
#	totals=1, prints "N passed, N failed, N skipped": the test cases, that
#	is every result line that is not a parent's, plus a parent's "not ok"
#	when none of its subtests failed (it failed on its own: exit status,
#	crash). Exit status: 2 if malformed, 1 if a test failed, else 0.
#
#   awk -f ktap.awk -v mode=nest [-v indent=N]
#	Filter one program's output into a subtest of a bigger document:
#	every line indented by N spaces (2), version lines made "KTAP version
#	1" (kselftest's "TAP version 13" included), and what the program
#	could not finish, finished: a version line is added before a plan or
#	result that has none; a plan that comes after the results (TAP 13
#	allows it) is moved before them (the lines from the first result on are held
#	until the plan comes); at the end, every open subtest is closed and
#	every planned result that is missing is a "not ok" saying the output
#	ended there. Exit status: 0 if the output's own results all passed
#	(or were skipped), 1 if one failed or was missing, 2 if there was no
#	KTAP output at all.

function classify(line) {
	# Sets IND (leading spaces) and BODY; returns the kind of line.
	IND = match(line, /[^ ]/) ? RSTART - 1 : length(line)
	BODY = substr(line, IND + 1)
	sub(/\r$/, "", BODY)
	if (BODY ~ /^K?TAP version [0-9]+$/)
		return "version"
	if (BODY ~ /^1\.\.[0-9]+([ \t]|$)/)
		return "plan"
	if (BODY ~ /^(not )?ok [0-9]+([ \t]|$)/)
		return "result"
	if (BODY ~ /^(not )?ok([ \t]|$)/)
		return "badresult"
	return "other"
}

function result_num(body,    s) {
	s = body
	sub(/^(not )?ok /, "", s)
	sub(/[^0-9].*$/, "", s)
	return s + 0
}

function is_skip(body) {
	return body ~ /#[ \t]*[Ss][Kk][Ii][Pp]([ \t]|$)/
}

function is_fail(body) {
	return body ~ /^not ok/ && !is_skip(body)
}

function err(msg) {
	printf "ktap: %d: %s\n", NR, msg > "/dev/stderr"
	bad = 1
}

# ------------------------------------------------------------- check mode

# Close level D (a nested document) with the parent's result line BODY.
function close_level(body,    p) {
	if (plan[D] < 0)
		err("subtest ends without a plan")
	else if (cnt[D] != plan[D])
		err("subtest planned " plan[D] " tests, has " cnt[D])
	p = D - 1
	if (cnt[D] == 0) {
		leaf(body)
	} else if (failed[D] && !is_fail(body) && !is_skip(body)) {
		err("\"" body "\" passes, but a subtest of it failed")
	} else if (is_fail(body) && !failed[D]) {
		nfail++		# a failure of its own
	}
	D = p
}

function leaf(body) {
	if (is_skip(body))
		nskip++
	else if (body ~ /^not ok/)
		nfail++
	else
		npass++
}

function check_line(line,    kind) {
	kind = classify(line)
	if (kind == "other")
		return
	if (kind == "badresult") {
		err("result line without a number: " BODY)
		return
	}
	if (D < 0) {
		if (kind != "version" || IND != 0) {
			err("the document does not start with a version line")
			D = 0; ind[0] = IND; plan[0] = -1; cnt[0] = 0; failed[0] = 0
			if (kind != "version")
				check_line(line)
			return
		}
		D = 0; ind[0] = 0; plan[0] = -1; cnt[0] = 0; failed[0] = 0
		return
	}
	if (kind == "version") {
		if (IND != ind[D] + 2) {
			err("version line indented " IND ", expected " ind[D] + 2 " (a subtest of the test at " ind[D] ")")
			return
		}
		D++
		ind[D] = IND; plan[D] = -1; cnt[D] = 0; failed[D] = 0
		return
	}
	# A plan or a result: first, the levels it ends.
	while (D > 0 && IND < ind[D]) {
		if (kind != "result" || IND != ind[D - 1]) {
			err(kind " indented " IND " inside a subtest indented " ind[D] " that has no result line")
			if (IND > ind[D - 1])
				return
			D--
			continue
		}
		close_level(BODY)
		# The result line belongs to the parent level: numbered there.
		cnt[D]++
		if (result_num(BODY) != cnt[D])
			err("result numbered " result_num(BODY) ", expected " cnt[D])
		if (is_fail(BODY))
			failed[D] = 1
		return
	}
	if (IND != ind[D]) {
		err(kind " indented " IND " without a version line (level indented " ind[D] ")")
		return
	}
	if (kind == "plan") {
		if (plan[D] >= 0)
			err("second plan at this level")
		else if (cnt[D] > 0)
			err("plan after the results")
		plan[D] = substr(BODY, 4) + 0
		return
	}
	cnt[D]++
	if (result_num(BODY) != cnt[D])
		err("result numbered " result_num(BODY) ", expected " cnt[D])
	if (is_fail(BODY))
		failed[D] = 1
	leaf(BODY)
}

function check_end() {
	if (D < 0) {
		err("no KTAP version line")
	} else {
		if (D > 0)
			err("the document ends inside a subtest indented " ind[D])
		if (plan[0] < 0)
			err("no plan")
		else if (cnt[0] != plan[0])
			err("planned " plan[0] " tests, has " cnt[0])
	}
	if (totals)
		printf "%d passed, %d failed, %d skipped\n", npass, nfail, nskip
	exit bad ? 2 : (nfail > 0)
}

# -------------------------------------------------------------- nest mode

function put(line) {
	if (holding)
		held[++nheld] = PAD line
	else {
		print PAD line
		fflush()
	}
}

function release(    i) {
	holding = 0
	for (i = 1; i <= nheld; i++)
		print held[i]
	nheld = 0
	fflush()
}

function spaces(n,    s) {
	s = ""
	while (n-- > 0)
		s = s " "
	return s
}

function nest_line(line,    kind) {
	kind = classify(line)
	if (kind == "badresult" || kind == "other") {
		put(line)
		return
	}
	if (kind == "version")	# TAP version 13 too: one version throughout
		line = spaces(IND) "KTAP version 1"
	if (D < 0) {
		D = 0; ind[0] = 0; plan[0] = -1; cnt[0] = 0
		if (kind != "version" || IND != 0)
			put("KTAP version 1")
		if (kind == "version") {
			put(line)
			return
		}
	}
	if (kind == "version") {
		if (IND > ind[D]) {
			D++
			ind[D] = IND; plan[D] = -1; cnt[D] = 0
		}
		put(line)
		return
	}
	while (D > 0 && IND < ind[D])
		D--
	if (kind == "plan" && IND == ind[D] && plan[D] < 0) {
		plan[D] = substr(BODY, 4) + 0
		if (D == 0 && holding) {
			print PAD line
			release()
			return
		}
	}
	if (kind == "result" && IND == ind[D]) {
		cnt[D]++
		if (D == 0 && is_fail(BODY))
			failed0 = 1
		if (D == 0 && plan[0] < 0 && !holding)
			holding = 1
	}
	put(line)
}

function nest_end(    L, pad, k) {
	if (D < 0)
		exit 2
	for (L = D; L >= 0; L--) {
		pad = spaces(ind[L])
		for (k = cnt[L] + 1; k <= plan[L]; k++) {
			put(pad "not ok " k " (no result: the output ended here)")
			failed0 = 1
		}
		if (L > 0) {
			cnt[L - 1]++
			put(spaces(ind[L - 1]) "not ok " cnt[L - 1] " (no result: the output ended here)")
			failed0 = 1
		}
	}
	if (holding) {
		print PAD "1.." cnt[0]
		release()
	} else if (plan[0] < 0) {
		put("1..0")		# a version line, then nothing
		failed0 = 1
	}
	exit failed0
}

BEGIN {
	D = -1
	if (mode == "nest")
		PAD = spaces(indent == "" ? 2 : indent)
	else if (mode != "check") {
		print "ktap.awk: mode must be check or nest" > "/dev/stderr"
		exit 2
	}
}

mode == "check" { check_line($0) }
mode == "nest" { nest_line($0) }

END {
	if (mode == "check")
		check_end()
	else if (mode == "nest")
		nest_end()
}
