import pytest
import torch

import kd


@pytest.fixture(autouse=True)
def _isolated_runs(tmp_path, monkeypatch):
    """Every test gets its own empty run cache; torch uses kd.cpu_threads() threads (every core,
    or KD_THREADS: one, beside the notebooks' lane, under `make test`)."""
    monkeypatch.setenv("KD_RUNS", str(tmp_path / "runs"))
    torch.set_num_threads(kd.cpu_threads())


@pytest.fixture(scope="session")
def mnist() -> kd.Dataset:
    try:
        return kd.load("mnist", "train")
    except kd.DatasetMissing as e:
        pytest.fail(f"the unit tests need MNIST: {e}")


def tiny_run(**changes) -> kd.RunConfig:
    """A few-second MNIST run: 50 images a class, a small MLP."""
    cfg = kd.RunConfig(data=kd.DataConfig("mnist", per_class=50),
                       model=kd.ModelConfig("mlp", (64,)),
                       train=kd.TrainConfig(epochs=2, batch_size=50, lr=0.05))
    return cfg.with_(**changes)


def interrupt_after(cfg: kd.RunConfig, epochs: int, monkeypatch) -> None:
    """Run `cfg` until its checkpoint after `epochs` epochs is written, then stop it as
    Ctrl-C would, leaving an interrupted run behind."""
    import kd.runner as run_module
    real_fit = run_module.fit

    def fit_then_crash(*args, on_epoch_end, **kwargs):
        def save_and_stop(state):
            on_epoch_end(state)
            if len(state["history"]) == epochs:
                raise KeyboardInterrupt
        return real_fit(*args, on_epoch_end=save_and_stop, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(run_module, "fit", fit_then_crash)
        with pytest.raises(KeyboardInterrupt):
            kd.run(cfg, progress=False)
