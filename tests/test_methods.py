"""Every method of the zoo: its guards (teacher frozen, gradients to the student and its own
heads only) and a short run on a CIFAR-10 subset in which the training loss falls."""
import dataclasses

import pytest
import torch

import kd
from kd.methods import METHODS

# method -> extra MethodConfig fields for a short run
OPTIONS = {"eskd": dict(stop_epoch=1), "crd": dict(negatives=64), "crd_tau": dict(negatives=64, T=0.1),
           "adversarial": dict(steps=2), "pgd_at": dict(steps=2),
           "adversarial_tfkd_reg": dict(steps=2), "akd": dict(steps=2), "one": dict(T=3.0), "bss": dict(attack_size=8, bss_steps=3)}


@pytest.fixture(autouse=True)
def _shared_runs(tmp_path_factory, monkeypatch):
    """Teachers are trained once for the whole module, not once per test."""
    folder = tmp_path_factory.getbasetemp() / "method-runs"
    monkeypatch.setenv("KD_RUNS", str(folder))


def cifar(per_class: int = 10, test_per_class: int = 5) -> kd.DataConfig:
    return kd.DataConfig("cifar10", per_class=per_class, test_per_class=test_per_class)


# Sarfraz III: the stage-1 (initialisation) runs of FitNet and FSP use lr 0.001
STAGE1 = {"fitnet", "fsp"}


def pair(student: str, teacher: str, name: str, epochs: int = 1) -> kd.RunConfig:
    train = kd.TrainConfig(epochs=epochs, batch_size=25, lr=0.05, weight_decay=5e-4)
    teacher_cfg = kd.RunConfig(data=cifar(), model=kd.ModelConfig(teacher), train=train)
    if name in STAGE1:
        train = dataclasses.replace(train, lr=0.001)
    cls = METHODS[name]
    if getattr(cls, "same_architecture", False):
        teacher_cfg = teacher_cfg.with_(model=kd.ModelConfig(student))
    return kd.RunConfig(data=cifar(), model=kd.ModelConfig(student), train=train,
                        method=kd.MethodConfig(name, **OPTIONS.get(name, {})),
                        teacher=teacher_cfg if cls.uses_teacher else None)


def _distiller(name: str):
    cfg = pair("resnet8", "resnet14", name)
    train, _ = kd.split(cfg.data)
    from kd.runner import _build_student, _context
    teacher = _build_student(cfg.teacher, train, 5) if cfg.teacher else None
    student = _build_student(cfg, train)
    return METHODS[name](student, teacher, cfg.method, _context(cfg, train)), train


@pytest.mark.parametrize("name", sorted(METHODS))
def test_teacher_frozen_and_gradients_reach_only_the_student_side(name):
    distiller, train = _distiller(name)
    teacher = distiller.teacher
    before = {k: v.clone() for k, v in teacher.state_dict().items()} if teacher else {}
    loader = kd.DeviceLoader(train, 16, shuffle=True, augment="crop_flip")
    batch = next(iter(loader.epoch(0)))
    distiller.train()
    opt = torch.optim.SGD(distiller.learnable_parameters(), lr=0.1)
    logits, named = distiller.forward_train(batch, epoch=0)
    assert logits.shape == (16, 10)
    total = sum(named.values())
    assert torch.isfinite(total)
    total.backward()
    learnable = list(distiller.learnable_parameters())
    assert any(p.grad is not None for p in learnable)
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in learnable)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in distiller.student.parameters())
    opt.step()
    if teacher is not None:
        assert not teacher.training
        assert all(p.grad is None for p in teacher.parameters())
        assert not {id(p) for p in teacher.parameters()} & {id(p) for p in learnable}
        for k, v in teacher.state_dict().items():      # weights and BN statistics alike
            torch.testing.assert_close(v, before[k], rtol=0, atol=0)


