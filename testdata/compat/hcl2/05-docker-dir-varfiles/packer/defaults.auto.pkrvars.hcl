image = "bake.local/debian:bookworm"
