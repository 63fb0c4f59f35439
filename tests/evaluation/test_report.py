from scsampler.evaluation.report import replace_block


def test_replace_block_keeps_the_hand_written_text(tmp_path):
    doc = tmp_path / "doc.md"
    replace_block(doc, "t", "first", "## Table")
    doc.write_text("intro\n" + doc.read_text() + "outro\n")
    replace_block(doc, "t", "second", "## Table")
    text = doc.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n")
    assert "second" in text and "first" not in text and text.count("<!-- t:begin -->") == 1
