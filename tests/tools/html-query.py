#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Questions about an HTML document (a DOM that chromium --dump-dom wrote,
or a page as served), for the status page's tests.

Usage: html-query.py FILE COMMAND [ARG...]

  count SELECTOR        how many elements match
  text SELECTOR         the text of the first match (whitespace collapsed)
  texts SELECTOR        the text of every match, one a line
  attr SELECTOR NAME    the attribute NAME of every match, one a line
  tags                  every element's tag name, one a line, in order

SELECTOR is a small subset of CSS: a tag name, #id, .class and
[attr=value] (or [attr]) in any combination, such as tr.job[data-state=up],
svg.bar, h1 span#state; a space between two of them means a descendant.
Exit status 1 when `text` finds no match, 2 on a usage error.

The parser is Python's html.parser: it sees the elements as written in
FILE, so an element that a payload would have created (an <img> out of an
error text) shows up here exactly when the browser made one.
"""
import html.parser
import re
import sys

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
        "source", "track", "wbr"}


class Node:
    def __init__(self, tag, attrs, parent):
        self.tag = tag
        self.attrs = dict(attrs)
        self.parent = parent
        self.children = []
        self.text = []          # strings and child nodes, in order

    def classes(self):
        return (self.attrs.get("class") or "").split()

    def all_text(self):
        out = []
        for t in self.text:
            out.append(t if isinstance(t, str) else t.all_text())
        return "".join(out)


class Parser(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", [], None)
        self.cur = self.root
        self.nodes = []

    def handle_starttag(self, tag, attrs):
        n = Node(tag, attrs, self.cur)
        self.cur.children.append(n)
        self.cur.text.append(n)
        self.nodes.append(n)
        if tag not in VOID:
            self.cur = n

    def handle_startendtag(self, tag, attrs):
        n = Node(tag, attrs, self.cur)
        self.cur.children.append(n)
        self.cur.text.append(n)
        self.nodes.append(n)

    def handle_endtag(self, tag):
        n = self.cur
        while n is not self.root and n.tag != tag:
            n = n.parent
        if n is not self.root:
            self.cur = n.parent

    def handle_data(self, data):
        self.cur.text.append(data)


SIMPLE = re.compile(r"([a-zA-Z][a-zA-Z0-9-]*)?((?:#[\w-]+|\.[\w-]+|\[[\w-]+(?:=[^\]]*)?\])*)$")
PART = re.compile(r"#([\w-]+)|\.([\w-]+)|\[([\w-]+)(?:=([^\]]*))?\]")


def parse_simple(s):
    m = SIMPLE.match(s)
    if not m or not s:
        sys.stderr.write("html-query.py: cannot read the selector %r\n" % s)
        sys.exit(2)
    tests = []
    if m.group(1):
        tests.append(("tag", m.group(1).lower(), None))
    for p in PART.finditer(m.group(2)):
        if p.group(1):
            tests.append(("id", p.group(1), None))
        elif p.group(2):
            tests.append(("class", p.group(2), None))
        else:
            v = p.group(4)
            if v is not None and len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
                v = v[1:-1]
            tests.append(("attr", p.group(3), v))
    return tests


def matches(n, tests):
    for kind, a, b in tests:
        if kind == "tag" and n.tag != a:
            return False
        if kind == "id" and n.attrs.get("id") != a:
            return False
        if kind == "class" and a not in n.classes():
            return False
        if kind == "attr" and (a not in n.attrs or (b is not None and n.attrs[a] != b)):
            return False
    return True


def select(nodes, selector):
    chain = [parse_simple(s) for s in selector.split()]
    out = []
    for n in nodes:
        if not matches(n, chain[-1]):
            continue
        # The rest of the chain, right to left, among the ancestors.
        k = len(chain) - 2
        p = n.parent
        while k >= 0 and p is not None:
            if matches(p, chain[k]):
                k -= 1
            p = p.parent
        if k < 0:
            out.append(n)
    return out


def squash(s):
    return " ".join(s.split())


def main():
    if len(sys.argv) < 3:
        sys.stderr.write(__doc__)
        sys.exit(2)
    with open(sys.argv[1], encoding="utf-8", errors="replace") as f:
        p = Parser()
        p.feed(f.read())
        p.close()
    cmd, args = sys.argv[2], sys.argv[3:]
    if cmd == "tags":
        for n in p.nodes:
            print(n.tag)
        return
    if not args:
        sys.stderr.write("html-query.py: %s needs a selector\n" % cmd)
        sys.exit(2)
    found = select(p.nodes, args[0])
    if cmd == "count":
        print(len(found))
    elif cmd == "text":
        if not found:
            sys.exit(1)
        print(squash(found[0].all_text()))
    elif cmd == "texts":
        for n in found:
            print(squash(n.all_text()))
    elif cmd == "attr" and len(args) == 2:
        for n in found:
            if args[1] in n.attrs:
                print(n.attrs[args[1]])
    else:
        sys.stderr.write("html-query.py: unknown command %r\n" % cmd)
        sys.exit(2)


if __name__ == "__main__":
    main()
