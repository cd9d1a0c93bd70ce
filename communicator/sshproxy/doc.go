// Package sshproxy serves a loopback SSH endpoint in front of any
// provisioners.Communicator, so that a tool that only speaks SSH (Ansible)
// can reach a machine bake talks to another way (docker exec) or through
// bake's own connection.
//
// The server accepts one public key, generated per run by its caller, and
// maps a session's exec requests onto Communicator.Run, the sftp
// subsystem onto the communicator's file calls, and legacy scp ("scp -t"
// and "scp -f") onto Upload and Download. It allocates no terminals and
// runs no shells. Close stops the listener, ends every connection and
// cancels every command in flight.
package sshproxy
