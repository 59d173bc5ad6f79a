"""The kiosk's touch screen, drawn with pygame-ce (``import pygame``).

``app.KioskApp`` runs the loop: it reads touch and mouse input (``events``), draws the
screen for the flow's current step (``screens``), shows the camera picture with the face
worker's findings (``preview``, ``face_worker``), and feeds everything to the journeys'
state machine in :mod:`kiosk.flows`. Layout scales from an 800x480 design (``layout``).
"""
