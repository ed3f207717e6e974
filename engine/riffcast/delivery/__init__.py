"""Delivery beyond riffcast/1 PCM: encoders run once per format, and the outputs they feed."""