@pytest.mark.parametrize("name", sorted(set(METHODS) - {"crd", "crd_tau"}))
def test_short_run_loss_falls(name):
    """Three epochs on 100 CIFAR-10 images: the mean training loss of the last epoch is
    below that of the first."""
    key = {"fitnet": "loss_hint", "fsp": "loss_fsp"}.get(name, "loss")   # stage 1: no label loss
    result = kd.run(pair("resnet8", "resnet14", name, epochs=3), progress=False)
    history = result.metrics["history"]
    if name == "eskd":        # KD stops after epoch 1: compare the two cross-entropy-only epochs
        history = history[1:]
    assert history[-1][key] < history[0][key], [h[key] for h in history]


def test_crd_loss_falls_once_the_memory_holds_embeddings():
    """CRD's NCE fixes Z on the first batch, while the memory is still random; the loss then
    rises as real embeddings fill the slots (one pass over the data) and must fall after."""
    cfg = pair("resnet8", "resnet14", "crd", epochs=4).with_(
        data=cifar(per_class=50), method=kd.MethodConfig("crd", negatives=256))
    cfg = cfg.with_(teacher=cfg.teacher.with_(data=cifar(per_class=50)))
    history = kd.run(cfg, progress=False).metrics["history"]
    assert history[-1]["loss_crd"] < history[1]["loss_crd"], [h["loss_crd"] for h in history]
    assert history[-1]["loss_ce"] < history[0]["loss_ce"]


def test_eskd_stops_distilling_after_stop_epoch():
    result = kd.run(pair("resnet8", "resnet14", "eskd", epochs=2), progress=False)
    first, second = result.metrics["history"]
    assert "loss_kd" in first and first["loss_kd"] > 0
    assert second.get("loss_kd", 0.0) == 0.0


@pytest.mark.parametrize("name", sorted(STAGE1))
def test_second_stage_starts_from_the_first(monkeypatch, name):
    import kd.runner as runner
    stage1 = pair("resnet8", "resnet14", name)
    stage2 = stage1.with_(method=kd.MethodConfig("hinton"), init=stage1)
    first = kd.run(stage1, progress=False)
    seen = {}
    real_fit = runner.fit

    def spy(distiller, *args, **kwargs):
        seen["w"] = distiller.student.stem[0].weight.detach().clone()
        return real_fit(distiller, *args, **kwargs)

    monkeypatch.setattr(runner, "fit", spy)
    kd.run(stage2, progress=False)
    torch.testing.assert_close(seen["w"], first.model.stem[0].weight.detach().cpu(), rtol=0, atol=0)


def test_dml_peer_is_a_different_network_trained_alongside():
    distiller, train = _distiller("dml")
    assert not torch.equal(distiller.peer.stem[0].weight, distiller.student.stem[0].weight)
    learnable = {id(p) for p in distiller.learnable_parameters()}
    assert {id(p) for p in distiller.peer.parameters()} <= learnable


def test_crd_memory_is_updated_at_the_batch_indices_only():
    distiller, train = _distiller("crd")
    loader = kd.DeviceLoader(train, 10, shuffle=True)
    batch = next(iter(loader.epoch(0)))
    memory = distiller.crd.memory.memory_s.clone()
    distiller.train()
    distiller.forward_train(batch, 0)
    changed = torch.nonzero((distiller.crd.memory.memory_s != memory).any(1)).flatten()
    assert sorted(changed.tolist()) == sorted(batch.index.tolist())


def test_adversarial_kd_leaves_bn_statistics_to_the_clean_forward():
    """The attack runs in eval mode: only the training forward on x_adv moves BN buffers."""
    distiller, train = _distiller("adversarial")
    loader = kd.DeviceLoader(train, 8)
    batch = next(iter(loader.epoch(0)))
    distiller.train()
    calls = []
    bn = distiller.student.stem[1]
    hook = bn.register_forward_hook(lambda m, i, o: calls.append(m.training))
    distiller.forward_train(batch, 0)
    hook.remove()
    assert calls.count(True) == 1 and calls.count(False) >= 2    # attack steps in eval mode


