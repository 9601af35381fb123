"""Build, export and run a tiny Phi-3 model with ONNX Runtime GenAI.

This script runs in the GenAI environment (.venv-genai, scripts/setup-genai.sh), which has torch,
transformers and onnxruntime-genai; the tests in test_genai_runtime.py call it as a subprocess.
Nothing is downloaded: HF_HUB_OFFLINE is set and the tokenizer is made locally.

    python genai_runner.py make-hf OUT                      # Phi3ForCausalLM with random weights
    python genai_runner.py export HF OUT -p fp32|int4       # the GenAI model builder, CPU
    python genai_runner.py compare REFERENCE CANDIDATE...   # JSON: logits cosine, token agreement
    python genai_runner.py benchmark WORK --onnxquant BIN   # the table of docs/genai.md
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"

# The model of the tests: Phi-3 layout (fused qkv_proj and gate_up_proj, RMS norm, rotary
# embedding) with tiny sizes.
VOCAB_SIZE = 1024
PHI3_SIZES = {
    "vocab_size": VOCAB_SIZE,
    "hidden_size": 256,
    "intermediate_size": 688,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "max_position_embeddings": 512,
    "original_max_position_embeddings": 512,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "pad_token_id": 0,
    "tie_word_embeddings": False,
}
SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<unk>"]
# The lm_head gets the embedding rows shifted by one token added to its random weights, so that
# the float model prefers token x + 1 after token x. Without it the logits of a random model are
# nearly flat, and greedy tokens would compare noise.
NEXT_TOKEN_WEIGHT = 1.0
PROMPTS = [
    [1, 10, 20, 30, 40, 50, 60, 70],
    [1, 500, 3, 77, 900, 12],
    [1, 5, 6, 7, 8],
    [1, 1000, 999, 998, 4, 300],
]
NEW_TOKENS = 48


def make_hf(out: Path, seed: int = 0) -> None:
    """Save a random-initialized Phi3ForCausalLM and a word-level tokenizer to OUT."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import Phi3Config, Phi3ForCausalLM, PreTrainedTokenizerFast

    torch.manual_seed(seed)
    model = Phi3ForCausalLM(Phi3Config(**PHI3_SIZES))
    with torch.no_grad():
        embedding = model.model.embed_tokens.weight
        model.lm_head.weight.add_(NEXT_TOKEN_WEIGHT * torch.roll(embedding, shifts=1, dims=0))
    model.save_pretrained(out)

    vocab = {token: index for index, token in enumerate(SPECIAL_TOKENS)}
    vocab.update({f"t{index}": index for index in range(len(SPECIAL_TOKENS), VOCAB_SIZE)})
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>"
    ).save_pretrained(out)


def export(hf: Path, out: Path, precision: str) -> float:
    """Run the GenAI model builder for the CPU; return its wall time in seconds."""
    command = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(hf), "-o", str(out),
               "-p", precision, "-e", "cpu", "-c", str(out.parent / f"{out.name}.cache")]
    start = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if completed.returncode != 0:
        raise RuntimeError(f"the model builder failed ({completed.returncode}):\n{completed.stderr[-4000:]}")
    return elapsed


def _generator(model, length: int):
    import onnxruntime_genai as og

    params = og.GeneratorParams(model)
    params.set_search_options(max_length=length, do_sample=False)
    return og.Generator(model, params)


def greedy_tokens(model, prompt: list[int], count: int) -> list[int]:
    import numpy as np

    generator = _generator(model, len(prompt) + count)
    generator.append_tokens(np.array([prompt], dtype=np.int32))
    tokens = []
    while not generator.is_done():
        generator.generate_next_token()
        tokens.append(int(generator.get_next_tokens()[0]))
    return tokens


def forced_logits(model, prompt: list[int], forced: list[int]):
    """The last-position logits after the prompt and after each forced token but the last."""
    import numpy as np

    generator = _generator(model, len(prompt) + len(forced) + 1)
    generator.append_tokens(np.array([prompt], dtype=np.int32))
    rows = [generator.get_logits()[0, -1].copy()]
    for token in forced[:-1]:
        generator.append_tokens(np.array([[token]], dtype=np.int32))
        rows.append(generator.get_logits()[0, -1].copy())
    return np.array(rows, dtype=np.float64)


def model_files_bytes(folder: Path) -> int:
    """Bytes of the ONNX models and their external data in a GenAI folder."""
    return sum(path.stat().st_size for path in folder.iterdir() if path.name.startswith("model.onnx"))


