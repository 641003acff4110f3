// SPDX-License-Identifier: GPL-2.0
/*
 * hmmsim_json: is the standard input JSON (RFC 8259)? For hmmsimctl's
 * --json output in tests/hmmsimctl.sh: the test VM has no JSON tool.
 *
 *   hmmsim_json       the whole input is one JSON value
 *   hmmsim_json -l    every line is one (JSON lines), and there is one
 *
 * Exit status: 0 if it is, 1 if not (the line and column of the first
 * error on stderr), 2 for bad usage.
 */
#include <ctype.h>

#include "hmmsim_test.h"

static const char *p, *start;
static int depth;

static void skip_ws(void)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
}

static bool value(void);

static bool string(void)
{
	if (*p++ != '"')
		return false;
	while (*p != '"') {
		if ((unsigned char)*p < 0x20)
			return false;
		if (*p++ != '\\')
			continue;
		if (*p == 'u') {
			int i;

			for (i = 1; i <= 4; i++)
				if (!isxdigit((unsigned char)p[i]))
					return false;
			p += 5;
		} else if (*p && strchr("\"\\/bfnrt", *p)) {
			p++;
		} else {
			return false;
		}
	}
	p++;
	return true;
}

static bool digits(void)
{
	if (!isdigit((unsigned char)*p))
		return false;
	while (isdigit((unsigned char)*p))
		p++;
	return true;
}

static bool number(void)
{
	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (!digits())
		return false;
	if (*p == '.') {
		p++;
		if (!digits())
			return false;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!digits())
			return false;
	}
	return true;
}

/* An object or an array: MEMBER (, MEMBER)* between OPEN and CLOSE. */
static bool compound(char close, bool object)
{
	bool more;

	p++;
	if (++depth > 64)
		return false;
	skip_ws();
	for (more = *p != close; more;) {
		skip_ws();
		if (object) {
			if (!string())
				return false;
			skip_ws();
			if (*p++ != ':')
				return false;
		}
		if (!value())
			return false;
		skip_ws();
		more = *p == ',';
		if (more)
			p++;
	}
	if (*p++ != close)
		return false;
	depth--;
	return true;
}

static bool literal(const char *word)
{
	size_t len = strlen(word);

	if (strncmp(p, word, len))
		return false;
	p += len;
	return true;
}

static bool value(void)
{
	skip_ws();
	switch (*p) {
	case '{':
		return compound('}', true);
	case '[':
		return compound(']', false);
	case '"':
		return string();
	case 't':
		return literal("true");
	case 'f':
		return literal("false");
	case 'n':
		return literal("null");
	default:
		return number();
	}
}

/* One JSON value, alone in @text (white space around it allowed). */
static bool document(const char *text)
{
	start = text;
	p = text;
	depth = 0;
	if (!value())
		return false;
	skip_ws();
	return !*p;
}

static char *slurp(size_t *len)
{
	size_t cap = 1 << 16;
	char *buf = malloc(cap);
	size_t n;

	*len = 0;
	while (buf && (n = fread(buf + *len, 1, cap - *len - 1, stdin))) {
		*len += n;
		if (cap - *len - 1 == 0)
			buf = realloc(buf, cap *= 2);
	}
	if (buf)
		buf[*len] = '\0';
	return buf;
}

int main(int argc, char **argv)
{
	bool lines = argc == 2 && !strcmp(argv[1], "-l");
	unsigned int nr = 0, lineno = 0;
	char *buf, *line, *save = NULL;
	size_t len;

	if (argc > 2 || (argc == 2 && !lines)) {
		fprintf(stderr, "usage: %s [-l] < INPUT\n", argv[0]);
		return 2;
	}
	buf = slurp(&len);
	if (!buf || strlen(buf) != len) {
		fprintf(stderr, "%s: unreadable input, or a NUL byte in it\n",
			argv[0]);
		return 1;
	}
	if (!lines) {
		if (document(buf))
			return 0;
		fprintf(stderr, "%s: not JSON, at byte %td: %.40s\n", argv[0],
			p - start, p);
		return 1;
	}
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		if (!document(line)) {
			fprintf(stderr, "%s: line %u is not JSON, at column %td: %.40s\n",
				argv[0], lineno, p - start + 1, p);
			return 1;
		}
		nr++;
	}
	if (!nr) {
		fprintf(stderr, "%s: no JSON line\n", argv[0]);
		return 1;
	}
	return 0;
}
