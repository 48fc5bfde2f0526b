"""The files of ``agent batch``: input items, shards, the output's resume scan, the writer, the flags."""

from __future__ import annotations

import errno
import io
import json
import os
from pathlib import Path
from typing import Any

import anyio
import pytest

from agent.batch.io import (
    Item,
    Options,
    ResultWriter,
    default_output,
    detect_format,
    parse_options,
    parse_shard,
    read_items,
    scan_output,
    shard_of,
)
from agent.cli import parse
from agent.config import Config
from agent.errors import AgentError, UsageError


def items(text: str | bytes, fmt: str | None = None) -> list[Item]:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return list(read_items(io.BytesIO(raw), fmt))  # type: ignore[arg-type]


def test_text_lines_are_prompts_with_their_line_number_as_id() -> None:
    got = items("\ufefffirst prompt\n\n   \nsecond prompt  \r\nthird", "txt")
    assert [(i.id, i.line, i.prompt) for i in got] == [
        (1, 1, "first prompt"),
        (4, 4, "second prompt"),
        (5, 5, "third"),
    ]
    assert all(i.problem is None for i in got)


def test_jsonl_items_keep_their_id_system_model_and_extra_fields() -> None:
    lines = [
        {"id": "a", "prompt": "p1", "system": "be brief", "model": "x:y", "topic": "t", "n": [1]},
        {"prompt": "p2"},
        {"id": 7, "prompt": "p3", "answer": "expected", "duration_ms": 5},
    ]
    got = items("\n".join(json.dumps(line) for line in lines) + "\n", "jsonl")
    assert [(i.id, i.line, i.prompt, i.system, i.model) for i in got] == [
        ("a", 1, "p1", "be brief", "x:y"),
        (2, 2, "p2", None, None),
        (7, 3, "p3", None, None),
    ]
    assert got[0].extra == {"topic": "t", "n": [1]}
    # An input field named like an output field is carried under another name, not lost.
    assert got[2].extra == {"input_answer": "expected", "input_duration_ms": 5}


def test_bad_lines_become_failed_items_naming_their_line() -> None:
    text = "\n".join(
        [
            '{"id": "ok", "prompt": "fine"}',
            "{not json",
            "[1, 2]",
            '{"id": "np"}',
            '{"id": true, "prompt": "x"}',
            '{"id": "sys", "prompt": "x", "system": 3}',
            '{"id": "", "prompt": "x"}',
        ]
    )
    got = items(text.encode() + b"\n\xff\xfe{}\n", "jsonl")
    assert got[0].problem is None
    problems = {i.line: (i.id, i.problem) for i in got[1:]}
    assert problems[2][0] == 2 and "line 2: not valid JSON" in str(problems[2][1])
    assert problems[3] == (3, "line 3: expected a JSON object with a 'prompt'")
    assert problems[4] == ("np", "line 4: 'prompt' must be a non-empty string")
    assert problems[5] == (5, "line 5: 'id' must be a non-empty string or an integer")
    assert problems[6] == ("sys", "line 6: 'system' must be a string")
    assert problems[7] == (7, "line 7: 'id' must be a non-empty string or an integer")
    offset = len(text.encode()) + 1  # line 8 starts after the text and its newline
    assert problems[8] == (8, f"line 8: not UTF-8 text: invalid byte 0xff at byte offset {offset}")


def test_format_comes_from_the_suffix_else_from_the_first_line() -> None:
    assert detect_format("a/b.JSONL") == "jsonl"
    assert detect_format("b.ndjson") == "jsonl"
    assert detect_format("b.txt") == "txt"
    assert detect_format("b.prompts") is None
    assert [i.prompt for i in items('\n{"prompt": "from json"}\n')] == ["from json"]
    assert [i.prompt for i in items('\nplain {"prompt": 1}\n')] == ['plain {"prompt": 1}']
    # In a .txt file a line that looks like JSON is still a prompt.
    assert [i.prompt for i in items('{"prompt": "x"}\n', "txt")] == ['{"prompt": "x"}']


def test_default_output_sits_next_to_the_input() -> None:
    assert default_output("data/prompts.txt") == Path("data/prompts.results.jsonl")
    assert default_output("q.jsonl") == Path("q.results.jsonl")


def test_shards_partition_the_ids_exactly_and_stably() -> None:
    ids = [str(i) for i in range(1, 2001)] + [f"doc-{i}" for i in range(500)]
    for n in (1, 2, 3, 7):
        shards = [{key for key in ids if shard_of(key, n) == i} for i in range(n)]
        assert sum(len(s) for s in shards) == len(ids)
        assert set().union(*shards) == set(ids)
        assert min(len(s) for s in shards) > len(ids) / n * 0.8  # roughly even
    # The hash is fixed (BLAKE2b of the id's text), so every machine and Python version agrees.
    assert [shard_of(str(i), 4) for i in range(1, 9)] == [2, 0, 1, 2, 0, 0, 2, 2]
    assert shard_of("doc-1", 1000) == 249


