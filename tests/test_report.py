"""The HTML report: one self-contained, escaped file, written atomically."""

import base64
import re
import struct
import zlib

import pytest

from rnnkit.report import Section, Table, format_number, write_report


def tiny_png() -> bytes:
    """A valid 1x1 RGB PNG, built by hand so the test needs no image library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # width, height, 8-bit, RGB
    pixels = zlib.compress(b"\x00\xff\x00\x00")  # filter byte, one red pixel
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


@pytest.fixture
def png(tmp_path):
    path = tmp_path / "plot.png"
    path.write_bytes(tiny_png())
    return path


def test_writes_an_escaped_self_contained_page(tmp_path, png):
    table = Table(["prefix", "suggestion", "p"], [["<script>", "a & b", 0.8123456], ["he", '"hello"', 3]],
                  caption="top <1>")
    out = write_report(tmp_path / "r" / "report.html", title="Demo <i>", sections=[
        Section("Suggestions", table=table, text="First <para>.\n\nSecond."),
        Section("Loss", image=png),
    ])
    assert out == tmp_path / "r" / "report.html"
    page = out.read_text(encoding="utf-8")
    assert "&lt;script&gt;" in page and "<script" not in page
    assert "a &amp; b" in page and "&quot;hello&quot;" in page
    assert "<title>Demo &lt;i&gt;</title>" in page and "<caption>top &lt;1&gt;</caption>" in page
    assert "<p>First &lt;para&gt;.</p>" in page and "<p>Second.</p>" in page
    assert ">0.8123<" in page and ">3<" in page
    assert "http" not in page  # no external resources


def test_image_is_embedded_as_a_data_uri(tmp_path, png):
    page = write_report(tmp_path / "r.html", title="t", sections=[Section("plot", image=str(png))]).read_text()
    (encoded,) = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert base64.b64decode(encoded) == tiny_png()


def test_non_png_image_is_refused_and_nothing_written(tmp_path):
    fake = tmp_path / "plot.png"
    fake.write_bytes(b"GIF89a")
    with pytest.raises(ValueError, match="not a PNG"):
        write_report(tmp_path / "r.html", title="t", sections=[Section("plot", image=fake)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plot.png"]


def test_sound_is_embedded_as_a_player(tmp_path):
    import wave

    sound = tmp_path / "a.wav"
    with wave.open(str(sound), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000), w.writeframes(b"\x00\x01" * 80)
    page = write_report(tmp_path / "r.html", title="t", sections=[Section("listen", audio=sound)]).read_text()
    (encoded,) = re.findall(r'<audio controls src="data:audio/wav;base64,([A-Za-z0-9+/=]+)"></audio>', page)
    assert base64.b64decode(encoded) == sound.read_bytes()
    fake = tmp_path / "b.wav"
    fake.write_bytes(b"ID3 not a wave")
    with pytest.raises(ValueError, match="not a WAV or Ogg"):
        write_report(tmp_path / "s.html", title="t", sections=[Section("listen", audio=fake)])
    assert not (tmp_path / "s.html").exists()


@pytest.mark.parametrize(
    ("value", "text"),
    [(3, "3"), (0.123456, "0.1235"), (2.0, "2"), (1.23456, "1.235"), (12345.678, "12346"), (-0.5, "-0.5"),
     (0.0000123456, "1.235e-05"), (1e20, "1e+20"), (float("nan"), "nan"), (float("inf"), "inf"), (True, "True")],
)
def test_numbers_are_formatted(value, text):
    assert format_number(value) == text


def test_overwrite_replaces_and_leaves_no_temp_file(tmp_path):
    path = tmp_path / "report.html"
    write_report(path, title="first", sections=[Section("a", text="old")])
    write_report(path, title="second", sections=[Section("b", text="new")])
    page = path.read_text()
    assert "second" in page and "new" in page and "old" not in page
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_rows_must_match_the_columns():
    with pytest.raises(ValueError, match="row 1 has 1 cells, expected 2"):
        Table(["a", "b"], [[1, 2], [3]])
