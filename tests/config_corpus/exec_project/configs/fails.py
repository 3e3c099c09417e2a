config = {"epochs": 1}

raise ValueError("config refuses to load")
