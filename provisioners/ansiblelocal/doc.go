// Package ansiblelocal is the ansible-local provisioner: it uploads
// playbooks, roles and variables to a staging directory on the machine
// and runs ansible-playbook there with a local connection. Ansible must
// be installed on the machine.
package ansiblelocal
