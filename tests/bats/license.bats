#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# The license: LICENSE is the MIT license, debian/copyright says the same in
# DEP-5 (machine-readable) form, and every source file carries
# "SPDX-License-Identifier: MIT" (scripts/spdx --check; --add adds it).

bats_require_minimum_version 1.5.0

setup_file() {
	export ROOT="$(cd "$BATS_TEST_DIRNAME/../.." && pwd)"
	export SPDX="$ROOT/scripts/spdx"
}

setup() {
	cd "$BATS_TEST_TMPDIR"
}

@test "LICENSE is the MIT license, with the project's copyright line" {
	[ -f "$ROOT/LICENSE" ]
	[ "$(head -n 1 "$ROOT/LICENSE")" = "MIT License" ]
	grep -qx 'Copyright (c) 2026 The coro-runner authors' "$ROOT/LICENSE"
	grep -q '^Permission is hereby granted, free of charge, to any person obtaining a copy$' "$ROOT/LICENSE"
	grep -q '^SOFTWARE\.$' "$ROOT/LICENSE"
}

# DEP-5 (copyright-format 1.0): deb822 paragraphs; a header with Format:,
# Files paragraphs with Copyright and License, every license named there
# given in full somewhere; and the MIT text the same as LICENSE's.
@test "debian/copyright parses as DEP-5 and has LICENSE's text" {
	run python3 - "$ROOT/debian/copyright" "$ROOT/LICENSE" <<-'EOF'
	import re, sys
	text = open(sys.argv[1], encoding="utf-8").read()
	paras, cur, last = [], {}, None
	for n, line in enumerate(text.split("\n"), 1):
	    if line.strip() == "":
	        if cur: paras.append(cur)
	        cur, last = {}, None
	    elif line[0] in " \t":
	        assert last, "line %d: continuation line without a field" % n
	        cur[last].append(line[1:])
	    else:
	        m = re.match(r"^([!-9;-~][!-9;-~]*):[ \t]*(.*?)\s*$", line)
	        assert m and not line.startswith(("#", "-")), "line %d: not a field: %r" % (n, line)
	        last = m.group(1).lower()
	        assert last not in cur, "line %d: field %s twice" % (n, m.group(1))
	        cur[last] = [m.group(2)]
	if cur: paras.append(cur)
	head, rest = paras[0], paras[1:]
	assert head.get("format") == ["https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"], "bad Format: %r" % head.get("format")
	assert head.get("upstream-name") == ["coro-runner"], "no Upstream-Name"
	files = [p for p in rest if "files" in p]
	standalone = {p["license"][0]: p["license"][1:] for p in rest if "files" not in p and "license" in p}
	assert all("files" in p or "license" in p for p in rest), "a paragraph that is neither Files nor License"
	assert files and files[0]["files"] == ["*"], "the first Files paragraph is not Files: *"
	for p in files:
	    for f in ("copyright", "license"):
	        assert f in p and "".join(p[f]).strip(), "Files: %s: no %s" % (p["files"][0], f)
	    name, body = p["license"][0], p["license"][1:]
	    for short in re.split(r"\s+(?:or|and)\s+|,\s*", name):
	        assert body or short in standalone, "license %s: no text" % short
	assert "Copyright: 2026 The coro-runner authors" in text
	assert files[0]["license"] == ["MIT"], "Files: * is not License: MIT"
	dep5 = "\n".join("" if l.strip() == "." else l for l in standalone["MIT"]).strip()
	lic = open(sys.argv[2], encoding="utf-8").read()
	lic = lic[lic.index("Permission is hereby granted"):].strip()
	assert dep5 == lic, "debian/copyright's MIT text differs from LICENSE's"
	print("ok: %d Files paragraph(s), licenses %s" % (len(files), sorted(standalone)))
	EOF
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "every source file has SPDX-License-Identifier (scripts/spdx --check)" {
	git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1 ||
		skip "not a git checkout: scripts/spdx --check lists git's files"
	run --separate-stderr "$SPDX" --check
	echo "$output"
	echo "$stderr"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

# The script itself, on a tree of its own (not a git checkout: every file).
@test "scripts/spdx --add: each kind in its place, idempotent; --check agrees" {
	mkdir -p t/scripts t/sub t/man t/tests/fuzz/corpus t/build t/debian
	cp "$SPDX" t/scripts/spdx
	printf '#include <stdio.h>\n' > t/sub/a.c
	printf '\t.text\n' > t/sub/b.S
	printf '#!/bin/sh\necho hi\n' > t/sub/tool
	printf 'echo no shebang\n' > t/sub/lib.sh
	printf '#!/usr/bin/env python3\n# -*- coding: utf-8 -*-\n"""doc"""\n' > t/sub/c.py
	printf 'all:\n\ttrue\n' > t/Makefile
	printf '.TH X 1\n' > t/man/x.1
	printf "'\\\\\" t\n.TH Y 5\n" > t/man/y.5
	printf '\xef\xbb\xbfjobs: []\n' > t/sub/bom.yaml
	printf '/* SPDX-License-Identifier: BSD-2-Clause */\n' > t/sub/other.h
	printf 'x\n' > t/tests/fuzz/corpus/seed.yaml
	printf 'x\n' > t/build/gen.c
	printf 'Source: x\n' > t/debian/control
	printf '# doc\n' > t/README.md
	ln -s a.c t/sub/link.c
	chmod 755 t/sub/tool

	run --separate-stderr t/scripts/spdx --check
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"9 file(s) without SPDX-License-Identifier"* ]]
	[ "$(printf '%s\n' "${lines[@]}" | sort | tr '\n' ' ')" = "Makefile man/x.1 man/y.5 sub/a.c sub/b.S sub/bom.yaml sub/c.py sub/lib.sh sub/tool " ]

	run t/scripts/spdx --add
	[ "$status" -eq 0 ]
	[ "$(head -n 1 t/sub/a.c)" = "/* SPDX-License-Identifier: MIT */" ]
	[ "$(sed -n 2p t/sub/a.c)" = "#include <stdio.h>" ]
	[ "$(head -n 1 t/sub/b.S)" = "/* SPDX-License-Identifier: MIT */" ]
	[ "$(sed -n 2p t/sub/tool)" = "# SPDX-License-Identifier: MIT" ]
	[ "$(t/sub/tool)" = hi ]
	[ -x t/sub/tool ]
	[ "$(head -n 1 t/sub/lib.sh)" = "# SPDX-License-Identifier: MIT" ]
	[ "$(sed -n 3p t/sub/c.py)" = "# SPDX-License-Identifier: MIT" ]
	[ "$(head -n 1 t/Makefile)" = "# SPDX-License-Identifier: MIT" ]
	[ "$(head -n 1 t/man/x.1)" = '.\" SPDX-License-Identifier: MIT' ]
	[ "$(sed -n 2p t/man/y.5)" = '.\" SPDX-License-Identifier: MIT' ]
	[ "$(head -c 3 t/sub/bom.yaml | od -An -tx1 | tr -d ' ')" = efbbbf ]
	[ "$(head -n 1 t/sub/bom.yaml | tail -c +4)" = "# SPDX-License-Identifier: MIT" ]
	[ "$(cat t/sub/other.h)" = "/* SPDX-License-Identifier: BSD-2-Clause */" ]
	[ "$(cat t/tests/fuzz/corpus/seed.yaml t/build/gen.c t/debian/control t/README.md)" = "$(printf 'x\nx\nSource: x\n# doc')" ]
	[ -L t/sub/link.c ]

	run t/scripts/spdx --check
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	tar -C t -cf before.tar .
	run t/scripts/spdx --add
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	tar -C t -cf after.tar .
	cmp before.tar after.tar
}
