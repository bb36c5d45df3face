"""Every bad input fails before any work, with a ValueError naming the parameter."""
import math

import pytest
import torch

import kd
from kd.runner import split
from kd.train import fit

from conftest import tiny_run


@pytest.mark.parametrize("make, words", [
    (lambda: kd.ModelConfig("resnet-9000"), ["model", "mlp"]),
    (lambda: kd.MethodConfig("telepathy"), ["method", "hinton"]),
    (lambda: kd.DataConfig("imagenet"), ["dataset", "mnist", "cifar10"]),
    (lambda: kd.check_profile("fast"), ["profile", "smoke", "cpu", "paper"]),
    (lambda: kd.MethodConfig("hinton", T=0), ["T=0"]),
    (lambda: kd.MethodConfig("hinton", T=-2), ["T=-2"]),
    (lambda: kd.MethodConfig("hinton", alpha=1.5), ["alpha=1.5", "[0, 1]"]),
    (lambda: kd.MethodConfig("hinton", alpha=-0.1), ["alpha=-0.1"]),
    (lambda: kd.TrainConfig(epochs=0), ["epochs=0", ">= 1"]),
    (lambda: kd.TrainConfig(optimizer="lbfgs"), ["optimizer", "sgd", "adam"]),
    (lambda: kd.TrainConfig(schedule="random"), ["schedule", "cosine"]),
    (lambda: kd.DataConfig("mnist", per_class=0), ["per_class=0", "empty"]),
    (lambda: kd.DataConfig("mnist", label_noise=1.0), ["label_noise"]),
    (lambda: kd.RunConfig(method=kd.MethodConfig("hinton")), ["teacher"]),
    (lambda: kd.RunConfig().with_(train__epoch=3), ["epoch", "epochs"]),
    (lambda: kd.Report("10_x", "quick", "mnist"), ["profile"]),
    (lambda: kd.Report("10_x", "cpu", "mnist").claim("Z1", "c", "sort of", "e"), ["verdict", "held"]),
])
def test_bad_values_raise_value_error_naming_them(make, words):
    with pytest.raises(ValueError) as err:
        make()
    for word in words:
        assert word in str(err.value)


def test_empty_subset_after_transforms_fails_before_training(mnist):
    with pytest.raises(ValueError, match="empty"):
        split(kd.DataConfig("mnist", per_class=5, leave_out=tuple(range(10))))
    with pytest.raises(ValueError, match="leave_out"):
        split(kd.DataConfig("mnist", leave_out=(12,)))


def test_unknown_notebook_number():
    from kd.reproduce import notebooks
    with pytest.raises(ValueError, match="no notebook numbered 99"):
        notebooks("99")


def test_a_notebook_selection_without_a_number_says_so():
    from kd.reproduce import notebooks
    for selection in (",", " , ,"):
        with pytest.raises(ValueError, match="no notebook number was given") as err:
            notebooks(selection)
        assert "(allowed: 01, 10, " in str(err.value)          # the notebooks there


def test_outside_the_repository_the_notebook_selection_says_where_it_looked(tmp_path, monkeypatch):
    from kd.reproduce import notebooks
    monkeypatch.setenv("KD_ROOT", str(tmp_path))
    with pytest.raises(ValueError, match=f"no notebooks folder found under {tmp_path} "):
        notebooks("10")


class _NaNAtStep(kd.Distiller):
    def __init__(self, student, bad_step):
        super().__init__(student)
        self.calls, self.bad_step = 0, bad_step

    def forward_train(self, batch, epoch):
        logits, named = super().forward_train(batch, epoch)
        self.calls += 1
        if self.calls == self.bad_step:
            named["ce"] = named["ce"] * float("nan")
        return logits, named


