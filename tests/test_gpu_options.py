"""The GPU options (precision, compile) are off by default, and work, here on the CPU; run
times on a GPU wait for its queued work."""

from __future__ import annotations

import pytest
import torch
from hydra.errors import InstantiationException

from decoderlab.callbacks import device_clock
from decoderlab.train import build_run

STEPS = 4


def fitted(make_cfg, *overrides: str):
    """A seed-model run fitted for STEPS steps; returns it with the test loss on 100 digits."""
    cfg = make_cfg(
        "experiment=seed_upsampling2d",
        f"data.train_size={STEPS * 25}",
        "data.val_size=25",
        "data.test_size=100",
        "data.eval_batch_size=25",
        "trainer.max_epochs=1",
        "callbacks.progress_bar=null",
        *overrides,
    )
    run = build_run(cfg)
    run.trainer.fit(run.model, datamodule=run.datamodule)
    assert run.trainer.global_step == STEPS
    batch = run.datamodule.parts["test"][:100]
    with torch.no_grad():
        loss = run.model.loss(run.model.logits(batch), batch).item()
    return run, loss


def test_defaults_are_full_precision_and_eager(make_cfg):
    cfg = make_cfg()
    assert (cfg.precision, cfg.trainer.precision, cfg.compile) == ("32-true", "32-true", False)
    assert make_cfg("precision=bf16-mixed").trainer.precision == "bf16-mixed"


def test_unknown_compile_mode_names_the_allowed_ones(make_cfg):
    with pytest.raises(InstantiationException, match="compile='fastest' is not allowed.*reduce-"):
        build_run(make_cfg("compile=fastest"))


def test_compile_compiles_encoder_and_decoder_in_place_once(make_cfg):
    """Compilation itself happens at the first call; not run here: on this 2-core CPU the
    inductor backend did not finish the seed model's first step within 5 minutes."""
    eager = build_run(make_cfg("experiment=seed_upsampling2d")).model
    run = build_run(make_cfg("experiment=seed_upsampling2d", "compile=reduce-overhead"))
    model = run.model
    assert model.compile_mode == "reduce-overhead"
    assert model.decoder._compiled_call_impl is None
    model.configure_model()
    compiled = model.decoder._compiled_call_impl
    assert compiled is not None and model.encoder._compiled_call_impl is not None
    model.configure_model()  # Lightning calls it in every stage: it compiles once
    assert model.decoder._compiled_call_impl is compiled
    eager.configure_model()
    assert eager.decoder._compiled_call_impl is None
    # checkpoints stay interchangeable between compiled and eager runs
    assert model.state_dict().keys() == eager.state_dict().keys()


@pytest.mark.slow
def test_bf16_mixed_trains_close_to_full_precision(make_cfg):
    _, full = fitted(make_cfg)
    run, bf16 = fitted(make_cfg, "precision=bf16-mixed")
    assert run.trainer.precision == "bf16-mixed"
    assert bf16 == pytest.approx(full, rel=2e-2)


def test_run_times_wait_for_the_work_queued_on_a_gpu(monkeypatch):
    waited = []
    monkeypatch.setattr(torch.cuda, "synchronize", waited.append)
    device_clock(torch.device("cpu"))
    assert waited == []
    device_clock(torch.device("cuda", 0))
    assert waited == [torch.device("cuda", 0)]
