"""The network zoo: every network builds, keeps the forward(x, features) contract, has the
published number of parameters and passes gradients. Run with -s to see the counts."""
from types import SimpleNamespace

import pytest
import torch

import kd
from kd.models import MODELS, CifarResNet, Features, WideResNet, build

B = 2


@pytest.fixture(autouse=True)
def _one_thread():
    """Small nets on a shared machine: one thread is as fast and disturbs nothing."""
    torch.set_num_threads(1)


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def make(arch: str, num_classes: int = 10, shape=(3, 32, 32), **options) -> torch.nn.Module:
    torch.manual_seed(0)
    return build(kd.ModelConfig(arch, **options), num_classes, shape)


def classifier_of(model: torch.nn.Module) -> torch.nn.Linear:
    return model.net.get_classifier() if isinstance(model, kd.models.TimmNet) else model.classifier


def check_contract(model: torch.nn.Module, shape, num_classes: int,
                   channels: list[int], sizes: list[int] | None = None) -> Features:
    """Eval-mode logits of shape (B, classes); features=True gives the same logits, stages
    with `channels` channels (and `sizes` spatial sizes) and the classifier's input."""
    model.eval()
    x = torch.randn(B, *shape)
    with torch.no_grad():
        logits = model(x)
        out = model(x, features=True)
    assert isinstance(out, Features)
    assert logits.shape == (B, num_classes)
    torch.testing.assert_close(out.logits, logits)
    assert [s.shape[1] for s in out.stages] == channels
    assert all(s.shape[0] == B for s in out.stages)
    if sizes is not None:
        assert [s.shape[-1] for s in out.stages] == sizes
    assert out.embedding.shape == (B, classifier_of(model).in_features)
    return out


def expected_stages(arch: str) -> tuple[list[int], list[int]]:
    """Stage channels and spatial sizes at 32x32 (28x28 for cnn_small)."""
    if arch in ("resnet18", "resnet50"):
        e = 1 if arch == "resnet18" else 4
        return [64 * e, 128 * e, 256 * e, 512 * e], [32, 16, 8, 4]
    if arch.startswith("resnet"):
        return [16, 32, 64], [32, 16, 8]
    if arch.startswith("wrn_"):
        k = int(arch.split("_")[2])
        return [16 * k, 32 * k, 64 * k], [32, 16, 8]
    if arch.startswith("vgg"):
        return [64, 128, 256, 512, 512], [32, 16, 8, 4, 2]
    if arch == "cnn_small":
        return [32, 64], [28, 14]
    if arch == "mnist_net":
        return [32, 64], [26, 24]
    raise KeyError(arch)


ZOO = [a for a in MODELS if a != "mlp"]


def test_zoo_is_registered():
    assert {f"resnet{d}" for d in (8, 14, 20, 26, 32, 44, 56, 110)} <= set(MODELS)
    wrns = {f"wrn_{d}_{k}" for d in (10, 16, 22, 28, 40) for k in (1, 2, 3, 4, 6, 8, 10)}
    assert wrns <= set(MODELS)
    assert {"resnet18", "resnet50", "vgg11", "vgg19", "cnn_small"} <= set(MODELS)


@pytest.mark.parametrize("arch", ZOO)
def test_contract(arch):
    """Full contract for 10 classes; for 100 classes the plain forward (to stay fast)."""
    channels, sizes = expected_stages(arch)
    shapes = [(1, 28, 28), (3, 28, 28)] if arch in ("cnn_small", "mnist_net") else [(3, 32, 32)]
    for shape in shapes:
        model = make(arch, 10, shape)
        print(f"\n{arch} {shape}: {n_params(model):,} parameters (10 classes)", end="")
        check_contract(model, shape, 10, channels, sizes)
        model = make(arch, 100, shape).eval()
        with torch.no_grad():
            assert model(torch.randn(B, *shape)).shape == (B, 100)


