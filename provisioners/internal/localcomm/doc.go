// Package localcomm is a provisioners.Communicator for tests: it runs
// commands on this host with /bin/sh and keeps the "machine's" files under
// a root directory, so that provisioners are tested with real processes
// and real files without a container or a virtual machine.
package localcomm
