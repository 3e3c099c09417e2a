class EarlyStopping:
    """Patience P: each epoch not strictly better than the best adds one; stop when the counter reaches P."""

    def __init__(self, enabled=True, epochs=10, directions=None):
        self.enabled = enabled
        self.patience = epochs
        self.directions = directions or {}
        self.best = None
        self.counter = 0
        self.stopped = False

    def _better(self, a, b):
        better = worse = False
        for k, d in self.directions.items():
            if k not in a or k not in b:
                continue
            if (a[k] - b[k]) * d > 0:
                better = True
            elif (a[k] - b[k]) * d < 0:
                worse = True
        return better and not worse

    def update(self, scores):
        if not self.enabled:
            return False
        if self.best is None or self._better(scores, self.best):
            self.best, self.counter = scores, 0
        else:
            self.counter += 1
        if self.counter >= self.patience:
            self.stopped = True
        return self.stopped

    def should_stop(self):
        return self.stopped
