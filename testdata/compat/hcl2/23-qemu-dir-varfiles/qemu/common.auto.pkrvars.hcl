disk_size = "16G"
