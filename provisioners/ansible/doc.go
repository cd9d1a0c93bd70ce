// Package ansible is the ansible provisioner: it runs ansible-playbook on
// the machine running bake against the build's machine, either through a
// loopback SSH endpoint bake serves in front of the build's communicator
// (use_proxy, the default; see communicator/sshproxy) or straight to the
// machine's SSH address with the build's key.
//
// Option names and defaults are Packer's. Everything the provisioner
// writes (the proxy's client key, the inventory, SSH control sockets)
// lives in a 0700 temporary directory named after the run id, removed
// when the provisioner returns, whatever happened.
package ansible
