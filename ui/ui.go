// Package ui holds the one interface every part of a build reports
// through: builders, provisioners and post-processors say what they do and
// stream command output to a UI. The engine gives each build its own UI,
// which prefixes, colours, redacts and records every line; only cmd/bake
// writes to the terminal.
package ui

import "io"

// UI is where a step, provisioner or post-processor reports progress.
type UI interface {
	// Say reports one progress message.
	Say(msg string)
	// Error reports one error message that does not by itself fail the step.
	Error(msg string)
	// Stdout and Stderr receive a command's output as it is produced; the
	// engine splits it into lines.
	Stdout() io.Writer
	Stderr() io.Writer
}
