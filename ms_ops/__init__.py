"""MindSpore binding of lossgrad-ops (see the README)."""
