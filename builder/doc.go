// Package builder defines the Builder interface and the typed step runner
// every builder is written with. Each builder kind has its own subpackage:
// builder/docker, builder/qemu, builder/amazon, builder/null.
package builder
