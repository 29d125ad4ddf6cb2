"""Tiny configurations and a tiny pipeline, for tests and smoke runs (seconds on a CPU).

``build_tiny_pipeline`` saves a randomly initialised Stable Diffusion (or
DiT) pipeline to a folder, so the ``pipeline`` generator can be exercised
without downloading weights. The images it makes are noise; only the
plumbing is real.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Options that make each built-in fit and sample in well under a second on 8x8 images.
TINY_PARAMS: dict[str, dict[str, Any]] = {
    "ddpm": {
        "channels": [8, 16],
        "norm_groups": 4,
        "batch_size": 16,
        "num_train_timesteps": 50,
        "sampling_steps": 3,
        "sample_batch_size": 8,
    },
    "gan": {"latent_dim": 8, "width": 8, "batch_size": 16, "sample_batch_size": 8},
}


def build_tiny_pipeline(path: Path, *, kind: str = "sd", seed: int = 0) -> Path:
    """Save a random tiny pipeline: ``sd`` (Stable Diffusion, 16x16) or ``dit`` (class labels)."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler

    torch.manual_seed(seed)
    path = Path(path)
    vae = AutoencoderKL(
        block_out_channels=[8, 16],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 2,
        up_block_types=["UpDecoderBlock2D"] * 2,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=16,
    )
    if kind == "dit":
        from diffusers import DiTPipeline, DiTTransformer2DModel

        transformer = DiTTransformer2DModel(
            sample_size=8,
            patch_size=2,
            in_channels=4,
            out_channels=8,
            num_layers=1,
            num_attention_heads=2,
            attention_head_dim=8,
            num_embeds_ada_norm=1000,  # DiTPipeline uses label 1000 as "no class"
            norm_type="ada_norm_zero",
        )
        pipe = DiTPipeline(
            transformer=transformer,
            vae=vae,
            scheduler=DDIMScheduler(clip_sample=False, steps_offset=1),
        )
    elif kind == "sd":
        from diffusers import StableDiffusionPipeline, UNet2DConditionModel
        from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

        # A character-level vocabulary: enough for prompts like "a photo of a 3".
        vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
        for ch in "abcdefghijklmnopqrstuvwxyz0123456789":
            vocab.setdefault(ch, len(vocab))
            vocab.setdefault(ch + "</w>", len(vocab))
        tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=16)
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                vocab_size=len(vocab),
                hidden_size=16,
                intermediate_size=32,
                num_attention_heads=2,
                num_hidden_layers=1,
                max_position_embeddings=16,
                bos_token_id=0,
                eos_token_id=1,
                pad_token_id=1,
                projection_dim=16,
            )
        )
        unet = UNet2DConditionModel(
            block_out_channels=(8, 16),
            layers_per_block=1,
            sample_size=8,
            in_channels=4,
            out_channels=4,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=16,
            norm_num_groups=8,
            attention_head_dim=4,
        )
        pipe = StableDiffusionPipeline(
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            unet=unet,
            scheduler=DDIMScheduler(clip_sample=False, steps_offset=1),
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
    else:
        raise ValueError(f"unknown tiny pipeline kind {kind!r}")
    pipe.save_pretrained(str(path), safe_serialization=True)
    return path
