"""The face pipeline: detect (MTCNN), align, embed (TFLite), assess quality, match.

Pure numpy + OpenCV + LiteRT; every model is described by its JSON manifest.
"""
