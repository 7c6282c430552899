"""The twin's local AWS emulator: moto server, extended where the twin stack needs it.

This package owns what runs behind `scripts/emulator start`. It must stay bound to
127.0.0.1: the emulator accepts any credentials.
"""
