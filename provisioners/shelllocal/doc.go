// Package shelllocal is the shell-local provisioner and post-processor:
// it runs commands or scripts on the machine bake runs on.
package shelllocal
