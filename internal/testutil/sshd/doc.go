// Package sshd starts real OpenSSH servers on loopback for tests.
//
// Start runs "sshd -D -E LOG -f CONFIG -p PORT" on 127.0.0.1 with a freshly
// generated host key, a private AuthorizedKeysFile and password
// authentication, and stops it when the test ends. StartBastion starts one
// that allows TCP forwarding, to stand as a bastion (jump) host in front of
// another.
//
// sshd must run as root (the tests do). Two accounts can log in:
//
//   - root, with the server's generated key (Server.PrivateKey);
//   - TestUser, a dedicated account created on first use (useradd and
//     chpasswd, idempotent) with the known password TestPassword and the
//     same key. Root's own password is never changed.
//
// Tests are skipped, with the reason, when sshd is not installed; .ci/run
// installs openssh-server.
package sshd
