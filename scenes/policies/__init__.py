"""One small module per scene (M-23): what it permits, checks, discloses and records."""
