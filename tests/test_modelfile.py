"""Model files carry their config, load without executing code, and every
bad file gives one line naming the file and the reason; nothing a file asks for
is trusted (sizes, shapes, types) before the model is built."""
import json
import pickle
import subprocess
import sys
import zipfile
from dataclasses import asdict, fields

import pytest
import torch

from mchmc.errors import ModelFileError
from mchmc.model import ARCHITECTURES, MCHConfig, build_model
from mchmc.modelcheck import CONFIG_CHECKS, MAX_FILE_BYTES, MAX_PARAMETERS, expected_shapes
from mchmc.modelfile import load_model, read_config, resolve_model, save_model, shipped_models
from conftest import ROOT


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
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"], "the temp file is renamed, not left behind"


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
    "code inside a torch archive": ({"format": "mchmc-model", "version": 1, "config": Evil()},
                                    "not an mchmc model file"),
}
# Both ways of reading a file refuse the same files with the same words: the full load (the
# workers) and the header alone, without torch or weights (the batch CLI's checks before Ray).
READERS = {"load_model": load_model, "read_config": read_config}


@pytest.mark.parametrize("reader", list(READERS))
@pytest.mark.parametrize("kind", list(BAD))
def test_bad_files_give_one_line_naming_the_file(tmp_path, kind, reader, capsys):
    content, reason = BAD[kind]
    path = _write(tmp_path / "bad.pt", content)
    with pytest.raises(ModelFileError) as err:
        READERS[reader](path)
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


# ---------------------------------------------------------------- nothing a file asks for is trusted

class Raw:
    """A config stored as this object itself, not as its JSON."""

    def __init__(self, value):
        self.value = value


def _crafted(path, config, state_dict=None, **extra):
    """A model file with any config (dumped to JSON unless a string or Raw) and a tiny state dict."""
    stored = config.value if isinstance(config, Raw) else config if isinstance(config, str) else json.dumps(config)
    torch.save({"format": "mchmc-model", "version": 1, "config": stored,
                "provenance": "{}", "state_dict": {"conv1.weight": torch.zeros(1)} if state_dict is None else state_dict,
                **extra}, path)
    return path


def _default_config(**changes) -> dict:
    return {**asdict(ARCHITECTURES["mch"]), **changes}


# Run in a fresh interpreter: ru_maxrss is the process's peak, and an address-space ceiling
# turns "the loader allocated what the config asked" into a failure rather than a swapped machine.
RSS_PROBE = r"""
import json, resource, sys
from mchmc.errors import ModelFileError
from mchmc.modelfile import load_model

def vm_bytes():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))

load_model("srforall")  # warm up: the first torch.load and model build, not what is measured
ceiling = vm_bytes() + (768 << 20)
resource.setrlimit(resource.RLIMIT_AS, (ceiling, ceiling))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = []
for path in sys.argv[1:]:
    try:
        load_model(path)
        out.append("loaded")
    except ModelFileError as err:
        out.append("ModelFileError: " + str(err))
    except BaseException as err:
        out.append(type(err).__name__ + ": " + (str(err).splitlines() or [""])[0])
print(json.dumps({"results": out, "growth_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak}))
"""