def test_pgd_training_is_cross_entropy_on_the_attacked_batch():
    """At eps 0 the PGD example is the image itself, so the loss is the clean cross-entropy;
    at eps 8/255 the attack raises it."""
    distiller, train = _distiller("pgd_at")
    batch = next(iter(kd.DeviceLoader(train, 16).epoch(0)))
    distiller.eval()    # BatchNorm in one mode, so that only the input differs
    with torch.no_grad():
        clean = torch.nn.functional.cross_entropy(distiller.student(batch.images), batch.labels)
    distiller.method = dataclasses.replace(distiller.method, eps=0.0)
    _, named = distiller.forward_train(batch, 0)
    assert list(named) == ["ce"] and torch.allclose(named["ce"], clean, atol=1e-5)
    distiller.method = dataclasses.replace(distiller.method, eps=8 / 255, steps=5)
    _, named = distiller.forward_train(batch, 0)
    assert named["ce"] > clean + 1e-3


def test_adversarial_tfkd_reg_is_tfkd_reg_on_the_attacked_batch():
    """zhang eq. 7 at eps 0 is eq. 4 on the clean batch."""
    distiller, train = _distiller("adversarial_tfkd_reg")
    batch = next(iter(kd.DeviceLoader(train, 16).epoch(0)))
    distiller.eval()
    distiller.method = dataclasses.replace(distiller.method, eps=0.0)
    m = distiller.method
    with torch.no_grad():
        logits = distiller.student(batch.images)
    _, named = distiller.forward_train(batch, 0)
    assert named["tfkd"].item() == pytest.approx(
        m.alpha * kd.feature_losses.tf_kd_reg(logits, batch.labels, m.T, a=m.a).item(), rel=1e-5)
    assert named["ce"].item() == pytest.approx(
        (1 - m.alpha) * torch.nn.functional.cross_entropy(logits, batch.labels).item(), rel=1e-5)


def test_akd_reads_the_teacher_on_the_attacked_images_and_eq6_on_the_clean_ones():
    seen = {}
    for name in ("akd", "adversarial"):
        distiller, train = _distiller(name)
        batch = next(iter(kd.DeviceLoader(train, 8).epoch(0)))
        inputs = []
        hook = distiller.teacher.register_forward_hook(lambda mod, i, o: inputs.append(i[0].clone()))
        distiller.train()
        distiller.forward_train(batch, 0)
        hook.remove()
        seen[name] = (inputs[0] - batch.images).abs().amax().item()
    assert seen["adversarial"] == 0.0 and seen["akd"] > 0.0


def test_tfkd_self_needs_the_same_architecture():
    with pytest.raises(ValueError, match="own architecture"):
        pair("resnet8", "resnet14", "hinton").with_(method=kd.MethodConfig("tfkd_self"))


def test_eskd_needs_a_stop_epoch():
    with pytest.raises(ValueError, match="stop_epoch"):
        kd.MethodConfig("eskd")


@pytest.mark.parametrize("student, teacher", [("resnet8", "resnet26"), ("wrn_16_2", "wrn_40_2")])
@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_trains_the_sarfraz_pairs_for_an_epoch(student, teacher, name):
    """Issue acceptance: each method trains ResNet-8 from ResNet-26 and WRN-16-2 from
    WRN-40-2 for one epoch on a CIFAR-10 subset with the one trainer, on the CPU."""
    result = kd.run(pair(student, teacher, name), progress=False)
    (epoch,) = result.metrics["history"]
    assert torch.isfinite(torch.tensor(epoch["loss"])) and 0 <= result.final_acc <= 100


def test_one_branches_share_the_trunk_and_the_gate_mixes_them():
    distiller, train = _distiller("one")
    assert len(distiller.branches) == 2
    shared = {id(p) for p in distiller.student.stem.parameters()}
    for branch in distiller.branches:
        assert not shared & {id(p) for p in branch.parameters()}      # own last stage
        assert not torch.equal(branch.stages[0][0].conv1.weight, distiller.student.stages[-1][0].conv1.weight)
    batch = next(iter(kd.DeviceLoader(train, 16).epoch(0)))
    distiller.train()
    logits, named = distiller.forward_train(batch, 0)
    torch.testing.assert_close(logits, distiller.student(batch.images))   # branch 0 is the student
    assert set(named) == {"ce", "ce_ensemble", "kd"}
    sum(named.values()).backward()
    assert distiller.gate[2].weight.grad is not None and distiller.gate[2].weight.grad.abs().sum() > 0


