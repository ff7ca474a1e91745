"""The MCH / MCH-MC networks match the paper's Table 4 and the mission's numbers."""
import pytest
import torch

from mchmc.model import ARCHITECTURES, CATEGORIES, MCHConfig, build_model

PARAMS = {"mch": (54_052, 0), "mch-mc": (54_052, 9_219), "mch-mc-wide": (119_476, 13_315),
          "mch-mc-quality": (221_620, 13_315), "mch-mc-quality-deep": (258_548, 13_315)}
# Issue 27's cost cap: half of waifu2x-upconv7's ~552k multiply-adds per LR pixel (its ncnn .param)
MAC_CAP = 276_000


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_parameter_counts(name):
    model = build_model(name)
    sr, head = PARAMS[name]
    assert model.num_parameters("sr") == sr
    assert model.num_parameters("head") == head
    assert model.num_parameters() == sr + head


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_halo_and_scale_come_from_the_layers(name):
    cfg = build_model(name).config
    assert cfg.halo == sum(k // 2 for k in cfg.kernels) + len(cfg.tail) == (5 if not cfg.tail else 5 + len(cfg.tail))
    assert cfg.feature_halo == 4  # F2, what the category head pools, is conv2's output in every variant
    assert cfg.scale == 2
    # a different kernel set changes the derived halo: nothing hard-codes 5
    assert MCHConfig(kernels=(9, 5, 5)).halo == 4 + 2 + 2
    assert MCHConfig(kernels=(9, 5, 5), tail=(8, 8)).halo == 4 + 2 + 2 + 2


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_multiply_adds_per_lr_pixel_are_counted_from_the_layers_and_capped(name):
    """Every SR layer runs once per LR pixel (the pixel shuffle is free): its weights per output channel
    times its output channels; every registered variant stays within issue 27's cap."""
    model = build_model(name)
    layers = [model.conv1, model.conv2, *model.tail, model.conv3]
    per_pixel = sum(m.weight[0].numel() * m.out_channels for m in layers)
    assert model.config.macs_per_lr_pixel == per_pixel <= MAC_CAP
    assert model.config.flops_per_lr_pixel == 2 * per_pixel
    assert ARCHITECTURES["mch-mc"].macs_per_lr_pixel == 53_952  # the paper's ~54k


@pytest.mark.parametrize("name", list(ARCHITECTURES))
@pytest.mark.parametrize("h,w", [(11, 11), (30, 30), (17, 40)])
def test_unpadded_output_geometry(name, h, w):
    model = build_model(name)
    cfg = model.config
    h, w = h + 2 * (cfg.halo - 5), w + 2 * (cfg.halo - 5)  # the same output sizes for a deeper variant
    sr, logits = model(torch.rand(2, 1, h, w))
    assert sr.shape == (2, 1, cfg.scale * (h - 2 * cfg.halo), cfg.scale * (w - 2 * cfg.halo))
    if cfg.has_classifier:
        assert logits.shape == (2, len(CATEGORIES))
    else:
        assert logits is None


def test_init_is_gaussian_0_001_with_zero_biases():
    torch.manual_seed(0)
    model = build_model("mch-mc")
    w = model.conv2.weight.detach()
    assert abs(w.mean().item()) < 1e-4 and w.std().item() == pytest.approx(1e-3, rel=0.05)
    for mod in [model.conv1, model.conv2, model.conv3, model.head[0], model.head[2]]:
        assert torch.count_nonzero(mod.bias) == 0


def test_dropout_only_when_training_switches_it_on():
    torch.manual_seed(0)
    model = build_model("mch-mc")
    model.reset_parameters(0.1)
    y = torch.rand(1, 1, 20, 20)
    model.train()
    a, b = model.features(y), model.features(y)
    assert torch.equal(a, b), "dropout must be off until the trainer sets it"
    model.dropout = 0.5
    a, b = model.features(y), model.features(y)
    assert not torch.equal(a, b)
    model.eval()
    assert torch.equal(model.features(y), model.features(y)), "inference never drops"


def test_pixel_shuffle_puts_the_four_channels_at_their_subpixels():
    model = build_model("mch")
    with torch.no_grad():
        model.conv3.weight.zero_()
        model.conv3.bias.copy_(torch.tensor([1.0, 2.0, 3.0, 4.0]))
    sr, _ = model(torch.rand(1, 1, 11, 11))
    # one LR output pixel -> 2x2 block: upper-left, upper-right, lower-left, lower-right
    assert sr[0, 0].tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_the_quality_tiers_head_reads_f2_and_its_tail_sits_before_conv3():
    model = build_model("mch-mc-quality")
    f2 = model.features(torch.rand(1, 1, 30, 30))
    assert f2.shape[1] == model.config.channels[1] == model.head[0].in_features
    assert [c.in_channels for c in model.tail] == [48, 64, 64] and model.conv3.in_channels == 64


def test_registry_rejects_unknown_names():
    with pytest.raises(KeyError, match="unknown architecture"):
        build_model("srcnn")
