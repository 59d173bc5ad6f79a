"""Liveness: a randomised, timed challenge on the face mesh, plus passive cues.

- ``landmarks``: the MediaPipe face mesh and eye model on LiteRT, and a tracker;
- ``geometry``: eye openness and head pose from the landmarks;
- ``challenge``: the prompt state machine (pure: it reads per-frame measurements);
- ``passive``: planarity, moire, framing-edge and flicker cues, scored separately;
- ``session``: one check driven frame by frame by a flow (``LivenessSession``);
- ``simulate``: replayed tracks and simulated people that drive a challenge;
- ``attacks``: synthetic print and screen attacks made from bona fide frames.
"""
