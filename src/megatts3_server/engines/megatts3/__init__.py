"""The MegaTTS3 engine: our own inference implementation of MegaTTS3 that loads the official checkpoints.

Sub-models, one module each: ``g2p`` (text → phones), ``aligner`` + ``alignment`` (the reference's phone
alignment, computed once per voice), ``duration_model`` + ``durations`` (phone durations prompted by the
reference's), ``dit`` + ``flow_sampler`` (latent diffusion transformer), ``wavvae`` (latents → 24 kHz audio);
``checkpoints`` finds and loads the official files; ``engine`` ties them together behind the Engine interface.

Importing this package does not import torch; ``engine`` does (torch is the optional ``megatts3`` extra).
"""