def test_one_needs_a_staged_network():
    cfg = kd.RunConfig(model=kd.ModelConfig("mlp", (8,)), method=kd.MethodConfig("one"),
                       data=kd.DataConfig("mnist", per_class=2))
    with pytest.raises(ValueError, match="ONE shares"):
        kd.run(cfg, progress=False)


def test_bss_weights_decay_and_boundary_samples_stop_at_three_quarters():
    distiller, train = _distiller("bss")
    distiller.epochs = 8
    assert distiller.weights(0) == (4.0, 2.0)
    assert distiller.weights(4) == pytest.approx((2.5, 2 * (1 - 4 * 0.5 / 3)))
    assert distiller.weights(6)[1] == 0.0 and distiller.weights(8) == (1.0, 0.0)
    # a copy of the student as the teacher: the two agree, so base samples exist
    import copy
    from kd.runner import _context
    cfg = pair("resnet8", "resnet14", "bss", epochs=8)
    twin = METHODS["bss"](distiller.student, copy.deepcopy(distiller.student), cfg.method,
                          _context(cfg, train))
    batch = next(iter(kd.DeviceLoader(train, 100).epoch(0)))
    twin.train()
    _, early = twin.forward_train(batch, 0)
    _, late = twin.forward_train(batch, 6)
    assert "bss" in early and torch.isfinite(early["bss"]) and "bss" not in late


@pytest.mark.parametrize("name, key", [("at", "at"), ("sp", "sp"), ("crd", "crd"), ("hint", "hint"),
                                       ("crd_tau", "crd")])
def test_an_explicit_zero_weight_switches_the_feature_loss_off(name, key):
    cfg = pair("resnet8", "resnet14", name)
    cfg = cfg.with_(method__weight=0.0)
    train, _ = kd.split(cfg.data)
    from kd.runner import _build_student, _context
    d = METHODS[name](_build_student(cfg, train), _build_student(cfg.teacher, train, 5), cfg.method,
                      _context(cfg, train))
    batch = next(iter(kd.DeviceLoader(train, 16).epoch(0)))
    d.train()
    _, named = d.forward_train(batch, 0)
    assert named[key].item() == 0.0


def test_fsp_pairs_stem_and_blocks_with_sarfraz_weights():
    distiller, train = _distiller("fsp")
    assert distiller.block_weights == (1.0, 3.0, 1.0)
    batch = next(iter(kd.DeviceLoader(train, 8).epoch(0)))
    f = distiller.student(batch.images, features=True)
    pairs = distiller.pairs(distiller.student, f)
    assert [(a.shape[1], b.shape[1]) for a, b in pairs] == [(16, 16), (16, 32), (32, 64)]
    distiller.train()
    _, named = distiller.forward_train(batch, 0)
    assert set(named) == {"fsp"} and named["fsp"] > 0


def test_fsp_needs_equal_widths_and_a_stem():
    with pytest.raises(ValueError, match="FSP needs equal widths"):
        kd.run(pair("wrn_16_1", "wrn_16_2", "fsp"), progress=False)
    cfg = kd.RunConfig(model=kd.ModelConfig("mlp", (8,)), method=kd.MethodConfig("fsp"),
                       data=kd.DataConfig("mnist", per_class=2),
                       teacher=kd.RunConfig(model=kd.ModelConfig("mlp", (8,)),
                                            data=kd.DataConfig("mnist", per_class=2)))
    with pytest.raises(ValueError, match="FSP needs networks with a stem"):
        kd.run(cfg, progress=False)


def test_fsp_stage_one_is_stable_at_sarfraz_rate_on_the_wrn_pair():
    """Pitfall: on the WRN's raw group outputs (pre-activation sums that grow with depth) this
    run diverged at lr 0.001 (NaN at epoch 3, step 2); on the activated maps it stays finite."""
    history = kd.run(pair("wrn_16_2", "wrn_40_2", "fsp", epochs=3), progress=False).metrics["history"]
    assert all(torch.isfinite(torch.tensor(h["loss_fsp"])) for h in history)


