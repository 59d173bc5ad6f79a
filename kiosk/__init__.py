"""FaceKiosk runtime: camera, face pipeline, local store, sync, UI and daemon.

Nothing in this package may import TensorFlow: models run on LiteRT.
"""

__version__ = "0.1.0"
