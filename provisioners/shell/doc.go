// Package shell is the shell provisioner: it uploads scripts (inline
// commands or files) to the machine through its communicator and runs
// them, streaming their output.
package shell
