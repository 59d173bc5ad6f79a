"""Build-time model converters: trained weights in, ``.tflite`` + JSON manifest out.

TensorFlow, ``mtcnn`` and ``keras-vggface`` are imported here and never by ``kiosk``.
"""
