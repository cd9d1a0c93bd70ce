// Package sleep is Packer's sleep provisioner: it waits for a duration
// between two steps, and stops waiting when the build is cancelled.
package sleep
