"""Evaluation: distribution, image and mode metrics, the evaluation classifier, convergence analysis."""