def resnet_cifar_count(depth: int, classes: int = 10) -> int:
    """By hand: conv3x3 + BN per layer, 1x1 conv + BN shortcut where the shape changes."""
    def conv_bn(c_in: int, c_out: int, k: int) -> int:
        return c_in * c_out * k * k + 2 * c_out
    total, c = conv_bn(3, 16, 3), 16
    for w in (16, 32, 64):
        for _ in range((depth - 2) // 6):
            total += conv_bn(c, w, 3) + conv_bn(w, w, 3) + (conv_bn(c, w, 1) if c != w else 0)
            c = w
    return total + 64 * classes + classes


def wrn_count(depth: int, k: int, classes: int = 10) -> int:
    """By hand: per block BN(c) + conv3x3(c->w) + BN(w) + conv3x3(w->w) [+ 1x1 conv(c->w)];
    stem conv3x3(3->16), final BN, linear classifier."""
    total, c = 3 * 16 * 9, 16
    for w in (16 * k, 32 * k, 64 * k):
        for _ in range((depth - 4) // 6):
            total += 2 * c + 9 * c * w + 2 * w + 9 * w * w + (c * w if c != w else 0)
            c = w
    return total + 2 * c + c * classes + classes


# Published parameter counts (10 classes) quoted by the papers kd reproduces: the CIFAR ResNets
# (sarfraz's students), WRN-16-2/40-2 (Tian et al. 2020, CRD), CIFAR ResNet18/50 (11.2M/23.5M).
PUBLISHED = {"resnet8": 0.078e6, "resnet14": 0.17e6, "resnet20": 0.27e6, "resnet26": 0.37e6,
             "wrn_16_2": 0.70e6, "wrn_40_2": 2.2e6, "resnet18": 11.2e6, "resnet50": 23.5e6}
# ResNet-8 and ResNet-14 differ by one basic block per group, 97,216 parameters whatever the
# shortcut. Within 2% of both 0.078M and 0.17M would need a difference of at most
# 0.17M*1.02 - 0.078M*0.98 = 96,960, so no 16-32-64 ResNet meets both. We match ResNet-8's
# three-digit 0.078M (option B shortcuts); our ResNet-14, 175,258, is 0.17M cut (not rounded)
# to two decimals, 3.1% above it, and is checked within 3.5%.
TOLERANCE = {"resnet14": 0.035}
# Counted by hand (resnet_cifar_count, wrn_count above), to the parameter.
COMPUTED = {"wrn_10_2": wrn_count(10, 2), "wrn_28_2": wrn_count(28, 2),
            "wrn_16_1": wrn_count(16, 1), "wrn_40_1": wrn_count(40, 1),
            **{f"resnet{d}": resnet_cifar_count(d) for d in (8, 14, 20, 26, 110)}}


def test_parameter_counts():
    counts = {arch: n_params(make(arch)) for arch in {*PUBLISHED, *COMPUTED}}
    print(f"\n{'network':<10} {'ours':>12} {'reference':>12} {'diff':>7}  source")
    for arch, ref in [*PUBLISHED.items(), *COMPUTED.items()]:
        source = "published" if arch in PUBLISHED and ref == PUBLISHED[arch] else "by hand"
        diff = 100 * (counts[arch] / ref - 1)
        print(f"{arch:<10} {counts[arch]:>12,} {int(ref):>12,} {diff:>+6.2f}%  {source}")
    for arch, ref in PUBLISHED.items():
        assert abs(counts[arch] / ref - 1) <= TOLERANCE.get(arch, 0.02), arch
    for arch, ref in COMPUTED.items():
        assert counts[arch] == ref, arch
    assert counts["resnet14"] - counts["resnet8"] == 97_216 > 0.17e6 * 1.02 - 0.078e6 * 0.98


def test_gupta_resnet18_variants():
    """gupta Table 2: fewer blocks per stage and a strided stem."""
    full = make("resnet18")
    sizes = {}
    for blocks, channels in [((1, 1, 1, 1), [64, 128, 256, 512]), ((2, 2, 0, 0), [64, 128]),
                             ((1, 1, 0, 0), [64, 128])]:
        model = make("resnet18", blocks=blocks)
        check_contract(model, (3, 32, 32), 10, channels, [32, 16, 8, 4][:len(channels)])
        sizes[blocks] = n_params(model)
    assert sizes[(1, 1, 0, 0)] < sizes[(2, 2, 0, 0)] < sizes[(1, 1, 1, 1)] < n_params(full)
    assert make("resnet18", blocks=(2, 2, 0, 0)).classifier.in_features == 128
    first = {}
    for stride in (1, 2, 4):
        model = make("resnet18", stem_stride=stride)
        out = check_contract(model, (3, 32, 32), 10, [64, 128, 256, 512])
        first[stride] = out.stages[0].shape[-1]
        assert n_params(model) == n_params(full)
    assert first == {1: 32, 2: 16, 4: 8}
    small = make("resnet18", blocks=(1, 1, 0, 0), stem_stride=4)
    check_contract(small, (3, 32, 32), 10, [64, 128], [8, 4])
    check_contract(make("resnet50", blocks=(1, 1, 0, 0)), (3, 32, 32), 10, [256, 512], [32, 16])
    print(f"\nresnet18 blocks {sizes}, full {n_params(full):,}", end="")


def _bottleneck_resnet_params(blocks, width: float, classes: int = 10) -> int:
    """Parameters of kd's ResNet50 family counted by hand: convs without bias, BN weight and
    bias, a 1x1 conv + BN shortcut where the shape changes, linear classifier."""
    ch = [max(1, round(c * width)) for c in (64, 64, 128, 256, 512)]
    total, c = 3 * 9 * ch[0] + 2 * ch[0], ch[0]
    for i, n in enumerate(blocks):
        w = ch[i + 1]
        for j in range(n):
            total += c * w + 2 * w + 9 * w * w + 2 * w + w * 4 * w + 8 * w
            if c != 4 * w or (j == 0 and i > 0):
                total += c * 4 * w + 8 * w
            c = 4 * w
    return total + c * classes + classes


@pytest.mark.parametrize("blocks", [(3, 4, 6, 3), (1, 1, 1, 1), (2, 2, 0, 0), (1, 1, 0, 0)])
@pytest.mark.parametrize("width", [1.0, 0.5, 0.125])
def test_resnet50_width_scales_every_stage(blocks, width):
    """gupta Table 2 under cpu: the block structure kept, every stage's channels times one
    factor. Full width is He et al.'s 23.5M (CIFAR stem, 10 classes); 1/8 width 0.38M."""
    model = make("resnet50", blocks=blocks, width=width)
    assert n_params(model) == _bottleneck_resnet_params(blocks, width)
    present = [round(c * width) * 4 for c, n in zip((64, 128, 256, 512), blocks) if n]
    check_contract(model, (3, 32, 32), 10, present)
    if (blocks, width) == ((3, 4, 6, 3), 1.0):
        assert n_params(model) == 23_520_842
    if (blocks, width) == ((3, 4, 6, 3), 0.125):
        assert n_params(model) == 375_762


def test_width_is_refused_where_no_builder_reads_it():
    with pytest.raises(ValueError, match="only for resnet18"):
        make("resnet26", width=0.5)
    with pytest.raises(ValueError, match="width"):
        kd.ModelConfig("resnet50", width=0.0)


@pytest.mark.parametrize("arch", ["resnet8", "wrn_10_2", "vgg11", "cnn_small"])
def test_gradients_reach_every_parameter(arch):
    shape = (1, 28, 28) if arch == "cnn_small" else (3, 32, 32)
    model = make(arch, 10, shape).train()
    model(torch.randn(4, *shape)).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_timm_vit():
    """A ViT-Tiny with 4x4 patches on 32x32 images: 64 tokens; every block is a stage."""
    model = make("timm:vit_tiny_patch16_224", 10, patch_size=4)
    print(f"\ntimm:vit_tiny_patch16_224 patch 4: {n_params(model):,} parameters", end="")
    assert model.net.patch_embed.patch_size == (4, 4)
    out = check_contract(model, (3, 32, 32), 10, [192] * 12, [8] * 12)
    assert out.embedding.shape == (B, 192)
    model = make("timm:vit_tiny_patch16_224", 100, patch_size=4).eval()
    with torch.no_grad():
        assert model(torch.randn(B, 3, 32, 32)).shape == (B, 100)


def test_timm_cnn_takes_no_patch_size():
    model = make("timm:resnet18", 10)
    check_contract(model, (3, 32, 32), 10, [64, 64, 128, 256, 512])
    with pytest.raises(ValueError, match="patch_size"):
        make("timm:resnet18", 10, patch_size=4)


def test_invalid():
    with pytest.raises(ValueError, match="6n\\+2"):
        CifarResNet(9, 10)
    with pytest.raises(ValueError, match="6n\\+4"):
        WideResNet(12, 2, 10)
    with pytest.raises(ValueError):  # the config rejects an arch kd does not know
        kd.ModelConfig("resnet9")
    unknown = SimpleNamespace(arch="resnet9", blocks=None, stem_stride=1, patch_size=None)
    with pytest.raises(ValueError, match="unknown"):
        build(unknown, 10, (3, 32, 32))
    with pytest.raises(ValueError, match="unknown"):
        make("timm:no_such_net")
    with pytest.raises(ValueError, match="blocks"):
        make("resnet18", blocks=(1, 1, 1))
    with pytest.raises(ValueError, match="only for resnet18"):
        make("resnet20", blocks=(1, 1, 1, 1))
    with pytest.raises(ValueError, match="only for timm"):
        make("resnet20", patch_size=4)


def test_mnist_net_is_the_pytorch_example():
    """conv3x3(32), conv3x3(64), FC 9216->128, FC 10: 1,199,882 parameters on grey digits
    (the example's count), 1,200,458 on 3 channels (conv1 gains 2 * 32 * 9 weights)."""
    grey, colour = make("mnist_net", 10, (1, 28, 28)), make("mnist_net", 10, (3, 28, 28))
    assert n_params(grey) == 320 + 18_496 + 9216 * 128 + 128 + 1290 == 1_199_882
    assert n_params(colour) == 1_199_882 + 2 * 32 * 9 == 1_200_458
    assert colour.fc1.in_features == 9216
    assert [m.p for m in (colour.dropout1, colour.dropout2)] == [0.25, 0.5]
    out = check_contract(colour, (3, 28, 28), 10, [32, 64], [26, 24])
    assert out.embedding.shape == (B, 128) and (out.embedding >= 0).all()
