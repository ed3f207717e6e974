"""Pure numeric signal processing: mel filterbank, STFT, phase reconstruction, level."""
