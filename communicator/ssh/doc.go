// Package ssh is the SSH communicator: it runs commands on, and copies
// files to and from, a machine over SSH, using golang.org/x/crypto/ssh and
// github.com/pkg/sftp.
//
// Connect dials the machine (directly or through a bastion host), retrying
// until Config.Timeout while the machine boots, and returns a Comm, which
// implements provisioners.Communicator. Files move by SFTP or by the SCP
// protocol (spoken directly to the remote "scp -t"/"scp -f"), chosen by
// Config.FileTransfer; both stream and preserve permission bits.
//
// Keep-alives detect a peer that went away without closing the
// connection; a command cut off by a lost connection returns an error
// wrapping provisioners.ErrDisconnected, and the next call reconnects.
//
// GenerateKeyPair makes the temporary ed25519 key a builder installs on a
// machine when the template gives no key.
//
// The configuration here is plain Go; the template's ssh_* attributes are
// decoded by package communicator and translated into a Config.
package ssh
