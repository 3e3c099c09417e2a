import time

time.sleep(60)
config = {"epochs": 1}
