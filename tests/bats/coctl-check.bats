#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# coctl check: the real binary on real files. The shipped example is valid,
# bad files give every error with its place, usage errors exit 2, and the
# format's man page, the example and the loader agree on the keys.

bats_require_minimum_version 1.5.0
load daemon-helpers

setup_file() {
	require_coctl
	export MAN5="$ROOT/packaging/man/coro-runner.yaml.5"
	export EXAMPLE="$ROOT/packaging/jobs.yaml"
}

setup() {
	cd "$BATS_TEST_TMPDIR"
}

# The keys the man page documents: each is ".TP" then ".B key" in a section
# whose title ends in KEYS. $1: "all", or "job" for the job keys only.
documented_keys() {
	awk -v which="$1" '
		/^\.SH / { keys = ($0 ~ /KEYS"?$/); top = ($0 ~ /TOP/); next }
		/^\.TP/  { tp = 1; next }
		tp && keys && $1 == ".B" && $2 ~ /^[a-z_]+$/ && NF == 2 {
			if (which == "all" || !top) print $2
		}
		{ tp = 0 }' "$MAN5"
}

# A small valid job, for files that need one.
job() {
	printf '  - name: %s\n    type: exec\n    command: [/bin/true]\n    every: 1m\n' "$1"
}

@test "the shipped example (main file and drop-in directory) is valid" {
	run --separate-stderr "$COCTL" check -c "$EXAMPLE" -d "$ROOT/packaging/jobs.d"
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[[ "$output" =~ ^coctl:\ configuration\ OK:\ 2\ files,\ [0-9]+\ jobs\ \([0-9]+\ enabled\)$ ]]
}

@test "the shipped example given as files gives the same summary" {
	run --separate-stderr "$COCTL" check -c "$EXAMPLE" -d "$ROOT/packaging/jobs.d"
	local by_dir="$output"
	run --separate-stderr "$COCTL" check "$EXAMPLE" "$ROOT"/packaging/jobs.d/*.yaml
	[ "$status" -eq 0 ]
	[ "$output" = "$by_dir" ]
}

@test "a valid file: exit 0 and one line, with counts" {
	{ echo 'jobs:'; job a; job b; echo '    enabled: false'; } > one.yaml
	run --separate-stderr "$COCTL" check one.yaml
	[ "$status" -eq 0 ]
	[ "$output" = "coctl: configuration OK: 1 file, 2 jobs (1 enabled)" ]
	[ -z "$stderr" ]
}

@test "an invalid file: exit 1, every error as file:line:column, then a count" {
	cat > bad.yaml <<-'EOF'
	defaults:
	  every: 30s
	  timeot: 5s
	jobs:
	  - name: web
	    type: http
	    url: http://127.0.0.1:8080/
	    timeout: 1m
	  - name: db
	    type: tpc
	EOF
	run --separate-stderr "$COCTL" check bad.yaml
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	[ "${stderr_lines[0]}" = 'bad.yaml:3:3: defaults: unknown key "timeot" (did you mean "timeout"?)' ]
	[ "${stderr_lines[1]}" = 'bad.yaml:8:14: job "web": "timeout" 1m must be shorter than "every" 30s' ]
	[ "${stderr_lines[2]}" = 'bad.yaml:10:11: job "db": unknown job type "tpc" (did you mean "tcp"?)' ]
	[ "${stderr_lines[3]}" = 'coctl: 3 errors in 1 file' ]
	[ "${#stderr_lines[@]}" -eq 4 ]
}

@test "errors in several files are counted per file" {
	printf 'jobs:\n  - name: a\n' > a.yaml
	printf 'jobs: 3\n' > b.yaml
	run --separate-stderr "$COCTL" check a.yaml b.yaml
	[ "$status" -eq 1 ]
	[[ "${stderr_lines[0]}" == a.yaml:2:5:* ]]
	[[ "$stderr" == *$'\n'b.yaml:1:7:* ]]
	[[ "${stderr_lines[-1]}" =~ ^coctl:\ [0-9]+\ errors\ in\ 2\ files$ ]]
}

@test "a job defined in two files: the error names both places" {
	{ echo 'jobs:'; job first; job same; } > a.yaml
	{ echo 'jobs:'; job same; } > b.yaml
	run --separate-stderr "$COCTL" check a.yaml b.yaml
	[ "$status" -eq 1 ]
	[ "${stderr_lines[0]}" = 'b.yaml:2:11: job "same": defined twice: here and at a.yaml:6:5' ]
	[ "${stderr_lines[1]}" = 'coctl: 1 error in 1 file' ]
}

@test "a job defined twice through -c and -d names both places too" {
	mkdir d
	{ echo 'jobs:'; job same; } > main.yaml
	{ echo 'jobs:'; job other; job same; } > d/10-more.yaml
	run --separate-stderr "$COCTL" check -c main.yaml -d d
	[ "$status" -eq 1 ]
	[[ "${stderr_lines[0]}" == 'd/10-more.yaml:6:11: job "same": defined twice: here and at main.yaml:2:5' ]]
}

@test "a missing file: exit 1 and a clear error" {
	run --separate-stderr "$COCTL" check nope.yaml
	[ "$status" -eq 1 ]
	[ "${stderr_lines[0]}" = 'nope.yaml: cannot open: No such file or directory' ]
	[ "${stderr_lines[1]}" = 'coctl: 1 error in 1 file' ]

	run --separate-stderr "$COCTL" check -c nope.yaml -d "$BATS_TEST_TMPDIR"
	[ "$status" -eq 1 ]
	[ "${stderr_lines[0]}" = 'nope.yaml: cannot open: No such file or directory' ]
}

@test "-d: drop-ins in lexical order, other names ignored, missing or empty directories" {
	mkdir d empty
	{ echo 'jobs:'; job main; } > main.yaml
	{ echo 'jobs:'; job b; } > d/20-b.yaml
	{ echo 'jobs:'; job a; echo '    every: 5x'; } > d/10-a.yaml
	echo 'not: [yaml' > d/ignored.yml
	echo 'not: [yaml' > d/.hidden.yaml
	run --separate-stderr "$COCTL" check -c main.yaml -d d -d missing-dir
	[ "$status" -eq 1 ]
	[[ "${stderr_lines[0]}" == d/10-a.yaml:* ]]
	[ "${#stderr_lines[@]}" -eq 2 ]

	rm d/10-a.yaml
	run --separate-stderr "$COCTL" check -c main.yaml -d d -d missing-dir -d empty
	[ "$status" -eq 0 ]
	[ "$output" = "coctl: configuration OK: 2 files, 2 jobs (2 enabled)" ]
}

@test "more errors than are kept: the count says how many were not listed" {
	{
		echo 'jobs:'
		for i in $(seq 1005); do printf '  - name: j%d\n    type: bogus\n' "$i"; done
	} > many.yaml
	run --separate-stderr "$COCTL" check many.yaml
	[ "$status" -eq 1 ]
	[ "${#stderr_lines[@]}" -eq 1001 ]
	[ "${stderr_lines[-1]}" = 'coctl: 1005 errors in 1 file (5 more than the 1000 listed)' ]
}

@test "hostile input is refused with an error, not a crash" {
	printf 'a: &x [1]\nb: *x\n' > alias.yaml
	printf '\x00\xff\xfe garbage' > binary.yaml
	run --separate-stderr "$COCTL" check alias.yaml
	[ "$status" -eq 1 ]
	[[ "${stderr_lines[0]}" == alias.yaml:1:4:*anchors* ]]
	run --separate-stderr "$COCTL" check binary.yaml
	[ "$status" -eq 1 ]
	[[ "${stderr_lines[0]}" == binary.yaml:1:1:* ]]
}

@test "a write error on stdout is reported and fails" {
	{ echo 'jobs:'; job a; } > one.yaml
	run bash -c '"$COCTL" check one.yaml > /dev/full'
	[ "$status" -eq 1 ]
	[[ "$output" == *"cannot write the output"* ]]
}

@test "usage errors exit 2 with a hint to --help" {
	run --separate-stderr "$COCTL" --bogus
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = "coctl: unknown option '--bogus'" ]
	[ "${stderr_lines[1]}" = "Try 'coctl --help' for more information." ]

	run --separate-stderr "$COCTL" frobnicate
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = "coctl: unknown command 'frobnicate'" ]

	run --separate-stderr "$COCTL" chek
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = "coctl: unknown command 'chek' (did you mean 'check'?)" ]

	run --separate-stderr "$COCTL"
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = "coctl: no command given" ]

	run --separate-stderr "$COCTL" check --bogus
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = "coctl: check: unknown option '--bogus'" ]
	[ "${stderr_lines[1]}" = "Try 'coctl check --help' for more information." ]

	run --separate-stderr "$COCTL" check -c
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = "coctl: check: option '-c' needs an argument" ]

	run --separate-stderr "$COCTL" check -c a.yaml b.yaml
	[ "$status" -eq 2 ]
	[[ "${stderr_lines[0]}" == *"not both"* ]]
	[ -z "$output" ]
}

@test "the daemon's commands exit 3 when no daemon answers" {
	for cmd in list "status x" "kill x" "pause x" "resume x" "run x" reload stats "add x --type exec --every 1m --command /bin/true"; do
		run --separate-stderr "$COCTL" -s "$BATS_TEST_TMPDIR/none.sock" $cmd
		[ "$status" -eq 3 ]
		[[ "${stderr_lines[0]}" == "coctl: cannot reach coro-runnerd at "* ]]
	done
}

@test "--help for coctl and for check" {
	for args in --help -h help "help help"; do
		run --separate-stderr "$COCTL" $args
		[ "$status" -eq 0 ]
		[[ "${lines[0]}" == "Usage: coctl "* ]]
		[[ "$output" == *"check"* ]]
		[[ "$output" == *"Exit status"* ]]
		[ -z "$stderr" ]
	done
	for args in "check --help" "check -h" "help check"; do
		run --separate-stderr "$COCTL" $args
		[ "$status" -eq 0 ]
		[ "${lines[0]}" = "Usage: coctl check [-c FILE] [-d DIR]..." ]
		[[ "$output" == *"/etc/coro-runner/jobs.yaml"* ]]
	done
}

@test "--version prints the Makefile's version" {
	local version
	version=$(sed -n 's/^VERSION *:= *//p' "$ROOT/Makefile")
	run --separate-stderr "$COCTL" --version
	[ "$status" -eq 0 ]
	[ "$output" = "coctl $version" ]
}

@test "the man pages render without warnings" {
	for page in "$MAN5" "$ROOT/packaging/man/coctl.1"; do
		run env LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l "$page"
		[ "$status" -eq 0 ]
		[[ "$output" != *"warning"* ]]
	done
}

@test "every key of coro-runner.yaml(5) appears in packaging/jobs.yaml" {
	local key missing=()
	mapfile -t keys < <(documented_keys all)
	[ "${#keys[@]}" -ge 35 ]   # the extraction works
	for key in "${keys[@]}"; do
		# As a key at the start of a line, active or commented out.
		grep -Eq "^[[:space:]]*(#[[:space:]]*)?(- )?$key:" "$EXAMPLE" || missing+=("$key")
	done
	echo "missing from packaging/jobs.yaml: ${missing[*]}"
	[ "${#missing[@]}" -eq 0 ]
}

@test "every job key of coro-runner.yaml(5) is one the loader knows" {
	local key unknown=()
	mapfile -t keys < <(documented_keys job)
	[ "${#keys[@]}" -ge 30 ]
	for key in "${keys[@]}"; do
		# A known key with a value bad for every key (a list of a mapping)
		# gets an error about the value, not "unknown key".
		printf 'defaults:\n  %s: [{}]\n' "$key" > k.yaml
		run "$COCTL" check k.yaml
		[ "$status" -eq 1 ]
		[[ "$output" != *"unknown key"* ]] || unknown+=("$key")
	done
	echo "documented but unknown to the loader: ${unknown[*]}"
	[ "${#unknown[@]}" -eq 0 ]
}

@test "every key the loader knows is documented in coro-runner.yaml(5)" {
	local key undocumented=()
	# The loader's key table (config/config.c); if it moves, update this.
	mapfile -t keys < <(sed -n '/key_names\[NKEYS\] = {/,/};/p' "$ROOT/config/config.c" |
		grep -o '"[a-z_]*"' | tr -d '"')
	[ "${#keys[@]}" -ge 30 ]
	keys+=(defaults jobs metrics listen fleet notifiers history web)
	# The keys of a notifier (config/notify.c).
	mapfile -t -O "${#keys[@]}" keys < <(sed -n '/nkey_names\[NNKEYS\] = {/,/};/p' \
		"$ROOT/config/notify.c" | grep -o '"[a-z_]*"' | tr -d '"')
	[ "${#keys[@]}" -ge 49 ]
	mapfile -t documented < <(documented_keys all)
	for key in "${keys[@]}"; do
		printf '%s\n' "${documented[@]}" | grep -qx "$key" || undocumented+=("$key")
	done
	echo "known to the loader but not documented: ${undocumented[*]}"
	[ "${#undocumented[@]}" -eq 0 ]
}
