"""Scoring: ONNX models run by onnxruntime, probability → 300–900 score, eligibility for one customer."""
