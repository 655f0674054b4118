"""End to end through the real CLI: train on a tiny espeak corpus, export, run the exported file
without the package, evaluate on held-out voices. Plus the shipped model, when there is one.

The corpus (see conftest.synth_corpus) realises neutral / sad / angry as clearly different
prosody and uses espeak voices as speakers, so a few hundred augmented training windows are
enough for the model to beat chance by a wide margin on voices it never heard.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from synth import CORPUS_EMOTIONS, TEST_VOICES, TRAIN_VOICES

EPOCHS = 8
SAMPLES_PER_EPOCH = 256
N_TEST = len(TEST_VOICES) * len(CORPUS_EMOTIONS) * 4  # 4 sentences per voice and emotion


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, synth_corpus: Path, ser_live) -> dict:
    """One training run and its export, shared by the tests below."""
    work = tmp_path_factory.mktemp("e2e")
    cache = work / "cache"
    train = ser_live("train", "--manifest", synth_corpus, "--out", work / "run",
                     "--epochs", EPOCHS, "--samples-per-epoch", SAMPLES_PER_EPOCH,
                     "--batch-size", 16, "--lr", 3e-3, "--seed", 0,
                     "--threads", 1, "--workers", 0, "--no-progress",
                     cwd=work, cache_dir=cache, timeout=300)
    assert train.returncode == 0, str(train)
    export = ser_live("export", work / "run" / "best.pt", "--out", work / "model", "--onnx",
                      cwd=work, cache_dir=cache)
    assert export.returncode == 0, str(export)
    return {"work": work, "cache": cache, "run": work / "run", "model": work / "model",
            "train": train, "export": export, "manifest": synth_corpus}


def test_training_run(trained: dict) -> None:
    import torch

    run, out = trained["run"], trained["train"].stdout
    for name in ("best.pt", "last.pt", "history.json", "curves.png"):
        assert (run / name).is_file(), name
    assert "skipped 1 unreadable file" in out, out
    assert "broken.wav" in trained["train"].stderr
    history = json.loads((run / "history.json").read_text())
    assert 1 <= len(history) <= EPOCHS
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    ckpt = torch.load(run / "best.pt", map_location="cpu", weights_only=False)
    assert ckpt["labels"] == ["neutral", "sad", "angry"]  # the unified order, present labels only
    train_spk, val_spk = set(ckpt["train_speakers"]), set(ckpt["val_speakers"])
    assert val_spk and not train_spk & val_spk
    assert len(train_spk | val_spk) == len(TRAIN_VOICES)
    assert not {f"synth-{v.replace('+', '_')}" for v in TEST_VOICES} & (train_spk | val_spk)
    assert ckpt["val"]["ua"] == max(row["val_ua"] for row in history)


def test_exported_folder(trained: dict) -> None:
    model = trained["model"]
    assert {p.name for p in model.iterdir()} >= {"model.pt", "model.json", "README.md", "training_curves.png"}
    # the run's epoch-by-epoch history travels with the model, for checking a rerun against it
    history = json.loads((model / "training_history.json").read_text())
    assert history == json.loads((trained["run"] / "history.json").read_text()) and len(history) >= 1
    meta = json.loads((model / "model.json").read_text())
    assert meta["labels"] == ["neutral", "sad", "angry"]
    assert meta["input"]["sample_rate"] == 16000 and meta["input"]["window_samples"] == 32000
    assert meta["output"]["kind"] == "probabilities"
    assert set(meta["colors"]) == set(meta["labels"])


CHECK = r"""
import json, sys
sys.modules["ser_live"] = None  # any import of the package now fails
import torch
m = torch.jit.load(sys.argv[1], map_location="cpu").eval()
t = torch.linspace(0, 2, 32000)
x = torch.stack([0.3 * torch.sin(2 * 3.14159 * 180 * t) * (t < 1.2), 0.05 * torch.randn(32000)])
with torch.inference_mode():
    p = m(x)
print(json.dumps({"shape": list(p.shape), "probs": p.tolist(),
                  "ser_live_imported": any(k.startswith("ser_live.") for k in sys.modules)}))
