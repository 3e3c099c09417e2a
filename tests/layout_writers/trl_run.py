"""A real TRL ``SFTTrainer`` run on the CPU (a tiny GPT-2 built from a config, a word-level tokenizer made
here, a generated text data set: nothing downloaded), for the layout tests: TRL's trainers are HF
Trainers, so the run folder is an HF ``output_dir`` and reads through the HF layout.

usage: trl_run.py OUTPUT_DIR
"""

import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch
from datasets import Dataset
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast
from trl import SFTConfig, SFTTrainer

out = sys.argv[1]
torch.manual_seed(0)
words = ["the", "cat", "dog", "sat", "ran", "on", "mat", "far", "a", "big", "small"]
vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[EOS]", *words])}
tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
tok.pre_tokenizer = pre_tokenizers.Whitespace()
tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", eos_token="[EOS]")
model = GPT2LMHeadModel(GPT2Config(vocab_size=len(vocab), n_positions=32, n_embd=16, n_layer=1, n_head=2, bos_token_id=2, eos_token_id=2, pad_token_id=0))
texts = [" ".join(words[(i * k) % len(words)] for k in range(1, 7)) for i in range(32)]
train, evals = Dataset.from_dict({"text": texts[:24]}), Dataset.from_dict({"text": texts[24:]})
args = SFTConfig(
    output_dir=out,
    num_train_epochs=2,
    per_device_train_batch_size=8,
    per_device_eval_batch_size=8,
    eval_strategy="epoch",
    save_strategy="epoch",
    logging_steps=1,
    report_to=[],
    max_length=16,
    use_cpu=True,
    dataloader_num_workers=0,
    metric_for_best_model="eval_loss",
    load_best_model_at_end=True,
)
SFTTrainer(model=model, args=args, train_dataset=train, eval_dataset=evals, processing_class=tokenizer).train()