def test_nan_loss_stops_the_run_naming_epoch_and_step(mnist):
    data = mnist.subset(torch.arange(200))
    loader = kd.DeviceLoader(data, 50, shuffle=True)
    student = kd.build(kd.ModelConfig("mlp", (8,)), 10, (1, 28, 28))
    with pytest.raises(kd.NonFiniteLoss, match=r"epoch 2, step 3 of 4"):
        fit(_NaNAtStep(student, bad_step=7), loader, None, kd.TrainConfig(epochs=3), seed=0,
            progress=False)


def test_diverging_run_reports_non_finite_loss(monkeypatch):
    class Diverging(kd.METHODS["ce"]):
        def forward_train(self, batch, epoch):
            logits, named = super().forward_train(batch, epoch)
            return logits, {k: v * float("inf") for k, v in named.items()}
    monkeypatch.setitem(kd.METHODS, "ce", Diverging)
    with pytest.raises(kd.NonFiniteLoss, match="epoch 1, step 1 of 10"):
        kd.run(tiny_run(train__epochs=1), progress=False)
    assert not list(kd.paths.runs_dir().glob("*/model.pt"))


# the bad inputs of the robustness issue: each refused when its config is made, naming it
BAD_INPUTS = {
    "lr='0.1'": (lambda: kd.TrainConfig(lr="0.1"), ["lr='0.1'", "finite number", "str"]),
    "T='4'": (lambda: kd.MethodConfig("hinton", T="4"), ["T='4'", "finite number"]),
    "lr=None": (lambda: kd.TrainConfig(lr=None), ["lr=None"]),
    "alpha=None": (lambda: kd.MethodConfig("hinton", alpha=None), ["alpha=None"]),
    "hidden=16": (lambda: kd.ModelConfig("mlp", hidden=16), ["hidden=16", "tuple", "(16,)"]),
    "arch=None": (lambda: kd.ModelConfig(None), ["arch=None"]),
    "nesterov='yes'": (lambda: kd.TrainConfig(nesterov="yes"), ["nesterov='yes'", "True or False"]),
    "block_weights=(0, 'x')": (lambda: kd.MethodConfig("fitnet", block_weights=(0, "x")), ["block_weights"]),
    "model=None": (lambda: kd.RunConfig(model=None), ["model=None", "kd.ModelConfig"]),
    "teacher='x'": (lambda: kd.RunConfig(teacher="x"), ["teacher='x'", "kd.RunConfig"]),
    "data='mnist'": (lambda: kd.RunConfig(data="mnist"), ["data='mnist'", "kd.DataConfig('mnist')"]),
    "from_dict with an unknown field": (
        lambda: kd.config.from_dict({**tiny_run().to_dict(), "colour": "red"}), ["unknown field", "colour"]),
    "from_dict with an unknown train field": (
        lambda: kd.config.from_dict({**tiny_run().to_dict(), "train": {"epoch": 3}}), ["train", "epoch", "epochs"]),
    "seed=2**70": (lambda: tiny_run(seed=2**70), ["seed=1180591620717411303424", "0..4294967295"]),
    "seed=-1": (lambda: tiny_run(seed=-1), ["seed=-1", "0..4294967295"]),
    "data seed=-1": (lambda: kd.DataConfig("mnist", seed=-1), ["seed=-1"]),
    "gamma=inf": (lambda: kd.TrainConfig(gamma=math.inf), ["gamma=inf", "finite"]),
    "T=nan": (lambda: kd.MethodConfig("hinton", T=math.nan), ["T=nan", "finite"]),
    "milestones=(-1,)": (lambda: kd.TrainConfig(epochs=5, milestones=(-1,)), ["milestones=(-1,)", "1..4"]),
    "milestones past the last epoch": (lambda: kd.TrainConfig(epochs=5, milestones=(2, 5)), ["milestones=(2, 5)"]),
    "ESKD stop_epoch=99, epochs=1": (
        lambda: tiny_run(method=kd.MethodConfig("eskd", stop_epoch=99), teacher=tiny_run(), train__epochs=1),
        ["stop_epoch=99", "epochs=1"]),
    "augment='crop_flip' on MNIST": (lambda: kd.DataConfig("mnist", augment="crop_flip"),
                                     ["augment='crop_flip'", "'mnist'", "allowed: none, jitter"]),
    "augment='crop_flip' on an MNIST domain": (lambda: kd.DataConfig("mnist-color", augment="crop_flip"),
                                               ["augment='crop_flip'"]),
    "lr=inf": (lambda: kd.TrainConfig(lr=math.inf), ["lr=inf"]),
    "lr=1e30": (lambda: kd.TrainConfig(lr=1e30), ["lr=1e+30", "<= 10"]),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_the_last_bad_inputs_are_refused_naming_the_parameter(case):
    make, words = BAD_INPUTS[case]
    with pytest.raises(ValueError) as err:
        make()
    for word in words:
        assert word in str(err.value), str(err.value)
    assert "\n" not in str(err.value)


def test_the_bounds_keep_what_the_studies_use():
    assert kd.TrainConfig(optimizer="adadelta", lr=1.0).lr == 1.0 and kd.TrainConfig(lr=10).lr == 10.0
    assert kd.DataConfig("cifar10", augment="crop_flip").augmentation == "crop_flip"
    assert kd.DataConfig("mnist", augment="jitter").augmentation == "jitter"
    assert kd.TrainConfig(epochs=10, schedule="step", milestones=(1, 9)).milestones == (1, 9)
    assert tiny_run(seed=2**32 - 1).seed == 2**32 - 1
    cfg = tiny_run(method=kd.MethodConfig("eskd", stop_epoch=2), teacher=tiny_run())
    assert kd.config.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("device, words", [
    ("bogus", ["device='bogus'", "is not a device", "allowed here: cpu"]),
    ("meta", ["device='meta'", "is not a device kd trains on"]),
    pytest.param("cuda", ["device='cuda'", "no CUDA GPU"],
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")),
    ("cuda:64", ["device='cuda:64'"]),
])
def test_a_bad_device_is_refused_before_any_work(device, words):
    with pytest.raises(ValueError) as err:
        kd.run(tiny_run(), device=device, progress=False)
    for word in words:
        assert word in str(err.value)
    assert not kd.paths.runs_dir().exists()                  # nothing was written
    with pytest.raises(ValueError, match="device="):
        kd.is_done(tiny_run(), device)


@pytest.mark.parametrize("make, words", [
    (lambda: kd.TrainConfig(epochs=2.5), ["epochs=2.5", "whole number"]),
    (lambda: kd.TrainConfig(epochs=2.0), ["epochs=2.0", "whole number"]),
    (lambda: kd.TrainConfig(batch_size=12.5), ["batch_size=12.5"]),
    (lambda: kd.TrainConfig(milestones=(30, 60.5)), ["milestones", "whole numbers"]),
    (lambda: kd.DataConfig("mnist", per_class=10.0), ["per_class=10.0"]),
    (lambda: kd.DataConfig("mnist", leave_out=(1.0,)), ["leave_out"]),
    (lambda: kd.MethodConfig("hinton", steps=7.5), ["steps=7.5"]),
    (lambda: kd.ModelConfig("mlp", (400.0,)), ["hidden"]),
    (lambda: kd.RunConfig(seed=0.5), ["seed=0.5"]),
    (lambda: kd.RunConfig(seed=True), ["seed=True", "bool"]),
])
def test_integer_fields_refuse_floats_and_bools(make, words):
    with pytest.raises(ValueError) as err:
        make()
    for word in words:
        assert word in str(err.value)


def test_numpy_integers_are_stored_as_ints_with_the_same_cache_key():
    import numpy as np
    assert kd.TrainConfig(epochs=np.int64(3)) == kd.TrainConfig(epochs=3)
    assert type(kd.TrainConfig(epochs=np.int64(3)).epochs) is int
    assert tiny_run(seed=np.int64(2)).key() == tiny_run(seed=2).key()
