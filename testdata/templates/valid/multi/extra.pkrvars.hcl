from_file = ["one", "two"]