@pytest.mark.parametrize("text", ["3", "a/b", "1/0", "4/4", "-1/4", "1/2/3"])
def test_bad_shard_specs_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="--shard"):
        parse_shard(text)


def test_shard_spec() -> None:
    assert parse_shard("0/4") == (0, 4)
    assert parse_shard("3/4") == (3, 4)


def test_resume_scan_reads_ids_and_cuts_a_half_written_last_line(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    good = [json.dumps({"id": 1, "answer": "a"}), json.dumps({"id": "x", "error": None})]
    out.write_bytes(("\n".join([*good, "garbage", json.dumps({"no": "id"})]) + '\n{"id": 3, "ans').encode())
    scan = scan_output(out)
    assert scan.done == {"1", "x"}
    assert scan.lines == 2
    assert scan.unreadable == 2
    assert scan.truncated_bytes == len('{"id": 3, "ans')
    assert out.read_bytes().endswith(b'{"no": "id"}\n')
    # Scanning again changes nothing.
    assert scan_output(out).truncated_bytes == 0
    assert scan_output(tmp_path / "missing.jsonl").done == set()


async def test_writer_lines_are_whole_json_even_when_written_concurrently(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    with out.open("ab") as fh:
        writer = ResultWriter(fh)
        async with anyio.create_task_group() as tg:
            for i in range(50):
                tg.start_soon(writer.write, {"id": i, "answer": "é" * i})
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert sorted(r["id"] for r in records) == list(range(50))
    assert writer.lines == 50


def options(*argv: str) -> Options:
    return parse_options(parse(["batch", *argv]).options, Config())


def test_flags_are_checked_before_anything_runs(tmp_path: Path) -> None:
    prompts = tmp_path / "p.txt"
    prompts.write_text("hi\n")
    with pytest.raises(UsageError, match="not found"):
        options(str(tmp_path / "nope.txt"))
    with pytest.raises(UsageError, match="is a folder"):
        options(str(tmp_path))
    with pytest.raises(UsageError, match="--concurrency must be at least 1"):
        options(str(prompts), "--concurrency", "0")
    with pytest.raises(UsageError, match="--max-errors must be at least 1"):
        options(str(prompts), "--max-errors", "0")
    with pytest.raises(UsageError, match="--shard"):
        options(str(prompts), "--shard", "2/2")
    with pytest.raises(UsageError, match="--resume needs an output file"):
        options("-", "--resume")
    with pytest.raises(UsageError, match="is the input file"):
        options(str(prompts), "-o", str(prompts))
    with pytest.raises(UsageError, match="does not exist"):
        options(str(prompts), "-o", str(tmp_path / "no" / "out.jsonl"))


def test_an_output_with_results_is_never_overwritten(tmp_path: Path) -> None:
    prompts = tmp_path / "p.txt"
    prompts.write_text("hi\n")
    (tmp_path / "p.results.jsonl").write_text('{"id": 1}\n')
    with pytest.raises(UsageError, match="already holds results") as caught:
        options(str(prompts))
    assert "--resume" in str(caught.value)
    assert options(str(prompts), "--resume").output == tmp_path / "p.results.jsonl"


def test_stdin_results_go_to_stdout_unless_an_output_is_given(tmp_path: Path) -> None:
    assert options("-").output is None
    assert options("-", "-o", str(tmp_path / "r.jsonl")).output == tmp_path / "r.jsonl"


class _FillingDisk(io.FileIO):
    """A real file on a disk that fills up after ``room`` more bytes: the write that crosses it
    writes what fits, then fails with ENOSPC, as write(2) does on a full filesystem."""

    def __init__(self, path: Path, room: int) -> None:
        super().__init__(path, "ab")
        self.room = room

    def write(self, data: Any) -> int:
        data = bytes(data)
        if len(data) <= self.room:
            self.room -= len(data)
            return super().write(data)
        if self.room:
            written = super().write(data[: self.room])
            self.room = 0
            return written
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


async def test_a_full_disk_stops_with_one_error_naming_the_file_and_leaves_whole_lines(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out.jsonl"
    out.write_bytes(b'{"id":"old","answer":"kept"}\n')
    with _FillingDisk(out, room=60) as fh:
        writer = ResultWriter(fh, name=str(out))
        await writer.write({"id": 1, "answer": "fits"})
        with pytest.raises(AgentError) as info:
            await writer.write({"id": 2, "answer": "x" * 100})
    assert str(info.value).splitlines()[0] == f"cannot write the results to {out}: No space left on device"
    assert "--resume" in str(info.value)
    text = out.read_text(encoding="utf-8")
    assert text.endswith("\n") and [json.loads(line)["id"] for line in text.splitlines()] == ["old", 1]
    assert scan_output(out).truncated_bytes == 0
