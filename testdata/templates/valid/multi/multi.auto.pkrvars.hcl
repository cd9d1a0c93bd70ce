from_auto = 42
