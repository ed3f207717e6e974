"""Music generation: generators paint spectrogram images for the producer to stitch."""
