"""riffcast: Riffusion spectrograms in, one seamless music stream out."""

__version__ = "0.1.0"