def test_a_tiny_file_asking_for_gigabytes_is_refused_before_anything_is_allocated(tmp_path):
    """Issue 15 item 12: a 1.8 KB file whose config asked for 1.8 GB was built before being checked."""
    wide = _crafted(tmp_path / "wide.pt", _default_config(channels=[3000, 6000]))  # conv2 alone: 1.8 GB of fp32
    # every field in range, but 4096 x 4096 x 31 x 31 weights in conv2: 16 G parameters
    deep = _crafted(tmp_path / "deep.pt", _default_config(channels=[4096, 4096], kernels=[31, 31, 31]))
    assert wide.stat().st_size < 4096 and deep.stat().st_size < 4096
    proc = subprocess.run([sys.executable, "-c", RSS_PROBE, str(wide), str(deep)], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    probe = json.loads(proc.stdout.splitlines()[-1])
    wide_msg, deep_msg = probe["results"]
    assert wide_msg.startswith(f"ModelFileError: {wide}: bad model config: channels must be 2 integers in 1..4096"), wide_msg
    assert deep_msg.startswith(f"ModelFileError: {deep}: bad model config: it asks for 16,"), deep_msg
    assert f"limit {MAX_PARAMETERS:,}" in deep_msg
    assert probe["growth_kib"] < 64 * 1024, f"peak RSS grew {probe['growth_kib']} KiB refusing two tiny files"


def test_the_parameter_cap_is_checked_on_shapes_computed_without_memory():
    config = MCHConfig(channels=(4096, 4096), kernels=(31, 31, 31))
    shapes = expected_shapes(config)  # meta device: instant, nothing allocated
    assert shapes["conv2.weight"] == (4096, 4096, 31, 31)
    assert expected_shapes(ARCHITECTURES["mch-mc"]) == {k: tuple(v.shape) for k, v in build_model("mch-mc").state_dict().items()}


def test_every_config_field_has_a_check():
    assert set(CONFIG_CHECKS) == {f.name for f in fields(MCHConfig)}


WRONG_CONFIGS = {
    "config not a string": (Raw({"arch": "mch"}), "config is a dict, not a JSON string"),
    "config not an object": ("[1, 2]", "config is a JSON list, not an object"),
    "config not JSON": ("{arch: mch", "bad model config"),
    "channels as strings": (_default_config(channels=["64", "32"]), "channels must be 2 integers"),
    "channels as floats": (_default_config(channels=[64.0, 32]), "channels must be 2 integers"),
    "one channel": (_default_config(channels=[64]), "channels must be 2 integers"),
    "zero channels": (_default_config(channels=[0, 32]), "channels must be 2 integers in 1..4096"),
    "scale a bool": (_default_config(scale=True), "scale must be an integer in 1..8, got True"),
    "scale huge": (_default_config(scale=1000), "scale must be an integer in 1..8"),
    "even kernel": (_default_config(kernels=[5, 4, 3]), "kernels must be 3 odd integers"),
    "hidden a float": (_default_config(hidden=2.5), "hidden must be an integer"),
    "dropout a string": (_default_config(dropout="0.5"), "dropout must be a number in [0, 1)"),
    "dropout 2": (_default_config(dropout=2), "dropout must be a number in [0, 1)"),
    "categories a string": (_default_config(arch="mch-mc", categories="nature"), "categories must be a list"),
    "categories of ints": (_default_config(arch="mch-mc", categories=[1, 2, 3]), "categories must be a list"),
    "unknown arch": (_default_config(arch="resnet"), "unknown architecture 'resnet'"),
    "arch a list": (_default_config(arch=["mch"]), "unknown architecture ['mch']"),
    "mch with categories": (_default_config(categories=["a", "b"]), "'mch' has no classifier but the config lists 2"),
    "mch-mc without": (_default_config(arch="mch-mc"), "'mch-mc' has a classifier but the config lists no categories"),
    "unknown key": (_default_config(layers=99), "unknown config keys ['layers']"),
    "tail not a list": (_default_config(tail=64), "tail must be a list of at most 64 integers"),
    "tail of floats": (_default_config(tail=[64.0]), "tail must be a list of at most 64 integers in 1..4096"),
    "tail too deep": (_default_config(tail=[8] * 65), "tail must be a list of at most 64 integers"),
}


def test_the_papers_networks_are_written_without_a_tail_key(tmp_path):
    """Model files of the paper's networks are written exactly as before tails existed (issue 27); a tailed
    one carries its tail and loads back equal."""
    for name in ARCHITECTURES:
        path = save_model(build_model(name), tmp_path / f"{name}.pt")
        config = json.loads(torch.load(path, weights_only=True)["config"])
        assert ("tail" in config) == bool(ARCHITECTURES[name].tail)
        assert load_model(path).model.config == ARCHITECTURES[name]


@pytest.mark.parametrize("reader", list(READERS))
@pytest.mark.parametrize("kind", list(WRONG_CONFIGS))
def test_a_config_of_the_wrong_type_or_range_is_refused_in_one_line(tmp_path, kind, reader):
    config, reason = WRONG_CONFIGS[kind]
    path = _crafted(tmp_path / "bad.pt", config, build_model("mch").state_dict())
    with pytest.raises(ModelFileError) as err:
        READERS[reader](path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: ") and reason in msg and "\n" not in msg, msg


def test_weights_whose_shapes_differ_from_the_config_are_refused(tmp_path):
    state = build_model("mch").state_dict()
    state["conv2.weight"] = torch.zeros(32, 64, 3, 3)
    path = _crafted(tmp_path / "shape.pt", _default_config(), state)
    with pytest.raises(ModelFileError, match=r"conv2.weight is \(32, 64, 3, 3\), expected \(32, 64, 5, 5\)"):
        load_model(path)


def test_weights_that_are_not_floating_point_are_refused(tmp_path):
    state = {k: v.to(torch.int64) if k == "conv1.bias" else v for k, v in build_model("mch").state_dict().items()}
    path = _crafted(tmp_path / "int.pt", _default_config(), state)
    with pytest.raises(ModelFileError, match="conv1.bias is int64, expected floating point"):
        load_model(path)


def test_a_compressed_record_is_refused_unread(tmp_path):
    """torch.load inflates deflated records too: a few KB could expand to gigabytes."""
    good = save_model(build_model("mch"), tmp_path / "good.pt")
    path = tmp_path / "deflated.pt"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w") as dst:
        for rec in src.infolist():
            dst.writestr(rec.filename, src.read(rec.filename), compress_type=zipfile.ZIP_DEFLATED)
    with pytest.raises(ModelFileError, match="is compressed .* refused unread"):
        load_model(path)


def test_a_file_bigger_than_any_model_is_refused_unread(tmp_path):
    path = tmp_path / "huge.pt"
    with open(path, "wb") as f:
        f.write(b"PK\x03\x04")
        f.truncate(MAX_FILE_BYTES + 1)  # sparse: no disk used
    with pytest.raises(ModelFileError, match=r"MiB is more than a model file can be .* refused unread"):
        load_model(path)


def test_a_config_is_read_without_torch_or_weights():
    """What the batch driver checks before any worker starts costs milliseconds and no torch."""
    code = ("import sys; from mchmc.modelfile import read_config, noise_variants; "
            "path, config = read_config('srformc'); variants = noise_variants('srformc'); "
            "[read_config(p) for p in variants.values()]; "
            "print(config.categories, len(variants), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.split() == ["('nature',", "'manga',", "'text')", "4", "False"]


@pytest.mark.parametrize("name", list(shipped_models()))
def test_the_shipped_models_still_load(name):
    loaded = load_model(name)
    from mchmc.model import ARCHITECTURES, build_model

    assert loaded.model.config == ARCHITECTURES[loaded.model.config.arch]
    assert loaded.model.num_parameters() == build_model(loaded.model.config.arch).num_parameters()
