locals {
  date = formatdate("YYYY-MM-DD", "2024-06-01T00:00:00Z")
}
