"""A parser for Asterisk's ``.conf`` format, strict enough to catch a broken render.

No Asterisk exists on CI machines, so the rendered files are checked by parsing them the way
Asterisk's ``config.c`` does: ``[section]`` headers with optional templates (``[name](!)``,
``[name](tmpl)``), ``name = value`` and ``name => value`` options, ``;`` comments (``\\;`` is a
literal semicolon), ``;-- --;`` block comments and ``#include``/``#tryinclude`` directives.
Unlike Asterisk, any other line is an error rather than a warning, and so is an option before
the first section: a line the renderer did not mean to write should fail the check.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

_HEADER = re.compile(r"^\[(?P<name>[^\]]+)\](?:\((?P<opts>[^)]*)\))?$")
_OPTION = re.compile(r"^(?P<key>[^=]+?)\s*(?P<op>=>|=)\s*(?P<value>.*)$")


class ParseError(ValueError):
    """The text is not a valid Asterisk configuration file."""


@dataclass
class Section:
    name: str
    line: int
    is_template: bool = False
    templates: tuple[str, ...] = ()
    options: list[tuple[str, str]] = field(default_factory=list)

    def get(self, key: str, default: str | None = None) -> str | None:
        """The last value of ``key`` (a later line overrides an earlier one, as in Asterisk)."""
        found = [value for name, value in self.options if name == key]
        return found[-1] if found else default

    def getall(self, key: str) -> list[str]:
        return [value for name, value in self.options if name == key]

    def keys(self) -> set[str]:
        return {name for name, _ in self.options}


@dataclass
class ConfFile:
    sections: list[Section]
    directives: list[tuple[str, str]]

    def named(self, name: str) -> list[Section]:
        """Every section with this name (PJSIP reuses one name for endpoint, aor, identify)."""
        return [s for s in self.sections if s.name == name and not s.is_template]

    def resolved(self, section: Section) -> Section:
        """The section with its templates' options first, the way Asterisk applies them."""
        options: list[tuple[str, str]] = []
        for template in section.templates:
            parents = [s for s in self.sections if s.name == template]
            if not parents:
                raise ParseError(f"line {section.line}: unknown template {template!r}")
            options.extend(self.resolved(parents[-1]).options)
        return Section(section.name, section.line, section.is_template, (),
                       options + section.options)

    def typed(self, name: str, kind: str) -> Section:
        """The one ``[name]`` section whose resolved ``type`` is ``kind`` (PJSIP objects)."""
        found = [self.resolved(s) for s in self.named(name)]
        found = [s for s in found if s.get("type") == kind]
        if len(found) != 1:
            raise KeyError(f"expected one [{name}] with type={kind}, found {len(found)}")
        return found[0]

    def of_type(self, kind: str) -> Iterator[Section]:
        for section in self.sections:
            if not section.is_template:
                resolved = self.resolved(section)
                if resolved.get("type") == kind:
                    yield resolved

    def section(self, name: str) -> Section:
        found = self.named(name)
        if len(found) != 1:
            raise KeyError(f"expected one [{name}], found {len(found)}")
        return self.resolved(found[0])


def _strip_comment(line: str) -> str:
    out, i = [], 0
    while i < len(line):
        if line[i] == "\\" and i + 1 < len(line) and line[i + 1] == ";":
            out.append(";")
            i += 2
            continue
        if line[i] == ";":
            break
        out.append(line[i])
        i += 1
    return "".join(out).strip()


def _header(match: re.Match[str], number: int) -> Section:
    opts = [o.strip() for o in (match["opts"] or "").split(",") if o.strip()]
    if match["opts"] is not None and not opts:
        raise ParseError(f"line {number}: empty template list")
    is_template = "!" in opts
    return Section(match["name"].strip(), number, is_template,
                   tuple(o for o in opts if o != "!"))


def _without_block_comments(text: str) -> Iterator[tuple[int, str, str]]:
    """(line number, original line, line with ``;-- ... --;`` removed)."""
    in_block = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw
        if in_block:
            if "--;" not in line:
                continue
            line, in_block = line.split("--;", 1)[1], False
        if ";--" in line:
            before, after = line.split(";--", 1)
            in_block = "--;" not in after
            line = before + (after.split("--;", 1)[1] if not in_block else "")
        yield number, raw, line
    if in_block:
        raise ParseError("unterminated ;-- block comment")


def parse(text: str) -> ConfFile:
    sections: list[Section] = []
    directives: list[tuple[str, str]] = []
    for number, raw, line in _without_block_comments(text):
        if line.lstrip().startswith("#"):
            word, _, arg = line.strip()[1:].partition(" ")
            if word not in ("include", "tryinclude"):
                raise ParseError(f"line {number}: unsupported directive #{word}")
            directives.append((word, arg.strip().strip('"')))
            continue
        line = _strip_comment(line)
        if not line:
            continue
        header = _HEADER.match(line)
        if header:
            sections.append(_header(header, number))
            continue
        option = _OPTION.match(line)
        if not option:
            raise ParseError(f"line {number}: not a section, option or directive: {raw!r}")
        if not sections:
            raise ParseError(f"line {number}: option before the first section")
        sections[-1].options.append((option["key"].strip(), option["value"].strip()))
    return ConfFile(sections, directives)


@dataclass(frozen=True)
class Extension:
    context: str
    exten: str
    priority: str
    label: str | None
    app: str
    data: str


_EXTEN = re.compile(r"^(?P<exten>[^,]+),(?P<prio>[^,(]+)(?:\((?P<label>[^)]*)\))?,"
                    r"(?P<app>[A-Za-z0-9_]+)(?:\((?P<data>.*)\))?$")


def extensions(conf: ConfFile) -> list[Extension]:
    """The dialplan's ``exten``/``same`` lines, with ``same`` resolved to its extension."""
    out: list[Extension] = []
    for section in conf.sections:
        current: str | None = None
        for key, value in section.options:
            if key not in ("exten", "same"):
                continue
            if key == "same":
                if current is None:
                    raise ParseError(f"[{section.name}]: 'same' before any 'exten'")
                value = f"{current},{value}"
            match = _EXTEN.match(value)
            if not match:
                raise ParseError(f"[{section.name}]: cannot parse extension line {value!r}")
            current = match["exten"].strip()
            out.append(Extension(section.name, current, match["prio"].strip(), match["label"],
                                 match["app"], match["data"] or ""))
    return out