def compare(reference: Path, candidates: list[Path]) -> dict:
    """Greedy tokens of the reference, then each candidate's agreement with it."""
    import numpy as np
    import onnxruntime_genai as og

    reference_model = og.Model(str(reference))
    reference_tokens = [greedy_tokens(reference_model, prompt, NEW_TOKENS) for prompt in PROMPTS]
    reference_logits = np.concatenate(
        [forced_logits(reference_model, prompt, tokens) for prompt, tokens in zip(PROMPTS, reference_tokens)]
    )
    result = {"reference": str(reference), "reference_tokens": reference_tokens,
              "reference_bytes": model_files_bytes(reference), "candidates": []}
    for candidate in candidates:
        model = og.Model(str(candidate))
        start = time.perf_counter()
        tokens = [greedy_tokens(model, prompt, NEW_TOKENS) for prompt in PROMPTS]
        generate_seconds = time.perf_counter() - start
        logits = np.concatenate(
            [forced_logits(model, prompt, forced) for prompt, forced in zip(PROMPTS, reference_tokens)]
        )
        cosines = np.sum(logits * reference_logits, axis=1) / (
            np.linalg.norm(logits, axis=1) * np.linalg.norm(reference_logits, axis=1)
        )
        matches = [np.mean(np.array(ours) == np.array(theirs)) for ours, theirs in zip(tokens, reference_tokens)]
        result["candidates"].append({
            "folder": str(candidate),
            "tokens": tokens,
            "bytes": model_files_bytes(candidate),
            "cosine_min": float(cosines.min()),
            "cosine_mean": float(cosines.mean()),
            "max_abs_logit_error": float(np.abs(logits - reference_logits).max()),
            # The top-1 token of each position when both models read the reference's tokens.
            "top1_agreement": float(np.mean(logits.argmax(axis=1) == reference_logits.argmax(axis=1))),
            # Free-running greedy tokens equal to the reference's at the same position.
            "greedy_agreement": float(np.mean(matches)),
            "generate_seconds": generate_seconds,
        })
    return result


def quantize_with_onnxquant(binary: Path, source: Path, out: Path, *extra: str) -> float:
    start = time.perf_counter()
    subprocess.run([str(binary), "-q", "quantize", str(source), "-p", "int4", "-o", str(out), "--no-table", *extra],
                   check=True)
    return time.perf_counter() - start


def benchmark(work: Path, binary: Path) -> str:
    """Build every variant in WORK and return the markdown table of docs/genai.md."""
    work.mkdir(parents=True, exist_ok=True)
    hf = work / "hf"
    make_hf(hf)
    seconds = {"fp32": export(hf, work / "fp32", "fp32"), "builder-int4": export(hf, work / "builder-int4", "int4")}
    seconds["onnxquant-int4"] = quantize_with_onnxquant(binary, work / "fp32", work / "onnxquant-int4")
    seconds["onnxquant-int4-minmax"] = quantize_with_onnxquant(binary, work / "fp32", work / "onnxquant-int4-minmax",
                                                               "--scale-search", "none")
    # The builder writes accuracy_level 4 (int8 compute) for the CPU; onnxquant leaves it unset.
    seconds["onnxquant-int4-level4"] = quantize_with_onnxquant(binary, work / "fp32", work / "onnxquant-int4-level4",
                                                               "--accuracy-level", "4")
    names = ["builder-int4", "onnxquant-int4", "onnxquant-int4-minmax", "onnxquant-int4-level4"]
    result = compare(work / "fp32", [work / name for name in names])
    lines = ["| model | model bytes | logits cosine mean (min) | top-1 agreement | greedy agreement | "
             "time to build | generation time |",
             "|---|---|---|---|---|---|---|",
             f"| fp32 (builder -p fp32) | {result['reference_bytes']} | 1 | 1 | 1 | {seconds['fp32']:.1f} s | - |"]
    for name, entry in zip(names, result["candidates"]):
        lines.append(f"| {name} | {entry['bytes']} | {entry['cosine_mean']:.5f} ({entry['cosine_min']:.5f}) | "
                     f"{entry['top1_agreement']:.3f} | {entry['greedy_agreement']:.3f} | {seconds[name]:.1f} s | "
                     f"{entry['generate_seconds']:.2f} s |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("make-hf")
    command.add_argument("out", type=Path)
    command = commands.add_parser("export")
    command.add_argument("hf", type=Path)
    command.add_argument("out", type=Path)
    command.add_argument("-p", "--precision", required=True, choices=["fp32", "int4"])
    command = commands.add_parser("compare")
    command.add_argument("reference", type=Path)
    command.add_argument("candidates", type=Path, nargs="+")
    command = commands.add_parser("benchmark")
    command.add_argument("work", type=Path)
    command.add_argument("--onnxquant", type=Path, required=True)
    arguments = parser.parse_args()

    if arguments.command == "make-hf":
        make_hf(arguments.out)
    elif arguments.command == "export":
        print(json.dumps({"seconds": export(arguments.hf, arguments.out, arguments.precision)}))
    elif arguments.command == "compare":
        print(json.dumps(compare(arguments.reference, arguments.candidates)))
    else:
        print(benchmark(arguments.work, arguments.onnxquant), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
