#cloud-config
autoinstall:
  identity:
    hostname: ${hostname}
    username: ${user}
