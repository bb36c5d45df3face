"""Every bad input fails before any work, with a ValueError naming the parameter."""
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


def test_diverging_run_reports_non_finite_loss():
    cfg = tiny_run(train__lr=1e30, train__epochs=1)
    with pytest.raises(kd.NonFiniteLoss, match="epoch 1, step"):
        kd.run(cfg, progress=False)


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
