environment = "prod"
app_version = "1.4.2"
tags        = ["stable", "latest"]
