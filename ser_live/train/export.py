"""`ser-live export`: checkpoint -> the self-contained model folder that ships in `models/`.

The TorchScript file holds features, network and softmax, so `torch.jit.load` alone runs it;
the JSON beside it says what goes in and what comes out, and how the model was made.
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from ..labels import CIRCUMPLEX, COLORS, VALENCE3_GROUPS
from ..model.net import EmotionNet, ProbabilityModel, count_parameters, net_from_checkpoint
from ..model.runtime import META_FILE, MODEL_FILE
from ..windows import DEFAULT_HOP_S, WINDOW, WINDOW_S

FORMAT_VERSION = 1


def load_checkpoint(path: Path) -> tuple[EmotionNet, dict]:
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    return net_from_checkpoint(ckpt).eval(), ckpt


def training_commands(checkpoint: Path, ckpt: dict) -> list[str]:
    """The commands that made a checkpoint, first to last: the runs it was fine-tuned (`--init`)
    or distilled (`--teacher`) from come first, back to training from scratch."""
    commands: list[str] = []
    seen: set[Path] = set()

    def visit(path: Path, data: dict) -> None:
        seen.add(path.resolve())
        for parent in (Path(data[k]) for k in ("init", "teacher") if data.get(k)):
            if parent.is_file() and parent.resolve() not in seen:
                visit(parent, torch.load(parent, map_location="cpu", weights_only=False))
        commands.append(data.get("command", ""))

    visit(checkpoint, ckpt)
    return commands


def _check_onnx(path: Path, probe: np.ndarray, expected: np.ndarray) -> None:
    """The ONNX file must give the same probabilities as the TorchScript one."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: probe})[0]
    if not np.allclose(got, expected, atol=1e-4):
        raise RuntimeError(f"{path}: ONNX model disagrees with the checkpoint "
                           f"(max diff {np.abs(got - expected).max():.2e})")


def export(checkpoint: Path, out_dir: Path, onnx: bool = False, command: str = "") -> Path:
    """Write model.pt (+ model.onnx) and model.json into `out_dir`; check the files reproduce the net."""
    from .model_card import write_model_card

    net, ckpt = load_checkpoint(checkpoint)
    wrapped = ProbabilityModel(net).eval()
    scripted = torch.jit.freeze(torch.jit.script(wrapped))
    out_dir.mkdir(parents=True, exist_ok=True)
    model_path = out_dir / MODEL_FILE
    torch.jit.save(scripted, str(model_path))

    probe = torch.from_numpy(np.random.default_rng(0).standard_normal((3, WINDOW)).astype(np.float32) * 0.1)
    with torch.inference_mode():
        expected = wrapped(probe)
        got = torch.jit.load(str(model_path))(probe)
    if not torch.allclose(expected, got, atol=1e-5):
        raise RuntimeError(f"{model_path}: exported model disagrees with the checkpoint")

    files = [MODEL_FILE]
    if onnx:
        import copy
        import warnings

        onnx_model = copy.deepcopy(wrapped)
        onnx_model.net.features.onnx_export = True
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(onnx_model, (probe,), str(out_dir / "model.onnx"), dynamo=False,
                              opset_version=17, input_names=["audio"], output_names=["probs"],
                              dynamic_axes={"audio": {0: "batch"}, "probs": {0: "batch"}})
        _check_onnx(out_dir / "model.onnx", probe.numpy(), expected.numpy())
        files.append("model.onnx")

    meta = {
        "format_version": FORMAT_VERSION,
        "name": "ser-live-cnn-lstm",
        "files": files,
        "labels": ckpt["labels"],
        "input": {"sample_rate": 16000, "channels": 1, "dtype": "float32",
                  "window_s": WINDOW_S, "window_samples": WINDOW, "hop_s": DEFAULT_HOP_S,
                  "shape": ["batch", WINDOW]},
        "output": {"kind": "probabilities", "shape": ["batch", len(ckpt["labels"])]},
        "features": ckpt["net"]["features"],
        "architecture": {**{k: v for k, v in ckpt["net"].items() if k != "features"},
                         "parameters": count_parameters(net)},
        "training": {
            "checkpoint": str(checkpoint), "command": ckpt.get("command", ""),
            "commands": training_commands(checkpoint, ckpt),
            "epoch": ckpt["epoch"], "seed": ckpt["seed"], "split_seed": ckpt.get("split_seed", ckpt["seed"]),
            "corpora": ckpt["corpora"], "n_train_clips": ckpt["n_train"],
            "n_val_clips": ckpt["n_val"], "n_train_speakers": len(ckpt["train_speakers"]),
            "val_speakers": ckpt["val_speakers"], "augment": ckpt["augment"],
            "val_ua": ckpt["val"]["ua"], "val_wa": ckpt["val"]["wa"],
            "teacher": ckpt.get("teacher", ""), "distill": ckpt.get("distill", 0.0),
        },
        "colors": {k: COLORS[k] for k in ckpt["labels"]},
        "valence3_groups": VALENCE3_GROUPS,
        "circumplex": {k: CIRCUMPLEX[k] for k in ckpt["labels"]},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "export_command": command,
    }
    # the training run's curves and epoch-by-epoch history travel with the model they describe,
    # so a rerun of its command can be checked against it epoch by epoch
    for name, kept in (("curves.png", "training_curves.png"), ("history.json", "training_history.json")):
        if (checkpoint.parent / name).is_file():
            shutil.copyfile(checkpoint.parent / name, out_dir / kept)
    (out_dir / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    write_model_card(out_dir)
    print(f"exported {model_path} ({model_path.stat().st_size / 1e6:.1f} MB), "
          f"{meta['architecture']['parameters']:,} parameters, labels {', '.join(meta['labels'])}")
    return model_path
