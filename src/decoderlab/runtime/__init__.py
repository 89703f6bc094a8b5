"""Run infrastructure: run directories, resume, job identity, checkpoints, interrupts,
threads, progress and the Hydra callbacks that tie them to a sweep."""
