"""Model files carry their config, load without executing code, and every
bad file gives one line naming the file and the reason."""
import pickle

import pytest
import torch

from mchmc.errors import ModelFileError
from mchmc.model import ARCHITECTURES, build_model
from mchmc.modelfile import load_model, resolve_model, save_model


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_round_trip_keeps_weights_config_and_provenance(tmp_path, name):
    torch.manual_seed(0)
    model = build_model(name)
    model.reset_parameters(0.05)
    path = save_model(model, tmp_path / "m.pt", {"method": "SRforMC", "steps": 123})
    loaded = load_model(path)
    assert loaded.config == model.config
    assert loaded.provenance == {"method": "SRforMC", "steps": 123}
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[k], v)
    assert not list(tmp_path.glob("*.tmp")), "the temp file is renamed, not left behind"


def test_the_file_is_readable_with_weights_only(tmp_path):
    path = save_model(build_model("mch-mc"), tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)
    assert payload["format"] == "mchmc-model" and "conv1.weight" in payload["state_dict"]


class Evil:
    def __reduce__(self):
        return (print, ("code ran",))


def _write(path, content):
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    return path


BAD = {
    "empty": (b"", "empty or truncated"),
    "garbage": (b"this is not a model", "not an mchmc model file"),
    "pickle": (pickle.dumps(Evil()), "not an mchmc model file"),
    "plain state dict": ({"conv1.weight": torch.zeros(1)}, "no 'mchmc-model' header"),
    "future version": ({"format": "mchmc-model", "version": 99}, "version 99 is not supported"),
}


@pytest.mark.parametrize("kind", list(BAD))
def test_bad_files_give_one_line_naming_the_file(tmp_path, kind, capsys):
    content, reason = BAD[kind]
    path = _write(tmp_path / "bad.pt", content)
    with pytest.raises(ModelFileError) as err:
        load_model(path)
    msg = str(err.value)
    assert msg.startswith(str(path)) and reason in msg and "\n" not in msg
    assert "code ran" not in capsys.readouterr().out


def test_truncated_file(tmp_path):
    good = save_model(build_model("mch"), tmp_path / "good.pt").read_bytes()
    path = _write(tmp_path / "cut.pt", good[: len(good) // 2])
    with pytest.raises(ModelFileError, match="corrupt or truncated"):
        load_model(path)


def test_weights_of_another_architecture(tmp_path):
    payload = torch.load(save_model(build_model("mch"), tmp_path / "mch.pt"), weights_only=True)
    payload["config"] = payload["config"].replace('"arch": "mch"', '"arch": "mch-mc"').replace(
        '"categories": []', '"categories": ["nature", "manga", "text"]')
    path = _write(tmp_path / "mixed.pt", payload)
    with pytest.raises(ModelFileError, match=r"do not match architecture 'mch-mc': missing head"):
        load_model(path)


def test_expected_architecture_is_enforced(tmp_path):
    path = save_model(build_model("mch"), tmp_path / "m.pt")
    with pytest.raises(ModelFileError, match="expected 'mch-mc'"):
        load_model(path, expect_arch="mch-mc")


def test_missing_file_and_folders(tmp_path):
    with pytest.raises(ModelFileError, match="no such model file"):
        resolve_model(tmp_path / "nope.pt")
    with pytest.raises(ModelFileError, match="is a folder"):
        load_model(tmp_path)
