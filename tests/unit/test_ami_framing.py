"""The AMI frame decoder reads what Asterisk writes, however the bytes are cut into reads.

The decoder works a chunk at a time for speed; these properties pin it to the simple
definition: a line ends at LF (a CR right before it is dropped), a message ends at an empty
line, extra empty lines mean nothing, and the first line of a connection is the banner.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatcher.adapters.ami.protocol import AMIMessage, FrameDecoder, parse_lines


def reference(data: bytes, expect_banner: bool) -> tuple[str | None, list[AMIMessage]]:
    """Line by line, straight from the definition (complete lines only)."""
    banner, lines, out = None, [], []
    for raw in data.split(b"\n")[:-1]:
        text = (raw[:-1] if raw.endswith(b"\r") else raw).decode("utf-8", errors="replace")
        if expect_banner:
            expect_banner, banner = False, text
        elif text:
            lines.append(text)
        elif lines:
            out.append(parse_lines(lines))
            lines = []
    return banner, out


def decode(chunks: list[bytes], expect_banner: bool) -> tuple[str | None, list[AMIMessage]]:
    decoder = FrameDecoder(expect_banner=expect_banner)
    out = [message for chunk in chunks for message in decoder.feed(chunk)]
    return decoder.banner, out


def cut(data: bytes, points: list[int]) -> list[bytes]:
    edges = sorted({0, len(data), *(p % (len(data) + 1) for p in points)})
    return [data[a:b] for a, b in zip(edges, edges[1:], strict=False)]


# Lines made of the characters that matter: separators, line ends, and some text.
line = st.lists(st.sampled_from(["Event", "Key", ":", " ", "x", "\r", "é", "\x00", "a b"]),
                max_size=6).map("".join)
ending = st.sampled_from(["\r\n", "\n"])
stream = st.lists(st.tuples(line, ending), max_size=40).map(
    lambda pairs: "".join(text + end for text, end in pairs).encode())


@settings(max_examples=400, deadline=None)
@given(stream, st.lists(st.integers(min_value=0), max_size=12), st.booleans())
def test_any_cut_of_a_stream_decodes_like_the_line_definition(
        data: bytes, points: list[int], expect_banner: bool) -> None:
    assert decode(cut(data, points), expect_banner) == reference(data, expect_banner)


def test_a_crlf_split_between_two_reads_is_one_line_end() -> None:
    banner, got = decode([b"Banner/1.0\r", b"\nEvent: A\r", b"\n\r", b"\n"], True)
    assert banner == "Banner/1.0"
    assert got == [AMIMessage((("Event", "A"),))]


def test_a_lone_cr_inside_a_value_is_kept() -> None:
    _, got = decode([b"Event: A\rB\r\n\r\n"], False)
    assert got[0].get("Event") == "A\rB"


def test_a_message_larger_than_the_buffer_is_refused() -> None:
    decoder = FrameDecoder(expect_banner=False, max_buffer=64)
    with pytest.raises(ValueError, match="buffer limit"):
        list(decoder.feed(b"Event: A\r\n" + b"Key: " + b"x" * 100))
