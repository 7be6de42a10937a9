#!/usr/bin/env python3
"""Checks that a model directory written by the train stage loads unchanged in
Hugging Face transformers and gives the logits `pipe predict` gives.

Needs a Python with torch and transformers (PyPI), which pipe itself does not:
    python -m venv venv && venv/bin/pip install torch transformers
    venv/bin/python scripts/hf_parity.py <train artifact>/model [pipe binary]

Exit status 0 when every logit agrees within 1e-4, 1 otherwise.
"""
import json
import subprocess
import sys

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

SENTENCES = [
    "a gorgeous, witty film",
    "a dull, lifeless mess",
    "it 's not a bad movie , but it is n't a good one either .",
    "the acting is superb , though the plot drags in the middle .",
    "never boring , never predictable , never less than fascinating .",
    "an hour and a half of nothing happening to people you do not care about .",
]
TOLERANCE = 1e-4


def main() -> int:
    model_dir = sys.argv[1]
    pipe = sys.argv[2] if len(sys.argv) > 2 else "pipe"
    out = subprocess.run(
        [pipe, "predict", "--model", model_dir, "--json", "--top", "0", *SENTENCES],
        check=True, capture_output=True, text=True,
    ).stdout
    ours = [json.loads(line)["logits"] for line in out.splitlines()]  # one JSON object per line

    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    print(f"loaded {type(model).__name__} with id2label {model.config.id2label}")
    worst = 0.0
    for sentence, mine in zip(SENTENCES, ours):
        with torch.no_grad():
            theirs = model(**tokenizer(sentence, return_tensors="pt")).logits[0].tolist()
        diff = max(abs(a - b) for a, b in zip(mine, theirs))
        worst = max(worst, diff)
        label = model.config.id2label[int(theirs[1] > theirs[0])]
        print(f"{diff:.2e}  transformers {theirs[0]:+.5f} {theirs[1]:+.5f} ({label})  "
              f"pipe {mine[0]:+.5f} {mine[1]:+.5f}  {sentence}")
    print(f"max |logit difference| = {worst:.2e} (tolerance {TOLERANCE})")
    return 0 if worst <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
