"""evaluate.py's parts: what the model said (prediction logs, predict.py's scores) joined with what the
customers did (outcomes), and the realized quality beside the model card's."""