def test_wrn_activated_maps_match_the_forward_and_leave_bn_statistics_alone():
    net = kd.build(kd.ModelConfig("wrn_16_2"), 10, (3, 32, 32))
    x = torch.randn(8, 3, 32, 32)
    for training in (True, False):
        net.train(training)
        f = net(x, features=True)
        buffers = {k: v.clone() for k, v in net.state_dict().items()}
        maps = net.activated([f.stem, *f.stages])
        for k, v in net.state_dict().items():
            torch.testing.assert_close(v, buffers[k], rtol=0, atol=0)
        block = net.stages[1][0]
        torch.testing.assert_close(maps[1], torch.relu(block.bn1(f.stages[0])))
        net.load_state_dict(buffers)
        torch.testing.assert_close(maps[-1], torch.relu(net.bn(f.stages[-1])))
        net.load_state_dict(buffers)


def test_fitnet_stage_one_regresses_the_teachers_activated_maps_with_a_relu_regressor():
    """FitNets eq. 3 as kd runs it (notebook 20 states both choices): the regressor ends in the
    teacher's ReLU, and the hint is 1/2 the squared norm summed over C*H*W, batch-averaged, of
    block 2 (Sarfraz W = [0, 1, 0]) against ReLU(BN(.)) of the pre-activation WRN teacher's
    group output, not the raw sum."""
    cfg = pair("wrn_16_1", "wrn_16_2", "fitnet")
    train, _ = kd.split(cfg.data)
    from kd.runner import _build_student, _context
    teacher = _build_student(cfg.teacher, train, 5)
    distiller = METHODS["fitnet"](_build_student(cfg, train), teacher, cfg.method, _context(cfg, train))
    distiller.train()
    batch = next(iter(kd.DeviceLoader(train, 8).epoch(0)))
    _, named = distiller.forward_train(batch, 0)
    f_s, f_t = distiller.student(batch.images, features=True), teacher(batch.images, features=True)
    target = teacher.activated([f_t.stem, *f_t.stages])[2]
    assert (target >= 0).all() and (f_t.stages[1] < 0).any()
    regressed = distiller.regressors[1](f_s.stages[1], tuple(target.shape[-2:]))
    assert (regressed >= 0).all()
    expected = 0.5 * (regressed - target).pow(2).sum() / len(batch.images)
    assert named["hint"].item() == pytest.approx(expected.item(), rel=1e-4)


