"""The retraining worker, trainers, the validation gate, the model registry and artifact store."""
