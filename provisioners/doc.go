// Package provisioners defines how bake changes a running machine: the
// Communicator interface that moves commands and files to a machine, the
// Provisioner interface, and the UI a provisioner reports through. The
// provisioner kinds live in subpackages (shell, file, shelllocal).
package provisioners
