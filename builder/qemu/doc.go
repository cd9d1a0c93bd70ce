// Package qemu is the qemu source: it boots a VM with qemu-system-* from
// an ISO or a base disk, provisions it over SSH and converts its disk with
// qemu-img. This file set starts with its typed, validated config.
package qemu
