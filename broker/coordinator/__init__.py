"""The shared coordinator runtime (runtime.py) and what its state machines return (result.py)."""
