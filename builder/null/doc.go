// Package null is the null source: it builds nothing, only connects a
// communicator to a machine that already exists (communicator = "ssh"
// with ssh_host) or none, so that provisioners can run against it. Its
// artifact is a placeholder with ID "null", so post-processors still run.
package null
