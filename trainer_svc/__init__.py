"""trainer_svc: trains checked candidates on real data and scores them (accuracy, BLEU-4)."""
