// Package communicator holds what the communicators share: the typed
// communicator options (communicator, ssh_*) that the null, qemu and
// amazon-ebs sources embed, and their validation. The communicators
// themselves live in subpackages (communicator/ssh).
package communicator
