// Package breakpoint is the breakpoint provisioner: it pauses the build
// until the user presses Enter, to inspect the machine mid-build.
package breakpoint
