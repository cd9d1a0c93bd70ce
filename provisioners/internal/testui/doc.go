// Package testui is a ui.UI for tests: it records messages and
// output lines, each with the time it arrived, so that a test can check
// that output was streamed rather than delivered at the end.
package testui
