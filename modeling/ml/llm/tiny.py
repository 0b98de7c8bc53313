"""A tiny, randomly initialised Llama chat model with a byte-level tokenizer, built in memory in well under a second.

It writes gibberish, but it exercises every moving part of local generation (chat template, left-padded batches,
sampling, hidden states, forward hooks), so tests, the OpenAI-compatible test server and smoke checks of
evaluation jobs can run a real model without any download. Nothing in a report should come from it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

TINY_MODEL_ID = "tiny-random-llama"
# Weights drawn wider than transformers' default (0.02) so that the random model's next-token distributions are
# peaked rather than nearly uniform: then a change inside the model (activation steering) shows in what it writes.
INIT_RANGE = 0.2
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
# ChatML, the format of SmolLM2 and Qwen: the test model renders conversations the way the default model does.
CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def tiny_tokenizer() -> PreTrainedTokenizerFast:
    """One token per byte (256) plus the three ChatML special tokens: any text round-trips, no vocabulary file."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {symbol: index for index, symbol in enumerate(sorted(alphabet))}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=SPECIAL_TOKENS[0],
        eos_token=SPECIAL_TOKENS[2],
        pad_token=SPECIAL_TOKENS[0],
        additional_special_tokens=list(SPECIAL_TOKENS[1:2]),
    )
    tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer


def tiny_chat_model(
    *, seed: int = 0, hidden_size: int = 32, num_layers: int = 2
) -> tuple[LlamaForCausalLM, PreTrainedTokenizerFast]:
    """A random LlamaForCausalLM (hidden 32, 2 layers by default) and its tokenizer; the same seed gives the same
    weights."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
        initializer_range=INIT_RANGE,
    )
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = LlamaForCausalLM(config)
    finally:
        torch.random.set_rng_state(generator_state)  # building a test model must not disturb the caller's sampling
    model.eval()
    return model, tokenizer
