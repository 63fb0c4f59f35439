import pytest

from scsampler.data.manifest import read_manifest
from scsampler.errors import ConfigError


def test_paths_resolve_against_the_manifest_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    m = tmp_path / "sub" / "m.csv"
    m.write_text("path,label,split,duration_s\nvideos/a.mp4,x,train,12.5\n../b.mp4,y,test,\n")
    a, b = read_manifest(m)
    assert a.path == (tmp_path / "sub" / "videos" / "a.mp4").resolve() and a.video_id == "videos/a.mp4"
    assert a.duration_s == 12.5 and b.duration_s is None and b.split == "test"
    assert [e.video_id for e in read_manifest(m, split="train")] == ["videos/a.mp4"]


def test_root_confines_manifest_paths(tmp_path):
    (tmp_path / "data").mkdir()
    m = tmp_path / "data" / "m.csv"
    m.write_text("path\nok.mp4\n../../etc/passwd\n")
    with pytest.raises(ConfigError, match="outside --root"):
        read_manifest(m, root=tmp_path / "data")
    (tmp_path / "data" / "link.mp4").symlink_to("/etc/hostname")
    m.write_text("path\nlink.mp4\n")
    with pytest.raises(ConfigError, match="outside --root"):
        read_manifest(m, root=tmp_path / "data")
    m.write_text("path\nok.mp4\n")
    assert len(read_manifest(m, root=tmp_path / "data")) == 1


def test_bad_manifests_are_one_line_errors(tmp_path):
    m = tmp_path / "m.csv"
    m.write_text("file,label\na.mp4,x\n")
    with pytest.raises(ConfigError, match="'path' column"):
        read_manifest(m)
    m.write_text("path,duration_s\na.mp4,long\n")
    with pytest.raises(ConfigError, match="m.csv:2: duration_s"):
        read_manifest(m)
    with pytest.raises(ConfigError, match="manifest not found"):
        read_manifest(tmp_path / "nope.csv")


def test_several_labels_round_trip(tmp_path):
    from scsampler.data.manifest import write_manifest

    m = tmp_path / "m.csv"
    write_manifest(m, [{"path": "a.mp4", "label": "run", "split": "train", "labels": ("run", "jump", "swim")},
                       {"path": "b.mp4", "label": "jump", "split": "test", "labels": ["jump"]}])
    assert "run;jump;swim" in m.read_text()
    a, b = read_manifest(m)
    assert (a.label, a.labels, a.multi_label) == ("run", ("run", "jump", "swim"), True)
    assert (b.label, b.labels, b.multi_label) == ("jump", ("jump",), False)
    with pytest.raises(ConfigError, match="a.mp4: a label with ';'"):
        write_manifest(m, [{"path": "a.mp4", "label": "x", "labels": ["x", "y;z"]}])


def test_a_labels_column_alone_gives_the_main_label(tmp_path):
    m = tmp_path / "m.csv"
    m.write_text("path,labels\na.mp4,swim;run;swim\nb.mp4,\n")
    a, b = read_manifest(m)
    assert (a.label, a.labels) == ("swim", ("swim", "run"))  # the first, once
    assert (b.label, b.labels) == (None, ())


def test_single_label_manifests_read_as_before(tmp_path):
    m = tmp_path / "m.csv"
    m.write_text("path,label,split,duration_s\na.mp4,x,train,3\n")
    (a,) = read_manifest(m)
    assert (a.label, a.labels, a.multi_label) == ("x", ("x",), False)