"""


def test_exported_model_runs_without_the_package(trained: dict, tmp_path: Path) -> None:
    """`torch.jit.load` alone runs the shipped file: features, network and softmax inside."""
    proc = subprocess.run([sys.executable, "-I", "-c", CHECK, str(trained["model"] / "model.pt")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["shape"] == [2, 3] and not got["ser_live_imported"]
    probs = np.array(got["probs"])
    assert np.all(probs >= 0) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_onnx_export_matches_torchscript(trained: dict) -> None:
    import onnxruntime as ort
    import torch

    x = (0.1 * np.random.default_rng(3).standard_normal((4, 32000))).astype(np.float32)
    sess = ort.InferenceSession(str(trained["model"] / "model.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    with torch.inference_mode():
        want = torch.jit.load(str(trained["model"] / "model.pt"))(torch.from_numpy(x)).numpy()
    assert got.shape == (4, 3)
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_classifier_on_exported_model(trained: dict, speech: np.ndarray) -> None:
    from ser_live.model.runtime import Classifier

    clf = Classifier(trained["model"], device="cpu")
    assert clf.labels == ["neutral", "sad", "angry"]
    p = clf.predict_clip(np.concatenate([speech, speech]))
    assert p.shape == (3,) and p.sum() == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError):
        clf.predict_windows(np.zeros((1, 16000), np.float32))


def evaluate(trained: dict, ser_live, out: Path, *args):
    """`ser-live evaluate` on the tiny corpus with the model trained above."""
    return ser_live("evaluate", "--manifest", trained["manifest"], "--model", trained["model"],
                    "--out", out, "--device", "cpu", *args, cwd=trained["work"],
                    cache_dir=trained["cache"])


def test_evaluate(trained: dict, ser_live) -> None:
    report_path = trained["work"] / "eval" / "report.json"
    res = evaluate(trained, ser_live, report_path, "--split", "test", "--precision", "fp32")
    assert res.returncode == 0, str(res)
    rep = json.loads(report_path.read_text())
    assert rep["precision"] == "fp32" and "model (fp32)" in res.stdout
    for key in ("ua", "wa", "macro_f1", "labels", "confusion", "n", "per_class"):
        assert key in rep, key
    assert rep["labels"] == ["neutral", "sad", "angry"]
    assert rep["n"] == N_TEST and np.array(rep["confusion"]).sum() == N_TEST
    assert np.array(rep["confusion"]).shape == (3, 3)
    # the 'happy' clips: a label the model does not know, skipped and counted
    assert rep["skipped_label"] == {"happy": 2 * len(TEST_VOICES)}
    assert "skipped 6 clip(s)" in res.stdout + res.stderr
    png = report_path.with_suffix(".confusion.png")
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # well above chance (1/3) on three voices never heard in training
    assert rep["ua"] >= 0.7, f"UA {rep['ua']:.3f}, confusion {rep['confusion']}"
    assert rep["macro_f1"] >= 0.6


def test_evaluate_in_bf16(trained: dict, ser_live, tmp_path: Path) -> None:
    """`--precision bf16` is what the report says it scored with, and it scores like fp32."""
    reps = {}
    for precision in ("fp32", "bf16"):
        path = trained["work"] / "eval" / f"{precision}.json"
        res = evaluate(trained, ser_live, path, "--split", "test", "--precision", precision)
        assert res.returncode == 0, str(res)
        reps[precision] = json.loads(path.read_text())
    assert reps["bf16"]["precision"] == "bf16" and reps["bf16"]["n"] == N_TEST
    changed = np.abs(np.array(reps["bf16"]["confusion"]) - np.array(reps["fp32"]["confusion"])).sum() / 2
    assert changed <= 2, (reps["fp32"]["confusion"], reps["bf16"]["confusion"])  # of 36 clips

    # the model card says which precision each row was scored in, and both speeds
    card_dir = tmp_path / "model"
    shutil.copytree(trained["model"], card_dir)
    (card_dir / "reports").mkdir(exist_ok=True)
    for precision in reps:
        shutil.copy(trained["work"] / "eval" / f"{precision}.json", card_dir / "reports")
    figures = {"batch1_median_ms": 1.5, "batch1_p90_ms": 2.0, "batch32_per_window_ms": 0.9,
               "batch32_one_call_per_window_ms": 1.0}
    from ser_live.model.runtime import model_digest

    speed = {"precision": "bf16", "seed_features_per_clip_ms": 8.0, "model_sha256": model_digest(card_dir),
             "bf16": {**figures, "chunk": 32},
             "fp32": {**figures, "batch32_per_window_ms": 1.2, "chunk": 8},
             "ratio_seed_features_over_ours_batch1": 5.3, "ratio_seed_features_over_ours_batch32": 8.9,
             "ratio_bf16_over_fp32_batch1": 1.0, "ratio_bf16_over_fp32_batch32": 0.75}
    (card_dir / "reports" / "speed.json").write_text(json.dumps(speed))
    res = ser_live("model-card", card_dir, cwd=tmp_path, cache_dir=trained["cache"])
    assert res.returncode == 0, str(res)
    card = (card_dir / "README.md").read_text()
    for precision, rep in reps.items():
        assert f"| {precision} | {precision} | {rep['n']} | {rep['ua']:.3f} |" in card
    assert "in bf16, what `--precision auto` picked" in card and "0.75x fp32's time at batch 32" in card
    assert "batch 32 1.200 ms per window in the classifier's chunks of 8" in card


def test_the_card_quotes_only_its_own_models_figures(trained: dict, ser_live, tmp_path: Path) -> None:
    """A new export into a model folder keeps the reports of the model it replaced: the card
    used to quote them as the new model's figures. Reports name the model they scored
    (sha256 of model.pt); the card leaves other models' out of its tables and lists them apart
    with the commands that redo them. Re-exporting the same checkpoint keeps them valid."""
    import torch

    from ser_live.model.runtime import model_digest

    card_dir = tmp_path / "model"
    shutil.copytree(trained["model"], card_dir)
    report = card_dir / "reports" / "test.json"
    res = evaluate(trained, ser_live, report, "--split", "test", "--model", card_dir, "--precision", "fp32")
    assert res.returncode == 0, str(res)
    rep = json.loads(report.read_text())
    assert rep["model_sha256"] == model_digest(card_dir)
    row = f"| test | fp32 | {rep['n']} | {rep['ua']:.3f} |"

    def export(checkpoint: Path):
        res = ser_live("export", checkpoint, "--out", card_dir, cwd=tmp_path, cache_dir=trained["cache"])
        assert res.returncode == 0, str(res)
        return res, (card_dir / "README.md").read_text()

    res, card = export(trained["run"] / "best.pt")  # the same weights again: the same model
    assert row in card and "Reports of another model" not in card and "warning" not in res.stderr
    ckpt = torch.load(trained["run"] / "best.pt", map_location="cpu", weights_only=False)
    key = next(k for k, v in ckpt["model"].items() if v.is_floating_point() and "features" not in k)
    ckpt["model"][key] = ckpt["model"][key] + 0.01  # another model of the same run
    torch.save(ckpt, tmp_path / "other.pt")
    res, card = export(tmp_path / "other.pt")
    assert row not in card, card
    assert "## Reports of another model" in card and f"`reports/test.json`: `{rep['command']}`" in card
    assert "1 report(s)" in res.stderr and "test.json" in res.stderr, str(res)


def test_evaluate_validation_speakers(trained: dict, ser_live) -> None:
    """`--split val` scores exactly the speakers the checkpoint was chosen on, never test ones."""
    import torch

    ckpt = torch.load(trained["run"] / "best.pt", map_location="cpu", weights_only=False)
    report_path = trained["work"] / "eval" / "val.json"
    res = evaluate(trained, ser_live, report_path, "--split", "val")
    assert res.returncode == 0, str(res)
    rep = json.loads(report_path.read_text())
    # the validation voices' clips of the model's labels (4 sentences per voice and emotion)
    assert rep["n"] == ckpt["n_val"] == len(ckpt["val_speakers"]) * len(CORPUS_EMOTIONS) * 4


def test_fine_tune_from_checkpoint(trained: dict, ser_live) -> None:
    """`--init` continues from a checkpoint (here with noise-consistency training, mixup and
    speaker-balanced draws too), and refuses one validated on other speakers."""
    import torch

    out = trained["work"] / "tuned"
    res = ser_live("train", "--manifest", trained["manifest"], "--out", out, "--epochs", 1,
                   "--samples-per-epoch", 64, "--batch-size", 16, "--seed", 0, "--threads", 1,
                   "--workers", 0, "--no-progress", "--init", trained["run"] / "best.pt",
                   "--noise-consistency", 2, "--sampling", "class-speaker", "--mixup", 0.4,
                   cwd=trained["work"],
                   cache_dir=trained["cache"], timeout=300)
    assert res.returncode == 0, str(res)
    start = torch.load(trained["run"] / "best.pt", map_location="cpu", weights_only=False)
    tuned = torch.load(out / "last.pt", map_location="cpu", weights_only=False)
    assert tuned["init"] == str(trained["run"] / "best.pt") and tuned["noise_consistency"] == 2.0
    assert tuned["sampling"] == "class-speaker" and tuned["mixup"] == 0.4
    assert tuned["val_speakers"] == start["val_speakers"]
    # the feature statistics travel from the starting checkpoint unchanged
    for key in ("features.mean", "features.std"):
        assert torch.equal(tuned["model"][key], start["model"][key]), key
    # one epoch at the full learning rate moves from the start, rather than from scratch:
    # its first validation loss is far below an untrained model's ln(3)
    assert json.loads((out / "history.json").read_text())[0]["val_loss"] < 1.0
    # the export records the whole chain of commands, the first run's before the fine-tune's
    exp = ser_live("export", out / "last.pt", "--out", trained["work"] / "tuned_model",
                   cwd=trained["work"], cache_dir=trained["cache"])
    assert exp.returncode == 0, str(exp)
    commands = json.loads((trained["work"] / "tuned_model" / "model.json").read_text())["training"]["commands"]
    assert commands == [start["command"], tuned["command"]] and "--init" in commands[1], commands
    card = (trained["work"] / "tuned_model" / "README.md").read_text()
    assert all(c in card for c in commands)

    other = ser_live("train", "--manifest", trained["manifest"], "--out", trained["work"] / "x",
                     "--epochs", 1, "--seed", _other_split_seed(trained["manifest"]),
                     "--init", trained["run"] / "best.pt",
                     "--no-progress", cwd=trained["work"], cache_dir=trained["cache"])
    assert other.returncode == 2, str(other)
    lines = other.error_lines()
    assert len(lines) == 1 and "--seed 0" in lines[0] and "best.pt" in lines[0], str(other)
    # the same seed with the validation speakers of seed 0: another draw of the same recipe
    seed = _other_split_seed(trained["manifest"])
    res = ser_live("train", "--manifest", trained["manifest"], "--out", trained["work"] / "x",
                   "--epochs", 1, "--samples-per-epoch", 32, "--batch-size", 16, "--seed", seed,
                   "--split-seed", 0, "--threads", 1, "--workers", 0, "--init", trained["run"] / "best.pt",
                   "--no-progress", cwd=trained["work"], cache_dir=trained["cache"], timeout=300)
    assert res.returncode == 0, str(res)
    again = torch.load(trained["work"] / "x" / "last.pt", map_location="cpu", weights_only=False)
    assert (again["seed"], again["split_seed"]) == (seed, 0) and start["split_seed"] == 0
    assert again["val_speakers"] == start["val_speakers"]


def test_a_finished_run_is_replaced_only_when_asked(trained: dict, ser_live) -> None:
    """`train --out` over a finished run used to overwrite its checkpoints without a word:
    hours of training lost to a reused folder name. It is refused, before any work, unless
    --overwrite; and never may a run overwrite the checkpoint it starts from or learns from."""
    import shutil

    run = trained["work"] / "kept"
    shutil.copytree(trained["run"], run)
    before = {f: (run / f).read_bytes() for f in ("best.pt", "last.pt")}
    common = ("--manifest", trained["manifest"], "--epochs", 1, "--samples-per-epoch", 32,
              "--batch-size", 16, "--seed", 0, "--threads", 1, "--workers", 0, "--no-progress")

    def train(*args: object):
        return ser_live("train", *common, *args, cwd=trained["work"], cache_dir=trained["cache"],
                        timeout=300)

    for args, why in [(("--out", run), "holds a run (best.pt, last.pt); choose another folder, or "
                                        "--overwrite to replace it"),
                      (("--out", run, "--overwrite", "--init", run / "best.pt"),
                       f"the run would overwrite --init {run / 'best.pt'}"),
                      (("--out", run, "--overwrite", "--teacher", run / "last.pt"),
                       f"the run would overwrite --teacher {run / 'last.pt'}")]:
        res = train(*args)
        assert res.returncode == 2 and res.error_lines() == [f"ser-live train: error: --out {run}: {why}"], str(res)
        assert res.seconds < 30, str(res)
    assert {f: (run / f).read_bytes() for f in before} == before
    res = train("--out", run, "--overwrite")
    assert res.returncode == 0, str(res)
    assert (run / "last.pt").read_bytes() != before["last.pt"]


def test_distil_into_a_faster_student(trained: dict, ser_live) -> None:
    """`--teacher` trains a smaller net with 80 ms LSTM steps and a higher log-mel floor on the
    teacher's soft targets; the export lists the teacher's command before the student's; a
    teacher validated on other speakers is refused like `--init`."""
    import torch

    out = trained["work"] / "student"
    res = ser_live("train", "--manifest", trained["manifest"], "--out", out, "--epochs", 2,
                   "--samples-per-epoch", 64, "--batch-size", 16, "--seed", 0, "--threads", 1,
                   "--workers", 0, "--no-progress", "--teacher", trained["run"] / "best.pt",
                   "--distill", 0.7, "--channels", "8,16,24", "--time-strides", "2,2,2",
                   "--top-db", 50, cwd=trained["work"], cache_dir=trained["cache"], timeout=300)
    assert res.returncode == 0, str(res)
    teacher = torch.load(trained["run"] / "best.pt", map_location="cpu", weights_only=False)
    student = torch.load(out / "last.pt", map_location="cpu", weights_only=False)
    assert student["teacher"] == str(trained["run"] / "best.pt") and student["distill"] == 0.7
    assert student["net"]["channels"] == (8, 16, 24) and student["net"]["time_strides"] == (2, 2, 2)
    assert student["model"]["cnn.2.0.weight"].shape == (24, 16, 3, 3)
    assert student["net"]["features"]["top_db"] == 50.0
    exp = ser_live("export", out / "last.pt", "--out", trained["work"] / "student_model",
                   cwd=trained["work"], cache_dir=trained["cache"])
    assert exp.returncode == 0, str(exp)
    meta = json.loads((trained["work"] / "student_model" / "model.json").read_text())
    assert meta["training"]["commands"] == [teacher["command"], student["command"]]
    assert meta["architecture"]["time_strides"] == [2, 2, 2] and meta["features"]["top_db"] == 50.0
    module = torch.jit.load(str(trained["work"] / "student_model" / "model.pt"))
    with torch.inference_mode():
        probs = module(torch.zeros(2, 32000))
    assert probs.shape == (2, 3) and torch.allclose(probs.sum(1), torch.ones(2))

    bad = ser_live("train", "--manifest", trained["manifest"], "--out", trained["work"] / "y",
                   "--epochs", 1, "--seed", _other_split_seed(trained["manifest"]),
                   "--teacher", trained["run"] / "best.pt", "--no-progress",
                   cwd=trained["work"], cache_dir=trained["cache"])
    assert bad.returncode == 2, str(bad)
    lines = bad.error_lines()
    assert len(lines) == 1 and "--teacher" in lines[0] and "--seed 0" in lines[0], str(bad)


def test_weight_average(trained: dict, ser_live) -> None:
    """`--ema` keeps, validates and saves a moving average of the weights, and scores the
    optimiser's own weights alongside: those are exactly the weights of the same run without
    `--ema`, since the average draws no random numbers."""
    import torch

    def fine_tune(name: str, *extra) -> dict:
        res = ser_live("train", "--manifest", trained["manifest"], "--out", trained["work"] / name,
                       "--epochs", 1, "--samples-per-epoch", 96, "--batch-size", 16, "--seed", 0,
                       "--threads", 1, "--workers", 0, "--no-progress",
                       "--init", trained["run"] / "best.pt", *extra,
                       cwd=trained["work"], cache_dir=trained["cache"], timeout=300)
        assert res.returncode == 0, str(res)
        return torch.load(trained["work"] / name / "last.pt", map_location="cpu", weights_only=False)

    plain, averaged = fine_tune("plain"), fine_tune("averaged", "--ema", 0.8)
    assert plain["ema"] == 0.0 and averaged["ema"] == 0.8
    row_plain = json.loads((trained["work"] / "plain" / "history.json").read_text())[0]
    row_avg = json.loads((trained["work"] / "averaged" / "history.json").read_text())[0]
    assert "val_ua_raw" not in row_plain
    assert row_avg["val_ua_raw"] == row_plain["val_ua"]
    assert averaged["val"]["ua"] == row_avg["val_ua"]
    # six steps: the average trails the optimiser, so it sits nearer the starting weights
    start = torch.load(trained["run"] / "best.pt", map_location="cpu", weights_only=False)["model"]
    key = "cnn.2.0.weight"
    moved_avg = (averaged["model"][key] - start[key]).norm()
    moved_plain = (plain["model"][key] - start[key]).norm()
    assert 0 < moved_avg < moved_plain


def test_pcen_front_end(trained: dict, ser_live) -> None:
    """`--compression pcen` trains on PCEN features; the choice travels in the checkpoint and
    model.json, the card says so, and TorchScript and ONNX exports compute the same PCEN."""
    import onnxruntime as ort
    import torch

    run, model = trained["work"] / "pcen", trained["work"] / "pcen_model"
    res = ser_live("train", "--manifest", trained["manifest"], "--out", run, "--epochs", 1,
                   "--samples-per-epoch", 64, "--batch-size", 16, "--seed", 0, "--threads", 1,
                   "--workers", 0, "--no-progress", "--compression", "pcen",
                   cwd=trained["work"], cache_dir=trained["cache"], timeout=300)
    assert res.returncode == 0, str(res)
    ckpt = torch.load(run / "last.pt", map_location="cpu", weights_only=False)
    assert ckpt["net"]["features"]["compression"] == "pcen"
    exp = ser_live("export", run / "last.pt", "--out", model, "--onnx",
                   cwd=trained["work"], cache_dir=trained["cache"])
    assert exp.returncode == 0, str(exp)
    assert json.loads((model / "model.json").read_text())["features"]["compression"] == "pcen"
    assert "compressed by PCEN" in (model / "README.md").read_text()

    from ser_live.model.net import net_from_checkpoint

    x = (0.1 * np.random.default_rng(4).standard_normal((3, 32000))).astype(np.float32)
    x[2] = 0.0  # a muted line
    with torch.inference_mode():
        eager = torch.softmax(net_from_checkpoint(ckpt).eval()(torch.from_numpy(x)), -1).numpy()
        scripted = torch.jit.load(str(model / "model.pt"))(torch.from_numpy(x)).numpy()
    sess = ort.InferenceSession(str(model / "model.onnx"), providers=["CPUExecutionProvider"])
    onnx = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(scripted, eager, atol=1e-5)
    np.testing.assert_allclose(onnx, scripted, atol=1e-4)


def test_architecture_option_is_checked(trained: dict, ser_live) -> None:
    res = ser_live("train", "--manifest", trained["manifest"], "--channels", "16,32",
                   cwd=trained["work"], cache_dir=trained["cache"])
    assert res.returncode == 2 and "--channels" in res.stderr and "16,32" in res.stderr, str(res)
    assert "Traceback" not in res.stderr
    res = ser_live("train", "--manifest", trained["manifest"], "--distill", "1.5",
                   cwd=trained["work"], cache_dir=trained["cache"])
    assert res.returncode == 2 and "--distill" in res.stderr and "1.5" in res.stderr, str(res)
    assert "Traceback" not in res.stderr
    for bad in (["--mixup", "0.4", "--teacher", str(trained["run"] / "best.pt")], ["--ema", "1"]):
        res = ser_live("train", "--manifest", trained["manifest"], *bad,
                       cwd=trained["work"], cache_dir=trained["cache"])
        lines = res.error_lines()
        assert res.returncode == 2 and len(lines) == 1 and bad[0] in lines[0], str(res)
    res = ser_live("train", "--manifest", trained["manifest"], "--compression", "sqrt",
                   cwd=trained["work"], cache_dir=trained["cache"])
    assert res.returncode == 2 and "--compression" in res.stderr and "'sqrt'" in res.stderr, str(res)
    for bad in (["--mixup", "-1"], ["--mixup", "nan"], ["--top-db", "0"], ["--top-db", "nan"]):
        res = ser_live("train", "--manifest", trained["manifest"], *bad,
                       cwd=trained["work"], cache_dir=trained["cache"])
        assert res.returncode == 2 and f"argument {bad[0]}: expected" in res.stderr, str(res)
        assert f"got '{bad[1]}'" in res.stderr and "Traceback" not in res.stderr


def _other_split_seed(manifest: Path) -> int:
    """A seed whose validation speakers differ from seed 0's."""
    from ser_live.train.data import read_manifest, select, speaker_split

    records = select(read_manifest(manifest), split="train")
    val0 = {r.speaker for r in speaker_split(records, seed=0)[1]}
    return next(s for s in range(1, 100) if {r.speaker for r in speaker_split(records, seed=s)[1]} != val0)


