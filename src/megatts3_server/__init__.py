"""megatts3-server: the text-to-speech engine service of the voice platform."""

__version__ = "1.0.0"