def test_fitnet_and_at_runs_carry_their_method_revision_in_the_key():
    """AT's beta and FitNet's regressor changed what their runs produce: their keys (and those
    of the runs built on them) change, every other key stays."""
    import hashlib
    import json
    from kd.config import CACHE_VERSION, METHOD_REVISIONS, _non_default, _sources
    from kd.data import source_of

    def unrevised(cfg: kd.RunConfig) -> str:
        blob = json.dumps({"config": _non_default(cfg), "sources": _sources(cfg, source_of),
                           "version": CACHE_VERSION}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    assert METHOD_REVISIONS["at"] >= 2 and METHOD_REVISIONS["fitnet"] >= 2
    stage1 = pair("resnet8", "resnet14", "fitnet")
    stage2 = pair("resnet8", "resnet14", "hinton").with_(init=stage1)
    for cfg in (pair("resnet8", "resnet14", "at"), stage1, stage2):
        assert cfg.key() != unrevised(cfg)
    for name in ("ce", "hinton", "sp", "fsp"):
        cfg = pair("resnet8", "resnet14", name)
        assert cfg.key() == unrevised(cfg)


# ------------------------------------------------- Ojha et al.'s methods in RepDistiller's form

def _mnist_pair(method: kd.MethodConfig):
    from kd.runner import _build_student, _context
    train_cfg = kd.TrainConfig(epochs=1, batch_size=16)
    teacher = kd.RunConfig(data=kd.DataConfig("mnist-3domains", per_class=5),
                           model=kd.ModelConfig("mnist_net"), train=train_cfg)
    cfg = kd.RunConfig(data=kd.DataConfig("mnist-orig", per_class=5), model=kd.ModelConfig("mnist_net"),
                       train=train_cfg, method=method, teacher=teacher)
    train, _ = kd.split(cfg.data)
    d = METHODS[method.name](_build_student(cfg, train), _build_student(teacher, train, 5), method,
                             _context(cfg, train))
    return d, next(iter(kd.DeviceLoader(train, 16, shuffle=True).epoch(0)))


def test_hint_is_ce_plus_beta_times_the_element_mean_mse_at_the_64_channel_conv():
    """RepDistiller's hint: gamma CE + beta MSE(ConvReg(f_s), f_t); for mnist_net the last
    stage (the 64-channel conv, 24x24), a 1x1 conv + BN + ReLU regressor."""
    d, batch = _mnist_pair(kd.MethodConfig("hint", weight=2.0))
    assert d.block_weights == (0.0, 1.0)
    reg = d.regressors[1]
    assert reg.conv.kernel_size == (1, 1) and reg.conv.in_channels == reg.conv.out_channels == 64
    d.train()
    torch.manual_seed(0)                                   # the same dropout masks twice
    logits, named = d.forward_train(batch, 0)
    assert set(named) == {"ce", "hint"}
    torch.manual_seed(0)
    s = d.student(batch.images, features=True)
    with torch.no_grad():
        t = d.teacher(batch.images, features=True)
    f = torch.relu(reg.bn(reg.conv(s.stages[1])))
    assert t.stages[1].shape[1:] == (64, 24, 24)
    expected = 2.0 * ((f - t.stages[1]) ** 2).mean()
    torch.testing.assert_close(named["hint"], expected, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(named["ce"], torch.nn.functional.cross_entropy(s.logits, batch.labels),
                               rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("s_shape, t_shape, kind", [((2, 16, 32, 32), (2, 32, 16, 16), torch.nn.Conv2d),
                                                    ((2, 16, 8, 8), (2, 32, 16, 16), torch.nn.ConvTranspose2d),
                                                    ((2, 16, 10, 10), (2, 32, 8, 8), torch.nn.Conv2d)])
def test_conv_regressor_maps_the_student_map_onto_the_teachers(s_shape, t_shape, kind):
    from kd.methods import ConvRegressor
    reg = ConvRegressor(torch.Size(s_shape), torch.Size(t_shape))
    assert type(reg.conv) is kind
    assert reg(torch.randn(s_shape)).shape == t_shape
    with pytest.raises(ValueError, match="cannot be regressed"):
        ConvRegressor(torch.Size((2, 16, 6, 6)), torch.Size((2, 32, 8, 8)))


def test_kl_with_alpha_09_is_repdistillers_gamma_01_alpha_09():
    """RepDistiller: 0.1 CE + 0.9 DistillKL, DistillKL = KL summed over classes and the batch,
    times T^2, divided by the batch size; kd's hinton with alpha 0.9, T 8 is that sum."""
    d, batch = _mnist_pair(kd.MethodConfig("hinton", T=8.0, alpha=0.9))
    d.train()
    torch.manual_seed(0)
    _, named = d.forward_train(batch, 0)
    torch.manual_seed(0)
    s = d.student(batch.images)
    t = d.teacher(batch.images).detach()
    F = torch.nn.functional
    kl = F.kl_div(F.log_softmax(s / 8, 1), F.softmax(t / 8, 1), reduction="sum") * 64 / len(s)
    torch.testing.assert_close(named["ce"] + named["kd"], 0.1 * F.cross_entropy(s, batch.labels) + 0.9 * kl,
                               rtol=1e-4, atol=1e-5)


def test_crd_tau_reads_the_nce_temperature_from_t():
    d, _ = _mnist_pair(kd.MethodConfig("crd_tau", T=0.1, weight=0.1, negatives=32))
    assert d.crd.memory.tau == 0.1 and d.crd.memory.k == 32
    assert d.crd.embed_s.linear.in_features == 128       # mnist_net's 128-wide embedding
    plain, _ = _mnist_pair(kd.MethodConfig("crd", negatives=32))
    assert plain.crd.memory.tau == 0.07
    with pytest.raises(ValueError, match="NCE temperature"):
        kd.MethodConfig("crd_tau")                          # T=4 is a soft-target temperature