def test_evaluate_classes(trained: dict, ser_live) -> None:
    report_path = trained["work"] / "eval" / "two.json"
    res = evaluate(trained, ser_live, report_path, "--classes", "angry,sad")
    assert res.returncode == 0, str(res)
    rep = json.loads(report_path.read_text())
    assert rep["labels"] == ["angry", "sad"]
    assert rep["n"] == N_TEST * 2 // 3
    assert np.array(rep["confusion"]).shape == (2, 2)
    assert rep["skipped_label"] == {"neutral": N_TEST // 3, "happy": 2 * len(TEST_VOICES)}
    assert rep["ua"] >= 0.7  # angry vs sad is the easy pair


def test_evaluate_unknown_class_is_a_one_line_error(trained: dict, ser_live) -> None:
    res = evaluate(trained, ser_live, trained["work"] / "x.json", "--classes", "happy,sad")
    assert res.returncode == 2, str(res)
    lines = res.error_lines()
    assert len(lines) == 1 and "happy" in lines[0] and "Traceback" not in res.stderr, str(res)
    assert not (trained["work"] / "x.json").exists()


# --- the model that ships in models/ -----------------------------------------------------

SHIPPED = Path(__file__).resolve().parents[1] / "models"


@pytest.mark.skipif(not (SHIPPED / "model.pt").is_file(),
                    reason="models/model.pt has not been exported yet")
def test_shipped_model(speech: np.ndarray) -> None:
    from ser_live.labels import LABELS
    from ser_live.model.runtime import DEFAULT_MODEL_DIR, Classifier

    assert DEFAULT_MODEL_DIR == SHIPPED
    clf = Classifier(device="cpu")
    assert clf.labels and set(clf.labels) <= set(LABELS)
    assert [lbl for lbl in LABELS if lbl in clf.labels] == clf.labels  # unified order
    windows = np.stack([speech[:32000], np.zeros(32000, np.float32)])
    p = clf.predict_windows(windows)
    assert p.shape == (2, len(clf.labels)) and np.all(p >= 0)
    assert np.allclose(p.sum(axis=1), 1.0, atol=1e-5)
    meta = clf.meta
    assert meta["input"]["window_samples"] == 32000 and meta["input"]["sample_rate"] == 16000


@pytest.mark.skipif(not (SHIPPED / "model.pt").is_file(),
                    reason="models/model.pt has not been exported yet")
def test_shipped_card_is_rendered_from_the_shipped_models_own_reports(tmp_path: Path) -> None:
    """The committed model card is what `ser-live model-card` renders (no figure typed by hand),
    and every report beside the shipped model measured that very model.pt."""
    from ser_live.model.runtime import model_digest
    from ser_live.train.model_card import write_model_card

    copy = tmp_path / "models"
    shutil.copytree(SHIPPED, copy)
    assert write_model_card(copy).read_text() == (SHIPPED / "README.md").read_text()
    digest = model_digest(SHIPPED)
    reports = sorted((SHIPPED / "reports").glob("*.json"))
    assert len(reports) >= 6
    for p in reports:
        assert json.loads(p.read_text()).get("model_sha256") == digest, p.name


@pytest.mark.skipif(not (SHIPPED / "model.pt").is_file(),
                    reason="models/model.pt has not been exported yet")
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_cpu_batches_run_in_chunks_with_the_same_results(speech: np.ndarray, precision: str) -> None:
    """A batch that is not a multiple of the CPU chunk gives what one model call gives."""
    import torch

    from ser_live.model.runtime import CPU_CHUNK, Classifier

    clf = Classifier(device="cpu", precision=precision)
    assert clf.precision == precision
    n = 2 * CPU_CHUNK[precision] + 3
    windows = speech_windows(speech, n)
    got = clf.predict_windows(windows)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        whole = clf.module(torch.from_numpy(windows)).float().numpy()
    whole /= whole.sum(1, keepdims=True)
    assert got.shape == (n, len(clf.labels)) and got.dtype == np.float32
    tol = 1e-5 if precision == "fp32" else 1e-2  # bf16 kernels may round a batch of 3 otherwise
    np.testing.assert_allclose(got, whole, atol=tol)
    np.testing.assert_allclose(clf.predict_windows(windows[-1:]), whole[-1:], atol=tol)


def speech_windows(speech: np.ndarray, n: int) -> np.ndarray:
    """n 2 s windows of the test speech at random offsets and levels."""
    rng = np.random.default_rng(0)
    starts = rng.integers(0, max(1, len(speech) - 32000), size=n)
    return np.stack([np.resize(speech[s:], 32000) * rng.uniform(0.1, 1.0) for s in starts]).astype(np.float32)


@pytest.mark.skipif(not (SHIPPED / "model.pt").is_file(),
                    reason="models/model.pt has not been exported yet")
def test_bf16_gives_the_fp32_answers(speech: np.ndarray) -> None:
    """bf16 arithmetic moves probabilities by rounding only: the same winners, rows summing to 1."""
    from ser_live.model.runtime import Classifier

    windows = speech_windows(speech, 40)
    p32 = Classifier(device="cpu", precision="fp32").predict_windows(windows)
    p16 = Classifier(device="cpu", precision="bf16").predict_windows(windows)
    assert p16.dtype == np.float32 and np.allclose(p16.sum(1), 1.0, atol=1e-5)
    assert np.abs(p16 - p32).max() < 0.05
    top2 = np.sort(p32, 1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 0.05  # windows whose winner is not a near tie
    assert clear.sum() >= 20 and (p16.argmax(1) == p32.argmax(1))[clear].all()


def test_precision_choice() -> None:
    """auto is bf16 exactly where the CPU does bfloat16 natively (its flags say so), and never on
    a GPU; a wrong name is a one-line error."""
    from ser_live.model.runtime import ModelError, pick_precision

    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        flags = set(cpuinfo.read_text().split())
        if "avx512_bf16" in flags:
            assert pick_precision("auto", "cpu") == "bf16"
        elif "amx_bf16" not in flags:  # (AMX alone also needs the kernel's leave to use it)
            assert pick_precision("auto", "cpu") == "fp32"
    assert pick_precision("auto", "cuda") == "fp32"
    assert pick_precision("fp32", "cpu") == "fp32" and pick_precision("bf16", "cpu") == "bf16"
    with pytest.raises(ModelError, match="--precision fp16"):
        pick_precision("fp16", "cpu")
