// Package script holds what the shell and shell-local provisioners share:
// the environment variables a script gets, how they are rendered into a
// command line, scripts made from inline commands, exit-code checks and
// execute_command templates.
package script
