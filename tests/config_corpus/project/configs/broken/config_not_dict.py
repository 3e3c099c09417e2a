config = "epochs=10"
